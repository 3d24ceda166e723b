//! The portal's HTML, server-rendered with maud (which escapes every value
//! it interpolates). No JavaScript: forms and links do everything, so the
//! pages work the same in a browser, in curl and in a test.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Portal;
use super::certificates::AppCertificate;
use crate::inspector::EventView;
use crate::oauth::client::{AuthMethod, Client};
use crate::state::files;

/// Tables sit in a `.scroll` box: at a narrow width they scroll sideways
/// instead of squashing words into columns of single letters. Text wraps
/// between words only; opaque tokens (serials, thumbprints, ids) may break
/// anywhere, but in tables not below 18 characters a line; commands in
/// `pre` keep their line and scroll.
const STYLE: &str = "
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:.8em 2em;display:flex;flex-wrap:wrap;gap:.4em 2em;align-items:baseline}
header a{color:#c9d7ff;text-decoration:none} header strong{font-size:1.1em}
main{padding:1em 2em;max-width:80em}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:1em 1.5em;margin:1em 0}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.92em} table.list{min-width:48em}
th,td{text-align:left;padding:.35em .5em;border-bottom:1px solid #eceef2;vertical-align:top;word-break:normal;overflow-wrap:normal}
code,pre{font:13px ui-monospace,monospace;background:#f1f3f6;padding:.1em .3em;border-radius:3px}
code{overflow-wrap:anywhere} th code,td code{overflow-wrap:normal}
code.token{overflow-wrap:anywhere} td code.token{display:inline-block;min-width:18ch}
pre{padding:.6em;white-space:pre;overflow-x:auto}
td pre{white-space:pre-wrap;overflow-wrap:anywhere}
time span{white-space:nowrap}
button,.button{font:inherit;padding:.35em .9em;border-radius:4px;border:1px solid #3b5bdb;background:#3b5bdb;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
.secondary{background:#fff;color:#3b5bdb} .danger{background:#fff;color:#c92a2a;border-color:#c92a2a}
.notice{background:#e6fcf5;border:1px solid #96f2d7;padding:.6em 1em;border-radius:4px}
.refused{color:#c92a2a} .error{color:#e8590c} .ok{color:#2b8a3e} .muted{color:#6b7280}
form.inline{display:inline} label{display:block;margin:.4em 0} input[type=text],select,textarea{font:inherit;width:32em;max-width:100%;box-sizing:border-box}
@media (max-width:40em){header{padding:.6em 1em} main{padding:.5em} section{padding:.6em .8em}}
";

/// The page frame. `nav` is the session's path (links lead under it), or
/// `None` on the login page, where every portal link would answer 401.
pub(super) fn layout(title: &str, refresh: Option<u32>, nav: Option<&str>, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                @if let Some(seconds) = refresh { meta http-equiv="refresh" content=(seconds); }
                title { (title) " · mtls-sandbox" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "mtls-sandbox developer portal" }
                    @if let Some(base) = nav {
                        a href={ (base) "/" } { "Application" }
                        a href={ (base) "/inspect" } { "Request inspector" }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// `base`: the session's path, where "Back to the portal" leads.
pub fn error(base: &str, status: StatusCode, message: &str) -> String {
    layout(
        "Error",
        None,
        Some(base),
        html! {
            section {
                h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                p id="error" { (message) }
                p { a href={ (base) "/" } { "Back to the portal" } }
            }
        },
    )
}

/// The 401 page: where to find the login link. It links nowhere, since
/// every portal page needs the login first.
pub fn login_required(message: &str, sandbox_json: &str) -> String {
    layout(
        "Log in",
        None,
        None,
        html! {
            section {
                h1 { "401 Unauthorized" }
                p id="error" { (message) }
                p { "Open the portal login link of the running sandbox; it carries a token that changes at every start. You find it:" }
                ul id="login-help" {
                    li { "in the output of " code { "mtls-sandbox up" } ", under \"Portal\";" }
                    li { "as " code { "portal_url" } " in " code { (sandbox_json) } ": " code { "jq -r .portal_url " (sandbox_json) } ";" }
                    li { "from " code { "mtls-sandbox status" } "." }
                }
            }
        },
    )
}

/// An RFC 3339 instant as people read it, to the second:
/// `2026-11-29 20:41:07 UTC`. Anything else is shown as it is.
fn when(rfc3339: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    time::OffsetDateTime::parse(rfc3339, &Rfc3339)
        .ok()
        .and_then(|t| {
            t.to_offset(time::UtcOffset::UTC)
                .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC"))
                .ok()
        })
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// A `<time>` element: readable text, the exact instant in `datetime`. It
/// may wrap between the date and the time of day, never inside either.
pub(super) fn time_element(rfc3339: &str) -> Markup {
    let text = when(rfc3339);
    let (date, clock) = text.split_once(' ').unwrap_or((&text, ""));
    html! { time datetime=(rfc3339) { span { (date) } " " span { (clock) } } }
}

/// The application page; `sections` are the webhook and test-user sections.
pub fn index(
    portal: &Portal,
    certs: &[AppCertificate],
    clients: &[Client],
    notice: Option<&str>,
    sections: Markup,
) -> String {
    let (info, base) = (portal.application.info(), super::session::base(portal));
    let app = portal.application.credentials();
    let notice = match notice {
        Some("revoked") => Some("Certificate revoked: the mtls host refuses it from the next handshake on."),
        Some("client-created") => Some("Client created. Reveal its secret to use it."),
        Some("webhook-saved") => Some("Webhook URL saved: events go there from now on, and after a restart."),
        Some("webhook-cleared") => Some("Webhook URL cleared: no events are sent."),
        Some("webhook-test") => Some("Test event queued: its delivery shows below in a moment (reload)."),
        Some("customer-linked") => Some("Customer linked: its entity, accounts and transactions are in the API now."),
        _ => None,
    };
    let app_method = clients
        .iter()
        .find(|c| c.client_id == app.client_id)
        .map(|c| c.auth_method.name());
    layout(
        "Application",
        None,
        Some(&base),
        html! {
            @if let Some(text) = notice { p.notice id="notice" { (text) } }
            section id="application" {
                h1 { "Application " code { (app.name) } }
                div.scroll { table {
                    tr { th { "App token (" code { "lean-app-token" } " header)" } td { code.token id="app-token" { (app.app_token) } } }
                    tr { th { "Client ID" } td { code.token id="app-client-id" { (app.client_id) } } }
                    @if let Some(method) = app_method {
                        tr { th { "Authentication (" code { "token_endpoint_auth_method" } ")" } td { code id="app-auth-method" { (method) } } }
                    }
                    tr { th { "Client secret" } td {
                        form.inline method="post" action={ (base) "/application/secret" } {
                            button.reveal id="reveal-app-secret" type="submit" { "Reveal secret" }
                        }
                        span.muted { " Issues a new secret and shows it once; the one printed at startup (and any shown before) stops working. "
                            code { (files::SANDBOX_JSON) } " follows." }
                    } }
                    tr { th { "Sandbox host" } td { code { (info.sandbox_url) } } }
                    tr { th { "mTLS host" } td { code { (info.mtls_url) } } }
                    tr { th { "Authorization server" } td { code { (info.auth_url) } } }
                } }
            }
            (sections)
            section id="certificates" {
                h2 { "Certificates" }
                p {
                    form.inline method="post" action={ (base) "/certificates" } {
                        button id="generate-certificate" type="submit" { "Generate new certificate" }
                    }
                    " "
                    a.button.secondary id="certificate-chain" href={ (base) "/chain.zip" } { "Certificate chain" }
                }
                p.muted {
                    "A new certificate comes as a zip with " code { (files::CLIENT_KEY) } " and " code { (files::CLIENT_CERT) }
                    "; the sandbox keeps no copy of the key. Older certificates stay valid until you revoke them. "
                    "Call the mTLS host with both files and the chain:"
                }
                pre { "curl --cacert " (files::CA_CHAIN) " --cert " (files::CLIENT_CERT) " --key " (files::CLIENT_KEY)
                      " -H 'lean-app-token: " (app.app_token) "' " (info.mtls_url) "/banks/v1" }
                div.scroll { table.list id="certificate-list" {
                    tr { th { "Serial" } th { "Subject" } th { "Issued" } th { "Expires" } th { "From" } th { "Status" } th {} }
                    @for cert in certs {
                        tr id={ "cert-" (cert.serial_hex) } {
                            td { code.token { (cert.serial_hex) } }
                            td { (cert.subject) }
                            td { (time_element(&cert.issued_at)) }
                            td { (time_element(&cert.not_after)) }
                            td { (cert.origin) }
                            @if cert.revoked {
                                td.refused.status { "revoked" } td {}
                            } @else {
                                td.ok.status { "valid" }
                                td {
                                    form.inline method="post" action={ (base) "/certificates/" (cert.serial_hex) "/revoke" } {
                                        button.danger.revoke type="submit" { "Revoke certificate" }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
            section id="clients" {
                h2 { "OAuth clients" }
                p.muted { "Token endpoint: " code { (info.token_endpoint) } " (mTLS alias " code { (info.mtls_token_endpoint) } ")" }
                div.scroll { table.list id="client-list" {
                    tr { th { "Name" } th { "Client ID" } th { "Authentication (" code { "token_endpoint_auth_method" } ")" } th { "Scopes" } th { "Secrets" } th {} }
                    @for client in clients {
                        tr id={ "client-" (client.client_id) } {
                            td { (client.name) }
                            td { code.client-id.token { (client.client_id) } }
                            td { code.auth-method { (client.auth_method.name()) } }
                            td { (client.scopes.join(" ")) }
                            td { (client.secrets.len()) }
                            td {
                                @if client.client_id == app.client_id {
                                    span.muted { "the application's client: reveal its secret above" }
                                } @else if client.static_client {
                                    span.muted { "defined in the config file" }
                                } @else if client.auth_method.uses_secret() {
                                    form.inline method="post" action={ (base) "/clients/" (client.client_id) "/reveal" } {
                                        button.reveal type="submit" title="Shows a secret once; revealing again replaces it" { "Reveal secret" }
                                    }
                                    " "
                                    form.inline method="post" action={ (base) "/clients/" (client.client_id) "/secrets" } {
                                        button.secondary.add-secret type="submit" { "Add secret" }
                                    }
                                }
                            }
                        }
                    }
                } }
                h3 { "Create client" }
                form id="create-client" method="post" action={ (base) "/clients" } {
                    label { "Name " input type="text" name="name" required; }
                    label { "Authentication "
                        select name="token_endpoint_auth_method" {
                            @for method in AuthMethod::ALL { option value=(method.name()) { (method.name()) } }
                        }
                    }
                    label { "Scopes (space-separated) " input type="text" name="scopes" value="api customer.*"; }
                    label { "Certificate subject DN (tls_client_auth) " input type="text" name="tls_client_auth_subject_dn" placeholder="CN=my_app,OU=Sandbox applications,O=mtls-sandbox"; }
                    label { "JWKS URI (private_key_jwt) " input type="text" name="jwks_uri"; }
                    label { "JWKS (private_key_jwt, self_signed_tls_client_auth) " textarea name="jwks" rows="3" placeholder="{\"keys\": [...]}" {} }
                    button type="submit" { "Create client" }
                }
            }
        },
    )
}

pub fn secret(portal: &Portal, client: &Client, clear: &str, rotated: bool) -> String {
    let (info, client_id) = (portal.application.info(), client.client_id.as_str());
    let app = portal.application.credentials();
    let credentials = super::bundle::client_auth_args(client.auth_method, client_id, clear)
        .filter(|_| client.auth_method.uses_secret());
    let is_app = client_id == app.client_id;
    let base = super::session::base(portal);
    layout(
        "Client secret",
        None,
        Some(&base),
        html! {
            section {
                h1 { "Client secret" }
                p { "Client " code { (client_id) } ". Copy the secret now: it is stored hashed and cannot be shown again." }
                @if rotated {
                    p.refused { "Revealing again issues a new secret, and this one stops working." }
                }
                @if is_app {
                    p { "The secret printed at startup no longer works; " code { (files::SANDBOX_JSON) } " and the state dir now hold this one." }
                }
                p { code.token id="client-secret" { (clear) } }
                @if let Some(credentials) = credentials {
                    p { "Try it:" }
                    pre { "curl --cacert " (files::CA_CHAIN) " " (credentials) " -d grant_type=client_credentials -d scope=api " (info.token_endpoint) }
                } @else {
                    p.muted { "A " (client.auth_method.name()) " client signs its client assertion (HS256) with this secret." }
                }
                p { a href={ (base) "/" } { "Back to the portal" } }
            }
        },
    )
}

/// What the inspector page shows: whose session it is, the events, and
/// the application filter.
pub struct InspectView<'a> {
    /// The login's session path.
    pub base: &'a str,
    pub events: &'a [EventView],
    pub refresh: Option<u32>,
    /// The application the events are limited to.
    pub app: Option<&'a str>,
    /// The applications the owner may filter by; empty for an
    /// application's login, which sees only its own.
    pub choices: &'a [String],
}

pub fn inspect(portal: &Portal, view: &InspectView) -> String {
    let (base, events) = (view.base, view.events);
    let filter = view.app.map(|name| format!("&app={name}")).unwrap_or_default();
    layout(
        "Request inspector",
        view.refresh,
        Some(base),
        html! {
            section {
                h1 { "Request inspector" @if let Some(name) = view.app { " · " code id="inspect-app" { (name) } } }
                p.muted {
                    "The last " (portal.inspector.capacity()) " requests and refused handshakes on all three hosts, and webhook deliveries, newest first"
                    @if view.choices.is_empty() && view.app.is_some() { " (this application's only)" }
                    ". "
                    a href={ (base) "/inspect?refresh=2" (filter) } { "Refresh every 2 s" } " · "
                    a href={ (base) "/inspect.json?" (filter.trim_start_matches('&')) } { "JSON" }
                }
                @if !view.choices.is_empty() {
                    form id="app-filter" method="get" action={ (base) "/inspect" } {
                        label { "Application "
                            select name="app" {
                                option value="" selected[view.app.is_none()] { "all applications" }
                                @for name in view.choices {
                                    option value=(name) selected[view.app == Some(name.as_str())] { (name) }
                                }
                            }
                            " " button type="submit" { "Show" }
                        }
                    }
                }
                @if events.is_empty() { p id="no-events" { "Nothing yet: make a call to the sandbox." } }
                div.scroll { table.list id="events" {
                    tr { th { "Time" } th { "Application" } th { "Host" } th { "Client" } th { "Request" } th { "Outcome" } th { "Certificate" } th { "Caller" } th { "Why" } }
                    @for e in events {
                        tr.event id={ "event-" (e.seq) } data-kind=(e.kind) data-app=(e.app.as_deref().unwrap_or("")) {
                            td { (time_element(&e.time)) }
                            td.app { (e.app.as_deref().unwrap_or("-")) }
                            td { (e.listener) }
                            td { (e.client_address.as_deref().unwrap_or("-")) }
                            td { @if let Some(r) = &e.request { code { (r) } } @else { "TLS handshake" } }
                            td class=(e.outcome) {
                                (e.status.map(|s| s.to_string()).unwrap_or_else(|| e.outcome.to_owned()))
                                @if let Some(code) = &e.error { br; code { (code) } }
                            }
                            td {
                                @if let Some(c) = &e.certificate {
                                    details {
                                        summary { (c.subject) }
                                        span.muted { "issuer " (c.issuer) } br;
                                        span.muted { "serial " code.token { (c.serial) } } br;
                                        span.muted { "x5t#S256 " code.token { (c.thumbprint) } } br;
                                        span.muted { "expires " (time_element(&c.not_after)) }
                                    }
                                } @else { span.muted { "none" } }
                            }
                            td {
                                @if let Some(id) = &e.client_id { code.token { (id) } br; }
                                @if let Some(m) = &e.auth_method { span.muted { (m) } }
                                @if let Some(claims) = &e.token_claims {
                                    details { summary { "token claims" } pre { (serde_json::to_string_pretty(claims).unwrap_or_default()) } }
                                }
                            }
                            td {
                                @if let Some(why) = &e.explanation { span.explanation { (why) } }
                                @if let Some(fix) = &e.fix { br; strong { "Fix: " } span.fix { (fix) } }
                            }
                        }
                    }
                } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_to_the_second_in_utc() {
        assert_eq!(when("2026-11-29T20:41:07.123456789Z"), "2026-11-29 20:41:07 UTC");
        assert_eq!(when("2026-11-29T22:41:07+02:00"), "2026-11-29 20:41:07 UTC");
        assert_eq!(when("not a time"), "not a time");
    }

    #[test]
    fn the_login_page_links_nowhere_and_says_where_the_link_is() {
        let page = login_required("This page needs the portal login link.", "/tmp/s/sandbox.json");
        assert!(!page.contains("href="), "{page}");
        for hint in [
            "mtls-sandbox up",
            "portal_url",
            "/tmp/s/sandbox.json",
            "mtls-sandbox status",
        ] {
            assert!(page.contains(hint), "{hint}: {page}");
        }
    }
}

//! The portal as an application's own link sees it (a workshop attendee,
//! one CI suite): that application's credentials, certificate, bundle and
//! requests, and nothing of the sandbox's owner or of other applications.
//! Besides its own webhook URL (and test event), its pages only read: the
//! owner's actions (new certificates, clients, test users) refuse an
//! application's login ([`super::session`]).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};

use super::pages::layout;
use super::session::Viewer;
use super::{Portal, PortalError, bundle, no_store};
use crate::apps::App;
use crate::info::SandboxInfo;
use crate::inspector::CertificateView;
use crate::state::files;

/// The application's `sandbox.json`, as its pages show it.
fn info_of(portal: &Portal, app: &App) -> Result<SandboxInfo, PortalError> {
    portal
        .apps
        .info(&app.name)
        .map_err(|e| PortalError::new(StatusCode::NOT_FOUND, e.to_string()))
}

/// The application's page.
pub(super) fn index(portal: &Portal, app: &Arc<App>) -> Response {
    let page = || -> Result<String, PortalError> {
        let info = info_of(portal, app)?;
        let cert = std::fs::read_to_string(&info.client_cert)
            .ok()
            .and_then(|pem| crate::pki::first_cert_der(&pem, "certificate").ok())
            .and_then(|der| CertificateView::parse(&der));
        let base = Viewer::App(app.clone()).base(portal);
        let webhooks = super::webhooks::section(portal, &base, &app.name);
        Ok(render(&base, &app.name, &info, cert.as_ref(), webhooks))
    };
    match page() {
        Ok(html) => no_store(Html(html).into_response()),
        Err(e) => e.into_response(),
    }
}

fn render(base: &str, name: &str, info: &SandboxInfo, cert: Option<&CertificateView>, webhooks: Markup) -> String {
    // The page shows the README's commands, but its secrets only behind
    // "Reveal secret" and in the bundle, as the owner's page keeps its own.
    let local = SandboxInfo {
        client_secret: "$CLIENT_SECRET".into(),
        p12_password: "in the bundle's README".into(),
        ..bundle::local(info)
    };
    layout(
        "Application",
        None,
        Some(base),
        html! {
            section id="application" {
                h1 { "Application " code id="app-name" { (name) } }
                p.muted { "This link shows this application only. Its credentials work against this sandbox and nowhere else." }
                div.scroll { table {
                    tr { th { "App token (" code { "lean-app-token" } " header)" } td { code.token id="app-token" { (info.app_token) } } }
                    tr { th { "Client ID" } td { code.token id="app-client-id" { (info.client_id) } } }
                    tr { th { "Authentication (" code { "token_endpoint_auth_method" } ")" } td { code id="app-auth-method" { (info.token_endpoint_auth_method) } } }
                    tr { th { "Client secret" } td {
                        form.inline method="post" action={ (base) "/application/secret" } {
                            button.reveal id="reveal-app-secret" type="submit" { "Reveal secret" }
                        }
                    } }
                    tr { th { "Sandbox host" } td { code { (info.sandbox_url) } } }
                    tr { th { "mTLS host" } td { code { (info.mtls_url) } } }
                    tr { th { "Authorization server" } td { code { (info.auth_url) } } }
                } }
            }
            section id="bundle" {
                h2 { "Everything in one download" }
                p {
                    a.button id="download-bundle" href={ (base) "/bundle.zip" } { "Download bundle" }
                    " "
                    a.button.secondary id="certificate-chain" href={ (base) "/chain.zip" } { "Certificate chain" }
                }
                p.muted {
                    "A zip with your key, certificate, the chain, the PKCS#12 file, a " code { (files::SANDBOX_JSON) }
                    " and a README with these commands (run them in the unzipped folder):"
                }
                pre id="readme" { (bundle::readme(name, &local)) }
            }
            section id="certificates" {
                h2 { "Certificate" }
                div.scroll { table.list id="certificate-list" {
                    tr { th { "Serial" } th { "Subject" } th { "Expires" } th { "x5t#S256" } }
                    @if let Some(c) = cert {
                        tr id={ "cert-" (c.serial) } {
                            td { code.token { (c.serial) } }
                            td { (c.subject) }
                            td { (super::pages::time_element(&c.not_after)) }
                            td { code.token { (c.thumbprint) } }
                        }
                    }
                } }
            }
            (webhooks)
        },
    )
}

/// "Reveal secret" on an application's link: its client secret, as its
/// `sandbox.json` holds it (an application's secret is not rotated here).
pub(super) fn secret(portal: &Portal, app: &Arc<App>) -> Result<Response, PortalError> {
    let info = info_of(portal, app)?;
    let base = Viewer::App(app.clone()).base(portal);
    let page = layout(
        "Client secret",
        None,
        Some(&base),
        html! {
            section {
                h1 { "Client secret" }
                p { "Client " code { (info.client_id) } " of application " code { (app.name) } " (" code { (info.token_endpoint_auth_method) } ")." }
                p { code.token id="client-secret" { (info.client_secret) } }
                p { a href={ (base) "/" } { "Back to the portal" } }
            }
        },
    );
    tracing::info!(target: "portal", "client secret of application {} shown on its portal link", app.name);
    Ok(no_store(Html(page).into_response()))
}

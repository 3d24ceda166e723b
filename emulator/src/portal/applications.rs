//! The owner's "Applications" section: every application of the sandbox
//! with its own portal link (to hand to its attendee or CI suite), its
//! bundle and its requests in the inspector. Only the owner's page shows
//! it: an application's link sees no other application.

use maud::{Markup, html};

use super::Portal;
use crate::apps::DEFAULT_APP;

pub(super) fn section(portal: &Portal, base: &str) -> Markup {
    let apps = portal.apps.list();
    html! {
        section id="applications" {
            h2 { "Applications" }
            p.muted {
                "Each application has its own credentials, certificate and portal link; its link shows only that application "
                "(give it to the attendee or the CI suite it belongs to). This page's link sees them all. "
                "Create more with " code { "mtls-sandbox apps create NAME" } " or " code { "up --apps N" } "."
            }
            div.scroll { table.list id="application-list" {
                tr { th { "Name" } th { "Auth mode" } th { "Client ID" } th { "Portal link" } th {} }
                @for app in &apps {
                    @let link = portal.apps.info(&app.name).ok().and_then(|info| info.portal_url);
                    tr id={ "app-" (app.name) } {
                        td { code { (app.name) } }
                        td { (app.auth_mode.name()) }
                        td { code.token { (app.client_id) } }
                        td {
                            @if app.name == DEFAULT_APP { span.muted { "this link" } }
                            @else if let Some(link) = link { code.token.portal-link { (link) } }
                        }
                        td {
                            a href={ (base) "/inspect?app=" (app.name) } { "Requests" } " · "
                            a.bundle href={ (base) "/bundle.zip?app=" (app.name) } { "Bundle" }
                        }
                    }
                }
            } }
        }
    }
}

//! The portal's webhook section on the application page: the URL form
//! (empty clears it), "Send test event", and the latest delivery attempts
//! from the inspector. The owner's page is about the default application's
//! URL; an application's own link (a workshop attendee) sets its own. The work is in [`crate::webhooks`]; [`pages`] frames
//! the section (and words the notices) without knowing what is in it.
//!
//! [`pages`]: super::pages

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Redirect;
use maud::{Markup, html};

use super::session::Viewer;
use super::{Portal, PortalError, internal};
use crate::inspector::EventView;
use crate::webhooks::{Source, WebhookUrl, admin};

/// How many delivery attempts the application page lists.
const RECENT: usize = 10;

/// The application whose URL `viewer` sets: its own, or for the owner the
/// default application's.
fn application_of(portal: &Portal, viewer: &Viewer) -> String {
    match viewer.app() {
        Some(app) => app.name.clone(),
        None => portal.webhooks.application().to_owned(),
    }
}

/// "Save": sets the URL, or clears it when the field is empty.
pub async fn set_url(
    viewer: Viewer,
    State(portal): State<Arc<Portal>>,
    form: Result<Form<BTreeMap<String, String>>, FormRejection>,
) -> Result<Redirect, PortalError> {
    let Form(form) = form.map_err(|e| PortalError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let application = application_of(&portal, &viewer);
    let text = form.get("url").map(|v| v.trim()).unwrap_or("");
    let notice = if text.is_empty() {
        portal.webhooks.clear_url_for(&application).map_err(|e| internal(&e))?;
        "webhook-cleared"
    } else {
        let url =
            WebhookUrl::parse(text).map_err(|e| PortalError::new(StatusCode::BAD_REQUEST, format!("url: {e}")))?;
        portal
            .webhooks
            .set_url_for(&application, url)
            .map_err(|e| internal(&e))?;
        "webhook-saved"
    };
    Ok(Redirect::to(&format!(
        "{}/?notice={notice}#webhooks",
        viewer.base(&portal)
    )))
}

/// "Send test event": a `webhook.test` event to the URL.
pub async fn send_test(viewer: Viewer, State(portal): State<Arc<Portal>>) -> Result<Redirect, PortalError> {
    admin::send_test_for(&portal.webhooks, &application_of(&portal, &viewer))
        .map_err(|message| PortalError::new(StatusCode::CONFLICT, message))?;
    Ok(Redirect::to(&format!(
        "{}/?notice=webhook-test#webhooks",
        viewer.base(&portal)
    )))
}

/// The application page's "Webhooks" section, for `application`'s URL.
pub fn section(portal: &Portal, base: &str, application: &str) -> Markup {
    let destination = portal.webhooks.destination_for(application);
    let settings = portal.webhooks.settings();
    let deliveries: Vec<EventView> = portal
        .inspector
        .view(&crate::inspector::Undecoded)
        .into_iter()
        .filter(|e| e.kind == "delivery" && e.app.as_deref() == Some(application))
        .take(RECENT)
        .collect();
    html! {
        section id="webhooks" {
            h2 { "Webhooks" }
            p.muted {
                "The sandbox POSTs the provider's events (" code { "entity.created" } ", " code { "payment.updated" } ", …) to this URL as JSON "
                code { "{type, message, payload, event_id, timestamp}" } ", in order, with up to " (settings.retry.max_attempts)
                " attempts each. https:// anywhere, or http:// to localhost."
            }
            form id="webhook-form" method="post" action={ (base) "/webhooks" } {
                label { "URL for " code { (application) } " "
                    input type="text" name="url" id="webhook-url" placeholder="http://localhost:8080/webhooks"
                        value=(destination.as_ref().map(|d| d.url.as_str()).unwrap_or(""));
                }
                @if destination.as_ref().is_some_and(|d| d.source == Source::Config) {
                    p.muted { "Set in the config file, which wins at the next start over a URL saved here." }
                }
                button type="submit" { "Save" } " "
                span.muted { "(empty clears it)" }
            }
            @if destination.is_some() {
                form.inline method="post" action={ (base) "/webhooks/test" } {
                    button.secondary id="webhook-test" type="submit" { "Send test event" }
                }
            }
            h3 { "Recent deliveries" }
            @if deliveries.is_empty() {
                p.muted id="no-deliveries" { "None yet." }
            } @else {
                div.scroll { table.list id="deliveries" {
                    tr { th { "Time" } th { "Event" } th { "Attempt" } th { "Result" } th { "Answer" } th { "Why" } }
                    @for e in &deliveries {
                        @if let Some(w) = &e.webhook {
                            tr.delivery data-result=(w.result) {
                                td { (super::pages::time_element(&e.time)) }
                                td { code { (w.event_type) } br; code.token { (w.event_id) } }
                                td { (w.attempt) " of " (w.max_attempts) }
                                td class=(e.outcome) { (w.result) }
                                td { (e.status.map(|s| s.to_string()).unwrap_or_else(|| "-".into())) }
                                td { (e.explanation.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                } }
            }
        }
    }
}

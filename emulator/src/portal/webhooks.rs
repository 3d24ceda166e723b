//! The portal's webhook section on the application page: the URL form
//! (empty clears it), "Send test event", and the latest delivery attempts
//! from the inspector. The work is in [`crate::webhooks`]; [`pages`] frames
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

use super::{Portal, PortalError, internal, session};
use crate::inspector::EventView;
use crate::webhooks::{Source, WebhookUrl, admin};

/// How many delivery attempts the application page lists.
const RECENT: usize = 10;

/// "Save": sets the URL, or clears it when the field is empty.
pub async fn set_url(
    _: session::Session,
    State(portal): State<Arc<Portal>>,
    form: Result<Form<BTreeMap<String, String>>, FormRejection>,
) -> Result<Redirect, PortalError> {
    let Form(form) = form.map_err(|e| PortalError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let text = form.get("url").map(|v| v.trim()).unwrap_or("");
    let notice = if text.is_empty() {
        portal.webhooks.clear_url().map_err(|e| internal(&e))?;
        "webhook-cleared"
    } else {
        let url =
            WebhookUrl::parse(text).map_err(|e| PortalError::new(StatusCode::BAD_REQUEST, format!("url: {e}")))?;
        portal.webhooks.set_url(url).map_err(|e| internal(&e))?;
        "webhook-saved"
    };
    Ok(Redirect::to(&format!(
        "{}/?notice={notice}#webhooks",
        session::base(&portal)
    )))
}

/// "Send test event": a `webhook.test` event to the URL.
pub async fn send_test(_: session::Session, State(portal): State<Arc<Portal>>) -> Result<Redirect, PortalError> {
    admin::send_test(&portal.webhooks).map_err(|message| PortalError::new(StatusCode::CONFLICT, message))?;
    Ok(Redirect::to(&format!(
        "{}/?notice=webhook-test#webhooks",
        session::base(&portal)
    )))
}

/// The application page's "Webhooks" section.
pub fn section(portal: &Portal, base: &str) -> Markup {
    let destination = portal.webhooks.destination();
    let settings = portal.webhooks.settings();
    let deliveries: Vec<EventView> = portal
        .inspector
        .view(&crate::inspector::Undecoded)
        .into_iter()
        .filter(|e| e.kind == "delivery")
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
                label { "URL for " code { (portal.webhooks.application()) } " "
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

//! `/admin/webhooks` on the auth host (bearer token with scope `admin`):
//! read, set and clear the default application's webhook URL, and send it
//! a `webhook.test` event, as hosted sandboxes offer.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::envelope::TEST_EVENT;
use super::{WebhookError, WebhookState, WebhookUrl, Webhooks};
use crate::oauth::bearer::Admin;
use crate::web::ApiError;
use crate::web::body::ApiJson;

/// `PUT /admin/webhooks` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetUrl {
    url: String,
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        tracing::error!(target: "webhooks", "{e}");
        match &e {
            WebhookError::Store { path, source } => match crate::storage::StorageFailure::from_io(path, source) {
                Some(failure) => failure.into(),
                None => ApiError::internal(e.to_string()),
            },
            WebhookError::Client(_) => ApiError::internal(e.to_string()),
        }
    }
}

pub async fn show(_: Admin, State(state): State<WebhookState>) -> Json<Value> {
    Json(json!({ "data": describe(&state.webhooks) }))
}

pub async fn set(
    _: Admin,
    State(state): State<WebhookState>,
    ApiJson(body): ApiJson<SetUrl>,
) -> Result<Json<Value>, ApiError> {
    let url = WebhookUrl::parse(&body.url).map_err(|e| ApiError::invalid_parameters(format!("url: {e}")))?;
    state.webhooks.set_url(url)?;
    Ok(Json(json!({ "data": describe(&state.webhooks) })))
}

pub async fn clear(_: Admin, State(state): State<WebhookState>) -> Result<Json<Value>, ApiError> {
    let cleared = state.webhooks.clear_url()?;
    let mut data = describe(&state.webhooks);
    data["cleared"] = json!(cleared);
    Ok(Json(json!({ "data": data })))
}

/// Sends a `webhook.test` event; 409 when there is no URL to send it to.
pub async fn test(_: Admin, State(state): State<WebhookState>) -> Result<impl IntoResponse, ApiError> {
    let (status, data) = send_test(&state.webhooks)
        .map_err(|message| ApiError::new(StatusCode::CONFLICT, "WEBHOOK_URL_NOT_SET", message))?;
    Ok((status, Json(json!({ "data": data }))))
}

/// Emits the test event for the default application: (202, what was
/// queued) or, without a URL, how to set one. Shared with the portal.
pub fn send_test(webhooks: &std::sync::Arc<Webhooks>) -> Result<(StatusCode, Value), String> {
    let application = webhooks.application().to_owned();
    let payload = json!({
        "application": application,
        "description": "A test event sent on request; it changes nothing.",
    });
    let message = "This is a test webhook from mtls-sandbox";
    match (webhooks.destination(), webhooks.emit(TEST_EVENT, message, payload)) {
        (Some(destination), Some(event_id)) => Ok((
            StatusCode::ACCEPTED,
            json!({ "type": TEST_EVENT, "event_id": event_id, "url": destination.url.as_str() }),
        )),
        _ => Err(format!(
            "application '{application}' has no webhook URL: set one with PUT /admin/webhooks {{\"url\": \"https://…\"}}, \
             `mtls-sandbox webhooks set URL` or [webhooks] url in the config file"
        )),
    }
}

/// The default application's webhook setting, as the API shows it.
pub fn describe(webhooks: &Webhooks) -> Value {
    let settings = webhooks.settings();
    let destination = webhooks.destination();
    json!({
        "application": webhooks.application(),
        "url": destination.as_ref().map(|d| d.url.as_str()),
        "source": destination.as_ref().map(|d| d.source),
        "max_attempts": settings.retry.max_attempts,
        "retry_delay_ms": settings.retry.first_delay.as_millis() as u64,
        "timeout_ms": settings.timeout.as_millis() as u64,
        "queue_capacity": settings.queue_capacity,
    })
}

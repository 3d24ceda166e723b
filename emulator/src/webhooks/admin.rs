//! `/admin/webhooks` on the auth host (bearer token with scope `admin`):
//! read, set and clear an application's webhook URL, and send it a
//! `webhook.test` event, as hosted sandboxes offer. `?app=NAME` picks the
//! application (an unknown one is a 404 naming it); without it, the
//! default one.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::envelope::TEST_EVENT;
use super::{WebhookError, WebhookState, WebhookUrl, Webhooks};
use crate::apps::AppError;
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

/// The application `?app=` names (it must exist), or the default one.
fn application(state: &WebhookState, query: Option<&str>) -> Result<String, ApiError> {
    match crate::web::query::parse(query).remove("app") {
        None => Ok(state.webhooks.application().to_owned()),
        Some(name) => match state.apps.find(&name) {
            Some(app) => Ok(app.name.clone()),
            None => Err(AppError::Unknown(name).into()),
        },
    }
}

pub async fn show(
    _: Admin,
    State(state): State<WebhookState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let app = application(&state, query.as_deref())?;
    Ok(Json(json!({ "data": describe(&state.webhooks, &app) })))
}

pub async fn set(
    _: Admin,
    State(state): State<WebhookState>,
    RawQuery(query): RawQuery,
    ApiJson(body): ApiJson<SetUrl>,
) -> Result<Json<Value>, ApiError> {
    let app = application(&state, query.as_deref())?;
    let url = WebhookUrl::parse(&body.url).map_err(|e| ApiError::invalid_parameters(format!("url: {e}")))?;
    state.webhooks.set_url_for(&app, url)?;
    Ok(Json(json!({ "data": describe(&state.webhooks, &app) })))
}

pub async fn clear(
    _: Admin,
    State(state): State<WebhookState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let app = application(&state, query.as_deref())?;
    let cleared = state.webhooks.clear_url_for(&app)?;
    let mut data = describe(&state.webhooks, &app);
    data["cleared"] = json!(cleared);
    Ok(Json(json!({ "data": data })))
}

/// Sends a `webhook.test` event; 409 when there is no URL to send it to.
pub async fn test(
    _: Admin,
    State(state): State<WebhookState>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let app = application(&state, query.as_deref())?;
    let (status, data) = send_test_for(&state.webhooks, &app)
        .map_err(|message| ApiError::new(StatusCode::CONFLICT, "WEBHOOK_URL_NOT_SET", message))?;
    Ok((status, Json(json!({ "data": data }))))
}

/// Emits the test event for `application`: (202, what was queued) or,
/// without a URL, how to set one. Shared with the portal.
pub fn send_test_for(webhooks: &std::sync::Arc<Webhooks>, application: &str) -> Result<(StatusCode, Value), String> {
    let payload = json!({
        "application": application,
        "description": "A test event sent on request; it changes nothing.",
    });
    let message = "This is a test webhook from mtls-sandbox";
    match (
        webhooks.destination_for(application),
        webhooks.emit_for(application, TEST_EVENT, message, payload),
    ) {
        (Some(destination), Some(event_id)) => Ok((
            StatusCode::ACCEPTED,
            json!({ "type": TEST_EVENT, "event_id": event_id, "url": destination.url.as_str() }),
        )),
        _ => {
            let how = if application == webhooks.application() {
                "PUT /admin/webhooks {\"url\": \"https://…\"}, `mtls-sandbox webhooks set URL` \
                 or [webhooks] url in the config file"
                    .to_owned()
            } else {
                format!(
                    "PUT /admin/webhooks?app={application} {{\"url\": \"https://…\"}} \
                     or `mtls-sandbox webhooks set URL --app {application}`"
                )
            };
            Err(format!(
                "application '{application}' has no webhook URL: set one with {how}"
            ))
        }
    }
}

/// `application`'s webhook setting, as the API shows it.
pub fn describe(webhooks: &Webhooks, application: &str) -> Value {
    let settings = webhooks.settings();
    let destination = webhooks.destination_for(application);
    json!({
        "application": application,
        "url": destination.as_ref().map(|d| d.url.as_str()),
        "source": destination.as_ref().map(|d| d.source),
        "max_attempts": settings.retry.max_attempts,
        "retry_delay_ms": settings.retry.first_delay.as_millis() as u64,
        "timeout_ms": settings.timeout.as_millis() as u64,
        "queue_capacity": settings.queue_capacity,
    })
}

//! `POST /api/transactions`: the "create something" call of the Curity
//! partner flow. The body is optional (the reference client sends none);
//! when present it must be a JSON object and is echoed back as `details`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::Api;
use super::auth::Caller;
use crate::records::Transaction;
use crate::web::ApiError;
use crate::web::body::ApiBytes;

pub async fn create(
    caller: Caller,
    State(api): State<Api>,
    headers: HeaderMap,
    ApiBytes(body): ApiBytes,
) -> Result<(StatusCode, Json<Transaction>), ApiError> {
    caller.require_api()?;
    let details = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::json!({})
    } else {
        if !crate::web::body::content_type_is(&headers, "application/json") {
            return Err(crate::web::body::json_rejection(
                axum::extract::rejection::MissingJsonContentType::default().into(),
            ));
        }
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(value @ serde_json::Value::Object(_)) => value,
            Ok(_) => {
                return Err(ApiError::invalid_parameters("the body must be a JSON object"));
            }
            Err(e) => {
                return Err(ApiError::invalid_parameters(format!("the body is not valid JSON: {e}")));
            }
        }
    };
    let tx = api
        .records
        .create_transaction(&caller.app().id, details, api.authority.now_for_app(&caller.app().id))?;
    Ok((StatusCode::CREATED, Json(tx)))
}

//! `/admin/faults` and `/admin/clock` on the auth host (bearer token with
//! scope `admin`): install, list and clear fault rules; read, set and
//! advance the sandbox's clock.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{FaultState, RuleSpec};
use crate::oauth::bearer::Admin;
use crate::web::ApiError;
use crate::web::body::{ApiJson, ApiPath};

pub async fn add_fault(
    _: Admin,
    State(state): State<FaultState>,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> Result<impl IntoResponse, ApiError> {
    let rule = state.faults.add(spec).map_err(ApiError::invalid_parameters)?;
    Ok((StatusCode::CREATED, Json(json!({ "data": rule }))))
}

pub async fn list_faults(_: Admin, State(state): State<FaultState>) -> impl IntoResponse {
    Json(json!({ "data": state.faults.list() }))
}

pub async fn clear_faults(_: Admin, State(state): State<FaultState>) -> impl IntoResponse {
    Json(json!({ "data": { "cleared": state.faults.clear() } }))
}

pub async fn delete_fault(
    _: Admin,
    State(state): State<FaultState>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state.faults.remove(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no fault rule with id '{id}' (GET /admin/faults lists them)"
        )))
    }
}

/// `{"advance": "2h"}` (also "-30m"), `{"set": "<RFC 3339>"}`, or
/// `{"reset": true}` (back to the machine's real time).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockChange {
    advance: Option<String>,
    set: Option<String>,
    #[serde(default)]
    reset: bool,
}

pub async fn get_clock(_: Admin, State(state): State<FaultState>) -> Result<impl IntoResponse, ApiError> {
    now(&state)
}

pub async fn change_clock(
    _: Admin,
    State(state): State<FaultState>,
    ApiJson(change): ApiJson<ClockChange>,
) -> Result<impl IntoResponse, ApiError> {
    let clock = &state.clock;
    match (change.advance, change.set, change.reset) {
        (None, None, true) => clock.reset(),
        (Some(span), None, false) => {
            let (negative, rest) = match span.trim() {
                s if s.starts_with('-') => (true, &s[1..]),
                s => (false, s.trim_start_matches('+')),
            };
            let by =
                crate::clock::parse_span(rest).map_err(|e| ApiError::invalid_parameters(format!("advance: {e}")))?;
            clock
                .advance(if negative { -by } else { by })
                .map_err(|e| ApiError::invalid_parameters(format!("advance: '{span}' refused: {e}")))?;
        }
        (None, Some(text), false) => {
            let at = OffsetDateTime::parse(&text, &Rfc3339).map_err(|e| {
                ApiError::invalid_parameters(format!(
                    "set: '{text}' is not an RFC 3339 time like 2030-01-01T00:00:00Z: {e}"
                ))
            })?;
            clock
                .set(at)
                .map_err(|e| ApiError::invalid_parameters(format!("set: '{text}' refused: {e}")))?;
        }
        _ => {
            return Err(ApiError::invalid_parameters(
                "give exactly one of {\"advance\": \"2h\"}, {\"set\": \"2030-01-01T00:00:00Z\"} or {\"reset\": true}",
            ));
        }
    }
    now(&state)
}

/// The sandbox's "now", its setting, and how it differs from real time.
fn now(state: &FaultState) -> Result<Json<serde_json::Value>, ApiError> {
    let clock = &state.clock;
    let now = clock
        .now()
        .format(&Rfc3339)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({ "data": {
        "now": now,
        "setting": clock.mode(),
        "real_time": clock.describe().is_none(),
        "description": clock.describe().unwrap_or_else(|| "real time".into()),
    } })))
}

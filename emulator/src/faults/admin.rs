//! `/admin/faults` on the auth host (bearer token with scope `admin`):
//! install, list and clear fault rules.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

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

//! `/admin/apps` on the auth host (bearer token with scope `admin`, as
//! `/admin/faults`): create, list, show and delete applications. Thin: each
//! handler calls [`Apps`] and maps its answer.
//!
//! - `POST /admin/apps {"name", "auth_mode"?}` → 201 `{"data": <its sandbox.json>}`
//! - `GET /admin/apps` → `{"data": [{"name", "auth_mode", "client_id", "created_at"}]}`
//! - `GET /admin/apps/{name}` → `{"data": <its sandbox.json>}`
//! - `DELETE /admin/apps/{name}` → 204

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{AppError, Apps, AuthMode};
use crate::oauth::Authority;
use crate::oauth::bearer::Admin;
use crate::web::ApiError;
use crate::web::body::{ApiJson, ApiPath};

/// What the handlers work with: the applications, and the authority that
/// checks the admin token.
#[derive(Clone)]
pub struct AppsAdmin {
    pub apps: Arc<Apps>,
    pub authority: Arc<Authority>,
}

impl FromRef<AppsAdmin> for Arc<Authority> {
    fn from_ref(state: &AppsAdmin) -> Self {
        state.authority.clone()
    }
}

pub fn routes(state: AppsAdmin) -> Router {
    Router::new()
        .route("/admin/apps", get(list).post(create))
        .route("/admin/apps/{name}", get(show).delete(delete))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAppBody {
    name: String,
    #[serde(default)]
    auth_mode: AuthMode,
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::InvalidName { .. } => ApiError::invalid_parameters(e.to_string()),
            AppError::Exists(_) | AppError::Default | AppError::TooMany => {
                ApiError::new(StatusCode::CONFLICT, "CONFLICT", e.to_string())
            }
            AppError::Unknown(_) => ApiError::not_found(e.to_string()),
            other => {
                tracing::error!(target: "apps", "{other}");
                ApiError::internal(other.to_string())
            }
        }
    }
}

async fn create(
    _: Admin,
    State(state): State<AppsAdmin>,
    ApiJson(body): ApiJson<NewAppBody>,
) -> Result<impl IntoResponse, ApiError> {
    // Making a key pair takes a while (RSA): off the request threads.
    let info = tokio::task::spawn_blocking(move || state.apps.create(&body.name, body.auth_mode))
        .await
        .map_err(|e| ApiError::internal(format!("creating the application failed: {e}")))??;
    crate::key_pool::refill_in_background();
    Ok((StatusCode::CREATED, Json(json!({ "data": info }))))
}

async fn list(_: Admin, State(state): State<AppsAdmin>) -> impl IntoResponse {
    Json(json!({ "data": state.apps.list() }))
}

async fn show(
    _: Admin,
    State(state): State<AppsAdmin>,
    ApiPath(name): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(json!({ "data": state.apps.info(&name)? })))
}

async fn delete(
    _: Admin,
    State(state): State<AppsAdmin>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    tokio::task::spawn_blocking(move || state.apps.delete(&name))
        .await
        .map_err(|e| ApiError::internal(format!("deleting the application failed: {e}")))??;
    Ok(StatusCode::NO_CONTENT)
}

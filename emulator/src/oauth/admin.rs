//! Client and secret management over HTTP (Formance-style), on the auth
//! host, for bearer tokens with scope `admin`:
//! `POST/GET /clients`, `DELETE /clients/{id}`,
//! `POST /clients/{id}/secrets`, `DELETE /clients/{id}/secrets/{secret_id}`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::registry::{NewClient, RegistryError};
use std::sync::Arc;

use super::Authority;
use super::bearer::Admin;
use crate::web::ApiError;
use crate::web::body::{ApiJson, ApiPath};

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::UnknownClient(_) | RegistryError::UnknownSecret { .. } => ApiError::not_found(e.to_string()),
            RegistryError::StaticClient(_) | RegistryError::Exists(_) | RegistryError::TooManySecrets(_) => {
                ApiError::new(StatusCode::CONFLICT, "CONFLICT", e.to_string())
            }
            RegistryError::Invalid(why) => ApiError::invalid_parameters(why),
            RegistryError::LimitReached { .. } => ApiError::new(StatusCode::CONFLICT, "LIMIT_REACHED", e.to_string()),
            RegistryError::Records(r) => r.into(),
        }
    }
}

pub async fn create_client(
    _admin: Admin,
    State(authority): State<Arc<Authority>>,
    ApiJson(new): ApiJson<NewClient>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if new.name.trim().is_empty() {
        return Err(ApiError::invalid_parameters("name must be a non-empty string"));
    }
    let client = authority.registry.create(new, authority.now())?;
    tracing::info!(target: "oauth", client_id = %client.client_id, "client created");
    Ok((StatusCode::CREATED, Json(json!({ "data": client.public_view() }))))
}

pub async fn list_clients(_admin: Admin, State(authority): State<Arc<Authority>>) -> Result<Json<Value>, ApiError> {
    let clients = authority.registry.list()?;
    Ok(Json(
        json!({ "data": clients.iter().map(|c| c.public_view()).collect::<Vec<_>>() }),
    ))
}

pub async fn delete_client(
    _admin: Admin,
    State(authority): State<Arc<Authority>>,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    authority.registry.delete(&id)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSecret {
    #[serde(default)]
    name: String,
}

pub async fn create_secret(
    _admin: Admin,
    State(authority): State<Arc<Authority>>,
    ApiPath(id): ApiPath<String>,
    ApiJson(new): ApiJson<NewSecret>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (record, clear) = authority.registry.add_secret(&id, &new.name)?;
    // The clear secret is in this response only; it is stored hashed.
    Ok((
        StatusCode::CREATED,
        Json(json!({ "data": { "id": record.id, "name": record.name, "clear": clear } })),
    ))
}

pub async fn delete_secret(
    _admin: Admin,
    State(authority): State<Arc<Authority>>,
    ApiPath((id, secret_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    authority.registry.delete_secret(&id, &secret_id)?;
    Ok(StatusCode::NO_CONTENT)
}

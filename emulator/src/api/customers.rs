//! `POST /customers/v1` and `GET /customers/v1/{id}`: customers persist in
//! the records database across restarts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::auth::Caller;
use super::body::{ApiJson, ApiPath};
use super::error::ApiError;
use crate::context::Ctx;
use crate::records::{Customer, RecordsError};

const MAX_APP_USER_ID: usize = 256;

#[derive(Deserialize)]
pub struct NewCustomer {
    app_user_id: serde_json::Value,
}

pub async fn create(
    caller: Caller,
    State(ctx): State<Ctx>,
    ApiJson(body): ApiJson<NewCustomer>,
) -> Result<Json<Customer>, ApiError> {
    caller.require_api()?;
    let app_user_id = match body.app_user_id {
        serde_json::Value::String(s) if !s.trim().is_empty() && s.len() <= MAX_APP_USER_ID => s,
        _ => {
            return Err(ApiError::invalid_parameters(format!(
                "app_user_id must be a non-empty string of at most {MAX_APP_USER_ID} characters: your own id for this user"
            )));
        }
    };
    match ctx
        .records
        .create_customer(&app_user_id, time::OffsetDateTime::now_utc())
    {
        Ok(customer) => Ok(Json(customer)),
        Err(err @ RecordsError::DuplicateAppUser { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "DUPLICATE_APP_USER_ID",
            err.to_string(),
        )),
        Err(other) => Err(other.into()),
    }
}

pub async fn get(
    caller: Caller,
    State(ctx): State<Ctx>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Customer>, ApiError> {
    caller.require_customer(&id)?;
    ctx.records
        .customer(&id)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no customer with customer_id '{id}'")))
}

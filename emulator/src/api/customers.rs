//! `POST /customers/v1` and `GET /customers/v1/{id}`: customers persist in
//! the records database across restarts, each the calling application's.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use super::Api;
use super::auth::Caller;
use crate::records::{Customer, RecordsError};
use crate::web::ApiError;
use crate::web::body::{ApiJson, ApiPath};

const MAX_APP_USER_ID: usize = 256;

#[derive(Deserialize)]
pub struct NewCustomer {
    app_user_id: serde_json::Value,
}

pub async fn create(
    caller: Caller,
    State(api): State<Api>,
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
    match api.records.create_customer(
        &caller.app().id,
        &app_user_id,
        api.authority.now_for_app(&caller.app().id),
    ) {
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
    State(api): State<Api>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Customer>, ApiError> {
    caller.require_customer(&id)?;
    // Another application's customer is not found, as an unknown id: the
    // provider does not reveal other tenants' ids (see provider::store).
    api.records
        .customer(Some(&caller.app().id), &id)?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no customer with customer_id '{id}'")))
}

//! `GET /banks/v1`: the list of banks, from `fixtures/banks.json` or the
//! file named in the config.

use axum::Json;
use axum::extract::State;

use super::Api;
use super::auth::Caller;
use crate::web::ApiError;

pub async fn list(caller: Caller, State(api): State<Api>) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_api()?;
    Ok(Json(api.banks.as_ref().clone()))
}

//! `GET /banks/v1`: the list of banks, from `fixtures/banks.json` or the
//! file named in the config.

use axum::Json;
use axum::extract::State;

use super::auth::Caller;
use super::error::ApiError;
use crate::context::Ctx;

pub async fn list(caller: Caller, State(ctx): State<Ctx>) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_api()?;
    Ok(Json(ctx.config.banks.clone()))
}

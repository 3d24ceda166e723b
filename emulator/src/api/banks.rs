//! `GET /banks/v1`: the list of banks, from `fixtures/banks.json` or the
//! file named in the config.

use axum::Json;
use axum::extract::State;

use super::auth::Caller;
use crate::context::Ctx;

pub async fn list(_caller: Caller, State(ctx): State<Ctx>) -> Json<serde_json::Value> {
    Json(ctx.config.banks.clone())
}

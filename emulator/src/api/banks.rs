//! `GET /banks/v1`: the list of banks, from `fixtures/banks.json` or the
//! file named in the config; `?account_types=CURRENT,SAVINGS` keeps the
//! banks supporting any of them.

use axum::Json;
use axum::extract::{RawQuery, State};

use super::auth::Caller;
use super::error::ApiError;
use crate::context::Ctx;

pub async fn list(
    caller: Caller,
    State(ctx): State<Ctx>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require_api()?;
    let query = crate::provider::builtin::query_map(query.as_deref());
    Ok(Json(crate::provider::builtin::filter_banks(
        &ctx.config.banks,
        query.get("account_types").map(String::as_str),
    )))
}

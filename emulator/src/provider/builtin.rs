//! Endpoints a profile declares but code serves: customers, which live in
//! their own table with their own rules (`DUPLICATE_APP_USER_ID`), and the
//! banks list, which comes from the config. The profile still decides the
//! method, path and trailing slash, so a profile without them has none.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

use super::engine::{Engine, Failure};
use super::pagination;
use super::profile::Endpoint;
use super::store::Store;
use crate::api::auth::Caller;
use crate::api::body::ApiPath;
use crate::context::Ctx;

/// The builtin handlers a profile may name.
pub const NAMES: &[&str] = &[
    "customers.create",
    "customers.get",
    "customers.list",
    "customers.by_app_user_id",
    "banks.list",
];

pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

/// The route for builtin `name` (validated at load) serving `endpoint`.
pub fn route(name: &str, filter: MethodFilter, endpoint: Arc<Endpoint>) -> MethodRouter<Ctx> {
    match name {
        "customers.create" => on(filter, crate::api::customers::create),
        "customers.get" => on(filter, crate::api::customers::get),
        "banks.list" => on(filter, crate::api::banks::list),
        "customers.by_app_user_id" => on(filter, by_app_user_id),
        _ => on(
            filter,
            move |caller: Caller, State(ctx): State<Ctx>, RawQuery(query): RawQuery| {
                let endpoint = endpoint.clone();
                async move { list(&ctx, &endpoint, &caller, query.as_deref()) }
            },
        ),
    }
}

/// The query string as a map (the last of repeated names wins).
pub fn query_map(query: Option<&str>) -> BTreeMap<String, String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Renders `result` as the provider does, errors with `endpoint`'s error template.
pub fn respond(
    engine: &Engine,
    endpoint: Option<&Endpoint>,
    result: Result<(u16, serde_json::Value), Failure>,
) -> Response {
    match result {
        Ok((status, body)) => (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), Json(body)).into_response(),
        Err(failure) => {
            let body = engine.error_body(endpoint, &failure);
            let mut response = (
                StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Json(body),
            )
                .into_response();
            response.extensions_mut().insert(crate::inspector::Failure {
                code: failure.code,
                message: failure.message,
            });
            response
        }
    }
}

pub fn engine(ctx: &Ctx) -> Engine<'_> {
    Engine {
        profile: &ctx.config.provider,
        store: Store::new(&ctx.records),
        entropy: ctx.records.entropy(),
        now: ctx.config.clock.now(),
    }
}

fn list(ctx: &Ctx, endpoint: &Endpoint, caller: &Caller, query: Option<&str>) -> Response {
    let engine = engine(ctx);
    let result = (|| {
        caller.require_api()?;
        let page = pagination::parse(endpoint.pagination, &query_map(query)).map_err(Failure::bad_request)?;
        let slice = engine.store.customers(page.offset(), page.size)?;
        let items = slice.items.into_iter().map(|o| o.body).collect();
        let body = match &endpoint.envelope {
            Some(envelope) => engine.envelope(
                endpoint,
                envelope,
                serde_json::Value::Array(items),
                page.page(slice.total),
            )?,
            None => serde_json::Value::Array(items),
        };
        Ok((200, body))
    })();
    respond(&engine, Some(endpoint), result)
}

async fn by_app_user_id(caller: Caller, State(ctx): State<Ctx>, ApiPath(app_user_id): ApiPath<String>) -> Response {
    let engine = engine(&ctx);
    let result = (|| {
        let found = engine.store.customer_by_app_user_id(&app_user_id)?;
        let customer =
            found.ok_or_else(|| Failure::not_found(format!("no customer with app_user_id '{app_user_id}'")))?;
        caller.require_customer(customer["customer_id"].as_str().unwrap_or_default())?;
        Ok((200, customer))
    })();
    respond(&engine, None, result)
}

/// The banks supporting any of the comma-separated `account_types` (all without).
pub fn filter_banks(banks: &serde_json::Value, account_types: Option<&str>) -> serde_json::Value {
    let wanted: Vec<String> = account_types
        .unwrap_or("")
        .split(',')
        .map(|t| t.trim().to_uppercase())
        .filter(|t| !t.is_empty())
        .collect();
    if wanted.is_empty() {
        return banks.clone();
    }
    let supports = |bank: &&serde_json::Value| {
        bank["supported_account_types"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str())
            .any(|t| wanted.iter().any(|w| w.eq_ignore_ascii_case(t)))
    };
    serde_json::Value::Array(
        banks
            .as_array()
            .into_iter()
            .flatten()
            .filter(supports)
            .cloned()
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn banks_filter_by_any_account_type() {
        let banks = json!([
            {"identifier": "A", "supported_account_types": ["CURRENT"]},
            {"identifier": "B", "supported_account_types": ["CREDIT", "SAVINGS"]},
            {"identifier": "C"}
        ]);
        assert_eq!(filter_banks(&banks, None), banks);
        let ids = |v: serde_json::Value| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|b| b["identifier"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(filter_banks(&banks, Some("savings"))), [json!("B")]);
        assert_eq!(
            ids(filter_banks(&banks, Some("CURRENT, CREDIT"))),
            [json!("A"), json!("B")]
        );
    }
}

//! Endpoints a profile declares but code serves: customers, which live in
//! their own table with their own rules (`DUPLICATE_APP_USER_ID`), and the
//! banks list, which comes from the config. The profile still decides the
//! method, path and trailing slash, so a profile without them has none.

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};

use super::Provider;
use super::engine::{Engine, Failure};
use super::pagination;
use super::profile::Endpoint;
use crate::api::Caller;
use crate::web::body::ApiPath;

/// The route for builtin `name` (validated at load) serving `endpoint`.
pub fn route(name: &str, filter: MethodFilter, endpoint: Arc<Endpoint>) -> MethodRouter<Provider> {
    match name {
        "customers.create" => on(filter, crate::api::customers::create),
        "customers.get" => on(filter, crate::api::customers::get),
        "banks.list" => on(filter, crate::api::banks::list),
        "customers.by_app_user_id" => on(filter, by_app_user_id),
        _ => on(
            filter,
            move |caller: Caller, State(state): State<Provider>, RawQuery(query): RawQuery| {
                let endpoint = endpoint.clone();
                async move { list(&state, &endpoint, &caller, query.as_deref()) }
            },
        ),
    }
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
            response.extensions_mut().insert(crate::web::Failure {
                code: failure.code,
                message: failure.message,
            });
            response
        }
    }
}

fn list(state: &Provider, endpoint: &Endpoint, caller: &Caller, query: Option<&str>) -> Response {
    let engine = state.engine(Some(&caller.app().id));
    let result = (|| {
        caller.require_api()?;
        let page =
            pagination::parse(endpoint.pagination, &crate::web::query::parse(query)).map_err(Failure::bad_request)?;
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

async fn by_app_user_id(
    caller: Caller,
    State(state): State<Provider>,
    ApiPath(app_user_id): ApiPath<String>,
) -> Response {
    let engine = state.engine(Some(&caller.app().id));
    let result = (|| {
        let found = engine.store.customer_by_app_user_id(&app_user_id)?;
        let customer =
            found.ok_or_else(|| Failure::not_found(format!("no customer with app_user_id '{app_user_id}'")))?;
        caller.require_customer(customer["customer_id"].as_str().unwrap_or_default())?;
        Ok((200, customer))
    })();
    respond(&engine, None, result)
}

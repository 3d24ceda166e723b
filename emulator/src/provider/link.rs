//! Linking a customer to a bank, as the provider's web SDK does when an end
//! user connects their account: the profile's `link` generators make the
//! entity with its accounts, balances and transaction history (and a
//! payment source), under the customer.
//!
//! `POST /admin/customers/{customer_id}/link {"bank_identifier": "..."}` on
//! the auth host (scope `admin`), and `mtls-sandbox link` over it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Provider;
use super::engine::{Engine, Failure};
use super::store;
use crate::oauth::bearer::Admin;
use crate::records::DEFAULT_OWNER;
use crate::web::ApiError;
use crate::web::body::{ApiJson, ApiPath};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    pub bank_identifier: String,
}

/// The identifiers of `banks` (the banks list), the ones a link may name.
pub fn bank_identifiers(banks: &Value) -> Vec<&str> {
    banks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["identifier"].as_str())
        .collect()
}

/// Creates what the profile's `link` generators describe for `customer_id`
/// at the bank `bank_identifier` (one of `banks`). Returns what was made.
pub fn link(engine: &Engine, banks: &Value, customer_id: &str, bank_identifier: &str) -> Result<Value, Failure> {
    let all = || banks.as_array().into_iter().flatten();
    let bank = all().find(|b| b["identifier"] == bank_identifier).ok_or_else(|| {
        Failure::bad_request(format!(
            "no bank '{bank_identifier}' in this sandbox's banks list; use one of: {}",
            bank_identifiers(banks).join(", ")
        ))
    })?;
    let customer = engine
        .store
        .get(store::CUSTOMERS, customer_id, None)?
        .ok_or_else(|| Failure::not_found(format!("no customer with customer_id '{customer_id}'")))?;
    let mut vars = json!({
        "body": {"bank_identifier": bank_identifier},
        "bank": bank,
        "created": {},
    });
    // Values shared by everything one link makes (the account holder's name).
    if engine.profile.templates.contains_key("link_vars") {
        let shared = engine.render("link_vars", vars.clone())?;
        for (key, value) in shared.as_object().into_iter().flatten() {
            vars[key] = value.clone();
        }
    }
    let mut linked = Vec::new();
    for generator in &engine.profile.link {
        let made = engine.generate(generator, Some(&customer), &vars)?;
        if let Some(first) = made.first() {
            vars["created"][&generator.collection] = json!({"id": first.id, "body": first.body});
        }
        for object in made {
            linked.push(json!({"collection": object.collection, "id": object.id}));
        }
    }
    Ok(json!({
        "customer_id": customer_id,
        "bank_identifier": bank_identifier,
        "linked": linked,
    }))
}

/// [`link`] in this sandbox, then the webhook events of what it made: what
/// the admin API and the portal's "Link" button both do.
pub fn link_and_announce(state: &Provider, customer_id: &str, bank_identifier: &str) -> Result<Value, Failure> {
    // Any application's customer; what the link makes belongs to its
    // application, and so do its events (none once it is deleted).
    let owner = state.api.records.customer(None, customer_id)?.map(|c| c.app);
    let engine = state.engine(Some(owner.as_deref().unwrap_or(DEFAULT_OWNER)));
    let linked = link(&engine, &state.api.banks, customer_id, bank_identifier);
    if let Some(app) = state.api.apps.by_id(engine.store.owner()) {
        super::events::publish(&engine, &state.webhooks, &app.name);
    }
    linked
}

pub async fn admin_link(
    _: Admin,
    State(state): State<Provider>,
    ApiPath(customer_id): ApiPath<String>,
    ApiJson(request): ApiJson<LinkRequest>,
) -> Result<impl IntoResponse, ApiError> {
    match link_and_announce(&state, &customer_id, &request.bank_identifier) {
        Ok(made) => Ok((StatusCode::CREATED, Json(json!({ "data": made })))),
        Err(failure) => Err(ApiError::new(
            StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            failure.code,
            failure.message,
        )),
    }
}

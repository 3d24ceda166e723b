//! The provider's documented API (customers, entities, data v2, payments,
//! payouts, refunds, verifications, insights, banks), served from a
//! profile: data files describe the surface, one engine serves it.
//!
//! - [`profile`] loads a profile (built in or from disk), `validate` checks it;
//! - [`template`] renders its response shapes;
//! - [`store`] keeps the objects clients create in the records database;
//! - [`engine`] serves an endpoint of any kind; [`pagination`] pages lists;
//!   [`made`] lists what a call made;
//! - [`builtin`] serves what stays in code (customers, banks);
//! - [`link`] plays the web SDK: links a customer to a bank;
//! - [`events`] sends the webhook events of what calls make and of the
//!   lifecycle steps objects reach on the sandbox clock.
//!
//! [`routes`] adds the profile's endpoints to a listener's router; the
//! handler here is thin: it turns the request into an [`engine::Call`].

pub mod builtin;
pub mod engine;
pub mod events;
mod failure;
pub mod link;
mod loader;
pub mod made;
pub mod pagination;
pub mod profile;
pub mod store;
pub mod template;
mod validate;

use std::sync::Arc;

use axum::extract::{RawPathParams, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on, post};
use axum::{Extension, Router};

pub use profile::{DEFAULT_PROFILE, Profile, ProfileError};

use crate::api::{Api, Caller};
use crate::clock::Clock;
use crate::hosts::Host;
use crate::oauth::Authority;
use crate::web::body::ApiBytes;
use crate::web::{ApiError, FailLifecycle};
use crate::webhooks::Webhooks;
use engine::{Call, Failure};
use profile::{Endpoint, Kind};

/// What the provider's API works with: the resource API's state (who may
/// call, the records, the banks), the profile, the sandbox clock its
/// statuses move on, and the webhooks its events go to.
#[derive(Clone)]
pub struct Provider {
    pub api: Api,
    pub profile: Arc<Profile>,
    pub clock: Arc<Clock>,
    pub webhooks: Arc<Webhooks>,
}

impl axum::extract::FromRef<Provider> for Api {
    fn from_ref(state: &Provider) -> Self {
        state.api.clone()
    }
}

impl axum::extract::FromRef<Provider> for Arc<Authority> {
    fn from_ref(state: &Provider) -> Self {
        state.api.authority.clone()
    }
}

impl Provider {
    /// The engine over this sandbox's store, at the sandbox clock's now.
    pub fn engine(&self) -> engine::Engine<'_> {
        engine::Engine {
            profile: &self.profile,
            store: store::Store::new(&self.api.records),
            entropy: self.api.records.entropy(),
            now: self.clock.now(),
            made: Default::default(),
            fail: false,
        }
    }
}

/// The profile's endpoints (sandbox and mtls hosts) or the linking admin
/// call (auth host).
pub fn routes(state: Provider, host: Host) -> Router {
    let mut router = Router::new();
    if host == Host::Auth {
        return router
            .route("/admin/customers/{customer_id}/link", post(link::admin_link))
            .with_state(state);
    }
    for endpoint in &state.profile.endpoints {
        let endpoint = Arc::new(endpoint.clone());
        let method_router = method_router(endpoint.clone());
        let path = axum_path(&endpoint.path);
        if endpoint.trailing_slash {
            router = router.route(&format!("{path}/"), method_router.clone());
        }
        router = router.route(&path, method_router);
    }
    router.with_state(state)
}

/// `endpoint.path` with each parameter named after its segment (`{s2}`):
/// routes sharing a prefix must name a parameter at the same place alike,
/// and the profile's names differ (`{customer_id}`, `{payment_id}`).
fn axum_path(path: &str) -> String {
    path.split('/')
        .enumerate()
        .map(|(i, segment)| {
            if segment.starts_with('{') {
                format!("{{s{i}}}")
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn method_filter(method: &str) -> MethodFilter {
    match method {
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    }
}

fn method_router(endpoint: Arc<Endpoint>) -> MethodRouter<Provider> {
    let filter = method_filter(&endpoint.method);
    if endpoint.kind == Kind::Builtin {
        let name = endpoint.builtin.clone().unwrap_or_default();
        return builtin::route(&name, filter, endpoint);
    }
    on(
        filter,
        move |caller: Caller,
              State(state): State<Provider>,
              params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
              RawQuery(query): RawQuery,
              headers: HeaderMap,
              method: Method,
              fail: Option<Extension<FailLifecycle>>,
              body: Result<ApiBytes, ApiError>| {
            let endpoint = endpoint.clone();
            async move {
                let mut engine = state.engine();
                engine.fail = fail.is_some();
                let response = serve(&engine, &endpoint, &caller, params, query, &headers, &method, body);
                events::publish(&engine, &state.webhooks);
                response
            }
        },
    )
}

#[allow(clippy::too_many_arguments)]
fn serve(
    engine: &engine::Engine,
    endpoint: &Endpoint,
    caller: &Caller,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    query: Option<String>,
    headers: &HeaderMap,
    method: &Method,
    body: Result<ApiBytes, ApiError>,
) -> Response {
    let call = (|| {
        let segments: Vec<&str> = endpoint.path.split('/').collect();
        let params =
            params.map_err(|e| Failure::bad_request(format!("the URL path is not valid: {}", e.body_text())))?;
        let params = params
            .iter()
            .filter_map(|(name, value)| {
                let index: usize = name.strip_prefix('s')?.parse().ok()?;
                let segment = segments.get(index)?;
                Some((
                    segment.trim_matches(|c| c == '{' || c == '}').to_owned(),
                    value.to_owned(),
                ))
            })
            .collect();
        let bytes = body.map_err(Failure::from)?.0;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) || method == Method::GET {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| Failure::bad_request(format!("the body is not valid JSON: {e}")))?
        };
        Ok(Call {
            params,
            query: crate::web::query::parse(query.as_deref()),
            body,
            idempotency_key: headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        })
    })();
    let result = call.and_then(|call| engine.serve(endpoint, &call, caller).map(|r| (r.status, r.body)));
    builtin::respond(engine, Some(endpoint), result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_named_by_position() {
        assert_eq!(
            axum_path("/customers/v1/{customer_id}/entities/{entity_id}"),
            "/customers/v1/{s3}/entities/{s5}"
        );
        assert_eq!(axum_path("/banks/v1"), "/banks/v1");
    }
}

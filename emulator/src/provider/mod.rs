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
//! - [`import`] answers the user's own Postman/OpenAPI requests from their examples.
//! - [`events`] sends the webhook events of what calls make and of the
//!   lifecycle steps objects reach on the sandbox clock.
//!
//! [`routes`] adds the profile's endpoints to a listener's router through
//! [`mount`] (which names parameters by position and mounts nothing twice);
//! the handler here is thin: it turns the request into an [`engine::Call`].

pub mod builtin;
pub mod engine;
pub mod events;
mod failure;
pub mod import;
pub mod link;
mod loader;
pub mod made;
mod mount;
pub mod pagination;
pub mod profile;
pub mod store;
pub mod template;
mod validate;

use std::sync::Arc;

use axum::extract::{RawPathParams, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::routing::{MethodRouter, on, post};
use axum::{Extension, Router};

pub use profile::{DEFAULT_PROFILE, Profile, ProfileError};

use crate::api::{Api, Caller};
use crate::clock::Clock;
use crate::oauth::Authority;
use crate::web::body::ApiBytes;
use crate::web::{ApiError, FailLifecycle};
use crate::webhooks::Webhooks;
use engine::{Call, Failure};
use mount::Mount;
use profile::{Endpoint, Kind};

/// What the provider's API works with: the resource API's state (who may
/// call, the records, the banks), the profile, the sandbox clock its
/// statuses move on, and the webhooks its events go to.
#[derive(Clone)]
pub struct Provider {
    pub api: Api,
    pub profile: Arc<Profile>,
    pub clock: Arc<Clock>,
    /// The user's own requests (`--api`), after the profile's.
    pub imported: Arc<import::Imported>,
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
    /// The engine over the store of the application `owner` (its id;
    /// `None`: every application's), at that application's now (`None`:
    /// the sandbox clock's).
    pub fn engine<'a>(&'a self, owner: Option<&'a str>) -> engine::Engine<'a> {
        engine::Engine {
            profile: &self.profile,
            store: store::Store::new(&self.api.records, owner),
            entropy: self.api.records.entropy(),
            now: owner.map_or_else(|| self.clock.now(), |owner| self.clock.now_for(owner)),
            made: Default::default(),
            fail: false,
        }
    }
}

/// The linking admin call (auth host).
pub fn admin_routes(state: Provider) -> Router {
    Router::new()
        .route("/admin/customers/{customer_id}/link", post(link::admin_link))
        .with_state(state)
}

/// The profile's endpoints, then the imported requests it does not shadow:
/// the same for the sandbox and mtls hosts, so the server builds them once.
pub fn routes(state: Provider) -> Router {
    let mut mount = Mount::new();
    for endpoint in &state.profile.endpoints {
        let endpoint = Arc::new(endpoint.clone());
        let route = method_router(endpoint.clone());
        mount.add(&endpoint.method, &endpoint.path, endpoint.trailing_slash, route);
    }
    for request in &state.imported.requests {
        let route = import::serve::method_router(request.clone());
        mount.add(&request.method, &request.path, true, route);
    }
    mount.into_router().with_state(state)
}

fn method_router(endpoint: Arc<Endpoint>) -> MethodRouter<Provider> {
    let filter = mount::method_filter(&endpoint.method);
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
                let mut engine = state.engine(Some(&caller.app().id));
                engine.fail = fail.is_some();
                let response = serve(&engine, &endpoint, &caller, params, query, &headers, &method, body);
                events::publish(&engine, &state.webhooks, &caller.app().name);
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
        let params =
            params.map_err(|e| Failure::bad_request(format!("the URL path is not valid: {}", e.body_text())))?;
        let params = mount::params_by_name(&endpoint.path, &params).into_iter().collect();
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

//! The emulated resource API (banks, customers, transactions), served on
//! both the sandbox and the mtls host. The banks and customers handlers are
//! mounted by the provider's profile (`provider::builtin`), which decides
//! their paths; [`routes`] has what no profile describes.
//!
//! Handlers are thin: authenticate (`Caller`), parse, call `records`, map.
//! The area's state is [`Api`]: what its handlers and `Caller` read, and
//! nothing of the portal, the gateway or fault injection.

mod auth;
pub(crate) mod banks;
pub(crate) mod customers;
mod transactions;

use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::routing::post;

pub use auth::Caller;

use crate::apps::Apps;
use crate::oauth::Authority;
use crate::records::Records;

/// What the resource API works with ([`ApiState`]), shared: every request
/// clones the state of its route, several times on its way through axum,
/// and a clone is now one reference count instead of five (callgrind,
/// issue #15).
#[derive(Clone)]
pub struct Api(Arc<ApiState>);

impl Api {
    pub fn new(state: ApiState) -> Self {
        Api(Arc::new(state))
    }
}

impl Deref for Api {
    type Target = ApiState;

    fn deref(&self) -> &ApiState {
        &self.0
    }
}

/// The parts of [`Api`].
pub struct ApiState {
    /// Verifies bearer tokens.
    pub authority: Arc<Authority>,
    /// Who may call: the applications, by app token and client id.
    pub apps: Arc<Apps>,
    pub records: Arc<Records>,
    /// The banks served by `GET /banks/v1`, as a JSON array.
    pub banks: Arc<serde_json::Value>,
    /// The same, serialised ([`banks::body`]).
    pub banks_json: axum::body::Bytes,
}

/// The resource API's routes.
pub fn routes(api: Api) -> Router {
    Router::new()
        .route("/api/transactions", post(transactions::create))
        .with_state(api)
}

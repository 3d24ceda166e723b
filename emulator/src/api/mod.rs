//! The emulated resource API (banks, customers, transactions), served on
//! both the sandbox and the mtls host.
//!
//! Handlers are thin: authenticate (`Caller`), parse, call `records`, map.
//! The area's state is [`Api`]: what its handlers and `Caller` read, and
//! nothing of the portal, the gateway or fault injection.

mod auth;
mod banks;
mod customers;
mod transactions;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use auth::AuthMode;

use crate::application::Application;
use crate::oauth::Authority;
use crate::records::Records;

/// What the resource API works with.
#[derive(Clone)]
pub struct Api {
    /// Verifies bearer tokens.
    pub authority: Arc<Authority>,
    /// Holds the app token.
    pub application: Arc<Application>,
    pub records: Arc<Records>,
    pub auth_mode: AuthMode,
    /// The banks served by `GET /banks/v1`, as a JSON array.
    pub banks: Arc<serde_json::Value>,
}

/// The resource API's routes.
pub fn routes(api: Api) -> Router {
    Router::new()
        .route("/banks/v1", get(banks::list))
        .route("/banks/v1/", get(banks::list))
        .route("/customers/v1", post(customers::create))
        .route("/customers/v1/{id}", get(customers::get))
        .route("/api/transactions", post(transactions::create))
        .with_state(api)
}

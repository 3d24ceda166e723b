//! The OAuth 2.0 authorization server: client_credentials with every
//! client-authentication method, PS256/ES256 JWT or opaque access tokens,
//! certificate binding, discovery, JWKS, introspection and revocation, plus
//! client and secret management.

pub mod admin;
pub mod authority;
pub mod bearer;
pub mod client;
pub mod client_auth;
pub mod dn;
pub mod endpoints;
pub mod error;
pub mod jwks_fetch;
pub mod keys;
pub mod registry;
pub mod signer;
pub mod store;
#[cfg(test)]
pub(crate) mod test_authority;
pub mod token;
pub mod verified;

pub use authority::Authority;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post};

use crate::hosts::Host;

/// The authorization server's routes on `host`: the token, introspection
/// and revocation endpoints on the auth host and (RFC 8705 aliases) the
/// mtls host; discovery, JWKS and client management on the auth host.
pub fn routes(host: Host, authority: Arc<Authority>) -> Router {
    let mut router = Router::new();
    if matches!(host, Host::Auth | Host::Mtls) {
        router = router
            .route("/oauth2/token", post(endpoints::token))
            .route("/oauth2/introspect", post(endpoints::introspect))
            .route("/oauth2/revoke", post(endpoints::revoke));
    }
    if host == Host::Auth {
        router = router
            .route("/.well-known/openid-configuration", get(endpoints::discovery))
            .route("/.well-known/oauth-authorization-server", get(endpoints::discovery))
            .route("/jwks.json", get(endpoints::jwks))
            .route("/clients", post(admin::create_client).get(admin::list_clients))
            .route("/clients/{id}", delete(admin::delete_client))
            .route("/clients/{id}/secrets", post(admin::create_secret))
            .route("/clients/{id}/secrets/{secret_id}", delete(admin::delete_secret));
    }
    router.with_state(authority)
}

//! The OAuth 2.0 authorization server: client_credentials with every
//! client-authentication method, PS256/ES256 JWT or opaque access tokens,
//! certificate binding, discovery, JWKS, introspection and revocation, plus
//! client and secret management.

pub mod admin;
pub mod authority;
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
pub mod token;

pub use authority::Authority;

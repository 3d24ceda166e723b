//! The HTTP edge every area shares: the provider-shaped error and its JSON
//! ([`ApiError`]), body and path extractors with that shape ([`body`]), the
//! one `Authorization` parser ([`authorization`]), the request-head limits
//! ([`head`]) and the notes a response carries for the inspector
//! ([`notes`]).
//!
//! It knows no area: the resource API, the authorization server, the
//! portal, the gateway and fault injection all build on it, and it imports
//! none of them (nor the inspector, which reads the notes).

pub mod authorization;
pub mod body;
mod error;
pub mod head;
mod notes;
pub mod query;

pub use error::{ApiError, storage_status};
pub use notes::{Failure, TokenNote};

/// Put on a request by a fault rule with `fail`: what the request creates
/// takes its lifecycle's failure path (the provider's profile says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailLifecycle;

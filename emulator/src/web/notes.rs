//! What a response tells the request inspector about itself, attached as
//! response extensions: the error it carries ([`Failure`], set by the error
//! types' `IntoResponse`) and what the token endpoint learnt ([`TokenNote`]).
//!
//! They live at the HTTP edge so the error types need not know the
//! inspector: the inspector reads these notes, nothing here reads it.

/// What an error response said, attached to it (as a response extension)
/// by the API's and the authorization server's error types.
#[derive(Debug, Clone)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
}

/// What the token endpoint learnt about a request, attached to its response.
#[derive(Debug, Clone, Default)]
pub struct TokenNote {
    pub client_id: Option<String>,
    pub auth_method: Option<&'static str>,
    /// The issued access token (JWT or opaque reference).
    pub access_token: Option<String>,
}

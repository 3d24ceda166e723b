//! The notes a response carries for the request inspector, as response
//! extensions: what an error said, what the token endpoint learnt. Error
//! types and handlers attach them; only the inspector's access log reads
//! them. A leaf: it imports nothing from the crate, so attaching a note never
//! makes a module depend on the inspector.

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

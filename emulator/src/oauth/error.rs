//! OAuth errors as RFC 6749 §5.2 defines them: `{"error", "error_description"}`
//! with the right status, and `WWW-Authenticate: Basic` on a 401 only when
//! the client authenticated with the `Authorization` header. A challenge
//! sent to a client that posted its credentials in the form makes
//! openid-client and oauth4webapi raise a generic "challenge" error and
//! hide the body that says what is wrong.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
    pub status: StatusCode,
    /// The request carried an `Authorization` header, so a 401 names the
    /// scheme to use there (see [`OAuthError::challenging`]).
    pub basic_challenge: bool,
}

impl OAuthError {
    fn new(code: &'static str, status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            status,
            basic_challenge: false,
        }
    }

    /// Marks the error as the answer to a request with these headers: if
    /// the client used the `Authorization` header, a 401 carries
    /// `WWW-Authenticate: Basic` (RFC 6749 §5.2 — Basic being the only
    /// scheme the token endpoint takes there, it is also the answer to a
    /// client that tried another one).
    pub fn challenging(mut self, headers: &HeaderMap) -> Self {
        self.basic_challenge = headers.contains_key(header::AUTHORIZATION);
        self
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", StatusCode::BAD_REQUEST, d)
    }

    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", StatusCode::UNAUTHORIZED, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", StatusCode::BAD_REQUEST, d)
    }

    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", StatusCode::BAD_REQUEST, d)
    }

    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", StatusCode::BAD_REQUEST, d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", StatusCode::BAD_REQUEST, d)
    }

    pub fn unsupported_token_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_token_type", StatusCode::BAD_REQUEST, d)
    }

    pub fn server_error(d: impl Into<String>) -> Self {
        Self::new("server_error", StatusCode::INTERNAL_SERVER_ERROR, d)
    }

    /// An oversized request body: `invalid_request`, with HTTP 413.
    pub fn payload_too_large(d: impl Into<String>) -> Self {
        Self::new("invalid_request", StatusCode::PAYLOAD_TOO_LARGE, d)
    }

    /// The error for a code a fault rule names (`faults::rule::OAUTH_ERRORS`).
    pub fn from_code(code: &str, d: impl Into<String>) -> Self {
        match code {
            "invalid_client" => Self::invalid_client(d),
            "invalid_grant" => Self::invalid_grant(d),
            "unauthorized_client" => Self::unauthorized_client(d),
            "unsupported_grant_type" => Self::unsupported_grant_type(d),
            "invalid_scope" => Self::invalid_scope(d),
            "server_error" => Self::server_error(d),
            "temporarily_unavailable" => Self::new("temporarily_unavailable", StatusCode::SERVICE_UNAVAILABLE, d),
            _ => Self::invalid_request(d),
        }
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.code, "error_description": self.description }));
        let mut response = (self.status, body).into_response();
        response.extensions_mut().insert(crate::web::Failure {
            code: self.code,
            message: self.description,
        });
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED && self.basic_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"mtls-sandbox\""),
            );
        }
        response
    }
}

impl From<crate::records::RecordsError> for OAuthError {
    fn from(err: crate::records::RecordsError) -> Self {
        tracing::error!("records: {err}");
        match err {
            // A full or read-only disk passes (the client may retry once it
            // is fixed): 503 `temporarily_unavailable`, naming the file.
            crate::records::RecordsError::Storage(failure) => OAuthError::new(
                "temporarily_unavailable",
                StatusCode::SERVICE_UNAVAILABLE,
                failure.to_string(),
            ),
            _ => OAuthError::server_error("the sandbox could not access its records database; see the sandbox log"),
        }
    }
}

//! The provider-shaped error every non-OAuth endpoint answers with, and its
//! one JSON rendering: `{"status": "<PROVIDER_CODE>", "message": "<what to do>"}`.
//!
//! Shared by the resource API, the management API (clients, faults, clock),
//! the gateway and the request limits. A records failure becomes a 500 here
//! and nowhere else.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// The provider's status code string, e.g. `UNAUTHORIZED`.
    pub code: &'static str,
    pub message: String,
    /// Overrides the default `WWW-Authenticate` of a 401.
    pub www_authenticate: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            www_authenticate: None,
        }
    }

    pub fn with_www_authenticate(mut self, value: String) -> Self {
        self.www_authenticate = Some(value);
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn invalid_parameters(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETERS", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "status": self.code, "message": self.message }));
        let mut response = (self.status, body).into_response();
        response.extensions_mut().insert(super::Failure {
            code: self.code,
            message: self.message,
        });
        if self.status == StatusCode::UNAUTHORIZED {
            // RFC 6750: tell bearer clients how to authenticate.
            let value = self
                .www_authenticate
                .and_then(|v| HeaderValue::from_str(&v).ok())
                .unwrap_or(HeaderValue::from_static("Bearer realm=\"mtls-sandbox\""));
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl From<crate::records::RecordsError> for ApiError {
    fn from(err: crate::records::RecordsError) -> Self {
        tracing::error!("records: {err}");
        match err {
            crate::records::RecordsError::Storage(failure) => failure.into(),
            _ => ApiError::internal("the sandbox could not access its records database; see the sandbox log"),
        }
    }
}

/// The state dir's disk failing is the sandbox's environment, not a bug:
/// 507 when it is full (RFC 4918 §11.5: the server cannot store what the
/// request needs), 503 when it is read-only or failing; the message names
/// the file and the fix, since only the person running the sandbox can act.
impl From<crate::storage::StorageFailure> for ApiError {
    fn from(failure: crate::storage::StorageFailure) -> Self {
        let (status, code) = storage_status(&failure);
        ApiError::new(status, code, failure.to_string())
    }
}

/// The status and provider-style code of a storage failure, for every
/// area's error shape.
pub fn storage_status(failure: &crate::storage::StorageFailure) -> (StatusCode, &'static str) {
    match failure.problem {
        crate::storage::Problem::Full => (StatusCode::INSUFFICIENT_STORAGE, "INSUFFICIENT_STORAGE"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
    }
}

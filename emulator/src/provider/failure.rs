//! How the engine refuses: a status, the provider's code and a message that
//! says what to change. The router renders it with the endpoint's error
//! template (`{timestamp, status, message, metadata}` or, for data v2, with
//! a `results_id`).

use crate::records::RecordsError;

/// A refusal in the provider's terms: rendered with the endpoint's error template.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl Failure {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: 400,
            code: "INVALID_PARAMETERS",
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: 404,
            code: "NOT_FOUND",
            message: message.into(),
        }
    }
}

impl From<RecordsError> for Failure {
    fn from(err: RecordsError) -> Self {
        tracing::error!("provider store: {err}");
        Self {
            status: 500,
            code: "INTERNAL_ERROR",
            message: "the sandbox could not access its records database; see the sandbox log".into(),
        }
    }
}

impl From<crate::web::ApiError> for Failure {
    fn from(err: crate::web::ApiError) -> Self {
        Self {
            status: err.status.as_u16(),
            code: err.code,
            message: err.message,
        }
    }
}

pub fn template_failure(message: String) -> Failure {
    tracing::error!("provider template: {message}");
    Failure {
        status: 500,
        code: "INTERNAL_ERROR",
        message: format!("the provider profile could not render this response: {message}"),
    }
}

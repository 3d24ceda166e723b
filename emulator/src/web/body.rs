//! JSON request bodies with the API's own error shape: malformed JSON is a
//! 400 `INVALID_PARAMETERS`, a wrong content type 415, an oversized body 413.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::ApiError;

/// Largest request body the resource API accepts.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if declared_too_large(&req) {
            drain(req).await;
            return Err(too_large());
        }
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A path parameter with the API's error shape (e.g. invalid UTF-8 in an id
/// is a 400 `INVALID_PARAMETERS` JSON error, not axum's plain text).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::invalid_parameters(format!(
                "the URL path is not valid: {}",
                rejection.body_text()
            ))),
        }
    }
}

pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the body as JSON with the header Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::invalid_parameters(format!("the body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::JsonDataError(e) => ApiError::invalid_parameters(e.body_text()),
        other => ApiError::invalid_parameters(other.body_text()),
    }
}

/// Why a body could not be read.
pub enum BodyError {
    TooLarge,
    Unreadable(String),
}

/// Reads a whole body of at most [`MAX_BODY_BYTES`]; an announced oversized
/// body is drained first so the client sees the refusal.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, BodyError> {
    if declared_too_large(&req) {
        drain(req).await;
        return Err(BodyError::TooLarge);
    }
    Bytes::from_request(req, state).await.map_err(|r| match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => BodyError::TooLarge,
        _ => BodyError::Unreadable(r.body_text()),
    })
}

/// The raw body, with the API's error shape.
pub struct ApiBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match read_body(req, state).await {
            Ok(bytes) => Ok(ApiBytes(bytes)),
            Err(BodyError::TooLarge) => Err(too_large()),
            Err(BodyError::Unreadable(why)) => Err(ApiError::invalid_parameters(why)),
        }
    }
}

/// Whether `headers` declare the media type `mime` (e.g.
/// `application/json`), ignoring case, leading space and parameters such as
/// `; charset=utf-8`: one rule for every body the sandbox reads.
pub fn content_type_is(headers: &axum::http::HeaderMap, mime: &str) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with(mime))
}

/// Whether the request announces a body over [`MAX_BODY_BYTES`].
pub fn declared_too_large(req: &Request) -> bool {
    req.headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
}

/// Reads and discards a body we refuse (up to 16 MiB, for 5 s at most).
/// A client still sending its body would otherwise get a reset instead of
/// our 413 when the connection closes under it.
pub async fn drain(req: Request) {
    use futures_util::StreamExt;
    let mut stream = req.into_body().into_data_stream();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut seen = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            seen += chunk.len();
            if seen > 16 << 20 {
                break;
            }
        }
    })
    .await;
}

pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

//! The middleware that applies fault rules to requests.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::tls::TlsInfo;
use futures_util::StreamExt;

use super::rule::{Effect, Respond};
use super::{FaultState, Probe};
use crate::hosts::Host;
use crate::oauth::error::OAuthError;
use crate::web::ApiError;
use crate::web::authorization;
use crate::web::body::MAX_BODY_BYTES;

/// Applies the first matching rule's effect, or passes the request on.
pub async fn inject(State(state): State<FaultState>, req: Request, next: Next) -> Response {
    if !state.faults.armed() || req.uri().path().starts_with("/admin/") {
        return next.run(req).await;
    }
    let host = req.extensions().get::<Host>().copied().unwrap_or(Host::Sandbox);
    let wants = state.faults.wants();
    let peer = req
        .extensions()
        .get::<Arc<TlsInfo>>()
        .and_then(|tls| tls.peer_certificates.first().cloned());
    let subject = wants
        .subject
        .then(|| peer.as_deref().and_then(crate::pki::subject_of))
        .flatten();
    let (req, client_id) = if wants.client_id || wants.app {
        client_id_of(&state, req).await
    } else {
        (req, None)
    };
    let app = wants
        .app
        .then(|| app_of(&state, &req, client_id.as_deref(), peer.as_deref()))
        .flatten();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let probe = Probe {
        host,
        method: &method,
        path: &path,
        subject,
        client_id,
        app,
    };
    let Some(effect) = state.faults.take(&probe) else {
        return next.run(req).await;
    };
    tracing::info!(target: "request", listener = %host, "fault injected: {method} {path} -> {}", summary(&effect));
    apply(&state, effect, peer.as_deref(), req, next).await
}

async fn apply(state: &FaultState, effect: Effect, peer: Option<&[u8]>, mut req: Request, next: Next) -> Response {
    if effect.fail {
        req.extensions_mut().insert(crate::web::FailLifecycle);
    }
    if let Some(delay) = effect.delay {
        tokio::time::sleep(delay).await;
    }
    if effect.rotate_keys
        && let Err(e) = state.authority.rotate_signing_key()
    {
        return ApiError::internal(format!("fault rotate_keys failed: {e:#}")).into_response();
    }
    if effect.revoke_certificate {
        let Some(der) = peer else {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_CERTIFICATE",
                "fault revoke_certificate matched a request without a client certificate",
            )
            .into_response();
        };
        let pem = pem::encode(&pem::Pem::new("CERTIFICATE", der));
        if let Err(e) = state.revocations.revoke(&pem, "the client certificate") {
            return ApiError::internal(format!("fault revoke_certificate failed: {e}")).into_response();
        }
    }
    match effect.respond {
        None => next.run(req).await,
        Some(Respond::OAuth(code)) => OAuthError::from_code(&code, "fault injected by a sandbox rule")
            .challenging(req.headers())
            .into_response(),
        Some(Respond::Status {
            status,
            body,
            retry_after,
        }) => {
            let mut response = match body {
                Some(body) => (status, axum::Json(body)).into_response(),
                None => provider_error(status).into_response(),
            };
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
        Some(Respond::Drop) => cut(next.run(req).await).await,
    }
}

/// The provider's error body for `status` (the status strings the provider documents for each HTTP status).
fn provider_error(status: StatusCode) -> ApiError {
    let code = match status.as_u16() {
        429 => "RATE_LIMIT_EXCEEDED",
        401 => "UNAUTHORIZED",
        403 => "INSUFFICIENT_ACCESS_LEVEL",
        404 => "NOT_FOUND",
        400 => "INVALID_PARAMETERS",
        503 => "SERVICE_UNAVAILABLE",
        s if s >= 500 => "INTERNAL_ERROR",
        _ => "FAULT_INJECTED",
    };
    let message = match status.as_u16() {
        429 => {
            "too many requests: slow down and retry after the Retry-After seconds (fault injected by a sandbox rule)"
        }
        503 => "the service is temporarily unavailable; retry later (fault injected by a sandbox rule)",
        _ => "fault injected by a sandbox rule",
    };
    ApiError::new(status, code, message)
}

/// The real response's status and headers, then half its body, then the
/// connection closes: what a client sees when a server dies mid-response.
async fn cut(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
    parts.headers.remove(header::CONTENT_LENGTH);
    // The pause lets the server flush the head and the first half before
    // the error aborts the connection.
    let first = futures_util::stream::iter([Ok::<_, std::io::Error>(half)]);
    let then_fail = futures_util::stream::once(async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fault: connection dropped mid-response",
        ))
    });
    Response::from_parts(parts, Body::from_stream(first.chain(then_fail)))
}

fn summary(effect: &Effect) -> String {
    let mut parts = Vec::new();
    if let Some(d) = effect.delay {
        parts.push(format!("delay {} ms", d.as_millis()));
    }
    if effect.rotate_keys {
        parts.push("signing key rotated".into());
    }
    if effect.revoke_certificate {
        parts.push("client certificate revoked".into());
    }
    if effect.fail {
        parts.push("what it creates fails".into());
    }
    match &effect.respond {
        Some(Respond::Status { status, .. }) => parts.push(status.as_u16().to_string()),
        Some(Respond::OAuth(code)) => parts.push(code.clone()),
        Some(Respond::Drop) => parts.push("connection dropped".into()),
        None => parts.push("passed on".into()),
    }
    parts.join(", ")
}

/// The application a request speaks for: by its app token, else by its
/// OAuth client, else by its client certificate.
fn app_of(state: &FaultState, req: &Request, client_id: Option<&str>, peer: Option<&[u8]>) -> Option<String> {
    let apps = &state.apps;
    let by_token = || {
        let token = req.headers().get(authorization::APP_TOKEN)?.to_str().ok()?;
        apps.by_app_token(token)
    };
    let app = by_token()
        .or_else(|| client_id.and_then(|id| apps.by_client_id(id)))
        .or_else(|| peer.and_then(|der| apps.by_certificate(der)))?;
    Some(app.name.clone())
}

/// The OAuth client a request speaks for: Basic user, bearer token's
/// `client_id`, or the form's `client_id` / client assertion subject (the
/// body is read, up to the API's limit, and put back).
async fn client_id_of(state: &FaultState, req: Request) -> (Request, Option<String>) {
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(auth) = auth {
        if authorization::has_scheme(&auth, "basic") {
            return (req, authorization::basic(&auth).ok().map(|(id, _)| id));
        }
        if authorization::has_scheme(&auth, "bearer") {
            let verified = authorization::bearer(&auth).and_then(|token| state.authority.verify(token).ok());
            return (req, verified.map(|verified| verified.claims.client_id.clone()));
        }
    }
    if !crate::web::body::content_type_is(req.headers(), crate::oauth::endpoints::FORM) {
        return (req, None);
    }
    let (parts, body) = req.into_parts();
    let bytes = match peek(body, MAX_BODY_BYTES).await {
        Peeked::Whole(bytes) => bytes,
        // Too large or broken: nothing to match; the request goes on with
        // its body intact (a gateway route may take large forms, and an
        // endpoint names its own limit).
        Peeked::Partial(body) => return (Request::from_parts(parts, body), None),
    };
    let mut id = None;
    for (key, value) in form_urlencoded::parse(&bytes) {
        match key.as_ref() {
            "client_id" => id = Some(value.into_owned()),
            "client_assertion" if id.is_none() => id = crate::oauth::token::unverified_subject(&value),
            _ => {}
        }
    }
    (Request::from_parts(parts, Body::from(bytes)), id)
}

/// A body read up to a limit, for matching.
enum Peeked {
    /// All of it, within the limit.
    Whole(Bytes),
    /// Over the limit or failed: the bytes read so far followed by the
    /// rest (or the error), so the receiver gets exactly what was sent.
    Partial(Body),
}

async fn peek(body: Body, limit: usize) -> Peeked {
    let mut stream = body.into_data_stream();
    let mut read: Vec<Bytes> = Vec::new();
    let mut len = 0;
    while let Some(chunk) = stream.next().await {
        let failed = match chunk {
            Ok(chunk) => {
                len += chunk.len();
                read.push(chunk);
                if len <= limit {
                    continue;
                }
                None
            }
            Err(e) => Some(e),
        };
        let replay = futures_util::stream::iter(read.into_iter().map(Ok::<_, axum::Error>));
        let rest = futures_util::stream::iter(failed.map(Err)).chain(stream);
        return Peeked::Partial(Body::from_stream(replay.chain(rest)));
    }
    Peeked::Whole(read.concat().into())
}

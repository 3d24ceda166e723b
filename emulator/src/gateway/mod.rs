//! Gateway mode: the mtls host in front of the user's own API.
//!
//! Requests on the mtls host that no emulated endpoint answers are matched
//! against the configured routes (longest prefix first). A matching request
//! has passed the mTLS handshake; the route's token checks run (bearer,
//! scopes, certificate binding) and refuse it before anything reaches the
//! upstream; then it is forwarded with the client certificate, its
//! thumbprint, the JWT in place of an opaque token (phantom token) and the
//! X-Forwarded-* headers. Bodies stream both ways; an upstream that goes
//! silent mid-body is cut off ([`stall`]). Connections to the upstreams
//! are kept alive and reused ([`upstream`]). Routing and
//! forwarding use the normalised path ([`path`]), never the raw one.

mod client_cert;
mod headers;
pub mod path;
pub mod route;
mod stall;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use axum_server::tls::TlsInfo;

pub use route::{Route, RouteSection};
use upstream::Upstream;

use crate::oauth::Authority;
use crate::oauth::bearer::{self, insufficient};
use crate::web::ApiError;
use crate::web::authorization;

/// The routes with their upstreams' connections, the authorization server
/// whose tokens the routes check, and the certificate header values derived
/// so far.
pub struct Gateway {
    routes: Vec<Forward>,
    authority: Arc<Authority>,
    owned: headers::Owned,
    certificates: client_cert::Certificates,
}

/// A route and what forwarding on it needs, made once at start: the
/// connections to its upstream (shared by the routes to one origin) and
/// the explanation of a stalled response body.
struct Forward {
    route: Route,
    upstream: Arc<Upstream>,
    stalled: Arc<stall::Stalled>,
}

impl Gateway {
    pub fn new(mut routes: Vec<Route>, authority: Arc<Authority>) -> Self {
        // Longest prefix wins, as in nginx.
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        let owned = headers::Owned::of(&routes);
        let mut upstreams: Vec<(String, Arc<Upstream>)> = Vec::new();
        let routes = routes
            .into_iter()
            .map(|route| {
                let upstream = match upstreams.iter().find(|(origin, _)| *origin == route.origin) {
                    Some((_, upstream)) => upstream.clone(),
                    None => {
                        let upstream = Arc::new(Upstream::new(route.authority()));
                        upstreams.push((route.origin.clone(), upstream.clone()));
                        upstream
                    }
                };
                let stalled = Arc::new(stall::Stalled {
                    upstream: route.origin.clone(),
                    prefix: route.prefix.clone(),
                    timeout: route.timeout,
                });
                Forward {
                    route,
                    upstream,
                    stalled,
                }
            })
            .collect();
        Self {
            owned,
            routes,
            authority,
            certificates: client_cert::Certificates::default(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    fn route_for(&self, path: &str) -> Option<&Forward> {
        self.routes.iter().find(|f| path.starts_with(f.route.prefix.as_str()))
    }
}

/// The mtls host's fallback: forwards to the matching route, else 404.
pub async fn proxy(State(gateway): State<Arc<Gateway>>, req: Request) -> Response {
    let path = match path::normalize(req.uri().path()) {
        Ok(path) => path,
        Err(e) => return ApiError::invalid_parameters(e.to_string()).into_response(),
    };
    let Some(forward) = gateway.route_for(&path) else {
        return ApiError::not_found(format!("no such endpoint: {} {path}", req.method())).into_response();
    };
    let route = &forward.route;
    let (mut parts, body) = req.into_parts();
    let phantom_jwt = match authorize(&gateway.authority, route, &parts) {
        Ok(jwt) => jwt,
        Err(refusal) => return refusal.into_response(),
    };
    let certificate = parts
        .extensions
        .get::<Arc<TlsInfo>>()
        .and_then(|tls| tls.peer_certificates.first())
        .map(|der| gateway.certificates.get(der));
    let caller = headers::Caller {
        ip: parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()),
        authority: parts.uri.authority().map(|a| a.as_str()),
        certificate,
        phantom_jwt: phantom_jwt.as_deref(),
    };
    headers::for_upstream(route, &gateway.owned, &mut parts.headers, caller);
    parts.uri = match Uri::try_from(route.path_and_query(&path, parts.uri.query())) {
        Ok(uri) => uri,
        Err(e) => return ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETERS", e.to_string()).into_response(),
    };
    parts.version = Version::HTTP_11;
    parts.extensions = Default::default();
    let upstream = Request::from_parts(parts, body);

    match tokio::time::timeout(route.timeout, forward.upstream.send(upstream)).await {
        Ok(Ok(response)) => {
            let (mut parts, body) = response.into_parts();
            headers::for_client(&mut parts.headers);
            let body = stall::IdleTimeout::new(body, forward.stalled.clone());
            Response::from_parts(parts, Body::new(body))
        }
        Ok(Err(e)) => {
            tracing::warn!(upstream = %route.origin, "gateway: {e:?}");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "BAD_GATEWAY",
                format!(
                    "the upstream {} for {} did not answer: {}. Is your API running?",
                    route.origin,
                    route.prefix,
                    cause(&*e)
                ),
            )
            .into_response()
        }
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "GATEWAY_TIMEOUT",
            format!(
                "the upstream {} sent no response within {} ms (timeout_ms of route {})",
                route.origin,
                route.timeout.as_millis(),
                route.prefix
            ),
        )
        .into_response(),
    }
}

/// The route's token checks; returns the JWT to forward for a phantom token.
fn authorize(
    authority: &Authority,
    route: &Route,
    parts: &axum::http::request::Parts,
) -> Result<Option<String>, ApiError> {
    if !route.require_token {
        return Ok(None);
    }
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        // Name what the caller asked for; the route prefix ("/") alone reads
        // as if another path had been called.
        return Err(ApiError::unauthorized(format!(
            "{} {} needs Authorization: Bearer <access token>: the gateway route {} requires one \
             (get one from POST /oauth2/token)",
            parts.method,
            parts.uri.path(),
            route.prefix
        ))
        .with_www_authenticate("Bearer".into()));
    };
    let value = value.to_str().unwrap_or("");
    let require_binding = route.require_binding || authority.require_binding;
    let verified = bearer::verify(authority, parts, value, require_binding)?;
    let claims = &verified.claims;
    if let Some(missing) = route.scopes.iter().find(|want| !claims.scopes().any(|s| s == *want)) {
        return Err(insufficient(&claims.scope, missing));
    }
    let presented = authorization::bearer(value).unwrap_or("");
    Ok((route.phantom_token && presented != verified.jwt).then(|| verified.jwt.clone()))
}

/// The innermost error's message: "Connection refused", not "client error".
fn cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

//! The emulated resource API (banks, customers, transactions), served on
//! both the sandbox and the mtls host, plus `/health` on every listener and
//! the per-request access log.
//!
//! Handlers are thin: authenticate (`Caller`), parse, call `records`, map.

pub mod auth;
pub(crate) mod banks;
pub mod body;
pub(crate) mod customers;
pub mod error;
mod head;
mod revoked;
mod transactions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum_server::tls::TlsInfo;
use x509_parser::prelude::{FromDer, X509Certificate};

pub use auth::{APP_TOKEN_HEADER, Caller};
pub use error::ApiError;

use crate::context::Ctx;
use crate::faults;
use crate::hosts::Host;
use crate::inspector::{Credentials, Failure, Inspector, RequestSeen, Seen, TokenNote};
use crate::oauth;

/// The router for one listener.
pub fn router(ctx: Ctx, host: Host) -> Router {
    let mut router = Router::new().route("/health", get(health));
    if matches!(host, Host::Auth | Host::Mtls) {
        // The mtls host carries the RFC 8705 endpoint aliases.
        router = router
            .route("/oauth2/token", post(oauth::endpoints::token))
            .route("/oauth2/introspect", post(oauth::endpoints::introspect))
            .route("/oauth2/revoke", post(oauth::endpoints::revoke));
    }
    if host == Host::Auth {
        router = router
            .route("/.well-known/openid-configuration", get(oauth::endpoints::discovery))
            .route(
                "/.well-known/oauth-authorization-server",
                get(oauth::endpoints::discovery),
            )
            .route("/jwks.json", get(oauth::endpoints::jwks))
            .route(
                "/clients",
                post(oauth::admin::create_client).get(oauth::admin::list_clients),
            )
            .route("/clients/{id}", delete(oauth::admin::delete_client))
            .route("/clients/{id}/secrets", post(oauth::admin::create_secret))
            .route("/clients/{id}/secrets/{secret_id}", delete(oauth::admin::delete_secret))
            .route(
                "/admin/faults",
                post(faults::admin::add_fault)
                    .get(faults::admin::list_faults)
                    .delete(faults::admin::clear_faults),
            )
            .route("/admin/faults/{id}", delete(faults::admin::delete_fault))
            .route(
                "/admin/clock",
                get(faults::admin::get_clock).post(faults::admin::change_clock),
            );
    }
    if matches!(host, Host::Sandbox | Host::Mtls) {
        router = router.route("/api/transactions", post(transactions::create));
    }
    // The provider's documented API, from the sandbox's profile.
    router = crate::provider::routes(router, &ctx, host);
    if host == Host::Sandbox {
        router = crate::portal::routes(router, &ctx);
    }
    if host == Host::Mtls && !ctx.gateway.is_empty() {
        router = router.fallback(crate::gateway::proxy);
    } else {
        router = router.fallback(not_found);
    }
    if host == Host::Mtls {
        router = router.layer(middleware::from_fn_with_state(ctx.clone(), revoked::refuse_revoked));
    }
    router
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(ctx.clone(), faults::inject))
        .layer(middleware::from_fn(head::enforce_limits))
        .layer(middleware::from_fn_with_state(
            Observed {
                host,
                inspector: ctx.inspector.clone(),
            },
            access_log,
        ))
        .with_state(ctx)
}

async fn health(State(_): State<Ctx>, axum::Extension(host): axum::Extension<Host>) -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "OK", "listener": host.name() }))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!("no such endpoint: {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{method} is not supported on {}", uri.path()),
    )
}

/// What the access log needs: the listener, and where to record requests.
#[derive(Clone)]
struct Observed {
    host: Host,
    inspector: Arc<Inspector>,
}

/// One log line per request with what a person needs to follow a call
/// (listener, client address, certificate subject, request, outcome), and
/// the same request in the inspector (the portal's own pages excepted).
async fn access_log(State(observed): State<Observed>, mut req: Request, next: Next) -> Response {
    let Observed { host, inspector } = observed;
    let started = Instant::now();
    req.extensions_mut().insert(host);
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let enabled = tracing::enabled!(target: "request", tracing::Level::INFO);
    let subject = enabled
        .then(|| req.extensions().get::<Arc<TlsInfo>>())
        .flatten()
        .and_then(|info| info.peer_certificates.first().cloned())
        .and_then(|der| {
            X509Certificate::from_der(&der)
                .ok()
                .map(|(_, c)| c.subject().to_string())
        })
        .unwrap_or_else(|| "-".into());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let inspected = (inspector.capacity() > 0 && crate::portal::is_inspected(&path)).then(|| {
        let tls = req.extensions().get::<Arc<TlsInfo>>().cloned();
        let credentials = match req.headers().get(axum::http::header::AUTHORIZATION) {
            Some(value) => Credentials::Authorization(value.clone()),
            None if req.headers().contains_key(APP_TOKEN_HEADER) => Credentials::AppToken,
            None => Credentials::None,
        };
        (tls, credentials)
    });
    let mut response = next.run(req).await;
    let elapsed = started.elapsed();
    if enabled {
        let client = peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        tracing::info!(
            target: "request",
            listener = %host,
            %client,
            subject,
            "{method} {path} -> {} ({} µs)",
            response.status().as_u16(),
            elapsed.as_micros()
        );
    }
    if let Some((tls, credentials)) = inspected {
        let extensions = response.extensions_mut();
        let seen = RequestSeen {
            note: extensions.remove::<TokenNote>(),
            failure: extensions.remove::<Failure>(),
            method,
            path,
            status: response.status(),
            elapsed,
            tls,
            credentials,
        };
        inspector.record(host, peer, Seen::Request(Box::new(seen)));
    }
    response
}

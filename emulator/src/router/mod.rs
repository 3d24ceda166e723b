//! Which routes each host serves, and the layers around them: the router
//! of one listener, assembled from each area's `routes()`.
//!
//! The areas (resource API, authorization server, fault and clock admin,
//! webhook admin, portal, gateway) know nothing of each other and each carries its own
//! state; this module puts them on their hosts and wraps them in the
//! cross-cutting layers — the access log and inspector, the request-head
//! limits, fault injection, on the mtls host the per-request revocation
//! check, and behind a proxy the forwarded client certificate.

mod access_log;
mod forwarded_cert;
mod revoked;

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::body::Incoming;
use tower::{Service, ServiceBuilder};

use crate::api::{self, Api};
use crate::apps::{self, admin::AppsAdmin};
use crate::faults::{self, FaultState};
use crate::gateway::{self, Gateway};
use crate::hosts::Host;
use crate::inspector::Inspector;
use crate::limits::Connections;
use crate::oauth::error::OAuthError;
use crate::oauth::{self, Authority};
use crate::portal::{self, Portal};
use crate::provider::{self, Provider};
use crate::proxy::ForwardedCerts;
use crate::revocation::Revocations;
use crate::web::{ApiError, body, head};
use crate::webhooks::{self, WebhookState};
use access_log::{Observed, access_log};
use forwarded_cert::Forwarding;

/// Every area's state, built once by the server; each router takes the
/// parts its host serves.
#[derive(Clone)]
pub struct Areas {
    pub api: Api,
    pub provider: Provider,
    /// [`provider::routes`], built once for the two hosts that serve them.
    pub provider_routes: Router,
    pub authority: Arc<Authority>,
    /// `/admin/apps`.
    pub apps: AppsAdmin,
    pub faults: FaultState,
    pub portal: Arc<Portal>,
    pub gateway: Arc<Gateway>,
    pub webhooks: WebhookState,
    pub revocations: Arc<Revocations>,
    pub inspector: Arc<Inspector>,
    /// Behind a proxy: client certificates it forwards in a header.
    pub forwarded: Option<Arc<ForwardedCerts>>,
}

/// The service of one listener: its routes ([`routes`]) inside the layers
/// every request meets once, outermost first — behind a proxy the
/// forwarded certificate, the access log (with the [`Guard`] inside it),
/// the body limit.
///
/// They wrap the router as a whole rather than each route: axum's
/// `Router::layer` wraps every route, and a request then clones and boxes
/// each layer's stack of services on its way in (callgrind, issue #15).
/// `connections`: the listener's open connections, each marked busy while
/// one of its requests is handled.
pub fn router(
    areas: &Areas,
    host: Host,
    connections: Connections,
) -> impl Service<axum::http::Request<Incoming>, Response = Response, Error = Infallible, Future: Send + 'static>
+ Clone
+ Send
+ Sync
+ 'static {
    // The sandbox host uses no client certificate.
    let forwarding = areas.forwarded.clone().filter(|_| host != Host::Sandbox);
    let observed = Observed {
        host,
        inspector: areas.inspector.clone(),
        subjects: Arc::default(),
        guard: Guard {
            faults: areas.faults.clone(),
            forwarding: forwarding.is_some(),
        },
        connections,
    };
    let forwarded = forwarding.map(|certs| {
        let forwarding = Forwarding {
            host,
            certs,
            authority: areas.authority.clone(),
        };
        middleware::from_fn_with_state(forwarding, forwarded_cert::resolve)
    });
    ServiceBuilder::new()
        .map_request(|request: axum::http::Request<Incoming>| request.map(Body::new))
        .option_layer(forwarded)
        .layer(middleware::from_fn_with_state(observed, access_log))
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
        .service(routes(areas, host))
}

/// Which routes `host` serves. On the mtls host each route checks the
/// connection's certificate against the CRL first ([`revoked`]); a route
/// layer, so that a method the path does not support is still answered
/// 405 (the fallback added after it is not wrapped).
fn routes(areas: &Areas, host: Host) -> Router {
    let mut router = Router::new()
        .route("/health", get(health))
        .merge(oauth::routes(host, areas.authority.clone()));
    if host == Host::Auth {
        router = router
            .merge(faults::routes(areas.faults.clone()))
            .merge(apps::admin::routes(areas.apps.clone()))
            .merge(webhooks::routes(areas.webhooks.clone()));
    }
    if matches!(host, Host::Sandbox | Host::Mtls) {
        router = router.merge(api::routes(areas.api.clone()));
    }
    // The provider's documented API from its profile; on the auth host, the
    // admin call that links a test customer to a bank.
    router = match host {
        Host::Auth => router.merge(provider::admin_routes(areas.provider.clone())),
        Host::Sandbox | Host::Mtls => router.merge(areas.provider_routes.clone()),
    };
    if host == Host::Sandbox {
        router = router.merge(portal::routes(areas.portal.clone()));
    }
    if host == Host::Mtls && !areas.gateway.is_empty() {
        router = router.fallback_service(gateway::proxy.with_state(areas.gateway.clone()));
    } else {
        router = router.fallback(not_found);
    }
    if host == Host::Mtls {
        router = router.layer(revoked::RefuseRevokedLayer(areas.revocations.clone()));
    }
    router.method_not_allowed_fallback(method_not_allowed)
}

/// What every request meets inside the access log, before its route:
/// behind a proxy the refusal of a forwarded certificate the sandbox
/// refused, the request-head limits, then fault injection — in that order,
/// as the separate layers they were. One layer and plain calls: each
/// `from_fn` layer costs every request a boxed clone of the stack below it
/// and a boxed future (callgrind, keep-alive app-token call: 3 layers fewer,
/// see the commit).
#[derive(Clone)]
pub struct Guard {
    faults: FaultState,
    /// Whether [`forwarded_cert::resolve`] runs outside (behind a proxy).
    forwarding: bool,
}

impl Guard {
    async fn run(self, req: axum::extract::Request, next: middleware::Next) -> Response {
        if self.forwarding
            && let Some(refused) = forwarded_cert::refusal(&req)
        {
            return refused;
        }
        if let Some(refused) = head::refusal(&req) {
            return refused;
        }
        faults::inject(axum::extract::State(self.faults), req, next).await
    }
}

/// A request refused for its client certificate: 401 `invalid_client` in
/// the OAuth shape on `/oauth2/*` (whatever `status` says), `status` in the
/// provider's shape elsewhere.
fn refusal(path: &str, status: StatusCode, code: &'static str, message: String) -> Response {
    if path.starts_with("/oauth2/") {
        OAuthError::invalid_client(message).into_response()
    } else {
        ApiError::new(status, code, message).into_response()
    }
}

async fn health(axum::Extension(host): axum::Extension<Host>) -> impl IntoResponse {
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

//! One log line per request, and the same request in the inspector: the
//! outermost layer of every listener, so it sees what the client sees.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum_server::tls::TlsInfo;

use super::Guard;
use crate::hosts::Host;
use crate::inspector::{Credentials, Inspector, RequestSeen, Seen};
use crate::limits::Connections;
use crate::per_cert::PerCertificate;
use crate::web::authorization::APP_TOKEN;
use crate::web::{Failure, TokenNote};

/// What the access log needs: the listener, where to record requests, and
/// the subjects of the client certificates seen so far; and what the
/// request meets inside it ([`Guard`]).
#[derive(Clone)]
pub struct Observed {
    pub host: Host,
    pub inspector: Arc<Inspector>,
    pub subjects: Arc<PerCertificate<Arc<str>>>,
    pub guard: Guard,
    /// The listener's open connections: the request's is busy (not idle)
    /// until its response is ready (`limits::track_requests`, done here:
    /// a layer of its own cost every request a boxed clone and future).
    pub connections: Connections,
}

fn subject_line(der: &[u8]) -> Arc<str> {
    crate::pki::subject_of(der).unwrap_or_else(|| "-".into()).into()
}

/// One log line per request with what a person needs to follow a call
/// (listener, client address, certificate subject, request, outcome), and
/// the same request in the inspector (the portal's own pages excepted).
pub async fn access_log(State(observed): State<Observed>, mut req: Request, next: Next) -> Response {
    let Observed {
        host,
        inspector,
        subjects,
        guard,
        connections,
    } = observed;
    let started = Instant::now();
    req.extensions_mut().insert(host);
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let _busy = peer.and_then(|peer| connections.busy(peer));
    let enabled = tracing::enabled!(target: "request", tracing::Level::INFO);
    let subject = enabled
        .then(|| req.extensions().get::<Arc<TlsInfo>>())
        .flatten()
        .and_then(|info| info.peer_certificates.first())
        .map(|der| subjects.get(der, subject_line));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let inspected = (inspector.capacity() > 0 && crate::portal::is_inspected(&path)).then(|| {
        let tls = req.extensions().get::<Arc<TlsInfo>>().cloned();
        let headers = req.headers();
        let credentials = match (headers.get(axum::http::header::AUTHORIZATION), headers.get(APP_TOKEN)) {
            (Some(value), _) => Credentials::Authorization(value.clone()),
            (None, Some(token)) => Credentials::AppToken(token.clone()),
            (None, None) => Credentials::None,
        };
        (tls, credentials)
    });
    let mut response = guard.run(req, next).await;
    let elapsed = started.elapsed();
    if enabled {
        let client = peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        tracing::info!(
            target: "request",
            listener = %host,
            %client,
            subject = subject.as_deref().unwrap_or("-"),
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

//! The mtls host's per-request revocation check.
//!
//! rustls checks the CRL during the handshake only, so a connection opened
//! before `mtls-sandbox revoke` would go on being served — and the token
//! endpoint would go on binding new tokens to the revoked certificate.
//! Every request on the mtls host therefore checks its connection's leaf
//! against the CRL loaded now (`Revocations::is_revoked`).
//!
//! A route layer (see `router::routes` for why), written as a plain tower
//! service: `middleware::from_fn` costs every request a clone of the route
//! below it, a boxed `Next` and a boxed future (callgrind, issue #15); this
//! check is synchronous and needs none of them.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use axum_server::tls::TlsInfo;
use futures_util::future::{Either, Ready, ready};
use tower::{Layer, Service};

use crate::revocation::Revocations;

const EXPLANATION: &str = "the client certificate of this connection has been revoked since the connection was opened \
     (it is on the sandbox's revocation list); connect again with a certificate that is not revoked";

/// Wraps each route in [`RefuseRevoked`].
#[derive(Clone)]
pub struct RefuseRevokedLayer(pub Arc<Revocations>);

impl<S> Layer<S> for RefuseRevokedLayer {
    type Service = RefuseRevoked<S>;

    fn layer(&self, inner: S) -> RefuseRevoked<S> {
        RefuseRevoked {
            revocations: self.0.clone(),
            inner,
        }
    }
}

/// A route that first refuses a request whose connection presented a
/// revoked certificate ([`refusal`]).
#[derive(Clone)]
pub struct RefuseRevoked<S> {
    revocations: Arc<Revocations>,
    inner: S,
}

impl<S> Service<Request> for RefuseRevoked<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match refusal(&self.revocations, &request) {
            Some(refused) => Either::Left(ready(Ok(refused))),
            None => Either::Right(self.inner.call(request)),
        }
    }
}

/// The answer to a request whose connection presented a revoked
/// certificate: 401 in the OAuth shape on `/oauth2/*`, the provider's shape
/// elsewhere. The connection is closed after the answer.
fn refusal(revocations: &Revocations, request: &Request) -> Option<Response> {
    let revoked = request
        .extensions()
        .get::<Arc<TlsInfo>>()
        .and_then(|tls| tls.peer_certificates.first())
        .is_some_and(|leaf| revocations.is_revoked(leaf));
    if !revoked {
        return None;
    }
    if let Some(connection) = request.extensions().get::<axum_server::ConnectionShutdown>() {
        connection.graceful_shutdown();
    }
    tracing::info!(target: "request", "refused: {EXPLANATION}");
    Some(super::refusal(
        request.uri().path(),
        StatusCode::UNAUTHORIZED,
        "CERTIFICATE_REVOKED",
        EXPLANATION.to_owned(),
    ))
}

//! The mtls host's per-request revocation check.
//!
//! rustls checks the CRL during the handshake only, so a connection opened
//! before `mtls-sandbox revoke` would go on being served — and the token
//! endpoint would go on binding new tokens to the revoked certificate.
//! Every request on the mtls host therefore checks its connection's leaf
//! against the CRL loaded now (`Revocations::is_revoked`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum_server::tls::TlsInfo;

use crate::revocation::Revocations;

const EXPLANATION: &str = "the client certificate of this connection has been revoked since the connection was opened \
     (it is on the sandbox's revocation list); connect again with a certificate that is not revoked";

/// Refuses a request whose connection presented a revoked certificate:
/// 401 in the OAuth shape on `/oauth2/*`, the provider's shape elsewhere.
/// The connection is closed after the answer.
pub async fn refuse_revoked(State(revocations): State<Arc<Revocations>>, request: Request, next: Next) -> Response {
    let revoked = request
        .extensions()
        .get::<Arc<TlsInfo>>()
        .and_then(|tls| tls.peer_certificates.first())
        .is_some_and(|leaf| revocations.is_revoked(leaf));
    if !revoked {
        return next.run(request).await;
    }
    if let Some(connection) = request.extensions().get::<axum_server::ConnectionShutdown>() {
        connection.graceful_shutdown();
    }
    tracing::info!(target: "request", "refused: {EXPLANATION}");
    super::refusal(
        request.uri().path(),
        StatusCode::UNAUTHORIZED,
        "CERTIFICATE_REVOKED",
        EXPLANATION.to_owned(),
    )
}

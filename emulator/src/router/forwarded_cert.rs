//! Behind the user's TLS terminator: the client certificate a trusted proxy
//! forwards in a header becomes the request's own, as if the TLS handshake
//! had carried it (`crate::proxy` makes the decision).
//!
//! Two layers around the access log. [`resolve`], outermost, puts the
//! forwarded chain where every reader of the handshake's certificate looks
//! (`Arc<TlsInfo>`: the revocation check, `tls_client_auth`, bound tokens,
//! the gateway, the inspector, the access log), or notes why it does not
//! count; [`refuse`], just inside the access log, answers that note, so a
//! refusal is logged and inspected like any other request — with the
//! refused certificate.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum_server::tls::TlsInfo;

use crate::hosts::Host;
use crate::oauth::Authority;
use crate::proxy::{Chain, Check, ForwardedCertError, ForwardedCerts};
use crate::tls::HandshakeFailure;

/// What one host's layer needs.
#[derive(Clone)]
pub struct Forwarding {
    pub host: Host,
    pub certs: Arc<ForwardedCerts>,
    /// Holds the sandbox CA's verifier, reloaded when the CRL changes.
    pub authority: Arc<Authority>,
}

/// A refusal decided by [`resolve`], answered by [`refuse`].
#[derive(Clone)]
struct Refusal(ForwardedCertError);

pub async fn resolve(State(forwarding): State<Forwarding>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let header = forwarding.certs.settings().header();
    let values: Vec<_> = request.headers().get_all(&header).iter().cloned().collect();
    let values: Vec<&[u8]> = values.iter().map(|v| v.as_bytes()).collect();
    let connection = request.extensions().get::<Arc<TlsInfo>>().cloned();
    let connection_has_cert = connection.as_ref().is_some_and(|t| !t.peer_certificates.is_empty());
    let check = match forwarding.host {
        Host::Mtls => Check::Required {
            verifier: forwarding.authority.ca_verifier(),
            now: forwarding.authority.now().unix_timestamp(),
        },
        _ => Check::Optional,
    };
    let outcome = forwarding.certs.resolve(peer, &values, connection_has_cert, check);
    let as_if_handshake = |chain: Vec<Vec<u8>>| {
        let mut info = connection.as_deref().cloned().unwrap_or_default();
        info.peer_certificates = chain;
        Arc::new(info)
    };
    match outcome {
        Ok(Chain::Connection) => {}
        Ok(Chain::Forwarded(chain)) => {
            request.extensions_mut().insert(as_if_handshake(chain));
        }
        Err(error) => {
            if let ForwardedCertError::Refused { chain, .. } = &error {
                // For the access log and the inspector: what was refused.
                request.extensions_mut().insert(as_if_handshake(chain.clone()));
            }
            request.extensions_mut().insert(Refusal(error));
        }
    }
    // Read once; nothing downstream should trust it again.
    request.headers_mut().remove(&header);
    next.run(request).await
}

/// The answer to a request whose forwarded certificate [`resolve`] refused.
pub fn refusal(request: &Request) -> Option<Response> {
    let Refusal(error) = request.extensions().get::<Refusal>()?;
    tracing::info!(target: "request", "refused: {error}");
    let (status, code) = match &error {
        ForwardedCertError::Untrusted { .. } => (StatusCode::FORBIDDEN, "UNTRUSTED_PROXY"),
        ForwardedCertError::Unreadable { .. } => (StatusCode::BAD_REQUEST, "INVALID_CLIENT_CERT_HEADER"),
        ForwardedCertError::NoneForwarded { .. } | ForwardedCertError::NoCertificate => {
            (StatusCode::UNAUTHORIZED, "CLIENT_CERTIFICATE_REQUIRED")
        }
        ForwardedCertError::Refused {
            failure: HandshakeFailure::Revoked { .. },
            ..
        } => (StatusCode::UNAUTHORIZED, "CERTIFICATE_REVOKED"),
        ForwardedCertError::Refused { .. } => (StatusCode::UNAUTHORIZED, "CERTIFICATE_REFUSED"),
    };
    Some(super::refusal(request.uri().path(), status, code, error.to_string()))
}

//! The connection acceptor that turns failed handshakes into one log line
//! and one report to a [`RefusalSink`] (the server connects the inspector).
//!
//! rustls' verifiers are shared by all connections and know nothing of the
//! connection they are judging. To connect a refused certificate with the
//! client's address, each handshake runs inside a task-local slot: the
//! verifier (running synchronously inside the handshake's poll) records its
//! classification there, and this acceptor, which knows the peer address,
//! logs the result when the handshake fails. The client still receives the
//! exact alert rustls chose.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum_server::accept::Accept;
use tokio::net::TcpStream;

use super::explain::HandshakeFailure;
use crate::hosts::Host;

/// The verifier's verdict and the certificate it judged.
type Slot = Arc<Mutex<Option<(HandshakeFailure, Vec<u8>)>>>;

tokio::task_local! {
    static FAILURE: Slot;
}

/// Records why the current connection's handshake is failing. A no-op
/// outside an [`ExplainingAcceptor`] (e.g. in unit tests of a verifier).
pub(super) fn record_failure(failure: HandshakeFailure, certificate: &[u8]) {
    let _ = FAILURE.try_with(|slot| {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some((failure, certificate.to_vec()));
    });
}

/// Where refused handshakes are reported, besides the log. TLS knows nothing
/// of what listens: the server hands each acceptor the sink (the request
/// inspector). Handshakes that never really started
/// ([`HandshakeFailure::is_noise`]) are not reported.
pub trait RefusalSink: Send + Sync {
    fn refused(&self, host: Host, client: Option<SocketAddr>, failure: HandshakeFailure, certificate: Option<Vec<u8>>);
}

/// Wraps a TLS acceptor (axum-server's `RustlsAcceptor`), logs every
/// failed handshake with its explanation and reports it to the sink.
#[derive(Clone)]
pub struct ExplainingAcceptor<A> {
    inner: A,
    host: Host,
    refusals: Arc<dyn RefusalSink>,
}

impl<A> ExplainingAcceptor<A> {
    pub fn new(inner: A, host: Host, refusals: Arc<dyn RefusalSink>) -> Self {
        Self { inner, host, refusals }
    }
}

impl<A, S> Accept<TcpStream, S> for ExplainingAcceptor<A>
where
    A: Accept<TcpStream, S>,
    A::Future: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let peer = stream.peer_addr().ok();
        let host = self.host;
        let refusals = self.refusals.clone();
        let slot: Slot = Arc::default();
        let handshake = FAILURE.scope(slot.clone(), self.inner.accept(stream, service));
        Box::pin(async move {
            let result = handshake.await;
            if let Err(err) = &result {
                let (seen, certificate) = slot.lock().unwrap_or_else(|p| p.into_inner()).take().unzip();
                let failure = HandshakeFailure::from_accept_error(err, seen);
                log_failure(host, peer, &failure);
                if !failure.is_noise() {
                    refusals.refused(host, peer, failure, certificate);
                }
            }
            result
        })
    }
}

fn log_failure(host: Host, peer: Option<SocketAddr>, failure: &HandshakeFailure) {
    let client = peer.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into());
    let subject = failure.subject().unwrap_or("-");
    if failure.is_noise() {
        tracing::debug!(target: "handshake", listener = %host, %client, "handshake not completed: {failure}");
    } else {
        tracing::warn!(target: "handshake", listener = %host, %client, subject, "handshake refused: {failure}");
    }
}

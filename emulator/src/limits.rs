//! Connection and request limits: what keeps a buggy or hostile client — a
//! slowloris holding connections open, a flood of connections, a header
//! that never ends — from taking the sandbox down for the rest of a CI run.
//!
//! Bodies are limited per endpoint (`api::body::MAX_BODY_BYTES`); the
//! gateway streams bodies and is not limited.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Open connections per listener; more are closed at once.
pub const MAX_CONNECTIONS: usize = 10_000;
/// A TLS handshake must finish within this.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request headers must arrive within this; also how long a kept-alive
/// connection may sit idle between requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request head (request line and headers), and most headers.
/// A request over either gets a 431 with a JSON body (`api::head`).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
pub const MAX_HEADERS: usize = 100;
/// Where hyper itself stops reading a head. Above the documented limits so
/// that a head over them reaches `api::head` and is refused with an
/// explanation; hyper's own refusal (a 431 with no body) is left for heads
/// over twice the limit.
pub const HYPER_HEAD_BYTES: usize = 2 * MAX_HEAD_BYTES;
pub const HYPER_HEADERS: usize = 2 * MAX_HEADERS;

/// Applies the connection-level limits to a listener's server.
pub fn configure(builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>) {
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(HYPER_HEAD_BYTES)
        .max_headers(HYPER_HEADERS);
    // h2 counts 32 bytes of overhead per field; its default (16 KiB) would
    // refuse heads the documented limit allows.
    builder
        .http2()
        .max_header_list_size(u32::try_from(HYPER_HEAD_BYTES).unwrap_or(u32::MAX));
}

/// An acceptor that admits at most `max` connections at a time.
#[derive(Clone)]
pub struct ConnectionLimit<A> {
    inner: A,
    permits: Arc<Semaphore>,
}

impl<A> ConnectionLimit<A> {
    pub fn new(inner: A, max: usize) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max)),
        }
    }
}

impl<A, S> Accept<TcpStream, S> for ConnectionLimit<A>
where
    A: Accept<TcpStream, S>,
    A::Future: Send + 'static,
    A::Stream: Send,
    A::Service: Send,
{
    type Stream = Limited<A::Stream>;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(Self::Stream, Self::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            tracing::warn!("connection limit ({MAX_CONNECTIONS}) reached: closing a new connection");
            return Box::pin(async { Err(io::Error::other("connection limit reached")) });
        };
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((
                Limited {
                    inner: stream,
                    _permit: permit,
                },
                service,
            ))
        })
    }
}

/// A connection holding its place under the limit until it closes.
pub struct Limited<S> {
    inner: S,
    _permit: OwnedSemaphorePermit,
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum_server::accept::DefaultAcceptor;

    #[tokio::test]
    async fn connections_over_the_limit_are_refused_until_one_closes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let limit = ConnectionLimit::new(DefaultAcceptor, 2);
        let mut open = Vec::new();
        let accept = || async {
            let _client = TcpStream::connect(addr).await.unwrap();
            let (server_side, _) = listener.accept().await.unwrap();
            limit.accept(server_side, ()).await
        };
        open.push(accept().await.unwrap());
        open.push(accept().await.unwrap());
        assert!(accept().await.is_err(), "a third connection is over the limit");
        open.pop();
        assert!(accept().await.is_ok(), "closing one makes room");
    }
}

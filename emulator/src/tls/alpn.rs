//! Telling hyper-util what ALPN already decided, to save 8 KiB a connection.
//!
//! axum-server serves every connection with hyper-util's "auto" builder,
//! which cannot be told the protocol per connection: it reads the first
//! bytes to look for the HTTP/2 preface, then hands them to hyper as a read
//! of their own. hyper's 8 KiB read buffer then holds a partial request
//! head, the next read needs 8 KiB more, and the buffer doubles to 16 KiB
//! for the life of the connection (at 1,000 open connections, ~8 MB).
//!
//! Over TLS, HTTP/2 is only ever spoken after ALPN chose `h2` (RFC 9113
//! §3.2). So when ALPN chose anything else, the sniffer's first read is
//! answered with no bytes: hyper-util takes that as "no preface", picks
//! HTTP/1 and hands hyper nothing, and hyper's first read goes straight to
//! the connection with its 8 KiB buffer. `alpn_tests.rs` serves real
//! requests through hyper-util this way, so a hyper-util that stopped
//! reading it so would fail there, not in production.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum_server::accept::Accept;
use futures_util::TryFutureExt;
use futures_util::future::MapOk;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;

/// Wraps the TLS acceptor; its streams answer the protocol sniff.
#[derive(Clone)]
pub struct AlpnAcceptor<A> {
    inner: A,
}

impl<A> AlpnAcceptor<A> {
    pub fn new(inner: A) -> Self {
        Self { inner }
    }
}

type Accepted<IO, Svc> = (TlsStream<IO>, Svc);
type Wrapped<IO, Svc> = (AlpnStream<TlsStream<IO>>, Svc);

impl<A, I, S, IO> Accept<I, S> for AlpnAcceptor<A>
where
    A: Accept<I, S, Stream = TlsStream<IO>>,
{
    type Stream = AlpnStream<TlsStream<IO>>;
    type Service = A::Service;
    type Future = MapOk<A::Future, fn(Accepted<IO, A::Service>) -> Wrapped<IO, A::Service>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        self.inner.accept(stream, service).map_ok(|(tls, service)| {
            let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
            (AlpnStream::new(tls, !http2), service)
        })
    }
}

/// A connection whose first read may be answered with no bytes (see the
/// module documentation); every other read and write goes through.
pub struct AlpnStream<S> {
    inner: S,
    answer_sniff: bool,
}

impl<S> AlpnStream<S> {
    /// `not_http2`: ALPN chose something other than `h2` (or nothing).
    pub fn new(inner: S, not_http2: bool) -> Self {
        Self {
            inner,
            answer_sniff: not_http2,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AlpnStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if std::mem::take(&mut self.answer_sniff) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AlpnStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
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

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "alpn_tests.rs"]
mod tests;

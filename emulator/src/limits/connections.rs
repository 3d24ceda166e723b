//! Open connections per host: how many, and how long one may say nothing.
//!
//! hyper's own timers do not cover a connection that finishes its handshake
//! and then never sends a request, nor an idle HTTP/2 connection, so 10,000
//! such connections used to hold a listener at its limit for good. Here
//! every connection carries an idle timer (reset by each byte read or
//! written, paused while one of its requests is being handled), and when the
//! limit is reached the connection silent for longest is closed to make
//! room: a new client is refused only when every open connection is busy.
//!
//! The acceptor knows connections, the router knows requests; they meet on
//! the peer address (`ConnectInfo`), which is unique among one host's open
//! connections.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum_server::accept::Accept;
use futures_util::task::AtomicWaker;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// The open connections of one host (its IPv4 and IPv6 listeners).
#[derive(Clone)]
pub struct Connections(Arc<Shared>);

struct Shared {
    max: usize,
    idle_timeout: Duration,
    /// `Conn::last_active` counts milliseconds from here.
    epoch: Instant,
    open: Mutex<HashMap<SocketAddr, Arc<Conn>>>,
}

/// One open connection as the limit sees it.
struct Conn {
    last_active_ms: AtomicU64,
    in_flight: AtomicUsize,
    evicted: AtomicBool,
    /// Woken on eviction, so a connection nobody is reading from closes too.
    waker: AtomicWaker,
}

impl Conn {
    fn is_evicted(&self, cx: &Context<'_>) -> bool {
        self.waker.register(cx.waker());
        self.evicted.load(Ordering::Acquire)
    }
}

impl Connections {
    /// At most `max` open connections; one with no request in flight that
    /// sends and receives nothing for `idle_timeout` is closed.
    pub fn new(max: usize, idle_timeout: Duration) -> Self {
        Self(Arc::new(Shared {
            max,
            idle_timeout,
            epoch: Instant::now(),
            open: Mutex::default(),
        }))
    }

    fn open(&self) -> MutexGuard<'_, HashMap<SocketAddr, Arc<Conn>>> {
        self.0.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Admits a connection from `peer`, closing the longest-silent idle one
    /// if the limit is reached; `None` when every open connection is busy.
    fn admit(&self, peer: SocketAddr) -> Option<Arc<Conn>> {
        let mut open = self.open();
        if open.len() >= self.0.max {
            let victim = open
                .iter()
                .filter(|(_, c)| c.in_flight.load(Ordering::Acquire) == 0)
                .min_by_key(|(_, c)| c.last_active_ms.load(Ordering::Relaxed))
                .map(|(addr, _)| *addr);
            let Some(victim) = victim else {
                tracing::warn!(
                    "connection limit ({}) reached and every connection is busy: closing the new connection from {peer}",
                    self.0.max
                );
                return None;
            };
            if let Some(conn) = open.remove(&victim) {
                conn.evicted.store(true, Ordering::Release);
                conn.waker.wake();
            }
            tracing::warn!(
                "connection limit ({}) reached: closed the longest-idle connection ({victim}) to admit {peer}",
                self.0.max
            );
        }
        let conn = Arc::new(Conn {
            last_active_ms: AtomicU64::new(self.now_ms()),
            in_flight: AtomicUsize::new(0),
            evicted: AtomicBool::new(false),
            waker: AtomicWaker::new(),
        });
        open.insert(peer, conn.clone());
        Some(conn)
    }

    /// Marks `peer`'s connection busy until the guard drops (what
    /// [`track_requests`] does, for a layer that does more).
    pub fn busy(&self, peer: SocketAddr) -> Option<Busy> {
        let conn = self.open().get(&peer)?.clone();
        conn.in_flight.fetch_add(1, Ordering::AcqRel);
        Some(Busy {
            connections: self.clone(),
            conn,
        })
    }
}

/// A request being handled: its connection is not idle meanwhile, however
/// long the handler takes (a `delay_ms` fault, a slow upstream).
pub struct Busy {
    connections: Connections,
    conn: Arc<Conn>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn
            .last_active_ms
            .store(self.connections.now_ms(), Ordering::Relaxed);
        self.conn.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Router middleware: pauses the idle timer of the request's connection
/// while the request is handled.
pub async fn track_requests(State(connections): State<Connections>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    let _busy = peer.and_then(|peer| connections.busy(peer));
    next.run(request).await
}

/// Removes a connection from the open set when it closes.
struct Registration {
    connections: Connections,
    peer: SocketAddr,
    conn: Arc<Conn>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.connections.open();
        if open.get(&self.peer).is_some_and(|c| Arc::ptr_eq(c, &self.conn)) {
            open.remove(&self.peer);
        }
    }
}

/// An acceptor that applies [`Connections`] around another (the TLS one).
#[derive(Clone)]
pub struct ConnectionLimit<A> {
    inner: A,
    connections: Connections,
}

impl<A> ConnectionLimit<A> {
    pub fn new(inner: A, connections: Connections) -> Self {
        Self { inner, connections }
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
        let admitted = stream
            .peer_addr()
            .ok()
            .and_then(|peer| Some((peer, self.connections.admit(peer)?)));
        let Some((peer, conn)) = admitted else {
            return Box::pin(async { Err(io::Error::other("connection limit reached")) });
        };
        let registration = Registration {
            connections: self.connections.clone(),
            peer,
            conn,
        };
        let accepted = self.inner.accept(stream, service);
        Box::pin(async move {
            // A connection still in its handshake can be evicted too.
            let evicted = std::future::poll_fn(|cx| {
                if registration.conn.is_evicted(cx) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            });
            let (stream, service) = tokio::select! {
                accepted = accepted => accepted?,
                () = evicted => return Err(evicted_error()),
            };
            let idle = Box::pin(tokio::time::sleep(registration.connections.0.idle_timeout));
            Ok((
                Limited {
                    inner: stream,
                    registration,
                    idle,
                },
                service,
            ))
        })
    }
}

fn evicted_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "closed to make room for a new connection (connection limit reached)",
    )
}

/// A connection holding its place under the limit until it closes.
pub struct Limited<S> {
    inner: S,
    registration: Registration,
    idle: Pin<Box<Sleep>>,
}

impl<S> Limited<S> {
    fn touch(&self) {
        let now = self.registration.connections.now_ms();
        self.registration.conn.last_active_ms.store(now, Ordering::Relaxed);
    }

    /// Ready with an error once the connection has been idle too long.
    /// Polled whenever a read would block, which hyper does on every
    /// connection it is not writing to.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let connections = &self.registration.connections.0;
        loop {
            let last = self.registration.conn.last_active_ms.load(Ordering::Relaxed);
            let deadline = connections.epoch + Duration::from_millis(last) + connections.idle_timeout;
            if self.idle.deadline() != deadline {
                self.idle.as_mut().reset(deadline);
            }
            if self.idle.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.registration.conn.in_flight.load(Ordering::Acquire) == 0 {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                )));
            }
            self.touch();
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Limited<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if self.registration.conn.is_evicted(cx) {
            return Poll::Ready(Err(evicted_error()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(result)
            }
            Poll::Pending => self.poll_idle(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Limited<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        written
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
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
#[path = "connections_tests.rs"]
mod tests;

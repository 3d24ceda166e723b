//! Keep-alive HTTP/1.1 connections to one upstream, reused across requests.
//!
//! hyper-util's pooled client did this for ~30% of a forwarded request's
//! instructions (callgrind, `bench/callgrind_gateway.sh`, issue #15): a
//! pool keyed by scheme and authority behind a lock, a checkout future
//! racing a connect future, a Host header formatted from the URI, and a
//! task spawned per response to put the connection back once it is
//! ready. The gateway knows each route's upstream when it starts, so it
//! keeps one [`Upstream`] per origin: a stack of idle connections under a
//! mutex held for a push or a pop, and a Host value made once.
//!
//! A connection is lent for one exchange. It comes back when the response
//! body has been read to its end ([`Returning`]); a body dropped before
//! then (the client went away, the stall cut, [`super::stall`]) takes the
//! connection with it, so a half-read response is never reused. At most
//! [`MAX_IDLE`] idle connections are kept; the number in use is bounded
//! by the requests in flight. An idle connection the upstream closed is
//! seen closed when next taken and dropped; a request that a reused
//! connection could not send (it closed as the request arrived) is tried
//! on another, as hyper-util did. Idle connections are not timed out here:
//! upstream servers close their own idle connections (nginx after 75 s,
//! Node after 5 s).

use std::error::Error;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, header};
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Idle connections kept per upstream; more are closed when they finish.
pub const MAX_IDLE: usize = 64;

/// Why a request did not reach the upstream or got no response head; the
/// innermost source names the cause ("Connection refused").
pub type UpstreamError = Box<dyn Error + Send + Sync>;

/// The connections to one upstream origin.
pub struct Upstream {
    /// `host:port` to connect to (port 80 where the route names none).
    address: String,
    /// The Host header every forwarded request carries.
    host: HeaderValue,
    idle: Mutex<Vec<SendRequest<Body>>>,
}

impl Upstream {
    /// The upstream at `authority` (`host[:port]` of a validated route).
    pub fn new(authority: &str) -> Self {
        Self {
            address: address(authority),
            host: HeaderValue::from_str(authority).expect("a URI authority is a valid header value"),
            idle: Mutex::default(),
        }
    }

    /// Sends `req` (origin-form URI) with this upstream's Host and returns
    /// the response head; its body gives the connection back when read.
    pub async fn send(self: &Arc<Self>, mut req: Request<Body>) -> Result<Response<Returning>, UpstreamError> {
        req.headers_mut().insert(header::HOST, self.host.clone());
        while let Some(mut conn) = self.take_idle() {
            match conn.try_send_request(req).await {
                Ok(response) => return Ok(self.lend(conn, response)),
                Err(mut e) => match e.take_message() {
                    // Closed before the request was written: try another.
                    Some(unsent) => req = unsent,
                    None => return Err(e.into_error().into()),
                },
            }
        }
        let mut conn = self.connect().await?;
        let response = conn.send_request(req).await?;
        Ok(self.lend(conn, response))
    }

    /// The most recently used idle connection that can take a request.
    fn take_idle(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(conn) = idle.pop() {
            if conn.is_ready() {
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self) -> Result<SendRequest<Body>, UpstreamError> {
        let tcp = TcpStream::connect(self.address.as_str()).await?;
        tcp.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await?;
        let address = self.address.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(upstream = %address, "gateway: upstream connection: {e}");
            }
        });
        Ok(sender)
    }

    fn lend(self: &Arc<Self>, conn: SendRequest<Body>, response: Response<Incoming>) -> Response<Returning> {
        let (parts, inner) = response.into_parts();
        let mut body = Returning {
            inner,
            lent: Some((conn, self.clone())),
        };
        if body.inner.is_end_stream() {
            body.give_back();
        }
        Response::from_parts(parts, body)
    }

    /// An idle connection back on the stack: at once when it can take the
    /// next request, else once it can (it is still finishing the exchange).
    fn put(self: Arc<Self>, mut conn: SendRequest<Body>) {
        if conn.is_ready() {
            self.push(conn);
        } else if !conn.is_closed() {
            tokio::spawn(async move {
                if conn.ready().await.is_ok() {
                    self.push(conn);
                }
            });
        }
    }

    fn push(&self, conn: SendRequest<Body>) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }

    #[cfg(test)]
    fn idle(&self) -> usize {
        self.idle.lock().unwrap().len()
    }
}

/// Where to connect for `authority`: as written, or on port 80, HTTP's
/// default, when it names none (`http://api.local`, as hyper-util did).
fn address(authority: &str) -> String {
    match authority.parse::<axum::http::uri::Authority>() {
        Ok(a) if a.port().is_none() => format!("{authority}:80"),
        _ => authority.to_owned(),
    }
}

/// A response body from the upstream that gives its connection back when
/// read to its end, and closes it when dropped before.
pub struct Returning {
    inner: Incoming,
    lent: Option<(SendRequest<Body>, Arc<Upstream>)>,
}

impl Returning {
    fn give_back(&mut self) {
        if let Some((conn, upstream)) = self.lent.take() {
            upstream.put(conn);
        }
    }
}

impl hyper::body::Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let frame = std::task::ready!(Pin::new(&mut this.inner).poll_frame(cx));
        // hyper's server stops polling once `is_end_stream`: the last frame,
        // not a later `None`, is where the exchange ends.
        let ended = match &frame {
            None => true,
            Some(Ok(_)) => this.inner.is_end_stream(),
            Some(Err(_)) => false,
        };
        if ended {
            this.give_back();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A raw HTTP/1.1 upstream answering each GET with `response` after
    /// `delay`; counts the connections it accepted and keeps the heads.
    struct Raw {
        authority: String,
        accepted: Arc<AtomicUsize>,
        heads: Arc<Mutex<Vec<String>>>,
    }

    async fn raw(response: &'static str, delay: Duration) -> Raw {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (accepted.clone(), heads.clone());
        tokio::spawn(async move {
            loop {
                let (mut tcp, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head: Vec<u8> = buf.drain(..end + 4).collect();
                            seen.lock().unwrap().push(String::from_utf8(head).unwrap());
                            tokio::time::sleep(delay).await;
                            if tcp.write_all(response.as_bytes()).await.is_err() || response.contains("close") {
                                return;
                            }
                        }
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        Raw {
            authority,
            accepted,
            heads,
        }
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    fn get(path: &str) -> Request<Body> {
        Request::get(path).body(Body::empty()).unwrap()
    }

    async fn read(response: Response<Returning>) -> Bytes {
        axum::body::to_bytes(Body::new(response.into_body()), 1024)
            .await
            .unwrap()
    }

    /// Waits for the connections given back by a spawned task.
    async fn idle_becomes(upstream: &Upstream, n: usize) {
        for _ in 0..100 {
            if upstream.idle() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(upstream.idle(), n);
    }

    #[tokio::test]
    async fn read_responses_give_their_connection_back_and_unread_ones_close_it() {
        let server = raw(OK, Duration::ZERO).await;
        let upstream = Arc::new(Upstream::new(&server.authority));
        for _ in 0..3 {
            assert_eq!(read(upstream.send(get("/a?b=c")).await.unwrap()).await, "ok");
        }
        assert_eq!(server.accepted.load(Ordering::SeqCst), 1, "one keep-alive connection");
        idle_becomes(&upstream, 1).await;
        let head = server.heads.lock().unwrap()[0].clone();
        assert!(head.starts_with("GET /a?b=c HTTP/1.1\r\n"), "{head}");
        assert!(head.contains(&format!("host: {}\r\n", server.authority)), "{head}");

        // A response dropped before its body was read takes its connection.
        drop(upstream.send(get("/")).await.unwrap());
        assert_eq!(upstream.idle(), 0);
        assert_eq!(read(upstream.send(get("/")).await.unwrap()).await, "ok");
        assert_eq!(server.accepted.load(Ordering::SeqCst), 2, "a fresh connection");
    }

    #[tokio::test]
    async fn an_upstream_closing_its_connections_gets_a_new_one_per_request() {
        let server = raw(
            "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok",
            Duration::ZERO,
        )
        .await;
        let upstream = Arc::new(Upstream::new(&server.authority));
        for _ in 0..3 {
            assert_eq!(read(upstream.send(get("/")).await.unwrap()).await, "ok");
        }
        assert_eq!(server.accepted.load(Ordering::SeqCst), 3);
        idle_becomes(&upstream, 0).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_each_get_a_connection_and_later_ones_reuse_them() {
        let server = raw(OK, Duration::from_millis(100)).await;
        let upstream = Arc::new(Upstream::new(&server.authority));
        for round in 1..=2 {
            let requests = (0..4).map(|_| {
                let upstream = upstream.clone();
                tokio::spawn(async move { read(upstream.send(get("/")).await.unwrap()).await })
            });
            for done in futures_util::future::join_all(requests).await {
                assert_eq!(done.unwrap(), "ok");
            }
            assert_eq!(server.accepted.load(Ordering::SeqCst), 4, "round {round}");
            idle_becomes(&upstream, 4).await;
        }
    }

    #[test]
    fn an_authority_without_a_port_is_reached_on_port_80() {
        assert_eq!(address("api.local"), "api.local:80");
        assert_eq!(address("[::1]"), "[::1]:80");
        assert_eq!(address("127.0.0.1:3000"), "127.0.0.1:3000");
        let upstream = Upstream::new("api.local");
        assert_eq!(upstream.host, "api.local", "Host names the authority as written");
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_cause() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let upstream = Arc::new(Upstream::new(&closed.to_string()));
        let Err(err) = upstream.send(get("/")).await else {
            panic!("a closed port answered");
        };
        assert!(err.to_string().contains("refused"), "{err}");
    }
}

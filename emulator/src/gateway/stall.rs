//! An upstream that goes silent in the middle of a response body.
//!
//! The route's `timeout_ms` bounds the wait for the response head. Once the
//! head has gone to the client its status can no longer change, so a body
//! that then stops arriving cannot become a 504: HTTP's answer is to end the
//! response early. [`IdleTimeout`] cuts a body that sends nothing for the
//! same `timeout_ms`: the client's response ends before its
//! `Content-Length` (or without the last chunk), which every HTTP client
//! reports as an incomplete transfer (curl: "transfer closed with N bytes
//! remaining"), instead of waiting forever; the sandbox log names the
//! upstream; the stalled upstream connection is dropped, never pooled.
//!
//! What it must not do: bound the whole transfer. A slow stream that keeps
//! sending (server-sent events, a large download) is never cut.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// Why a forwarded body was cut (logged, and the error hyper sees). Made
/// once per route; a response holds a reference to it.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the upstream {upstream} sent nothing for {} ms in the middle of its response body \
     (timeout_ms of route {prefix}); the response to the client was cut short",
    timeout.as_millis()
)]
pub struct Stalled {
    pub upstream: String,
    pub prefix: String,
    pub timeout: Duration,
}

/// A response body that fails once `timeout` passes without a frame.
///
/// The silence is timed from the first poll that finds nothing to send:
/// a body whose frames are there whenever hyper asks (a small response
/// read with its head) never touches the timer, which cost every forwarded
/// response a boxed `Sleep` and a timer-wheel entry (callgrind, issue #15).
pub struct IdleTimeout<B> {
    inner: B,
    /// Made at the first wait, reset at each later one.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Whether `deadline` times the current wait (no frame since it was set).
    waiting: bool,
    /// `None` once the body has been cut.
    why: Option<Arc<Stalled>>,
}

impl<B> IdleTimeout<B> {
    pub fn new(inner: B, why: Arc<Stalled>) -> Self {
        Self {
            inner,
            deadline: None,
            waiting: false,
            why: Some(why),
        }
    }
}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let Some(why) = &this.why else {
            return Poll::Ready(None);
        };
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.waiting = false;
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if !this.waiting {
            this.waiting = true;
            let at = Instant::now() + why.timeout;
            match &mut this.deadline {
                Some(deadline) => deadline.as_mut().reset(at),
                None => this.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
            }
        }
        let deadline = this.deadline.as_mut().expect("set above");
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let why = Stalled::clone(&this.why.take().expect("checked above"));
                tracing::warn!("gateway: {why}");
                Poll::Ready(Some(Err(why.into())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.why.is_none() || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn stalled(ms: u64) -> Arc<Stalled> {
        Arc::new(Stalled {
            upstream: "http://127.0.0.1:9".into(),
            prefix: "/api/".into(),
            timeout: Duration::from_millis(ms),
        })
    }

    async fn next_frame<B: Body + Unpin>(body: &mut B) -> Option<Result<Frame<B::Data>, B::Error>> {
        std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await
    }

    #[tokio::test]
    async fn a_silent_body_is_cut_after_the_timeout() {
        // One chunk, then nothing ever again.
        let chunk = futures_util::stream::once(async { Ok::<_, BoxError>(Bytes::from_static(b"{\"part")) });
        let inner = axum::body::Body::from_stream(chunk.chain(futures_util::stream::pending()));
        let mut body = IdleTimeout::new(inner, stalled(300));
        let first = next_frame(&mut body).await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"{\"part"));
        let started = Instant::now();
        let err = next_frame(&mut body).await.unwrap().unwrap_err().to_string();
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(300) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        assert!(err.contains("http://127.0.0.1:9") && err.contains("/api/"), "{err}");
        assert!(body.is_end_stream());
        assert!(next_frame(&mut body).await.is_none(), "nothing after the cut");
    }

    #[tokio::test]
    async fn a_slow_body_that_keeps_sending_is_not_cut() {
        let ticks = futures_util::stream::iter(0..5u8).then(|i| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, BoxError>(Bytes::from(vec![b'a' + i]))
        });
        let body = IdleTimeout::new(axum::body::Body::from_stream(ticks), stalled(300));
        let all = axum::body::to_bytes(axum::body::Body::new(body), 1024).await.unwrap();
        assert_eq!(all, Bytes::from_static(b"abcde"), "500 ms in all, never 300 ms silent");
    }

    #[tokio::test]
    async fn a_body_ready_whenever_polled_never_starts_the_timer() {
        let mut body = IdleTimeout::new(axum::body::Body::from("{}"), stalled(300));
        let frame = next_frame(&mut body).await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), Bytes::from_static(b"{}"));
        assert!(body.deadline.is_none());
    }
}

//! The application's webhook receiver in scenarios: a wiremock server that
//! answers every POST with 200 and keeps what it got, so `webhook` steps
//! can assert the events the sandbox sent, in the order it sent them.
//!
//! [`crate::Sandbox::for_scenario`] starts one (and sets the sandbox's
//! webhook URL to it) when a step of the scenario waits for a webhook.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The path events are POSTed to.
pub const PATH: &str = "/hooks";

/// How long a `webhook` step waits for its event.
pub const WAIT: Duration = Duration::from_secs(15);

/// Starts a receiver on a free loopback port.
pub async fn start() -> Arc<MockServer> {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Arc::new(server)
}

/// The events a receiver got, read in order: each `next` is the event after
/// the last one read.
pub struct Inbox {
    server: Arc<MockServer>,
    read: usize,
}

impl Inbox {
    pub fn new(server: Arc<MockServer>) -> Self {
        Self { server, read: 0 }
    }

    /// The next event's body (the envelope), waiting up to [`WAIT`]; `None`
    /// when none came.
    pub async fn next(&mut self) -> Option<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let received = self.server.received_requests().await.unwrap_or_default();
            if let Some(request) = received.get(self.read) {
                self.read += 1;
                return Some(serde_json::from_slice(&request.body).unwrap_or(Value::Null));
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

//! The delivery worker: one per application, sending that application's
//! events one at a time (so the receiver sees them in order), each attempt
//! reported to the inspector, failed attempts retried by the
//! [`RetryPolicy`](super::retry::RetryPolicy) until delivered or out of
//! attempts. It stops with the sandbox: no attempt starts and no retry waits
//! once [`Webhooks::shutdown`] is called; and with its application, when
//! [`Webhooks::forget`] closes its lane (an attempt in flight then finds
//! the URL gone and is abandoned).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::header;
use tokio::sync::watch;

use super::{Lane, Pending, Webhooks};
use crate::inspector::{DeliveryResult, DeliverySeen};

/// Headers of every delivery besides `Content-Type` and `User-Agent`.
pub const DELIVERY_HEADER: &str = "x-mtls-sandbox-delivery";
pub const EVENT_HEADER: &str = "x-mtls-sandbox-event";
pub const ATTEMPT_HEADER: &str = "x-mtls-sandbox-attempt";

/// Most response body read from a receiver (then the connection is dropped).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// The sandbox's own CA (`ca_pem`) as extra roots for [`build_client`]:
/// parsed at start, so a bad bundle is an error there.
pub fn sandbox_roots(ca_pem: &[u8]) -> Result<Vec<reqwest::Certificate>, reqwest::Error> {
    if ca_pem.is_empty() {
        return Ok(Vec::new());
    }
    reqwest::Certificate::from_pem_bundle(ca_pem)
}

/// The client for receivers: the system's roots plus the sandbox's own CA
/// (`ca`), no redirects followed (a 3xx is a failed attempt: the sandbox
/// sends only to the URL it was given), no proxy from the environment.
/// Built at the first delivery (`Webhooks::http`), not at start: loading
/// the system's roots is a quarter of a warm start's instructions, and most
/// sandboxes send no webhook.
pub fn build_client(ca: Vec<reqwest::Certificate>, timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .tls_certs_merge(ca)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("mtls-sandbox/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
        .build()
}

/// How one attempt ended.
enum Answer {
    Status(u16),
    Error(String),
}

impl Webhooks {
    /// The receivers' client, built at the first delivery; a build failure
    /// is every attempt's answer.
    fn http(&self) -> Result<&reqwest::Client, &String> {
        self.http
            .get_or_init(|| {
                build_client(self.roots.clone(), self.settings.timeout)
                    .map_err(|e| format!("cannot build the HTTP client: {e}"))
            })
            .as_ref()
    }

    /// The worker of `application`'s lane.
    pub(super) async fn run_lane(self: Arc<Self>, application: String, lane: Arc<Lane>) {
        let mut stop = self.stop.subscribe();
        loop {
            if *stop.borrow() {
                break;
            }
            if lane.closed.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let next = lane.outbox.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match next {
                Some(pending) => self.deliver(&application, pending, &mut stop).await,
                None => tokio::select! {
                    _ = lane.wake.notified() => {}
                    _ = stop.wait_for(|stopped| *stopped) => {}
                },
            }
        }
        let dropped = lane.outbox.lock().unwrap_or_else(|p| p.into_inner()).clear();
        if dropped > 0 {
            tracing::warn!(target: "webhooks", %application, "the sandbox stopped: {dropped} waiting webhook event(s) not sent");
        }
    }

    /// Attempts `pending` until delivered, out of attempts, no longer
    /// wanted (its URL changed) or the sandbox stops.
    async fn deliver(&self, application: &str, pending: Pending, stop: &mut watch::Receiver<bool>) {
        let policy = self.settings.retry;
        let (event_type, event_id) = (&pending.envelope.event_type, &pending.envelope.event_id);
        for attempt in 1..=policy.max_attempts {
            let mut seen = DeliverySeen {
                application: application.to_owned(),
                event_type: event_type.clone(),
                event_id: event_id.clone(),
                delivery_id: delivery_id(event_id, attempt),
                url: pending.url.redacted(),
                attempt,
                max_attempts: policy.max_attempts,
                status: None,
                error: None,
                elapsed: Duration::ZERO,
                result: DeliveryResult::Abandoned,
            };
            if self.destination_for(application).map(|d| d.url).as_ref() != Some(&pending.url) {
                seen.error = Some("not sent: the webhook URL was changed or cleared since the event".into());
                self.inspector.record_delivery(seen);
                return;
            }
            let started = Instant::now();
            let answer = tokio::select! {
                answer = self.attempt(&pending, &seen.delivery_id, attempt) => answer,
                _ = stop.wait_for(|stopped| *stopped) => {
                    seen.elapsed = started.elapsed();
                    seen.error = Some("cut short: the sandbox stopped".into());
                    self.inspector.record_delivery(seen);
                    return;
                }
            };
            seen.elapsed = started.elapsed();
            match answer {
                Answer::Status(status) if (200..300).contains(&status) => {
                    seen.status = Some(status);
                    seen.result = DeliveryResult::Delivered;
                    self.inspector.record_delivery(seen);
                    tracing::info!(target: "webhooks", %event_type, %event_id, attempt, status, "webhook delivered to {}", pending.url);
                    return;
                }
                Answer::Status(status) => {
                    seen.status = Some(status);
                    seen.error = Some(match status {
                        300..400 => format!(
                            "the receiver answered {status}, a redirect: the sandbox does not follow redirects; set the final URL"
                        ),
                        _ => format!("the receiver answered {status}; only 2xx counts as delivered"),
                    });
                }
                Answer::Error(why) => seen.error = Some(why),
            }
            let delay = policy.delay_after(attempt);
            seen.result = match delay {
                Some(wait) => DeliveryResult::Retrying {
                    in_ms: wait.as_millis() as u64,
                },
                None => DeliveryResult::Failed,
            };
            let why = seen.error.clone().unwrap_or_default();
            self.inspector.record_delivery(seen);
            let Some(wait) = delay else {
                tracing::warn!(target: "webhooks", %event_type, %event_id, attempts = attempt, "webhook to {} failed: {why}", pending.url);
                return;
            };
            tracing::debug!(target: "webhooks", %event_type, %event_id, attempt, "webhook attempt failed: {why}; retrying in {wait:?}");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }

    /// One `POST` of the event's body.
    async fn attempt(&self, pending: &Pending, delivery_id: &str, attempt: u32) -> Answer {
        let http = match self.http() {
            Ok(http) => http,
            Err(why) => return Answer::Error(why.clone()),
        };
        let request = http
            .post(pending.url.url().clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_HEADER, delivery_id)
            .header(EVENT_HEADER, &pending.envelope.event_type)
            .header(ATTEMPT_HEADER, attempt.to_string())
            .body(pending.body.clone());
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Answer::Error(describe(&e, self.settings.timeout)),
        };
        let status = response.status().as_u16();
        // Read (a bounded part of) the answer so the connection is reused.
        let mut read = 0;
        while let Ok(Some(chunk)) = response.chunk().await {
            read += chunk.len();
            if read > MAX_RESPONSE_BYTES {
                break;
            }
        }
        Answer::Status(status)
    }
}

/// A delivery id per attempt, derived from the event id (a UUID, so the
/// same run under `--deterministic` repeats it, and two attempts differ).
fn delivery_id(event_id: &str, attempt: u32) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("{event_id}/{attempt}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// Why a request failed, for a person: a refused connection, a timeout, a
/// certificate the sandbox does not trust.
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} ms (timeout_ms)", timeout.as_millis());
    }
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    if e.is_connect() {
        format!("cannot connect: {inner}")
    } else {
        format!("request failed: {inner}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ids_are_uuids_distinct_per_attempt_and_repeatable() {
        let (a, b) = (delivery_id("e1", 1), delivery_id("e1", 2));
        assert_ne!(a, b);
        assert_eq!(a, delivery_id("e1", 1));
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }

    #[test]
    fn the_client_builds_with_and_without_the_sandbox_ca() {
        let client = |pem: &[u8]| build_client(sandbox_roots(pem).unwrap(), Duration::from_secs(1));
        assert!(client(b"").is_ok());
        let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap();
        assert!(client(ca.cert.pem().as_bytes()).is_ok());
    }
}

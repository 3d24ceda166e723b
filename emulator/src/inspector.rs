//! The request inspector: the last N requests and refused handshakes across
//! all listeners, and the sandbox's own outgoing webhook deliveries, for
//! `/portal/inspect`. It answers the question a hosted sandbox never does:
//! what did the server see, and why did it say no? (And for webhooks: what
//! did it send, and what did the receiver answer?)
//!
//! Recording runs on every request, so it keeps raw pieces (cheap clones of
//! what the request already holds) under one short lock, and does all the
//! parsing — certificates, token claims, explanations — only when someone
//! looks ([`Inspector::view`]). That includes which application a request
//! came from (by its app token, its OAuth client, or its certificate's
//! subject): a request pays for a header clone, never a lookup.
//!
//! What responses attach for it to read lives in `web::notes`, a leaf the
//! error types and handlers import without importing the inspector.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::http::{HeaderValue, Method, StatusCode};
use axum_server::tls::TlsInfo;
use serde::Serialize;
use serde_json::Value;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::hosts::Host;
use crate::oauth::token::x5t_s256;
use crate::tls::{HandshakeFailure, RefusalSink};
use crate::web::authorization;
use crate::web::{Failure, TokenNote};

/// How many events the inspector keeps unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 200;

/// How a request presented itself, as far as headers tell.
#[derive(Debug, Clone)]
pub enum Credentials {
    None,
    /// The `lean-app-token` header: which application, decided when viewed.
    AppToken(HeaderValue),
    /// The whole `Authorization` header (Bearer or Basic).
    Authorization(HeaderValue),
}

/// One request, as recorded.
#[derive(Debug, Clone)]
pub struct RequestSeen {
    pub method: Method,
    pub path: String,
    pub status: StatusCode,
    pub elapsed: Duration,
    pub tls: Option<Arc<TlsInfo>>,
    pub credentials: Credentials,
    pub note: Option<TokenNote>,
    pub failure: Option<Failure>,
}

/// One attempt at delivering a webhook event, as the delivery worker
/// (`webhooks`) reports it. Plain data: the inspector knows nothing of how
/// deliveries are made.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySeen {
    /// The application whose URL it went to: whose inspector shows it.
    pub application: String,
    pub event_type: String,
    pub event_id: String,
    /// The `X-Mtls-Sandbox-Delivery` header of this attempt.
    pub delivery_id: String,
    /// The receiver's URL without its query string (which may carry a secret).
    pub url: String,
    pub attempt: u32,
    pub max_attempts: u32,
    /// The receiver's status code, when it answered.
    pub status: Option<u16>,
    /// Why the attempt did not deliver, in plain words.
    pub error: Option<String>,
    pub elapsed: Duration,
    pub result: DeliveryResult,
}

/// What an attempt means for its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryResult {
    Delivered,
    /// Failed; another attempt follows after this delay.
    Retrying {
        in_ms: u64,
    },
    /// Failed, and it was the last attempt.
    Failed,
    /// Not attempted (or cut short): the sandbox stopped, or the URL changed.
    Abandoned,
}

#[derive(Debug, Clone)]
pub enum Seen {
    Request(Box<RequestSeen>),
    /// A refused handshake, with the client certificate it was about.
    Handshake {
        failure: HandshakeFailure,
        certificate: Option<Vec<u8>>,
    },
    /// An outgoing webhook delivery attempt.
    Delivery(Box<DeliverySeen>),
}

#[derive(Debug, Clone)]
pub struct Event {
    pub seq: u64,
    pub at: SystemTime,
    /// The listener a request or handshake came in on; none for deliveries,
    /// which go out.
    pub host: Option<Host>,
    pub client: Option<SocketAddr>,
    pub seen: Seen,
}

struct Ring {
    events: VecDeque<Event>,
    next_seq: u64,
}

/// A bounded, in-memory log of recent events. Nothing is written to disk:
/// it is a debugging aid for the running sandbox.
pub struct Inspector {
    capacity: usize,
    ring: Mutex<Ring>,
}

impl Inspector {
    /// An inspector keeping the last `capacity` events (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ring: Mutex::new(Ring {
                events: VecDeque::with_capacity(capacity),
                next_seq: 1,
            }),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn record(&self, host: Host, client: Option<SocketAddr>, seen: Seen) {
        self.push(Some(host), client, seen);
    }

    /// Records a webhook delivery attempt.
    pub fn record_delivery(&self, delivery: DeliverySeen) {
        self.push(None, None, Seen::Delivery(Box::new(delivery)));
    }

    fn push(&self, host: Option<Host>, client: Option<SocketAddr>, seen: Seen) {
        if self.capacity == 0 {
            return;
        }
        let at = SystemTime::now();
        let evicted = {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            let seq = ring.next_seq;
            ring.next_seq += 1;
            let evicted = (ring.events.len() >= self.capacity).then(|| ring.events.pop_front());
            ring.events.push_back(Event {
                seq,
                at,
                host,
                client,
                seen,
            });
            evicted
        };
        // The evicted event is freed outside the lock.
        drop(evicted);
    }

    /// The recorded events, newest first.
    pub fn events(&self) -> Vec<Event> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.events.iter().rev().cloned().collect()
    }

    /// The recorded events, newest first, decoded for people with what
    /// `resolve` knows of tokens and applications.
    pub fn view(&self, resolve: &dyn Resolve) -> Vec<EventView> {
        self.events().iter().map(|e| EventView::new(e, resolve)).collect()
    }
}

/// Who a request or handshake says it is, for [`Resolve::app_of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    AppToken(&'a str),
    /// The OAuth client of a token request or of a bearer token.
    ClientId(&'a str),
    /// The client certificate's subject CN (an application's certificate
    /// names it).
    CommonName(&'a str),
}

/// What the view asks of whoever knows the tokens and applications (the
/// portal); the inspector itself knows neither.
pub trait Resolve {
    /// The claims of an access token as sent (a JWT or an opaque
    /// reference), for display only.
    fn claims_of(&self, token: &str) -> Option<Value>;
    /// The name of the application `caller` belongs to.
    fn app_of(&self, caller: Caller<'_>) -> Option<String>;
}

/// Decodes nothing: no claims, no applications.
pub struct Undecoded;

impl Resolve for Undecoded {
    fn claims_of(&self, _: &str) -> Option<Value> {
        None
    }

    fn app_of(&self, _: Caller<'_>) -> Option<String> {
        None
    }
}

/// Refused handshakes are shown next to the requests (the server connects
/// each listener's acceptor to the inspector).
impl RefusalSink for Inspector {
    fn refused(&self, host: Host, client: Option<SocketAddr>, failure: HandshakeFailure, certificate: Option<Vec<u8>>) {
        self.record(host, client, Seen::Handshake { failure, certificate });
    }
}

/// A certificate as the inspector shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CertificateView {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    /// `x5t#S256`, as in a bound token's `cnf` claim.
    pub thumbprint: String,
    /// RFC 3339, UTC, like the event's `time`.
    pub not_after: String,
    /// The subject's CN, which names an application's certificate.
    #[serde(skip)]
    pub common_name: Option<String>,
}

impl CertificateView {
    pub fn parse(der: &[u8]) -> Option<Self> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        Some(Self {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: hex::encode(cert.raw_serial()),
            thumbprint: x5t_s256(der),
            not_after: crate::records::rfc3339(cert.validity().not_after.to_datetime()),
            common_name: cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_owned),
        })
    }
}

/// One event, decoded: the JSON of `/portal/inspect.json` and the rows of
/// `/portal/inspect`.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub seq: u64,
    /// RFC 3339, UTC.
    pub time: String,
    /// `request`, `handshake` or `delivery`.
    pub kind: &'static str,
    /// The listener; `outbound` for webhook deliveries.
    pub listener: &'static str,
    pub client_address: Option<String>,
    /// `GET /banks/v1`; absent for handshakes.
    pub request: Option<String>,
    pub status: Option<u16>,
    pub duration_ms: Option<f64>,
    pub certificate: Option<CertificateView>,
    /// How many certificates the client sent (leaf + chain); for refused
    /// handshakes only the leaf is known.
    pub certificates_sent: Option<usize>,
    pub client_id: Option<String>,
    pub auth_method: Option<String>,
    pub token_claims: Option<Value>,
    /// `ok`, `refused` (4xx, failed handshake) or `error` (5xx).
    pub outcome: &'static str,
    pub error: Option<String>,
    /// What went wrong, in plain words.
    pub explanation: Option<String>,
    /// What to change, when the explanation says.
    pub fix: Option<String>,
    /// For deliveries: which event, which attempt, and what came of it.
    pub webhook: Option<WebhookView>,
    /// The application the request or handshake came from, when known:
    /// by its app token, else its OAuth client, else its certificate.
    pub app: Option<String>,
}

/// A delivery attempt's webhook details.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookView {
    pub event_type: String,
    pub event_id: String,
    pub delivery_id: String,
    pub url: String,
    pub attempt: u32,
    pub max_attempts: u32,
    /// `delivered`, `retrying`, `failed` or `abandoned`.
    pub result: &'static str,
    /// When `retrying`: the delay before the next attempt.
    pub retry_in_ms: Option<u64>,
}

impl EventView {
    fn new(event: &Event, resolve: &dyn Resolve) -> Self {
        let time = crate::records::rfc3339(time::OffsetDateTime::from(event.at));
        let mut view = EventView {
            seq: event.seq,
            time,
            kind: "request",
            listener: event.host.map_or("outbound", Host::name),
            client_address: event.client.map(|c| c.to_string()),
            request: None,
            status: None,
            duration_ms: None,
            certificate: None,
            certificates_sent: None,
            client_id: None,
            auth_method: None,
            token_claims: None,
            outcome: "ok",
            error: None,
            explanation: None,
            fix: None,
            webhook: None,
            app: None,
        };
        match &event.seen {
            Seen::Handshake { failure, certificate } => {
                view.kind = "handshake";
                view.outcome = "refused";
                view.error = Some("TLS_HANDSHAKE_FAILED".into());
                view.certificate = certificate.as_deref().and_then(CertificateView::parse);
                view.explain(&failure.to_string());
                view.app = view.app_by_certificate(resolve);
            }
            Seen::Request(req) => view.fill_request(req, resolve),
            Seen::Delivery(delivery) => view.fill_delivery(delivery),
        }
        view
    }

    fn app_by_certificate(&self, resolve: &dyn Resolve) -> Option<String> {
        let cn = self.certificate.as_ref()?.common_name.as_deref()?;
        resolve.app_of(Caller::CommonName(cn))
    }

    fn fill_delivery(&mut self, d: &DeliverySeen) {
        self.kind = "delivery";
        self.app = Some(d.application.clone());
        self.request = Some(format!("POST {}", d.url));
        self.status = d.status;
        self.duration_ms = Some((d.elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0);
        let (result, retry_in_ms) = match d.result {
            DeliveryResult::Delivered => ("delivered", None),
            DeliveryResult::Retrying { in_ms } => ("retrying", Some(in_ms)),
            DeliveryResult::Failed => ("failed", None),
            DeliveryResult::Abandoned => ("abandoned", None),
        };
        self.outcome = match d.result {
            DeliveryResult::Delivered => "ok",
            DeliveryResult::Retrying { .. } => "error",
            DeliveryResult::Failed | DeliveryResult::Abandoned => "refused",
        };
        if let Some(error) = &d.error {
            self.error = Some(format!("WEBHOOK_{}", result.to_uppercase()));
            let next = match d.result {
                DeliveryResult::Retrying { in_ms } => format!("; attempt {} follows in {in_ms} ms", d.attempt + 1),
                DeliveryResult::Failed => format!("; no more attempts ({} of {})", d.attempt, d.max_attempts),
                _ => String::new(),
            };
            self.explanation = Some(format!(
                "{} {}, attempt {} of {}: {error}{next}",
                d.event_type, d.event_id, d.attempt, d.max_attempts
            ));
            if d.status.is_none() && d.result != DeliveryResult::Abandoned {
                self.fix = Some(format!(
                    "start your webhook receiver at {}, or change the URL (PUT /admin/webhooks, `mtls-sandbox webhooks set`)",
                    d.url
                ));
            }
        }
        self.webhook = Some(WebhookView {
            event_type: d.event_type.clone(),
            event_id: d.event_id.clone(),
            delivery_id: d.delivery_id.clone(),
            url: d.url.clone(),
            attempt: d.attempt,
            max_attempts: d.max_attempts,
            result,
            retry_in_ms,
        });
    }

    fn fill_request(&mut self, req: &RequestSeen, resolve: &dyn Resolve) {
        let claims_of = |token: &str| resolve.claims_of(token);
        self.request = Some(format!("{} {}", req.method, req.path));
        self.status = Some(req.status.as_u16());
        self.duration_ms = Some((req.elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0);
        let chain = req.tls.as_ref().map(|t| t.peer_certificates.as_slice()).unwrap_or(&[]);
        self.certificates_sent = Some(chain.len());
        self.certificate = chain.first().and_then(|der| CertificateView::parse(der));
        self.outcome = match req.status.as_u16() {
            500.. => "error",
            400.. => "refused",
            _ => "ok",
        };
        match &req.credentials {
            Credentials::None => {}
            Credentials::AppToken(token) => {
                self.auth_method = Some("lean-app-token".into());
                self.app = token.to_str().ok().and_then(|t| resolve.app_of(Caller::AppToken(t)));
            }
            Credentials::Authorization(value) => {
                let value = value.to_str().unwrap_or("");
                if authorization::has_scheme(value, "bearer") {
                    self.auth_method = Some("bearer token".into());
                    self.token_claims = authorization::bearer(value).and_then(claims_of);
                } else if authorization::has_scheme(value, "basic") {
                    self.auth_method = Some("client_secret_basic".into());
                    self.client_id = authorization::basic(value).ok().map(|(id, _)| id);
                } else {
                    self.auth_method = Some("unknown Authorization scheme".into());
                }
            }
        }
        if let Some(note) = &req.note {
            if let Some(id) = &note.client_id {
                self.client_id = Some(id.clone());
            }
            if let Some(method) = note.auth_method {
                self.auth_method = Some(method.into());
            }
            if let Some(token) = &note.access_token {
                self.token_claims = claims_of(token);
            }
        }
        if self.client_id.is_none() {
            self.client_id = self
                .token_claims
                .as_ref()
                .and_then(|c| c.get("client_id"))
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
        if self.app.is_none() {
            self.app = match &self.client_id {
                Some(id) => resolve.app_of(Caller::ClientId(id)),
                None => None,
            }
            .or_else(|| self.app_by_certificate(resolve));
        }
        if let Some(failure) = &req.failure {
            self.error = Some(failure.code.to_owned());
            self.explain(&failure.message);
        }
    }

    /// Splits a message written as "what happened. Fix: what to do".
    fn explain(&mut self, message: &str) {
        match message.split_once(" Fix: ") {
            Some((what, fix)) => {
                self.explanation = Some(what.trim_end_matches('.').to_owned());
                self.fix = Some(fix.to_owned());
            }
            None => self.explanation = Some(message.to_owned()),
        }
    }
}

#[cfg(test)]
#[path = "inspector_tests.rs"]
mod tests;

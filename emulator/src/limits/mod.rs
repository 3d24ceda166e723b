//! Connection and request limits: what keeps a buggy or hostile client — a
//! slowloris holding connections open, a flood of connections, a header
//! that never ends — from taking the sandbox down for the rest of a CI run.
//!
//! Bodies are limited per endpoint (`web::body::MAX_BODY_BYTES`); the
//! gateway streams bodies and is not limited.

mod connections;

use std::time::Duration;

pub use connections::{ConnectionLimit, Connections, track_requests};

/// Open connections per host. At the limit, the connection silent for
/// longest is closed to admit a new one (`connections`).
pub const MAX_CONNECTIONS: usize = 10_000;
/// A connection with no request in flight that sends and receives nothing
/// for this long is closed — after its handshake, between requests, and
/// on HTTP/2 alike.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A TLS handshake must finish within this.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request head must be complete within this of its first byte (hyper's
/// slowloris guard, which [`IDLE_TIMEOUT`] alone would not be: a byte a
/// minute keeps a connection active).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request head (request line and headers), and most headers.
/// A request over either gets a 431 with a JSON body (`web::head`).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
pub const MAX_HEADERS: usize = 100;
/// Where hyper itself stops reading a head. Above the documented limits so
/// that a head over them reaches `web::head` and is refused with an
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

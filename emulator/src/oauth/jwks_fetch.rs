//! Fetching a client's JWKS from its registered `jwks_uri` (RFC 7591), for
//! private_key_jwt clients that publish their keys instead of registering
//! them inline. Cached for five minutes; an assertion signed with a key id
//! the cache does not know triggers a refetch (the client rotated keys).
//!
//! The token endpoint is unauthenticated, so anyone who knows a client id
//! can make the sandbox fetch that client's `jwks_uri`. Every fetch is
//! therefore bounded — [`MAX_BYTES`] read, [`TIMEOUT`] spent, one fetch per
//! client per [`REFETCH_INTERVAL`] — and every failure answers the caller
//! with the same sentence: why it failed (closed port, HTTP status, not
//! JSON) goes to the sandbox log only, so the endpoint cannot be used to
//! probe what runs where.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::error::OAuthError;

/// How long a fetched JWKS is used before it is fetched again.
const TTL: time::Duration = time::Duration::minutes(5);
/// Least time between two fetches for one client, even for an unknown `kid`.
pub const REFETCH_INTERVAL: time::Duration = time::Duration::seconds(30);
/// Largest JWKS document read; a few dozen keys fit comfortably.
pub const MAX_BYTES: usize = 64 * 1024;
/// Longest a fetch may take, connecting and reading included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Why a fetch failed: for the sandbox log, never for the token response.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("request failed: {}", with_causes(.0))]
    Unreachable(#[from] reqwest::Error),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("the document is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("the document has no \"keys\" array")]
    NoKeys,
}

/// What is known about one client's `jwks_uri`.
struct Entry {
    uri: String,
    /// The last good document and when it was fetched.
    jwks: Option<(OffsetDateTime, Value)>,
    /// The last fetch, good or not: the rate limit counts from here.
    attempted: OffsetDateTime,
}

/// Its HTTP client is built at the first fetch, not at start: building one
/// loads and parses the system's CA roots (a quarter of a warm start's
/// instructions), and most sandboxes never fetch a `jwks_uri`.
#[derive(Default)]
pub struct JwksFetcher {
    http: OnceLock<reqwest::Client>,
    /// Per client id.
    cache: Mutex<HashMap<String, Entry>>,
}

impl JwksFetcher {
    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            let builder = || reqwest::Client::builder().timeout(TIMEOUT);
            // With no system CA store (a bare container, a chroot) the
            // platform verifier refuses to build. The sandbox must work all
            // the same: only https:// jwks_uri documents become unreachable,
            // and each such fetch logs why.
            builder().build().unwrap_or_else(|e| {
                tracing::warn!("no system CA certificates ({e}): https:// jwks_uri documents cannot be fetched");
                builder()
                    .tls_certs_only([])
                    .build()
                    .expect("an HTTP client without system roots builds")
            })
        })
    }
}

/// The one answer the token endpoint gives for any fetch failure.
fn unusable(client_id: &str) -> OAuthError {
    OAuthError::invalid_client(format!(
        "the jwks_uri registered for client '{client_id}' could not provide a usable key \
         (the sandbox log says why; check that the URL serves a JWKS)"
    ))
}

impl JwksFetcher {
    /// The JWKS of `client_id` at `uri`: from the cache unless stale or
    /// missing `kid`, and then fetched at most once per [`REFETCH_INTERVAL`]
    /// (a rate-limited request gets the cached document, which names no
    /// such kid, or the uniform error). `now` is the sandbox clock.
    pub async fn get(
        &self,
        client_id: &str,
        uri: &str,
        kid: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Value, OAuthError> {
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = cache.get(client_id).filter(|e| e.uri == uri) {
                let cached = entry.jwks.as_ref();
                if let Some((at, jwks)) = cached
                    && now - *at < TTL
                    && knows_kid(jwks, kid)
                {
                    return Ok(jwks.clone());
                }
                // A clock set back counts as time passed, not as a lockout.
                let since = now - entry.attempted;
                if since >= time::Duration::ZERO && since < REFETCH_INTERVAL {
                    tracing::debug!(client_id, uri, "jwks_uri refetch rate-limited");
                    return cached.map(|(_, jwks)| jwks.clone()).ok_or_else(|| unusable(client_id));
                }
            }
            let jwks = cache.remove(client_id).filter(|e| e.uri == uri).and_then(|e| e.jwks);
            cache.insert(
                client_id.to_owned(),
                Entry {
                    uri: uri.to_owned(),
                    jwks,
                    attempted: now,
                },
            );
        }
        match self.fetch(uri).await {
            Ok(jwks) => {
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(entry) = cache.get_mut(client_id) {
                    entry.jwks = Some((now, jwks.clone()));
                }
                Ok(jwks)
            }
            Err(why) => {
                tracing::warn!(client_id, uri, error = %why, "cannot use the client's jwks_uri");
                Err(unusable(client_id))
            }
        }
    }

    /// One bounded GET: refused by its `Content-Length` when that is too
    /// large, otherwise read chunk by chunk and abandoned once past the cap.
    async fn fetch(&self, uri: &str) -> Result<Value, FetchError> {
        let mut response = self.http().get(uri).send().await?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        if response.content_length().is_some_and(|len| len > MAX_BYTES as u64) {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        let jwks: Value = serde_json::from_slice(&body).map_err(FetchError::NotJson)?;
        if !jwks.get("keys").is_some_and(Value::is_array) {
            return Err(FetchError::NoKeys);
        }
        Ok(jwks)
    }
}

/// reqwest's own message ("error sending request for url …") hides why;
/// the log needs the causes too ("operation timed out", "too many redirects").
fn with_causes(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn knows_kid(jwks: &Value, kid: Option<&str>) -> bool {
    kid.is_none_or(|kid| {
        jwks["keys"]
            .as_array()
            .is_some_and(|keys| keys.iter().any(|k| k["kid"] == kid))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    async fn serving(response: ResponseTemplate) -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("GET")).respond_with(response).mount(&server).await;
        server
    }

    fn jwks(kid: &str) -> Value {
        json!({"keys": [{"kty": "oct", "kid": kid}]})
    }

    #[tokio::test]
    async fn an_oversized_document_is_refused_by_its_length() {
        let server = serving(ResponseTemplate::new(200).set_body_string(" ".repeat(MAX_BYTES + 1))).await;
        let got = JwksFetcher::default().fetch(&server.uri()).await;
        assert!(matches!(got, Err(FetchError::TooLarge)), "{got:?}");
    }

    /// A server that streams without end and without a `Content-Length`:
    /// buffering the whole body would never finish (or exhaust memory).
    #[tokio::test]
    async fn an_endless_document_is_abandoned_at_the_cap() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n";
            stream.write_all(head.as_bytes()).await.unwrap();
            let filler = [b' '; 8192];
            while stream.write_all(&filler).await.is_ok() {}
        });
        let got = JwksFetcher::default().fetch(&format!("http://{addr}/")).await;
        assert!(matches!(got, Err(FetchError::TooLarge)), "{got:?}");
    }

    #[tokio::test]
    async fn an_unknown_kid_refetches_at_most_once_per_interval() {
        let server = serving(ResponseTemplate::new(200).set_body_json(jwks("a"))).await;
        let fetcher = JwksFetcher::default();
        let t0 = OffsetDateTime::now_utc();
        let fetches = || async { server.received_requests().await.unwrap().len() };
        assert_eq!(fetcher.get("c", &server.uri(), Some("a"), t0).await.unwrap(), jwks("a"));
        for kid in ["b", "c", "d"] {
            let got = fetcher
                .get("c", &server.uri(), Some(kid), t0 + time::Duration::seconds(29))
                .await;
            assert_eq!(got.unwrap(), jwks("a"), "the cached document, no new fetch");
        }
        assert_eq!(fetches().await, 1);
        assert!(fetcher.get("other", &server.uri(), Some("b"), t0).await.is_ok());
        assert_eq!(fetches().await, 2, "the limit is per client");
        fetcher
            .get("c", &server.uri(), Some("b"), t0 + REFETCH_INTERVAL)
            .await
            .unwrap();
        assert_eq!(fetches().await, 3, "after the interval, an unknown kid refetches");
    }

    #[tokio::test]
    async fn every_failure_gives_the_caller_the_same_error() {
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/jwks.json", listener.local_addr().unwrap())
        };
        let not_found = serving(ResponseTemplate::new(404)).await;
        let not_json = serving(ResponseTemplate::new(200).set_body_string("<html>admin console</html>")).await;
        let no_keys = serving(ResponseTemplate::new(200).set_body_json(json!({"status": "ok"}))).await;
        let now = OffsetDateTime::now_utc();
        let mut errors = Vec::new();
        for uri in [closed, not_found.uri(), not_json.uri(), no_keys.uri()] {
            let fetcher = JwksFetcher::default();
            errors.push(fetcher.get("c", &uri, None, now).await.unwrap_err());
            let again = fetcher.get("c", &uri, None, now).await.unwrap_err();
            assert_eq!(again, errors[0], "rate-limited: the same answer, no fetch");
        }
        assert!(errors.iter().all(|e| *e == errors[0]), "{errors:?}");
        assert!(errors[0].description.contains("jwks_uri"), "{:?}", errors[0]);
        assert!(!errors[0].description.contains("404") && !errors[0].description.contains("127.0.0.1"));
    }
}

//! Fetching a client's JWKS from its registered `jwks_uri` (RFC 7591), for
//! private_key_jwt clients that publish their keys instead of registering
//! them inline. Cached for five minutes; an assertion signed with a key id
//! the cache does not know triggers one refetch (the client rotated keys).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::error::OAuthError;

const TTL: Duration = Duration::from_secs(300);

pub struct JwksFetcher {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Instant, Value)>>,
}

impl Default for JwksFetcher {
    fn default() -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("a plain HTTP client builds"),
            cache: Mutex::default(),
        }
    }
}

impl JwksFetcher {
    /// The JWKS at `uri`, from the cache unless stale or missing `kid`.
    pub async fn get(&self, uri: &str, kid: Option<&str>) -> Result<Value, OAuthError> {
        if let Some(cached) = self.cached(uri, kid) {
            return Ok(cached);
        }
        let fail = |why: String| OAuthError::invalid_client(format!("cannot fetch the client's jwks_uri {uri}: {why}"));
        let response = self.http.get(uri).send().await.map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status().as_u16())));
        }
        let jwks: Value = response.json().await.map_err(|e| fail(format!("not JSON ({e})")))?;
        if !jwks.get("keys").is_some_and(Value::is_array) {
            return Err(fail("the document has no \"keys\" array".into()));
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(uri.to_owned(), (Instant::now(), jwks.clone()));
        Ok(jwks)
    }

    fn cached(&self, uri: &str, kid: Option<&str>) -> Option<Value> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (at, jwks) = cache.get(uri)?;
        let knows_kid = kid.is_none_or(|kid| {
            jwks["keys"]
                .as_array()
                .is_some_and(|keys| keys.iter().any(|k| k["kid"] == kid))
        });
        (at.elapsed() < TTL && knows_kid).then(|| jwks.clone())
    }
}

//! The `[webhooks]` section of the config file and the validated settings
//! the server builds the [`super::Webhooks`] service from.
//!
//! ```toml
//! [webhooks]
//! url = "http://localhost:8080/webhooks"  # the default application's URL
//! max_attempts = 5                         # per event, the first included
//! retry_delay_ms = 1000                    # then 2000, 4000, ... (cap 60 s)
//! timeout_ms = 5000                        # per attempt
//! queue_capacity = 1000                    # waiting events; the oldest is dropped beyond
//! ```

use std::time::Duration;

use serde::Deserialize;

use super::outbox;
use super::retry::RetryPolicy;
use super::url::WebhookUrl;

/// Longest time one attempt may take, connecting and answering included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_TIMEOUT_MS: u64 = 60_000;
const MAX_QUEUE: usize = 100_000;

/// `[webhooks]` as written by users. Every key is optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksSection {
    pub url: Option<String>,
    pub max_attempts: Option<u32>,
    pub retry_delay_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub queue_capacity: Option<usize>,
}

/// Validated webhook settings.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// The config file's URL for the default application: when given, it
    /// wins over one set at runtime in an earlier run.
    pub url: Option<WebhookUrl>,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub queue_capacity: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            url: None,
            retry: RetryPolicy::default(),
            timeout: DEFAULT_TIMEOUT,
            queue_capacity: outbox::DEFAULT_CAPACITY,
        }
    }
}

impl WebhooksSection {
    /// `base` with this section's keys applied, or what is wrong (naming the key).
    pub fn apply(self, base: &WebhookSettings) -> Result<WebhookSettings, String> {
        let url = match &self.url {
            Some(text) => Some(WebhookUrl::parse(text).map_err(|e| format!("url {e}"))?),
            None => base.url.clone(),
        };
        let retry = RetryPolicy::new(
            self.max_attempts.unwrap_or(base.retry.max_attempts),
            self.retry_delay_ms
                .map_or(base.retry.first_delay, Duration::from_millis),
        )?;
        let timeout = match self.timeout_ms {
            Some(ms) if !(1..=MAX_TIMEOUT_MS).contains(&ms) => {
                return Err(format!("timeout_ms = {ms}: give 1 to {MAX_TIMEOUT_MS}"));
            }
            Some(ms) => Duration::from_millis(ms),
            None => base.timeout,
        };
        let queue_capacity = match self.queue_capacity {
            Some(n) if !(1..=MAX_QUEUE).contains(&n) => {
                return Err(format!("queue_capacity = {n}: give 1 to {MAX_QUEUE}"));
            }
            Some(n) => n,
            None => base.queue_capacity,
        };
        Ok(WebhookSettings {
            url,
            retry,
            timeout,
            queue_capacity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml: &str) -> WebhooksSection {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn keys_override_the_defaults_one_by_one() {
        let base = WebhookSettings::default();
        let s = section("url = \"http://localhost:9/h\"\nmax_attempts = 3\nretry_delay_ms = 50")
            .apply(&base)
            .unwrap();
        assert_eq!(s.url.unwrap().as_str(), "http://localhost:9/h");
        assert_eq!(s.retry, RetryPolicy::new(3, Duration::from_millis(50)).unwrap());
        assert_eq!(
            (s.timeout, s.queue_capacity),
            (DEFAULT_TIMEOUT, outbox::DEFAULT_CAPACITY)
        );
        assert_eq!(section("").apply(&base).unwrap(), base);
    }

    #[test]
    fn bad_values_name_the_key() {
        let base = WebhookSettings::default();
        for (toml, key) in [
            ("url = \"http://example.com/\"", "url"),
            ("max_attempts = 0", "max_attempts"),
            ("retry_delay_ms = 999999", "retry_delay_ms"),
            ("timeout_ms = 0", "timeout_ms"),
            ("queue_capacity = 0", "queue_capacity"),
        ] {
            let err = section(toml).apply(&base).unwrap_err();
            assert!(err.starts_with(key), "{toml}: {err}");
        }
        assert!(
            toml::from_str::<WebhooksSection>("urls = \"x\"").is_err(),
            "unknown keys are errors"
        );
    }
}

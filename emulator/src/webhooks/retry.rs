//! When a failed delivery is tried again: exponential backoff from a first
//! delay, doubling, capped, for a bounded number of attempts.
//!
//! Pure arithmetic, so the schedule is unit-tested without sleeping; the
//! worker ([`super::deliver`]) does the waiting.

use std::time::Duration;

/// Most attempts per event a configuration may ask for.
pub const MAX_ATTEMPTS_LIMIT: u32 = 20;
/// No wait between attempts is longer than this.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// The defaults: 5 attempts, waiting 1 s, 2 s, 4 s, 8 s between them.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
pub const DEFAULT_FIRST_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per event, the first included (at least 1).
    pub max_attempts: u32,
    /// The wait after the first failed attempt; each later wait doubles.
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            first_delay: DEFAULT_FIRST_DELAY,
        }
    }
}

impl RetryPolicy {
    /// A policy from the config file's `max_attempts` and `retry_delay_ms`,
    /// or what is wrong with them.
    pub fn new(max_attempts: u32, first_delay: Duration) -> Result<Self, String> {
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&max_attempts) {
            return Err(format!(
                "max_attempts = {max_attempts}: give 1 to {MAX_ATTEMPTS_LIMIT} (1 means no retries)"
            ));
        }
        if first_delay > MAX_DELAY {
            return Err(format!(
                "retry_delay_ms = {}: give at most {} (later delays double up to that cap)",
                first_delay.as_millis(),
                MAX_DELAY.as_millis()
            ));
        }
        Ok(Self {
            max_attempts,
            first_delay,
        })
    }

    /// How long to wait after failed attempt number `attempt` (1-based)
    /// before the next one; `None` when that was the last attempt.
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt >= self.max_attempts {
            return None;
        }
        let factor = 1u32.checked_shl(attempt - 1).unwrap_or(u32::MAX);
        Some(self.first_delay.saturating_mul(factor).min(MAX_DELAY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(policy: RetryPolicy) -> Vec<Duration> {
        (1..).map_while(|n| policy.delay_after(n)).collect()
    }

    #[test]
    fn the_default_waits_1_2_4_8_seconds_between_five_attempts() {
        let secs: Vec<u64> = schedule(RetryPolicy::default()).iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8]);
    }

    #[test]
    fn delays_double_up_to_the_cap_and_stop_at_the_last_attempt() {
        let policy = RetryPolicy::new(MAX_ATTEMPTS_LIMIT, Duration::from_secs(10)).unwrap();
        let waits = schedule(policy);
        assert_eq!(waits.len(), MAX_ATTEMPTS_LIMIT as usize - 1);
        assert_eq!(&waits[..4], &[10, 20, 40, 60].map(Duration::from_secs));
        assert!(waits.iter().all(|w| *w <= MAX_DELAY));
        assert!(schedule(RetryPolicy::new(1, Duration::ZERO).unwrap()).is_empty());
        assert_eq!(policy.delay_after(0), None);
    }

    #[test]
    fn out_of_range_settings_name_the_key() {
        assert!(
            RetryPolicy::new(0, Duration::ZERO)
                .unwrap_err()
                .starts_with("max_attempts = 0")
        );
        assert!(
            RetryPolicy::new(21, Duration::ZERO)
                .unwrap_err()
                .starts_with("max_attempts = 21")
        );
        let err = RetryPolicy::new(3, Duration::from_secs(61)).unwrap_err();
        assert!(err.starts_with("retry_delay_ms = 61000"), "{err}");
    }
}

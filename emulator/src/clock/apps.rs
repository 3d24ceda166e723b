//! Applications' own time: each may run ahead of (or behind) the sandbox
//! clock by an offset of its own, which its tokens (issued and checked)
//! and its provider objects (statuses, lifecycle events) age by.
//!
//! Why: parallel CI suites share one sandbox, each as its own application
//! (issue #17). A suite that moves time — its token expires mid-run, its
//! payment settles — must not move another suite's payment along with it.
//! Moving the sandbox clock still moves every application, and resetting
//! it brings every one back to real time; certificate dates at the
//! handshake follow the sandbox clock, as the handshake comes before any
//! application is known.

use time::{Duration, OffsetDateTime};

use super::{Clock, MAX_SKEW, OutOfRange};

impl Clock {
    /// "Now" for the application with this id: the sandbox clock plus the
    /// application's offset. Never more than [`MAX_SKEW`] from real time.
    pub fn now_for(&self, app_id: &str) -> OffsetDateTime {
        let now = self.now();
        match self.offset_for(app_id) {
            0 => now,
            offset => {
                let real = OffsetDateTime::now_utc();
                let skew = (now - real).saturating_add(Duration::seconds(offset));
                real.saturating_add(skew.clamp(-MAX_SKEW, MAX_SKEW))
            }
        }
    }

    /// The application's offset from the sandbox clock, in seconds.
    pub fn offset_for(&self, app_id: &str) -> i64 {
        let offsets = self.apps.read().unwrap_or_else(|p| p.into_inner());
        offsets.get(app_id).copied().unwrap_or(0)
    }

    /// Whether every application runs on the sandbox clock (the usual case:
    /// nobody needs to know whose time to ask for).
    pub fn app_offsets_are_empty(&self) -> bool {
        self.apps.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Every application's offset that is not zero, by id.
    pub fn app_offsets(&self) -> std::collections::BTreeMap<String, i64> {
        self.apps.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Moves the application's time by `by` (negative goes back), leaving
    /// the sandbox clock and every other application alone.
    pub fn advance_for(&self, app_id: &str, by: Duration) -> Result<(), OutOfRange> {
        let offset = self
            .offset_for(app_id)
            .checked_add(by.whole_seconds())
            .ok_or(OutOfRange)?;
        self.set_offset(app_id, offset)
    }

    /// Jumps the application's time to `at` (it runs on from there, or
    /// stays there if the sandbox clock is frozen).
    pub fn set_for(&self, app_id: &str, at: OffsetDateTime) -> Result<(), OutOfRange> {
        let offset = at
            .unix_timestamp()
            .checked_sub(self.now().unix_timestamp())
            .ok_or(OutOfRange)?;
        self.set_offset(app_id, offset)
    }

    /// The application back on the sandbox clock.
    pub fn reset_for(&self, app_id: &str) {
        self.apps.write().unwrap_or_else(|p| p.into_inner()).remove(app_id);
        self.publish(self.mode());
    }

    /// Refused beyond [`MAX_SKEW`] from real time, as the sandbox clock is.
    fn set_offset(&self, app_id: &str, offset: i64) -> Result<(), OutOfRange> {
        let skew = (self.now() - OffsetDateTime::now_utc())
            .checked_add(Duration::seconds(offset))
            .ok_or(OutOfRange)?;
        if skew.abs() > MAX_SKEW {
            return Err(OutOfRange);
        }
        {
            let mut offsets = self.apps.write().unwrap_or_else(|p| p.into_inner());
            match offset {
                0 => offsets.remove(app_id),
                _ => offsets.insert(app_id.to_owned(), offset),
            };
        }
        self.publish(self.mode());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: OffsetDateTime, b: OffsetDateTime) -> bool {
        (a - b).abs() < Duration::seconds(5)
    }

    #[test]
    fn an_application_moves_alone_and_the_sandbox_clock_moves_everyone() {
        let clock = Clock::system();
        clock.advance_for("a", Duration::hours(1)).unwrap();
        assert!(close(
            clock.now_for("a"),
            OffsetDateTime::now_utc() + Duration::hours(1)
        ));
        assert!(close(clock.now_for("b"), OffsetDateTime::now_utc()), "b did not move");
        assert!(
            close(clock.now(), OffsetDateTime::now_utc()),
            "nor did the sandbox clock"
        );

        clock.advance(Duration::days(1)).unwrap();
        assert!(close(
            clock.now_for("a"),
            OffsetDateTime::now_utc() + Duration::hours(25)
        ));
        assert!(close(clock.now_for("b"), OffsetDateTime::now_utc() + Duration::days(1)));

        let target = OffsetDateTime::now_utc() - Duration::days(3);
        clock.set_for("b", target).unwrap();
        assert!(close(clock.now_for("b"), target));
        clock.reset_for("b");
        assert!(close(clock.now_for("b"), clock.now()));
        assert_eq!(clock.app_offsets().keys().collect::<Vec<_>>(), ["a"]);

        clock.reset();
        assert!(
            close(clock.now_for("a"), OffsetDateTime::now_utc()),
            "reset is everyone's"
        );
        assert!(clock.app_offsets().is_empty());
    }

    #[test]
    fn an_application_stays_within_a_hundred_years_of_real_time() {
        let clock = Clock::system();
        assert_eq!(clock.advance_for("a", Duration::days(40_000)), Err(OutOfRange));
        assert_eq!(clock.advance_for("a", Duration::MAX), Err(OutOfRange));
        assert_eq!(clock.offset_for("a"), 0, "a refused change leaves it alone");
        clock.advance_for("a", Duration::days(365 * 60)).unwrap();
        clock.advance(Duration::days(365 * 60)).unwrap();
        let skew = clock.now_for("a") - OffsetDateTime::now_utc();
        assert!(skew <= MAX_SKEW, "the sum is bounded: {skew}");
    }

    #[test]
    fn offsets_are_published_for_the_commands_that_mint_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");
        let clock = Clock::system();
        clock.publish_to(path.clone());
        clock.advance_for("a", Duration::hours(2)).unwrap();
        let seen = Clock::load(&path).unwrap();
        assert!(close(seen.now_for("a"), OffsetDateTime::now_utc() + Duration::hours(2)));
        assert!(close(seen.now(), OffsetDateTime::now_utc()));
        clock.reset_for("a");
        assert!(!path.exists(), "real time everywhere is the absence of the file");
        std::fs::write(&path, r#"{"mode":"offset","seconds":60}"#).unwrap();
        assert_eq!(Clock::load(&path).unwrap().offset_for("a"), 0, "older files still load");
    }
}

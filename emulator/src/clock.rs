//! The sandbox's notion of "now" (SPEC §6): the system clock, shifted by an
//! offset or frozen at an instant, changeable while running.
//!
//! Every validity decision — certificate dates at the handshake, token
//! expiry, client-assertion lifetimes — asks this clock, so a test can jump
//! past an expiry instead of sleeping through it.

use std::sync::RwLock;

use rustls::pki_types::UnixTime;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// System time plus an offset (zero for a normal clock).
    Offset(Duration),
    /// Frozen at an instant; only `set`/`advance` move it.
    Fixed(OffsetDateTime),
}

#[derive(Debug)]
pub struct Clock {
    mode: RwLock<Mode>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    pub fn system() -> Self {
        Self {
            mode: RwLock::new(Mode::Offset(Duration::ZERO)),
        }
    }

    /// Parses `--clock`: an RFC 3339 instant (frozen) or an offset such as
    /// `+2h`, `-30m`, `+90d` (system time shifted).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let mode = if let Some(rest) = spec.strip_prefix('+') {
            Mode::Offset(parse_span(rest)?)
        } else if let Some(rest) = spec.strip_prefix('-') {
            Mode::Offset(-parse_span(rest)?)
        } else {
            Mode::Fixed(OffsetDateTime::parse(spec, &Rfc3339).map_err(|e| {
                format!(
                    "--clock '{spec}': expected an RFC 3339 time (2030-01-01T00:00:00Z) or an offset (+2h, -30m): {e}"
                )
            })?)
        };
        Ok(Self {
            mode: RwLock::new(mode),
        })
    }

    pub fn now(&self) -> OffsetDateTime {
        match *self.mode.read().unwrap_or_else(|p| p.into_inner()) {
            Mode::Offset(offset) => OffsetDateTime::now_utc() + offset,
            Mode::Fixed(at) => at,
        }
    }

    /// The same instant as rustls wants it.
    pub fn unix_time(&self) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(self.now().unix_timestamp().max(0) as u64))
    }

    /// Jumps to `at`. A frozen clock stays frozen; a running one keeps running from there.
    pub fn set(&self, at: OffsetDateTime) {
        let mut mode = self.mode.write().unwrap_or_else(|p| p.into_inner());
        *mode = match *mode {
            Mode::Fixed(_) => Mode::Fixed(at),
            Mode::Offset(_) => Mode::Offset(at - OffsetDateTime::now_utc()),
        };
    }

    pub fn advance(&self, by: Duration) {
        let mut mode = self.mode.write().unwrap_or_else(|p| p.into_inner());
        *mode = match *mode {
            Mode::Fixed(at) => Mode::Fixed(at + by),
            Mode::Offset(offset) => Mode::Offset(offset + by),
        };
    }
}

/// `90s`, `30m`, `2h`, `7d`.
pub fn parse_span(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 90s, 30m, 2h or 7d"))?;
    match unit {
        "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(format!("'{s}': unknown unit '{unit}' (use s, m, h or d)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_shift_and_fixed_instants_freeze() {
        let ahead = Clock::parse("+2h").unwrap();
        let delta = ahead.now() - OffsetDateTime::now_utc();
        assert!((delta - Duration::hours(2)).abs() < Duration::seconds(5), "{delta}");
        let behind = Clock::parse("-1d").unwrap();
        assert!(behind.now() < OffsetDateTime::now_utc() - Duration::hours(23));

        let fixed = Clock::parse("2030-01-01T00:00:00Z").unwrap();
        assert_eq!(fixed.now().year(), 2030);
        fixed.advance(Duration::hours(1));
        assert_eq!(fixed.now().hour(), 1);
        assert_eq!(fixed.unix_time().as_secs() as i64, fixed.now().unix_timestamp());
    }

    #[test]
    fn set_and_advance_a_running_clock() {
        let clock = Clock::system();
        clock.advance(Duration::days(400));
        assert!(clock.now() > OffsetDateTime::now_utc() + Duration::days(399));
        let target = OffsetDateTime::now_utc() - Duration::days(3);
        clock.set(target);
        assert!((clock.now() - target).abs() < Duration::seconds(5));
    }

    #[test]
    fn bad_specs_say_what_is_expected() {
        assert!(Clock::parse("tomorrow").unwrap_err().contains("RFC 3339"));
        assert!(Clock::parse("+2y").unwrap_err().contains("unknown unit"));
    }
}

//! The sandbox's notion of "now" (README, "Faults and time"): the system clock, shifted by an
//! offset or frozen at an instant, changeable while running.
//!
//! Every validity decision — certificate dates at the handshake, token
//! expiry, client-assertion lifetimes — asks this clock, so a test can jump
//! past an expiry instead of sleeping through it.
//!
//! An application can also run ahead of (or behind) it by an offset of its
//! own ([`apps`]): what its tokens and provider objects age by.

mod apps;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, RwLock};

use rustls::pki_types::UnixTime;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// The clock's setting, also as the running sandbox publishes it in
/// `clock.json`, so that commands minting tokens from another process (`token`,
/// `faults`, `clock`) use the sandbox's "now", not the machine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Mode {
    /// System time plus an offset (zero for a normal clock).
    Offset { seconds: i64 },
    /// Frozen at an instant; only `set`/`advance` move it.
    Frozen {
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

impl Mode {
    const SYSTEM: Mode = Mode::Offset { seconds: 0 };

    /// How far this setting is from real time.
    fn skew(self) -> Duration {
        match self {
            Mode::Offset { seconds } => Duration::seconds(seconds),
            Mode::Frozen { at } => at - OffsetDateTime::now_utc(),
        }
    }

    /// Refuses a setting further than [`MAX_SKEW`] from real time: beyond it,
    /// "now" plus a token lifetime or a certificate's validity could leave the
    /// range of dates the sandbox can represent, and every clock read would fail.
    fn within_range(self) -> Result<Self, OutOfRange> {
        if self.skew().abs() <= MAX_SKEW {
            Ok(self)
        } else {
            Err(OutOfRange)
        }
    }
}

/// How far the clock may move from real time, either way.
pub const MAX_SKEW: Duration = Duration::days(MAX_SKEW_YEARS * 36_525 / 100);
const MAX_SKEW_YEARS: i64 = 100;

/// A clock setting further than [`MAX_SKEW`] from real time (or a span too
/// large to compute with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the clock must stay within {} years of real time (between {} and {})",
    MAX_SKEW_YEARS,
    allowed_bound(-1),
    allowed_bound(1)
)]
pub struct OutOfRange;

/// The earliest (`-1`) or latest (`1`) instant the clock accepts right now.
fn allowed_bound(sign: i32) -> String {
    let bound = OffsetDateTime::now_utc().saturating_add(MAX_SKEW * sign);
    bound.format(&Rfc3339).unwrap_or_else(|_| bound.to_string())
}

/// What `clock.json` holds: the setting, and the applications' own offsets
/// (by application id, in seconds; absent when there are none).
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    #[serde(flatten)]
    mode: Mode,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    apps: BTreeMap<String, i64>,
}

#[derive(Debug)]
pub struct Clock {
    mode: RwLock<Mode>,
    /// Applications' offsets from this clock, by application id ([`apps`]).
    apps: RwLock<BTreeMap<String, i64>>,
    /// Where every change is published (the running sandbox's `clock.json`).
    file: OnceLock<PathBuf>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    pub fn system() -> Self {
        Self::with_mode(Mode::SYSTEM)
    }

    fn with_mode(mode: Mode) -> Self {
        Self {
            mode: RwLock::new(mode),
            apps: RwLock::default(),
            file: OnceLock::new(),
        }
    }

    /// The clock a running sandbox published at `path`; the system clock when
    /// there is no such file (the sandbox runs on real time).
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str::<Published>(&text)
                .map_err(|e| e.to_string())
                .and_then(|published| {
                    let clock = Self::with_mode(published.mode.within_range().map_err(|e| e.to_string())?);
                    *clock.apps.write().unwrap_or_else(|p| p.into_inner()) = published.apps;
                    Ok(clock)
                })
                .map_err(|e| format!("{} is not a valid clock file: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::system()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Publishes the clock's setting at `path` now and after every change.
    pub fn publish_to(&self, path: PathBuf) {
        if self.file.set(path).is_ok() {
            self.publish(self.mode());
        }
    }

    fn publish(&self, mode: Mode) {
        let Some(path) = self.file.get() else { return };
        let published = Published {
            mode,
            apps: self.app_offsets(),
        };
        let result = if mode == Mode::SYSTEM && published.apps.is_empty() {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            let json = serde_json::to_vec(&published).expect("a clock setting serialises");
            crate::fsutil::write_replace(path, &json, crate::fsutil::PUBLIC_MODE)
        };
        if let Err(e) = result {
            tracing::warn!("cannot publish the clock to {}: {e}", path.display());
        }
    }

    /// The current setting.
    pub fn mode(&self) -> Mode {
        *self.mode.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A few words for humans: `None` for the real time.
    pub fn describe(&self) -> Option<String> {
        match self.mode() {
            Mode::SYSTEM => None,
            Mode::Offset { seconds } => Some(format!("{} real time", describe_offset(seconds))),
            Mode::Frozen { at } => Some(format!(
                "frozen at {}",
                at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
            )),
        }
    }

    /// Parses `--clock`: an RFC 3339 instant (frozen) or an offset such as
    /// `+2h`, `-30m`, `+90d` (system time shifted).
    pub fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        let mode = if let Some(rest) = spec.strip_prefix('+') {
            Mode::Offset {
                seconds: parse_span(rest).map_err(|e| format!("--clock: {e}"))?.whole_seconds(),
            }
        } else if let Some(rest) = spec.strip_prefix('-') {
            Mode::Offset {
                seconds: -parse_span(rest).map_err(|e| format!("--clock: {e}"))?.whole_seconds(),
            }
        } else {
            let at = OffsetDateTime::parse(spec, &Rfc3339).map_err(|e| {
                format!(
                    "--clock '{spec}': expected an RFC 3339 time (2030-01-01T00:00:00Z) or an offset (+2h, -30m): {e}"
                )
            })?;
            Mode::Frozen { at }
        };
        let mode = mode.within_range().map_err(|e| format!("--clock '{spec}': {e}"))?;
        Ok(Self::with_mode(mode))
    }

    /// Never panics: every setting is within [`MAX_SKEW`] of real time, and the
    /// addition saturates should the machine's own clock be absurd.
    pub fn now(&self) -> OffsetDateTime {
        match self.mode() {
            Mode::Offset { seconds } => OffsetDateTime::now_utc().saturating_add(Duration::seconds(seconds)),
            Mode::Frozen { at } => at,
        }
    }

    /// The same instant as rustls wants it.
    pub fn unix_time(&self) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(self.now().unix_timestamp().max(0) as u64))
    }

    /// Jumps to `at`. A frozen clock stays frozen; a running one keeps running
    /// from there. Refused (and the clock left alone) beyond [`MAX_SKEW`].
    pub fn set(&self, at: OffsetDateTime) -> Result<(), OutOfRange> {
        self.change(|mode| match mode {
            Mode::Frozen { .. } => Some(Mode::Frozen { at }),
            Mode::Offset { .. } => Some(Mode::Offset {
                seconds: at
                    .unix_timestamp()
                    .checked_sub(OffsetDateTime::now_utc().unix_timestamp())?,
            }),
        })
    }

    /// Moves the clock by `by` (negative goes back). Refused (and the clock
    /// left alone) beyond [`MAX_SKEW`].
    pub fn advance(&self, by: Duration) -> Result<(), OutOfRange> {
        self.change(|mode| match mode {
            Mode::Frozen { at } => Some(Mode::Frozen {
                at: at.checked_add(by)?,
            }),
            Mode::Offset { seconds } => Some(Mode::Offset {
                seconds: seconds.checked_add(by.whole_seconds())?,
            }),
        })
    }

    /// Back to the machine's real time, running; every application too.
    pub fn reset(&self) {
        let mut mode = self.mode.write().unwrap_or_else(|p| p.into_inner());
        *mode = Mode::SYSTEM;
        self.apps.write().unwrap_or_else(|p| p.into_inner()).clear();
        self.publish(*mode);
    }

    /// Applies `f` unless it overflows or leaves the allowed range.
    fn change(&self, f: impl FnOnce(Mode) -> Option<Mode>) -> Result<(), OutOfRange> {
        let mut mode = self.mode.write().unwrap_or_else(|p| p.into_inner());
        *mode = f(*mode).ok_or(OutOfRange)?.within_range()?;
        self.publish(*mode);
        Ok(())
    }
}

/// `7200` → "shifted +2h from", to say from what after.
pub fn describe_offset(seconds: i64) -> String {
    format!(
        "shifted {}{} from",
        if seconds < 0 { "-" } else { "+" },
        format_span(seconds.unsigned_abs())
    )
}

/// `7200` → `2h`, `90061` → `1d1h1m1s`.
fn format_span(mut secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// A span of time, in the one grammar every flag and setting uses (`--clock`
/// offsets, `clock advance`, fault rule durations, the CLI's `--timeout`):
/// a whole number and a unit — `ms`, `s`, `m`, `h` or `d` — or a bare number
/// of seconds. `250ms`, `90`, `90s`, `30m`, `2h`, `7d`.
pub fn parse_span(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 250ms, 90s, 30m, 2h or 7d"))?;
    let unit_seconds: i64 = match unit {
        "ms" => return Ok(Duration::milliseconds(n)),
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use ms, s, m, h or d)")),
    };
    n.checked_mul(unit_seconds)
        .map(Duration::seconds)
        .ok_or_else(|| format!("'{s}' is too long to compute with"))
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
        fixed.advance(Duration::hours(1)).unwrap();
        assert_eq!(fixed.now().hour(), 1);
        assert_eq!(fixed.unix_time().as_secs() as i64, fixed.now().unix_timestamp());
    }

    #[test]
    fn set_and_advance_a_running_clock() {
        let clock = Clock::system();
        clock.advance(Duration::days(400)).unwrap();
        assert!(clock.now() > OffsetDateTime::now_utc() + Duration::days(399));
        let target = OffsetDateTime::now_utc() - Duration::days(3);
        clock.set(target).unwrap();
        assert!((clock.now() - target).abs() < Duration::seconds(5));
    }

    #[test]
    fn a_published_clock_is_read_back_by_another_process_and_reset_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");
        let clock = Clock::system();
        clock.publish_to(path.clone());
        assert!(!path.exists(), "real time is the absence of the file");
        clock.advance(Duration::hours(2)).unwrap();
        let seen = Clock::load(&path).unwrap();
        assert_eq!(seen.mode(), Mode::Offset { seconds: 7200 });
        assert_eq!(seen.describe().unwrap(), "shifted +2h from real time");
        clock.set(OffsetDateTime::now_utc() - Duration::days(1)).unwrap();
        assert!(Clock::load(&path).unwrap().now() < OffsetDateTime::now_utc() - Duration::hours(23));
        clock.reset();
        assert!(!path.exists());
        assert_eq!(Clock::load(&path).unwrap().mode(), Mode::SYSTEM);
        assert_eq!(clock.describe(), None);

        let frozen = Clock::parse("2030-01-01T00:00:00Z").unwrap();
        frozen.publish_to(path.clone());
        assert_eq!(Clock::load(&path).unwrap().now().year(), 2030);
        assert_eq!(frozen.describe().unwrap(), "frozen at 2030-01-01T00:00:00Z");
        std::fs::write(&path, "nonsense").unwrap();
        assert!(Clock::load(&path).unwrap_err().contains("clock.json"));
    }

    #[test]
    fn bad_specs_say_what_is_expected() {
        assert!(Clock::parse("tomorrow").unwrap_err().contains("RFC 3339"));
        assert!(Clock::parse("+2y").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn the_clock_refuses_to_leave_a_hundred_years_of_real_time() {
        for spec in [
            "+100000000d",
            "-36600d",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "+9223372036854775807s",
        ] {
            let err = Clock::parse(spec).map(|_| ()).unwrap_err();
            assert!(
                err.contains("--clock") && (err.contains("100 years") || err.contains("too long")),
                "{spec}: {err}"
            );
        }
        assert!(parse_span("9999999999999999d").unwrap_err().contains("too long"));
        assert_eq!(parse_span("90"), Ok(Duration::seconds(90)));
        assert_eq!(parse_span("250ms"), Ok(Duration::milliseconds(250)));
        assert_eq!(parse_span("7d"), Ok(Duration::days(7)));

        let clock = Clock::system();
        assert_eq!(clock.advance(Duration::days(100_000_000)), Err(OutOfRange));
        assert_eq!(clock.advance(Duration::MAX), Err(OutOfRange));
        assert_eq!(
            clock.set(OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT)),
            Err(OutOfRange)
        );
        assert_eq!(clock.mode(), Mode::SYSTEM, "a refused change leaves the clock alone");
        clock.advance(Duration::days(365 * 99)).unwrap();
        assert_eq!(clock.advance(Duration::days(365 * 2)), Err(OutOfRange), "steps add up");

        let frozen = Clock::parse("2030-01-01T00:00:00Z").unwrap();
        assert_eq!(frozen.advance(Duration::MAX), Err(OutOfRange));
        assert_eq!(frozen.now().year(), 2030);
        assert!(OutOfRange.to_string().contains("between"), "{OutOfRange}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");
        std::fs::write(&path, r#"{"mode":"frozen","at":"9999-12-31T23:59:59Z"}"#).unwrap();
        assert!(Clock::load(&path).unwrap_err().contains("100 years"));
    }
}

//! The sandbox's notion of "now" (SPEC §6): the system clock, shifted by an
//! offset or frozen at an instant, changeable while running.
//!
//! Every validity decision — certificate dates at the handshake, token
//! expiry, client-assertion lifetimes — asks this clock, so a test can jump
//! past an expiry instead of sleeping through it.

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
}

#[derive(Debug)]
pub struct Clock {
    mode: RwLock<Mode>,
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
            file: OnceLock::new(),
        }
    }

    /// The clock a running sandbox published at `path`; the system clock when
    /// there is no such file (the sandbox runs on real time).
    pub fn load(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Self::with_mode)
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
        let result = if mode == Mode::SYSTEM {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        } else {
            let json = serde_json::to_vec(&mode).expect("a clock mode serialises");
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
            Mode::Offset { seconds } => Some(format!(
                "shifted {}{} from real time",
                if seconds < 0 { "-" } else { "+" },
                format_span(seconds.unsigned_abs())
            )),
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
                seconds: parse_span(rest)?.whole_seconds(),
            }
        } else if let Some(rest) = spec.strip_prefix('-') {
            Mode::Offset {
                seconds: -parse_span(rest)?.whole_seconds(),
            }
        } else {
            let at = OffsetDateTime::parse(spec, &Rfc3339).map_err(|e| {
                format!(
                    "--clock '{spec}': expected an RFC 3339 time (2030-01-01T00:00:00Z) or an offset (+2h, -30m): {e}"
                )
            })?;
            Mode::Frozen { at }
        };
        Ok(Self::with_mode(mode))
    }

    pub fn now(&self) -> OffsetDateTime {
        match self.mode() {
            Mode::Offset { seconds } => OffsetDateTime::now_utc() + Duration::seconds(seconds),
            Mode::Frozen { at } => at,
        }
    }

    /// The same instant as rustls wants it.
    pub fn unix_time(&self) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(self.now().unix_timestamp().max(0) as u64))
    }

    /// Jumps to `at`. A frozen clock stays frozen; a running one keeps running from there.
    pub fn set(&self, at: OffsetDateTime) {
        self.change(|mode| match mode {
            Mode::Frozen { .. } => Mode::Frozen { at },
            Mode::Offset { .. } => Mode::Offset {
                seconds: (at - OffsetDateTime::now_utc()).whole_seconds(),
            },
        });
    }

    pub fn advance(&self, by: Duration) {
        self.change(|mode| match mode {
            Mode::Frozen { at } => Mode::Frozen { at: at + by },
            Mode::Offset { seconds } => Mode::Offset {
                seconds: seconds + by.whole_seconds(),
            },
        });
    }

    /// Back to the machine's real time, running.
    pub fn reset(&self) {
        self.change(|_| Mode::SYSTEM);
    }

    fn change(&self, f: impl FnOnce(Mode) -> Mode) {
        let mut mode = self.mode.write().unwrap_or_else(|p| p.into_inner());
        *mode = f(*mode);
        self.publish(*mode);
    }
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
    fn a_published_clock_is_read_back_by_another_process_and_reset_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clock.json");
        let clock = Clock::system();
        clock.publish_to(path.clone());
        assert!(!path.exists(), "real time is the absence of the file");
        clock.advance(Duration::hours(2));
        let seen = Clock::load(&path).unwrap();
        assert_eq!(seen.mode(), Mode::Offset { seconds: 7200 });
        assert_eq!(seen.describe().unwrap(), "shifted +2h from real time");
        clock.set(OffsetDateTime::now_utc() - Duration::days(1));
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
}

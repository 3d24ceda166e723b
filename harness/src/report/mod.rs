//! Machine-readable reports of a `harness run`, for CI: JUnit XML
//! ([`junit`]) and JSON ([`json`]), built from the [`FileReport`]s of the
//! run. This module also owns where a report goes: each destination is
//! opened before the first scenario runs, so a report path in a missing
//! directory fails at once (exit 2) instead of after a long run.

pub mod json;
pub mod junit;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use crate::outcome::{ScenarioResult, StepOutcome};

/// One scenario file of the run: its steps, or why it could not run.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub file: PathBuf,
    /// The scenario's `name`.
    pub name: String,
    pub started: OffsetDateTime,
    /// `Err`: the scenario stopped before its steps were done (a sandbox
    /// that would not start, an identity that could not be made).
    pub run: Result<ScenarioResult, String>,
}

/// Counts over steps, as both report formats give them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tests: usize,
    pub failures: usize,
    /// Scenario files that could not run to the end.
    pub errors: usize,
    pub duration: Duration,
}

impl FileReport {
    pub fn counts(&self) -> Counts {
        match &self.run {
            Ok(result) => Counts {
                tests: result.steps.len(),
                failures: result
                    .steps
                    .iter()
                    .filter(|s| matches!(s.outcome, StepOutcome::Failed(_)))
                    .count(),
                errors: 0,
                duration: result.duration,
            },
            Err(_) => Counts {
                tests: 1,
                errors: 1,
                ..Counts::default()
            },
        }
    }

    /// A stable, space-free name for the file (JUnit's `classname`).
    pub fn stem(&self) -> String {
        self.file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.name.clone())
    }
}

pub fn totals(files: &[FileReport]) -> Counts {
    files
        .iter()
        .map(FileReport::counts)
        .fold(Counts::default(), |a, c| Counts {
            tests: a.tests + c.tests,
            failures: a.failures + c.failures,
            errors: a.errors + c.errors,
            duration: a.duration + c.duration,
        })
}

#[derive(Debug, thiserror::Error)]
#[error("cannot write the {format} report to {path}: {reason}")]
pub struct ReportError {
    format: &'static str,
    path: PathBuf,
    reason: String,
}

/// Where one report goes: a file created up front, or standard output
/// (`-`).
pub struct Destination {
    format: &'static str,
    path: PathBuf,
    file: Option<File>,
}

impl Destination {
    /// Creates (truncates) `path` now; `-` means standard output.
    pub fn open(format: &'static str, path: &Path) -> Result<Self, ReportError> {
        if path == Path::new("-") {
            return Ok(Self {
                format,
                path: path.to_path_buf(),
                file: None,
            });
        }
        let fail = |reason: String| ReportError {
            format,
            path: path.to_path_buf(),
            reason,
        };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if !parent.is_dir() {
            return Err(fail(format!(
                "directory {} does not exist (create it first: mkdir -p {})",
                parent.display(),
                parent.display()
            )));
        }
        let file = File::create(path).map_err(|e| fail(e.to_string()))?;
        Ok(Self {
            format,
            path: path.to_path_buf(),
            file: Some(file),
        })
    }

    pub fn is_stdout(&self) -> bool {
        self.file.is_none()
    }

    pub fn write(mut self, bytes: &[u8]) -> Result<(), ReportError> {
        let written = match &mut self.file {
            Some(file) => file.write_all(bytes).and_then(|()| file.sync_all()),
            None => {
                let mut stdout = io::stdout().lock();
                stdout.write_all(bytes).and_then(|()| stdout.flush())
            }
        };
        written.map_err(|e| ReportError {
            format: self.format,
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }
}

/// Seconds with millisecond precision, as both formats give durations.
pub(crate) fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

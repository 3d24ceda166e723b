//! What happened when a scenario ran: each step's outcome (with expected
//! vs got when it failed) and duration. The runner produces it; the
//! transcript, the JUnit and the JSON reports only read it.

use std::fmt;
use std::time::Duration;

/// The outcome of one scenario: what the runner counts and the summary
/// line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

/// Why a step did not go as expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The response differed from an expectation.
    Mismatch {
        expected: String,
        got: String,
        /// The start of the response body, when there was one to show.
        body: Option<String>,
    },
    /// The step could not be carried out as written (an unknown variable,
    /// a value to capture that is missing).
    Error(String),
}

impl Failure {
    pub fn mismatch(expected: impl Into<String>, got: impl Into<String>) -> Self {
        Self::Mismatch {
            expected: expected.into(),
            got: got.into(),
            body: None,
        }
    }

    /// The same failure, showing the start of the response body.
    pub fn with_body(self, excerpt: String) -> Self {
        match self {
            Self::Mismatch { expected, got, .. } => Self::Mismatch {
                expected,
                got,
                body: Some(excerpt),
            },
            error => error,
        }
    }

    /// One line: "expected status 200, got 401".
    pub fn headline(&self) -> String {
        match self {
            Self::Mismatch { expected, got, .. } => format!("expected {expected}, got {got}"),
            Self::Error(message) => message.clone(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if let Self::Mismatch { body: Some(body), .. } = self {
            write!(f, "\n     body: {body}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Every expectation held; the summary is e.g. "200 OK".
    Passed(String),
    Failed(Failure),
}

#[derive(Debug, Clone)]
pub struct StepResult {
    /// The step's narrative line (`say`).
    pub name: String,
    pub outcome: StepOutcome,
    pub duration: Duration,
}

/// Every step of one scenario, in order.
#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: String,
    pub steps: Vec<StepResult>,
    pub duration: Duration,
}

impl ScenarioResult {
    pub fn tally(&self) -> Tally {
        let failed = self
            .steps
            .iter()
            .filter(|s| matches!(s.outcome, StepOutcome::Failed(_)))
            .count();
        Tally {
            passed: self.steps.len() - failed,
            failed,
        }
    }
}

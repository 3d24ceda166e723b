//! The transcript: what a workshop audience reads, step by step, in the
//! style of the Curity example's client script ("Client is authenticating
//! with the Identity Server via mutual TLS ...").

use std::io::{self, Write};

use crate::outcome::{Failure, Tally};
use crate::scenario::Scenario;

pub fn header(out: &mut dyn Write, scenario: &Scenario) -> io::Result<()> {
    writeln!(out, "== {} ==", scenario.name)?;
    if let Some(description) = &scenario.description {
        writeln!(out, "{}", description.trim())?;
    }
    writeln!(out)
}

pub fn step(out: &mut dyn Write, n: usize, say: &str) -> io::Result<()> {
    writeln!(out, "{n}. {say}")
}

pub fn request(out: &mut dyn Write, method: &str, url: &str, identity: &str) -> io::Result<()> {
    writeln!(out, "   -> {method} {url}  [{identity}]")
}

/// A step that waits for the application's webhook receiver.
pub fn webhook(out: &mut dyn Write, event_type: &str) -> io::Result<()> {
    writeln!(out, "   <- webhook {event_type}  [the application's receiver]")
}

pub fn passed(out: &mut dyn Write, outcome: &str, done: Option<&str>) -> io::Result<()> {
    match done {
        Some(done) => writeln!(out, "   ✓ {outcome}: {done}"),
        None => writeln!(out, "   ✓ {outcome}"),
    }
}

pub fn retry(out: &mut dyn Write, status: reqwest::StatusCode, wait: std::time::Duration) -> io::Result<()> {
    writeln!(
        out,
        "   ↻ {status}, Retry-After: {} s: waiting, then retrying",
        wait.as_secs()
    )
}

pub fn failed(out: &mut dyn Write, why: &Failure) -> io::Result<()> {
    writeln!(out, "   ✗ {why}")
}

pub fn summary(out: &mut dyn Write, scenario: &Scenario, tally: Tally) -> io::Result<()> {
    let total = tally.passed + tally.failed;
    if tally.failed == 0 {
        writeln!(out, "\n{}: all {total} steps as expected.", scenario.name)
    } else {
        writeln!(
            out,
            "\n{}: {} of {total} steps did NOT go as expected.",
            scenario.name, tally.failed
        )
    }
}

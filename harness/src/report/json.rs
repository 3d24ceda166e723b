//! The JSON report (`harness run --json FILE`): per file and per step the
//! name, the outcome, expected and got on failure, and the duration, with
//! totals at the top — for scripts and dashboards that do not read JUnit.
//!
//! ```json
//! {"passed": false, "tests": 2, "failures": 1, "errors": 0, "duration_seconds": 0.04,
//!  "files": [{"file": "smoke.toml", "name": "smoke", "outcome": "failed", ...,
//!    "steps": [{"step": 1, "name": "...", "outcome": "failed", "message": "expected status 200, got 401",
//!               "expected": "status 200", "got": "401", "body": "{...}", "duration_seconds": 0.01}]}]}
//! ```

use serde_json::{Map, Value, json};

use super::{FileReport, seconds, totals};
use crate::outcome::{Failure, StepOutcome, StepResult};

pub fn render(files: &[FileReport]) -> String {
    let all = totals(files);
    let report = json!({
        "passed": all.failures == 0 && all.errors == 0,
        "tests": all.tests,
        "failures": all.failures,
        "errors": all.errors,
        "duration_seconds": seconds(all.duration),
        "files": files.iter().map(file).collect::<Vec<_>>(),
    });
    let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
    text.push('\n');
    text
}

fn file(report: &FileReport) -> Value {
    let counts = report.counts();
    let outcome = match (&report.run, counts.failures) {
        (Err(_), _) => "error",
        (Ok(_), 0) => "passed",
        (Ok(_), _) => "failed",
    };
    let mut out = Map::new();
    out.insert("file".into(), json!(report.file.display().to_string()));
    out.insert("name".into(), json!(report.name));
    out.insert("outcome".into(), json!(outcome));
    out.insert("tests".into(), json!(counts.tests));
    out.insert("failures".into(), json!(counts.failures));
    out.insert("duration_seconds".into(), json!(seconds(counts.duration)));
    match &report.run {
        Ok(result) => {
            let steps = result.steps.iter().enumerate().map(|(i, s)| step(i + 1, s));
            out.insert("steps".into(), Value::Array(steps.collect()));
        }
        Err(error) => {
            out.insert("error".into(), json!(error));
            out.insert("steps".into(), json!([]));
        }
    }
    Value::Object(out)
}

fn step(n: usize, result: &StepResult) -> Value {
    let mut out = Map::new();
    out.insert("step".into(), json!(n));
    out.insert("name".into(), json!(result.name));
    match &result.outcome {
        StepOutcome::Passed(summary) => {
            out.insert("outcome".into(), json!("passed"));
            out.insert("summary".into(), json!(summary));
        }
        StepOutcome::Failed(failure) => {
            out.insert("outcome".into(), json!("failed"));
            out.insert("message".into(), json!(failure.headline()));
            if let Failure::Mismatch { expected, got, body } = failure {
                out.insert("expected".into(), json!(expected));
                out.insert("got".into(), json!(got));
                out.insert("body".into(), json!(body));
            }
        }
    }
    out.insert("duration_seconds".into(), json!(seconds(result.duration)));
    Value::Object(out)
}

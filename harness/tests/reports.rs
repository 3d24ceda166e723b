//! `harness run --junit/--json`: the reports as CI reads them. The JUnit
//! file is parsed by a real consumer, the PyPI `junitparser` package
//! (scripts/test installs it), not by string matching: counts, names with
//! markup in them, failure messages with expected vs got.

use std::path::Path;
use std::process::{Command, Output};

use harness::Sandbox;
use serde_json::Value;

const PASSING: &str = r#"
name = "smoke"
[[step]]
say = "The authorization server is up"
host = "auth"
path = "/health"
expect = { status = 200 }
[[step]]
say = "Client lists the banks with its app token"
path = "/banks/v1"
headers = { lean-app-token = "${app_token}" }
expect = { status = 200 }
"#;

/// Deliberately wrong: the sandbox answers 401 without a token, and its
/// health document says "OK". Markup in the names tests the escaping.
const FAILING: &str = r#"
name = "wrong <expectations> & \"quotes\""
[[step]]
say = "Banks <without> a token & no 'luck'"
path = "/banks/v1"
expect = { status = 200 }
[[step]]
say = "Health says nope"
host = "auth"
path = "/health"
expect = { status = 200, json = { "/status" = "nope" } }
"#;

/// Reads a JUnit file with junitparser and returns what it saw, as JSON.
const READ_JUNIT: &str = r#"
import json, sys
from junitparser import JUnitXml, Failure
xml = JUnitXml.fromfile(sys.argv[1])
print(json.dumps({
    "tests": xml.tests, "failures": xml.failures, "errors": xml.errors,
    "suites": [{
        "name": s.name, "tests": s.tests, "failures": s.failures, "errors": s.errors, "time": s.time,
        "cases": [{
            "name": c.name, "classname": c.classname, "passed": c.is_passed, "time": c.time,
            "failures": [{"message": r.message, "text": r.text} for r in c.result if isinstance(r, Failure)],
        } for c in s],
    } for s in xml],
}))
"#;

fn harness(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness")).args(args).output().unwrap()
}

fn junitparser(file: &Path) -> Value {
    let out = Command::new("python3")
        .args(["-c", READ_JUNIT])
        .arg(file)
        .output()
        .expect("python3 must be installed (scripts/test installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'junitparser'"),
        "junitparser is missing: pip install junitparser (scripts/test installs it)"
    );
    assert!(
        out.status.success(),
        "junitparser could not read {}:\n{stderr}",
        file.display()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `harness run FILES --against <sandbox> --junit DIR/NAME.xml --json DIR/NAME.json`.
async fn run_reported(sandbox: &Sandbox, dir: &Path, name: &str, files: &[&str]) -> (Output, Value, Value) {
    let against = sandbox.info.state_dir.join("sandbox.json");
    let (junit, json) = (dir.join(format!("{name}.xml")), dir.join(format!("{name}.json")));
    let mut args: Vec<std::ffi::OsString> = vec!["run".into()];
    args.extend(files.iter().map(|f| dir.join(f).into_os_string()));
    for (flag, value) in [("--against", &against), ("--junit", &junit), ("--json", &json)] {
        args.extend([flag.into(), value.clone().into_os_string()]);
    }
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        harness(&args)
    })
    .await
    .unwrap();
    let report = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let parsed = tokio::task::spawn_blocking(move || junitparser(&junit)).await.unwrap();
    (out, parsed, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junit_and_json_reports_of_a_passing_and_a_failing_run() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smoke.toml"), PASSING).unwrap();
    std::fs::write(dir.path().join("wrong.toml"), FAILING).unwrap();

    let (out, junit, json) = run_reported(&sandbox, dir.path(), "pass", &["smoke.toml"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        (&junit["tests"], &junit["failures"], &junit["errors"]),
        (&2.into(), &0.into(), &0.into()),
        "{junit}"
    );
    let suite = &junit["suites"][0];
    assert_eq!(suite["name"], "smoke", "{junit}");
    assert_eq!(suite["cases"][0]["name"], "1. The authorization server is up");
    assert_eq!(suite["cases"][1]["classname"], "smoke");
    assert!(suite["cases"].as_array().unwrap().iter().all(|c| c["passed"] == true));
    assert_eq!((&json["passed"], &json["tests"]), (&true.into(), &2.into()), "{json}");

    let (out, junit, json) = run_reported(&sandbox, dir.path(), "fail", &["smoke.toml", "wrong.toml"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        (&junit["tests"], &junit["failures"], &junit["errors"]),
        (&4.into(), &2.into(), &0.into()),
        "{junit}"
    );
    let suite = &junit["suites"][1];
    assert_eq!(suite["name"], "wrong <expectations> & \"quotes\"", "{junit}");
    assert_eq!((&suite["tests"], &suite["failures"]), (&2.into(), &2.into()));
    let case = &suite["cases"][0];
    assert_eq!(case["name"], "1. Banks <without> a token & no 'luck'");
    assert_eq!(case["passed"], false);
    assert!(case["time"].as_f64().unwrap() > 0.0, "{case}");
    let failure = &case["failures"][0];
    assert_eq!(failure["message"], "expected status 200, got 401", "{case}");
    let text = failure["text"].as_str().unwrap();
    assert!(
        text.starts_with("expected: status 200\ngot: 401\nbody: {") && text.contains("UNAUTHORIZED"),
        "{text}"
    );
    assert_eq!(
        suite["cases"][1]["failures"][0]["message"],
        "expected /status = \"nope\", got \"OK\""
    );

    assert_eq!(
        (&json["passed"], &json["failures"]),
        (&false.into(), &2.into()),
        "{json}"
    );
    let wrong = &json["files"][1];
    assert_eq!(
        (&wrong["outcome"], &wrong["tests"]),
        (&"failed".into(), &2.into()),
        "{json}"
    );
    let step = &wrong["steps"][0];
    assert_eq!(
        (&step["expected"], &step["got"]),
        (&"status 200".into(), &"401".into()),
        "{step}"
    );
    assert_eq!(step["outcome"], "failed");
    assert!(step["duration_seconds"].as_f64().is_some(), "{step}");
    assert_eq!(json["files"][0]["steps"][1]["summary"], "200 OK");
    sandbox.stop().await.unwrap();
}

#[test]
fn a_report_path_in_a_missing_directory_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smoke.toml");
    std::fs::write(&file, PASSING).unwrap();
    let report = dir.path().join("no/such/dir/report.xml");
    let out = harness(&["run".as_ref(), file.as_ref(), "--junit".as_ref(), report.as_ref()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot write the JUnit report to")
            && stderr.contains("does not exist (create it first: mkdir -p"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "ran anyway: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

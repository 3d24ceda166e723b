//! `harness run --parallel` and `--app`: scenario files played at the same
//! time on one sandbox, each as an application of its own, with the
//! transcripts they have when they run alone; and one file played as a
//! named application of a running sandbox.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use harness::Sandbox;
use harness::admin::AdminApi;
use harness::parallel::Job;
use harness::scenario::Scenario;
use harness::shared;
use harness::suite::{self, Options};
use serde_json::Value;

fn shipped() -> Vec<Job> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| Job {
            scenario: Scenario::load(&file).unwrap(),
            file,
        })
        .collect()
}

/// The transcript as `scenarios.rs` snapshotted it for `stem`.
fn snapshot(stem: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/snapshots/{stem}.snap"));
    let text = std::fs::read_to_string(&path).unwrap();
    // An insta snapshot: a `---` header block, then the value.
    let body = text
        .splitn(3, "---\n")
        .nth(2)
        .unwrap_or_else(|| panic!("{}", path.display()));
    body.to_owned()
}

/// Free ports and ids as placeholders. Ids come from the sandbox's one
/// entropy stream, which files playing at the same time draw from in an
/// order that changes from run to run; alone, each file has a sandbox
/// seeded for it.
fn redacted(transcript: &str) -> String {
    let mut out = String::new();
    let mut rest = transcript;
    while let Some(at) = rest.find("127.0.0.1:") {
        let after = &rest[at + "127.0.0.1:".len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        out.push_str(&rest[..at]);
        out.push_str(if digits > 0 { "127.0.0.1:[port]" } else { "127.0.0.1:" });
        rest = &after[digits..];
    }
    out.push_str(rest);
    redact_uuids(&out).trim_end().to_owned()
}

fn redact_uuids(text: &str) -> String {
    let shape = |s: &[u8]| {
        s.len() == 36
            && s.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_hexdigit(),
            })
    };
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len() && shape(&bytes[i..i + 36]) {
            out.push_str("[id]");
            i += 36;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// The first line where the snapshot and the parallel transcript part.
fn first_difference(stem: &str, alone: &str, together: &str) -> String {
    let (a, t): (Vec<&str>, Vec<&str>) = (alone.lines().collect(), together.lines().collect());
    let at = (0..a.len().max(t.len())).find(|&i| a.get(i) != t.get(i)).unwrap_or(0);
    format!(
        "{stem}, line {}:\n  alone:       {}\n  in parallel: {}",
        at + 1,
        a.get(at).unwrap_or(&"(end)"),
        t.get(at).unwrap_or(&"(end)")
    )
}

#[test]
fn every_shipped_scenario_runs_in_parallel_on_one_sandbox_with_its_snapshot() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let jobs = shipped();
    let options = Options {
        parallel: true,
        ..Options::default()
    };
    let mut out = Vec::new();
    let played = rt.block_on(suite::run(&jobs, &options, &mut out));
    let out = String::from_utf8(out).unwrap();

    assert_eq!(played.len(), jobs.len());
    let mut apps = Vec::new();
    let mut differ = Vec::new();
    for (job, p) in jobs.iter().zip(&played) {
        let stem = job.file.file_stem().unwrap().to_string_lossy().into_owned();
        let result = p.report.run.as_ref().unwrap_or_else(|e| panic!("{e}\n{out}"));
        // Every file played on the one sandbox, as an application named after it.
        assert_eq!(
            p.app.as_deref(),
            Some(stem.as_str()),
            "{stem} did not play as its own application"
        );
        apps.push(stem.clone());
        if result.tally().failed > 0 {
            differ.push(format!("{stem} did not pass:\n{}", p.transcript));
            continue;
        }
        let (alone, together) = (redacted(&snapshot(&stem)), redacted(&p.transcript));
        if alone != together {
            differ.push(first_difference(&stem, &alone, &together));
        }
        // Printed whole, in file order.
        assert!(out.contains(&p.transcript), "{stem} not printed whole:\n{out}");
    }
    assert!(apps.len() >= 12, "too few shipped files: {apps:?}");
    assert!(differ.is_empty(), "transcripts differ:\n{}", differ.join("\n"));
    let positions: Vec<usize> = played.iter().map(|p| out.find(&p.transcript).unwrap()).collect();
    assert!(positions.is_sorted(), "transcripts out of file order:\n{out}");
    assert!(
        out.starts_with(&format!("--parallel: {} file(s) at once", apps.len())),
        "{out}"
    );
    // Moving their own application's time and faults for it, the provider
    // scenarios share nothing; rotating the signing key is everyone's.
    let sharing: Vec<String> = jobs
        .iter()
        .filter(|job| !shared::shared_by(&job.scenario).is_empty())
        .map(|job| job.file.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(sharing, ["provider-faults"]);
    let faults = out
        .lines()
        .find(|l| l.contains("provider-faults.toml: "))
        .unwrap_or_default();
    assert!(
        faults.ends_with("rotates the provider's signing key (every application's tokens)"),
        "{out}"
    );
}

fn harness(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harness")).args(args).output().unwrap()
}

/// A file that creates a customer and reads it back, as whichever
/// application it plays.
fn customer_file(dir: &Path, name: &str) -> PathBuf {
    let text = format!(
        r#"
[[step]]
say = "Client reads it back over mTLS"
host = "mtls"
identity = "app"
path = "/customers/v1/${{customer_id}}"
headers = {{ lean-app-token = "${{app_token}}" }}
expect = {{ status = 200, json = {{ "/app_user_id" = "{name}-user" }} }}
"#
    );
    scenario_file(dir, name, &text)
}

/// Writes `dir/NAME.toml`: a scenario named `name` whose first step creates
/// a customer (`NAME-user`, captured as `customer_id`), then `steps`.
fn scenario_file(dir: &Path, name: &str, steps: &str) -> PathBuf {
    let file = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"
name = "{name}"
[[step]]
say = "Client creates a customer"
path = "/customers/v1"
headers = {{ lean-app-token = "${{app_token}}" }}
json = {{ app_user_id = "{name}-user" }}
expect = {{ status = 200 }}
capture = {{ customer_id = "/customer_id" }}
{steps}"#
    );
    std::fs::write(&file, text).unwrap();
    file
}

/// The JSON report without what varies between runs (durations).
fn structure(report: &Path) -> Value {
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("duration_seconds");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_against_a_running_sandbox_reports_as_a_sequential_run_and_deletes_its_apps() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let against = sandbox.info.state_dir.join("sandbox.json");
    let files = [customer_file(dir.path(), "alpha"), customer_file(dir.path(), "beta")];
    let run = |parallel: bool, report: PathBuf| {
        let mut args: Vec<std::ffi::OsString> = files.iter().map(|f| f.clone().into_os_string()).collect();
        args.extend(["--json".into(), report.into()]);
        // One after another each file has a sandbox of its own (a customer's
        // app_user_id is taken once per sandbox); at once, they share one.
        if parallel {
            args.extend(["--parallel".into(), "--against".into(), against.clone().into()]);
        }
        let mut all: Vec<std::ffi::OsString> = vec!["run".into()];
        all.extend(args);
        tokio::task::spawn_blocking(move || {
            let args: Vec<&std::ffi::OsStr> = all.iter().map(|a| a.as_os_str()).collect();
            harness(&args)
        })
    };
    let (one_by_one, at_once) = (dir.path().join("sequential.json"), dir.path().join("parallel.json"));
    let sequential = run(false, one_by_one.clone()).await.unwrap();
    assert_eq!(
        sequential.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sequential.stdout)
    );
    let parallel = run(true, at_once.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&parallel.stdout);
    assert_eq!(
        parallel.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&parallel.stderr)
    );
    assert_eq!(structure(&at_once), structure(&one_by_one));

    // Whole transcripts, in file order.
    let (alpha, alpha_end, beta) = (
        stdout.find("== alpha ==").unwrap(),
        stdout.find("alpha: all 2 steps as expected.").unwrap(),
        stdout.find("== beta ==").unwrap(),
    );
    assert!(alpha < alpha_end && alpha_end < beta, "{stdout}");

    let admin = AdminApi::connect(&sandbox.info).await.unwrap();
    assert_eq!(
        admin.app_names().await.unwrap(),
        ["my_app"],
        "the run's applications are deleted"
    );
    sandbox.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_plays_as_that_application_and_an_unknown_one_is_named() {
    let sandbox = Sandbox::start().await.unwrap();
    let admin = AdminApi::connect(&sandbox.info).await.unwrap();
    let alice = admin.create_app("alice").await.unwrap();
    assert_ne!(alice.app_token, sandbox.info.app_token);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("whoami.toml");
    std::fs::write(
        &file,
        r#"
name = "whoami"
[[step]]
say = "The operator gets an admin token"
host = "auth"
path = "/oauth2/token"
form = { grant_type = "client_credentials", client_id = "testing", client_secret = "testing", scope = "admin" }
expect = { status = 200 }
capture = { admin_token = "/access_token" }
[[step]]
say = "The sandbox's record of alice has the app token this run plays with"
host = "auth"
path = "/admin/apps/alice"
headers = { Authorization = "Bearer ${admin_token}" }
expect = { status = 200, json = { "/data/app_token" = "${app_token}", "/data/client_id" = "${client_id}" } }
[[step]]
say = "Alice's certificate and app token open the mTLS host"
host = "mtls"
identity = "app"
path = "/banks/v1"
headers = { lean-app-token = "${app_token}" }
expect = { status = 200 }
"#,
    )
    .unwrap();
    let against = sandbox.info.state_dir.join("sandbox.json");
    let args = |app: &str| -> Vec<std::ffi::OsString> {
        vec![
            "run".into(),
            file.clone().into(),
            "--against".into(),
            against.clone().into(),
            "--app".into(),
            app.into(),
        ]
    };
    let play = |args: Vec<std::ffi::OsString>| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
            harness(&args)
        })
    };
    let out = play(args("alice")).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("whoami: all 3 steps as expected."), "{stdout}");

    let out = play(args("bob")).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "no application bob in {}; create it with `mtls-sandbox apps create bob`",
            sandbox.info.state_dir.display()
        )),
        "{stderr}"
    );
    sandbox.stop().await.unwrap();
}

/// A file that links a customer of its own and waits for the entity's
/// `entity.created` webhook, which names that customer.
fn webhook_file(dir: &Path, name: &str) -> Job {
    let steps = r#"
[[step]]
say = "The operator gets an admin token"
host = "auth"
path = "/oauth2/token"
form = { grant_type = "client_credentials", client_id = "testing", client_secret = "testing", scope = "admin" }
expect = { status = 200 }
capture = { admin_token = "/access_token" }
[[step]]
say = "The end user links a bank"
host = "auth"
path = "/admin/customers/${customer_id}/link"
headers = { Authorization = "Bearer ${admin_token}" }
json = { bank_identifier = "LEANMB1" }
expect = { status = 201 }
[[step]]
say = "This application's receiver hears of its own entity"
webhook = "entity.created"
expect = { json = { "/payload/customer_id" = "${customer_id}" } }
[[step]]
say = "... then of its own payment source"
webhook = "payment_source.created"
expect = { json = { "/payload/customer_id" = "${customer_id}" } }
"#;
    let file = scenario_file(dir, name, steps);
    Job {
        scenario: Scenario::load(&file).unwrap(),
        file,
    }
}

#[test]
fn files_that_wait_for_webhooks_run_in_the_batch_each_hearing_only_its_own_applications_events() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jobs: Vec<Job> = ["hooked-a", "hooked-b", "hooked-c"]
        .iter()
        .map(|name| webhook_file(dir.path(), name))
        .collect();
    let options = Options {
        parallel: true,
        ..Options::default()
    };
    let mut out = Vec::new();
    let played = rt.block_on(suite::run(&jobs, &options, &mut out));
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("--parallel: 3 file(s) at once"), "{out}");
    for (job, p) in jobs.iter().zip(&played) {
        let stem = job.file.file_stem().unwrap().to_string_lossy();
        assert_eq!(
            p.app.as_deref(),
            Some(&*stem),
            "{stem} ran in the batch as its own application"
        );
        let result = p.report.run.as_ref().unwrap_or_else(|e| panic!("{e}\n{out}"));
        let tally = result.tally();
        assert_eq!((tally.passed, tally.failed), (5, 0), "{stem}:\n{}", p.transcript);
    }
}

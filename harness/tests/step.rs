//! `harness run --step`: each request and response shown in full, a pause
//! before each request that Enter (a line on stdin) ends, and no pause at
//! all once stdin is closed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const TWO_REQUESTS: &str = r#"
name = "step through"
[[step]]
say = "Client lists the banks"
path = "/banks/v1"
headers = { lean-app-token = "${app_token}" }
expect = { status = 200 }
[[step]]
say = "Client creates a customer"
path = "/customers/v1"
headers = { lean-app-token = "${app_token}" }
json = { app_user_id = "projector-1" }
expect = { status = 200 }
"#;

/// The lines printed up to and including the next one containing `until`.
fn lines_until(lines: &mpsc::Receiver<String>, until: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let last = line.contains(until);
                seen.push(line);
                if last {
                    return seen;
                }
            }
            Err(e) => panic!("no line with {until:?} ({e}); got:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn step_shows_each_exchange_in_full_and_waits_for_enter_until_stdin_closes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("step.toml");
    std::fs::write(&file, TWO_REQUESTS).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .arg(&file)
        .arg("--step")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });

    // The first request in full, then the pause.
    let first = lines_until(&lines, "Enter sends it").join("\n");
    assert!(first.contains("   -> GET https://127.0.0.1:"), "{first}");
    assert!(
        first.contains("      GET https://127.0.0.1:") && first.contains("/banks/v1"),
        "{first}"
    );
    assert!(first.contains("      lean-app-token: "), "{first}");
    assert!(
        lines.recv_timeout(Duration::from_millis(700)).is_err(),
        "it went on without Enter"
    );

    // Enter: the response in full, then the second request and its pause.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
    let second = lines_until(&lines, "Enter sends it").join("\n");
    assert!(second.contains("   <- 200 OK"), "{second}");
    assert!(second.contains("      content-type: application/json"), "{second}");
    assert!(
        second.contains("\"identifier\": \"LEANMB1\""),
        "pretty-printed body: {second}"
    );
    assert!(second.contains("      POST https://127.0.0.1:"), "{second}");
    assert!(
        second.contains("\"app_user_id\": \"projector-1\""),
        "request body: {second}"
    );

    // Closing stdin: no more waiting, the run finishes.
    drop(stdin);
    let rest: Vec<String> = lines.iter().collect();
    let rest = rest.join("\n");
    reader.join().unwrap();
    let status = child.wait().unwrap();
    assert!(rest.contains("standard input is closed: no more pauses"), "{rest}");
    assert!(rest.contains("\"customer_id\""), "the response in full: {rest}");
    assert!(rest.contains("step through: all 2 steps as expected."), "{rest}");
    assert_eq!(status.code(), Some(0), "{rest}");
}

#[test]
fn step_with_stdin_closed_from_the_start_never_waits() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("step.toml");
    std::fs::write(&file, TWO_REQUESTS).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("run")
        .arg(&file)
        .arg("--step")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout.matches("standard input is closed").count(), 1, "{stdout}");
    assert_eq!(stdout.matches("   <- 200 OK").count(), 2, "{stdout}");
}

//! The `harness` binary: exit codes and messages.

use std::process::Command;

use harness::Sandbox;

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harness"))
}

/// `harness run FILE --against <the sandbox's sandbox.json>`.
async fn run_against(file: std::path::PathBuf, sandbox: &Sandbox) -> std::process::Output {
    let against = sandbox.info.state_dir.join("sandbox.json");
    tokio::task::spawn_blocking(move || {
        harness()
            .arg("run")
            .arg(file)
            .arg("--against")
            .arg(against)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[test]
fn a_bad_scenario_file_exits_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(
        &file,
        "name = \"x\"\n[[step]]\nsay = \"hi\"\npath = \"/health\"\nexpekt = { status = 200 }\n",
    )
    .unwrap();
    let out = harness().arg("run").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml:5") && err.contains("expekt"), "{err}");
}

#[test]
fn a_directory_stands_for_its_scenario_files_and_an_empty_one_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = harness().arg("run").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no scenario files (*.toml)"), "{err}");

    // Two files, the second broken: both are read, in name order.
    std::fs::write(
        dir.path().join("a.toml"),
        "name = \"a\"\n[[step]]\nsay = \"hi\"\npath = \"/health\"\nexpect = { status = 200 }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.toml"),
        "name = \"b\"\n[[step]]\nsay = \"hi\"\nexpekt = 1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a scenario").unwrap();
    let out = harness().arg("run").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("b.toml") && err.contains("expekt"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_a_running_sandbox_failures_show_expected_and_got_and_exit_1() {
    let sandbox = Sandbox::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wrong.toml");
    std::fs::write(
        &file,
        "name = \"wrong\"\n[[step]]\nsay = \"banks without a token\"\npath = \"/banks/v1\"\nexpect = { status = 200 }\n\
         [[step]]\nsay = \"health\"\nhost = \"auth\"\npath = \"/health\"\nexpect = { status = 200 }\n",
    )
    .unwrap();
    let out = run_against(file, &sandbox).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("✗ expected status 200, got 401"), "{stdout}");
    assert!(stdout.contains("\"status\":\"UNAUTHORIZED\""), "{stdout}");
    assert!(stdout.contains("1 of 2 steps did NOT go as expected"), "{stdout}");

    // A gateway scenario needs the harness's own sandbox (and echo API).
    let gateway = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/scenarios/curity-gateway.toml");
    let out = run_against(gateway, &sandbox).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("[[gateway]]") && stderr.contains("without --against"),
        "{stderr}"
    );
}

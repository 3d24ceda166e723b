//! The numbered workshop scripts in scripts/, run as a user would.

use std::process::Command;

use crate::util::bin;

#[test]
fn walkthrough_scripts_run_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let run = |script: &str| {
        let out = Command::new("bash")
            .arg(root.join("scripts").join(script))
            .env("MTLS_SANDBOX", bin())
            .env("MTLS_SANDBOX_STATE_DIR", tmp.path().join("state"))
            .env("SANDBOX_UP_ARGS", "--sandbox-port 0 --mtls-port 0 --auth-port 0")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{script} failed:\n{text}");
        text
    };
    run("1-create-certs.sh");
    run("2-start.sh");
    let client = std::panic::catch_unwind(|| run("3-run-test-client.sh"));
    run("4-stop.sh");
    let client = client.unwrap();
    for line in [
        "Client successfully listed the banks",
        "Client successfully created the API transaction using mutual TLS",
        "The handshake was refused",
        "the client sent no client certificate",
    ] {
        assert!(client.contains(line), "missing {line:?} in:\n{client}");
    }
}

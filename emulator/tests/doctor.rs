//! `mtls-sandbox doctor` end to end: the sandbox's own files, a running or
//! absent sandbox, broken files. The verdict per client family and the
//! exit code are what a user (or CI) relies on.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;

use crate::util::{Emulator, bin};

fn doctor(state_dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let out: Output = Command::new(bin())
        .env_remove("MTLS_SANDBOX_STATE_DIR")
        .arg("doctor")
        .arg("--state-dir")
        .arg(state_dir)
        .args(extra)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), report)
}

/// The report line starting with `mark` and containing `needle`.
fn line<'a>(report: &'a str, mark: &str, needle: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.starts_with(mark) && l.contains(needle))
        .unwrap_or_else(|| panic!("no \"{mark} …{needle}…\" line in:\n{report}"))
}

#[test]
fn the_sandbox_files_pass_with_a_verdict_and_a_handshake_per_client_family() {
    let emu = Emulator::start(&[]);
    let (code, report) = doctor(&emu.state_dir, &[]);
    assert_eq!(code, Some(0), "{report}");
    line(
        &report,
        "✓",
        "OpenSSL-based clients (curl, Python, Node, Ruby) with --cacert lean_public_cert_chain.pem: will work",
    );
    line(
        &report,
        "!",
        "Go / Java / rustls clients: will be refused by the mtls host (TLS alert UnknownCA)",
    );
    let intermediate = emu.file("intermediate_ca.pem");
    assert!(
        report.contains(&format!(
            "fix: append the intermediate and give those clients the result: cat {} {} > my_app_fullchain.pem",
            emu.file("my_app_cert.crt").display(),
            intermediate.display()
        )),
        "{report}"
    );
    // Both chains were really tried against the running sandbox.
    let url = &emu.info.mtls_url;
    line(
        &report,
        "✓",
        &format!(
            "{url} with leaf + intermediate, as OpenSSL-based clients (curl, Python, Node, Ruby) send it: handshake accepted, GET /health answered 200"
        ),
    );
    let strict = line(&report, "!", &format!("{url} with "));
    assert!(
        strict.contains("as Go / Java / rustls clients send it: refused as predicted above")
            && strict.contains("TLS alert UnknownCA"),
        "{report}"
    );
    assert!(report.contains("No problems found; 2 warning(s) above"), "{report}");

    // The fix the warning gives works: one chain, accepted, nothing to warn about.
    let full = emu.state_dir.with_extension("full.pem");
    let fix = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cat '{}' '{}' > '{}'",
            emu.file("my_app_cert.crt").display(),
            intermediate.display(),
            full.display()
        ))
        .status()
        .unwrap();
    assert!(fix.success());
    let ca = emu.file("lean_public_cert_chain.pem");
    let (code, report) = doctor(
        &emu.state_dir,
        &["--cert", full.to_str().unwrap(), "--ca", ca.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{report}");
    assert!(!report.lines().any(|l| l.starts_with('!')), "{report}");
    line(
        &report,
        "✓",
        "(every client family sends the same chain): handshake accepted, GET /health answered 200",
    );
    assert!(report.contains("\nNo problems found.\n"), "{report}");
}

#[test]
fn without_a_running_sandbox_the_handshake_is_skipped_and_said_so() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let created = Command::new(bin())
        .arg("certs")
        .arg("--state-dir")
        .arg(&state)
        .output()
        .unwrap();
    assert!(created.status.success());
    let (code, report) = doctor(&state, &[]);
    assert_eq!(code, Some(0), "{report}");
    let skipped = line(&report, "–", "handshake check skipped: no sandbox is running on");
    assert!(
        skipped.contains("no --url was given")
            && skipped.contains(&format!("mtls-sandbox up --state-dir {}", state.display())),
        "{report}"
    );
    assert!(!report.contains("handshake accepted"), "{report}");
}

#[test]
fn a_truncated_certificate_is_called_cut_off_and_skips_the_handshake() {
    let emu = Emulator::start(&[]);
    let pem = emu.read("my_app_cert.crt");
    let cut = emu.state_dir.with_extension("cut.crt");
    std::fs::write(&cut, &pem[..pem.len() / 2]).unwrap();
    let (code, report) = doctor(&emu.state_dir, &["--cert", cut.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{report}");
    let broken = line(&report, "✗", "is not valid PEM: cut off (no END line)");
    assert!(
        broken.contains("-----END CERTIFICATE-----") && !broken.contains("[45, 45"),
        "{report}"
    );
    line(
        &report,
        "–",
        &format!("handshake check skipped: {} holds no usable certificate", cut.display()),
    );
    assert!(!report.contains("handshake accepted"), "{report}");
    assert!(report.contains("1 problem(s) found"), "{report}");
}

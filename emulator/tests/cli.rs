//! The binary's command-line behaviour: exit codes, messages, `--json`.

use assert_cmd::Command;

use crate::util::{Emulator, bin};

fn cmd() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_remove("MTLS_SANDBOX_STATE_DIR");
    cmd
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_explains_the_commands_and_bad_usage_exits_2() {
    let out = cmd().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "up",
        "certs",
        "env",
        "wait",
        "--state-dir",
        "lean_public_cert_chain.pem",
    ] {
        assert!(help.contains(word), "help lacks {word}:\n{help}");
    }
    let out = cmd().args(["up", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = cmd().args(["up", "--mtls-port", "seventy"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("seventy"));
}

#[test]
fn certs_creates_once_then_reuses_and_prints_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let out = cmd().args(["certs", "--state-dir"]).arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("Created"), "{text}");
    assert!(text.contains(&dir.join("my_app_cert.crt").display().to_string()));
    let out = cmd().args(["certs", "--state-dir"]).arg(&dir).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Reusing"));
}

#[test]
fn damaged_state_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let key_path = dir.join("my_app_private_key.pem");
    cmd().args(["certs", "--state-dir"]).arg(&dir).assert().success();
    let good_key = std::fs::read(&key_path).unwrap();
    let certs = |dir: &std::path::Path| cmd().args(["certs", "--state-dir"]).arg(dir).output().unwrap();

    std::fs::write(&key_path, "not a key").unwrap();
    let out = cmd()
        .args(crate::util::UP_ON_FREE_PORTS)
        .arg("--state-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("my_app_private_key.pem") && err.contains("damaged"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&key_path).unwrap(),
        "not a key",
        "never regenerated silently"
    );

    // A key from another sandbox parses, but is not this certificate's key.
    let other = tmp.path().join("other");
    cmd().args(["certs", "--state-dir"]).arg(&other).assert().success();
    std::fs::copy(other.join("my_app_private_key.pem"), &key_path).unwrap();
    let out = certs(&dir);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not the private key of my_app_cert.crt"),
        "{}",
        stderr(&out)
    );

    std::fs::write(&key_path, good_key).unwrap();
    std::fs::remove_file(dir.join("lean_public_cert_chain.pem")).unwrap();
    let out = certs(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("lean_public_cert_chain.pem") && err.contains("missing"),
        "{err}"
    );
    assert!(
        !dir.join("lean_public_cert_chain.pem").exists(),
        "never regenerated silently"
    );
}

#[test]
fn invalid_config_file_is_a_usage_error_naming_file_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("sandbox.toml");
    std::fs::write(&config, "[server]\nmtls_prot = 1\n").unwrap();
    let out = cmd()
        .args(["up", "--state-dir"])
        .arg(tmp.path().join("s"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("sandbox.toml") && err.contains("mtls_prot"), "{err}");
}

#[test]
fn busy_port_names_the_host_and_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let tmp = tempfile::tempdir().unwrap();
    // A state made already: the port, not the state, is what fails.
    crate::util::copy_template_to(&tmp.path().join("s"));
    let out = cmd()
        .args([
            "up",
            "--sandbox-port",
            "0",
            "--auth-port",
            "0",
            "--mtls-port",
            &port,
            "--state-dir",
        ])
        .arg(tmp.path().join("s"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&port) && err.contains("--mtls-port 0"), "{err}");
}

#[test]
fn up_json_prints_the_sandbox_json_document() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    crate::util::copy_template_to(&dir);
    let mut child = std::process::Command::new(bin())
        .args([
            "up",
            "--json",
            "--sandbox-port",
            "0",
            "--mtls-port",
            "0",
            "--auth-port",
            "0",
            "--state-dir",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0 {
        printed.push_str(&line);
        if line.starts_with('}') {
            break;
        }
        line.clear();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let doc: serde_json::Value = serde_json::from_str(&printed).unwrap();
    for key in [
        "sandbox_url",
        "mtls_url",
        "auth_url",
        "token_endpoint",
        "mtls_token_endpoint",
        "app_token",
        "client_id",
        "client_secret",
        "ca_chain",
        "client_cert",
        "client_key",
        "client_p12",
        "p12_password",
        "pid",
    ] {
        assert!(doc.get(key).is_some(), "missing {key} in {doc}");
    }
    assert!(doc["ca_chain"].as_str().unwrap().starts_with('/'), "paths are absolute");
}

#[test]
fn env_and_wait_describe_a_running_sandbox() {
    let emu = Emulator::start(&[]);
    let out = cmd()
        .args(["wait", "--timeout", "5s", "--state-dir"])
        .arg(&emu.state_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cmd().args(["env", "--state-dir"]).arg(&emu.state_dir).output().unwrap();
    let exports = String::from_utf8_lossy(&out.stdout);
    let ca = emu.file("lean_public_cert_chain.pem").display().to_string();
    let bundle = emu.file("trust_bundle.pem").display().to_string();
    for var in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"] {
        assert!(exports.contains(&format!("export {var}={bundle}")), "{exports}");
    }
    assert!(
        exports.contains(&format!("export NODE_EXTRA_CA_CERTS={ca}")),
        "{exports}"
    );
    assert!(
        exports.contains(&format!("export PID={}", emu.info.pid)),
        "a running sandbox's pid: {exports}"
    );
    assert!(
        exports.contains(&format!("export MTLS_URL={}", emu.info.mtls_url)),
        "{exports}"
    );
}

#[test]
fn wait_without_a_sandbox_times_out_with_advice() {
    let tmp = tempfile::tempdir().unwrap();
    let out = cmd()
        .args(["wait", "--timeout", "200ms", "--state-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("mtls-sandbox up --state-dir"));
}

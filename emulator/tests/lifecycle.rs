//! Start, readiness files, permissions and graceful shutdown.

use std::os::unix::fs::PermissionsExt;

use x509_parser::prelude::{FromDer, X509Certificate};

use crate::util::Emulator;

#[test]
fn sigterm_stops_cleanly_and_removes_the_readiness_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let emu = Emulator::start_in(&dir, &[]);
    assert!(dir.join("sandbox.json").exists() && dir.join("sandbox.env").exists());
    let status = emu.stop();
    assert!(status.success(), "exit status {status}");
    assert!(!dir.join("sandbox.json").exists());
    assert!(!dir.join("sandbox.env").exists());
    assert!(dir.join("my_app_cert.crt").exists(), "state itself is kept");
}

/// A SIGTERM sent the moment the sandbox is ready stops it gracefully: the
/// listeners are in place before `sandbox.json` is written (one sent in
/// between used to be lost under load, leaving the sandbox running). The
/// moment a sandbox is ready, its SIGTERM handler is installed already.
#[test]
fn a_sigterm_at_the_moment_of_readiness_stops_the_sandbox() {
    for _ in 0..3 {
        let emu = Emulator::start(&[]);
        let status = std::fs::read_to_string(format!("/proc/{}/status", emu.info.pid)).unwrap();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .map(|mask| u64::from_str_radix(mask.trim(), 16).unwrap())
            .unwrap();
        assert_ne!(
            caught & (1 << (15 - 1)),
            0,
            "SIGTERM is not caught yet at readiness: {status}"
        );
        let status = emu.stop();
        assert!(status.success(), "exit status {status}");
    }
}

/// On a first start: the modes are the ones the sandbox creates its files with.
#[test]
fn secrets_are_owner_only_and_env_file_matches_json() {
    let emu = Emulator::start_fresh(&[]);
    for name in [
        "my_app_private_key.pem",
        "root_ca_key.pem",
        "intermediate_ca_key.pem",
        "server_key.pem",
        "state.json",
        "my_app.p12",
        "sandbox.json",
        "sandbox.env",
        "records.db",
    ] {
        let mode = std::fs::metadata(emu.file(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is {mode:o}");
    }
    let env = emu.read("sandbox.env");
    assert!(env.contains(&format!("MTLS_URL={}\n", emu.info.mtls_url)), "{env}");
    assert!(env.contains(&format!("APP_TOKEN={}\n", emu.info.app_token)), "{env}");
}

#[test]
fn public_host_goes_into_urls_and_the_server_certificate() {
    let emu = Emulator::start(&["--public-host", "sandbox.ci.internal", "--san", "extra.example"]);
    assert!(
        emu.info.mtls_url.starts_with("https://sandbox.ci.internal:"),
        "{}",
        emu.info.mtls_url
    );
    let pem = emu.read("server_cert.pem");
    let der = mtls_sandbox::pki::first_cert_der(&pem, "server").unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let sans = cert
        .subject_alternative_name()
        .unwrap()
        .unwrap()
        .value
        .general_names
        .clone();
    let names: Vec<String> = sans.iter().map(|n| n.to_string()).collect();
    for expected in [
        "sandbox.ci.internal",
        "extra.example",
        "localhost",
        "auth.sandbox.localhost",
    ] {
        assert!(
            names.iter().any(|n| n.contains(expected)),
            "{expected} not in {names:?}"
        );
    }
}

#[test]
fn sslkeylogfile_records_tls_secrets_for_wireshark() {
    let tmp = tempfile::tempdir().unwrap();
    let keylog = tmp.path().join("keys.log");
    let mut child = std::process::Command::new(crate::util::bin())
        .args(crate::util::UP_ON_FREE_PORTS)
        .arg("--state-dir")
        .arg(tmp.path().join("s"))
        .env("SSLKEYLOGFILE", &keylog)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let json = tmp.path().join("s/sandbox.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !json.exists() {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let info = mtls_sandbox::info::SandboxInfo::read(&json).unwrap();
    let (code, _) = crate::util::curl(&[
        "--cacert",
        info.ca_chain.to_str().unwrap(),
        &format!("{}/health", info.sandbox_url),
    ]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(code, 0);
    let log = std::fs::read_to_string(&keylog).unwrap();
    assert!(
        log.contains("CLIENT_HANDSHAKE_TRAFFIC_SECRET") || log.contains("CLIENT_RANDOM"),
        "{log}"
    );
}

/// #18 item 7: `--bind 0.0.0.0` handed the built-in testing/testing admin
/// client to everyone on the network.
#[test]
fn a_network_bind_with_the_built_in_admin_client_needs_an_explicit_opt_in() {
    let stderr = crate::util::up_usage_error(&["--bind", "0.0.0.0"]);
    assert!(
        stderr.contains("testing/testing") && stderr.contains("--allow-shared-admin"),
        "{stderr}"
    );

    let emu = Emulator::start(&["--bind", "0.0.0.0", "--allow-shared-admin"]);
    assert!(emu.info.shared_admin, "sandbox.json says so");
    emu.log_line("reachable from the network");
    crate::util::admin_token(&emu);

    let without_admin = tempfile::tempdir().unwrap();
    let config = without_admin.path().join("c.toml");
    std::fs::write(&config, "clients = []\n").unwrap();
    let emu = Emulator::start(&["--bind", "0.0.0.0", "--config", config.to_str().unwrap()]);
    assert!(!emu.info.shared_admin, "no built-in admin client, nothing to refuse");
}

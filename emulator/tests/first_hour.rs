//! What a new user meets in the first hour (issue 13): a second `up`,
//! `status`/`down`, commands run outside the project, one clock across
//! commands, `env` in a real shell, `revoke` in force when it returns, both
//! loopback addresses, closed pipes, colour, and discoverable client
//! authentication.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::util::*;

fn run(dir: &Path, args: &[&str]) -> Output {
    assert_cmd::Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("MTLS_SANDBOX_STATE_DIR")
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

/// `args` against the emulator's state dir.
fn on(emu: &Emulator, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    let dir = emu.state_dir.display().to_string();
    all.extend(["--state-dir", dir.as_str()]);
    run(Path::new("/"), &all)
}

/// `args` against the emulator's state dir, succeeding with JSON on stdout.
fn json_on(emu: &Emulator, args: &[&str]) -> Value {
    let out = ok(&on(emu, args));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn a_second_up_is_refused_at_once_and_damages_nothing() {
    let emu = Emulator::start(&[]);
    let before = emu.read("sandbox.json");
    let out = on(
        &emu,
        &["up", "--sandbox-port", "0", "--mtls-port", "0", "--auth-port", "0"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("already running")
            && err.contains(&format!("pid {}", emu.info.pid))
            && err.contains(&emu.info.mtls_url),
        "{err}"
    );
    assert_eq!(
        emu.read("sandbox.json"),
        before,
        "the running sandbox's sandbox.json is untouched"
    );
    assert!(emu.file("sandbox.env").exists());
    ok(&on(&emu, &["wait", "--timeout", "2s"]));
    let (status, _, _) = send(plain(&emu).get(format!("{}/health", emu.info.auth_url)));
    assert_eq!(status, 200);
}

#[test]
fn status_reports_and_down_stops_and_frees_the_ports() {
    let emu = Emulator::start(&[]);
    let status: Value = json_on(&emu, &["status", "--json"]);
    assert_eq!(status["running"], true);
    assert_eq!(status["pid"], emu.info.pid);
    assert_eq!(status["mtls_url"], emu.info.mtls_url.as_str());
    assert!(status["uptime_seconds"].as_u64().is_some(), "{status}");
    let human = ok(&on(&emu, &["status"]));
    assert!(
        human.contains(&emu.info.sandbox_url) && human.contains("portal"),
        "{human}"
    );

    let down = ok(&on(&emu, &["down"]));
    assert!(down.contains("ports are free"), "{down}");
    for url in [&emu.info.sandbox_url, &emu.info.mtls_url, &emu.info.auth_url] {
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "{url} still accepts"
        );
    }
    assert!(!emu.file("sandbox.json").exists());
    let after = on(&emu, &["status"]);
    assert_eq!(after.status.code(), Some(3));
    assert!(text(&after.stdout).contains("No sandbox is running"));
    ok(&on(&emu, &["down"])); // nothing to stop is fine
}

#[test]
fn commands_outside_a_project_create_nothing_and_say_what_to_run() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["token"][..],
        &["env"],
        &["status"],
        &["revoke"],
        &["doctor"],
        &["clients", "list"],
        &["secrets", "create", "x"],
        &["faults", "list"],
        &["clock", "show"],
    ] {
        let out = run(tmp.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains("no sandbox state found") && err.contains("mtls-sandbox up") && err.contains("--state-dir"),
            "{args:?}: {err}"
        );
        assert!(!tmp.path().join(".sandbox").exists(), "{args:?} created a state dir");
    }
    let missing = run(tmp.path(), &["token", "--state-dir", "elsewhere"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("no sandbox state in elsewhere"));
    assert!(!tmp.path().join("elsewhere").exists());

    // `certs` creates it; a subdirectory finds it as git finds .git.
    ok(&run(tmp.path(), &["certs"]));
    let deep = tmp.path().join("src/module");
    std::fs::create_dir_all(&deep).unwrap();
    let token = ok(&run(&deep, &["token"]));
    assert_eq!(token.trim().split('.').count(), 3, "a JWT: {token}");
    assert!(!deep.join(".sandbox").exists());
}

#[test]
fn tokens_and_admin_calls_follow_the_running_sandbox_clock() {
    let emu = Emulator::start(&[]);
    let moved = ok(&on(&emu, &["clock", "advance", "2h"]));
    assert!(moved.contains("shifted +2h from real time"), "{moved}");
    let token = ok(&on(&emu, &["token", "--scope", "api"]));
    let iat = jwt_claims(token.trim())["iat"].as_i64().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (iat - now - 7200).abs() < 60,
        "minted by the sandbox clock: iat {iat}, now {now}"
    );
    let (status, body, _) = send(
        plain(&emu)
            .get(format!("{}/banks/v1", emu.info.sandbox_url))
            .bearer_auth(token.trim()),
    );
    assert_eq!(status, 200, "the server accepts the CLI's token: {body}");
    ok(&on(&emu, &["faults", "list"]));

    let json: Value = json_on(&emu, &["clock", "reset", "--json"]);
    assert_eq!(json["data"]["real_time"], true, "{json}");
    assert!(!emu.file("clock.json").exists());
    let bad = on(&emu, &["clock", "advance", "soon"]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
}

#[test]
fn a_sandbox_started_with_a_shifted_clock_accepts_cli_tokens() {
    let emu = Emulator::start(&["--clock", "+3h"]);
    let token = ok(&on(&emu, &["token"]));
    let (status, body, _) = send(
        plain(&emu)
            .get(format!("{}/banks/v1", emu.info.sandbox_url))
            .bearer_auth(token.trim()),
    );
    assert_eq!(status, 200, "{body}");
    let show = ok(&on(&emu, &["clock", "show"]));
    assert!(show.contains("shifted +3h"), "{show}");
}

#[test]
fn env_keeps_other_https_working_and_sandbox_env_exports() {
    let tmp = tempfile::tempdir().unwrap();
    crate::util::copy_template_to(&tmp.path().join("state"));
    let emu = Emulator::start_in(&tmp.path().join("state"), &[]);
    ok(&on(&emu, &["env"]));
    let bundle = emu.read("trust_bundle.pem");
    let root = std::fs::read_to_string(emu.file("root_ca.pem")).unwrap();
    assert!(bundle.contains(root.trim()), "the sandbox root is in the bundle");
    let system = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt")
        .expect("Debian's ca-certificates (scripts/test runs where apt-get works)");
    let first_system_cert = system.split("-----END CERTIFICATE-----").next().unwrap();
    assert!(
        bundle.contains(first_system_cert.trim()),
        "the system roots are in the bundle"
    );

    // The documented CI recipe: `source sandbox.env`, then a child process sees the values.
    let script = format!(
        "source {} && python3 -c 'import os; print(os.environ[\"APP_TOKEN\"], os.environ[\"MTLS_URL\"])'",
        emu.file("sandbox.env").display()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_eq!(ok(&out).trim(), format!("{} {}", emu.info.app_token, emu.info.mtls_url));

    // Not running: no pid (certainly not `env`'s own), and a word saying so.
    let state = emu.state_dir.clone();
    emu.stop();
    let out = run(Path::new("/"), &["env", "--state-dir", &state.display().to_string()]);
    let exports = ok(&out);
    assert!(!exports.contains("PID="), "{exports}");
    assert!(exports.contains("No sandbox is running"), "{exports}");
}

#[test]
fn revoke_returns_only_once_the_running_sandbox_refuses_the_certificate() {
    let emu = Emulator::start(&[]);
    let http = with_app_cert(&emu);
    let url = format!("{}/health", emu.info.mtls_url);
    assert_eq!(send(http.get(&url)).0, 200);
    let out = ok(&on(&emu, &["revoke"]));
    assert!(out.contains("now refuses it"), "{out}");
    // A new connection right after `revoke` returns: refused.
    let fresh = with_app_cert(&emu);
    let refused = block_on(async { fresh.get(&url).send().await });
    assert!(refused.is_err(), "revoked certificate still accepted: {refused:?}");
}

#[test]
fn both_loopback_addresses_are_served() {
    let emu = Emulator::start(&[]);
    for url in [&emu.info.sandbox_url, &emu.info.auth_url] {
        let port = url.rsplit(':').next().unwrap();
        let (status, body, _) = send(plain(&emu).get(format!("https://[::1]:{port}/health")));
        assert_eq!(status, 200, "{body}");
    }
}

#[test]
fn a_closed_stdout_ends_commands_quietly() {
    let emu = Emulator::start(&[]);
    for args in [&["env"][..], &["clients", "list"], &["status", "--json"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader); // like `| head` that has already exited
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend(["--state-dir".into(), emu.state_dir.display().to_string()]);
        let out = Command::new(bin())
            .args(&all)
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// `up 2>&1 | head`: once the reader is gone, the sandbox keeps serving
/// (its first log line used to end it with a panic) and stops cleanly.
#[test]
fn a_closed_stderr_does_not_stop_the_sandbox() {
    let tmp = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let emu = Emulator::start_with_stderr(&tmp.path().join("state"), &[], tmp.path().join("no.log"), writer.into());
    let url = format!("{}/health", emu.info.sandbox_url);
    let ca = emu.info.ca_chain.display().to_string();
    let (code, status) = curl(&["--cacert", &ca, "-o", "/dev/null", "-w", "%{http_code}", &url]);
    assert_eq!(
        (code, status.as_str()),
        (0, "200"),
        "a request after the first log lines"
    );
    assert_eq!(emu.stop().code(), Some(0), "the sandbox died on a log line");
}

/// `up … 2>&1 | head -3` on a five-line error: the reader gone, the exit
/// status is still the error's own (it was a panic's 101).
#[test]
fn a_closed_stderr_keeps_the_errors_exit_status() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().display().to_string();
    for (args, code) in [
        (&["env", "--state-dir", &dir][..], 2),
        (&["wait", "--timeout", "100ms", "--state-dir", &dir], 1),
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(bin())
            .args(args)
            .env_remove("MTLS_SANDBOX_STATE_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::from(writer))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
    }
}

#[test]
fn errors_are_coloured_on_a_terminal_unless_no_color_is_set() {
    let tmp = tempfile::tempdir().unwrap();
    let cmd = format!("cd {} && {} token", tmp.path().display(), bin().display());
    // `script` gives the command a terminal.
    let tty = |no_color: bool| {
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        text(&c.output().expect("script (util-linux)").stdout)
    };
    assert!(tty(false).contains("\x1b[1;31merror:"), "{:?}", tty(false));
    let plain = tty(true);
    assert!(plain.contains("error:") && !plain.contains('\x1b'), "{plain:?}");
}

#[test]
fn client_authentication_is_discoverable_and_configurable() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("basic.toml");
    std::fs::write(&config, "[app]\nclient_auth_method = \"client_secret_basic\"\n").unwrap();
    let emu = Emulator::start(&["--config", &config.display().to_string()]);
    assert_eq!(emu.info.token_endpoint_auth_method, "client_secret_basic");
    let http = plain(&emu);
    let basic = http
        .post(&emu.info.token_endpoint)
        .basic_auth(&emu.info.client_id, Some(&emu.info.client_secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "api")]);
    assert_eq!(send(basic).0, 200);
    let post = [
        ("grant_type", "client_credentials"),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", emu.info.client_secret.as_str()),
    ];
    let (status, body, _) = token_request(&http, &emu.info.token_endpoint, &post);
    assert_eq!(status, 401, "registered for Basic only: {body}");

    let list: Value = json_on(&emu, &["clients", "list", "--json"]);
    let app = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == emu.info.client_id.as_str())
        .unwrap();
    assert_eq!(app["token_endpoint_auth_method"], "client_secret_basic");
    let table = ok(&on(&emu, &["clients", "list"]));
    assert!(
        table.contains("auth method") && table.contains("tls_client_auth"),
        "{table}"
    );
}

#[test]
fn clients_create_takes_what_each_method_needs_and_scripts_read_json() {
    let emu = Emulator::start(&[]);
    let key = rcgen::KeyPair::generate().unwrap();
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
        &jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
        jsonwebtoken::Algorithm::ES256,
    )
    .unwrap();
    let jwks = emu.state_dir.with_extension("jwks.json");
    std::fs::write(&jwks, serde_json::json!({ "keys": [jwk] }).to_string()).unwrap();
    let created: Value = json_on(
        &emu,
        &[
            "clients",
            "create",
            "signer",
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            &jwks.display().to_string(),
            "--json",
        ],
    );
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");

    let cert = emu.state_dir.with_extension("self.pem");
    let params = rcgen::CertificateParams::new(vec!["selfie".into()]).unwrap();
    std::fs::write(&cert, params.self_signed(&key).unwrap().pem()).unwrap();
    let selfie: Value = json_on(
        &emu,
        &[
            "clients",
            "create",
            "selfie",
            "--auth-method",
            "self_signed_tls_client_auth",
            "--certificate",
            &cert.display().to_string(),
            "--json",
        ],
    );
    assert_eq!(selfie["token_endpoint_auth_method"], "self_signed_tls_client_auth");

    let missing = on(&emu, &["clients", "create", "x", "--auth-method", "private_key_jwt"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("jwks or jwks_uri"),
        "{}",
        text(&missing.stderr)
    );

    // #18 item 11: a malformed subject DN is refused at registration.
    let tls = [
        "clients",
        "create",
        "p",
        "--auth-method",
        "tls_client_auth",
        "--subject-dn",
    ];
    for bad in ["CN=my_app,garbage", "CN=my_app,,,"] {
        let refused = on(&emu, &[&tls[..], &[bad]].concat());
        assert_eq!(refused.status.code(), Some(2), "{bad}");
        assert!(
            text(&refused.stderr).contains("tls_client_auth_subject_dn: "),
            "{}",
            text(&refused.stderr)
        );
    }

    let plain_client: Value = json_on(&emu, &["clients", "create", "ci", "--json"]);
    let id = plain_client["client_id"].as_str().unwrap();
    let secret: Value = json_on(&emu, &["secrets", "create", id, "ci", "--json"]);
    assert!(secret["secret"].as_str().is_some_and(|s| s.len() >= 16), "{secret}");
    assert_eq!(secret["name"], "ci");
}

#[test]
fn the_summary_states_the_chain_rule_and_the_clock_in_force() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let out_file = tmp.path().join("summary.txt");
    crate::util::copy_template_to(&state);
    let mut child = Command::new(bin())
        .args(["up", "--sandbox-port", "0", "--mtls-port", "0", "--auth-port", "0"])
        .args(["--lenient-chain", "--clock", "+2h", "--state-dir"])
        .arg(&state)
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let waited = run(Path::new("/"), &["wait", "--state-dir", &state.display().to_string()]);
    let _ = ok(&waited);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let summary = loop {
        let summary = std::fs::read_to_string(&out_file).unwrap_or_default();
        if summary.contains("Ctrl-C") || std::time::Instant::now() > deadline {
            break summary;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        summary.contains("--lenient-chain") && !summary.contains("chain required"),
        "{summary}"
    );
    assert!(summary.contains("shifted +2h from real time"), "{summary}");
    assert!(summary.contains("client auth    client_secret_post"), "{summary}");
    assert!(!summary.contains('\x1b'), "no colour into a file");
    // Issue #18 item 9: a file (a CI log) gets no credentials, only where they are.
    let info = mtls_sandbox::info::SandboxInfo::read(&state.join("sandbox.json")).unwrap();
    let portal_token = info.portal_token.unwrap();
    for secret in [&info.client_secret, &info.p12_password, &portal_token] {
        assert!(!summary.contains(secret.as_str()), "{secret} in {summary}");
    }
    assert!(summary.contains("\"client_secret\" in sandbox.json"), "{summary}");
    assert!(summary.contains(&info.client_id), "{summary}");
}

//! Real clients other than curl, used exactly as the provider's docs show.

use std::process::Command;

use crate::util::Emulator;

#[test]
fn python_requests_with_cert_key_and_chain_file() {
    let emu = Emulator::start(&[]);
    let script = r#"
import json, sys, requests
info = json.load(open(sys.argv[1]))
r = requests.get(info["mtls_url"] + "/banks/v1",
                 headers={"lean-app-token": info["app_token"]},
                 cert=(info["client_cert"], info["client_key"]),
                 verify=info["ca_chain"])
print(r.status_code, r.json()[0]["identifier"])
try:
    requests.get(info["mtls_url"] + "/health", verify=info["ca_chain"])
    print("no-cert: accepted")
except requests.exceptions.RequestException:
    print("no-cert: refused")
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(emu.file("sandbox.json"))
        .output()
        .expect("python3 with requests must be installed (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "200 LEANMB1\nno-cert: refused\n");
    emu.log_line("sent no client certificate");
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/interop")
        .join(name)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} could not run ({e}); scripts/test installs it"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed (a missing tool or module? scripts/test installs them):\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn node_https_agent_with_cert_key_and_ca() {
    let emu = Emulator::start(&[]);
    let stdout = run(Command::new("node")
        .arg(fixture("node_https_agent.js"))
        .arg(emu.file("sandbox.json")));
    assert_eq!(stdout, "200 app_user_id,created_at,customer_id\n");
}

/// The provider's Ruby sample reads the key with `OpenSSL::PKey::RSA.new`,
/// which refuses a P-256 key ("incorrect pkey type: id-ecPublicKey"): it
/// works only because the default client key is RSA, as the provider's.
#[test]
fn ruby_net_http_with_an_rsa_key() {
    let emu = Emulator::start(&[]);
    let stdout = run(Command::new("ruby")
        .arg(fixture("ruby_net_http.rb"))
        .arg(emu.file("sandbox.json")));
    assert_eq!(stdout, "RSA-2048 200 LEANMB1 bearer 200\n");
}

/// The provider's Go sample: `tls.LoadX509KeyPair` with the default (RSA)
/// key and, as its comment insists, the certificate concatenated with the
/// chain (Go sends a certificate only when it chains to a CA the server
/// names); the CA chain as `RootCAs`. Only the standard library, so `go run`
/// needs no module download.
#[test]
fn go_net_http_with_load_x509_key_pair() {
    let emu = Emulator::start(&[]);
    let cert_with_chain = emu.state_dir.with_extension("cert-with-chain.crt");
    std::fs::write(
        &cert_with_chain,
        emu.read("my_app_cert.crt") + &emu.read("lean_public_cert_chain.pem"),
    )
    .unwrap();
    let cache = emu.state_dir.with_extension("gocache");
    let stdout = run(Command::new("go")
        .arg("run")
        .arg(fixture("go_net_http.go"))
        .arg(emu.file("sandbox.json"))
        .arg(&cert_with_chain)
        .env("GOCACHE", &cache)
        .env("GO111MODULE", "off"));
    assert_eq!(stdout, "RSA-2048 200 LEANMB1\n");
}

#[test]
fn java_http_client_with_the_pkcs12_bundle() {
    let emu = Emulator::start(&[]);
    // A one-request program: the C1 compiler alone and one GC thread halve
    // the JVM's CPU (3.1 s -> 1.6 s); the TLS stack and KeyStore are the same.
    let stdout = run(Command::new("java")
        .args(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"])
        .arg(fixture("JavaP12Client.java"))
        .arg(&emu.info.client_p12)
        .arg(&emu.info.p12_password)
        .arg(&emu.info.ca_chain)
        .arg(format!("{}/banks/v1", emu.info.mtls_url))
        .arg(&emu.info.app_token));
    assert!(stdout.starts_with("200 [{\"active\":true"), "{stdout}");
}

#[test]
fn authlib_obtains_a_token_through_discovery() {
    let emu = Emulator::start(&[]);
    // As `eval "$(mtls-sandbox env)"` sets it: requests lets this variable
    // override Session.verify, so a machine-wide value would otherwise win.
    let stdout = run(Command::new("python3")
        .arg(fixture("authlib_discovery.py"))
        .arg(emu.file("sandbox.json"))
        .env("REQUESTS_CA_BUNDLE", &emu.info.ca_chain));
    assert_eq!(stdout, "bearer api 200\n");
}

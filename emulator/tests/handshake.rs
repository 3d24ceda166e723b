//! The mtls host's chain rule and the explanation logged for each way a
//! handshake can fail, seen from real clients (curl and rustls).

use mtls_sandbox::pki::{self, ClientCertSpec};
use mtls_sandbox::state::State;
use time::{Duration, OffsetDateTime};

use crate::util::{Emulator, Identity, app_identity, block_on, client, curl, portal_get};

const CHAIN: &str = "lean_public_cert_chain.pem";

/// GET /health on the mtls host with a rustls client; Ok(status) or the error text.
fn mtls_health(emu: &Emulator, identity: Identity) -> Result<u16, String> {
    let client = client(&emu.read("root_ca.pem"), identity);
    let url = format!("{}/health", emu.info.mtls_url);
    block_on(async { client.get(url).send().await.map(|r| r.status().as_u16()) }).map_err(|e| format!("{e:?}"))
}

#[test]
fn rustls_client_with_leaf_and_chain_is_accepted_and_bare_leaf_refused() {
    let emu = Emulator::start(&[]);
    let app = app_identity(&emu);
    assert_eq!(
        mtls_health(&emu, Identity::Chain(app.clone(), emu.read(CHAIN))),
        Ok(200)
    );

    assert!(
        mtls_health(&emu, Identity::Leaf(app)).is_err(),
        "a bare leaf must fail the handshake"
    );
    let line = emu.log_line("without its intermediate CA certificate");
    assert!(
        line.contains("cat my_app_cert.crt lean_public_cert_chain.pem"),
        "{line}"
    );
    assert!(
        line.contains("CN=my_app") && line.contains("client=127.0.0.1:"),
        "{line}"
    );

    assert!(mtls_health(&emu, Identity::None).is_err());
    emu.log_line("sent no client certificate");
}

#[test]
fn lenient_chain_accepts_a_bare_leaf() {
    let emu = Emulator::start(&["--lenient-chain"]);
    assert_eq!(mtls_health(&emu, Identity::Leaf(app_identity(&emu))), Ok(200));
}

#[test]
fn foreign_self_signed_expired_and_server_certificates_are_refused_with_reasons() {
    let emu = Emulator::start(&[]);
    let now = OffsetDateTime::now_utc();
    let chain = emu.read(CHAIN);

    let foreign = pki::create_hierarchy("someone-else@elsewhere", now).unwrap();
    let foreign_ca = pki::Ca::load(foreign.intermediate.clone()).unwrap();
    let stranger = foreign_ca.issue_client(&ClientCertSpec::new("stranger", now)).unwrap();
    let foreign_chain = format!("{}{}", foreign.intermediate.cert_pem, foreign.root.cert_pem);
    assert!(mtls_health(&emu, Identity::Chain(stranger, foreign_chain)).is_err());
    let line = emu.log_line("CN=stranger");
    assert!(
        line.contains("which is not the sandbox CA") && line.contains("someone-else@elsewhere"),
        "{line}"
    );

    let self_signed = rcgen::generate_simple_self_signed(vec!["selfie".into()]).unwrap();
    let selfie = pki::CertAndKey {
        cert_pem: self_signed.cert.pem(),
        key_pem: self_signed.signing_key.serialize_pem(),
    };
    assert!(mtls_health(&emu, Identity::Leaf(selfie)).is_err());
    emu.log_line("is self-signed");

    let ca = State::load(&emu.state_dir).unwrap().issuing_ca().unwrap();
    let expired = ca
        .issue_client(&ClientCertSpec {
            not_before: now - Duration::days(30),
            not_after: now - Duration::days(1),
            ..ClientCertSpec::new("old-app", now)
        })
        .unwrap();
    assert!(mtls_health(&emu, Identity::Chain(expired, chain.clone())).is_err());
    assert!(emu.log_line("CN=old-app").contains("expired on"));

    let future = ca
        .issue_client(&ClientCertSpec {
            not_before: now + Duration::days(1),
            not_after: now + Duration::days(30),
            ..ClientCertSpec::new("future-app", now)
        })
        .unwrap();
    assert!(mtls_health(&emu, Identity::Chain(future, chain.clone())).is_err());
    assert!(emu.log_line("CN=future-app").contains("is not valid before"));

    let server = pki::CertAndKey {
        cert_pem: emu.read("server_cert.pem"),
        key_pem: emu.read("server_key.pem"),
    };
    assert!(mtls_health(&emu, Identity::Chain(server, chain)).is_err());
    assert!(emu.log_line("CN=mtls-sandbox server").contains("lacks clientAuth"));
}

/// What `openssl req -x509` makes by default: self-signed, and a CA
/// (basicConstraints CA:TRUE). webpki refuses it as `CaUsedAsEndEntity`,
/// which rustls passes on as `Other(OtherError(..))`.
#[test]
fn a_self_signed_ca_certificate_is_explained_without_library_text() {
    let emu = Emulator::start(&[]);
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "openssl-default");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let identity = pki::CertAndKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    assert!(mtls_health(&emu, Identity::Leaf(identity)).is_err());

    let line = emu.log_line("CN=openssl-default");
    assert!(
        line.contains("is a CA certificate (basicConstraints CA:TRUE)"),
        "{line}"
    );
    assert!(
        line.contains("openssl req -x509") && line.contains("Fix: use my_app_cert.crt"),
        "{line}"
    );
    assert!(
        !line.contains("OtherError") && !line.contains("CaUsedAsEndEntity"),
        "{line}"
    );

    let (status, json, _) = portal_get(&emu, "/portal/inspect.json");
    assert_eq!(status, 200);
    let refused = &json["events"][0];
    assert_eq!(
        (refused["kind"].as_str(), refused["listener"].as_str()),
        (Some("handshake"), Some("mtls"))
    );
    let (explanation, fix) = (
        refused["explanation"].as_str().unwrap(),
        refused["fix"].as_str().unwrap(),
    );
    assert!(explanation.contains("is a CA certificate"), "{explanation}");
    assert!(
        fix.starts_with("use my_app_cert.crt and my_app_private_key.pem"),
        "{fix}"
    );
    assert!(!explanation.contains("Other"), "{explanation}");
}

#[test]
fn curl_auto_chains_with_the_chain_file_and_fails_with_only_the_root() {
    let emu = Emulator::start(&[]);
    let (chain, root) = (emu.file(CHAIN), emu.file("root_ca.pem"));
    let (cert, key) = (emu.file("my_app_cert.crt"), emu.file("my_app_private_key.pem"));
    let url = format!("{}/health", emu.info.mtls_url);
    let s = |p: &std::path::PathBuf| p.to_str().unwrap().to_owned();

    // OpenSSL builds the chain from the CA file, as with the real provider.
    let (code, body) = curl(&["--cacert", &s(&chain), "--cert", &s(&cert), "--key", &s(&key), &url]);
    assert_eq!((code, body.as_str()), (0, r#"{"listener":"mtls","status":"OK"}"#));

    // With only the root as CA file, curl cannot build the chain: bare leaf.
    let (code, _) = curl(&["--cacert", &s(&root), "--cert", &s(&cert), "--key", &s(&key), &url]);
    assert_ne!(code, 0, "a bare leaf must be refused");
    emu.log_line("without its intermediate CA certificate");

    // A concatenated certificate file works with any CA file.
    let full = emu.state_dir.with_extension("fullchain.pem");
    std::fs::write(&full, format!("{}{}", emu.read("my_app_cert.crt"), emu.read(CHAIN))).unwrap();
    let (code, _) = curl(&["--cacert", &s(&root), "--cert", &s(&full), "--key", &s(&key), &url]);
    assert_eq!(code, 0);

    let (code, _) = curl(&["--cacert", &s(&chain), &url]);
    assert_ne!(code, 0, "no client certificate must be refused");
    emu.log_line("sent no client certificate");
}

#[test]
fn clients_that_distrust_the_server_or_speak_plain_http_are_explained() {
    let emu = Emulator::start(&[]);
    let (code, _) = curl(&[&format!("{}/health", emu.info.sandbox_url)]);
    assert_eq!(code, 60, "curl without the CA must reject the server certificate");
    assert!(
        emu.log_line("rejected the sandbox's server certificate")
            .contains("--cacert lean_public_cert_chain.pem")
    );

    let plain = emu.info.sandbox_url.replace("https://", "http://");
    let (code, _) = curl(&[&format!("{plain}/health")]);
    assert_ne!(code, 0);
    emu.log_line("did not speak TLS");
}

#[test]
fn auth_host_accepts_connections_with_or_without_a_certificate() {
    let emu = Emulator::start(&[]);
    let root = emu.read("root_ca.pem");
    let url = format!("{}/health", emu.info.auth_url);
    for identity in [Identity::None, Identity::Leaf(app_identity(&emu))] {
        let client = client(&root, identity);
        let status = block_on(async { client.get(&url).send().await.unwrap().status() });
        assert_eq!(status, 200);
    }
}

#[test]
fn revoking_a_certificate_takes_effect_on_a_running_sandbox() {
    let emu = Emulator::start(&[]);
    let chain = emu.read(CHAIN);
    assert_eq!(
        mtls_health(&emu, Identity::Chain(app_identity(&emu), chain.clone())),
        Ok(200)
    );

    let out = std::process::Command::new(crate::util::bin())
        .args(["revoke", "--state-dir"])
        .arg(&emu.state_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Revoked \"O=mtls-sandbox"));

    // The sandbox polls the CRL twice a second; allow a few periods.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while mtls_health(&emu, Identity::Chain(app_identity(&emu), chain.clone())).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "revoked certificate still accepted"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(emu.log_line("has been revoked").contains("CN=my_app"));

    // Revoking something the sandbox did not issue is refused with advice.
    let foreign = pki::create_hierarchy("x@y", OffsetDateTime::now_utc()).unwrap();
    let path = emu.state_dir.with_extension("foreign.pem");
    std::fs::write(&path, &foreign.root.cert_pem).unwrap();
    let out = std::process::Command::new(crate::util::bin())
        .args(["revoke", "--state-dir"])
        .arg(&emu.state_dir)
        .arg("--cert")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("was not issued by this sandbox"));
}

#[test]
fn the_sandbox_clock_decides_certificate_validity() {
    // The app certificate is valid for two years; 800 days ahead it is expired.
    let emu = Emulator::start(&["--clock", "+800d"]);
    let chain = emu.read(CHAIN);
    assert!(mtls_health(&emu, Identity::Chain(app_identity(&emu), chain)).is_err());
    assert!(emu.log_line("CN=my_app").contains("expired on"));
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_explained() {
    let emu = Emulator::start(&[]);
    let other = pki::create_hierarchy("x@y", OffsetDateTime::now_utc()).unwrap();
    let identity = Identity::Mismatched {
        chain_pem: format!("{}{}", emu.read("my_app_cert.crt"), emu.read(CHAIN)),
        key_pem: other.root.key_pem,
    };
    assert!(mtls_health(&emu, identity).is_err());
    let line = emu.log_line("does not match its certificate");
    assert!(
        line.contains("CN=my_app") && line.contains("my_app_private_key.pem"),
        "{line}"
    );
}

/// Issue #18 item 14: a client certificate's subject reaches the log before
/// any authentication; a newline in it forged whole log lines.
#[test]
fn a_newline_in_a_certificate_subject_cannot_forge_a_log_line() {
    let emu = Emulator::start(&[]);
    let forged = "2030-01-01T00:00:00.000000Z  INFO request: FORGED admin login ok";
    let cn = format!("evil\n{forged}\r\u{1b}[2K");

    // Refused at the handshake: the explanation names the subject.
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn.as_str());
    let key = rcgen::KeyPair::generate().unwrap();
    let identity = pki::CertAndKey {
        cert_pem: params.self_signed(&key).unwrap().pem(),
        key_pem: key.serialize_pem(),
    };
    assert!(mtls_health(&emu, Identity::Leaf(identity)).is_err());
    let refused = emu.log_line("handshake refused");
    assert!(refused.contains("CN=evil\\n2030-01-01"), "{refused}");

    // Accepted (a certificate of the sandbox CA): the request line names it.
    let ca = State::load(&emu.state_dir).unwrap().issuing_ca().unwrap();
    let issued = ca
        .issue_client(&ClientCertSpec::new(&cn, OffsetDateTime::now_utc()))
        .unwrap();
    assert_eq!(mtls_health(&emu, Identity::Chain(issued, emu.read(CHAIN))), Ok(200));
    emu.log_line("GET /health");

    let log = emu.log();
    for line in log.lines() {
        assert!(
            !line.contains("FORGED") || line.contains("CN=evil\\n"),
            "a forged line:\n{line}\nin\n{log}"
        );
        assert!(
            !line.contains('\r') && !line.contains('\u{1b}'),
            "raw control characters: {line:?}"
        );
    }
}

#[test]
fn a_connection_opened_before_a_revocation_is_refused_on_its_next_request() {
    let emu = Emulator::start(&[]);
    let (api, token_client) = (crate::util::with_app_cert(&emu), crate::util::with_app_cert(&emu));
    let health = format!("{}/health", emu.info.mtls_url);
    let token_url = format!("{}/oauth2/token", emu.info.mtls_url);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", emu.info.client_secret.as_str()),
        ("scope", "api"),
    ];
    // One runtime throughout: reqwest's kept-alive connections live in it.
    block_on(async {
        let status = |r: reqwest::Response| r.status().as_u16();
        assert_eq!(status(api.get(&health).send().await.unwrap()), 200);
        assert_eq!(
            status(token_client.post(&token_url).form(&form).send().await.unwrap()),
            200
        );

        // `revoke` returns once the running sandbox has loaded the new CRL.
        let out = std::process::Command::new(crate::util::bin())
            .args(["revoke", "--state-dir"])
            .arg(&emu.state_dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

        // A new handshake would fail; a 401 proves the old connection answered.
        let refused = api.get(&health).send().await.unwrap();
        assert_eq!(refused.status(), 401);
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["status"], "CERTIFICATE_REVOKED", "{body}");
        assert!(body["message"].as_str().unwrap().contains("revoked"), "{body}");

        let refused = token_client.post(&token_url).form(&form).send().await.unwrap();
        assert_eq!(refused.status(), 401);
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{body}");
        assert!(
            body["error_description"].as_str().unwrap().contains("revoked"),
            "{body}"
        );
    });
}

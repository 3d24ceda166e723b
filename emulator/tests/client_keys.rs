//! The client key type (`[app] key_type`): RSA-2048 by default, P-256 on
//! request, and state dirs made before RSA became the default keep working
//! with the P-256 key they have.

use assert_cmd::Command;

use crate::util::{Emulator, app_token, bin, curl, send, with_app_cert};

fn certs(dir: &std::path::Path, config: Option<&std::path::Path>) -> std::process::Output {
    let mut cmd = Command::new(bin());
    cmd.env_remove("MTLS_SANDBOX_STATE_DIR")
        .arg("certs")
        .arg("--state-dir")
        .arg(dir);
    if let Some(config) = config {
        cmd.arg("--config").arg(config);
    }
    cmd.output().unwrap()
}

fn key_line(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find(|l| l.contains("client private key"))
        .unwrap_or_else(|| panic!("no key line: {text}"))
        .to_owned()
}

#[test]
fn certs_makes_an_rsa_key_by_default_and_p256_when_configured() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(key_line(&certs(&tmp.path().join("rsa"), None)).ends_with("my_app_private_key.pem (RSA-2048)"));

    let p256 = tmp.path().join("p256.toml");
    std::fs::write(&p256, "[app]\nkey_type = \"p256\"\n").unwrap();
    assert!(key_line(&certs(&tmp.path().join("ec"), Some(&p256))).ends_with("(ECDSA P-256)"));

    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[app]\nkey_type = \"rsa4096\"\n").unwrap();
    let out = certs(&tmp.path().join("never"), Some(&bad));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("line 2") && err.contains("key_type") && err.contains("`p256`"),
        "{err}"
    );
    assert!(!tmp.path().join("never").exists(), "nothing created from a bad config");
}

/// A state dir made with a P-256 key (as every state dir was before RSA
/// became the default) starts under the RSA default without regenerating
/// anything, and its key works with rustls, curl (OpenSSL) and bound tokens.
#[test]
fn an_existing_p256_state_serves_unchanged_under_the_rsa_default() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let p256 = tmp.path().join("p256.toml");
    std::fs::write(&p256, "[app]\nkey_type = \"p256\"\n").unwrap();
    key_line(&certs(&dir, Some(&p256)));
    let files = ["my_app_private_key.pem", "my_app_cert.crt", "my_app.p12", "state.json"];
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();

    let emu = Emulator::start_in(&dir, &[]);
    let banks = format!("{}/banks/v1", emu.info.mtls_url);
    let (status, _, _) = send(
        with_app_cert(&emu)
            .get(&banks)
            .header("lean-app-token", &emu.info.app_token),
    );
    assert_eq!(status, 200, "rustls client with the P-256 key");
    let (key, cert, ca) = (
        emu.file(files[0]),
        emu.file(files[1]),
        emu.file("lean_public_cert_chain.pem"),
    );
    let (code, body) = curl(&[
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--cacert",
        ca.to_str().unwrap(),
        "-H",
        &format!("Authorization: Bearer {}", app_token(&emu, "api")),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &banks,
    ]);
    assert_eq!((code, body.as_str()), (0, "200"), "curl (OpenSSL) with the P-256 key");

    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(dir.join(f)).unwrap()).collect();
    assert!(before == after, "nothing regenerated");
    drop(emu);
    assert!(
        key_line(&certs(&dir, None)).ends_with("(ECDSA P-256)"),
        "certs reports the key it has"
    );
}

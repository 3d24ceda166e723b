//! Secrets hygiene: signing keys owner-only, client secrets stored hashed,
//! and neither secrets nor tokens in the log (with request logging on).

use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::util::{Emulator, plain, send, token_request};

/// On a first start: the signing key's mode is the one the sandbox creates it with.
#[test]
fn secrets_are_hashed_at_rest_and_never_logged() {
    let emu = Emulator::start_fresh(&[]);
    let http = plain(&emu);
    let admin = crate::util::admin_token(&emu);
    let clients = format!("{}/clients", emu.info.auth_url);
    let id = send(http.post(&clients).bearer_auth(&admin).json(&json!({"name": "ci"}))).1["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body, _) = send(
        http.post(format!("{clients}/{id}/secrets"))
            .bearer_auth(&admin)
            .json(&json!({"name": "s"})),
    );
    assert_eq!(status, 201, "{body}");
    let clear = body["data"]["clear"].as_str().unwrap().to_owned();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", clear.as_str()),
    ];
    let (status, body, _) = token_request(&http, &emu.info.token_endpoint, &form);
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();

    // At rest: the records database holds a salted hash, not the secret.
    let db = std::fs::read(emu.file("records.db")).unwrap();
    let wal = std::fs::read(emu.file("records.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(clear.len()).any(|w| w == clear.as_bytes()),
            "clear secret found in records.db"
        );
    }
    let listed = send(http.get(&clients).bearer_auth(&admin)).1.to_string();
    assert!(
        !listed.contains(&clear) && listed.contains(&id),
        "GET /clients must not reveal the secret"
    );

    // The signing key is owner-only.
    let mode = std::fs::metadata(emu.file("oauth_signing_key_ps256.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // Logs: requests and token issuance are logged, secrets and tokens are not.
    emu.log_line("token issued");
    let log = emu.log();
    assert!(
        log.lines().any(|l| l.contains("token issued") && l.contains(&id)),
        "{log}"
    );
    for secret in [clear.as_str(), token.as_str(), admin.as_str(), "client_secret=testing"] {
        assert!(!log.contains(secret), "the log contains a secret: {secret}");
    }
}

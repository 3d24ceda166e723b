//! The state dir on a tmpfs that fills up while the sandbox runs (ENOSPC).
//! Decision: a full disk is the server's environment, not the request's
//! fault and not a bug — writes answer 507 `INSUFFICIENT_STORAGE` (the
//! resource and management APIs) or 503 `temporarily_unavailable` (OAuth),
//! naming the file and the fix, at once; reads and token issuance go on;
//! once space is freed writes succeed again without a restart, and a
//! restart finds every record stored before.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Mount, timed};
use crate::portal::{Posted, portal_post};
use crate::util::{Emulator, admin_token, cli, plain, send, token_request};

/// Fills the file system under `dir` with one file, until ENOSPC.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = file.write_all(&chunk).and_then(|()| file.flush()) {
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
            break;
        }
    }
    // Small writes may still fit in a block; take those bytes too.
    while file.write_all(&[0u8; 512]).is_ok() {}
    path
}

fn create_customer(emu: &Emulator, app_user_id: &str) -> (u16, Value) {
    let (status, body, _) = send(
        plain(emu)
            .post(format!("{}/customers/v1", emu.info.sandbox_url))
            .header("lean-app-token", &emu.info.app_token)
            .json(&json!({ "app_user_id": app_user_id })),
    );
    (status, body)
}

fn get_customer(emu: &Emulator, id: &str) -> u16 {
    send(
        plain(emu)
            .get(format!("{}/customers/v1/{id}", emu.info.sandbox_url))
            .header("lean-app-token", &emu.info.app_token),
    )
    .0
}

fn create_client(emu: &Emulator, admin: &str, name: &str) -> (u16, Value) {
    let (status, body, _) = send(
        plain(emu)
            .post(format!("{}/clients", emu.info.auth_url))
            .bearer_auth(admin)
            .json(&json!({ "name": name })),
    );
    (status, body)
}

fn add_secret(emu: &Emulator, admin: &str, client: &str) -> (u16, Value) {
    let (status, body, _) = send(
        plain(emu)
            .post(format!("{}/clients/{client}/secrets", emu.info.auth_url))
            .bearer_auth(admin)
            .json(&json!({ "name": "more" })),
    );
    (status, body)
}

fn token_status(emu: &Emulator, client_id: &str, secret: &str) -> u16 {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
        ("scope", "api"),
    ];
    token_request(&plain(emu), &emu.info.token_endpoint, &form).0
}

/// A storage answer: the status, the provider code, and a message naming
/// the records database and saying the disk is full.
fn assert_full(what: &str, (status, body): (u16, Value)) {
    assert_eq!(
        (status, body["status"].as_str()),
        (507, Some("INSUFFICIENT_STORAGE")),
        "{what}: {body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("records.db") && message.contains("full") && message.contains("free space"),
        "{what}: {message}"
    );
}

/// A portal page answering a storage failure: 507, naming `file`.
fn assert_page_full(what: &str, posted: &Posted, file: &str) {
    let page = posted.text();
    assert_eq!(posted.status, 507, "{what}: {page}");
    assert!(page.contains(file) && page.contains("full"), "{what}: {page}");
}

#[test]
fn a_full_disk_fails_writes_clearly_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    let _mount = Mount::tmpfs(&disk, "8m");
    let state = disk.join("state");
    crate::util::copy_template_to(&state);
    let emu = Emulator::start_in(&state, &[]);
    let admin = admin_token(&emu);

    // Stored before the disk fills up.
    let (status, before) = create_customer(&emu, "before-full");
    assert_eq!(status, 200, "{before}");
    let customer = before["customer_id"].as_str().unwrap().to_owned();
    let (status, client) = create_client(&emu, &admin, "before-full");
    assert_eq!(status, 201, "{client}");
    let client_id = client["data"]["id"].as_str().unwrap().to_owned();
    let (status, secret) = add_secret(&emu, &admin, &client_id);
    assert_eq!(status, 201, "{secret}");
    let clear = secret["data"]["clear"].as_str().unwrap().to_owned();

    let app_secret = emu.info.client_secret.clone();
    let filler = fill(&disk);
    let bound = Duration::from_secs(5);
    let (customer_full, _) = timed("time to error, disk full: create a customer", bound, || {
        create_customer(&emu, "while-full")
    });
    assert_full("create a customer", customer_full);
    let (client_full, _) = timed("time to error, disk full: create an OAuth client", bound, || {
        create_client(&emu, &admin, "while-full")
    });
    assert_full("create an OAuth client", client_full);
    let (secret_full, _) = timed("time to error, disk full: add a client secret", bound, || {
        add_secret(&emu, &admin, &client_id)
    });
    assert_full("add a client secret", secret_full);
    let ((code, _, stderr), _) = timed("time to error, disk full: mtls-sandbox revoke", bound, || {
        cli(&emu, &["revoke"])
    });
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(state.to_str().unwrap()) && stderr.contains("full"),
        "names the file and the cause: {stderr}"
    );

    let serial = mtls_sandbox::inspector::CertificateView::parse(
        &mtls_sandbox::pki::first_cert_der(&emu.read("my_app_cert.crt"), "app").unwrap(),
    )
    .unwrap()
    .serial;
    let (revoke_full, _) = timed("time to error, disk full: revoke in the portal", bound, || {
        portal_post(&emu, &format!("/portal/certificates/{serial}/revoke"), &[])
    });
    assert_page_full("revoke in the portal", &revoke_full, "records.db");
    let (rotate_full, _) = timed("time to error, disk full: rotate the app secret", bound, || {
        portal_post(&emu, "/portal/application/secret", &[])
    });
    assert_page_full("rotate the app secret", &rotate_full, "state.json");

    let (webhook_full, _) = timed("time to error, disk full: set the webhook URL", bound, || {
        let (status, body, _) = send(
            plain(&emu)
                .put(format!("{}/admin/webhooks", emu.info.auth_url))
                .bearer_auth(&admin)
                .json(&json!({ "url": "http://127.0.0.1:9/hooks" })),
        );
        (status, body)
    });
    assert_eq!(webhook_full.0, 507, "{}", webhook_full.1);
    assert!(
        webhook_full.1["message"].as_str().unwrap().contains("webhooks.json"),
        "{}",
        webhook_full.1
    );

    // Reads and tokens need no space: the sandbox keeps serving them.
    assert_eq!(get_customer(&emu, &customer), 200);
    assert_eq!(token_status(&emu, &client_id, &clear), 200);

    // A second sandbox cannot be created on the full disk: exit 1 saying
    // so, and no half-made state left behind.
    let ((code, stderr), _) = timed("time to error, disk full: up with a new state dir", bound, || {
        super::up(&disk.join("second"))
    });
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the file system is full") && !stderr.contains("panicked"),
        "{stderr}"
    );
    let names: Vec<_> = std::fs::read_dir(&disk)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !names.iter().any(|n| n.to_string_lossy().contains("second")),
        "{names:?}"
    );

    // Space freed: writes work again, no restart needed.
    std::fs::remove_file(filler).unwrap();
    let (status, after) = create_customer(&emu, "after-full");
    assert_eq!(status, 200, "{after}");
    let after = after["customer_id"].as_str().unwrap().to_owned();

    // And a restart finds everything stored before, and nothing half-made.
    assert!(emu.stop().success());
    let emu = Emulator::start_in(&state, &[]);
    assert_eq!(get_customer(&emu, &customer), 200);
    assert_eq!(get_customer(&emu, &after), 200);
    assert_eq!(
        token_status(&emu, &client_id, &clear),
        200,
        "the secret stored before still works"
    );
    assert_eq!(
        emu.info.client_secret, app_secret,
        "the failed rotation changed nothing"
    );
    assert_eq!(token_status(&emu, &emu.info.client_id, &app_secret), 200);
    let (status, dup) = create_customer(&emu, "while-full");
    assert_eq!(status, 200, "the refused customer was not half-stored: {dup}");
    let certificate_works = send(
        crate::util::with_app_cert(&emu)
            .get(format!("{}/banks/v1", emu.info.mtls_url))
            .header("lean-app-token", &emu.info.app_token),
    )
    .0;
    assert_eq!(certificate_works, 200, "the failed revocation revoked nothing");
}

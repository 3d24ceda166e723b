//! 64 parallel writers on one state dir (issue #15, "Hold under load"):
//! clients and secrets (admin API), certificates generated and revoked
//! (portal), customers (resource API), and revocations by `mtls-sandbox
//! revoke` processes, which open `records.db` beside the running sandbox.
//! No write may fail with "database is locked", every acknowledged write
//! must read back, the CRL in force must list every revocation, and all of
//! it must survive a restart on the same state dir.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

use mtls_sandbox::key_type::KeyType;
use mtls_sandbox::pki::ClientCertSpec;
use mtls_sandbox::records::Records;
use mtls_sandbox::revocation;
use mtls_sandbox::state::{State, files};
use serde_json::{Value, json};

use super::portal::{portal_post, unzip};
use super::util::{Emulator, admin_token, bin, plain, send};

const WRITERS: usize = 64;
/// Writes per writer, so each kind of write overlaps with itself too.
const ROUNDS: usize = 4;

/// What the sandbox acknowledged, to be read back.
#[derive(Default)]
struct Acked {
    /// (client id, secret id).
    clients: Vec<(String, String)>,
    customers: Vec<String>,
    /// Serials (hex) generated in the portal and revoked there.
    portal_revoked: Vec<String>,
    /// Serials (hex) revoked by `mtls-sandbox revoke`.
    cli_revoked: Vec<String>,
}

#[test]
fn sixty_four_parallel_writers_lose_nothing_and_never_see_a_locked_database() {
    let tmp = tempfile::tempdir().unwrap();
    // P-256 client keys keep the portal's certificate generation cheap;
    // what is under test is the writing.
    let config = tmp.path().join("sandbox.toml");
    std::fs::write(&config, "[app]\nkey_type = \"p256\"\n").unwrap();
    let config = config.to_str().unwrap();
    let dir = tmp.path().join("state");
    let emu = Emulator::start_in(&dir, &["--config", config]);
    let admin = admin_token(&emu);

    let acked = Mutex::new(Acked::default());
    let failures = Mutex::new(Vec::<String>::new());
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let (emu, admin, acked, failures, tmp) = (&emu, &admin, &acked, &failures, tmp.path());
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    let result = match writer % 4 {
                        0 => client_and_secret(emu, admin, writer, round)
                            .map(|ids| acked.lock().unwrap().clients.push(ids)),
                        1 => portal_generate_and_revoke(emu).map(|s| acked.lock().unwrap().portal_revoked.push(s)),
                        2 => customer(emu, writer, round).map(|id| acked.lock().unwrap().customers.push(id)),
                        _ => cli_revoke(emu, tmp, writer, round).map(|s| acked.lock().unwrap().cli_revoked.push(s)),
                    };
                    if let Err(e) = result {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("writer {writer}, round {round}: {e}"));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let locked: Vec<&String> = failures.iter().filter(|f| f.contains("database is locked")).collect();
    assert!(locked.is_empty(), "writes hit a locked database: {locked:#?}");
    assert!(failures.is_empty(), "writes failed: {failures:#?}");
    assert!(!emu.log().contains("database is locked"), "{}", emu.log());
    let acked = acked.into_inner().unwrap();
    assert_eq!(
        acked.clients.len() + acked.customers.len() + acked.portal_revoked.len() + acked.cli_revoked.len(),
        WRITERS * ROUNDS
    );

    all_present(&emu, &acked, "while the writers' sandbox runs");
    assert!(emu.stop().success());
    let emu = Emulator::start_in(&dir, &["--config", config]);
    all_present(&emu, &acked, "after a restart on the same state dir");
}

fn client_and_secret(emu: &Emulator, admin: &str, writer: usize, round: usize) -> Result<(String, String), String> {
    let auth = &emu.info.auth_url;
    let name = format!("writer {writer} round {round}");
    let client = expect(
        send(
            plain(emu)
                .post(format!("{auth}/clients"))
                .bearer_auth(admin)
                .json(&json!({ "name": name })),
        ),
        201,
        "POST /clients",
    )?;
    let id = client["data"]["id"].as_str().ok_or("no client id")?.to_owned();
    let secret = expect(
        send(
            plain(emu)
                .post(format!("{auth}/clients/{id}/secrets"))
                .bearer_auth(admin)
                .json(&json!({ "name": "second" })),
        ),
        201,
        "POST /clients/{id}/secrets",
    )?;
    Ok((id, secret["data"]["id"].as_str().ok_or("no secret id")?.to_owned()))
}

fn portal_generate_and_revoke(emu: &Emulator) -> Result<String, String> {
    let generated = portal_post(emu, "/portal/certificates", &[]);
    if generated.status != 200 {
        return Err(format!("generate: {} {}", generated.status, generated.text()));
    }
    let cert_pem = unzip(generated.body)
        .into_iter()
        .find(|(name, _, _)| name == files::CLIENT_CERT)
        .ok_or("no certificate in the download")?
        .1;
    let serial = serial_of(&cert_pem);
    let revoked = portal_post(emu, &format!("/portal/certificates/{serial}/revoke"), &[]);
    if revoked.status != 303 {
        return Err(format!("revoke {serial}: {} {}", revoked.status, revoked.text()));
    }
    Ok(serial)
}

fn customer(emu: &Emulator, writer: usize, round: usize) -> Result<String, String> {
    let body = expect(
        send(
            plain(emu)
                .post(format!("{}/customers/v1", emu.info.sandbox_url))
                .header("lean-app-token", &emu.info.app_token)
                .json(&json!({ "app_user_id": format!("writer-{writer}-{round}") })),
        ),
        200,
        "POST /customers/v1",
    )?;
    Ok(body["customer_id"].as_str().ok_or("no customer_id")?.to_owned())
}

/// A certificate of the sandbox's CA, revoked by the CLI in a process of
/// its own: it writes `records.db` and the CRL while the sandbox does too.
fn cli_revoke(emu: &Emulator, tmp: &Path, writer: usize, round: usize) -> Result<String, String> {
    let cert = State::load(&emu.state_dir)
        .map_err(|e| e.to_string())?
        .issuing_ca()
        .map_err(|e| e.to_string())?
        .issue_client(
            &ClientCertSpec::new(&format!("cli-{writer}-{round}"), time::OffsetDateTime::now_utc())
                .with_key_type(KeyType::P256),
        )
        .map_err(|e| e.to_string())?;
    let file = tmp.join(format!("cli-{writer}-{round}.crt"));
    std::fs::write(&file, &cert.cert_pem).map_err(|e| e.to_string())?;
    let out = Command::new(bin())
        .arg("revoke")
        .arg("--cert")
        .arg(&file)
        .arg("--state-dir")
        .arg(&emu.state_dir)
        .output()
        .map_err(|e| e.to_string())?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    if !out.status.success() || !stdout.contains("Revoked") {
        return Err(format!("mtls-sandbox revoke: {}: {stdout}{stderr}", out.status));
    }
    Ok(serial_of(&cert.cert_pem))
}

/// Every acknowledged write, read back through the API, the records and
/// the CRL the mtls host enforces.
fn all_present(emu: &Emulator, acked: &Acked, when: &str) {
    let admin = admin_token(emu);
    let (status, listed, _) = send(
        plain(emu)
            .get(format!("{}/clients", emu.info.auth_url))
            .bearer_auth(&admin),
    );
    assert_eq!(status, 200, "{listed}");
    for (id, secret) in &acked.clients {
        let client = listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == json!(id))
            .unwrap_or_else(|| panic!("{when}: client {id} is gone"));
        assert!(
            client["secrets"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["id"] == json!(secret)),
            "{when}: secret {secret} of client {id} is gone: {client}"
        );
    }
    for id in &acked.customers {
        let (status, body, _) = send(
            plain(emu)
                .get(format!("{}/customers/v1/{id}", emu.info.sandbox_url))
                .header("lean-app-token", &emu.info.app_token),
        );
        assert_eq!(status, 200, "{when}: customer {id}: {body}");
    }
    let state = State::load(&emu.state_dir).unwrap();
    let records = Records::open(&state.path(files::RECORDS)).unwrap();
    let recorded: Vec<String> = records
        .revoked_certificates()
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let issued: Vec<String> = records
        .issued_certificates()
        .unwrap()
        .into_iter()
        .map(|c| c.serial_hex)
        .collect();
    let in_force = revocation::crl_serials(&state).expect("a CRL in the state dir");
    for serial in acked.portal_revoked.iter().chain(&acked.cli_revoked) {
        assert!(
            recorded.contains(serial),
            "{when}: revocation of {serial} is not recorded"
        );
        assert!(
            in_force.contains(serial),
            "{when}: the CRL does not list revoked {serial}"
        );
    }
    for serial in &acked.portal_revoked {
        assert!(
            issued.contains(serial),
            "{when}: issued certificate {serial} is not recorded"
        );
    }
}

fn expect(reply: super::util::Reply, status: u16, what: &str) -> Result<Value, String> {
    match reply {
        (got, body, _) if got == status => Ok(body),
        (got, body, _) => Err(format!("{what}: {got} {body}")),
    }
}

/// A certificate's serial as the sandbox names it: its DER bytes in hex.
fn serial_of(cert_pem: &str) -> String {
    let der = mtls_sandbox::pki::first_cert_der(cert_pem, "certificate").unwrap();
    mtls_sandbox::inspector::CertificateView::parse(&der).unwrap().serial
}

//! Crash safety: `kill -9` at random points while clients, secrets and
//! customers are being written (and `revoke` killed mid-write), 100 cycles.
//! Every restart must load the state, keep everything that was
//! acknowledged, and have a CRL that matches the records.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mtls_sandbox::key_type::KeyType;
use mtls_sandbox::pki::ClientCertSpec;
use mtls_sandbox::records::Records;
use mtls_sandbox::revocation;
use mtls_sandbox::state::{State, files};
use serde_json::{Value, json};

use crate::util::{Emulator, bin, copy_template_to, plain};

#[derive(Default)]
struct Acknowledged {
    customers: Vec<String>,
    clients: Vec<String>,
    /// (client id, secret id)
    secrets: Vec<(String, String)>,
    /// Serial numbers (hex) `revoke` reported as revoked.
    revoked: BTreeSet<String>,
}

/// Writes as fast as it can until the sandbox dies, recording each write
/// the sandbox acknowledged.
async fn write_until_killed(
    http: reqwest::Client,
    emu_urls: (String, String),
    app_token: String,
    acked: Arc<Mutex<Acknowledged>>,
) {
    let (sandbox, auth) = emu_urls;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "testing"),
        ("client_secret", "testing"),
        ("scope", "admin"),
    ];
    let Ok(resp) = http.post(format!("{auth}/oauth2/token")).form(&form).send().await else {
        return;
    };
    let Ok(body) = resp.json::<Value>().await else { return };
    let admin = body["access_token"].as_str().unwrap_or_default().to_owned();
    for i in 0.. {
        let customer = http
            .post(format!("{sandbox}/customers/v1"))
            .header("lean-app-token", &app_token)
            .json(&json!({"app_user_id": format!("u-{}", uuid::Uuid::new_v4())}))
            .send();
        let Ok(resp) = customer.await else { return };
        if resp.status().is_success() {
            let Ok(body) = resp.json::<Value>().await else { return };
            acked
                .lock()
                .unwrap()
                .customers
                .push(body["customer_id"].as_str().unwrap().to_owned());
        }
        // A client and its secret are two PBKDF2 runs (100k iterations):
        // one per eight customers keeps them among the writes in flight
        // without the hashing taking most of the test's CPU.
        if i % 8 == 7 {
            let created = http
                .post(format!("{auth}/clients"))
                .bearer_auth(&admin)
                .json(&json!({"name": "crash"}))
                .send();
            let Ok(resp) = created.await else { return };
            let Ok(body) = resp.json::<Value>().await else { return };
            let Some(id) = body["data"]["id"].as_str().map(str::to_owned) else {
                return;
            };
            acked.lock().unwrap().clients.push(id.clone());
            let secret = http
                .post(format!("{auth}/clients/{id}/secrets"))
                .bearer_auth(&admin)
                .json(&json!({"name": "s"}))
                .send();
            let Ok(resp) = secret.await else { return };
            let Ok(body) = resp.json::<Value>().await else { return };
            if let Some(secret_id) = body["data"]["id"].as_str() {
                acked.lock().unwrap().secrets.push((id, secret_id.to_owned()));
            }
        }
    }
}

/// Cycles in all, and the lanes that share them: each lane kills and
/// restarts a sandbox on a state dir of its own, at the same time as the
/// others. A cycle mostly waits (for a start, a first write, the random
/// kill point), so lanes cut the test's wall time, not what it covers.
const CYCLES: u64 = 100;
const LANES: u64 = 2;

#[test]
fn a_hundred_kill_9_cycles_lose_nothing_acknowledged() {
    let started = Instant::now();
    let lanes: Vec<_> = (0..LANES)
        .map(|lane| std::thread::spawn(move || run_lane(lane, CYCLES / LANES)))
        .collect();
    let mut totals = [0usize; 4];
    for lane in lanes {
        let kept = lane.join().unwrap();
        for (total, n) in totals.iter_mut().zip(kept) {
            *total += n;
        }
    }
    let [customers, clients, secrets, revoked] = totals;
    eprintln!(
        "crash safety: {CYCLES} kill -9 cycles ({LANES} state dirs at once) in {:?}; acknowledged and kept: \
         {customers} customers, {clients} clients, {secrets} secrets, {revoked} revocations \
         ({} revoke runs killed)",
        started.elapsed(),
        CYCLES / 2 // every other cycle
    );
    assert!(
        customers >= 100 && clients >= 20 && revoked >= 20,
        "too few writes to mean anything"
    );
}

/// `cycles` kill -9 cycles on one state dir, then the checks of everything
/// acknowledged: returns how many customers, clients, secrets and
/// revocations were acknowledged (and found kept).
fn run_lane(lane: u64, cycles: u64) -> [usize; 4] {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // A state that has run once (what every cycle after the first sees anyway).
    copy_template_to(&dir);
    // The CA's files are written once, at creation: one load serves every cycle.
    let ca = State::load(&dir).unwrap().issuing_ca().unwrap();
    for i in 0..cycles {
        // Numbered across lanes, so the kill points below spread as in one run.
        let cycle = i * LANES + lane;
        let emu = Emulator::start_in(&dir, &[]);
        // Another client certificate to revoke, with `revoke` killed at a
        // random point. P-256: a revocation is of a serial, whatever the
        // key, and an RSA key would cost a prime search per cycle.
        let cert = ca
            .issue_client(
                &ClientCertSpec::new(&format!("c{cycle}"), time::OffsetDateTime::now_utc())
                    .with_key_type(KeyType::P256),
            )
            .unwrap();
        let cert_file = tmp.path().join(format!("c{cycle}.pem"));
        std::fs::write(&cert_file, &cert.cert_pem).unwrap();
        let mut revoke = Command::new(bin())
            .args(["revoke", "--cert"])
            .arg(&cert_file)
            .arg("--state-dir")
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();

        let writer = rt.spawn(write_until_killed(
            plain(&emu),
            (emu.info.sandbox_url.clone(), emu.info.auth_url.clone()),
            emu.info.app_token.clone(),
            acked.clone(),
        ));
        // Random points: 0-150 ms (pseudo-random from the cycle) after the
        // cycle's first acknowledged write, so that a slow or busy machine
        // still kills mid-writes rather than before any (the totals below
        // would then mean nothing).
        let before = acked.lock().unwrap().customers.len();
        let deadline = Instant::now() + Duration::from_secs(5);
        while acked.lock().unwrap().customers.len() == before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis((cycle * 37) % 151));
        // Every other cycle of each lane.
        if i % 2 == 0 {
            let _ = revoke.kill();
        }
        drop(emu); // SIGKILL
        let _ = rt.block_on(writer);
        let out = revoke.wait_with_output().unwrap();
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            let serial = text
                .split("serial ")
                .nth(1)
                .and_then(|s| s.split(')').next())
                .unwrap()
                .to_owned();
            acked.lock().unwrap().revoked.insert(serial);
        }
    }

    // A last start must see every acknowledged write, and a CRL matching the records.
    let emu = Emulator::start_in(&dir, &[]);
    let state = State::load(&dir).unwrap();
    let records = Records::open(&state.path(files::RECORDS)).unwrap();
    let acked = acked.lock().unwrap();
    for id in &acked.customers {
        assert!(
            records.customer(Some("my_app"), id).unwrap().is_some(),
            "acknowledged customer {id} lost"
        );
    }
    let http = plain(&emu);
    let admin = crate::util::admin_token(&emu);
    let clients = crate::util::send(http.get(format!("{}/clients", emu.info.auth_url)).bearer_auth(&admin)).1;
    let listed: BTreeSet<&str> = clients["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    for id in &acked.clients {
        assert!(listed.contains(id.as_str()), "acknowledged client {id} lost");
    }
    for (client, secret) in &acked.secrets {
        let entry = clients["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == client.as_str())
            .unwrap();
        let ids: Vec<&str> = entry["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();
        assert!(
            ids.contains(&secret.as_str()),
            "acknowledged secret {secret} of {client} lost"
        );
    }
    let recorded: BTreeSet<String> = records
        .revoked_certificates()
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert!(acked.revoked.is_subset(&recorded), "acknowledged revocations lost");
    assert_eq!(
        revocation::crl_serials(&state).unwrap(),
        recorded,
        "the CRL must match the records after a restart"
    );
    [
        acked.customers.len(),
        acked.clients.len(),
        acked.secrets.len(),
        acked.revoked.len(),
    ]
}

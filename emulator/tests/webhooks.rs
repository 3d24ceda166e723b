//! Webhooks end to end: a real sandbox POSTs to a small receiver on
//! 127.0.0.1:0 that records what it gets and answers from a script. Checks
//! the envelope, the order of events, retries (same event_id, then the next
//! event), a receiver that is down (failed, and the inspector and portal
//! say so), and setting the URL by config, admin API and CLI.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::receiver::{Receiver, header};
use crate::util::{Emulator, admin_token, plain, portal_get, send};

/// A sandbox with `[webhooks]` set to `section` in its config file.
fn start_with(section: &str) -> (tempfile::TempDir, Emulator) {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("webhooks.toml");
    std::fs::write(&config, format!("[webhooks]\n{section}")).unwrap();
    crate::util::copy_template_to(&tmp.path().join("s"));
    let emu = Emulator::start_in(&tmp.path().join("s"), &["--config", config.to_str().unwrap()]);
    (tmp, emu)
}

/// A call to `/admin/webhooks{path}` with an admin token.
fn admin(emu: &Emulator, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}/admin/webhooks{path}", emu.info.auth_url);
    let mut request = plain(emu).request(method, url).bearer_auth(admin_token(emu));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, body, _) = send(request);
    (status, body)
}

fn send_test(emu: &Emulator) -> String {
    let (status, body) = admin(emu, reqwest::Method::POST, "/test", None);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["data"]["type"], "webhook.test");
    body["data"]["event_id"].as_str().unwrap().to_owned()
}

/// The inspector's delivery events, oldest first.
fn deliveries(emu: &Emulator) -> Vec<Value> {
    let (status, json, _) = portal_get(emu, "/portal/inspect.json");
    assert_eq!(status, 200);
    let mut events: Vec<Value> = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "delivery")
        .cloned()
        .collect();
    events.reverse();
    events
}

#[test]
fn events_arrive_in_order_in_the_provider_envelope_and_failures_are_retried() {
    let receiver = Receiver::start(&[500, 500]);
    let (_tmp, emu) = start_with(&format!(
        "url = \"{}\"\nmax_attempts = 4\nretry_delay_ms = 50\n",
        receiver.url
    ));
    let (status, shown) = admin(&emu, reqwest::Method::GET, "", None);
    assert_eq!(status, 200);
    assert_eq!(shown["data"]["url"], receiver.url.as_str());
    assert_eq!(shown["data"]["source"], "config");
    assert_eq!(shown["data"]["application"], "my_app");

    let sent: Vec<String> = (0..3).map(|_| send_test(&emu)).collect();
    let got = receiver.wait_for(5);
    let order: Vec<(&str, &str)> = got
        .iter()
        .map(|r| {
            (
                r.body["event_id"].as_str().unwrap(),
                header(r, "x-mtls-sandbox-attempt"),
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            (sent[0].as_str(), "1"),
            (sent[0].as_str(), "2"),
            (sent[0].as_str(), "3"),
            (sent[1].as_str(), "1"),
            (sent[2].as_str(), "1"),
        ],
        "three attempts of the first event (500, 500, 200), then the next ones in order"
    );
    let delivery_ids: std::collections::BTreeSet<&str> =
        got.iter().map(|r| header(r, "x-mtls-sandbox-delivery")).collect();
    assert_eq!(delivery_ids.len(), 5, "a delivery id per attempt");

    for r in &got {
        let body = r.body.as_object().unwrap();
        let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["event_id", "message", "payload", "timestamp", "type"]);
        assert_eq!(body["type"], "webhook.test");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(body["payload"]["application"], "my_app");
        let id = uuid::Uuid::parse_str(body["event_id"].as_str().unwrap()).unwrap();
        assert_eq!(id.get_version_num(), 4);
        let at = OffsetDateTime::parse(body["timestamp"].as_str().unwrap(), &Rfc3339).unwrap();
        assert!((OffsetDateTime::now_utc() - at).abs() < time::Duration::minutes(1));
        assert_eq!(header(r, "content-type"), "application/json");
        assert!(header(r, "user-agent").starts_with("mtls-sandbox/"), "{:?}", r.headers);
        assert_eq!(header(r, "x-mtls-sandbox-event"), "webhook.test");
    }
    assert_eq!(got[0].body, got[2].body, "a retry sends the same event");

    // The inspector's delivery log: 2 retried attempts, then 3 delivered.
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = deliveries(&emu);
        if log.len() >= 5 || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let results: Vec<(&str, Option<u64>)> = log
        .iter()
        .map(|e| (e["webhook"]["result"].as_str().unwrap(), e["status"].as_u64()))
        .collect();
    assert_eq!(
        results,
        [
            ("retrying", Some(500)),
            ("retrying", Some(500)),
            ("delivered", Some(200)),
            ("delivered", Some(200)),
            ("delivered", Some(200))
        ]
    );
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains("s3cret"), "the URL's query string stays out of the log");
    assert!(
        log[0]["explanation"].as_str().unwrap().contains("answered 500"),
        "{}",
        log[0]
    );
    emu.log_line("webhook delivered");
}

#[test]
fn a_receiver_that_is_down_ends_in_failed_and_the_url_set_at_runtime_survives_a_restart() {
    let (tmp, emu) = start_with("max_attempts = 2\nretry_delay_ms = 20\n");
    let (status, body) = admin(&emu, reqwest::Method::POST, "/test", None);
    assert_eq!(status, 409, "no URL yet: {body}");
    assert!(
        body["message"].as_str().unwrap().contains("PUT /admin/webhooks"),
        "{body}"
    );

    for (bad, needle) in [
        (json!({"url": "http://example.com/hook"}), "use https://"),
        (json!({"url": "not a url"}), "not an absolute URL"),
        (json!({"address": "https://x"}), "address"),
    ] {
        let (status, body) = admin(&emu, reqwest::Method::PUT, "", Some(bad.clone()));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{bad}: {body}");
    }

    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hooks", listener.local_addr().unwrap())
    };
    let (status, body) = admin(&emu, reqwest::Method::PUT, "", Some(json!({ "url": down })));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["source"], "runtime");
    let event_id = send_test(&emu);

    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = deliveries(&emu);
        if log.iter().any(|e| e["webhook"]["result"] == "failed") {
            break log;
        }
        assert!(Instant::now() < deadline, "no failed delivery: {log:?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let attempts: Vec<(u64, &str)> = log
        .iter()
        .map(|e| {
            (
                e["webhook"]["attempt"].as_u64().unwrap(),
                e["webhook"]["result"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(attempts, [(1, "retrying"), (2, "failed")]);
    assert!(
        log.iter()
            .all(|e| e["webhook"]["event_id"] == event_id.as_str() && e["status"].is_null())
    );
    let failed = &log[1];
    assert!(
        failed["explanation"].as_str().unwrap().contains("cannot connect"),
        "{failed}"
    );
    assert!(
        failed["fix"].as_str().unwrap().contains("start your webhook receiver"),
        "{failed}"
    );
    let (_, page, _) = portal_get(&emu, "/portal/");
    let page = page.as_str().unwrap();
    assert!(
        page.contains("data-result=\"failed\"") && page.contains(&down),
        "{page}"
    );
    emu.log_line("failed: cannot connect");

    // The URL was set at runtime: it survives a restart.
    let state = emu.state_dir.clone();
    emu.stop();
    let emu = Emulator::start_in(&state, &[]);
    let (_, shown) = admin(&emu, reqwest::Method::GET, "", None);
    assert_eq!(
        (shown["data"]["url"].as_str(), shown["data"]["source"].as_str()),
        (Some(down.as_str()), Some("runtime"))
    );
    let (status, cleared) = admin(&emu, reqwest::Method::DELETE, "", None);
    assert_eq!((status, cleared["data"]["cleared"].as_bool()), (200, Some(true)));
    assert!(cleared["data"]["url"].is_null());
    drop(tmp);
}

#[test]
fn the_cli_sets_shows_and_tests_the_url() {
    let receiver = Receiver::start(&[]);
    let emu = Emulator::start(&[]);
    let cli = |args: &[&str]| crate::util::cli(&emu, &[&["webhooks"], args].concat());
    let (code, _, stderr) = cli(&["set", "http://example.com/hook"]);
    assert_eq!(code, Some(2), "a remote http URL is a usage error: {stderr}");
    assert!(stderr.contains("use https://"), "{stderr}");
    let (code, _, stderr) = cli(&["set", &receiver.url]);
    assert_eq!(code, Some(0), "{stderr}");
    let (_, shown, _) = cli(&["show"]);
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["data"]["url"], receiver.url.as_str());
    let (code, tested, stderr) = cli(&["test"]);
    assert_eq!(code, Some(0), "{stderr}");
    let tested: Value = serde_json::from_str(&tested).unwrap();
    let got = receiver.wait_for(1);
    assert_eq!(got[0].body["type"], "webhook.test");
    assert_eq!(got[0].body["event_id"], tested["data"]["event_id"]);
    let (code, _, _) = cli(&["clear"]);
    assert_eq!(code, Some(0));
    let (code, _, stderr) = cli(&["test"]);
    assert_eq!(code, Some(2), "no URL: the sandbox refuses with 409: {stderr}");
}

#[test]
fn a_pending_retry_does_not_hold_up_shutdown() {
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hooks", listener.local_addr().unwrap())
    };
    let (_tmp, emu) = start_with(&format!("url = \"{down}\"\nmax_attempts = 5\nretry_delay_ms = 30000\n"));
    send_test(&emu);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !deliveries(&emu).iter().any(|e| e["webhook"]["result"] == "retrying") {
        assert!(Instant::now() < deadline, "no first attempt");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopping = Instant::now();
    let status = emu.stop();
    assert!(status.success(), "{status}");
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "stopped in {:?}",
        stopping.elapsed()
    );
}

#[test]
fn https_receivers_with_a_certificate_from_the_sandbox_ca_are_trusted() {
    let emu = Emulator::start(&[]);
    let ca = mtls_sandbox::state::State::load(&emu.state_dir)
        .unwrap()
        .issuing_ca()
        .unwrap();
    let server = ca
        .issue_server(&["localhost".to_owned()], OffsetDateTime::now_utc())
        .unwrap();
    let chain = format!("{}{}", server.cert_pem, emu.read("intermediate_ca.pem"));
    let receiver = Receiver::start_tls(&[], &chain, &server.key_pem);
    let (status, body) = admin(&emu, reqwest::Method::PUT, "", Some(json!({ "url": receiver.url })));
    assert_eq!(status, 200, "{body}");
    let event_id = send_test(&emu);
    let got = receiver.wait_for(1);
    assert_eq!(got[0].body["event_id"], event_id.as_str());
}

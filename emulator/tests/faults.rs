//! Fault injection and the controllable clock over real TLS: rules from
//! the admin API, the CLI and the config file; every effect; validation.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{
    Emulator, Identity, admin_token, app_identity, app_token, bin, client, fixed_port_args, plain, send, token_request,
    up_usage_error, with_app_cert,
};

/// Installs `rule`; returns (status, body).
fn add_fault(emu: &Emulator, admin: &str, rule: Value) -> (u16, Value) {
    let url = format!("{}/admin/faults", emu.info.auth_url);
    let (status, body, _) = send(plain(emu).post(url).bearer_auth(admin).json(&rule));
    (status, body)
}

fn banks(http: &reqwest::Client, base: &str, emu: &Emulator) -> (u16, Value, reqwest::header::HeaderMap) {
    send(
        http.get(format!("{base}/banks/v1"))
            .header("lean-app-token", &emu.info.app_token),
    )
}

#[test]
fn rate_limit_rules_answer_429_with_retry_after_for_their_count() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let rule = json!({"match": {"host": "mtls", "path": "/banks/*"}, "effect": {"status": 429}, "count": 2});
    let (status, body) = add_fault(&emu, &admin, rule);
    assert_eq!(status, 201, "{body}");
    assert!(
        body["data"]["id"].is_string() && body["data"]["remaining"] == 2,
        "{body}"
    );

    let (mtls, sandbox) = (with_app_cert(&emu), plain(&emu));
    assert_eq!(banks(&sandbox, &emu.info.sandbox_url, &emu).0, 200, "another host");
    for _ in 0..2 {
        let (status, body, headers) = banks(&mtls, &emu.info.mtls_url, &emu);
        assert_eq!((status, body["status"].as_str()), (429, Some("RATE_LIMIT_EXCEEDED")));
        assert_eq!(headers["retry-after"], "1");
    }
    assert_eq!(banks(&mtls, &emu.info.mtls_url, &emu).0, 200, "the count is used up");
    let list = format!("{}/admin/faults", emu.info.auth_url);
    assert_eq!(send(sandbox.get(&list).bearer_auth(&admin)).1, json!({"data": []}));
    assert!(
        emu.log().contains("fault injected: GET /banks/v1 -> 429"),
        "{}",
        emu.log()
    );
}

#[test]
fn token_errors_dropped_connections_delays_and_custom_bodies() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let http = plain(&emu);
    let rule = json!({"match": {"path": "/oauth2/token", "client_id": "testing"}, "effect": {"oauth_error": "invalid_client"}});
    assert_eq!(add_fault(&emu, &admin, rule).0, 201);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "testing"),
        ("client_secret", "testing"),
    ];
    let (status, body, headers) = token_request(&http, &emu.info.token_endpoint, &form);
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert!(
        !headers.contains_key("www-authenticate"),
        "form credentials: no challenge (RFC 6749 §5.2)"
    );
    let basic = send(
        http.post(&emu.info.token_endpoint)
            .basic_auth("testing", Some("testing"))
            .form(&[("grant_type", "client_credentials")]),
    );
    assert_eq!(basic.0, 401, "the Basic user is the client id too");
    assert!(
        basic.2.contains_key("www-authenticate"),
        "Basic credentials: challenged"
    );
    app_token(&emu, "api"); // other clients are unaffected

    let list = format!("{}/admin/faults", emu.info.auth_url);
    assert_eq!(
        send(http.delete(&list).bearer_auth(&admin)).1,
        json!({"data": {"cleared": 1}})
    );

    let rule = json!({"match": {"path": "/banks/v1", "method": "get"}, "effect": {"drop": true}, "count": 1});
    assert_eq!(add_fault(&emu, &admin, rule).0, 201);
    let dropped = crate::util::block_on(async {
        let resp = http
            .get(format!("{}/banks/v1", emu.info.sandbox_url))
            .header("lean-app-token", &emu.info.app_token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "headers arrive, then the connection drops");
        resp.bytes().await
    });
    assert!(dropped.is_err(), "the body must be cut off: {dropped:?}");

    let rule = json!({"match": {"path": "/customers/*"}, "effect": {"status": 503, "body": {"status": "MAINTENANCE"}, "retry_after": 7, "delay_ms": 300}, "count": 1});
    assert_eq!(add_fault(&emu, &admin, rule).0, 201);
    let started = Instant::now();
    let (status, body, headers) = send(
        http.get(format!("{}/customers/v1/x", emu.info.sandbox_url))
            .header("lean-app-token", &emu.info.app_token),
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        (status, body, headers["retry-after"].to_str().unwrap()),
        (503, json!({"status": "MAINTENANCE"}), "7")
    );
}

#[test]
fn rules_are_validated_admin_only_and_never_block_the_admin_api() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let cases = [
        (
            json!({"match": {"host": "web"}, "effect": {"status": 500}}),
            "match.host",
        ),
        (
            json!({"match": {"path": "/a/[b"}, "effect": {"status": 500}}),
            "match.path",
        ),
        (json!({"effect": {"status": 1000}}), "effect.status"),
        (json!({"effect": {}}), "nothing to do"),
        (json!({"effect": {"status": 429}, "duration": "soon"}), "duration"),
        (json!({"effect": {"status": "x"}}), "effect.status"),
        (json!({"efect": {"status": 500}}), "efect"),
    ];
    for (rule, needle) in cases {
        let (status, body) = add_fault(&emu, &admin, rule.clone());
        assert_eq!(
            (status, body["status"].as_str()),
            (400, Some("INVALID_PARAMETERS")),
            "{rule}"
        );
        assert!(body["message"].as_str().unwrap().contains(needle), "{rule}: {body}");
    }
    let api = app_token(&emu, "api");
    assert_eq!(add_fault(&emu, &api, json!({"effect": {"status": 500}})).0, 403);

    // A catch-all outage still leaves /admin/* reachable to remove it.
    assert_eq!(
        add_fault(&emu, &admin, json!({"match": {"path": "*"}, "effect": {"status": 503}})).0,
        201
    );
    let http = plain(&emu);
    assert_eq!(send(http.get(format!("{}/health", emu.info.auth_url))).0, 503);
    let list = format!("{}/admin/faults", emu.info.auth_url);
    let (status, body, _) = send(http.get(&list).bearer_auth(&admin));
    assert_eq!(status, 200);
    let id = body["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(send(http.delete(format!("{list}/{id}")).bearer_auth(&admin)).0, 204);
    assert_eq!(send(http.delete(format!("{list}/{id}")).bearer_auth(&admin)).0, 404);
    assert_eq!(send(http.get(format!("{}/health", emu.info.auth_url))).0, 200);
}

#[test]
fn key_rotation_and_certificate_revocation_faults() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let http = plain(&emu);
    let old = app_token(&emu, "api");
    let jwks_url = format!("{}/jwks.json", emu.info.auth_url);
    let kids = |jwks: Value| -> Vec<String> {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let before = kids(send(http.get(&jwks_url)).1);
    let key_file = emu.read("oauth_signing_key_ps256.pem");
    let rule = json!({"match": {"path": "/jwks.json"}, "effect": {"rotate_keys": true}, "count": 1});
    assert_eq!(add_fault(&emu, &admin, rule).0, 201);
    let after = kids(send(http.get(&jwks_url)).1);
    assert_eq!(after.len(), 1);
    assert!(
        !after.contains(&before[0]),
        "the old key left the JWKS: {before:?} {after:?}"
    );
    let call = |token: &str| {
        send(
            http.get(format!("{}/banks/v1", emu.info.sandbox_url))
                .bearer_auth(token),
        )
        .0
    };
    assert_eq!(call(&old), 401, "tokens signed with the old key fail");
    assert_eq!(call(&app_token(&emu, "api")), 200);
    let admin = admin_token(&emu); // the old admin token went with the old key
    assert_ne!(
        emu.read("oauth_signing_key_ps256.pem"),
        key_file,
        "the new key is persisted"
    );

    let rule =
        json!({"match": {"host": "mtls", "subject": "CN=my_app"}, "effect": {"revoke_certificate": true}, "count": 1});
    assert_eq!(add_fault(&emu, &admin, rule).0, 201);
    let mtls = with_app_cert(&emu);
    assert_eq!(
        banks(&mtls, &emu.info.mtls_url, &emu).0,
        200,
        "the matching request itself is served"
    );
    emu.log_line("revocation list changed");
    let chain = emu.read("lean_public_cert_chain.pem");
    let fresh = client(&chain, Identity::Chain(app_identity(&emu), chain.clone()));
    let refused = crate::util::block_on(async { fresh.get(format!("{}/health", emu.info.mtls_url)).send().await });
    assert!(
        refused.is_err(),
        "a new handshake with the revoked certificate must fail"
    );
    assert!(emu.log_line("handshake refused").contains("revoked"));
}

#[test]
fn admin_clock_moves_time_past_a_token_expiry() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let http = plain(&emu);
    let token = app_token(&emu, "api");
    let call = || {
        send(
            http.get(format!("{}/banks/v1", emu.info.sandbox_url))
                .bearer_auth(&token),
        )
        .0
    };
    assert_eq!(call(), 200);
    let clock = format!("{}/admin/clock", emu.info.auth_url);
    let (status, body, _) = send(http.post(&clock).bearer_auth(&admin).json(&json!({"advance": "2h"})));
    assert_eq!(status, 200, "{body}");
    let now = time::OffsetDateTime::parse(
        body["data"]["now"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert!(now - time::OffsetDateTime::now_utc() > time::Duration::minutes(119));
    assert_eq!(call(), 401, "expired without sleeping");
    let admin = admin_token(&emu); // the first one expired too

    let (status, body, _) = send(
        http.post(&clock)
            .bearer_auth(&admin)
            .json(&json!({"set": "2031-02-03T04:05:06Z"})),
    );
    assert_eq!(
        (status, body["data"]["now"].as_str().unwrap().get(..10)),
        (200, Some("2031-02-03"))
    );
    let admin = admin_token(&emu);
    for (bad, needle) in [
        (json!({"set": "tomorrow"}), "set:"),
        (json!({}), "exactly one"),
        (json!({"advance": "2 weeks"}), "advance:"),
    ] {
        let (status, body, _) = send(http.post(&clock).bearer_auth(&admin).json(&bad));
        assert_eq!(status, 400, "{bad}");
        assert!(body["message"].as_str().unwrap().contains(needle), "{bad}: {body}");
    }
    let api = app_token(&emu, "api");
    assert_eq!(send(http.get(&clock).bearer_auth(&api)).0, 403, "admin scope only");
}

/// Issue #18 item 2: a clock pushed past the representable dates made every
/// later clock read panic, so the admin API could not even set it back.
#[test]
fn the_clock_cannot_be_pushed_out_of_range() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let http = plain(&emu);
    let clock = format!("{}/admin/clock", emu.info.auth_url);
    for (bad, field) in [
        (json!({"advance": "100000000d"}), "advance:"),
        (json!({"advance": "-36600d"}), "advance:"),
        (json!({"advance": "999999999999999d"}), "advance:"),
        (json!({"set": "9999-12-31T23:59:59Z"}), "set:"),
        (json!({"set": "0001-01-01T00:00:00Z"}), "set:"),
    ] {
        let (status, body, _) = send(http.post(&clock).bearer_auth(&admin).json(&bad));
        let message = body["message"].as_str().unwrap_or_default();
        assert_eq!(
            (status, body["status"].as_str()),
            (400, Some("INVALID_PARAMETERS")),
            "{bad}: {body}"
        );
        assert!(message.starts_with(field), "{bad}: {body}");
        assert!(
            message.contains("100 years") || message.contains("too long"),
            "names the allowed range: {body}"
        );
    }
    let (status, body, _) = send(http.get(&clock).bearer_auth(&admin));
    assert_eq!(
        (status, body["data"]["real_time"].as_bool()),
        (200, Some(true)),
        "{body}"
    );
    assert_eq!(
        banks(&with_app_cert(&emu), &emu.info.mtls_url, &emu).0,
        200,
        "handshakes and the API still work"
    );
    assert_eq!(app_token(&emu, "api").split('.').count(), 3);

    let cli = std::process::Command::new(bin())
        .args(["clock", "set", "9999-12-31T23:59:59Z", "--state-dir"])
        .arg(&emu.state_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert!(stderr.contains("100 years"), "{stderr}");
    assert_ne!(cli.status.code(), Some(0), "{stderr}");

    for spec in ["+100000000d", "9999-12-31T23:59:59Z"] {
        let stderr = up_usage_error(&["--clock", spec]);
        assert!(stderr.contains("100 years"), "{spec}: {stderr}");
    }
}

#[test]
fn cli_and_config_file_install_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("faults.toml");
    std::fs::write(
        &config,
        "[[faults]]\nmatch = { host = \"sandbox\", path = \"/banks/v1\" }\neffect = { status = 500 }\ncount = 1\n",
    )
    .unwrap();
    crate::util::copy_template_to(&tmp.path().join("s"));
    let emu = Emulator::start_in(&tmp.path().join("s"), &["--config", config.to_str().unwrap()]);
    let http = plain(&emu);
    let (status, body, _) = banks(&http, &emu.info.sandbox_url, &emu);
    assert_eq!((status, body["status"].as_str()), (500, Some("INTERNAL_ERROR")));

    let cli = |args: &[&str]| crate::util::cli(&emu, &[&["faults"], args].concat());
    let (code, stdout, stderr) = cli(&[
        "add", "--host", "sandbox", "--path", "/banks/*", "--status", "503", "--count", "1",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let added: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(added["data"]["effect"]["status"], 503);
    let (status, _, headers) = banks(&http, &emu.info.sandbox_url, &emu);
    assert_eq!((status, headers["retry-after"].to_str().unwrap()), (503, "1"));
    let (code, stdout, _) = cli(&["list"]);
    assert_eq!(
        (code, serde_json::from_str::<Value>(&stdout).unwrap()),
        (Some(0), json!({"data": []}))
    );
    let (code, _, stderr) = cli(&["add", "--status", "42"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("effect.status"), "{stderr}");
    let (code, stdout, _) = cli(&["clear"]);
    assert_eq!((code, stdout.contains("\"cleared\": 0")), (Some(0), true));
    drop(emu);

    std::fs::write(&config, "[[faults]]\neffect = { oauth_error = \"oops\" }\n").unwrap();
    let stderr = up_usage_error(&["--config", config.to_str().unwrap()]);
    let named = ["faults.toml", "faults[0]", "effect.oauth_error"];
    assert!(named.iter().all(|n| stderr.contains(n)), "{stderr}");
}

/// `--deterministic SEED`: two fresh runs on the same state path and ports
/// give the same sandbox.json (but for `pid`, which tells `status` and `down`
/// which process serves the state dir, and the portal token, which must stay
/// unguessable: issue #18 item 17), the same keys, serials, ids, secrets and
/// token ids.
#[test]
fn deterministic_runs_repeat_keys_ids_and_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("es256.toml");
    // RSA keys cannot be derived from a seed: P-256 client key, ES256 signing key.
    std::fs::write(
        &config,
        "[app]\nkey_type = \"p256\"\n[oauth]\nsigning_alg = \"ES256\"\n",
    )
    .unwrap();
    let ports = fixed_port_args();
    let state = tmp.path().join("state");
    let run = |seed: &str| {
        let _ = std::fs::remove_dir_all(&state);
        let mut args = vec!["--config", config.to_str().unwrap(), "--deterministic", seed];
        args.extend(ports.iter().map(String::as_str));
        let emu = Emulator::start_in(&state, &args);
        let http = plain(&emu);
        let token = app_token(&emu, "api");
        let jti = crate::util::jwt_claims(&token)["jti"].clone();
        let customer = send(
            http.post(format!("{}/customers/v1", emu.info.sandbox_url))
                .header("lean-app-token", &emu.info.app_token)
                .json(&json!({"app_user_id": "u1"})),
        )
        .1["customer_id"]
            .clone();
        let admin = admin_token(&emu);
        let clients = format!("{}/clients", emu.info.auth_url);
        let client = send(http.post(&clients).bearer_auth(&admin).json(&json!({"name": "ci"}))).1["data"]["id"].clone();
        let secret = send(
            http.post(format!("{clients}/{}/secrets", client.as_str().unwrap()))
                .bearer_auth(&admin)
                .json(&json!({"name": "s"})),
        )
        .1["data"]
            .clone();
        let kid = send(http.get(format!("{}/jwks.json", emu.info.auth_url))).1["keys"][0]["kid"].clone();
        let sandbox_json: Value = serde_json::from_str(&emu.read("sandbox.json")).unwrap();
        let files: Vec<String> = [
            "root_ca_key.pem",
            "my_app_private_key.pem",
            "oauth_signing_key_es256.pem",
        ]
        .iter()
        .map(|f| emu.read(f))
        .collect();
        let serial = x509_parser::pem::parse_x509_pem(emu.read("my_app_cert.crt").as_bytes())
            .unwrap()
            .1
            .parse_x509()
            .unwrap()
            .raw_serial()
            .to_vec();
        let mut sandbox_json = sandbox_json;
        let fields = sandbox_json.as_object_mut().unwrap();
        fields.remove("pid");
        fields.remove("portal_url");
        let portal_token = fields.remove("portal_token").unwrap();
        drop(emu);
        (
            json!({"sandbox.json": sandbox_json, "jti": jti, "customer": customer, "client": client, "secret": secret,
                   "kid": kid, "files": files, "serial": serial}),
            portal_token,
        )
    };
    let (first, first_portal) = run("workshop");
    let (second, second_portal) = run("workshop");
    assert_eq!(first, second);
    assert_ne!(first_portal, second_portal, "the portal token is random in every mode");
    let (other, _) = run("another seed");
    assert_ne!(first["sandbox.json"]["app_token"], other["sandbox.json"]["app_token"]);
    assert_ne!(first["files"], other["files"]);
}

//! The resource API over real TLS: authentication, errors, persistence.

use serde_json::{Value, json};

use crate::util::{Emulator, Identity, app_identity, block_on, client};

fn sandbox_client(emu: &Emulator) -> reqwest::Client {
    client(&emu.read("lean_public_cert_chain.pem"), Identity::None)
}

/// (status, body as JSON) of a request built by `f`.
fn call(req: reqwest::RequestBuilder) -> (u16, Value, reqwest::header::HeaderMap) {
    block_on(async {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body, headers)
    })
}

#[test]
fn app_token_authenticates_and_errors_are_provider_json() {
    let emu = Emulator::start(&[]);
    let http = sandbox_client(&emu);
    let base = &emu.info.sandbox_url;
    let token = emu.info.app_token.as_str();

    let (status, banks, _) = call(http.get(format!("{base}/banks/v1")).header("lean-app-token", token));
    assert_eq!(status, 200);
    assert_eq!(banks[0]["identifier"], "LEANMB1");

    let (status, body, headers) = call(http.get(format!("{base}/banks/v1")));
    assert_eq!((status, body["status"].as_str()), (401, Some("UNAUTHORIZED")));
    assert!(body["message"].as_str().unwrap().contains("lean-app-token"));
    assert!(headers.contains_key("www-authenticate"));

    let (status, body, _) = call(http.get(format!("{base}/banks/v1")).header("lean-app-token", "wrong"));
    assert_eq!((status, body["status"].as_str()), (401, Some("UNAUTHORIZED")));

    let (status, body, _) = call(http.get(format!("{base}/nope")).header("lean-app-token", token));
    assert_eq!((status, body["status"].as_str()), (404, Some("NOT_FOUND")));

    let post = |body: &'static str, ct: &str| {
        http.post(format!("{base}/customers/v1"))
            .header("lean-app-token", token)
            .header("content-type", ct)
            .body(body)
    };
    let (status, body, _) = call(post("{not json", "application/json"));
    assert_eq!((status, body["status"].as_str()), (400, Some("INVALID_PARAMETERS")));
    let (status, body, _) = call(post(r#"{"app_user_id": 5}"#, "application/json"));
    assert_eq!((status, body["status"].as_str()), (400, Some("INVALID_PARAMETERS")));
    let (status, body, _) = call(post(r#"{"app_user_id": "1"}"#, "text/plain"));
    assert_eq!((status, body["status"].as_str()), (415, Some("UNSUPPORTED_MEDIA_TYPE")));
    let big = format!(r#"{{"app_user_id": "{}"}}"#, "x".repeat(100_000));
    let (status, body, _) = call(
        http.post(format!("{base}/customers/v1"))
            .header("lean-app-token", token)
            .header("content-type", "application/json")
            .body(big),
    );
    assert_eq!((status, body["status"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")));
    let (status, body, _) = call(http.delete(format!("{base}/banks/v1")).header("lean-app-token", token));
    assert_eq!((status, body["status"].as_str()), (405, Some("METHOD_NOT_ALLOWED")));
}

#[test]
fn customers_and_transactions_work_on_the_mtls_host_and_persist_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    crate::util::copy_template_to(&dir);
    let emu = Emulator::start_in(&dir, &[]);
    let chain = emu.read("lean_public_cert_chain.pem");
    let mtls = client(&chain, Identity::Chain(app_identity(&emu), chain.clone()));
    let token = emu.info.app_token.clone();
    let base = emu.info.mtls_url.clone();

    let (status, created, _) = call(
        mtls.post(format!("{base}/customers/v1"))
            .header("lean-app-token", &token)
            .json(&json!({"app_user_id": "user-001"})),
    );
    assert_eq!(status, 200);
    let id = created["customer_id"].as_str().unwrap().to_owned();
    let (status, dup, _) = call(
        mtls.post(format!("{base}/customers/v1"))
            .header("lean-app-token", &token)
            .json(&json!({"app_user_id": "user-001"})),
    );
    assert_eq!((status, dup["status"].as_str()), (409, Some("DUPLICATE_APP_USER_ID")));

    let (status, tx, _) = call(
        mtls.post(format!("{base}/api/transactions"))
            .header("lean-app-token", &token)
            .json(&json!({"amount": 10})),
    );
    assert_eq!(
        (status, tx["status"].as_str(), &tx["details"]),
        (201, Some("CREATED"), &json!({"amount": 10}))
    );

    let cert_before = emu.read("my_app_cert.crt");
    assert!(emu.stop().success());

    let emu = Emulator::start_in(&dir, &[]);
    assert_eq!(
        emu.read("my_app_cert.crt"),
        cert_before,
        "restart must keep certificates"
    );
    assert_eq!(emu.info.app_token, token, "restart must keep credentials");
    let mtls = client(&chain, Identity::Chain(app_identity(&emu), chain.clone()));
    let (status, fetched, _) = call(
        mtls.get(format!("{}/customers/v1/{id}", emu.info.mtls_url))
            .header("lean-app-token", &token),
    );
    assert_eq!((status, fetched), (200, created));
    let (status, missing, _) = call(
        mtls.get(format!("{}/customers/v1/unknown", emu.info.mtls_url))
            .header("lean-app-token", &token),
    );
    assert_eq!((status, missing["status"].as_str()), (404, Some("NOT_FOUND")));
}

#[test]
fn oauth_mode_refuses_the_app_token_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("config.toml");
    std::fs::write(&config, "[app]\nauth_mode = \"oauth\"\n").unwrap();
    crate::util::copy_template_to(&tmp.path().join("state"));
    let emu = Emulator::start_in(&tmp.path().join("state"), &["--config", config.to_str().unwrap()]);
    let (status, body, _) = call(
        sandbox_client(&emu)
            .get(format!("{}/banks/v1", emu.info.sandbox_url))
            .header("lean-app-token", &emu.info.app_token),
    );
    assert_eq!(status, 401);
    assert!(
        body["message"].as_str().unwrap().contains("switched to OAuth"),
        "{body}"
    );
}

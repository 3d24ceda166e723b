//! The provider's documented API served from a profile, over real TLS:
//! customers with the provider's routes and pagination, linking, the data v2
//! chain, payment status on the sandbox clock, idempotency, the error
//! shapes, customer-scoped tokens, another region's profile, and our own
//! Postman collection run by newman.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::util::{Emulator, Reply, admin_token, app_token, bin, plain, send, with_app_cert};

/// A caller of one host with the app token.
pub struct Api<'a> {
    emu: &'a Emulator,
    http: reqwest::Client,
    base: String,
}

impl<'a> Api<'a> {
    pub fn sandbox(emu: &'a Emulator) -> Self {
        Self {
            emu,
            http: plain(emu),
            base: emu.info.sandbox_url.clone(),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        send(
            self.http
                .get(format!("{}{path}", self.base))
                .header("lean-app-token", &self.emu.info.app_token),
        )
    }

    pub fn post(&self, path: &str, body: Value) -> Reply {
        send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("lean-app-token", &self.emu.info.app_token)
                .json(&body),
        )
    }

    pub fn ok(&self, path: &str) -> Value {
        let (status, body, _) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }
}

/// `POST /admin/...` on the auth host with an admin token.
pub fn admin(emu: &Emulator, path: &str, body: Value) -> Reply {
    send(
        plain(emu)
            .post(format!("{}{path}", emu.info.auth_url))
            .bearer_auth(admin_token(emu))
            .json(&body),
    )
}

pub fn create_customer(api: &Api, path: &str, app_user_id: &str) -> String {
    let (status, body, _) = api.post(path, json!({ "app_user_id": app_user_id }));
    assert_eq!(status, 200, "{body}");
    body["customer_id"].as_str().unwrap().to_owned()
}

/// Links `customer` to LEANMB1; returns the entity id.
pub fn link(emu: &Emulator, api: &Api, customer: &str) -> String {
    let (status, body, _) = admin(
        emu,
        &format!("/admin/customers/{customer}/link"),
        json!({"bank_identifier": "LEANMB1"}),
    );
    assert_eq!(status, 201, "{body}");
    let entities = api.ok(&format!("/customers/v1/{customer}/entities"));
    entities[0]["id"].as_str().unwrap().to_owned()
}

#[test]
fn customers_page_link_and_scoped_tokens_see_only_their_own_customer() {
    let emu = Emulator::start(&[]);
    let api = Api::sandbox(&emu);
    let first = create_customer(&api, "/customers/v1/", "alice");
    let second = create_customer(&api, "/customers/v1", "bob");
    create_customer(&api, "/customers/v1/", "carol");
    let (status, dup, _) = api.post("/customers/v1/", json!({"app_user_id": "alice"}));
    assert_eq!((status, dup["status"].as_str()), (409, Some("DUPLICATE_APP_USER_ID")));

    let page = api.ok("/customers/v1?page_number=1&page_size=2");
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["app_user_id"], "carol");
    assert_eq!(
        page["page"],
        json!({"number": 1, "size": 2, "total_elements": 3, "total_pages": 2, "sort": null})
    );
    let (status, bad, _) = api.get("/customers/v1/?page_size=0");
    assert_eq!((status, bad["status"].as_str()), (400, Some("INVALID_PARAMETERS")));
    assert!(bad["message"].as_str().unwrap().contains("page_size"), "{bad}");
    assert!(bad.get("timestamp").is_some() && bad["metadata"].is_null(), "{bad}");
    assert_eq!(api.ok("/customers/v1/app-user-id/bob")["customer_id"], second.as_str());

    let entity = link(&emu, &api, &first);
    let (status, unknown, _) = admin(
        &emu,
        &format!("/admin/customers/{first}/link"),
        json!({"bank_identifier": "NOPE"}),
    );
    assert_eq!(status, 400);
    assert!(unknown["message"].as_str().unwrap().contains("LEANMB1"), "{unknown}");

    // A token for the first customer reads its data, not the second's.
    let token = app_token(&emu, &format!("customer.{first}"));
    let as_customer = |path: &str| {
        send(
            plain(&emu)
                .get(format!("{}{path}", emu.info.sandbox_url))
                .bearer_auth(&token),
        )
    };
    assert_eq!(as_customer(&format!("/customers/v1/{first}/entities")).0, 200);
    assert_eq!(as_customer(&format!("/data/v2/accounts?entity_id={entity}")).0, 200);
    let (status, refused, _) = as_customer(&format!("/customers/v1/{second}/entities"));
    assert_eq!(
        (status, refused["status"].as_str()),
        (403, Some("INSUFFICIENT_ACCESS_LEVEL"))
    );
    assert_eq!(as_customer("/customers/v1").0, 403, "listing customers needs scope api");
}

#[test]
fn data_chain_payment_status_on_the_clock_idempotency_and_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let emu = Emulator::start_in(&dir, &["--deterministic", "provider"]);
    let api = Api::sandbox(&emu);
    let customer = create_customer(&api, "/customers/v1", "dana");
    let entity = link(&emu, &api, &customer);

    let accounts = api.ok(&format!("/data/v2/accounts?entity_id={entity}"));
    assert_eq!(
        (accounts["status"].as_str(), accounts["type"].as_str()),
        (Some("OK"), Some("accounts"))
    );
    let account = accounts["data"]["accounts"][0]["account_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = api.ok(&format!("/data/v2/accounts/{account}/transactions?page=2&size=10"));
    let transactions = page["data"]["transactions"].as_array().unwrap();
    assert_eq!(
        (transactions.len(), &page["data"]["page"]["total_elements"]),
        (4, &json!(24))
    );
    assert!(
        transactions
            .iter()
            .all(|t| t["account_id"] == account.as_str() && t["entity_id"] == entity.as_str())
    );

    let (status, missing, _) = api.get("/data/v2/accounts/no-such-account/balances");
    assert_eq!(status, 404);
    assert_eq!(
        missing.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["message", "metadata", "results_id", "status", "timestamp"]
    );
    let (status, no_entity, _) = api.get("/data/v2/accounts");
    assert_eq!(
        (status, no_entity["message"].as_str()),
        (400, Some("entity_id is required"))
    );

    // An intent's payment moves through the statuses on the sandbox clock.
    let intent_body = json!({"amount": 75, "currency": "AED", "customer_id": customer});
    let create = |key: &str| {
        send(
            with_app_cert(&emu)
                .post(format!("{}/payments/v1/intents", emu.info.mtls_url))
                .header("lean-app-token", &emu.info.app_token)
                .header("Idempotency-Key", key)
                .json(&intent_body),
        )
    };
    let (status, intent, _) = create("k1");
    assert_eq!(status, 200, "{intent}");
    assert_eq!(create("k1").1, intent, "the same key answers the first response");
    assert_ne!(create("k2").1["payment_intent_id"], intent["payment_intent_id"]);
    let intent_id = intent["payment_intent_id"].as_str().unwrap();
    let fetched = api.ok(&format!("/payments/v1/intents/{intent_id}"));
    let payment = fetched["payments"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(fetched["payments"][0]["status"], "AWAITING_AUTHORIZATION");
    let (status, _, _) = admin(&emu, "/admin/clock", json!({"advance": "2m"}));
    assert_eq!(status, 200);
    assert_eq!(
        api.ok(&format!("/payments/v1/{payment}"))["status"],
        "PENDING_WITH_BANK"
    );
    admin(&emu, "/admin/clock", json!({"advance": "10m"}));
    assert_eq!(api.ok(&format!("/payments/v1/{payment}"))["status"], "ACCEPTED_BY_BANK");
    let (status, refund, _) = api.post(
        "/payouts/refunds",
        json!({"payment_id": payment, "amount": 10, "reason_code": "CUSTOMER_REQUEST"}),
    );
    assert_eq!((status, &refund[0]["payment_id"]), (201, &json!(payment)));
    assert_eq!(
        api.post("/payouts/refunds", json!({"payment_id": "nope", "amount": 1}))
            .0,
        404
    );
    let (status, bad, _) = api.post(
        "/payments/v1/intents",
        json!({"amount": "lots", "customer_id": customer}),
    );
    assert_eq!(status, 400);
    assert!(bad["message"].as_str().unwrap().contains("amount"), "{bad}");

    // What a client created survives a restart.
    assert!(emu.stop().success());
    let emu = Emulator::start_in(&dir, &[]);
    let api = Api::sandbox(&emu);
    assert_eq!(
        api.ok(&format!("/customers/v1/{customer}/entities"))[0]["id"],
        entity.as_str()
    );
    assert_eq!(api.ok("/payments/v1/intents")["page"]["total_elements"], 2);
}

#[test]
fn the_ksa_profile_serves_its_own_surface_and_a_bad_profile_is_a_usage_error() {
    let emu = Emulator::start(&["--provider", "lean-ksa"]);
    let api = Api::sandbox(&emu);
    let customer = create_customer(&api, "/customers/v1/", "saad");
    let entity = link(&emu, &api, &customer);
    let accounts = api.ok(&format!("/data/v2/accounts?entity_id={entity}"));
    assert_eq!(accounts["data"]["accounts"][0]["currency"], "SAR");
    let (status, verified, _) = api.post(
        "/verifications/v2/entity",
        json!({"entity_id": entity, "identifications": [{"type": "NATIONAL_ID", "value": "1000000001"}]}),
    );
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["verifications"]["ibans"].as_array().unwrap().len(), 2);
    assert_eq!(
        api.ok(&format!("/insights/v2/income/employment?entity_id={entity}"))["status"],
        "OK"
    );
    assert_eq!(
        api.post("/payments/v1/intents", json!({})).0,
        404,
        "KSA has no payments"
    );

    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("c.toml");
    std::fs::write(&config, "[provider]\nprofile = \"lean-mars\"\n").unwrap();
    let out = Command::new(bin())
        .args(["up", "--config"])
        .arg(&config)
        .arg("--state-dir")
        .arg(tmp.path().join("s"))
        .env_remove("MTLS_SANDBOX_STATE_DIR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("c.toml") && stderr.contains("lean-mars"), "{stderr}");
}

#[test]
fn the_link_command_links_through_the_running_sandbox() {
    let emu = Emulator::start(&[]);
    let api = Api::sandbox(&emu);
    let customer = create_customer(&api, "/customers/v1", "erin");
    let out = Command::new(bin())
        .args(["link", &customer, "--bank", "LEANMB1", "--state-dir"])
        .arg(&emu.state_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["data"]["customer_id"], customer.as_str());
    assert_eq!(
        api.ok(&format!("/customers/v1/{customer}/payment-sources"))[0]["accounts"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// The portal's "Test users" form plays the web SDK too: after "Link" the
/// customer has its entity; an unknown bank is refused with the list.
#[test]
fn the_portal_links_a_test_user() {
    let emu = Emulator::start(&[]);
    let api = Api::sandbox(&emu);
    let customer = create_customer(&api, "/customers/v1", "frank");
    let (status, page, _) = crate::util::portal_get(&emu, "/portal/");
    assert_eq!(status, 200);
    let page = page.as_str().unwrap();
    assert!(
        page.contains("id=\"link-form\"") && page.contains("<option value=\"LEANMB1\">"),
        "{page}"
    );
    let refused = crate::portal::portal_post(
        &emu,
        "/portal/test-users/link",
        &[("customer_id", &customer), ("bank_identifier", "NOBANK")],
    );
    assert_eq!(refused.status, 400);
    assert!(String::from_utf8_lossy(&refused.body).contains("use one of: LEANMB1"));
    assert!(
        api.ok(&format!("/customers/v1/{customer}/entities"))
            .as_array()
            .unwrap()
            .is_empty()
    );
    let linked = crate::portal::portal_post(
        &emu,
        "/portal/test-users/link",
        &[("customer_id", &customer), ("bank_identifier", "LEANMB1")],
    );
    assert_eq!(linked.status, 303);
    let location = linked.headers["location"].to_str().unwrap();
    assert!(location.ends_with("?notice=customer-linked#test-users"), "{location}");
    let entities = api.ok(&format!("/customers/v1/{customer}/entities"));
    assert_eq!(entities[0]["bank_identifier"], "LEANMB1");
}

fn newman_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/newman")
}

/// Our own Postman collection (every family of the UAE profile) through
/// newman: every request 2xx, every assertion passing.
#[test]
fn newman_runs_the_provider_collection_green() {
    let dir = newman_dir();
    let newman = dir.join("node_modules/newman/bin/newman.js");
    assert!(
        newman.exists(),
        "newman is missing: npm ci --prefix emulator/tests/newman (scripts/test does it)"
    );
    let emu = Emulator::start(&[]);
    let report = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new("node")
        .arg(&newman)
        .arg("run")
        .arg(dir.join("provider-uae.postman_collection.json"))
        .args(["--env-var", &format!("baseUrl={}", emu.info.sandbox_url)])
        .args(["--env-var", &format!("authUrl={}", emu.info.auth_url)])
        .args(["--env-var", &format!("appToken={}", emu.info.app_token)])
        .arg("--ssl-extra-ca-certs")
        .arg(emu.file("lean_public_cert_chain.pem"))
        .args(["--reporters", "cli,json", "--reporter-json-export"])
        .arg(report.path())
        .output()
        .expect("node must be installed (scripts/test installs it)");
    let cli = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "newman failed:\n{cli}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&std::fs::read(report.path()).unwrap()).unwrap();
    let stats = &report["run"]["stats"];
    assert_eq!(stats["requests"]["total"], 60, "{cli}");
    assert_eq!(stats["requests"]["failed"], 0, "{cli}");
    assert_eq!(stats["assertions"]["failed"], 0, "{cli}");
    assert!(stats["assertions"]["total"].as_u64().unwrap() >= 120, "{cli}");
    let codes: Vec<u64> = report["run"]["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["code"].as_u64().unwrap_or(0))
        .collect();
    assert!(codes.iter().all(|c| (200..300).contains(c)), "{codes:?}");
}

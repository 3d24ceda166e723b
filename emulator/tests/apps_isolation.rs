//! Isolation between applications (issue #17 item 2), over real TLS: what
//! one application creates, another cannot read, change or list, with any
//! of its credentials — app token, JWT, opaque token, customer-scoped
//! token — and gets the answer an unknown id gets (404 `NOT_FOUND`). On the
//! mtls host a credential and a certificate must be one application's.
//! Fault rules can match one application.

use serde_json::{Value, json};

use crate::apps::{new_app, token_of, with_cert_of};
use crate::util::{Emulator, Reply, admin_token, plain, send, token_request};
use mtls_sandbox::info::SandboxInfo;

/// How a request authenticates.
#[derive(Clone, Debug)]
enum Cred {
    AppToken(String),
    Bearer(String),
}

/// Calls one host as one application's credential.
struct As<'a> {
    http: reqwest::Client,
    base: &'a str,
    cred: Cred,
}

impl As<'_> {
    fn request(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        req = match &self.cred {
            Cred::AppToken(token) => req.header("lean-app-token", token),
            Cred::Bearer(token) => req.bearer_auth(token),
        };
        if let Some(body) = body {
            req = req.json(&body);
        }
        send(req)
    }

    fn get(&self, path: &str) -> Reply {
        self.request(reqwest::Method::GET, path, None)
    }

    fn post(&self, path: &str, body: Value) -> Reply {
        self.request(reqwest::Method::POST, path, Some(body))
    }

    /// A request that must succeed; its body.
    fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, reply, _) = self.request(method.clone(), path, body);
        assert!((200..300).contains(&status), "{method} {path}: {status} {reply}");
        reply
    }
}

fn on_sandbox<'a>(emu: &'a Emulator, cred: Cred) -> As<'a> {
    As {
        http: plain(emu),
        base: &emu.info.sandbox_url,
        cred,
    }
}

/// An opaque token for a client of the application `app`, registered
/// through `/clients` with `"app"`.
fn opaque_token_of(emu: &Emulator, admin: &str, app: &str, scope: &str) -> String {
    let http = plain(emu);
    let clients = format!("{}/clients", emu.info.auth_url);
    let body = json!({"name": format!("{app} opaque"), "app": app, "token_format": "opaque"});
    let (status, client, _) = send(http.post(&clients).bearer_auth(admin).json(&body));
    assert_eq!(status, 201, "{client}");
    let id = client["data"]["id"].as_str().unwrap().to_owned();
    let (status, secret, _) = send(
        http.post(format!("{clients}/{id}/secrets"))
            .bearer_auth(admin)
            .json(&json!({"name": "s"})),
    );
    assert_eq!(status, 201, "{secret}");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret["data"]["clear"].as_str().unwrap()),
        ("scope", scope),
    ];
    let (status, token, _) = token_request(&http, &emu.info.token_endpoint, &form);
    assert_eq!(status, 200, "{token}");
    let token = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 1, "an opaque reference, not a JWT: {token}");
    token
}

/// Every way `info`'s application calls the resource API with scope `api`.
fn credentials(emu: &Emulator, admin: &str, name: &str, info: &SandboxInfo) -> Vec<(&'static str, Cred)> {
    vec![
        ("app token", Cred::AppToken(info.app_token.clone())),
        ("JWT", Cred::Bearer(token_of(emu, info, "api"))),
        ("opaque token", Cred::Bearer(opaque_token_of(emu, admin, name, "api"))),
    ]
}

fn assert_not_found(reply: &Reply, what: &str) {
    assert_eq!(reply.0, 404, "{what}: {}", reply.1);
    let text = reply.1.to_string();
    assert!(
        text.contains("NOT_FOUND") || text.contains("not found") || text.contains("no "),
        "{what}: {text}"
    );
}

/// What alice made: a customer linked to a bank (entity, accounts,
/// transactions, payment source), a payment intent, a payout.
struct Made {
    customer: String,
    entity: String,
    account: String,
    payment_source: String,
    intent: String,
    payout: String,
}

fn alice_makes_one_of_everything(emu: &Emulator, admin: &str, alice: &As) -> Made {
    let customer = alice.ok(
        reqwest::Method::POST,
        "/customers/v1",
        Some(json!({"app_user_id": "shared-user"})),
    )["customer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, linked, _) = send(
        plain(emu)
            .post(format!("{}/admin/customers/{customer}/link", emu.info.auth_url))
            .bearer_auth(admin)
            .json(&json!({"bank_identifier": "LEANMB1"})),
    );
    assert_eq!(status, 201, "{linked}");
    let first = |collection: &str| {
        linked["data"]["linked"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["collection"] == collection)
            .unwrap_or_else(|| panic!("no {collection} in {linked}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let intent = alice.ok(
        reqwest::Method::POST,
        "/payments/v1/intents",
        Some(json!({"amount": 10, "currency": "AED", "customer_id": customer})),
    );
    let destination = alice.ok(
        reqwest::Method::POST,
        "/payouts/v1/payment/destinations",
        Some(json!([{"name": "Alice", "iban": "AE070331234567890123456"}])),
    );
    let destination = &destination[0];
    let destination = destination["destination_id"]
        .as_str()
        .or(destination["id"].as_str())
        .unwrap_or_else(|| panic!("no id in {destination}"))
        .to_owned();
    let payout = alice.ok(
        reqwest::Method::POST,
        "/payouts/v1/payment",
        Some(json!({"destination_id": destination, "amount": 5})),
    );
    let id_of = |v: &Value, keys: &[&str]| {
        keys.iter()
            .find_map(|k| v[*k].as_str())
            .unwrap_or_else(|| panic!("none of {keys:?} in {v}"))
            .to_owned()
    };
    let entity = first("entities");
    let accounts = alice.ok(
        reqwest::Method::GET,
        &format!("/data/v2/accounts?entity_id={entity}"),
        None,
    );
    let account = find_str(&accounts, "account_id").unwrap_or_else(|| panic!("no account_id in {accounts}"));
    Made {
        entity,
        account,
        payment_source: first("payment_sources"),
        intent: id_of(&intent, &["payment_intent_id", "intent_id", "id"]),
        payout: find_str(&payout, "payment_intent_id").unwrap_or_else(|| panic!("no payment_intent_id in {payout}")),
        customer,
    }
}

/// The first string under `key`, anywhere in `value`.
fn find_str(value: &Value, key: &str) -> Option<String> {
    match value {
        Value::Object(map) => map
            .get(key)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| map.values().find_map(|v| find_str(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find_str(v, key)),
        _ => None,
    }
}

#[test]
fn no_credential_of_one_application_reaches_another_applications_records() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let alice_info = new_app(&emu, &admin, "alice", "app_token");
    let bob_info = new_app(&emu, &admin, "bob", "app_token");
    let alice = on_sandbox(&emu, Cred::AppToken(alice_info.app_token.clone()));
    let made = alice_makes_one_of_everything(&emu, &admin, &alice);
    let Made {
        customer,
        entity,
        account,
        payment_source,
        intent,
        payout,
    } = &made;

    // alice reaches all of it.
    for path in [
        format!("/customers/v1/{customer}"),
        "/customers/v1/app-user-id/shared-user".to_owned(),
        format!("/customers/v1/{customer}/entities/{entity}"),
        format!("/data/v2/accounts/{account}/transactions"),
        format!("/customers/v1/{customer}/payment-sources/{payment_source}"),
        format!("/payments/v1/intents/{intent}"),
        format!("/payouts/v1/intents/{payout}"),
    ] {
        alice.ok(reqwest::Method::GET, &path, None);
    }

    // Every credential of bob — and my_app's app token — gets what an
    // unknown id gets, and lists nothing of alice's.
    let mut others = credentials(&emu, &admin, "bob", &bob_info);
    others.push(("my_app's app token", Cred::AppToken(emu.info.app_token.clone())));
    for (kind, cred) in others {
        let bob = on_sandbox(&emu, cred);
        for path in [
            format!("/customers/v1/{customer}"),
            "/customers/v1/app-user-id/shared-user".to_owned(),
            format!("/customers/v1/{customer}/entities"),
            format!("/customers/v1/{customer}/entities/{entity}"),
            format!("/data/v2/accounts?entity_id={entity}"),
            format!("/data/v2/accounts/{account}/transactions"),
            format!("/data/v2/accounts/{account}/balances"),
            format!("/customers/v1/{customer}/payment-sources"),
            format!("/customers/v1/{customer}/payment-sources/{payment_source}"),
            format!("/payments/v1/intents/{intent}"),
            format!("/payouts/v1/intents/{payout}"),
        ] {
            assert_not_found(&bob.get(&path), &format!("{kind}: GET {path}"));
        }
        let (status, unknown, _) = bob.get("/customers/v1/00000000-0000-0000-0000-000000000000");
        let (_, foreign, _) = bob.get(&format!("/customers/v1/{customer}"));
        assert_eq!(status, 404);
        assert_eq!(
            foreign["status"], unknown["status"],
            "{kind}: the same answer as an unknown id"
        );
        // Changing: deleting alice's payment source, paying from her customer.
        let path = format!("/customers/v1/{customer}/payment-sources/{payment_source}");
        assert_not_found(&bob.request(reqwest::Method::DELETE, &path, None), kind);
        let intent_body = json!({"amount": 1, "currency": "AED", "customer_id": customer});
        assert_not_found(&bob.post("/payments/v1/intents", intent_body), kind);
        // Listing: nothing of alice's.
        for path in ["/customers/v1", "/payments/v1/intents", "/payouts/v1/payments"] {
            let (status, list, _) = bob.get(path);
            assert_eq!(status, 200, "{kind}: {path}: {list}");
            let text = list.to_string();
            for id in [customer, intent, payout] {
                assert!(!text.contains(id.as_str()), "{kind}: {path} shows alice's {id}: {text}");
            }
        }
    }
    // alice's data is untouched, and her payment source is still there.
    alice.ok(
        reqwest::Method::GET,
        &format!("/customers/v1/{customer}/payment-sources/{payment_source}"),
        None,
    );

    // The same app_user_id is bob's own business; transactions are made per application.
    let bob = on_sandbox(&emu, Cred::AppToken(bob_info.app_token.clone()));
    let (status, own, _) = bob.post("/customers/v1", json!({"app_user_id": "shared-user"}));
    assert_eq!(status, 200, "{own}");
    assert_ne!(own["customer_id"].as_str(), Some(customer.as_str()));
    let (status, list, _) = bob.get("/customers/v1");
    assert_eq!(status, 200);
    assert!(
        list.to_string().contains(own["customer_id"].as_str().unwrap()),
        "{list}"
    );
    for app in [&alice, &bob] {
        let (status, tx, _) = app.post("/api/transactions", json!({"amount": 1}));
        assert_eq!(status, 201, "{tx}");
    }

    // Customer-scoped tokens: only for the application's own customers.
    let form = |info: &SandboxInfo, scope: String| {
        [
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", info.client_id.clone()),
            ("client_secret", info.client_secret.clone()),
            ("scope", scope),
        ]
    };
    let (status, refused, _) = send(
        plain(&emu)
            .post(&emu.info.token_endpoint)
            .form(&form(&bob_info, format!("customer.{customer}"))),
    );
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_scope")),
        "{refused}"
    );
    let mine = token_of(&emu, &alice_info, &format!("customer.{customer}"));
    on_sandbox(&emu, Cred::Bearer(mine)).ok(reqwest::Method::GET, &format!("/customers/v1/{customer}"), None);
    let bobs_customer = own["customer_id"].as_str().unwrap();
    let scoped = token_of(&emu, &bob_info, &format!("customer.{bobs_customer}"));
    let scoped = on_sandbox(&emu, Cred::Bearer(scoped));
    scoped.ok(reqwest::Method::GET, &format!("/customers/v1/{bobs_customer}"), None);
    let (status, _, _) = scoped.get(&format!("/customers/v1/{customer}"));
    assert!(
        status == 403 || status == 404,
        "bob's customer token on alice's customer: {status}"
    );
}

/// The first of `keys` found anywhere in `value`.
fn id_in(value: &Value, keys: &[&str]) -> String {
    keys.iter()
        .find_map(|k| find_str(value, k))
        .unwrap_or_else(|| panic!("none of {keys:?} in {value}"))
}

/// The rest of the profile's collections: refreshes, async results,
/// consents and their events, account-on-file payments, refunds (an
/// `update` endpoint), insights (`action` endpoints), destinations.
#[test]
fn every_collection_of_the_provider_profile_is_the_creating_applications() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let alice_info = new_app(&emu, &admin, "alice", "app_token");
    let bob_info = new_app(&emu, &admin, "bob", "app_token");
    let alice = on_sandbox(&emu, Cred::AppToken(alice_info.app_token.clone()));
    let bob = on_sandbox(&emu, Cred::Bearer(token_of(&emu, &bob_info, "api")));
    let Made { customer, entity, .. } = alice_makes_one_of_everything(&emu, &admin, &alice);
    let post = |path: &str, body: Value| alice.ok(reqwest::Method::POST, path, Some(body));
    let refresh = id_in(
        &post("/data/v2/refreshes", json!({"entity_id": entity})),
        &["refresh_id", "id"],
    );
    let async_list = alice.ok(
        reqwest::Method::GET,
        &format!("/data/v2/accounts?entity_id={entity}&async=true"),
        None,
    );
    let results = id_in(&async_list, &["results_id"]);
    let consent = id_in(
        &post("/consents/account-on-file", json!({"customer_id": customer})),
        &["consent_id", "id"],
    );
    let payment = id_in(
        &post(
            "/payments/account-on-file",
            json!({"consent_id": consent, "amount": 20}),
        ),
        &["payment_id", "id"],
    );
    let refund = id_in(
        &post("/payouts/refunds", json!({"payment_id": payment, "amount": 5})),
        &["refund_id", "id"],
    );
    let destination = post(
        "/payments/v1/destinations",
        json!({"name": "Alice", "iban": "AE070331234567890123456"}),
    );
    let destination = id_in(&destination, &["destination_id", "id"]);
    post("/insights/v2/income", json!({"entity_id": entity}));

    for (method, path, body) in [
        ("GET", format!("/data/v2/refreshes/{refresh}"), None),
        ("GET", format!("/data/v2/results/{results}"), None),
        ("GET", format!("/data/v2/identity?entity_id={entity}"), None),
        ("GET", format!("/consents/{consent}"), None),
        ("GET", format!("/consents/{consent}/balance"), None),
        ("GET", format!("/consents/{consent}/history"), None),
        ("GET", format!("/payments/v1/{payment}"), None),
        ("GET", format!("/insights/v2/expenses?entity_id={entity}"), None),
        (
            "POST",
            "/data/v2/refreshes".to_owned(),
            Some(json!({"entity_id": entity})),
        ),
        (
            "POST",
            "/insights/v2/income".to_owned(),
            Some(json!({"entity_id": entity})),
        ),
        (
            "POST",
            "/consents/account-on-file".to_owned(),
            Some(json!({"customer_id": customer})),
        ),
        (
            "POST",
            "/payments/account-on-file".to_owned(),
            Some(json!({"consent_id": consent, "amount": 1})),
        ),
        (
            "POST",
            "/payouts/refunds".to_owned(),
            Some(json!({"payment_id": payment, "amount": 1})),
        ),
        (
            "PUT",
            "/payouts/refunds".to_owned(),
            Some(json!({"refund_ids": [refund]})),
        ),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        if method == reqwest::Method::GET {
            // The route exists and alice reaches it: bob's 404 is about whose it is.
            alice.ok(method.clone(), &path, None);
        }
        let reply = bob.request(method.clone(), &path, body);
        assert_not_found(&reply, &format!("bob: {method} {path}"));
    }
    for path in ["/consents/v1", "/payouts/refunds", "/payments/v1/destinations"] {
        let (status, list, _) = bob.get(path);
        assert_eq!(status, 200, "{path}: {list}");
        let text = list.to_string();
        for id in [&consent, &refund, &destination, &refresh] {
            assert!(!text.contains(id.as_str()), "bob's {path} shows alice's {id}: {text}");
        }
    }
    // alice's refund is as she left it; her lists hold her objects.
    let (_, refunds, _) = alice.get("/payouts/refunds");
    assert!(refunds.to_string().contains(&refund), "{refunds}");
}

#[test]
fn a_credential_and_a_certificate_must_be_one_applications_on_the_mtls_host() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let alice = new_app(&emu, &admin, "alice", "app_token");
    let bob = new_app(&emu, &admin, "bob", "app_token");
    let banks = format!("{}/banks/v1", emu.info.mtls_url);
    let (alice_cert, bob_cert) = (with_cert_of(&alice), with_cert_of(&bob));

    let own = send(alice_cert.get(&banks).header("lean-app-token", &alice.app_token));
    assert_eq!(own.0, 200, "{}", own.1);
    let (status, body, _) = send(bob_cert.get(&banks).header("lean-app-token", &alice.app_token));
    assert_eq!(
        (status, body["status"].as_str()),
        (403, Some("INVALID_CERTIFICATE")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("belongs to application alice") && message.contains("(CN=bob) belongs to application bob"),
        "{message}"
    );

    // An unbound token likewise.
    let unbound = token_of(&emu, &alice, "api");
    let (status, body, _) = send(bob_cert.get(&banks).bearer_auth(&unbound));
    assert_eq!(
        (status, body["status"].as_str()),
        (403, Some("INVALID_CERTIFICATE")),
        "{body}"
    );
    assert_eq!(send(alice_cert.get(&banks).bearer_auth(&unbound)).0, 200);

    // A token bound to alice's certificate, presented with bob's.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", alice.client_id.as_str()),
        ("client_secret", alice.client_secret.as_str()),
        ("scope", "api"),
    ];
    let (status, token, _) = token_request(&alice_cert, &alice.mtls_token_endpoint, &form);
    assert_eq!(status, 200, "{token}");
    let bound = token["access_token"].as_str().unwrap();
    assert_eq!(send(alice_cert.get(&banks).bearer_auth(bound)).0, 200);
    let (status, body, _) = send(bob_cert.get(&banks).bearer_auth(bound));
    assert_eq!(
        (status, body["status"].as_str()),
        (401, Some("CERTIFICATE_TOKEN_MISMATCH")),
        "{body}"
    );

    // my_app's certificate with alice's token; alice's with my_app's.
    let mine = crate::util::with_app_cert(&emu);
    let (status, body, _) = send(mine.get(&banks).header("lean-app-token", &alice.app_token));
    assert_eq!(status, 403, "{body}");
    let (status, body, _) = send(alice_cert.get(&banks).header("lean-app-token", &emu.info.app_token));
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("belongs to application my_app"),
        "{body}"
    );
}

#[test]
fn a_fault_rule_can_match_one_application() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let alice = new_app(&emu, &admin, "alice", "app_token");
    // Before the rule: it would match alice's token request too.
    let token = token_of(&emu, &alice, "api");
    let rule = json!({"match": {"app": "alice"}, "effect": {"status": 503}});
    let url = format!("{}/admin/faults", emu.info.auth_url);
    let (status, body, _) = send(plain(&emu).post(&url).bearer_auth(&admin).json(&rule));
    assert_eq!(status, 201, "{body}");
    let banks = format!("{}/banks/v1", emu.info.sandbox_url);
    let get = |cred: Cred| on_sandbox(&emu, cred).get("/banks/v1").0;
    assert_eq!(get(Cred::AppToken(emu.info.app_token.clone())), 200, "my_app");
    assert_eq!(get(Cred::AppToken(alice.app_token.clone())), 503, "alice's app token");
    assert_eq!(get(Cred::Bearer(token)), 503, "alice's token");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", alice.client_id.as_str()),
        ("client_secret", alice.client_secret.as_str()),
    ];
    let (status, _, _) = token_request(&plain(&emu), &emu.info.token_endpoint, &form);
    assert_eq!(status, 503, "alice's token request");
    let alice_cert = with_cert_of(&alice);
    let mtls = format!("{}/health", emu.info.mtls_url);
    assert_eq!(send(alice_cert.get(&mtls)).0, 503, "alice's certificate alone");
    assert_eq!(send(plain(&emu).get(&banks)).0, 401, "nobody's");
    let (code, out, err) = crate::util::cli(&emu, &["faults", "add", "--app", "Alice!", "--status", "500"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(err.contains("match.app"), "{err}");
}

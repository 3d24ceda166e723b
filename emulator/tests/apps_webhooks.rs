//! Webhooks with many applications (issue #17): every event goes to the
//! URL of the application that owns the object or made the call — never
//! to another's, and nowhere for an application without a URL. Each
//! application's URL is set through `/admin/webhooks?app=` or `mtls-sandbox
//! webhooks --app`, kept in `webhooks.json`, and forgotten with the
//! application.

use std::time::Duration;

use mtls_sandbox::info::SandboxInfo;
use serde_json::{Value, json};

use crate::apps::{new_app, with_cert_of};
use crate::provider_api::admin as admin_post;
use crate::receiver::{Received, Receiver};
use crate::util::{Emulator, admin_token, cli, plain, send};

/// A call to `/admin/webhooks{path}` with an admin token; (status, reply).
fn hooks(emu: &Emulator, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}/admin/webhooks{path}", emu.info.auth_url);
    let mut request = plain(emu).request(method, url).bearer_auth(admin_token(emu));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let (status, reply, _) = send(request);
    (status, reply)
}

/// What one application made: a linked customer and a payment.
struct Made {
    customer: String,
    entity: String,
    payment: String,
}

/// `info`'s application creates a customer (sandbox host, its app token),
/// has it linked (admin API) and pays (mtls host, its certificate).
fn make(emu: &Emulator, info: &SandboxInfo, app_user_id: &str) -> Made {
    let call = |http: reqwest::Client, method: reqwest::Method, url: String, body: Option<Value>| {
        let mut request = http
            .request(method.clone(), &url)
            .header("lean-app-token", &info.app_token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, reply, _) = send(request);
        assert!((200..300).contains(&status), "{method} {url}: {status} {reply}");
        reply
    };
    let sandbox = |method, path: &str, body| call(plain(emu), method, format!("{}{path}", info.sandbox_url), body);
    let customer = sandbox(
        reqwest::Method::POST,
        "/customers/v1",
        Some(json!({ "app_user_id": app_user_id })),
    )["customer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, linked, _) = admin_post(
        emu,
        &format!("/admin/customers/{customer}/link"),
        json!({"bank_identifier": "LEANMB1"}),
    );
    assert_eq!(status, 201, "{linked}");
    let entity = sandbox(
        reqwest::Method::GET,
        &format!("/customers/v1/{customer}/entities"),
        None,
    )[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let intent = call(
        with_cert_of(info),
        reqwest::Method::POST,
        format!("{}/payments/v1/intents", info.mtls_url),
        Some(json!({"amount": 40, "currency": "AED", "customer_id": customer})),
    );
    let intent = intent["payment_intent_id"].as_str().unwrap();
    let payment = sandbox(reqwest::Method::GET, &format!("/payments/v1/intents/{intent}"), None)["payments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Made {
        customer,
        entity,
        payment,
    }
}

/// (type, the payload's `id`) of each event.
fn summary(received: &[Received]) -> Vec<(String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    received
        .iter()
        .map(|r| (text(&r.body["type"]), text(&r.body["payload"]["id"])))
        .collect()
}

/// The events `made` sends: its link's, its payment's, two steps on.
fn events_of(made: &Made) -> Vec<(String, String)> {
    let payment = |kind: &str| (kind.to_owned(), made.payment.clone());
    let mut events = vec![("entity.created".to_owned(), made.entity.clone())];
    events.push(("payment_source.created".to_owned(), String::new()));
    events.extend([
        payment("payment.created"),
        payment("payment.updated"),
        payment("payment.updated"),
    ]);
    events
}

/// `received`, the payment source's id blanked (it is no other tenant's).
fn without_source_id(mut events: Vec<(String, String)>) -> Vec<(String, String)> {
    for (kind, id) in &mut events {
        if kind == "payment_source.created" {
            id.clear();
        }
    }
    events
}

#[test]
fn each_application_gets_the_events_of_its_own_objects_and_nobody_elses() {
    let (mine, alices) = (Receiver::start(&[]), Receiver::start(&[]));
    let emu = Emulator::start(&[]);
    let token = admin_token(&emu);
    let alice = new_app(&emu, &token, "alice", "app_token");
    let bob = new_app(&emu, &token, "bob", "app_token");
    let (status, set) = hooks(&emu, reqwest::Method::PUT, "", Some(json!({ "url": mine.url })));
    assert_eq!(status, 200, "{set}");
    let (status, set) = hooks(
        &emu,
        reqwest::Method::PUT,
        "?app=alice",
        Some(json!({ "url": alices.url })),
    );
    assert_eq!(status, 200, "{set}");
    assert_eq!(
        (set["data"]["application"].as_str(), set["data"]["url"].as_str()),
        (Some("alice"), Some(alices.url.as_str()))
    );

    // Bob has no URL: his objects send nothing anywhere.
    let made = [
        make(&emu, &emu.info, "same-user"),
        make(&emu, &alice, "same-user"),
        make(&emu, &bob, "same-user"),
    ];
    let (status, moved, _) = admin_post(&emu, "/admin/clock", json!({ "advance": "10m" }));
    assert_eq!(status, 200, "{moved}");
    let got_mine = without_source_id(summary(&mine.wait_for(5)));
    let got_alices = without_source_id(summary(&alices.wait_for(5)));
    assert_eq!(got_mine, events_of(&made[0]));
    assert_eq!(got_alices, events_of(&made[1]));

    // A test event for alice goes to her receiver only, naming her.
    let (status, tested) = hooks(&emu, reqwest::Method::POST, "/test?app=alice", None);
    assert_eq!(status, 202, "{tested}");
    let last = alices.wait_for(6).pop().unwrap();
    assert_eq!(
        (last.body["type"].as_str(), last.body["payload"]["application"].as_str()),
        (Some("webhook.test"), Some("alice"))
    );

    // A watcher tick later, nothing more came, and no id of another tenant.
    std::thread::sleep(Duration::from_millis(2500));
    for (receiver, own, count) in [(&mine, 0, 5), (&alices, 1, 6)] {
        let received = receiver.received();
        assert_eq!(received.len(), count, "{:?}", summary(&received));
        let text = serde_json::to_string(&received.iter().map(|r| &r.body).collect::<Vec<_>>()).unwrap();
        for (i, other) in made.iter().enumerate().filter(|(i, _)| *i != own) {
            for id in [&other.customer, &other.entity, &other.payment] {
                assert!(!text.contains(id.as_str()), "tenant {own} got tenant {i}'s {id}");
            }
        }
    }
}

#[test]
fn the_admin_api_and_the_cli_set_each_applications_url_and_deletion_forgets_it() {
    let receiver = Receiver::start(&[]);
    let emu = Emulator::start(&[]);
    let token = admin_token(&emu);
    new_app(&emu, &token, "alice", "app_token");
    for method in [reqwest::Method::GET, reqwest::Method::PUT, reqwest::Method::DELETE] {
        let body = (method == reqwest::Method::PUT).then(|| json!({ "url": receiver.url }));
        let (status, reply) = hooks(&emu, method.clone(), "?app=nobody", body);
        assert_eq!(status, 404, "{method}: {reply}");
        assert!(
            reply["message"]
                .as_str()
                .unwrap()
                .contains("no application named 'nobody'"),
            "{method}: {reply}"
        );
    }
    let (status, reply) = hooks(&emu, reqwest::Method::POST, "/test?app=nobody", None);
    assert_eq!(status, 404, "{reply}");
    let (status, reply) = hooks(&emu, reqwest::Method::POST, "/test?app=alice", None);
    assert_eq!(status, 409, "alice has no URL yet: {reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("PUT /admin/webhooks?app=alice"),
        "{reply}"
    );

    let webhooks = |args: &[&str]| cli(&emu, &[&["webhooks"], args].concat());
    let (code, _, stderr) = webhooks(&["set", &receiver.url, "--app", "alice"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, shown, stderr) = webhooks(&["--app", "alice", "show"]);
    assert_eq!(code, Some(0), "{stderr}");
    let shown: Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(
        (shown["data"]["application"].as_str(), shown["data"]["url"].as_str()),
        (Some("alice"), Some(receiver.url.as_str()))
    );
    let (_, mine, _) = webhooks(&["show"]);
    let mine: Value = serde_json::from_str(&mine).unwrap();
    assert_eq!(
        (mine["data"]["application"].as_str(), &mine["data"]["url"]),
        (Some("my_app"), &Value::Null),
        "my_app's URL is its own"
    );
    let (code, tested, stderr) = webhooks(&["test", "--app", "alice"]);
    assert_eq!(code, Some(0), "{stderr}");
    let tested: Value = serde_json::from_str(&tested).unwrap();
    let got = receiver.wait_for(1);
    assert_eq!(got[0].body["event_id"], tested["data"]["event_id"]);
    assert_eq!(got[0].body["payload"]["application"], "alice");
    let (code, _, stderr) = webhooks(&["test"]);
    assert_eq!(code, Some(2), "my_app has no URL: {stderr}");
    let (code, _, stderr) = webhooks(&["show", "--app", "nobody"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no application named 'nobody'"), "{stderr}");
    let (code, _, stderr) = webhooks(&["show", "--app", "Not A Name"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("not a valid application name"), "{stderr}");

    let stored: Value = serde_json::from_str(&emu.read("webhooks.json")).unwrap();
    assert_eq!(stored["applications"]["alice"]["url"], receiver.url.as_str());
    let (code, _, stderr) = webhooks(&["clear", "--app", "alice"]);
    assert_eq!(code, Some(0), "{stderr}");
    let (_, shown) = hooks(&emu, reqwest::Method::GET, "?app=alice", None);
    assert!(shown["data"]["url"].is_null(), "{shown}");

    // Deleting alice forgets her URL: an application of the same name made
    // later starts without one, as it starts without her customers.
    hooks(
        &emu,
        reqwest::Method::PUT,
        "?app=alice",
        Some(json!({ "url": receiver.url })),
    );
    let (status, deleted, _) = send(
        plain(&emu)
            .delete(format!("{}/admin/apps/alice", emu.info.auth_url))
            .bearer_auth(&token),
    );
    assert_eq!(status, 204, "{deleted}");
    let (status, _) = hooks(&emu, reqwest::Method::GET, "?app=alice", None);
    assert_eq!(status, 404, "alice is gone");
    let stored: Value = serde_json::from_str(&emu.read("webhooks.json")).unwrap();
    assert!(stored["applications"].get("alice").is_none(), "{stored}");
    new_app(&emu, &token, "alice", "app_token");
    let (status, shown) = hooks(&emu, reqwest::Method::GET, "?app=alice", None);
    assert_eq!((status, &shown["data"]["url"]), (200, &Value::Null), "{shown}");
}

//! An application's own time (issue #17: parallel suites on one sandbox):
//! `/admin/clock` with `"app"` moves one application's tokens and provider
//! objects and nobody else's; the sandbox clock still moves everyone, and
//! its reset (or the application's deletion) ends the offset.

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::apps::{new_app, token_of, with_cert_of};
use crate::provider_api::admin;
use crate::util::{Emulator, Reply, admin_token, app_token, cli, plain, send, with_app_cert};
use mtls_sandbox::info::SandboxInfo;

fn clock_of(emu: &Emulator, app: &str) -> Reply {
    send(
        plain(emu)
            .get(format!("{}/admin/clock?app={app}", emu.info.auth_url))
            .bearer_auth(admin_token(emu)),
    )
}

/// `GET /banks/v1` on the sandbox host with a bearer token: its status.
fn banks_with(emu: &Emulator, token: &str) -> u16 {
    send(
        plain(emu)
            .get(format!("{}/banks/v1", emu.info.sandbox_url))
            .bearer_auth(token),
    )
    .0
}

/// A payment intent for a new customer of `info`'s application; the id of
/// its payment.
fn payment_of(emu: &Emulator, info: &SandboxInfo, http: &reqwest::Client) -> String {
    let (status, customer, _) = send(
        plain(emu)
            .post(format!("{}/customers/v1", emu.info.sandbox_url))
            .header("lean-app-token", &info.app_token)
            .json(&json!({"app_user_id": format!("{}-user", info.client_id)})),
    );
    assert_eq!(status, 200, "{customer}");
    let body = json!({"amount": 75, "currency": "AED", "customer_id": customer["customer_id"]});
    let (status, intent, _) = send(
        http.post(format!("{}/payments/v1/intents", emu.info.mtls_url))
            .header("lean-app-token", &info.app_token)
            .json(&body),
    );
    assert_eq!(status, 200, "{intent}");
    let intent_id = intent["payment_intent_id"].as_str().unwrap();
    let fetched = status_of(emu, info, http, &format!("/payments/v1/intents/{intent_id}"));
    fetched["payments"][0]["id"].as_str().unwrap().to_owned()
}

fn status_of(emu: &Emulator, info: &SandboxInfo, http: &reqwest::Client, path: &str) -> Value {
    let (status, body, _) = send(
        http.get(format!("{}{path}", emu.info.mtls_url))
            .header("lean-app-token", &info.app_token),
    );
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[test]
fn an_application_moves_its_own_time_and_nobody_elses() {
    let emu = Emulator::start(&[]);
    let admin_jwt = admin_token(&emu);
    let alice = new_app(&emu, &admin_jwt, "alice", "app_token");
    let (alice_http, my_http) = (with_cert_of(&alice), with_app_cert(&emu));
    let alice_payment = payment_of(&emu, &alice, &alice_http);
    let my_payment = payment_of(&emu, &emu.info, &my_http);
    let (alice_old, my_old) = (token_of(&emu, &alice, "api"), app_token(&emu, "api"));

    let (status, moved, _) = admin(&emu, "/admin/clock", json!({"advance": "2h", "app": "alice"}));
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["data"]["app"], json!({"name": "alice", "offset_seconds": 7200}));
    assert_eq!(moved["data"]["real_time"], false);
    let description = moved["data"]["description"].as_str().unwrap();
    assert!(
        description.starts_with("alice: shifted +2h from the sandbox clock"),
        "{description}"
    );

    // Tokens: alice's old one expired by her time; my_app's did not; a new
    // one of alice's is valid by her time.
    assert_eq!(
        banks_with(&emu, &alice_old),
        401,
        "alice's token is two hours old for her"
    );
    assert_eq!(banks_with(&emu, &my_old), 200, "my_app's time did not move");
    assert_eq!(banks_with(&emu, &token_of(&emu, &alice, "api")), 200);

    // What alice creates now is created at her time; my_app's at real time.
    let created_at = |token: &str, user: &str| {
        let (status, customer, _) = send(
            plain(&emu)
                .post(format!("{}/customers/v1", emu.info.sandbox_url))
                .header("lean-app-token", token)
                .json(&json!({"app_user_id": user})),
        );
        assert_eq!(status, 200, "{customer}");
        let at = customer["created_at"].as_str().unwrap().to_owned();
        OffsetDateTime::parse(&at, &Rfc3339).unwrap()
    };
    let ahead = created_at(&alice.app_token, "alice-later") - OffsetDateTime::now_utc();
    assert!((ahead - Duration::hours(2)).abs() < Duration::minutes(1), "{ahead}");
    let mine = created_at(&emu.info.app_token, "mine-later") - OffsetDateTime::now_utc();
    assert!(mine.abs() < Duration::minutes(1), "{mine}");

    // Provider objects: alice's payment moved on, my_app's did not.
    let payment_status = |info: &SandboxInfo, http: &reqwest::Client, id: &str| {
        status_of(&emu, info, http, &format!("/payments/v1/{id}"))["status"].clone()
    };
    assert_ne!(
        payment_status(&alice, &alice_http, &alice_payment),
        "AWAITING_AUTHORIZATION"
    );
    assert_eq!(
        payment_status(&emu.info, &my_http, &my_payment),
        "AWAITING_AUTHORIZATION"
    );

    // The sandbox clock moves everyone, alice keeps her lead.
    admin(&emu, "/admin/clock", json!({"advance": "1h"}));
    assert_eq!(banks_with(&emu, &my_old), 401, "an hour on the sandbox clock");
    let (status, shown, _) = clock_of(&emu, "alice");
    assert_eq!((status, &shown["data"]["app"]["offset_seconds"]), (200, &json!(7200)));
    let (cli_status, out, err) = cli(&emu, &["clock", "advance", "--app", "alice", "30m"]);
    assert_eq!(cli_status, Some(0), "{err}");
    assert!(out.starts_with("Time of application alice: "), "{out}");
    assert!(
        out.contains("shifted +2h30m from the sandbox clock (shifted +1h from real time)"),
        "{out}"
    );

    // Resetting the sandbox clock resets every application.
    let (status, reset, _) = admin(&emu, "/admin/clock", json!({"reset": true}));
    assert_eq!((status, &reset["data"]["real_time"]), (200, &json!(true)));
    assert_eq!(clock_of(&emu, "alice").1["data"]["app"]["offset_seconds"], 0);

    // An application's reset and deletion end its offset; unknown names are 404.
    admin(&emu, "/admin/clock", json!({"advance": "1d", "app": "alice"}));
    assert!(
        emu.file("clock.json").exists(),
        "published for the commands that mint tokens"
    );
    let (status, reset, _) = admin(&emu, "/admin/clock", json!({"reset": true, "app": "alice"}));
    assert_eq!((status, &reset["data"]["app"]["offset_seconds"]), (200, &json!(0)));
    assert!(!emu.file("clock.json").exists(), "everyone back on real time");
    admin(&emu, "/admin/clock", json!({"advance": "1d", "app": "alice"}));
    let (status, _, _) = send(
        plain(&emu)
            .delete(format!("{}/admin/apps/alice", emu.info.auth_url))
            .bearer_auth(&admin_jwt),
    );
    assert_eq!(status, 204);
    assert!(
        !emu.file("clock.json").exists(),
        "the deleted application's offset went with it"
    );
    let (status, missing, _) = clock_of(&emu, "alice");
    assert_eq!(
        (status, missing["status"].as_str()),
        (404, Some("NOT_FOUND")),
        "{missing}"
    );
    let (status, refused, _) = admin(&emu, "/admin/clock", json!({"advance": "1h", "app": "nobody"}));
    assert_eq!(status, 404, "{refused}");
    assert!(refused.to_string().contains("GET /admin/apps"), "{refused}");
    emu.stop();
}

//! The provider's webhook events end to end: a real sandbox with its
//! webhook URL set to a local receiver. Linking sends `entity.created` and
//! `payment_source.created`, a payment intent `payment.created`, moving the
//! clock `payment.updated` once per step in order; a restart sends no step
//! twice and forgets none; a fault rule with `fail` makes the payment end
//! in the profile's failure status.

use std::time::Duration;

use serde_json::{Value, json};

use crate::provider_api::{Api, admin, create_customer, link};
use crate::receiver::{Received, Receiver};
use crate::util::{Emulator, send, with_app_cert};

/// (type, the payload's `id`, the payload's `status`) of each event.
fn summary(received: &[Received]) -> Vec<(String, String, String)> {
    received
        .iter()
        .map(|r| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (
                text(&r.body["type"]),
                text(&r.body["payload"]["id"]),
                text(&r.body["payload"]["status"]),
            )
        })
        .collect()
}

fn event(kind: &str, id: &str, status: &str) -> (String, String, String) {
    (kind.into(), id.into(), status.into())
}

/// Creates an intent for `customer` on the mtls host; returns its payment's id.
pub fn pay(emu: &Emulator, api: &Api, customer: &str) -> String {
    let (status, intent, _) = send(
        with_app_cert(emu)
            .post(format!("{}/payments/v1/intents", emu.info.mtls_url))
            .header("lean-app-token", &emu.info.app_token)
            .json(&json!({"amount": 40, "currency": "AED", "customer_id": customer})),
    );
    assert_eq!(status, 200, "{intent}");
    let id = intent["payment_intent_id"].as_str().unwrap();
    api.ok(&format!("/payments/v1/intents/{id}"))["payments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn advance(emu: &Emulator, by: &str) {
    let (status, body, _) = admin(emu, "/admin/clock", json!({ "advance": by }));
    assert_eq!(status, 200, "{body}");
}

#[test]
fn state_changes_send_their_events_in_order_once_across_a_restart_and_faults_force_failure() {
    let receiver = Receiver::start(&[]);
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("c.toml");
    std::fs::write(&config, format!("[webhooks]\nurl = \"{}\"\n", receiver.url)).unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let state = tmp.path().join("s");
    crate::util::copy_template_to(&state);
    let emu = Emulator::start_in(&state, &args);
    let api = Api::sandbox(&emu);

    let customer = create_customer(&api, "/customers/v1", "events");
    let entity = link(&emu, &api, &customer);
    let source = api.ok(&format!("/customers/v1/{customer}/payment-sources"))[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let got = receiver.wait_for(2);
    assert_eq!(
        summary(&got),
        [
            event("entity.created", &entity, ""),
            event("payment_source.created", &source, "ACTIVE"),
        ]
    );
    assert_eq!(got[0].body["payload"]["customer_id"], customer.as_str());
    assert_eq!(got[0].body["message"], "An entity was created");

    let first = pay(&emu, &api, &customer);
    let got = receiver.wait_for(3);
    assert_eq!(
        summary(&got[2..]),
        [event("payment.created", &first, "AWAITING_AUTHORIZATION")]
    );
    assert_eq!(
        got[2].body["payload"],
        api.ok(&format!("/payments/v1/{first}")),
        "as the API shows it"
    );

    advance(&emu, "10m");
    let got = receiver.wait_for(5);
    assert_eq!(
        summary(&got[3..]),
        [
            event("payment.updated", &first, "PENDING_WITH_BANK"),
            event("payment.updated", &first, "ACCEPTED_BY_BANK"),
        ],
        "one event per step, in order"
    );
    assert_eq!(got[4].body["message"], "The payment is now ACCEPTED_BY_BANK");

    // The next payment created fails, as the profile's `fail` says.
    let (status, rule, _) = admin(
        &emu,
        "/admin/faults",
        json!({"match": {"method": "POST", "path": "/payments/v1/intents"}, "effect": {"fail": true}, "count": 1}),
    );
    assert_eq!(status, 201, "{rule}");
    let failing = pay(&emu, &api, &customer);
    advance(&emu, "2m");
    let got = receiver.wait_for(7);
    assert_eq!(
        summary(&got[5..]),
        [
            event("payment.created", &failing, "AWAITING_AUTHORIZATION"),
            event("payment.updated", &failing, "PENDING_WITH_BANK"),
        ]
    );

    // A restart (its clock back to real time, 12 minutes behind) sends no
    // step twice; the failing payment's last step still comes.
    assert!(emu.stop().success());
    let emu = Emulator::start_in(&state, &args);
    let api = Api::sandbox(&emu);
    advance(&emu, "20m");
    let got = receiver.wait_for(8);
    assert_eq!(
        summary(&got[7..]),
        [event("payment.updated", &failing, "REJECTED_BY_BANK")]
    );
    assert_eq!(api.ok(&format!("/payments/v1/{failing}"))["status"], "REJECTED_BY_BANK");
    assert_eq!(api.ok(&format!("/payments/v1/{first}"))["status"], "ACCEPTED_BY_BANK");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(receiver.received().len(), 8, "{:?}", summary(&receiver.received()));
}

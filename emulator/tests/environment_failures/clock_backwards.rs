//! The sandbox clock set back two hours while it holds tokens, a token
//! revocation, customers and a payment whose lifecycle runs on the clock.
//!
//! Decision (RFC 7519 §4.1.5): a token whose `nbf` is after "now" is not
//! accepted — the sandbox's own tokens have `nbf` = `iat` = their issue
//! time, so after a jump back they are refused with 401 and a message that
//! says the clock was set back and to get a new token; new tokens work at
//! once. `iat` in the future is not an error by itself (RFC 7519 §4.1.6
//! sets no rule). Nothing stored changes: revoked stays revoked, records
//! load, and a lifecycle shown "before it began" keeps its first status,
//! then moves on once the clock passes it again. No negative durations.

use std::time::Duration;

use serde_json::json;

use super::timed;
use crate::provider_api::{Api, admin, create_customer};
use crate::provider_events::pay;
use crate::util::{Emulator, app_token, plain, send};

fn banks(emu: &Emulator, token: &str) -> crate::util::Reply {
    send(
        plain(emu)
            .get(format!("{}/banks/v1", emu.info.sandbox_url))
            .bearer_auth(token),
    )
}

#[test]
fn the_clock_set_back_refuses_future_tokens_clearly_and_keeps_everything() {
    let emu = Emulator::start(&[]);
    let api = Api::sandbox(&emu);
    let held = app_token(&emu, "api");
    let revoked = app_token(&emu, "api");
    let form = [
        ("token", revoked.as_str()),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", emu.info.client_secret.as_str()),
    ];
    let (status, _, _) = send(
        plain(&emu)
            .post(format!("{}/oauth2/revoke", emu.info.auth_url))
            .form(&form),
    );
    assert_eq!(status, 200);
    let customer = create_customer(&api, "/customers/v1", "clock-back");
    let payment = pay(&emu, &api, &customer);
    let first_status = api.ok(&format!("/payments/v1/{payment}"))["status"].clone();

    let (status, body, _) = admin(&emu, "/admin/clock", json!({"advance": "-2h"}));
    assert_eq!(status, 200, "{body}");

    // A token issued before the jump is "not yet valid" now, and says why.
    let ((status, body, headers), _) = timed(
        "time to error, token issued before the clock went back",
        Duration::from_secs(2),
        || banks(&emu, &held),
    );
    assert_eq!((status, body["status"].as_str()), (401, Some("UNAUTHORIZED")), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("not valid before") && message.contains("set back") && message.contains("get a new one"),
        "{message}"
    );
    assert!(headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));

    // A new token works at once, with a positive lifetime.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", emu.info.client_secret.as_str()),
        ("scope", "api"),
    ];
    let (status, issued, _) = crate::util::token_request(&plain(&emu), &emu.info.token_endpoint, &form);
    assert_eq!((status, issued["expires_in"].as_i64()), (200, Some(3599)), "{issued}");
    let fresh = issued["access_token"].as_str().unwrap();
    assert_eq!(banks(&emu, fresh).0, 200);

    // Introspection answers, without an error, that the old one is inactive.
    let introspect = |token: &str| {
        let form = [
            ("token", token),
            ("client_id", emu.info.client_id.as_str()),
            ("client_secret", emu.info.client_secret.as_str()),
        ];
        send(
            plain(&emu)
                .post(format!("{}/oauth2/introspect", emu.info.auth_url))
                .form(&form),
        )
    };
    let (status, body, _) = introspect(&held);
    assert_eq!((status, &body["active"]), (200, &json!(false)), "{body}");

    // Stored things are as they were: the customer, the payment "before it
    // began" in its first status, and nothing panicked.
    assert_eq!(
        api.ok(&format!("/customers/v1/{customer}"))["customer_id"],
        customer.as_str()
    );
    assert_eq!(api.ok(&format!("/payments/v1/{payment}"))["status"], first_status);

    // Back to real time and beyond: the held token works again, the revoked
    // one is still revoked, the payment's lifecycle moves on.
    let (status, body, _) = admin(&emu, "/admin/clock", json!({"reset": true}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(banks(&emu, &held).0, 200, "the held token was never lost");
    let (status, body, _) = banks(&emu, &revoked);
    assert_eq!(status, 401, "revoked stays revoked: {body}");
    let (status, body, _) = admin(&emu, "/admin/clock", json!({"advance": "30m"}));
    assert_eq!(status, 200, "{body}");
    assert_ne!(api.ok(&format!("/payments/v1/{payment}"))["status"], first_status);
    assert!(!emu.log().contains("panicked"), "{}", emu.log());
}

/// A certificate revoked, then the clock set back to before the revocation
/// (and the new CRL's `thisUpdate`), but not before the certificates'
/// validity (issued an hour back): the revoked one stays refused at the
/// handshake, the app's own still gets in.
#[test]
fn a_revocation_holds_when_the_clock_goes_back_past_it() {
    use crate::util::{Identity, client, with_app_cert};
    let emu = Emulator::start(&[]);
    let victim = mtls_sandbox::state::State::load(&emu.state_dir)
        .unwrap()
        .issuing_ca()
        .unwrap()
        .issue_client(&mtls_sandbox::pki::ClientCertSpec::new(
            "victim",
            time::OffsetDateTime::now_utc(),
        ))
        .unwrap();
    let file = emu.state_dir.with_extension("victim.pem");
    std::fs::write(&file, &victim.cert_pem).unwrap();
    let (code, out, err) = crate::util::cli(&emu, &["revoke", "--cert", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");

    let (status, body, _) = admin(&emu, "/admin/clock", json!({"advance": "-30m"}));
    assert_eq!(status, 200, "{body}");
    let chain = emu.read("lean_public_cert_chain.pem");
    let banks_over_mtls = |http: reqwest::Client| {
        crate::util::block_on(async {
            http.get(format!("{}/banks/v1", emu.info.mtls_url))
                .header("lean-app-token", &emu.info.app_token)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    let (refused, _) = timed(
        "time to error, revoked certificate after the clock went back",
        Duration::from_secs(2),
        || banks_over_mtls(client(&chain, Identity::Chain(victim, chain.clone()))),
    );
    assert!(
        refused.as_ref().map_or(true, |s| *s == 401),
        "the revoked certificate got in: {refused:?}"
    );
    assert_eq!(banks_over_mtls(with_app_cert(&emu)).unwrap(), 200);
    assert!(emu.log_line("CN=victim").contains("revoked"));
    let _ = std::fs::remove_file(file);
}

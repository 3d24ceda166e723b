//! A rotation of the application's secret (the portal's "Reveal secret")
//! that fails half-way: `state.json` is written first, then the registry
//! and `sandbox.env`/`sandbox.json`; here `sandbox.env` cannot be replaced
//! (a directory stands in its place). The rotation must change nothing:
//! the secret the user holds keeps working, now and after a restart.
//! Before, the new secret — shown to nobody — was already in force.

use std::time::Duration;

use super::timed;
use crate::portal::portal_post;
use crate::util::{Emulator, plain, token_request};

#[test]
fn a_rotation_failing_half_way_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    crate::util::copy_template_to(&state);
    let emu = Emulator::start_in(&state, &[]);
    let secret = emu.info.client_secret.clone();
    let token_status = |emu: &Emulator| {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", emu.info.client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", "api"),
        ];
        token_request(&plain(emu), &emu.info.token_endpoint, &form).0
    };

    let env = state.join("sandbox.env");
    let saved = std::fs::read(&env).unwrap();
    std::fs::remove_file(&env).unwrap();
    std::fs::create_dir_all(env.join("blocker")).unwrap();
    let (posted, _) = timed(
        "time to error, rotation failing half-way",
        Duration::from_secs(5),
        || portal_post(&emu, "/portal/application/secret", &[]),
    );
    assert_eq!(posted.status, 500, "{}", posted.text());
    assert!(posted.text().contains("sandbox.env"), "{}", posted.text());

    assert_eq!(token_status(&emu), 200, "the secret held before still works");
    assert!(emu.read("state.json").contains(&secret), "the manifest was put back");
    std::fs::remove_dir_all(&env).unwrap();
    std::fs::write(&env, saved).unwrap();
    assert!(emu.stop().success());
    let emu = Emulator::start_in(&state, &[]);
    assert_eq!(emu.info.client_secret, secret);
    assert_eq!(token_status(&emu), 200, "and after a restart");
}

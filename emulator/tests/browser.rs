//! The developer portal in a real browser: Debian's headless Chromium driven
//! by Playwright (`tests/browser/portal.mjs`). `scripts/test` installs
//! Chromium and the npm package; without them this test fails and says how to
//! install them. Screenshots land in `target/browser-screenshots/`. It runs
//! with two workshop attendees (`--apps alice,bob`): alice's own link sees
//! only alice, the owner's sees everyone. The run
//! ends with pages on two other local origins (`browser/second_origin.mjs`)
//! trying to reach the logged-in portal.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::*;

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

#[test]
fn a_user_downloads_a_certificate_uses_it_with_curl_revokes_it_and_rotates_a_secret() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: apt-get install chromium (or set CHROMIUM); scripts/test installs it"
    );
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "playwright-core is missing: npm ci --prefix emulator/tests/browser (scripts/test does it)"
    );
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let work = tempfile::tempdir().unwrap();

    let emu = Emulator::start(&["--apps", "alice,bob"]);
    let app = |name: &str| {
        mtls_sandbox::info::SandboxInfo::read(&emu.state_dir.join(format!("apps/{name}/sandbox.json"))).unwrap()
    };
    let (alice, bob) = (app("alice"), app("bob"));
    let network = host_network_lock();
    let out = Command::new("node")
        .arg(browser_dir().join("portal.mjs"))
        .env("CHROMIUM", &chromium)
        .env("PORTAL_URL", emu.info.portal_url.as_deref().unwrap())
        .env("MTLS_URL", &emu.info.mtls_url)
        .env("TOKEN_ENDPOINT", &emu.info.token_endpoint)
        .env("APP_TOKEN", &emu.info.app_token)
        .env("ATTENDEE_URL", alice.portal_url.as_deref().unwrap())
        .env("ATTENDEE_APP_TOKEN", &alice.app_token)
        .env("OTHER_APP_TOKEN", &bob.app_token)
        .env("WORK_DIR", work.path())
        .env("SCREENSHOTS", &shots)
        .output()
        .expect("node must be installed (scripts/test installs it)");
    drop(network);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser run failed ({}):\n{stdout}\n{stderr}\nsandbox log:\n{}",
        out.status,
        emu.log()
    );
    for check in [
        "the revoked certificate is refused",
        "the first secret stopped working",
        "the inspector explains the refused handshake",
        "the 401 page has no link leading to a 401",
        "the inspector shows times to the second",
        "an attendee's link lands on its own session path",
        "the attendee's page shows no other application's credentials",
        "the attendee's page offers none of the owner's actions",
        "the attendee saves their own webhook URL",
        "the attendee's webhook URL is not the owner's",
        "the attendee's bundle gets 200 from the mtls host",
        "the attendee's inspector shows only their own requests",
        "the attendee's browser cannot open the owner's session",
        "the owner's link lists every application",
        "the owner's inspector shows every application's requests",
        "the owner's inspector filters by application",
        "the certificate list shows no fractional or raw RFC 3339 timestamps",
        "at 400 px no table cell on the portal breaks a word",
        "at 400 px no table cell on the inspector breaks a word",
        "the login link lands on the session's own path without the token in the address bar",
        "a page on another http port receives no portal cookie",
        "a page on another https port receives no portal cookie",
        "a form on another http port cannot post to /portal/clients",
        "a form on another http port cannot post to <session>/clients",
        "a form on another https port cannot post to /portal/clients",
        "a form on another https port cannot post to <session>/clients",
        "a page on another http port cannot frame the portal",
        "a page on another https port cannot frame the portal",
        "no other origin created a client",
    ] {
        assert!(
            stdout.contains(&format!("ok - {check}")),
            "{check} was not checked:\n{stdout}"
        );
    }
    for shot in [
        "0-login-required.png",
        "1-portal.png",
        "2-certificates.png",
        "3-secret.png",
        "4-inspector.png",
        "5-narrow-portal.png",
        "6-narrow-inspector.png",
        "7-attendee.png",
        "8-inspector-filtered.png",
    ] {
        let bytes = std::fs::read(shots.join(shot)).unwrap_or_default();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot} is not a PNG screenshot");
    }
}

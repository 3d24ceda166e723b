//! `up` on a state dir it cannot write: a read-only mount (the usual way
//! to get one: a `:ro` volume), with a state in it or to be created in it,
//! and an empty mount point (a volume mounted as the state dir itself).
//! Each exits 1 at once with an error naming the directory and the fix;
//! no panic, and the state in it is untouched.

use std::path::Path;
use std::time::Duration;

use super::{Mount, timed, up};
use crate::util::{Emulator, send};

fn assert_clear(what: &str, (code, stderr): &(Option<i32>, String), names: &Path, says: &[&str]) {
    assert_eq!(*code, Some(1), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(
        stderr.contains(names.to_str().unwrap()),
        "{what} names {}: {stderr}",
        names.display()
    );
    for words in says {
        assert!(stderr.contains(words), "{what} says {words:?}: {stderr}");
    }
}

#[test]
fn a_read_only_state_dir_is_refused_at_start_naming_the_dir_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    crate::util::copy_template_to(&state);
    let emu = Emulator::start_in(&state, &[]);
    let (status, created, _) = send(
        crate::util::plain(&emu)
            .post(format!("{}/customers/v1", emu.info.sandbox_url))
            .header("lean-app-token", &emu.info.app_token)
            .json(&serde_json::json!({"app_user_id": "stored-before"})),
    );
    assert_eq!(status, 200, "{created}");
    assert!(emu.stop().success());
    let records = std::fs::read(state.join("records.db")).unwrap();

    {
        let _ro = Mount::read_only(&state);
        let (existing, _) = timed(
            "time to error, read-only state dir at start",
            Duration::from_secs(5),
            || up(&state),
        );
        assert_clear("an existing state", &existing, &state, &["read-only", "--state-dir"]);
    }
    assert_eq!(std::fs::read(state.join("records.db")).unwrap(), records, "untouched");
    let emu = Emulator::start_in(&state, &[]);
    let id = created["customer_id"].as_str().unwrap();
    let (status, _, _) = send(
        crate::util::plain(&emu)
            .get(format!("{}/customers/v1/{id}", emu.info.sandbox_url))
            .header("lean-app-token", &emu.info.app_token),
    );
    assert_eq!(status, 200, "writable again, the same state serves");
    drop(emu);

    let parent = tmp.path().join("ro-parent");
    std::fs::create_dir(&parent).unwrap();
    let _ro = Mount::read_only(&parent);
    let fresh = up(&parent.join("new"));
    assert_clear("a state to create", &fresh, &parent, &["read-only", "--state-dir"]);
}

#[test]
fn an_empty_mount_point_as_state_dir_says_to_use_a_directory_inside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let volume = tmp.path().join("volume");
    std::fs::create_dir(&volume).unwrap();
    let _mount = Mount::tmpfs(&volume, "4m");
    let refused = up(&volume);
    let inside = format!("--state-dir {}/sandbox", volume.display());
    assert_clear("a mount point", &refused, &volume, &["mount point", &inside]);
    assert_eq!(std::fs::read_dir(&volume).unwrap().count(), 0, "nothing left behind");
    let emu = Emulator::start_in(&volume.join("sandbox"), &[]);
    assert!(emu.stop().success(), "the directory it suggests works");
}

/// The state dir turned read-only under a running sandbox (a read-only
/// bind mount over it: files opened before, like `records.db`, stay
/// writable; new files cannot be made). Rotating the application's secret
/// writes `state.json` and gets 503 naming it and the fix; nothing changed.
#[test]
fn a_state_dir_turned_read_only_while_running_answers_503_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    crate::util::copy_template_to(&state);
    let emu = Emulator::start_in(&state, &[]);
    let secret = emu.info.client_secret.clone();
    let (posted, _) = {
        let _ro = Mount::read_only(&state);
        timed(
            "time to error, state dir read-only mid-run",
            Duration::from_secs(5),
            || crate::portal::portal_post(&emu, "/portal/application/secret", &[]),
        )
    };
    let page = posted.text();
    assert_eq!(posted.status, 503, "{page}");
    assert!(page.contains("state.json") && page.contains("read-only"), "{page}");
    assert!(emu.read("state.json").contains(&secret), "unchanged");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", "api"),
    ];
    let (status, body, _) = crate::util::token_request(&crate::util::plain(&emu), &emu.info.token_endpoint, &form);
    assert_eq!(status, 200, "the secret held before still works: {body}");
}

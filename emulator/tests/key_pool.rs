//! The RSA key pool: a ready sandbox makes spare keys, the next fresh
//! state dir takes them, and a pool dir others can open is never used.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{UP_ON_FREE_PORTS, bin};

const POOL_ENV: &str = mtls_sandbox::key_pool::ENV;

/// `up` on `state` with the key pool at `pool`, waited for until ready.
fn up(state: &Path, pool: &Path) -> Child {
    let mut child = Command::new(bin())
        .args(UP_ON_FREE_PORTS)
        .arg("--state-dir")
        .arg(state)
        .env(POOL_ENV, pool)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = Command::new(bin())
        .args(["wait", "--timeout", "60s", "--state-dir"])
        .arg(state)
        .output()
        .unwrap();
    if !ready.status.success() {
        let _ = child.kill();
        panic!("sandbox on {} did not become ready", state.display());
    }
    child
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn spares(pool: &Path) -> Vec<String> {
    let mut keys: Vec<String> = fs::read_dir(pool)
        .map(|dir| {
            dir.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pem"))
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| fs::read_to_string(e.path()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default();
    keys.sort();
    keys
}

fn wait_for_spares(pool: &Path, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys = spares(pool);
        if keys.len() >= n && keys.iter().all(|k| k.ends_with("-----END PRIVATE KEY-----\n")) {
            return keys;
        }
        assert!(
            Instant::now() < deadline,
            "the pool has {} of {n} spare keys",
            keys.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_fresh_state_dir_takes_the_keys_a_running_sandbox_made_ahead() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = tmp.path().join("pool");

    let made = stop_when_filled(up(&tmp.path().join("a"), &pool), &pool);
    assert_eq!(made.len(), mtls_sandbox::key_pool::SPARES);
    assert_eq!(fs::metadata(&pool).unwrap().permissions().mode() & 0o777, 0o700);
    for entry in fs::read_dir(&pool).unwrap() {
        assert_eq!(entry.unwrap().metadata().unwrap().permissions().mode() & 0o777, 0o600);
    }

    let second_state = tmp.path().join("b");
    let second = up(&second_state, &pool);
    let client_key = fs::read_to_string(second_state.join("my_app_private_key.pem")).unwrap();
    let signing_key = fs::read_to_string(second_state.join("oauth_signing_key_ps256.pem")).unwrap();
    let mut used = vec![client_key, signing_key];
    used.sort();
    assert_eq!(used, made, "both RSA keys of the new state dir are the pool's spares");
    // Taken keys left the pool; the second sandbox then made new ones.
    let refilled = wait_for_spares(&pool, mtls_sandbox::key_pool::SPARES);
    assert!(
        refilled.iter().all(|k| !made.contains(k)),
        "a key is never handed out twice"
    );
    stop(second);
}

#[test]
fn a_pool_dir_other_users_can_open_is_not_used() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = tmp.path().join("pool");
    stop_when_filled(up(&tmp.path().join("a"), &pool), &pool);
    let planted = spares(&pool);
    fs::set_permissions(&pool, fs::Permissions::from_mode(0o777)).unwrap();

    let state = tmp.path().join("b");
    let child = up(&state, &pool);
    let client_key = fs::read_to_string(state.join("my_app_private_key.pem")).unwrap();
    assert!(
        !planted.contains(&client_key),
        "a key anyone could have planted was used"
    );
    assert_eq!(spares(&pool), planted, "the pool was left alone");
    stop(child);
}

/// Waits until the sandbox filled the pool, then stops it.
fn stop_when_filled(child: Child, pool: &Path) -> Vec<String> {
    let made = wait_for_spares(pool, mtls_sandbox::key_pool::SPARES);
    stop(child);
    made
}

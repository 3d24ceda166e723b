use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use rcgen::KeyPair;

use super::*;

/// One real RSA-2048 key for every test (a prime search each would be slow).
fn rsa_pem() -> &'static str {
    static PEM: OnceLock<String> = OnceLock::new();
    PEM.get_or_init(|| generate().unwrap().serialize_pem())
}

fn copy_of_rsa() -> Result<KeyPair, rcgen::Error> {
    KeyPair::from_pem(rsa_pem())
}

fn pool() -> (tempfile::TempDir, Pool) {
    let tmp = tempfile::tempdir().unwrap();
    let pool = Pool::open(&tmp.path().join("cache/mtls-sandbox/rsa-2048")).unwrap();
    (tmp, pool)
}

fn plant(pool: &Pool, name: &str, content: &str, mode: u32) {
    let path = pool.dir.join(name);
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_new_pool_dir_is_closed_to_others_and_empty() {
    let (_tmp, pool) = pool();
    assert_eq!(fs::metadata(&pool.dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(pool.spares(), 0);
    assert!(pool.take().is_none());
}

#[test]
fn filled_keys_are_owner_only_and_each_is_taken_once() {
    let (_tmp, pool) = pool();
    assert_eq!(pool.fill(2, copy_of_rsa), 2);
    assert_eq!(pool.fill(2, copy_of_rsa), 0, "already full");
    for entry in fs::read_dir(&pool.dir).unwrap() {
        let mode = entry.unwrap().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let first = pool.take().expect("a spare key");
    assert_eq!(first.serialize_pem(), rsa_pem());
    assert_eq!(pool.spares(), 1);
    assert!(pool.take().is_some());
    assert!(pool.take().is_none(), "both spares were taken");
    assert_eq!(
        fs::read_dir(&pool.dir).unwrap().count(),
        0,
        "taken keys leave no file behind"
    );
}

#[test]
fn a_dir_open_to_others_or_a_link_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let open = tmp.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap();
    let err = Pool::open(&open).unwrap_err();
    assert!(err.to_string().contains("0700"), "{err}");

    let link = tmp.path().join("link");
    let (_real, real) = pool();
    std::os::unix::fs::symlink(&real.dir, &link).unwrap();
    let err = Pool::open(&link).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

#[test]
fn files_that_are_not_our_own_rsa_2048_keys_are_removed_not_used() {
    let (tmp, pool) = pool();
    plant(&pool, "readable.pem", rsa_pem(), 0o644);
    plant(&pool, "garbage.pem", "not a key", 0o600);
    plant(&pool, "p256.pem", &KeyPair::generate().unwrap().serialize_pem(), 0o600);
    let target = tmp.path().join("elsewhere.pem");
    fs::write(&target, rsa_pem()).unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&target, pool.dir.join("link.pem")).unwrap();

    assert!(pool.take().is_none(), "none of them is usable");
    assert_eq!(fs::read_dir(&pool.dir).unwrap().count(), 0);
    assert!(target.exists(), "a link's target is not touched");
}

#[test]
fn concurrent_takers_never_share_a_key() {
    let (_tmp, pool) = pool();
    // Four files, eight takers: a file handed out twice makes more than four.
    for i in 0..4 {
        plant(&pool, &format!("{i}.pem"), rsa_pem(), 0o600);
    }
    let names: Vec<_> = std::thread::scope(|scope| {
        let takers: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| pool.take().map(|k| k.serialize_pem())))
            .collect();
        takers.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(names.iter().flatten().count(), 4, "four keys, four takers get one");
    assert_eq!(pool.spares(), 0);
}

#[test]
fn leftovers_of_killed_processes_are_removed_once_stale() {
    let (_tmp, pool) = pool();
    let old = pool.dir.join(".key.pem.tmp-1-00");
    let new = pool.dir.join(".taken-2-00");
    for path in [&old, &new] {
        fs::write(path, "x").unwrap();
    }
    let long_ago = SystemTime::now() - STALE - Duration::from_secs(1);
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    pool.fill(0, copy_of_rsa);
    assert!(!old.exists());
    assert!(new.exists(), "a recent one may still be in use");
}

#[test]
fn the_pool_is_found_by_env_then_xdg_then_home() {
    let os = |s: &str| Some(OsString::from(s));
    assert_eq!(location(os("off"), os("/x"), os("/h")), None);
    assert_eq!(location(os("/p"), os("/x"), os("/h")).as_deref(), Some(Path::new("/p")));
    // Without the variable, this crate's unit tests never use the user's cache.
    assert_eq!(location(None, os("/x"), os("/h")), None);
    assert_eq!(location(os(""), None, os("/h")), None);
    let cache = |xdg, home| in_user_cache(xdg, home).map(|p| p.display().to_string());
    assert_eq!(cache(os("/x"), os("/h")).as_deref(), Some("/x/mtls-sandbox/rsa-2048"));
    assert_eq!(
        cache(os(""), os("/h")).as_deref(),
        Some("/h/.cache/mtls-sandbox/rsa-2048")
    );
    assert_eq!(cache(None, None), None, "no home, no pool");
}

//! RSA-2048 key pairs made ahead of time, in a per-user cache dir.
//!
//! Why: a first start needs two RSA-2048 keys (the application's client
//! key and the PS256 signing key) and `apps create` one more each. Each is
//! a random prime search of 100–500 ms on a laptop core, and it was nearly
//! all of a cold start (142 ms of it, median, against 12 ms warm). The
//! search does not depend on anything the sandbox knows, so it can happen
//! before it is needed: after a sandbox is ready, a low-priority thread
//! tops the pool up to [`SPARES`] keys, and the next fresh state dir takes
//! its keys from there. Only the first start on a machine waits for one.
//!
//! Where: `$MTLS_SANDBOX_KEY_POOL`, else `$XDG_CACHE_HOME/mtls-sandbox/rsa-2048`,
//! else `~/.cache/mtls-sandbox/rsa-2048`; `MTLS_SANDBOX_KEY_POOL=off`
//! disables it (every key is then generated when needed, as before).
//!
//! Safety: a key from the pool becomes somebody's private key, so a key
//! another user could have read or planted must never be used. The pool is
//! used only when its dir is owned by this user and closed to everyone else
//! (0700); each key file must be a regular file (no links followed) owned
//! by this user with mode 0600. A key is taken by renaming it to a name of
//! its own first (atomic: two processes never get the same key), then read
//! and deleted; it leaves the pool the moment it is taken. RSA keys never
//! come from a seeded `--deterministic` stream (aws-lc has no seeded RSA
//! generator), so taking them from the pool changes nothing there.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use rcgen::{KeyPair, PKCS_RSA_SHA256, RsaKeySize};

use crate::fsutil::{self, DIR_MODE, SECRET_MODE};

/// Spare keys kept: a fresh state dir takes two.
pub const SPARES: usize = 2;
/// The environment variable that moves (or, set to `off`, disables) the pool.
pub const ENV: &str = "MTLS_SANDBOX_KEY_POOL";
/// A key file larger than this is not a 2048-bit PKCS#8 PEM (~1.7 KB).
const MAX_KEY_BYTES: u64 = 8 * 1024;
/// A temp or taken file older than this was left by a killed process.
const STALE: Duration = Duration::from_secs(600);

/// A new RSA-2048 key pair: a spare from the pool when there is one,
/// else generated now.
pub fn rsa_2048() -> Result<KeyPair, rcgen::Error> {
    if let Some(key) = pool().and_then(Pool::take) {
        return Ok(key);
    }
    generate()
}

/// Tops the pool up to [`SPARES`] keys on a thread of its own at the
/// lowest CPU priority (a running sandbox's requests come first; callers
/// are async tasks, so even counting the spares happens there). At most
/// one such thread per process; nothing happens when the pool is off.
pub fn refill_in_background() {
    static RUNNING: AtomicBool = AtomicBool::new(false);
    let Some(pool) = pool() else { return };
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new().name("key-pool".into()).spawn(move || {
        // Detached: the process may exit while it generates (see exit_gate).
        // Passed at normal priority, so that `main` never waits for a
        // starved nice-19 thread to leave the gate.
        if crate::exit_gate::pass() {
            lowest_priority();
            let made = pool.fill(SPARES, generate);
            tracing::debug!("key pool {}: {made} RSA-2048 key(s) made ahead", pool.dir.display());
        }
        RUNNING.store(false, Ordering::Release);
    });
    if spawned.is_err() {
        RUNNING.store(false, Ordering::Release);
    }
}

fn generate() -> Result<KeyPair, rcgen::Error> {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048)
}

/// The process's pool, located once; `None` when off or unusable.
fn pool() -> Option<&'static Pool> {
    static POOL: OnceLock<Option<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let dir = location(
            std::env::var_os(ENV),
            std::env::var_os("XDG_CACHE_HOME"),
            std::env::var_os("HOME"),
        )?;
        Pool::open(&dir)
            .inspect_err(|e| tracing::debug!("key pool {} not used: {e}", dir.display()))
            .ok()
    })
    .as_ref()
}

/// Where the pool lives, from `$MTLS_SANDBOX_KEY_POOL`, `$XDG_CACHE_HOME`
/// and `$HOME`. Unit tests of this crate use none unless told to, so they
/// never touch the user's cache.
fn location(pool: Option<OsString>, xdg_cache: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    if let Some(dir) = non_empty(pool) {
        return (dir != "off").then(|| PathBuf::from(dir));
    }
    if cfg!(test) {
        return None;
    }
    in_user_cache(xdg_cache, home)
}

/// `$XDG_CACHE_HOME/mtls-sandbox/rsa-2048`, else under `~/.cache`.
fn in_user_cache(xdg_cache: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let cache = non_empty(xdg_cache)
        .map(PathBuf::from)
        .or_else(|| non_empty(home).map(|home| PathBuf::from(home).join(".cache")))?;
    Some(cache.join("mtls-sandbox").join("rsa-2048"))
}

/// An environment variable's value, unless unset or empty.
fn non_empty(value: Option<OsString>) -> Option<OsString> {
    value.filter(|v| !v.is_empty())
}

/// A pool dir checked to be this user's alone.
#[derive(Debug)]
pub struct Pool {
    dir: PathBuf,
}

impl Pool {
    /// Opens (creating, 0700) the pool at `dir`; refuses a dir that is a
    /// link, not this user's, or open to others.
    pub fn open(dir: &Path) -> io::Result<Pool> {
        fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)?;
        let meta = fs::symlink_metadata(dir)?;
        let refuse = |why: &str| Err(io::Error::new(io::ErrorKind::PermissionDenied, why.to_owned()));
        if !meta.is_dir() {
            return refuse("not a directory (or a symbolic link)");
        }
        if meta.uid() != euid() {
            return refuse("owned by another user");
        }
        if meta.permissions().mode() & 0o077 != 0 {
            return refuse("readable or writable by other users (needs mode 0700)");
        }
        Ok(Pool { dir: dir.to_path_buf() })
    }

    /// Takes one spare key out of the pool, or `None` when it has none.
    /// A file that is not a usable key of ours is removed and skipped.
    pub fn take(&self) -> Option<KeyPair> {
        for path in self.keys() {
            let taken = self
                .dir
                .join(format!(".taken-{}-{:016x}", std::process::id(), rand::random::<u64>()));
            if fs::rename(&path, &taken).is_err() {
                continue; // another process took it first
            }
            let key = read_key(&taken);
            let _ = fs::remove_file(&taken);
            match key {
                Ok(key) => return Some(key),
                Err(e) => tracing::warn!("key pool: skipped {}: {e}", path.display()),
            }
        }
        None
    }

    /// Adds keys made by `make` until the pool holds `target`; returns how
    /// many it added. Other processes may fill it at the same time: the
    /// count is read again before each key, so it overshoots by at most one
    /// key per concurrent filler.
    pub fn fill(&self, target: usize, make: impl Fn() -> Result<KeyPair, rcgen::Error>) -> usize {
        self.remove_stale();
        let mut made = 0;
        while self.spares() < target {
            let Ok(key) = make() else { break };
            let path = self.dir.join(format!("{:016x}.pem", rand::random::<u64>()));
            if fsutil::write_replace(&path, key.serialize_pem().as_bytes(), SECRET_MODE).is_err() {
                break; // disk full or read-only: keys are made when needed instead
            }
            made += 1;
        }
        made
    }

    /// How many spare keys the pool holds.
    pub fn spares(&self) -> usize {
        self.keys().count()
    }

    fn keys(&self) -> impl Iterator<Item = PathBuf> {
        fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                !name.starts_with('.') && name.ends_with(".pem")
            })
    }

    /// Temp and taken files of processes killed mid-way.
    fn remove_stale(&self) {
        let now = SystemTime::now();
        for entry in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let hidden = entry.file_name().to_str().is_some_and(|n| n.starts_with('.'));
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE);
            if hidden && old {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Reads a taken key file: a regular file of this user's, 0600, holding an
/// RSA-2048 private key.
fn read_key(path: &Path) -> Result<KeyPair, String> {
    let mut file = fsutil::no_follow(OpenOptions::new().read(true))
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() || meta.uid() != euid() || meta.permissions().mode() & 0o077 != 0 {
        return Err("not a regular file of this user's with mode 0600".into());
    }
    if meta.len() > MAX_KEY_BYTES {
        return Err("too large for an RSA-2048 key".into());
    }
    let mut pem = String::new();
    file.read_to_string(&mut pem).map_err(|e| e.to_string())?;
    // One aws-lc parse (it checks the key's consistency, ~4 ms for RSA);
    // the size is read from the public half it yields.
    let key = KeyPair::from_pem(&pem).map_err(|e| e.to_string())?;
    if !is_rsa_2048(&key) {
        return Err("not an RSA-2048 private key".into());
    }
    Ok(key)
}

fn is_rsa_2048(key: &KeyPair) -> bool {
    use rcgen::PublicKeyData;
    use x509_parser::prelude::{FromDer, SubjectPublicKeyInfo};
    use x509_parser::public_key::PublicKey;
    let spki = key.subject_public_key_info();
    let Ok((_, spki)) = SubjectPublicKeyInfo::from_der(&spki) else {
        return false;
    };
    matches!(spki.parsed(), Ok(PublicKey::RSA(rsa)) if rsa.key_size() == 2048)
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Puts the calling thread at nice 19 (Linux sets priorities per thread).
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority only read their integer arguments; a
    // failure leaves the priority as it was.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 19);
    }
}

#[cfg(test)]
#[path = "key_pool_tests.rs"]
mod tests;

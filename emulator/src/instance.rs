//! One running sandbox per state dir, and how other commands find it.
//!
//! `up` holds an exclusive lock on `sandbox.lock` in the state dir for the
//! whole life of the process. The lock, not `sandbox.json`, is the truth
//! about "is a sandbox running here": the kernel releases it when the
//! process dies, however it dies, so a stale lock from a killed process is
//! simply taken over, and a second `up` is refused before it touches any
//! file the running sandbox owns (its `sandbox.json`, its server
//! certificate, its CRL).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::info::SandboxInfo;
use crate::state::files;

/// How long `acquire` keeps trying while the lock is held by a probe
/// (`status`, `wait`), which holds it for microseconds.
const PROBE_GRACE: Duration = Duration::from_millis(300);

/// The lock of a running sandbox; released when dropped (or the process ends).
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{}", already_running(dir, *pid, info.as_deref()))]
    Running {
        dir: PathBuf,
        pid: Option<u32>,
        info: Option<Box<SandboxInfo>>,
    },
    #[error("cannot lock {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The state dir is read-only, full or not ours to write.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageFailure),
}

fn already_running(dir: &Path, pid: Option<u32>, info: Option<&SandboxInfo>) -> String {
    let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    let urls = info
        .map(|i| {
            format!(
                "\n  sandbox {}\n  mtls    {}\n  auth    {}",
                i.sandbox_url, i.mtls_url, i.auth_url
            )
        })
        .unwrap_or_default();
    format!(
        "a sandbox is already running for {}{pid}:{urls}\n  Use it as it is, stop it with `mtls-sandbox down`, \
         or start another one with --state-dir OTHER_DIR.",
        dir.display()
    )
}

impl InstanceLock {
    /// Takes the lock of `state_dir` (which must exist) and records our pid in it.
    pub fn acquire(state_dir: &Path) -> Result<Self, LockError> {
        let path = state_dir.join(files::LOCK);
        let io = |source: std::io::Error| match crate::storage::StorageFailure::from_io(&path, &source) {
            Some(failure) => LockError::Storage(failure),
            None => LockError::Io {
                path: path.clone(),
                source,
            },
        };
        crate::fsutil::refuse_symlink(&path).map_err(io)?;
        let file = open(&path).map_err(io)?;
        let deadline = Instant::now() + PROBE_GRACE;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(TryLockError::WouldBlock) => {
                    let running = probe(state_dir);
                    return Err(LockError::Running {
                        dir: state_dir.to_path_buf(),
                        pid: running.as_ref().and_then(|r| r.pid),
                        info: running.and_then(|r| r.info).map(Box::new),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(io(e)),
            }
        }
        // Overwritten in place, and cut only when the old pid was longer:
        // truncating to zero first made the file system free and then
        // allocate its block again (~2 ms of a warm start on a busy disk).
        // A reader between the two calls sees a pid that does not parse,
        // as it saw an empty file before.
        let pid = format!("{}\n", std::process::id());
        file.write_all_at(pid.as_bytes(), 0).map_err(io)?;
        if file.metadata().map_err(io)?.len() > pid.len() as u64 {
            file.set_len(pid.len() as u64).map_err(io)?;
        }
        Ok(Self { _file: file })
    }
}

/// Never through a symlink: the holder writes its pid into the file.
fn open(path: &Path) -> std::io::Result<File> {
    crate::fsutil::no_follow(&mut OpenOptions::new())
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(crate::fsutil::PUBLIC_MODE)
        .open(path)
}

/// What other commands learn about the sandbox running on a state dir.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The pid written into the lock by its holder.
    pub pid: Option<u32>,
    /// Its `sandbox.json`; `None` while it is still starting.
    pub info: Option<SandboxInfo>,
}

/// The sandbox running on `state_dir`, if any (the lock is held).
pub fn probe(state_dir: &Path) -> Option<Instance> {
    let path = state_dir.join(files::LOCK);
    let mut file = crate::fsutil::no_follow(OpenOptions::new().read(true))
        .open(&path)
        .ok()?;
    match file.try_lock_shared() {
        // Nobody holds it: not running (our shared lock drops with `file`).
        Ok(()) => return None,
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(_)) => return None,
    }
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let pid = text.trim().parse().ok();
    let info = SandboxInfo::read(&state_dir.join(files::SANDBOX_JSON))
        .ok()
        .filter(|info| Some(info.pid) == pid);
    Some(Instance { pid, info })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_a_released_one_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        assert!(probe(dir.path()).is_none(), "no lock file: not running");
        let first = InstanceLock::acquire(dir.path()).unwrap();
        let seen = probe(dir.path()).expect("running");
        assert_eq!(seen.pid, Some(std::process::id()));
        let err = InstanceLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("already running") && err.contains("mtls-sandbox down"),
            "{err}"
        );
        drop(first);
        assert!(probe(dir.path()).is_none(), "released: not running");
        let _again = InstanceLock::acquire(dir.path()).expect("a released lock is taken over");
    }

    #[test]
    fn the_holder_pid_replaces_a_longer_or_shorter_one_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        for left in ["12345678901234567890\n", "1\n"] {
            std::fs::write(dir.path().join(files::LOCK), left).unwrap();
            let _lock = InstanceLock::acquire(dir.path()).unwrap();
            let text = std::fs::read_to_string(dir.path().join(files::LOCK)).unwrap();
            assert_eq!(text, format!("{}\n", std::process::id()), "left behind: {left:?}");
        }
    }

    /// Issue #18 item 8: the lock was opened through a planted link, then
    /// truncated and overwritten with the pid.
    #[test]
    fn a_symlinked_lock_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "precious").unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        std::os::unix::fs::symlink(&outside, state.join(files::LOCK)).unwrap();
        let err = InstanceLock::acquire(&state).unwrap_err().to_string();
        assert!(err.contains("symbolic link") && err.contains("Remove it"), "{err}");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
    }
}

//! Issue #15, "Hold under load": the sandbox's own environment failing — a
//! full disk under the state dir, a read-only state dir, a hostile
//! `jwks_uri`, an upstream that stalls mid-body, the clock set backwards.
//! Each case must end in a clear error within a bounded time, keep serving
//! everything else, and lose nothing already stored. Each test prints the
//! time it took to get the error (`--nocapture` shows them).

mod disk_full;
mod gateway_stall;
mod read_only;

use std::time::{Duration, Instant};

/// Runs `f`, asserting it finishes within `bound`; prints and returns how
/// long it took along with its result.
pub fn timed<T>(what: &str, bound: Duration, f: impl FnOnce() -> T) -> (T, Duration) {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    println!("{what}: {} ms", took.as_millis());
    assert!(took < bound, "{what} took {took:?}, more than {bound:?}");
    (out, took)
}

/// A file system mounted for one test, detached on drop (even when the test
/// fails). Mounting needs root with CAP_SYS_ADMIN: `scripts/test` and CI
/// run as root, in a container privileged enough for dockerd; anywhere else
/// the test fails saying so, never skips.
pub struct Mount {
    target: std::path::PathBuf,
}

impl Mount {
    /// A tmpfs of `size` (e.g. "2m") at `target`, which must exist.
    pub fn tmpfs(target: &std::path::Path, size: &str) -> Self {
        mount(
            Some("tmpfs"),
            target,
            Some("tmpfs"),
            0,
            &format!("size={size},mode=0700"),
        );
        Self {
            target: target.to_path_buf(),
        }
    }

    /// `target` bound onto itself, read-only: writes fail with EROFS, for
    /// root too (file modes would not stop root).
    pub fn read_only(target: &std::path::Path) -> Self {
        mount(Some(target.to_str().unwrap()), target, None, libc::MS_BIND, "");
        let guard = Self {
            target: target.to_path_buf(),
        };
        mount(
            None,
            target,
            None,
            libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
            "",
        );
        guard
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.target.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; MNT_DETACH never blocks.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

fn mount(source: Option<&str>, target: &std::path::Path, fstype: Option<&str>, flags: libc::c_ulong, data: &str) {
    use std::ffi::CString;
    let c = |s: &str| CString::new(s).unwrap();
    let (source, fstype) = (source.map(c), fstype.map(c));
    let (target_c, data_c) = (c(target.to_str().unwrap()), c(data));
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is a valid NUL-terminated string or null, as mount(2) allows.
    let rc = unsafe {
        libc::mount(
            ptr(&source),
            target_c.as_ptr(),
            ptr(&fstype),
            flags,
            data_c.as_ptr().cast(),
        )
    };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        panic!(
            "this test must mount a file system at {} ({err}): run it as root with CAP_SYS_ADMIN, as \
             scripts/test and CI do (a container needs --privileged, as dockerd does)",
            target.display()
        );
    }
}

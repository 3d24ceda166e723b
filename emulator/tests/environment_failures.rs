//! Issue #15, "Hold under load": the sandbox's own environment failing — a
//! full disk under the state dir, a read-only state dir, a hostile
//! `jwks_uri`, an upstream that stalls mid-body, the clock set backwards.
//! Each case must end in a clear error within a bounded time, keep serving
//! everything else, and lose nothing already stored. Each test prints the
//! time it took to get the error (`--nocapture` shows them).

mod clock_backwards;
mod disk_full;
mod gateway_stall;
mod half_rotation;
mod jwks_uri;
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

/// A raw HTTP/1.1 server on a free loopback port, one thread per
/// connection, for peers that misbehave in ways a mock server will not
/// (stall mid-body, never answer, stream without end). `handler` gets the
/// request path and the stream, after the request head; `stopping()`
/// turns true when the server is dropped, so a handler holding a
/// connection open can end.
pub struct RawServer {
    pub addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

pub type Handler = fn(&str, &mut std::net::TcpStream, &dyn Fn() -> bool);

impl RawServer {
    pub fn start(handler: Handler) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut stream, _)) => {
                        let flag = flag.clone();
                        std::thread::spawn(move || {
                            if let Some(path) = read_head(&mut stream) {
                                handler(&path, &mut stream, &|| flag.load(Ordering::Relaxed));
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { addr, stop }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Reads a request head; returns its path.
pub fn read_head(stream: &mut std::net::TcpStream) -> Option<String> {
    use std::io::Read;
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head);
    Some(head.split_whitespace().nth(1)?.to_owned())
}

/// Waits, without a busy loop, until `stopping()` or 30 s have passed.
pub fn hold(stopping: &dyn Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stopping() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `mtls-sandbox up --state-dir DIR` on free ports, killed if it is still
/// running after 10 s; its exit code and stderr.
pub fn up(state_dir: &std::path::Path) -> (Option<i32>, String) {
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let mut child = std::process::Command::new(crate::util::bin())
        .args(crate::util::UP_ON_FREE_PORTS)
        .arg("--state-dir")
        .arg(state_dir)
        .env_remove("MTLS_SANDBOX_STATE_DIR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("up on {} still runs after 10 s", state_dir.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    (status.code(), std::fs::read_to_string(stderr.path()).unwrap())
}

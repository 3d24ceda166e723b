//! Shared test support: start the binary on free ports in a temp state dir,
//! read its log, stop it; build TLS clients with exact certificate chains.

use std::fs::File;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use mtls_sandbox::info::SandboxInfo;
use mtls_sandbox::pki::{self, CertAndKey};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;

/// `up` with every listener on a free port; a state dir follows.
pub const UP_ON_FREE_PORTS: [&str; 7] = ["up", "--sandbox-port", "0", "--mtls-port", "0", "--auth-port", "0"];

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mtls-sandbox"))
}

/// The RSA key pool the tests' sandboxes share: in the target dir, never
/// the user's `~/.cache`.
pub fn key_pool() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("key-pool")
}

/// A running `mtls-sandbox up`, killed on drop.
pub struct Emulator {
    child: Option<Child>,
    pub state_dir: PathBuf,
    pub info: SandboxInfo,
    log: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Emulator {
    /// Starts a sandbox in a temp state dir copied from this test process's
    /// [template](copy_template_to): a warm start. What a first start
    /// creates (files, modes, keys) is tested with [`Emulator::start_fresh`].
    pub fn start(extra: &[&str]) -> Self {
        assert!(
            !extra.contains(&"--deterministic"),
            "--deterministic decides the keys of a new state dir: use Emulator::start_fresh"
        );
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        copy_template_to(&dir);
        let mut emu = Self::start_in(&dir, extra);
        emu._tmp = Some(tmp);
        emu
    }

    /// Starts a sandbox in a new, empty temp state dir: a first start,
    /// which creates the CA hierarchy and keys itself.
    pub fn start_fresh(extra: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let mut emu = Self::start_in(&tmp.path().join("state"), extra);
        emu._tmp = Some(tmp);
        emu
    }

    /// Starts a sandbox on `state_dir` (created or reused).
    pub fn start_in(state_dir: &Path, extra: &[&str]) -> Self {
        let log = state_dir.with_extension(format!("log{}", rand::random::<u32>()));
        let stderr = File::create(&log).unwrap();
        Self::start_with_stderr(state_dir, extra, log, stderr.into())
    }

    /// [`Emulator::start_in`] with stderr going to `stderr` instead of the
    /// file `log` (which [`Emulator::log`] then reads as it stands).
    pub fn start_with_stderr(state_dir: &Path, extra: &[&str], log: PathBuf, stderr: Stdio) -> Self {
        let mut cmd = Command::new(bin());
        cmd.arg("up");
        // Free ports unless the test pins them.
        for flag in ["--sandbox-port", "--mtls-port", "--auth-port"] {
            if !extra.contains(&flag) {
                cmd.args([flag, "0"]);
            }
        }
        cmd.arg("--state-dir")
            .arg(state_dir)
            .args(extra)
            .env_remove("MTLS_SANDBOX_STATE_DIR")
            .env(mtls_sandbox::key_pool::ENV, key_pool())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let mut child = cmd.spawn().expect("spawn mtls-sandbox");
        let json = state_dir.join("sandbox.json");
        let deadline = Instant::now() + Duration::from_secs(30);
        let info = loop {
            if let Ok(info) = SandboxInfo::read(&json)
                && info.pid == child.id()
            {
                break info;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "mtls-sandbox exited early ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "sandbox did not become ready");
            // A warm start is ready in ~25 ms: a coarser poll would add most of that again.
            std::thread::sleep(Duration::from_millis(5));
        };
        Self {
            child: Some(child),
            state_dir: state_dir.to_path_buf(),
            info,
            log,
            _tmp: None,
        }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.state_dir.join(name)
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle` (log lines are written right
    /// after the event, but by another process) and returns the matching line.
    pub fn log_line(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "log has no line with {needle:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        // SAFETY: a plain syscall on our own, not yet reaped, child.
        let sent = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(
            sent,
            0,
            "kill -TERM {}: {}",
            child.id(),
            std::io::Error::last_os_error()
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "sandbox did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The template state dir of this test process (see [`template`]).
static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();

/// A state dir made once per test process by a real first start of the
/// binary, stopped with SIGTERM. A first start creates a CA hierarchy and
/// two RSA-2048 keys (the app's and the token signer's): 120-240 ms of CPU
/// in a debug build, where a start on an existing state dir takes ~25 ms.
/// Most tests are about what a running sandbox does, not about what its
/// first start creates, so they start on a copy ([`Emulator::start`]).
///
/// Statics are never dropped: an `atexit` hook removes the dir when the
/// test binary exits (a killed run leaves it in the temp dir).
fn template() -> &'static Path {
    extern "C" fn remove_template() {
        if let Some(parent) = TEMPLATE.get().and_then(|state| state.parent()) {
            let _ = std::fs::remove_dir_all(parent);
        }
    }
    TEMPLATE.get_or_init(|| {
        let tmp = tempfile::Builder::new()
            .prefix("mtls-sandbox-template")
            .tempdir()
            .unwrap();
        let state = tmp.keep().join("state");
        let status = Emulator::start_in(&state, &[]).stop();
        assert!(status.success(), "the template sandbox stopped with {status}");
        // SAFETY: registers a plain function; it only touches the filesystem.
        unsafe { libc::atexit(remove_template) };
        state
    })
}

/// Copies the [`template`] state into `dir` (created 0700, as the sandbox
/// creates it), keeping each file's mode: owner-only secrets stay 0600.
/// The lock file is left out: each sandbox creates and locks its own.
pub fn copy_template_to(dir: &Path) {
    let template = template();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .unwrap();
    for entry in std::fs::read_dir(template).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if entry.file_type().unwrap().is_file() && name != "sandbox.lock" {
            std::fs::copy(entry.path(), dir.join(&name)).unwrap();
        }
    }
}

/// Held by a test while it adds network interfaces to the host (the compose
/// test's Docker network) and by one that needs the host's network to stay
/// put: Chromium aborts a page load with `ERR_NETWORK_CHANGED` when an
/// interface appears, even for a page on loopback.
pub fn host_network_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that failed while holding it leaves nothing to repair.
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Which certificates a Rust (rustls) client presents. rustls sends exactly
/// the chain it is given, like Go — which is what makes `Leaf` fail.
pub enum Identity {
    None,
    /// Only the leaf certificate.
    Leaf(CertAndKey),
    /// The leaf followed by these extra PEM certificates.
    Chain(CertAndKey, String),
    /// Certificates (leaf first, PEM) presented with a private key that
    /// does not belong to the leaf — rustls refuses to build that pairing,
    /// so it goes through a resolver that skips the check.
    Mismatched {
        chain_pem: String,
        key_pem: String,
    },
}

#[derive(Debug)]
struct FixedResolver(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for FixedResolver {
    fn resolve(&self, _: &[&[u8]], _: &[rustls::SignatureScheme]) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// A reqwest client over rustls that trusts `roots_pem` and presents
/// `identity`. HTTP/1.1 only, a fresh connection per client.
pub fn client(roots_pem: &str, identity: Identity) -> reqwest::Client {
    let builder = mtls_sandbox::tls::client_builder(pki::certs_from_pem(roots_pem, "roots").unwrap()).unwrap();
    let chain_and_key = |leaf: &CertAndKey, extra: &str| -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut chain = vec![leaf.cert_der().unwrap()];
        if !extra.is_empty() {
            chain.extend(pki::certs_from_pem(extra, "chain").unwrap());
        }
        (chain, pki::key_from_pem(&leaf.key_pem, "key").unwrap())
    };
    let config = match identity {
        Identity::None => builder.with_no_client_auth(),
        Identity::Leaf(leaf) => {
            let (chain, key) = chain_and_key(&leaf, "");
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        Identity::Chain(leaf, extra) => {
            let (chain, key) = chain_and_key(&leaf, &extra);
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        Identity::Mismatched { chain_pem, key_pem } => {
            let chain = pki::certs_from_pem(&chain_pem, "chain").unwrap();
            let key = pki::key_from_pem(&key_pem, "key").unwrap();
            let signer = mtls_sandbox::tls::provider()
                .key_provider
                .load_private_key(key)
                .unwrap();
            let certified = rustls::sign::CertifiedKey::new(chain, signer);
            builder.with_client_cert_resolver(Arc::new(FixedResolver(Arc::new(certified))))
        }
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// The app's client certificate and key from the state dir.
pub fn app_identity(emu: &Emulator) -> CertAndKey {
    CertAndKey {
        cert_pem: emu.read("my_app_cert.crt"),
        key_pem: emu.read("my_app_private_key.pem"),
    }
}

/// Runs curl with `args`, returning (exit code, stdout).
pub fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl must be installed (scripts/test installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// A tokio runtime for the async client calls in sync tests.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// (status, JSON body — or the text as a JSON string —, headers).
pub type Reply = (u16, Value, reqwest::header::HeaderMap);

pub fn send(req: reqwest::RequestBuilder) -> Reply {
    block_on(async {
        let resp = req.send().await.unwrap();
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        )
    })
}

/// A GET on the sandbox host with the portal token as a bearer token.
pub fn portal_get(emu: &Emulator, path: &str) -> Reply {
    let token = emu.info.portal_token.as_deref().expect("portal_token in sandbox.json");
    send(
        plain(emu)
            .get(format!("{}{path}", emu.info.sandbox_url))
            .bearer_auth(token),
    )
}

pub fn plain(emu: &Emulator) -> reqwest::Client {
    client(&emu.read("lean_public_cert_chain.pem"), Identity::None)
}

pub fn with_app_cert(emu: &Emulator) -> reqwest::Client {
    let chain = emu.read("lean_public_cert_chain.pem");
    client(&chain, Identity::Chain(app_identity(emu), chain.clone()))
}

pub fn token_request(http: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Reply {
    send(http.post(url).form(form))
}

pub fn app_token(emu: &Emulator, scope: &str) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", emu.info.client_secret.as_str()),
        ("scope", scope),
    ];
    let (status, body, _) = token_request(&plain(emu), &emu.info.token_endpoint, &form);
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The claims of a JWT, unverified (tests check what was issued).
pub fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A client presenting a new certificate (with chain) issued by the
/// sandbox's own CA for `cn`: a valid identity that is not the app's.
pub fn other_identity_client(emu: &Emulator, cn: &str) -> reqwest::Client {
    let ca = mtls_sandbox::state::State::load(&emu.state_dir)
        .unwrap()
        .issuing_ca()
        .unwrap();
    let other = ca
        .issue_client(&pki::ClientCertSpec::new(cn, time::OffsetDateTime::now_utc()))
        .unwrap();
    let chain = emu.read("lean_public_cert_chain.pem");
    client(&chain, Identity::Chain(other, chain.clone()))
}

/// Three free loopback ports as `--sandbox-port P --mtls-port P --auth-port P`
/// (for restarts that must keep their URLs).
pub fn fixed_port_args() -> Vec<String> {
    let listeners: Vec<_> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    ["--sandbox-port", "--mtls-port", "--auth-port"]
        .iter()
        .zip(&listeners)
        .flat_map(|(flag, l)| [flag.to_string(), l.local_addr().unwrap().port().to_string()])
        .collect()
}

/// Runs `mtls-sandbox up ARGS` in a fresh state dir, expects a usage error
/// (exit 2) that started nothing (no `sandbox.json`) and returns its stderr.
pub fn up_usage_error<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .env_remove("MTLS_SANDBOX_STATE_DIR")
        .arg("up")
        .args(args)
        .arg("--state-dir")
        .arg(tmp.path().join("s"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        !tmp.path().join("s/sandbox.json").exists(),
        "a usage error started a sandbox"
    );
    stderr
}

/// Runs `mtls-sandbox ARGS --state-dir <emu's>` (a command talking to the
/// running sandbox); returns its exit code, stdout and stderr.
pub fn cli(emu: &Emulator, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(bin())
        .args(args)
        .arg("--state-dir")
        .arg(&emu.state_dir)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A token with scope `admin` from the static client testing/testing.
pub fn admin_token(emu: &Emulator) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "testing"),
        ("client_secret", "testing"),
        ("scope", "admin"),
    ];
    let (status, body, _) = token_request(&plain(emu), &emu.info.token_endpoint, &form);
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A copy of the template is the template: the same files with the same
/// bytes and modes (owner-only secrets stay 0600), in a 0700 dir.
#[test]
fn a_template_copy_keeps_every_file_and_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("state");
    copy_template_to(&copy);
    assert_eq!(mode(&copy), 0o700);
    let mut copied = 0;
    for entry in std::fs::read_dir(template()).unwrap() {
        let original = entry.unwrap().path();
        let name = original.file_name().unwrap();
        if name == "sandbox.lock" {
            continue;
        }
        let twin = copy.join(name);
        assert_eq!(
            std::fs::read(&original).unwrap(),
            std::fs::read(&twin).unwrap(),
            "{name:?}"
        );
        assert_eq!(mode(&original), mode(&twin), "{name:?}");
        copied += 1;
    }
    assert_eq!(std::fs::read_dir(&copy).unwrap().count(), copied);
    for secret in [
        "my_app_private_key.pem",
        "root_ca_key.pem",
        "oauth_signing_key_ps256.pem",
        "state.json",
    ] {
        assert_eq!(mode(&copy.join(secret)), 0o600, "{secret}");
    }
}

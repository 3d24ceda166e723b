//! The container image (`Dockerfile`, built by `scripts/image`) and the
//! compose example (`examples/compose/`), run under a real Docker daemon.
//!
//! `scripts/test` installs docker.io and docker-compose and starts dockerd
//! (vfs storage) when none answers; without a daemon these tests fail and
//! say so — they are never skipped. The image is built once per run and
//! reused while the static binary is unchanged (scripts/image compares its
//! SHA-256 label). The single-container test uses `--network host` and
//! loopback; the compose test's containers get addresses on a network this
//! test makes, and make a few functional requests only.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mtls_sandbox::info::SandboxInfo;
use mtls_sandbox::pki::CertAndKey;

use crate::util::{Identity, block_on, client, fixed_port_args};

/// The numeric user the image runs as (`USER` in the Dockerfile).
const CONTAINER_UID: u32 = 10001;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs a command to completion, failing the test with its output unless it succeeds.
fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("{cmd:?} could not start ({e}); scripts/test installs docker.io and docker-compose")
    });
    assert!(out.status.success(), "{cmd:?} failed:\n{}", both(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn both(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn docker(args: &[&str]) -> String {
    run(Command::new("docker").args(args))
}

/// The image, built (or found up to date) once per test run.
fn image() -> &'static str {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let daemon = Command::new("docker")
            .args(["info", "--format", "{{.ServerVersion}}"])
            .output();
        match daemon {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "no Docker daemon answers (`docker info`: {}). Run the tests with scripts/test: it installs \
                 docker.io and docker-compose and starts `dockerd --storage-driver=vfs` for the run",
                both(&out).trim()
            ),
            Err(e) => panic!("the docker CLI is missing ({e}); scripts/test installs docker.io and starts dockerd"),
        }
        // Its own tag, so a run never replaces the user's mtls-sandbox:latest.
        // The dev profile: what these tests check (user, volume, signals,
        // compose) does not depend on optimisation, and after a change the
        // static build takes seconds instead of a release build's minutes.
        let out = run(Command::new(repo().join("scripts/image"))
            .env("IMAGE", "mtls-sandbox:test")
            .env("PROFILE", "dev"));
        let built = out.lines().last().unwrap_or_default().to_owned();
        assert_eq!(built, "mtls-sandbox:test", "scripts/image printed:\n{out}");
        built
    })
}

/// A running container, removed on drop (even when the test panics).
struct Container(String);

impl Container {
    fn inspect(&self, format: &str) -> String {
        docker(&["inspect", "--format", format, &self.0])
    }

    /// Waits for Docker's health check (`mtls-sandbox wait`) to pass.
    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.inspect("{{.State.Health.Status}} {{.State.Running}}").as_str() {
                "healthy true" => return,
                status if status.ends_with("false") || Instant::now() > deadline => panic!(
                    "container {} is not healthy ({status}); its log:\n{}",
                    self.0,
                    both(&Command::new("docker").args(["logs", &self.0]).output().unwrap())
                ),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "--force", "--volumes", &self.0])
            .output();
    }
}

#[test]
fn the_image_serves_mutual_tls_from_its_volume_as_a_non_root_user() {
    let image = image();
    let tmp = tempfile::tempdir().unwrap();
    let volume = tmp.path().join("state");
    std::fs::create_dir(&volume).unwrap();
    // As a bind-mounted directory must be for the image's user (README).
    std::os::unix::fs::chown(&volume, Some(CONTAINER_UID), Some(CONTAINER_UID))
        .expect("chown the volume to uid 10001 (the tests run as root under scripts/test)");

    let ports = fixed_port_args();
    let mount = format!("{}:/state", volume.display());
    let mut args = vec!["run", "-d", "--network", "host", "-v", &mount];
    // The host's network: listen on its loopback only, not the image's 0.0.0.0.
    args.extend([
        "-e",
        "MTLS_SANDBOX_BIND=127.0.0.1",
        "-e",
        "MTLS_SANDBOX_PUBLIC_HOST=localhost",
    ]);
    args.extend([image, "up"]);
    args.extend(ports.iter().map(String::as_str));
    let container = Container(docker(&args));
    container.wait_healthy();

    // The state the container wrote, read from the host.
    let state = volume.join("sandbox");
    let info = SandboxInfo::read(&state.join("sandbox.json")).unwrap();
    assert_eq!(
        info.mtls_url,
        format!("https://localhost:{}", ports[3]),
        "the public host from the environment"
    );
    let read = |name: &str| std::fs::read_to_string(state.join(name)).unwrap();
    let chain = read("lean_public_cert_chain.pem");
    let identity = CertAndKey {
        cert_pem: read("my_app_cert.crt"),
        key_pem: read("my_app_private_key.pem"),
    };
    let http = client(&chain, Identity::Chain(identity, chain.clone()));
    let status = block_on(async {
        let resp = http
            .get(format!("{}/banks/v1", info.mtls_url))
            .header("lean-app-token", &info.app_token)
            .send()
            .await
            .unwrap();
        resp.status().as_u16()
    });
    assert_eq!(status, 200, "GET /banks/v1 on the container's mtls host");

    // Owned by the container's user; secrets owner-only, as outside a container.
    assert_owned_private(&state, 0o700);
    for entry in std::fs::read_dir(&state).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // As the README's security model lists them (sandbox.lock holds a pid only).
        let secret = name.contains("key")
            || name.ends_with(".p12")
            || ["sandbox.json", "sandbox.env", "state.json"].contains(&name.as_str());
        if secret {
            assert_owned_private(&path, 0o600);
        } else {
            assert_eq!(path.metadata().unwrap().uid(), CONTAINER_UID, "{name}");
        }
    }

    // `docker stop` sends SIGTERM to the sandbox (PID 1): a graceful exit 0.
    docker(&["stop", "--time", "20", &container.0]);
    assert_eq!(container.inspect("{{.State.ExitCode}}"), "0");
}

fn assert_owned_private(path: &Path, mode: u32) {
    let meta = path.metadata().unwrap();
    assert_eq!(meta.uid(), CONTAINER_UID, "owner of {}", path.display());
    assert_eq!(meta.permissions().mode() & 0o777, mode, "mode of {}", path.display());
}

/// `docker-compose` (Debian's package), or the compose plugin of the docker CLI.
fn compose() -> Command {
    if Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Command::new("docker-compose");
    }
    let mut plugin = Command::new("docker");
    plugin.arg("compose");
    plugin
}

/// `docker-compose down -v` on drop: containers, network and volume go.
struct Project {
    file: PathBuf,
    name: String,
}

impl Project {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = compose();
        cmd.arg("-f").arg(&self.file).args(["-p", &self.name]).args(args);
        cmd
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.command(&["down", "-v", "--timeout", "20"]).output();
    }
}

#[test]
fn the_compose_example_client_calls_the_mtls_host_by_its_service_name() {
    let image = image();
    // Until the project's network is gone again (the guard drops after `project`).
    let _network = crate::util::host_network_lock();
    let project = Project {
        file: repo().join("examples/compose/docker-compose.yml"),
        name: format!("mtlssandboxtest{}", std::process::id()),
    };
    let ports = fixed_port_args();
    // The log goes to a file: a full pipe would stall compose until the deadline.
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("compose.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut up = project.command(&["up", "--exit-code-from", "client"]);
    up.env("MTLS_SANDBOX_IMAGE", image)
        .env("SANDBOX_PORT", &ports[1])
        .env("MTLS_PORT", &ports[3])
        .env("AUTH_PORT", &ports[5])
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file);
    let child = up
        .spawn()
        .expect("docker-compose must be installed (scripts/test installs Debian's docker-compose)");
    let status = wait_with_deadline(child, Duration::from_secs(180), &log);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "the compose example failed:\n{text}");
    // doctor's live check ran against the URL sandbox.json names: the service.
    for needle in ["https://sandbox:4444", "GET /health answered 200", "No problems found"] {
        assert!(text.contains(needle), "no {needle:?} in the client's output:\n{text}");
    }
}

/// How `child` exited, killing it (and failing with its `log`) past `limit`.
fn wait_with_deadline(mut child: std::process::Child, limit: Duration, log: &Path) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let text = std::fs::read_to_string(log).unwrap_or_default();
            panic!("still running after {limit:?}:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

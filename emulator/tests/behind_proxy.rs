//! Behind your own TLS terminator: a real nginx in front of the sandbox,
//! configured with `fixtures/proxy/nginx.conf` (the README's snippet), on
//! free ports. nginx terminates mutual TLS and forwards the certificate in
//! `X-SSL-Client-Cert`; the sandbox believes it only from 127.0.0.1.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mtls_sandbox::pki::{self, CertAndKey};

use crate::util::{Emulator, Identity, app_identity, client, portal_get, send};

const FIXTURE: &str = include_str!("../../fixtures/proxy/nginx.conf");
const FORWARD_LINE: &str = "proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;";

/// An nginx started from the fixture, stopped on drop (even when a test panics).
struct Nginx {
    child: Child,
    mtls_url: String,
    auth_url: String,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// nginx in front of `emu`, with `edit` applied to the fixture.
    fn start(emu: &Emulator, edit: impl Fn(&str) -> String) -> Self {
        let binary = ["nginx", "/usr/sbin/nginx"]
            .into_iter()
            .find(|b| Command::new(b).arg("-v").output().is_ok())
            .expect("nginx must be installed: apt-get install nginx-light (scripts/test installs it)");
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports();
        let port = |url: &str| url.rsplit(':').next().unwrap().to_owned();
        let servers = edit(FIXTURE)
            .replace(
                "STATE_DIR",
                &emu.state_dir.canonicalize().unwrap().display().to_string(),
            )
            .replace("SANDBOX_MTLS_PORT", &port(&emu.info.mtls_url))
            .replace("SANDBOX_AUTH_PORT", &port(&emu.info.auth_url))
            .replace("PROXY_MTLS_PORT", &ports[0].to_string())
            .replace("PROXY_AUTH_PORT", &ports[1].to_string());
        let conf = main_config(dir.path(), &servers);
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new(binary)
            .arg("-p")
            .arg(dir.path())
            .args(["-c", "nginx.conf", "-e", "error.log"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let nginx = Nginx {
            child,
            mtls_url: format!("https://localhost:{}", ports[0]),
            auth_url: format!("https://localhost:{}", ports[1]),
            dir,
        };
        nginx.wait_ready(&ports);
        nginx
    }

    fn wait_ready(&self, ports: &[u16]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ports
            .iter()
            .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok())
        {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // master_process off: one process to stop.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The fixture inside a main configuration that keeps everything in `dir`
/// and runs nginx as one foreground process of the current user.
fn main_config(dir: &Path, servers: &str) -> String {
    let d = dir.display();
    let user = if running_as_root() { "user root;\n" } else { "" };
    format!(
        "{user}daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  \
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n{servers}\n}}\n"
    )
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_ports() -> [u16; 2] {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    [a.local_addr().unwrap().port(), b.local_addr().unwrap().port()]
}

fn behind_nginx() -> (Emulator, Nginx) {
    let emu = Emulator::start(&["--trusted-proxy", "127.0.0.1/32"]);
    let nginx = Nginx::start(&emu, str::to_owned);
    (emu, nginx)
}

/// A client presenting `identity` with the sandbox chain.
fn presenting(emu: &Emulator, identity: CertAndKey) -> reqwest::Client {
    let chain = emu.read("lean_public_cert_chain.pem");
    client(&chain, Identity::Chain(identity, chain.clone()))
}

fn issued(emu: &Emulator, cn: &str) -> CertAndKey {
    let ca = mtls_sandbox::state::State::load(&emu.state_dir)
        .unwrap()
        .issuing_ca()
        .unwrap();
    ca.issue_client(&pki::ClientCertSpec::new(cn, time::OffsetDateTime::now_utc()))
        .unwrap()
}

fn message(body: &serde_json::Value) -> &str {
    body["message"]
        .as_str()
        .or(body["error_description"].as_str())
        .unwrap_or_default()
}

#[test]
fn through_nginx_the_forwarded_certificate_is_the_clients() {
    let (emu, nginx) = behind_nginx();
    let app = presenting(&emu, app_identity(&emu));

    // The app token on the mtls host, through nginx.
    let banks = format!("{}/banks/v1", nginx.mtls_url);
    let (status, body, _) = send(app.get(&banks).header("lean-app-token", &emu.info.app_token));
    assert_eq!(status, 200, "{body}");

    // A certificate-bound token from the mtls alias, used through nginx.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", emu.info.client_secret.as_str()),
        ("scope", "api"),
    ];
    let token_url = format!("{}/oauth2/token", nginx.mtls_url);
    let (status, body, _) = send(app.post(&token_url).form(&form));
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = crate::util::jwt_claims(&token);
    let app_der = app_identity(&emu).cert_der().unwrap();
    assert_eq!(
        claims["cnf"]["x5t#S256"],
        mtls_sandbox::oauth::token::x5t_s256(&app_der),
        "bound to the forwarded certificate: {claims}"
    );
    let (status, body, _) = send(app.get(&banks).bearer_auth(&token));
    assert_eq!(status, 200, "{body}");
    let other = presenting(&emu, issued(&emu, "someone_else"));
    let (status, body, _) = send(other.get(&banks).bearer_auth(&token));
    assert_eq!(
        (status, body["status"].as_str()),
        (401, Some("CERTIFICATE_TOKEN_MISMATCH")),
        "{body}"
    );

    // tls_client_auth at the authorization server, through nginx's auth front.
    let form = [("grant_type", "client_credentials"), ("client_id", "partner-client")];
    let (status, body, _) = send(app.post(format!("{}/oauth2/token", nginx.auth_url)).form(&form));
    assert_eq!(status, 200, "{body}");

    // The inspector shows the forwarded certificate, and nginx as the client.
    let (_, json, _) = portal_get(&emu, "/portal/inspect.json");
    let seen = json["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["request"] == "GET /banks/v1" && e["status"] == 200)
        .expect("the request through nginx is in the inspector")
        .clone();
    assert!(
        seen["certificate"]["subject"].as_str().unwrap().contains("CN=my_app"),
        "{seen}"
    );
    assert_eq!(seen["certificates_sent"], 2, "leaf and the intermediate: {seen}");
    assert!(
        seen["client_address"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{seen}"
    );
}

#[test]
fn a_revoked_forwarded_certificate_is_refused_with_the_reason() {
    let (emu, nginx) = behind_nginx();
    let revoked = issued(&emu, "revoked_app");
    let http = presenting(&emu, revoked.clone());
    let banks = format!("{}/banks/v1", nginx.mtls_url);
    let call = || send(http.get(&banks).header("lean-app-token", &emu.info.app_token));
    // Accepted (and its verdict remembered) before the revocation.
    assert_eq!(call().0, 200);
    let file = emu.state_dir.with_extension("revoked.pem");
    std::fs::write(&file, &revoked.cert_pem).unwrap();
    // `revoke` returns once the running sandbox has loaded the new CRL.
    let out = Command::new(crate::util::bin())
        .args(["revoke", "--cert"])
        .arg(&file)
        .arg("--state-dir")
        .arg(&emu.state_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, body, _) = call();
    assert_eq!(
        (status, body["status"].as_str()),
        (401, Some("CERTIFICATE_REVOKED")),
        "{body}"
    );
    let text = message(&body);
    assert!(
        text.contains("your proxy forwarded is refused") && text.contains("revoked_app\" has been revoked"),
        "{body}"
    );
}

#[test]
fn a_proxy_that_forwards_no_certificate_is_told_which_line_to_add() {
    let emu = Emulator::start(&["--trusted-proxy", "127.0.0.1/32"]);
    assert!(FIXTURE.contains(FORWARD_LINE), "the fixture forwards the certificate");
    let forgetful = Nginx::start(&emu, |conf| conf.replace(FORWARD_LINE, ""));
    let app = presenting(&emu, app_identity(&emu));
    let request = app
        .get(format!("{}/banks/v1", forgetful.mtls_url))
        .header("lean-app-token", &emu.info.app_token);
    let (status, body, _) = send(request);
    assert_eq!(
        (status, body["status"].as_str()),
        (401, Some("CLIENT_CERTIFICATE_REQUIRED")),
        "{body}"
    );
    assert!(
        message(&body).starts_with("your proxy forwarded no client certificate")
            && message(&body).contains("proxy_set_header x-ssl-client-cert $ssl_client_escaped_cert;"),
        "{body}"
    );
}

#[test]
fn the_header_from_an_untrusted_address_is_refused_and_direct_clients_still_work() {
    let emu = Emulator::start(&["--trusted-proxy", "127.0.0.1/32"]);
    let app_pem = app_identity(&emu).cert_pem;
    let escaped = percent_encoding::utf8_percent_encode(&app_pem, percent_encoding::NON_ALPHANUMERIC).to_string();
    // From 127.0.0.2: loopback, but not the trusted proxy.
    let chain = emu.read("lean_public_cert_chain.pem");
    let other = issued(&emu, "mallory");
    let config = client_from(&chain, other);
    let banks = format!("{}/banks/v1", emu.info.mtls_url);
    let forged = config
        .get(&banks)
        .header("lean-app-token", &emu.info.app_token)
        .header("X-SSL-Client-Cert", &escaped);
    let (status, body, _) = send(forged);
    assert_eq!(
        (status, body["status"].as_str()),
        (403, Some("UNTRUSTED_PROXY")),
        "{body}"
    );
    assert!(
        message(&body).contains("comes from 127.0.0.2, which is not a trusted proxy")
            && message(&body).contains("--trusted-proxy 127.0.0.2"),
        "{body}"
    );
    // Without the header, its own certificate counts, as without a proxy.
    let (status, body, _) = send(config.get(&banks).header("lean-app-token", &emu.info.app_token));
    assert_eq!(status, 200, "{body}");
    let info: serde_json::Value = serde_json::from_str(&emu.read("sandbox.json")).unwrap();
    assert_eq!(info["behind_proxy"]["trusted_proxies"][0], "127.0.0.1/32", "{info}");
    assert_eq!(info["behind_proxy"]["client_cert_header_format"], "nginx");
}

/// A client presenting `identity` from 127.0.0.2.
fn client_from(chain: &str, identity: CertAndKey) -> reqwest::Client {
    let builder = mtls_sandbox::tls::client_builder(pki::certs_from_pem(chain, "roots").unwrap()).unwrap();
    let mut certs = vec![identity.cert_der().unwrap()];
    certs.extend(pki::certs_from_pem(chain, "chain").unwrap());
    let key = pki::key_from_pem(&identity.key_pem, "key").unwrap();
    let config = builder.with_client_auth_cert(certs, key).unwrap();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn bad_proxy_settings_are_usage_errors_naming_the_setting() {
    let err = crate::util::up_usage_error(&["--trusted-proxy", "10.0.0/8"]);
    assert!(
        err.contains("--trusted-proxy") && err.contains("'10.0.0/8' is not"),
        "{err}"
    );
    let err = crate::util::up_usage_error(&["--client-cert-header", "x-cert"]);
    assert!(err.contains("no trusted proxy"), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("proxy.toml");
    std::fs::write(&config, "[behind_proxy]\ntrusted_proxies = [\"nonsense\"]\n").unwrap();
    let config_arg = config.display().to_string();
    let err = crate::util::up_usage_error(&["--config", &config_arg]);
    assert!(
        err.contains("proxy.toml") && err.contains("[behind_proxy] trusted_proxies: 'nonsense'"),
        "{err}"
    );
}

/// The README shows the snippet the tests run.
#[test]
fn the_readme_shows_the_tested_nginx_snippet() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let servers = FIXTURE
        .split_once("\nupstream")
        .map(|(_, rest)| format!("upstream{rest}"))
        .unwrap();
    assert!(
        readme.contains(servers.trim_end()),
        "README.md must show fixtures/proxy/nginx.conf from its first `upstream` on"
    );
}

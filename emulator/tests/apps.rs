//! Many applications per sandbox (issue #17 item 1): created, listed,
//! shown and deleted through `/admin/apps`, the CLI and the config file;
//! each with its own files, certificate, app token, OAuth client and
//! `sandbox.json`; surviving restarts.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use mtls_sandbox::info::SandboxInfo;
use mtls_sandbox::pki::CertAndKey;
use serde_json::{Value, json};

use crate::util::{Emulator, Identity, admin_token, cli, client, fixed_port_args, plain, send, token_request};

/// `POST /admin/apps` with `body`; (status, reply).
pub fn create_app(emu: &Emulator, admin: &str, body: Value) -> (u16, Value) {
    let url = format!("{}/admin/apps", emu.info.auth_url);
    let (status, reply, _) = send(plain(emu).post(url).bearer_auth(admin).json(&body));
    (status, reply)
}

/// The application `name` of `emu`, created now: its `sandbox.json`.
pub fn new_app(emu: &Emulator, admin: &str, name: &str, auth_mode: &str) -> SandboxInfo {
    let (status, reply) = create_app(emu, admin, json!({"name": name, "auth_mode": auth_mode}));
    assert_eq!(status, 201, "{reply}");
    serde_json::from_value(reply["data"].clone()).unwrap()
}

/// A client presenting `info`'s certificate with the chain.
pub fn with_cert_of(info: &SandboxInfo) -> reqwest::Client {
    let chain = std::fs::read_to_string(&info.ca_chain).unwrap();
    let leaf = CertAndKey {
        cert_pem: std::fs::read_to_string(&info.client_cert).unwrap(),
        key_pem: std::fs::read_to_string(&info.client_key).unwrap(),
    };
    client(&chain, Identity::Chain(leaf, chain.clone()))
}

/// A token for `info`'s own OAuth client.
pub fn token_of(emu: &Emulator, info: &SandboxInfo, scope: &str) -> String {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", info.client_id.as_str()),
        ("client_secret", info.client_secret.as_str()),
        ("scope", scope),
    ];
    let (status, body, _) = token_request(&plain(emu), &emu.info.token_endpoint, &form);
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn an_application_is_created_used_listed_shown_and_deleted_over_the_admin_api() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let alice = new_app(&emu, &admin, "alice", "app_token");

    // Its own files, with the portal's names, next to its own sandbox.json.
    let dir = emu.state_dir.join("apps/alice");
    assert_eq!(alice.client_cert, dir.join("alice_cert.crt"));
    assert_eq!(alice.client_key, dir.join("alice_private_key.pem"));
    assert_eq!(alice.client_p12, dir.join("alice.p12"));
    for secret in [&alice.client_key, &alice.client_p12, &dir.join("sandbox.json")] {
        assert_eq!(mode(secret), 0o600, "{}", secret.display());
    }
    assert_eq!(SandboxInfo::read(&dir.join("sandbox.json")).unwrap(), alice);
    let env = std::fs::read_to_string(dir.join("sandbox.env")).unwrap();
    assert!(env.contains(&format!("export APP_TOKEN={}", alice.app_token)), "{env}");
    // The same shape as the sandbox's own sandbox.json, with other credentials.
    let (own, its) = (json!(emu.info), json!(alice));
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with("portal_"))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&own), keys(&its));
    for same in [
        "sandbox_url",
        "mtls_url",
        "token_endpoint",
        "ca_chain",
        "state_dir",
        "pid",
    ] {
        assert_eq!(own[same], its[same], "{same}");
    }
    for other in ["app_token", "client_id", "client_secret", "p12_password"] {
        assert_ne!(own[other], its[other], "{other}");
    }
    assert_ne!(
        its["portal_url"], own["portal_url"],
        "the owner's portal link is not an attendee's: each has its own"
    );
    let cert = std::fs::read_to_string(&alice.client_cert).unwrap();
    let der = mtls_sandbox::pki::first_cert_der(&cert, "alice").unwrap();
    assert!(mtls_sandbox::pki::subject_of(&der).unwrap().contains("CN=alice"));

    // Its credentials work: app token, certificate on the mtls host, OAuth client.
    let banks = |http: &reqwest::Client, base: &str, header: (&str, String)| {
        send(http.get(format!("{base}/banks/v1")).header(header.0, header.1)).0
    };
    let app_token = ("lean-app-token", alice.app_token.clone());
    assert_eq!(banks(&plain(&emu), &alice.sandbox_url, app_token.clone()), 200);
    assert_eq!(banks(&with_cert_of(&alice), &alice.mtls_url, app_token.clone()), 200);
    let bearer = ("authorization", format!("Bearer {}", token_of(&emu, &alice, "api")));
    assert_eq!(banks(&plain(&emu), &alice.sandbox_url, bearer.clone()), 200);

    // Listed after my_app; shown as created.
    let http = plain(&emu);
    let url = format!("{}/admin/apps", emu.info.auth_url);
    let (status, list, _) = send(http.get(&url).bearer_auth(&admin));
    assert_eq!(status, 200, "{list}");
    let names: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["my_app", "alice"]);
    assert_eq!(list["data"][1]["client_id"], its["client_id"]);
    assert_eq!(list["data"][1]["auth_mode"], "app_token");
    assert!(list["data"][0]["created_at"].is_string());
    let (status, shown, _) = send(http.get(format!("{url}/alice")).bearer_auth(&admin));
    assert_eq!((status, &shown["data"]), (200, &its));
    let (_, mine, _) = send(http.get(format!("{url}/my_app")).bearer_auth(&admin));
    assert_eq!(mine["data"]["app_token"], own["app_token"]);

    // Refusals, each with its reason.
    for (body, status, says) in [
        (json!({"name": "Alice"}), 400, "not a valid application name"),
        (json!({"name": "a/b"}), 400, "[a-z0-9_-]"),
        (json!({"name": "alice"}), 409, "already exists"),
        (json!({"name": "my_app"}), 409, "default application"),
        (json!({"name": "bob", "auth_mode": "magic"}), 400, "auth_mode"),
    ] {
        let (got, reply) = create_app(&emu, &admin, body.clone());
        assert_eq!(got, status, "{body}: {reply}");
        assert!(reply["message"].as_str().unwrap().contains(says), "{body}: {reply}");
    }
    let (status, reply, _) = send(http.delete(format!("{url}/my_app")).bearer_auth(&admin));
    assert_eq!(status, 409, "{reply}");
    assert!(
        reply["message"].as_str().unwrap().contains("cannot be deleted"),
        "{reply}"
    );
    let (status, reply, _) = send(http.get(format!("{url}/nobody")).bearer_auth(&admin));
    assert_eq!((status, reply["status"].as_str()), (404, Some("NOT_FOUND")));
    assert_eq!(send(http.get(&url)).0, 401, "the admin API needs an admin token");

    // Deleted: token, client and certificate stop working; files gone.
    let leaf = CertAndKey {
        cert_pem: cert.clone(),
        key_pem: std::fs::read_to_string(&alice.client_key).unwrap(),
    };
    assert!(!refused(&emu, &leaf));
    let (status, reply, _) = send(http.delete(format!("{url}/alice")).bearer_auth(&admin));
    assert_eq!(status, 204, "{reply}");
    assert!(!dir.exists());
    assert_eq!(banks(&plain(&emu), &alice.sandbox_url, app_token.clone()), 401);
    assert_eq!(banks(&plain(&emu), &alice.sandbox_url, bearer), 401, "its tokens too");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", alice.client_id.as_str()),
        ("client_secret", alice.client_secret.as_str()),
    ];
    assert_eq!(token_request(&http, &emu.info.token_endpoint, &form).0, 401);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if refused(&emu, &leaf) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the deleted application's certificate is still accepted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, list, _) = send(http.get(&url).bearer_auth(&admin));
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // The name is free again, for a new application.
    let again = new_app(&emu, &admin, "alice", "oauth");
    assert_ne!(again.app_token, alice.app_token);
}

/// Whether the mtls host refuses a new connection presenting `leaf`
/// (with the chain) at the handshake or on the request.
fn refused(emu: &Emulator, leaf: &CertAndKey) -> bool {
    let chain = emu.read("lean_public_cert_chain.pem");
    let http = client(&chain, Identity::Chain(leaf.clone(), chain.clone()));
    let url = format!("{}/health", emu.info.mtls_url);
    crate::util::block_on(async { http.get(url).send().await.map_or(true, |r| !r.status().is_success()) })
}

#[test]
fn applications_survive_restarts_and_the_config_and_cli_manage_them() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let config = tmp.path().join("apps.toml");
    std::fs::write(&config, "[[apps]]\nname = \"bob\"\nauth_mode = \"oauth\"\n").unwrap();
    let ports = fixed_port_args();
    let mut args: Vec<&str> = ports.iter().map(String::as_str).collect();
    args.extend(["--config", config.to_str().unwrap()]);

    crate::util::copy_template_to(&state);
    let emu = Emulator::start_in(&state, &args);
    let bob = SandboxInfo::read(&state.join("apps/bob/sandbox.json")).unwrap();
    let (code, out, err) = cli(&emu, &["apps", "create", "alice"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("Created application alice") && out.contains("apps/alice/alice_cert.crt"),
        "{out}"
    );
    let alice = SandboxInfo::read(&state.join("apps/alice/sandbox.json")).unwrap();
    let (code, out, _) = cli(&emu, &["apps", "list", "--json"]);
    assert_eq!(code, Some(0));
    let listed: Value = serde_json::from_str(&out).unwrap();
    let modes: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["auth_mode"].as_str().unwrap()))
        .collect();
    assert_eq!(
        modes,
        [("my_app", "app_token"), ("bob", "oauth"), ("alice", "app_token")]
    );
    let (code, out, _) = cli(&emu, &["apps", "list"]);
    assert_eq!(code, Some(0));
    assert!(
        out.lines().next().unwrap().starts_with("NAME") && out.contains("alice"),
        "{out}"
    );
    let (code, out, _) = cli(&emu, &["env", "--app", "alice"]);
    assert_eq!(code, Some(0));
    assert!(out.contains(&format!("export APP_TOKEN={}", alice.app_token)), "{out}");
    assert!(out.contains("export SSL_CERT_FILE="), "{out}");
    let (code, _, err) = cli(&emu, &["apps", "delete", "my_app"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot be deleted"), "{err}");
    let (code, _, err) = cli(&emu, &["apps", "create", "Bad Name"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a valid application name"), "{err}");
    // bob uses OAuth: its app token alone is refused.
    let banks = format!("{}/banks/v1", emu.info.sandbox_url);
    let (status, body, _) = send(plain(&emu).get(&banks).header("lean-app-token", &bob.app_token));
    assert_eq!(status, 401);
    assert!(
        body["message"].as_str().unwrap().contains("switched to OAuth"),
        "{body}"
    );
    assert!(emu.stop().success());
    assert!(
        !state.join("apps/alice/sandbox.json").exists(),
        "a stopped sandbox publishes no application's sandbox.json"
    );
    let (code, _, err) = cli_in(&state, &["apps", "list"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no sandbox is running"), "{err}");
    let (code, out, _) = cli_in(&state, &["env", "--app", "alice"]);
    assert_eq!(code, Some(0), "described as up would start it");
    assert!(out.contains(&alice.app_token), "{out}");
    let (code, _, err) = cli_in(&state, &["env", "--app", "carol"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no application named 'carol'"), "{err}");

    // Restarted: the same applications with the same credentials; bob is
    // not created twice.
    let emu = Emulator::start_in(&state, &args);
    for before in [&alice, &bob] {
        let name = before
            .client_cert
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let after = SandboxInfo::read(&state.join(format!("apps/{name}/sandbox.json"))).unwrap();
        assert_eq!(
            (&after.app_token, &after.client_secret, &after.pid),
            (&before.app_token, &before.client_secret, &emu.info.pid),
            "{name}"
        );
    }
    let (status, _, _) = send(plain(&emu).get(&banks).header("lean-app-token", &alice.app_token));
    assert_eq!(status, 200);
    let token = token_of(&emu, &bob, "api");
    assert_eq!(send(plain(&emu).get(&banks).bearer_auth(token)).0, 200);
    let (_, out, _) = cli(&emu, &["apps", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().len(),
        3
    );
    assert!(emu.stop().success());
}

/// `mtls-sandbox ARGS --state-dir STATE`.
fn cli_in(state: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(crate::util::bin())
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env_remove("MTLS_SANDBOX_STATE_DIR")
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_client_registered_on_the_command_line_belongs_to_the_application_it_names() {
    let emu = Emulator::start(&[]);
    let admin = admin_token(&emu);
    let alice = new_app(&emu, &admin, "alice", "app_token");
    let (status, customer, _) = send(
        plain(&emu)
            .post(format!("{}/customers/v1", emu.info.sandbox_url))
            .header("lean-app-token", &alice.app_token)
            .json(&json!({"app_user_id": "alice-user"})),
    );
    assert_eq!(status, 200, "{customer}");
    let scope = format!("customer.{}", customer["customer_id"].as_str().unwrap());
    let client_of = |args: &[&str]| {
        let (code, out, err) = cli(&emu, &[&["clients", "create", "ci", "--json"], args].concat());
        assert_eq!(code, Some(0), "{err}");
        serde_json::from_str::<Value>(&out).unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let token_for = |client: &str| cli(&emu, &["token", "--client-id", client, "--scope", &scope]);

    let (code, token, err) = token_for(&client_of(&["--app", "alice"]));
    assert_eq!(code, Some(0), "{err}");
    let read = format!(
        "{}/customers/v1/{}",
        emu.info.sandbox_url,
        customer["customer_id"].as_str().unwrap()
    );
    let (status, body, _) = send(plain(&emu).get(&read).bearer_auth(token.trim()));
    assert_eq!(status, 200, "alice's client reads alice's customer: {body}");

    let (code, _, err) = token_for(&client_of(&[]));
    assert_eq!(code, Some(2), "a my_app client may not ask for alice's customer");
    assert!(err.contains("there is no customer"), "{err}");
    let (code, _, err) = cli(&emu, &["clients", "create", "ci", "--app", "nobody"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--app: no application named 'nobody'"), "{err}");
    emu.stop();
}

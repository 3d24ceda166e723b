//! The portal per application and workshop mode (issue #17 items 3-4):
//! each application's own portal link sees only that application (its
//! credentials, certificate, bundle and requests) and acts on nothing
//! else; the owner's link sees every application, with a filter in the
//! inspector; `up --apps` creates the attendees once and prints their links.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mtls_sandbox::info::SandboxInfo;
use serde_json::Value;

use crate::apps::{token_of, with_cert_of};
use crate::portal::no_redirects;
use crate::util::*;

/// The `sandbox.json` of application `name` of `emu`.
fn app_info(emu: &Emulator, name: &str) -> SandboxInfo {
    SandboxInfo::read(&emu.state_dir.join(format!("apps/{name}/sandbox.json"))).unwrap()
}

/// A request on the sandbox host with `token` as the portal bearer token;
/// (status, body as text).
fn portal(emu: &Emulator, token: &str, method: &str, path: &str) -> (u16, String) {
    let url = format!("{}{path}", emu.info.sandbox_url);
    let req = match method {
        "GET" => no_redirects(emu).get(url),
        _ => no_redirects(emu).post(url).form(&[("name", "planted")]),
    };
    let (status, body, _) = send(req.bearer_auth(token));
    let text = match body {
        Value::String(s) => s,
        other => other.to_string(),
    };
    (status, text)
}

/// The inspector's events as `token`'s login sees them (`query` e.g. `?app=bob`).
fn events(emu: &Emulator, token: &str, query: &str) -> (u16, Vec<Value>) {
    let (status, body) = portal(emu, token, "GET", &format!("/portal/inspect.json{query}"));
    let events = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["events"].as_array().cloned())
        .unwrap_or_default();
    (status, events)
}

fn apps_of(events: &[Value]) -> Vec<Option<String>> {
    events.iter().map(|e| e["app"].as_str().map(str::to_owned)).collect()
}

/// The login link's redirect: the session's path and the cookie.
fn login(emu: &Emulator, link: &str) -> (String, String) {
    let (status, _, headers) = send(no_redirects(emu).get(link));
    assert_eq!(status, 303, "{link}");
    let session = headers["location"].to_str().unwrap().trim_end_matches('/').to_owned();
    let cookie = headers["set-cookie"].to_str().unwrap().to_owned();
    (session, cookie)
}

#[test]
fn an_applications_portal_link_sees_and_acts_on_only_that_application() {
    let emu = Emulator::start(&["--apps", "alice,bob"]);
    let (alice, bob) = (app_info(&emu, "alice"), app_info(&emu, "bob"));
    let owner = emu.info.portal_token.clone().unwrap();
    let alice_token = alice.portal_token.clone().expect("alice's own portal link");
    assert_ne!(Some(&alice_token), bob.portal_token.as_ref());
    assert_ne!(alice_token, owner);
    assert_eq!(
        alice.portal_url.as_deref(),
        Some(format!("{}/portal?token={alice_token}", emu.info.sandbox_url).as_str())
    );

    // One call each: alice by app token on the mtls host, bob by a bound
    // bearer token, the default application by its app token.
    let banks = |http: reqwest::Client, url: &str, header: (&str, String)| {
        send(http.get(format!("{url}/banks/v1")).header(header.0, header.1)).0
    };
    let alice_call = ("lean-app-token", alice.app_token.clone());
    assert_eq!(banks(with_cert_of(&alice), &emu.info.mtls_url, alice_call), 200);
    let bearer = format!("Bearer {}", token_of(&emu, &bob, "api"));
    assert_eq!(
        banks(plain(&emu), &emu.info.sandbox_url, ("authorization", bearer)),
        200
    );
    let own_call = ("lean-app-token", emu.info.app_token.clone());
    assert_eq!(banks(plain(&emu), &emu.info.sandbox_url, own_call), 200);

    // alice's page: her credentials, nobody else's, none of the owner's forms.
    let (status, page) = portal(&emu, &alice_token, "GET", "/portal/");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&alice.app_token) && page.contains(&alice.client_id),
        "{page}"
    );
    for other in [&bob.app_token, &bob.client_id, &emu.info.app_token, &emu.info.client_id] {
        assert!(!page.contains(other.as_str()), "{other} on alice's page");
    }
    assert!(
        !page.contains("create-client") && page.contains("URL for <code>alice</code>"),
        "her own webhook URL, nobody's clients: {page}"
    );
    assert!(
        !page.contains(&alice.client_secret),
        "her secret only behind Reveal secret"
    );
    let (status, secret) = portal(&emu, &alice_token, "POST", "/portal/application/secret");
    assert_eq!(status, 200, "{secret}");
    assert!(secret.contains(&alice.client_secret) && !secret.contains(&bob.client_secret));

    // Her inspector: her request only; another application's is refused.
    let (status, seen) = events(&emu, &alice_token, "");
    assert_eq!(status, 200);
    assert!(!seen.is_empty(), "alice sees her own call");
    assert!(apps_of(&seen).iter().all(|a| a.as_deref() == Some("alice")), "{seen:?}");
    assert_eq!(events(&emu, &alice_token, "?app=bob").0, 403);
    let (status, page) = portal(&emu, &alice_token, "GET", "/portal/inspect");
    assert_eq!(status, 200);
    assert!(
        !page.contains("app-filter"),
        "no filter on an application's link: {page}"
    );

    // The owner sees every application, each with its link, bundle and requests.
    let (_, page) = portal(&emu, &owner, "GET", "/portal/");
    for info in [&alice, &bob] {
        assert!(page.contains(info.portal_url.as_deref().unwrap()), "{page}");
    }
    assert!(
        page.contains("/inspect?app=bob") && page.contains("/bundle.zip?app=alice"),
        "{page}"
    );
    // The owner sees every application's requests, and filters by one.
    let (_, all) = events(&emu, &owner, "");
    for name in ["alice", "bob", "my_app"] {
        assert!(apps_of(&all).contains(&Some(name.into())), "{name}: {all:?}");
    }
    let (status, bobs) = events(&emu, &owner, "?app=bob");
    assert_eq!(status, 200);
    assert!(!bobs.is_empty() && apps_of(&bobs).iter().all(|a| a.as_deref() == Some("bob")));
    assert_eq!(bobs[0]["auth_method"], "bearer token");
    assert_eq!(events(&emu, &owner, "?app=nobody").0, 404);
    let (_, page) = portal(&emu, &owner, "GET", "/portal/inspect?app=bob");
    assert!(
        page.contains("app-filter") && page.contains(r#"<option value="bob" selected>"#),
        "{page}"
    );

    // Her webhook URL is hers: the owner's (the default application's) stays unset.
    let hook = |token: &str, url: &str| {
        send(
            no_redirects(&emu)
                .post(format!("{}/portal/webhooks", emu.info.sandbox_url))
                .bearer_auth(token)
                .form(&[("url", url)]),
        )
        .0
    };
    assert_eq!(hook(&alice_token, "http://localhost:9/alice-hook"), 303);
    let url_of = |query: &str| {
        let (_, body, _) = send(
            plain(&emu)
                .get(format!("{}/admin/webhooks{query}", emu.info.auth_url))
                .bearer_auth(admin_token(&emu)),
        );
        body["data"]["url"].clone()
    };
    assert_eq!(url_of("?app=alice"), "http://localhost:9/alice-hook");
    assert_eq!(url_of(""), Value::Null, "the default application's URL is untouched");
    assert_eq!(url_of("?app=bob"), Value::Null);
    let (_, page) = portal(&emu, &alice_token, "GET", "/portal/");
    assert!(page.contains("http://localhost:9/alice-hook"), "{page}");
    let (_, page) = portal(&emu, &owner, "GET", "/portal/");
    assert!(
        !page.contains("alice-hook"),
        "the owner's form is the default application's: {page}"
    );
    assert_eq!(hook(&alice_token, ""), 303, "empty clears it");
    assert_eq!(url_of("?app=alice"), Value::Null);

    // Nothing of anyone else's: no certificate, client, secret, bundle or test user.
    for (method, path) in [
        ("POST", "/portal/certificates".to_owned()),
        ("POST", format!("/portal/clients/{}/reveal", bob.client_id)),
        ("POST", format!("/portal/clients/{}/secrets", emu.info.client_id)),
        ("POST", "/portal/clients".to_owned()),
        ("POST", "/portal/certificates/01/revoke".to_owned()),
        ("POST", "/portal/test-users/link".to_owned()),
        ("GET", "/portal/bundle.zip?app=bob".to_owned()),
    ] {
        let (status, page) = portal(&emu, &alice_token, method, &path);
        assert_eq!(status, 403, "{method} {path}: {page}");
        assert!(
            page.contains("refused: this portal link is application alice"),
            "{path}: {page}"
        );
    }
    // The owner's secret and clients are as they were.
    assert_eq!(
        SandboxInfo::read(&emu.file("sandbox.json")).unwrap().client_secret,
        emu.info.client_secret
    );
    let (_, clients, _) = send(
        plain(&emu)
            .get(format!("{}/clients", emu.info.auth_url))
            .bearer_auth(admin_token(&emu)),
    );
    assert!(!clients.to_string().contains("planted"), "{clients}");
}

#[test]
fn each_login_has_its_own_session_path_and_cookie_and_stays_on_it() {
    let emu = Emulator::start(&["--apps", "alice"]);
    let alice = app_info(&emu, "alice");
    let (owner_session, _) = login(&emu, emu.info.portal_url.as_deref().unwrap());
    let (session, set_cookie) = login(&emu, alice.portal_url.as_deref().unwrap());
    assert_ne!(session, owner_session);
    assert!(set_cookie.contains(&format!("Path={session}")), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let nonce = session.strip_prefix("/portal/").unwrap();
    assert!(nonce.len() >= 32);
    for file in ["sandbox.json", "apps/alice/sandbox.json", "apps/alice/sandbox.env"] {
        assert!(
            !emu.read(file).contains(nonce),
            "the session's path is in no file: {file}"
        );
    }
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let http = no_redirects(&emu);
    let get = |path: &str, cookie: &str| {
        let (status, body, _) = send(
            http.get(format!("{}{path}", emu.info.sandbox_url))
                .header("cookie", cookie),
        );
        (status, body.as_str().unwrap_or_default().to_owned())
    };
    let (status, page) = get(&format!("{session}/"), &cookie);
    assert_eq!(status, 200);
    assert!(page.contains(&alice.app_token) && page.contains(&format!("{session}/bundle.zip")));
    assert!(
        !page.contains(owner_session.as_str()),
        "the owner's path never reaches alice"
    );
    // Her cookie or her token on the owner's path is no login, and the
    // owner's token is none on hers.
    assert_eq!(get(&format!("{owner_session}/"), &cookie).0, 401);
    let token = alice.portal_token.as_deref().unwrap();
    let on = |path: &str, token: &str| send(http.get(format!("{}{path}", emu.info.sandbox_url)).bearer_auth(token)).0;
    assert_eq!(on(&format!("{owner_session}/inspect.json"), token), 401);
    assert_eq!(
        on(
            &format!("{session}/inspect.json"),
            emu.info.portal_token.as_deref().unwrap()
        ),
        401
    );

    // Her changes need the portal's own origin too; refused ones lead back to her session only.
    let post = |origin: &str| {
        send(
            http.post(format!("{}{session}/certificates", emu.info.sandbox_url))
                .header("cookie", &cookie)
                .header("origin", origin),
        )
    };
    let (status, page, _) = post("https://127.0.0.1:1");
    assert_eq!(status, 403);
    assert!(page.as_str().unwrap().contains("came from https://127.0.0.1:1"));
    let (status, page, _) = post(&emu.info.sandbox_url);
    let page = page.as_str().unwrap().to_owned();
    assert_eq!(status, 403, "{page}");
    assert!(page.contains(&format!("href=\"{session}/\"")), "{page}");
    assert!(!page.contains(owner_session.as_str()), "{page}");

    // A deleted application's link logs in no more, cookie or token.
    let url = format!("{}/admin/apps/alice", emu.info.auth_url);
    assert_eq!(send(plain(&emu).delete(url).bearer_auth(admin_token(&emu))).0, 204);
    assert_eq!(get(&format!("{session}/"), &cookie).0, 401);
    assert_eq!(on("/portal/", token), 401);
}

/// The runnable commands of a README: each `curl` line with its `\`
/// continuations, joined.
fn commands(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines().map(str::trim) {
        if let Some(cmd) = current.as_mut() {
            cmd.push(' ');
            cmd.push_str(line.trim_end_matches('\\'));
        } else if line.starts_with("curl ") {
            current = Some(line.trim_end_matches('\\').to_owned());
        }
        if !line.ends_with('\\') {
            out.extend(current.take());
        }
    }
    out
}

#[test]
fn an_attendees_bundle_holds_their_files_and_its_readme_commands_work() {
    let emu = Emulator::start(&["--apps", "alice"]);
    let alice = app_info(&emu, "alice");
    let url = format!("{}/portal/bundle.zip", emu.info.sandbox_url);
    let bytes = block_on(async {
        let resp = plain(&emu)
            .get(url)
            .bearer_auth(alice.portal_token.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let disposition = resp.headers()["content-disposition"].to_str().unwrap().to_owned();
        assert!(disposition.contains("alice_bundle.zip"), "{disposition}");
        resp.bytes().await.unwrap()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "README.txt",
            "alice.p12",
            "alice_cert.crt",
            "alice_private_key.pem",
            "lean_public_cert_chain.pem",
            "sandbox.json"
        ]
    );
    archive.extract(dir.path()).unwrap();
    let mode = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("alice_private_key.pem"), 0o600);
    assert_eq!(
        std::fs::read(dir.path().join("alice_cert.crt")).unwrap(),
        std::fs::read(&alice.client_cert).unwrap()
    );
    let local = SandboxInfo::read(&dir.path().join("sandbox.json")).unwrap();
    assert_eq!(local.client_key, Path::new("alice_private_key.pem"));
    assert_eq!(
        (local.app_token.as_str(), local.mtls_url.as_str()),
        (alice.app_token.as_str(), emu.info.mtls_url.as_str())
    );
    assert!(local.portal_url.is_none(), "a bundle is copied around: no login in it");

    // The README's three commands, run as an attendee would, in the folder.
    let mut readme = String::new();
    archive
        .by_name("README.txt")
        .unwrap()
        .read_to_string(&mut readme)
        .unwrap();
    let run = |cmd: &str, token: &str| {
        let out = Command::new("sh")
            .args(["-c", &format!("{cmd} -sS -w '\\n%{{http_code}}'")])
            .current_dir(dir.path())
            .env("TOKEN", token)
            .output()
            .expect("sh and curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", ""));
        (
            status.to_owned(),
            body.to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let cmds = commands(&readme);
    assert_eq!(cmds.len(), 3, "{readme}");
    let (status, body, err) = run(&cmds[0], "");
    assert_eq!(status, "200", "{}: {body}{err}", cmds[0]);
    let (status, body, err) = run(&cmds[1], "");
    assert_eq!(status, "200", "{}: {body}{err}", cmds[1]);
    let token: Value = serde_json::from_str(&body).unwrap();
    let token = token["access_token"].as_str().unwrap();
    assert!(
        jwt_claims(token)["cnf"]["x5t#S256"].is_string(),
        "bound to alice's certificate"
    );
    let (status, body, err) = run(&cmds[2], token);
    assert_eq!(status, "200", "{}: {body}{err}", cmds[2]);

    // The owner downloads any application's bundle; an unknown one is named.
    let owner = emu.info.portal_token.clone().unwrap();
    assert_eq!(portal(&emu, &owner, "GET", "/portal/bundle.zip?app=alice").0, 200);
    let (status, page) = portal(&emu, &owner, "GET", "/portal/bundle.zip?app=nobody");
    assert_eq!(status, 404);
    assert!(page.contains("nobody"), "{page}");
}

/// `up ARGS` on `state` with its stdout captured, until the summary is out.
fn up_printing(state: &Path, extra: &[&str]) -> (std::process::Child, String) {
    let out = state.with_extension("stdout");
    let mut child = Command::new(bin())
        .args(crate::util::UP_ON_FREE_PORTS)
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .env_remove("MTLS_SANDBOX_STATE_DIR")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        if text.contains("Press Ctrl-C") {
            return (child, text);
        }
        assert!(child.try_wait().unwrap().is_none(), "up exited: {text}");
        assert!(Instant::now() < deadline, "no summary: {text}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stop(mut child: std::process::Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn up_apps_creates_the_attendees_once_and_prints_their_links_on_the_public_host() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("s");
    // The attendees' applications are what is made here, not the state.
    crate::util::copy_template_to(&state);
    let (child, summary) = up_printing(&state, &["--apps", "2"]);
    let table = summary.split("Workshop:").nth(1).expect("the attendees' table");
    for name in ["attendee-1", "attendee-2"] {
        let json = state.join(format!("apps/{name}/sandbox.json"));
        assert!(
            table.contains(&format!(
                "  {name}  (not printed: \"portal_url\" in {})",
                json.display()
            )),
            "{table}"
        );
    }
    let first = SandboxInfo::read(&state.join("apps/attendee-1/sandbox.json")).unwrap();
    assert!(
        !summary.contains(first.portal_token.as_deref().unwrap()),
        "a redirected summary withholds the links"
    );
    stop(child);

    // Again, on a public host: the same applications, new links naming that host.
    let (child, _) = up_printing(&state, &["--apps", "2", "--public-host", "workshop.localhost"]);
    let again = SandboxInfo::read(&state.join("apps/attendee-1/sandbox.json")).unwrap();
    assert_eq!(
        (&again.app_token, &again.client_id),
        (&first.app_token, &first.client_id)
    );
    assert_ne!(again.portal_token, first.portal_token);
    let link = again.portal_url.unwrap();
    assert!(link.starts_with("https://workshop.localhost:"), "{link}");
    assert!(!state.join("apps/attendee-3").exists());
    stop(child);

    let err = up_usage_error(&["--apps", "0"]);
    assert!(err.contains("--apps") && err.contains("give 1 to"), "{err}");
}

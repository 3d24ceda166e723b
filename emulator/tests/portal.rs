//! The developer portal and the request inspector, end to end over HTTPS
//! against the real binary (the browser drives the same pages in
//! `browser.rs`).

use std::io::Read;
use std::time::{Duration, Instant};

use mtls_sandbox::pki::CertAndKey;
use serde_json::Value;

use crate::util::*;

/// A client trusting the sandbox CA that does not follow redirects.
pub fn no_redirects(emu: &Emulator) -> reqwest::Client {
    let roots = reqwest::Certificate::from_pem_bundle(emu.read("lean_public_cert_chain.pem").as_bytes()).unwrap();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only(roots)
        .build()
        .unwrap()
}

/// What a portal form post answered (redirects not followed).
pub struct Posted {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Posted {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn location(&self) -> &str {
        self.headers["location"].to_str().unwrap()
    }
}

pub fn portal_post(emu: &Emulator, path: &str, form: &[(&str, &str)]) -> Posted {
    let token = emu.info.portal_token.clone().unwrap();
    let req = no_redirects(emu)
        .post(format!("{}{path}", emu.info.sandbox_url))
        .bearer_auth(token)
        .form(form);
    block_on(async {
        let resp = req.send().await.unwrap();
        Posted {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.bytes().await.unwrap().to_vec(),
        }
    })
}

pub fn unzip(bytes: Vec<u8>) -> Vec<(String, String, u32)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            (file.name().to_owned(), text, file.unix_mode().unwrap_or(0) & 0o777)
        })
        .collect()
}

fn banks_status(emu: &Emulator, identity: &CertAndKey) -> Option<u16> {
    let chain = emu.read("lean_public_cert_chain.pem");
    let http = client(&chain, Identity::Chain(identity.clone(), chain.clone()));
    let req = http
        .get(format!("{}/banks/v1", emu.info.mtls_url))
        .header("lean-app-token", &emu.info.app_token);
    block_on(async { req.send().await.ok().map(|r| r.status().as_u16()) })
}

/// The secret a "Reveal secret" / "Add secret" page shows.
fn shown_secret(page: &str) -> String {
    let start = page.find("id=\"client-secret\">").expect("a secret on the page") + "id=\"client-secret\">".len();
    page[start..].split('<').next().unwrap().to_owned()
}

#[test]
fn the_portal_needs_the_token_from_startup_and_logs_in_with_a_strict_cookie() {
    let emu = Emulator::start(&[]);
    let url = emu.info.portal_url.clone().expect("portal_url in sandbox.json");
    assert!(url.starts_with(&format!("{}/portal?token=", emu.info.sandbox_url)));
    let http = plain(&emu);

    let (status, body, _) = send(http.get(format!("{}/portal", emu.info.sandbox_url)));
    assert_eq!(status, 401);
    assert!(body.as_str().unwrap().contains("<code>portal_url</code>"), "{body}");
    let (status, _, _) = send(http.get(format!("{}/portal?token=wrong", emu.info.sandbox_url)));
    assert_eq!(status, 401);

    let no_redirects = no_redirects(&emu);
    let (status, _, headers) = send(no_redirects.get(&url));
    assert_eq!(status, 303);
    let session = headers["location"].to_str().unwrap().trim_end_matches('/').to_owned();
    assert!(session.starts_with("/portal/"), "{session}");
    let cookie = headers["set-cookie"].to_str().unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", &format!("Path={session}")] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let pair = cookie.split(';').next().unwrap();
    let (status, page, _) = send(
        no_redirects
            .get(format!("{}{session}/", emu.info.sandbox_url))
            .header("cookie", pair),
    );
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains(&emu.info.app_token));

    // Another site's form cannot post with the cookie.
    let cross = no_redirects
        .post(format!("{}{session}/certificates", emu.info.sandbox_url))
        .header("cookie", pair)
        .header("sec-fetch-site", "cross-site");
    assert_eq!(send(cross).0, 403);
    // The portal lives on the sandbox host only.
    let token = emu.info.portal_token.clone().unwrap();
    let on_auth = http.get(format!("{}/portal", emu.info.auth_url)).bearer_auth(token);
    assert_eq!(send(on_auth).0, 404);
}

#[test]
fn the_401_page_says_where_the_login_link_is_and_links_to_nothing_that_needs_it() {
    let emu = Emulator::start(&[]);
    let http = plain(&emu);
    let sandbox_json = emu.file("sandbox.json").display().to_string();
    for path in ["/portal", "/portal/inspect", "/portal?token=from-an-earlier-start"] {
        let (status, body, _) = send(http.get(format!("{}{path}", emu.info.sandbox_url)));
        let page = body.as_str().unwrap();
        assert_eq!(status, 401, "{path}");
        // Every portal page needs the login: a link to one only leads to another 401.
        assert!(!page.contains("href="), "{path} links somewhere:\n{page}");
        for hint in [
            "<code>mtls-sandbox up</code>",
            "<code>portal_url</code>",
            &format!("<code>jq -r .portal_url {sandbox_json}</code>"),
            "<code>mtls-sandbox status</code>",
        ] {
            assert!(page.contains(hint), "{path}: no {hint}:\n{page}");
        }
    }
    let (_, body, _) = send(http.get(format!("{}/portal?token=old", emu.info.sandbox_url)));
    assert!(body.as_str().unwrap().contains("changes at every start"), "{body}");
}

/// The text of every `<time>` element of `page`, and the page without
/// them and their `datetime` attributes (which keep the exact instant).
fn times(page: &str) -> (Vec<String>, String) {
    let (mut found, mut rest, mut left) = (Vec::new(), String::new(), page);
    while let Some(start) = left.find("<time ") {
        rest.push_str(&left[..start]);
        let open_end = start + left[start..].find('>').unwrap() + 1;
        let close = open_end + left[open_end..].find("</time>").unwrap();
        found.push(text_of(&left[open_end..close]));
        left = &left[close + "</time>".len()..];
    }
    rest.push_str(left);
    (found, rest)
}

/// `html` without its tags.
fn text_of(html: &str) -> String {
    let mut text = String::new();
    for (i, part) in html.split('<').enumerate() {
        text.push_str(if i == 0 {
            part
        } else {
            part.split_once('>').map_or("", |(_, t)| t)
        });
    }
    text
}

/// `2026-11-29 20:41:07 UTC`: to the second, no fraction, no `T`.
fn is_readable_time(text: &str) -> bool {
    let b = text.as_bytes();
    text.len() == 23
        && text.ends_with(" UTC")
        && [4, 7].iter().all(|&i| b[i] == b'-')
        && b[10] == b' '
        && [13, 16].iter().all(|&i| b[i] == b':')
        && [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
            .iter()
            .all(|&i| b[i].is_ascii_digit())
}

/// Whether `text` holds an RFC 3339 time (`…29T20:41…`) or a time with a
/// fraction of a second (`20:41:07.123`).
fn has_raw_timestamp(text: &str) -> bool {
    let digit = |b: &u8| b.is_ascii_digit();
    text.as_bytes().windows(6).any(|w| {
        let rfc3339 = digit(&w[0]) && w[1] == b'T' && digit(&w[2]) && digit(&w[3]) && w[4] == b':';
        let fraction = digit(&w[0]) && digit(&w[1]) && w[2] == b':' && digit(&w[3]) && digit(&w[4]) && w[5] == b'.';
        rfc3339 || fraction
    })
}

#[test]
fn portal_times_show_seconds_in_utc_and_every_client_its_authentication_method() {
    let emu = Emulator::start(&[]);
    // Something for the inspector: a request with the app's certificate.
    assert_eq!(banks_status(&emu, &app_identity(&emu)), Some(200));
    for path in ["/portal", "/portal/inspect"] {
        let (status, body, _) = portal_get(&emu, path);
        assert_eq!(status, 200, "{path}");
        let (found, rest) = times(body.as_str().unwrap());
        let least = if path == "/portal" { 2 } else { 1 };
        assert!(found.len() >= least, "{path}: too few <time> elements: {found:?}");
        assert!(found.iter().all(|t| is_readable_time(t)), "{path}: {found:?}");
        assert!(!has_raw_timestamp(&rest), "{path} shows a raw timestamp:\n{rest}");
    }

    let (_, body, _) = portal_get(&emu, "/portal");
    let page = body.as_str().unwrap();
    assert!(
        page.contains("<code id=\"app-auth-method\">client_secret_post</code>"),
        "the application shows its token_endpoint_auth_method:\n{page}"
    );
    let row = page
        .split(&format!("<tr id=\"client-{}\">", emu.info.client_id))
        .nth(1)
        .expect("the application's client is listed")
        .split("</tr>")
        .next()
        .unwrap();
    assert!(
        row.contains("<code class=\"auth-method\">client_secret_post</code>"),
        "{row}"
    );
}

#[test]
fn a_generated_certificate_works_beside_the_old_one_until_it_is_revoked() {
    let emu = Emulator::start(&[]);
    let resp = portal_post(&emu, "/portal/certificates", &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.headers["content-disposition"],
        "attachment; filename=\"my_app_certificate.zip\""
    );
    let files = unzip(resp.body);
    let names: Vec<&str> = files.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["my_app_private_key.pem", "my_app_cert.crt"]);
    assert_eq!(files[0].2, 0o600, "the key unzips owner-only");
    let new = CertAndKey {
        key_pem: files[0].1.clone(),
        cert_pem: files[1].1.clone(),
    };
    assert_ne!(new.cert_pem, emu.read("my_app_cert.crt"));
    assert!(
        new.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"),
        "PKCS#8, as before"
    );
    let new_der = mtls_sandbox::pki::first_cert_der(&new.cert_pem, "new").unwrap();
    assert_eq!(
        mtls_sandbox::key_type::describe_certificate_key(&new_der).as_deref(),
        Some("RSA-2048"),
        "an RSA key by default, as the provider's portal issues"
    );

    let chain = portal_post(&emu, "/portal/chain.zip", &[]);
    assert_eq!(chain.status, 405, "the chain is a GET download");
    let token = emu.info.portal_token.clone().unwrap();
    let req = plain(&emu)
        .get(format!("{}/portal/chain.zip", emu.info.sandbox_url))
        .bearer_auth(token);
    let chain_files = unzip(block_on(async {
        req.send().await.unwrap().bytes().await.unwrap().to_vec()
    }));
    assert_eq!(chain_files.len(), 1);
    assert_eq!(chain_files[0].0, "lean_public_cert_chain.pem");
    assert_eq!(chain_files[0].1, emu.read("lean_public_cert_chain.pem"));

    let old = app_identity(&emu);
    assert_eq!(banks_status(&emu, &new), Some(200));
    assert_eq!(banks_status(&emu, &old), Some(200), "the old certificate stays valid");

    let (_, page, _) = portal_get(&emu, "/portal");
    let page = page.as_str().unwrap().to_owned();
    let serial = mtls_sandbox::inspector::CertificateView::parse(
        &mtls_sandbox::pki::first_cert_der(&new.cert_pem, "new").unwrap(),
    )
    .unwrap()
    .serial;
    assert!(page.contains(&format!("id=\"cert-{serial}\"")), "listed: {page}");

    let revoked = portal_post(&emu, &format!("/portal/certificates/{serial}/revoke"), &[]);
    assert_eq!(revoked.status, 303);
    assert!(revoked.location().starts_with("/portal/") && revoked.location().ends_with("/?notice=revoked"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while banks_status(&emu, &new).is_some() {
        assert!(Instant::now() < deadline, "the revoked certificate still works");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(banks_status(&emu, &old), Some(200));

    let unknown = portal_post(&emu, "/portal/certificates/abcdef/revoke", &[]);
    assert_eq!(unknown.status, 404);
    assert!(unknown.text().contains("no certificate with serial abcdef"));
}

#[test]
fn revealing_a_secret_again_rotates_it_and_added_secrets_stay() {
    let emu = Emulator::start(&[]);
    let listed = || {
        let (_, listing, _) = portal_get(&emu, "/portal");
        listing.as_str().unwrap().matches("class=\"client-id ").count()
    };
    let before = listed();
    let created = portal_post(
        &emu,
        "/portal/clients",
        &[
            ("name", "shop backend"),
            ("token_endpoint_auth_method", "client_secret_basic"),
            ("scopes", "api"),
        ],
    );
    assert_eq!(created.status, 303);
    let (session, id) = created
        .location()
        .split_once("/?notice=client-created#client-")
        .expect("redirected to the new client");
    assert!(session.starts_with("/portal/"), "{session}");
    let id = id.to_owned();

    let token_status = |secret: &str| {
        let req = plain(&emu)
            .post(&emu.info.token_endpoint)
            .basic_auth(&id, Some(secret))
            .form(&[("grant_type", "client_credentials")]);
        send(req).0
    };
    let page = |posted: Posted| posted.text();
    let first = shown_secret(&page(portal_post(&emu, &format!("/portal/clients/{id}/reveal"), &[])));
    assert_eq!(token_status(&first), 200);
    let added = shown_secret(&page(portal_post(&emu, &format!("/portal/clients/{id}/secrets"), &[])));
    let second = shown_secret(&page(portal_post(&emu, &format!("/portal/clients/{id}/reveal"), &[])));
    assert_ne!(first, second);
    assert_eq!(token_status(&first), 401, "the first revealed secret stops working");
    assert_eq!(token_status(&second), 200);
    assert_eq!(token_status(&added), 200, "an added secret is not the revealed one");

    // Bad forms are refused with the field at fault; nothing is created.
    let bad = portal_post(
        &emu,
        "/portal/clients",
        &[("name", "x"), ("token_endpoint_auth_method", "tls_client_auth")],
    );
    assert_eq!(bad.status, 400);
    assert!(page(bad).contains("needs tls_client_auth_subject_dn"));
    let static_client = portal_post(&emu, &format!("/portal/clients/{}/reveal", emu.info.client_id), &[]);
    assert_eq!(static_client.status, 409);
    assert_eq!(listed(), before + 1, "only the valid form created a client");
}

#[test]
fn the_inspector_explains_refused_handshakes_and_shows_who_called() {
    let emu = Emulator::start(&[]);
    // A refused handshake: no client certificate on the mtls host.
    let refused = plain(&emu).get(format!("{}/banks/v1", emu.info.mtls_url));
    assert!(block_on(async { refused.send().await }).is_err());
    // A bound token used over mTLS.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", emu.info.client_secret.as_str()),
        ("scope", "api"),
    ];
    let (status, body, _) = token_request(&with_app_cert(&emu), &emu.info.mtls_token_endpoint, &form);
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let call = with_app_cert(&emu)
        .get(format!("{}/banks/v1", emu.info.mtls_url))
        .bearer_auth(&token);
    assert_eq!(send(call).0, 200);
    // A wrong app token on the sandbox host.
    let wrong = plain(&emu)
        .get(format!("{}/banks/v1", emu.info.sandbox_url))
        .header("lean-app-token", "nope");
    assert_eq!(send(wrong).0, 401);

    let (status, json, _) = portal_get(&emu, "/portal/inspect.json");
    assert_eq!(status, 200);
    let events = json["events"].as_array().unwrap();
    let kinds: Vec<(&str, &str, Option<&str>)> = events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap(),
                e["listener"].as_str().unwrap(),
                e["request"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("request", "sandbox", Some("GET /banks/v1")),
            ("request", "mtls", Some("GET /banks/v1")),
            ("request", "mtls", Some("POST /oauth2/token")),
            ("handshake", "mtls", None),
        ],
        "newest first, portal requests not recorded"
    );
    let thumbprint = jwt_claims(&token)["cnf"]["x5t#S256"].as_str().unwrap().to_owned();
    let (wrong, call, issued, handshake) = (&events[0], &events[1], &events[2], &events[3]);

    assert_eq!(handshake["outcome"], "refused");
    assert!(
        handshake["explanation"]
            .as_str()
            .unwrap()
            .contains("sent no client certificate")
    );
    assert!(handshake["fix"].as_str().unwrap().contains("--cert my_app_cert.crt"));

    assert_eq!(issued["client_id"], emu.info.client_id.as_str());
    assert_eq!(issued["auth_method"], "client_secret_post");
    assert_eq!(issued["token_claims"]["cnf"]["x5t#S256"], thumbprint.as_str());
    assert_eq!(issued["certificate"]["thumbprint"], thumbprint.as_str());
    assert_eq!(issued["certificates_sent"], 3, "leaf, intermediate and root");

    assert_eq!(call["status"], 200);
    assert_eq!(call["outcome"], "ok");
    assert_eq!(call["auth_method"], "bearer token");
    assert_eq!(call["client_id"], emu.info.client_id.as_str());
    assert!(call["certificate"]["subject"].as_str().unwrap().contains("CN=my_app"));
    assert!(call["certificate"]["issuer"].as_str().unwrap().contains("intermediate"));

    assert_eq!(wrong["outcome"], "refused");
    assert_eq!(wrong["error"], "UNAUTHORIZED");
    assert_eq!(wrong["auth_method"], "lean-app-token");
    assert!(wrong["certificate"].is_null());
    let text = serde_json::to_string(&json).unwrap();
    assert!(!text.contains(&emu.info.client_secret), "no secret in the inspector");

    let (_, html, _) = portal_get(&emu, "/portal/inspect");
    let html = html.as_str().unwrap().to_owned();
    assert!(html.contains("sent no client certificate"));
    assert!(html.contains(&thumbprint));
    assert_eq!(html.matches("class=\"event\"").count(), 4, "{html}");
}

#[test]
fn the_inspector_can_be_turned_off() {
    let emu = Emulator::start(&["--inspect", "0"]);
    let call = plain(&emu)
        .get(format!("{}/banks/v1", emu.info.sandbox_url))
        .header("lean-app-token", &emu.info.app_token);
    assert_eq!(send(call).0, 200);
    let (_, json, _) = portal_get(&emu, "/portal/inspect.json");
    assert_eq!(json["capacity"], 0);
    assert_eq!(json["events"], Value::Array(vec![]));
}

#[test]
fn revealing_the_application_secret_rotates_it_in_the_server_the_files_and_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    crate::util::copy_template_to(&dir);
    let emu = Emulator::start_in(&dir, &[]);
    let token_status = |emu: &Emulator, secret: &str| {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", emu.info.client_id.as_str()),
            ("client_secret", secret),
        ];
        token_request(&plain(emu), &emu.info.token_endpoint, &form).0
    };
    let printed = emu.info.client_secret.clone();
    assert_eq!(token_status(&emu, &printed), 200);

    let page = portal_post(&emu, "/portal/application/secret", &[]).text();
    let revealed = shown_secret(&page);
    assert_ne!(revealed, printed);
    assert!(
        page.contains(&format!("-d client_secret={revealed}")),
        "the example matches client_secret_post: {page}"
    );
    assert_eq!(token_status(&emu, &printed), 401, "the printed secret stops working");
    assert_eq!(token_status(&emu, &revealed), 200);
    let json = mtls_sandbox::info::SandboxInfo::read(&dir.join("sandbox.json")).unwrap();
    assert_eq!(json.client_secret, revealed, "sandbox.json follows");
    assert!(emu.read("sandbox.env").contains(&format!("CLIENT_SECRET={revealed}")));

    let again = shown_secret(&portal_post(&emu, "/portal/application/secret", &[]).text());
    assert_eq!(
        token_status(&emu, &revealed),
        401,
        "revealing again invalidates the first reveal"
    );
    emu.stop();

    let restarted = Emulator::start_in(&dir, &[]);
    assert_eq!(restarted.info.client_secret, again, "state.json kept the rotation");
    assert_eq!(token_status(&restarted, &again), 200);
}

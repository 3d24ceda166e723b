//! Gateway mode: the mtls host in front of an upstream API (a wiremock
//! server). What the upstream receives is asserted exactly; refusals must
//! happen before anything reaches it.

use mtls_sandbox::oauth::token::x5t_s256;
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::util::{
    Emulator, app_identity, app_token, curl, jwt_claims, other_identity_client, plain, send, token_request,
    up_usage_error, with_app_cert,
};

/// A wiremock upstream answering every request, on its own runtime (the
/// test's calls block on other runtimes).
struct Upstream {
    rt: tokio::runtime::Runtime,
    server: MockServer,
}

impl Upstream {
    fn start(response: ResponseTemplate) -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let server = rt.block_on(MockServer::start());
        rt.block_on(Mock::given(any()).respond_with(response).mount(&server));
        Self { rt, server }
    }

    fn received(&self) -> Vec<Request> {
        self.rt.block_on(self.server.received_requests()).unwrap()
    }
}

pub fn start_with_config(config: &str) -> (Emulator, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("gateway.toml");
    std::fs::write(&file, config).unwrap();
    crate::util::copy_template_to(&tmp.path().join("state"));
    let emu = Emulator::start_in(&tmp.path().join("state"), &["--config", file.to_str().unwrap()]);
    (emu, tmp)
}

/// curl with the app's certificate: stdout, then a line with the HTTP
/// version and status. curl (OpenSSL) adds the intermediate from --cacert,
/// and unlike reqwest it can send a path as it is (`--path-as-is`).
fn app_curl(emu: &Emulator, extra: &[&str], url: &str) -> String {
    let (ca, cert, key) = (
        emu.file("lean_public_cert_chain.pem"),
        emu.file("my_app_cert.crt"),
        emu.file("my_app_private_key.pem"),
    );
    let mut args = vec![
        "--cacert",
        ca.to_str().unwrap(),
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "-w",
        "\n%{http_version} %{http_code}",
    ];
    args.extend_from_slice(extra);
    args.push(url);
    let (code, out) = curl(&args);
    assert_eq!(code, 0, "curl failed: {out}");
    out
}

fn header<'a>(req: &'a Request, name: &str) -> &'a str {
    req.headers
        .get(name)
        .unwrap_or_else(|| panic!("upstream got no {name}: {:?}", req.headers))
        .to_str()
        .unwrap()
}

#[test]
fn curity_flow_through_the_gateway_forwards_certificate_and_phantom_jwt() {
    let upstream = Upstream::start(
        ResponseTemplate::new(200)
            .set_body_json(json!({"ok": true}))
            .insert_header("x-upstream", "yes"),
    );
    let (emu, _tmp) = start_with_config(&format!(
        r#"
[[gateway]]
prefix = "/partner/"
upstream = "{0}/internal"
strip_prefix = true
scopes = ["transactions"]
require_binding = true
xfcc = true

[[gateway]]
prefix = "/open/"
upstream = "{0}"
require_token = false
"#,
        upstream.server.uri()
    ));
    let mtls = with_app_cert(&emu);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "partner-client"),
        ("scope", "transactions"),
    ];
    let (status, body, _) = token_request(&mtls, &emu.info.mtls_token_endpoint, &form);
    assert_eq!(status, 200, "{body}");
    let opaque = body["access_token"].as_str().unwrap().to_owned();

    let url = format!("{}/partner/tx?x=1", emu.info.mtls_url);
    let (status, body, headers) = send(
        mtls.post(&url)
            .bearer_auth(&opaque)
            .header("x-client-cert", "forged")
            .header("content-type", "application/json")
            .body(r#"{"amount": 1}"#),
    );
    assert_eq!((status, body), (200, json!({"ok": true})));
    assert_eq!(headers["x-upstream"], "yes");

    let got = upstream.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(
        (req.method.as_str(), req.url.path(), req.url.query()),
        ("POST", "/internal/tx", Some("x=1"))
    );
    assert_eq!(req.body, br#"{"amount": 1}"#);
    let cert_der = app_identity(&emu).cert_der().unwrap();
    let thumbprint = x5t_s256(&cert_der);
    // Phantom token: the upstream sees the JWT, bound to the caller's certificate.
    let jwt = header(req, "authorization").strip_prefix("Bearer ").unwrap();
    let claims = jwt_claims(jwt);
    assert_eq!(
        (&claims["client_id"], &claims["cnf"]["x5t#S256"]),
        (&json!("partner-client"), &json!(thumbprint))
    );
    let pem = percent_encoding::percent_decode_str(header(req, "x-client-cert"))
        .decode_utf8()
        .unwrap();
    assert_eq!(
        mtls_sandbox::pki::first_cert_der(&pem, "x-client-cert").unwrap(),
        cert_der
    );
    assert_eq!(header(req, "x-client-cert-thumbprint"), thumbprint);
    assert!(header(req, "x-forwarded-client-cert").starts_with("Hash="));
    assert_eq!(header(req, "x-forwarded-for"), "127.0.0.1");
    assert_eq!(header(req, "x-forwarded-proto"), "https");
    assert_eq!(
        header(req, "x-forwarded-host"),
        emu.info.mtls_url.trim_start_matches("https://")
    );
    assert_eq!(header(req, "host"), upstream.server.address().to_string());
    assert_eq!(header(req, "content-type"), "application/json");

    // Refusals happen at the gateway; none reaches the upstream.
    let refused = |req: reqwest::RequestBuilder| {
        let (status, body, headers) = send(req);
        let www = headers.get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        (status, body["status"].as_str().unwrap_or("").to_owned(), www)
    };
    let (status, code, www) = refused(mtls.post(&url));
    assert_eq!(
        (status, code.as_str(), www.as_deref()),
        (401, "UNAUTHORIZED", Some("Bearer"))
    );
    let unbound = app_token(&emu, "api");
    let (status, code, _) = refused(mtls.post(&url).bearer_auth(&unbound));
    assert_eq!(
        (status, code.as_str()),
        (401, "CERTIFICATE_TOKEN_MISMATCH"),
        "binding is required"
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", emu.info.client_secret.as_str()),
        ("scope", "api"),
    ];
    let (_, body, _) = token_request(&mtls, &emu.info.mtls_token_endpoint, &form);
    let bound_api = body["access_token"].as_str().unwrap();
    let (status, code, _) = refused(mtls.post(&url).bearer_auth(bound_api));
    assert_eq!(
        (status, code.as_str()),
        (403, "INSUFFICIENT_ACCESS_LEVEL"),
        "scope transactions is missing"
    );
    let thief = other_identity_client(&emu, "thief");
    let (status, code, www) = refused(thief.post(&url).bearer_auth(&opaque));
    assert_eq!((status, code.as_str()), (401, "CERTIFICATE_TOKEN_MISMATCH"));
    assert!(www.unwrap().starts_with("Bearer error=\"invalid_token\""));
    assert_eq!(
        upstream.received().len(),
        1,
        "refused requests must not reach the upstream"
    );

    // Emulated endpoints are still the sandbox's; unrouted paths are 404.
    let banks = format!("{}/banks/v1", emu.info.mtls_url);
    assert_eq!(
        send(mtls.get(&banks).header("lean-app-token", &emu.info.app_token)).0,
        200
    );
    let (status, code, _) = refused(mtls.get(format!("{}/elsewhere", emu.info.mtls_url)));
    assert_eq!((status, code.as_str()), (404, "NOT_FOUND"));
    assert_eq!(upstream.received().len(), 1);

    // An open route streams a body far beyond the API's own 64 KiB limit.
    let big = vec![b'x'; 1 << 20];
    let (status, _, _) = send(mtls.put(format!("{}/open/upload", emu.info.mtls_url)).body(big.clone()));
    assert_eq!(status, 200);
    let got = upstream.received();
    assert_eq!(
        (got.len(), got[1].url.path(), got[1].body.len()),
        (2, "/open/upload", big.len())
    );
    assert!(got[1].headers.get("authorization").is_none());
}

#[test]
fn upstream_flag_forwards_with_token_check_and_failures_are_502_and_504() {
    let upstream = Upstream::start(ResponseTemplate::new(204));
    let emu = Emulator::start(&["--upstream", &upstream.server.uri()]);
    let mtls = with_app_cert(&emu);
    let url = format!("{}/my/api", emu.info.mtls_url);
    let (status, body, _) = send(mtls.get(&url));
    assert_eq!(status, 401);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with("GET /my/api needs Authorization: Bearer") && message.contains("gateway route /"),
        "the refusal names the requested path: {message}"
    );
    let jwt = app_token(&emu, "api");
    assert_eq!(send(mtls.get(&url).bearer_auth(&jwt)).0, 204);
    let got = upstream.received();
    assert_eq!(got.len(), 1);
    assert_eq!(
        header(&got[0], "authorization"),
        format!("Bearer {jwt}"),
        "a JWT passes unchanged"
    );
    // The plain sandbox host has no gateway.
    let sandbox = plain(&emu);
    assert_eq!(send(sandbox.get(format!("{}/my/api", emu.info.sandbox_url))).0, 404);
    drop(emu);

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let slow = Upstream::start(ResponseTemplate::new(200).set_delay(std::time::Duration::from_secs(3)));
    let (emu, _tmp) = start_with_config(&format!(
        "[[gateway]]\nprefix = \"/down\"\nupstream = \"http://{closed}\"\nrequire_token = false\n\
         [[gateway]]\nprefix = \"/slow\"\nupstream = \"{}\"\nrequire_token = false\ntimeout_ms = 300\n",
        slow.server.uri()
    ));
    let mtls = with_app_cert(&emu);
    let (status, body, _) = send(mtls.get(format!("{}/down/x", emu.info.mtls_url)));
    assert_eq!((status, &body["status"]), (502, &json!("BAD_GATEWAY")));
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains(&closed.to_string()) && message.contains("refused"),
        "{message}"
    );
    let (status, body, _) = send(mtls.get(format!("{}/slow/x", emu.info.mtls_url)));
    assert_eq!((status, &body["status"]), (504, &json!("GATEWAY_TIMEOUT")));
    assert!(body["message"].as_str().unwrap().contains("300 ms"), "{body}");
}

#[test]
fn over_http2_the_upstream_gets_x_forwarded_host_from_the_authority() {
    let upstream = Upstream::start(ResponseTemplate::new(204));
    let emu = Emulator::start(&["--upstream", &upstream.server.uri()]);
    let url = format!("{}/h2/path?q=1", emu.info.mtls_url);
    let call = |extra: &[&str]| app_curl(&emu, &[&["--http2"], extra].concat(), &url);
    let refused = call(&[]);
    assert!(refused.ends_with("\n2 401"), "{refused}");
    assert!(refused.contains("GET /h2/path needs Authorization"), "{refused}");

    let bearer = format!("Authorization: Bearer {}", app_token(&emu, "api"));
    // Headers only the gateway may set are dropped when a client sends them.
    let forged = [
        "X-Forwarded-Host: evil.example",
        "Forwarded: for=10.6.6.6;host=evil.example",
        "X-Real-IP: 10.6.6.6",
        "X-Forwarded-For: 10.6.6.6",
        "X-SSL-Client-Verify: SUCCESS",
    ];
    let mut args = vec!["-H", &bearer];
    for h in &forged {
        args.extend(["-H", h]);
    }
    let answered = call(&args);
    assert!(answered.ends_with("\n2 204"), "{answered}");
    let got = upstream.received();
    assert_eq!(got.len(), 1, "the refused call must not reach the upstream");
    assert_eq!(
        header(&got[0], "x-forwarded-host"),
        emu.info.mtls_url.trim_start_matches("https://")
    );
    assert_eq!(header(&got[0], "x-forwarded-for"), "127.0.0.1");
    for name in ["forwarded", "x-real-ip", "x-ssl-client-verify"] {
        assert!(
            got[0].headers.get(name).is_none(),
            "{name} was forwarded: {:?}",
            got[0].headers
        );
    }
    assert_eq!(got[0].url.path(), "/h2/path");
}

#[test]
fn invalid_gateway_settings_are_usage_errors_naming_the_field() {
    let stderr = up_usage_error(&["--upstream", "https://api.local"]);
    assert!(
        stderr.contains("--upstream") && stderr.contains("http://host:port"),
        "{stderr}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    let route = "[[gateway]]\nprefix = \"/p\"\nupstream = \"http://a:1\"\nclient_cert_header = \"a b\"\n";
    std::fs::write(&file, route).unwrap();
    let stderr = up_usage_error(&["--config", file.to_str().unwrap()]);
    let named = ["bad.toml", "route '/p'", "client_cert_header"];
    assert!(named.iter().all(|n| stderr.contains(n)), "{stderr}");
}

#[test]
fn routes_match_the_normalised_path_and_ambiguous_paths_are_refused() {
    let upstream = Upstream::start(ResponseTemplate::new(204));
    let (emu, _tmp) = start_with_config(&format!(
        "[[gateway]]\nprefix = \"/public/\"\nupstream = \"{0}\"\nrequire_token = false\n\
         [[gateway]]\nprefix = \"/admin/\"\nupstream = \"{0}\"\nscopes = [\"admin\"]\n\
         [[gateway]]\nprefix = \"/partner/\"\nupstream = \"{0}/base\"\nstrip_prefix = true\nrequire_token = false\n",
        upstream.server.uri()
    ));
    let bearer = format!("Authorization: Bearer {}", app_token(&emu, "api"));
    let call = |path: &str| {
        let out = app_curl(
            &emu,
            &["--path-as-is", "-H", &bearer],
            &format!("{}{path}", emu.info.mtls_url),
        );
        let (body, status) = out.rsplit_once('\n').unwrap();
        (
            status.split(' ').nth(1).unwrap().parse::<u16>().unwrap(),
            body.to_owned(),
        )
    };
    // Each of these is /admin/secret to the upstream: the admin route's
    // scope check applies (the token has only `api`).
    for path in [
        "/public/../admin/secret",
        "//admin/secret",
        "/%61dmin/secret",
        "/./admin/secret",
    ] {
        let (status, body) = call(path);
        assert_eq!(status, 403, "{path}: {body}");
        assert!(body.contains("INSUFFICIENT_ACCESS_LEVEL"), "{path}: {body}");
    }
    // Out of the route's base path: no route matches /internal.
    let (status, body) = call("/partner/../internal");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("/internal"), "{body}");
    let (status, body) = call("/public%2F..%2Fadmin/secret");
    assert_eq!(status, 400, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["status"], "INVALID_PARAMETERS");
    assert!(
        body["message"].as_str().unwrap().contains("encoded separator"),
        "{body}"
    );
    assert!(upstream.received().is_empty(), "nothing ambiguous reaches the upstream");

    // What passes is forwarded in its normal form.
    assert_eq!(call("/public/./a//b/../c%7e?q=%2F").0, 204);
    assert_eq!(call("/partner/x/../tx").0, 204);
    let got = upstream.received();
    let paths: Vec<_> = got.iter().map(|r| (r.url.path(), r.url.query())).collect();
    assert_eq!(paths, [("/public/a/c~", Some("q=%2F")), ("/base/tx", None)]);
}

#[test]
fn a_fault_rule_on_client_id_leaves_large_form_bodies_whole() {
    let upstream = Upstream::start(ResponseTemplate::new(200));
    let (emu, _tmp) = start_with_config(&format!(
        "[[gateway]]\nprefix = \"/open/\"\nupstream = \"{}\"\nrequire_token = false\ntimeout_ms = 5000\n",
        upstream.server.uri()
    ));
    // Any rule on client_id makes the sandbox read form bodies to match it.
    let rule = json!({"match": {"client_id": "someone-else"}, "effect": {"status": 503}});
    let admin = crate::util::admin_token(&emu);
    let url = format!("{}/admin/faults", emu.info.auth_url);
    assert_eq!(send(plain(&emu).post(url).bearer_auth(&admin).json(&rule)).0, 201);

    let mtls = with_app_cert(&emu);
    let upload = format!("{}/open/upload", emu.info.mtls_url);
    let small = "client_id=me&data=x".to_owned();
    let large = format!("client_id=me&data={}", "x".repeat(100 * 1024));
    for form in [&small, &large] {
        let (status, body, _) = send(
            mtls.post(&upload)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form.clone()),
        );
        assert_eq!(status, 200, "{} bytes: {body}", form.len());
    }
    let got = upstream.received();
    let sizes: Vec<usize> = got.iter().map(|r| r.body.len()).collect();
    assert_eq!(sizes, [small.len(), large.len()]);
    assert_eq!(got[1].body, large.as_bytes());
    assert_eq!(header(&got[1], "content-length"), large.len().to_string());
}

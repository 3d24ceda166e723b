//! Bad-input corpus (issue #6 item 1): hundreds of malformed requests across
//! every endpoint — broken JSON and forms, duplicate and missing parameters,
//! broken Authorization headers and forged JWTs, oversized bodies and
//! headers, junk on the TLS ports. Every case must get a 4xx (JSON from the
//! sandbox itself) or a clean refusal, never a 5xx or a panic, and the
//! sandbox must still answer afterwards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::util::{Emulator, app_token, block_on, plain, with_app_cert};

struct Case {
    name: String,
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fn case(name: impl Into<String>, method: &str, url: String) -> Case {
    Case {
        name: name.into(),
        method: reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        url,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

impl Case {
    fn header(mut self, k: &str, v: impl AsRef<[u8]>) -> Self {
        self.headers.push((k.into(), v.as_ref().to_vec()));
        self
    }
    fn body(mut self, content_type: &str, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self.header("content-type", content_type)
    }
}

/// JWTs a client might send by mistake or malice.
fn bad_jwts(emu: &Emulator, good: &str) -> Vec<(String, String)> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |extra: Value| {
        let mut c = json!({"iss": emu.info.auth_url, "sub": "x", "aud": "mtls-sandbox-api", "iat": now,
                           "nbf": now, "exp": now + 600, "jti": "j", "scope": "api", "client_id": "x"});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        c
    };
    let segment = |v: &Value| B64.encode(serde_json::to_vec(v).unwrap());
    let parts: Vec<&str> = good.split('.').collect();
    let jwks: Value = serde_json::from_str(&block_on(async {
        plain(emu)
            .get(format!("{}/jwks.json", emu.info.auth_url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }))
    .unwrap();
    let public_as_secret = serde_json::to_vec(&jwks["keys"][0]).unwrap();
    let hs = |header: Header, claims: Value, secret: &[u8]| {
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(secret)).unwrap()
    };
    let mut kid_header = Header::new(Algorithm::HS256);
    kid_header.kid = jwks["keys"][0]["kid"].as_str().map(str::to_owned);
    let mut out = vec![
        (
            "alg none".into(),
            format!("{}.{}.", segment(&json!({"alg": "none"})), segment(&claims(json!({})))),
        ),
        (
            "alg None".into(),
            format!(
                "{}.{}.",
                segment(&json!({"alg": "None", "typ": "JWT"})),
                segment(&claims(json!({})))
            ),
        ),
        (
            "HS256 with the public key".into(),
            hs(kid_header.clone(), claims(json!({})), &public_as_secret),
        ),
        (
            "HS256 with the kid's x".into(),
            hs(
                kid_header,
                claims(json!({})),
                jwks["keys"][0]["n"].as_str().unwrap_or("x").as_bytes(),
            ),
        ),
        (
            "wrong kid".into(),
            format!(
                "{}.{}.{}",
                segment(&json!({"alg": "PS256", "kid": "nope"})),
                parts[1],
                parts[2]
            ),
        ),
        (
            "wrong typ".into(),
            format!(
                "{}.{}.{}",
                segment(&json!({"alg": "PS256", "typ": "JWE"})),
                parts[1],
                parts[2]
            ),
        ),
        (
            "claims swapped".into(),
            format!(
                "{}.{}.{}",
                parts[0],
                segment(&claims(json!({"scope": "admin"}))),
                parts[2]
            ),
        ),
        (
            "expired".into(),
            format!(
                "{}.{}.{}",
                parts[0],
                segment(&claims(json!({"exp": now - 10}))),
                parts[2]
            ),
        ),
        (
            "far-future nbf".into(),
            format!(
                "{}.{}.{}",
                parts[0],
                segment(&claims(json!({"nbf": now + 86400 * 365}))),
                parts[2]
            ),
        ),
        (
            "signature of another token".into(),
            format!("{}.{}.{}", parts[0], parts[1], B64.encode([7u8; 256])),
        ),
        ("empty".into(), String::new()),
        ("dots only".into(), "..".into()),
        ("four segments".into(), format!("{good}.x")),
        ("two segments".into(), format!("{}.{}", parts[0], parts[1])),
        (
            "header not JSON".into(),
            format!("{}.{}.{}", B64.encode("not json"), parts[1], parts[2]),
        ),
        (
            "header JSON array".into(),
            format!("{}.{}.{}", B64.encode("[1,2]"), parts[1], parts[2]),
        ),
        ("payload not base64".into(), format!("{}.!!!.{}", parts[0], parts[2])),
        (
            "header with padding".into(),
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        ),
        ("unicode".into(), "ü.ü.ü".into()),
        ("huge".into(), "a".repeat(16 * 1024)),
    ];
    for cut in [1, 10, good.len() / 2, good.len() - 1] {
        out.push((format!("truncated at {cut}"), good[..cut].to_owned()));
    }
    for i in [0, parts[0].len() + 3, good.len() - 5] {
        let mut garbled = good.as_bytes().to_vec();
        garbled[i] = if garbled[i] == b'A' { b'B' } else { b'A' };
        out.push((format!("garbled at {i}"), String::from_utf8(garbled).unwrap()));
    }
    out
}

fn cases(emu: &Emulator) -> Vec<Case> {
    let (sandbox, auth, mtls) = (&emu.info.sandbox_url, &emu.info.auth_url, &emu.info.mtls_url);
    let good = app_token(emu, "api");
    let form = "application/x-www-form-urlencoded";
    let mut cases = Vec::new();

    let json_bodies: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("open brace", b"{".to_vec()),
        ("array", b"[]".to_vec()),
        ("null", b"null".to_vec()),
        ("string", b"\"x\"".to_vec()),
        ("number", b"1e999".to_vec()),
        (
            "wrong types",
            br#"{"app_user_id": 1, "name": [], "amount": {}}"#.to_vec(),
        ),
        (
            "duplicate keys",
            br#"{"app_user_id": "a", "app_user_id": "b", "name": "n", "name": "m"}"#.to_vec(),
        ),
        (
            "lone surrogate",
            br#"{"app_user_id": "\ud800", "name": "\ud800"}"#.to_vec(),
        ),
        ("invalid utf-8", vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}']),
        ("deep nesting", [vec![b'['; 20_000], vec![b']'; 20_000]].concat()),
        ("trailing junk", br#"{"app_user_id": "a"} junk"#.to_vec()),
        (
            "huge string",
            format!("{{\"app_user_id\": \"{}\"}}", "x".repeat(200 * 1024)).into_bytes(),
        ),
        ("empty strings", br#"{"app_user_id": "", "name": ""}"#.to_vec()),
        ("nul byte", b"{\"app_user_id\": \"a\x00b\"}".to_vec()),
    ];
    let json_endpoints = [
        ("POST", format!("{sandbox}/customers/v1"), true),
        ("POST", format!("{mtls}/api/transactions"), true),
        ("POST", format!("{auth}/clients"), false),
        ("POST", format!("{auth}/clients/ghost/secrets"), false),
        ("POST", format!("{auth}/admin/faults"), false),
        ("POST", format!("{auth}/admin/clock"), false),
    ];
    let admin = crate::util::admin_token(emu);
    for (method, url, app) in &json_endpoints {
        for (name, body) in &json_bodies {
            let c = case(format!("{url} json {name}"), method, url.clone()).body("application/json", body);
            cases.push(if *app {
                c.header("lean-app-token", &emu.info.app_token)
            } else {
                c.header("authorization", format!("Bearer {admin}"))
            });
        }
        cases.push(
            case(format!("{url} text/plain"), method, url.clone())
                .body("text/plain", "{}")
                .header("authorization", format!("Bearer {admin}"))
                .header("lean-app-token", &emu.info.app_token),
        );
    }

    let forms: Vec<String> = vec![
        String::new(),
        "grant_type".into(),
        "grant_type=".into(),
        "grant_type=client_credentials".into(),
        "grant_type=password&username=a&password=b".into(),
        "grant_type=client_credentials&grant_type=client_credentials".into(),
        "grant_type=client_credentials&client_id=a&client_id=b".into(),
        "grant_type=client_credentials&client_id=testing&client_secret=testing&client_secret=x".into(),
        "grant_type=client_credentials&client_id=testing&client_secret=wrong".into(),
        "grant_type=client_credentials&client_id=testing&client_secret=testing&scope=nope".into(),
        "grant_type=client_credentials&client_id=testing&client_secret=testing&scope=customer.".into(),
        "grant_type=client_credentials&client_id=testing&client_secret=testing&scope=%20%20".into(),
        "grant_type=%ZZ&client_id=%".into(),
        "grant_type=client_credentials&client_id=%FF%FE".into(),
        "grant_type=client_credentials&client_id=\u{0}".into(),
        "&&&==&=&".into(),
        format!("grant_type=client_credentials&client_id={}", "x".repeat(60_000)),
        (0..5000).map(|i| format!("p{i}=v")).collect::<Vec<_>>().join("&"),
        "grant_type=client_credentials&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer&client_assertion=a.b.c".into(),
        "grant_type=client_credentials&client_assertion_type=wrong&client_assertion=x".into(),
        "grant_type=client_credentials&client_assertion=x".into(),
        "grant_type=client_credentials&client_id=partner-client".into(),
        "token=".into(),
        "token=x&token=y&client_id=testing&client_secret=testing".into(),
        "token_type_hint=refresh_token&token=x&client_id=testing&client_secret=testing".into(),
    ];
    for url in [
        format!("{auth}/oauth2/token"),
        format!("{auth}/oauth2/introspect"),
        format!("{auth}/oauth2/revoke"),
        format!("{mtls}/oauth2/token"),
    ] {
        for (i, body) in forms.iter().enumerate() {
            cases.push(case(format!("{url} form #{i}"), "POST", url.clone()).body(form, body));
        }
        cases.push(
            case(format!("{url} json body"), "POST", url.clone())
                .body("application/json", "{\"grant_type\": \"client_credentials\"}"),
        );
        cases.push(
            case(format!("{url} no content type"), "POST", url.clone()).body("", "grant_type=client_credentials"),
        );
        cases.push(case(format!("{url} GET"), "GET", url.clone()));
        cases.push(case(format!("{url} huge body"), "POST", url.clone()).body(form, vec![b'a'; 300 * 1024]));
    }
    let registrations = [
        json!({"name": "k", "token_endpoint_auth_method": "private_key_jwt", "jwks": "garbage"}),
        json!({"name": "k", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "RSA"}]}}),
        json!({"name": "k", "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "!!", "y": "??"}]}}),
        json!({"name": "k", "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "not a url"}),
        json!({"name": "k", "token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": {"keys": []}}),
        json!({"name": "k", "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": ""}),
        json!({"name": "k", "token_endpoint_auth_method": "nope"}),
        json!({"name": "k", "scopes": "api"}),
        json!({"name": "k", "token_format": "xml"}),
    ];
    for (i, reg) in registrations.iter().enumerate() {
        let c = case(format!("broken registration #{i}"), "POST", format!("{auth}/clients"));
        cases.push(
            c.body("application/json", reg.to_string())
                .header("authorization", format!("Bearer {admin}")),
        );
    }
    for (name, basic) in [
        ("no colon", B64.encode("testing")),
        ("not base64", "!!!".into()),
        ("empty", String::new()),
        (
            "bad utf-8",
            base64::engine::general_purpose::STANDARD.encode([0xff, b':', 0xfe]),
        ),
        (
            "percent junk",
            base64::engine::general_purpose::STANDARD.encode("%ZZ:%"),
        ),
    ] {
        cases.push(
            case(format!("token basic {name}"), "POST", format!("{auth}/oauth2/token"))
                .body(form, "grant_type=client_credentials")
                .header("authorization", format!("Basic {basic}")),
        );
    }

    let bearer_targets = [
        ("GET", format!("{sandbox}/banks/v1")),
        ("GET", format!("{mtls}/banks/v1")),
        ("GET", format!("{sandbox}/customers/v1/x")),
        ("GET", format!("{auth}/clients")),
        ("GET", format!("{auth}/admin/faults")),
        ("GET", format!("{auth}/admin/clock")),
    ];
    let auth_headers: Vec<(String, Vec<u8>)> = [
        "Bearer",
        "Bearer ",
        "bearer  x",
        "Basic dGVzdGluZzp0ZXN0aW5n",
        "Digest x",
        "Bearer a b c",
        "Token x",
        ",",
    ]
    .iter()
    .map(|h| (h.to_string(), h.as_bytes().to_vec()))
    .chain(
        bad_jwts(emu, &good)
            .into_iter()
            .map(|(n, jwt)| (n, format!("Bearer {jwt}").into_bytes())),
    )
    .chain([("obs-text".to_string(), b"Bearer \xff\xfe".to_vec())])
    .collect();
    for (method, url) in &bearer_targets {
        for (name, value) in &auth_headers {
            cases.push(case(format!("{url} authorization {name}"), method, url.clone()).header("authorization", value));
        }
        cases
            .push(case(format!("{url} app token obs-text"), method, url.clone()).header("lean-app-token", b"\xff\xfe"));
        cases.push(
            case(format!("{url} app token huge"), method, url.clone()).header("lean-app-token", "t".repeat(8 * 1024)),
        );
    }
    for i in 0..20 {
        cases.push(
            case(
                format!("{sandbox} many headers #{i}"),
                "GET",
                format!("{sandbox}/banks/v1"),
            )
            .header("lean-app-token", &emu.info.app_token)
            .header(&format!("x-h{i}"), "v".repeat(i * 100)),
        );
    }
    for path in [
        "/customers/v1/%00",
        "/customers/v1/..%2F..%2Fetc",
        "/customers/v1/%FF",
        "/banks/v1/extra",
        "/%",
        "/clients/%ZZ/secrets/x",
    ] {
        cases.push(
            case(format!("path {path}"), "GET", format!("{sandbox}{path}"))
                .header("lean-app-token", &emu.info.app_token),
        );
        cases.push(
            case(format!("auth path {path}"), "DELETE", format!("{auth}{path}"))
                .header("authorization", format!("Bearer {admin}")),
        );
    }
    cases
}

/// Sends junk to a TLS port; the connection must be closed, not hang.
fn junk_on(port: u16, bytes: &[u8]) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf);
}

#[test]
fn hundreds_of_bad_requests_get_4xx_json_and_the_sandbox_survives() {
    let emu = Emulator::start(&[]);
    let (http, mtls) = (plain(&emu), with_app_cert(&emu));
    let cases = cases(&emu);
    assert!(cases.len() >= 300, "only {} cases", cases.len());
    let mut failures = Vec::new();
    block_on(async {
        for c in &cases {
            let client = if c.url.starts_with(&emu.info.mtls_url) {
                &mtls
            } else {
                &http
            };
            let mut req = client.request(c.method.clone(), &c.url).body(c.body.clone());
            for (k, v) in &c.headers {
                if let Ok(v) = reqwest::header::HeaderValue::from_bytes(v) {
                    req = req.header(k.as_str(), v);
                }
            }
            let resp = match req.send().await {
                Ok(resp) => resp,
                Err(e) => {
                    failures.push(format!("{}: no response: {e}", c.name));
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let explained = body["message"].is_string() || body["error"].is_string();
            let refused = !c.name.starts_with("broken registration") || status == 400;
            if status >= 500 || (status >= 400 && !explained) || !refused {
                failures.push(format!(
                    "{}: {status} {}",
                    c.name,
                    text.chars().take(200).collect::<String>()
                ));
            }
        }
    });

    // Junk on every TLS port: random bytes, truncated ClientHellos, plain HTTP.
    let hello_prefix: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
    let mut junk = vec![
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        hello_prefix.to_vec(),
        vec![0x16, 0x03],
        vec![0u8; 4096],
    ];
    junk.extend((0..8).map(|i| (0..(64 << i)).map(|j| (j * 31 + i * 7) as u8).collect::<Vec<u8>>()));
    for url in [&emu.info.sandbox_url, &emu.info.mtls_url, &emu.info.auth_url] {
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        for bytes in &junk {
            junk_on(port, bytes);
        }
    }

    let log = emu.log();
    let panics: Vec<&str> = log.lines().filter(|l| l.contains("panicked")).collect();
    assert!(
        failures.is_empty() && panics.is_empty(),
        "{} of {} cases failed:\n{}\npanics:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n"),
        panics.join("\n")
    );
    let (status, _, _) = crate::util::send(http.get(format!("{}/health", emu.info.auth_url)));
    assert_eq!(status, 200, "the sandbox still answers");
    assert!(!emu.log().contains("panicked"), "{}", emu.log());
    eprintln!(
        "bad-input corpus: {} HTTP cases, {} junk payloads on 3 TLS ports",
        cases.len(),
        junk.len()
    );
}

/// Broken config files: each is a usage error (exit 2) naming the file and
/// what is wrong, before anything is created.
#[test]
fn broken_config_files_are_usage_errors_naming_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("not-a-cert.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("banks.json"), "{\"not\": \"an array\"}").unwrap();
    let cases = [
        ("[server\nmtls_port = 1", "broken.toml"),
        ("[server]\nmtls_port = \"x\"", "mtls_port"),
        ("[server]\nmtls_port = 70000", "mtls_port"),
        (
            "[[clients]]\nid = \"k\"\nauth_method = \"private_key_jwt\"\njwks = \"{\"",
            "jwks is not JSON",
        ),
        (
            "[[clients]]\nid = \"k\"\nauth_method = \"private_key_jwt\"\njwks = '{\"keys\": [{\"kty\": \"RSA\"}]}'",
            "jwks",
        ),
        (
            "[[clients]]\nid = \"k\"\nauth_method = \"private_key_jwt\"\njwks_uri = \"ftp://x\"",
            "jwks_uri",
        ),
        (
            "[[clients]]\nid = \"s\"\nauth_method = \"self_signed_tls_client_auth\"\ncertificate_file = \"not-a-cert.pem\"",
            "not-a-cert.pem",
        ),
        (
            "[[clients]]\nid = \"s\"\nauth_method = \"self_signed_tls_client_auth\"\ncertificate_file = \"missing.pem\"",
            "missing.pem",
        ),
        ("[data]\nbanks = \"banks.json\"", "banks.json"),
        ("[oauth]\nsigning_alg = \"HS256\"", "signing_alg"),
        ("[[gateway]]\nprefix = \"/\"\nupstream = \"ftp://x\"", "upstream"),
        (
            "[[faults]]\nmatch = { path = \"x\" }\neffect = { status = 503 }",
            "match.path",
        ),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let file = tmp.path().join("broken.toml");
        std::fs::write(&file, text).unwrap();
        let stderr = crate::util::up_usage_error(&["--config", file.to_str().unwrap()]);
        // The file at fault: the config file, or the data file it points to.
        let at_fault = if text.starts_with("[data]") {
            "banks.json"
        } else {
            "broken.toml"
        };
        assert!(
            stderr.contains(at_fault) && stderr.contains(needle),
            "case {i} ({text}): {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

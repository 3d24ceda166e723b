//! A private_key_jwt client whose `jwks_uri` never answers, answers 50 MB,
//! or redirects to itself. The token request fails with `invalid_client`
//! and the one sentence about the jwks_uri (the cause goes to the log
//! only: the endpoint is unauthenticated), within the fetch's 5 s bound;
//! the 50 MB are never buffered; other clients get tokens meanwhile.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use super::{RawServer, hold, timed};
use crate::util::{Emulator, plain, send, token_request};

const FIFTY_MB: usize = 50 * 1024 * 1024;

/// `/hang` reads the request and never answers; `/huge` streams 50 MB of
/// JSON-ish bytes without a length; `/loop` redirects to itself.
fn jwks_host(path: &str, stream: &mut TcpStream, stopping: &dyn Fn() -> bool) {
    match path {
        "/hang" => hold(stopping),
        "/huge" => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"keys\": [";
            let _ = stream.write_all(head.as_bytes());
            let filler = [b' '; 64 * 1024];
            let mut sent = 0;
            while sent < FIFTY_MB && stream.write_all(&filler).is_ok() {
                sent += filler.len();
            }
        }
        _ => {
            let _ = stream.write_all(b"HTTP/1.1 302 Found\r\nlocation: /loop\r\ncontent-length: 0\r\n\r\n");
            // Keep-alive: the next hop may come on this connection.
            while super::read_head(stream).is_some() {
                let _ = stream.write_all(b"HTTP/1.1 302 Found\r\nlocation: /loop\r\ncontent-length: 0\r\n\r\n");
            }
        }
    }
}

/// The sandbox's peak resident memory (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn a_hanging_huge_or_looping_jwks_uri_fails_the_token_request_in_bounded_time() {
    let host = RawServer::start(jwks_host);
    let tmp = tempfile::tempdir().unwrap();
    let mut config = String::new();
    for case in ["hang", "huge", "loop"] {
        config += &format!(
            "[[clients]]\nid = \"{case}\"\nauth_method = \"private_key_jwt\"\njwks_uri = \"http://{}/{case}\"\n",
            host.addr
        );
    }
    std::fs::write(tmp.path().join("c.toml"), config).unwrap();
    crate::util::copy_template_to(&tmp.path().join("s"));
    let emu = Emulator::start_in(
        &tmp.path().join("s"),
        &["--config", tmp.path().join("c.toml").to_str().unwrap()],
    );
    let url = emu.info.token_endpoint.clone();
    let key_pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let key = EncodingKey::from_ec_pem(key_pem.as_bytes()).unwrap();
    let request = |client: &str| {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({"iss": client, "sub": client, "aud": url, "exp": now + 60, "jti": client});
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("k".into());
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            (
                "client_assertion",
                jsonwebtoken::encode(&header, &claims, &key).unwrap(),
            ),
        ];
        let http = plain(&emu);
        let url = url.clone();
        move || send(http.post(url).form(&form))
    };
    let assert_refused = |case: &str, (status, body, _): crate::util::Reply| {
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{case}: {body}"
        );
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.contains("jwks_uri") && description.contains(case),
            "{case}: {description}"
        );
    };

    let hanging = std::thread::spawn({
        let call = request("hang");
        move || {
            timed(
                "time to error, jwks_uri that never answers",
                Duration::from_secs(8),
                call,
            )
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    // Meanwhile, other clients are served at once.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", emu.info.client_secret.as_str()),
        ("scope", "api"),
    ];
    let ((status, body, _), _) = timed("another token request during the hang", Duration::from_secs(1), || {
        token_request(&plain(&emu), &url, &form)
    });
    assert_eq!(status, 200, "{body}");
    let (reply, took) = hanging.join().unwrap();
    assert_refused("hang", reply);
    assert!(
        took >= Duration::from_secs(4),
        "the fetch's own 5 s timeout ended it: {took:?}"
    );

    let before = peak_rss(emu.info.pid);
    let (reply, _) = timed(
        "time to error, jwks_uri answering 50 MB",
        Duration::from_secs(5),
        request("huge"),
    );
    assert_refused("huge", reply);
    let grew = peak_rss(emu.info.pid).saturating_sub(before);
    assert!(
        grew < 16 * 1024 * 1024,
        "peak memory grew by {grew} bytes: the 50 MB were buffered"
    );

    let (reply, _) = timed(
        "time to error, jwks_uri redirecting in a loop",
        Duration::from_secs(5),
        request("loop"),
    );
    assert_refused("loop", reply);

    for (case, why) in [("hang", "timed out"), ("huge", "larger than"), ("loop", "redirect")] {
        let line = emu.log_line(&format!("client_id=\"{case}\""));
        assert!(line.contains(why), "the log says why for {case}: {line}");
    }
}

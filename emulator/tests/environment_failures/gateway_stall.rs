//! A gateway upstream that sends its response head and part of the body,
//! then nothing. Decision (README, gateway): the status has already gone
//! to the client, so the response is cut short after the route's
//! `timeout_ms` of silence — the client sees an incomplete body, never a
//! hang — and other requests through the gateway are served meanwhile.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use super::{RawServer, hold, timed};
use crate::gateway::start_with_config;
use crate::util::{block_on, with_app_cert};

/// `/slow…` sends its head (Content-Length 100) and 12 bytes, then stays
/// silent with the connection open; anything else is answered in full.
fn stalling_upstream(path: &str, stream: &mut TcpStream, stopping: &dyn Fn() -> bool) {
    if path.starts_with("/slow") {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"partial\": ",
        );
        let _ = stream.flush();
        hold(stopping);
    } else {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}");
    }
}

#[test]
fn an_upstream_stalling_mid_body_cuts_the_response_and_others_are_served() {
    let upstream = RawServer::start(stalling_upstream);
    let (emu, _tmp) = start_with_config(&format!(
        "[[gateway]]\nprefix = \"/\"\nupstream = \"http://{}\"\nrequire_token = false\ntimeout_ms = 1000\n",
        upstream.addr
    ));
    let mtls = with_app_cert(&emu);
    let slow = {
        let (mtls, url) = (mtls.clone(), format!("{}/slow/report", emu.info.mtls_url));
        std::thread::spawn(move || {
            timed(
                "time to error, gateway upstream stalled mid-body",
                Duration::from_secs(5),
                || {
                    block_on(async {
                        let response = mtls.get(url).send().await.expect("the head arrives");
                        (response.status().as_u16(), response.bytes().await)
                    })
                },
            )
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    // Meanwhile the gateway serves other requests at once.
    let ((status, body), _) = timed(
        "another gateway request during the stall",
        Duration::from_millis(900),
        || {
            block_on(async {
                let response = mtls.get(format!("{}/fast", emu.info.mtls_url)).send().await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            })
        },
    );
    assert_eq!((status, body.as_str()), (200, r#"{"ok":true}"#));

    let ((status, body), took) = slow.join().unwrap();
    assert_eq!(status, 200, "the head was forwarded before the stall");
    let err = body.expect_err("a body cut short is an error, not a complete response");
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    assert!(
        took >= Duration::from_millis(1000),
        "cut after timeout_ms, not before: {took:?}"
    );
    let line = emu.log_line("in the middle of its response body");
    assert!(
        line.contains(&upstream.addr.to_string()) && line.contains("timeout_ms"),
        "{line}"
    );

    // And after it, the gateway still answers.
    let (status, _, _) = crate::util::send(mtls.get(format!("{}/fast", emu.info.mtls_url)));
    assert_eq!(status, 200);
}

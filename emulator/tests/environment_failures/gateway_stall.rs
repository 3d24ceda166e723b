//! A gateway upstream that sends its response head and part of the body,
//! then nothing. Decision (README, gateway): the status has already gone
//! to the client, so the response is cut short after the route's
//! `timeout_ms` of silence — the client sees an incomplete body, never a
//! hang — and other requests through the gateway are served meanwhile.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::timed;
use crate::gateway::start_with_config;
use crate::util::{block_on, with_app_cert};

/// A raw HTTP/1.1 upstream: `/slow…` sends its head (Content-Length 100)
/// and 12 bytes, then stays silent until dropped; anything else is answered
/// in full.
struct StallingUpstream {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
}

impl StallingUpstream {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let flag = flag.clone();
                        std::thread::spawn(move || serve(stream, &flag));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Self { addr, stop }
    }
}

impl Drop for StallingUpstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut stream: TcpStream, stop: &AtomicBool) {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head);
    if head.split_whitespace().nth(1).unwrap_or("").starts_with("/slow") {
        let _ = stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"partial\": ",
        );
        let _ = stream.flush();
        // Silent, connection open, until the test ends.
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}");
    }
}

#[test]
fn an_upstream_stalling_mid_body_cuts_the_response_and_others_are_served() {
    let upstream = StallingUpstream::start();
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

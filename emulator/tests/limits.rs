//! Slowloris: 1,000 connections held open without finishing anything must
//! not stop a new client from being served. Oversized request heads are
//! refused at the documented limits, with a JSON body that says which.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use mtls_sandbox::limits::{MAX_HEAD_BYTES, MAX_HEADERS};

use crate::util::{Emulator, block_on, plain, send, with_app_cert};

fn port(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn a_thousand_idle_connections_do_not_starve_a_new_client() {
    let emu = Emulator::start(&[]);
    let roots = mtls_sandbox::pki::certs_from_pem(&emu.read("lean_public_cert_chain.pem"), "ca").unwrap();
    let tls = Arc::new(mtls_sandbox::tls::client_config(roots, None).unwrap());
    let (sandbox, mtls, auth) = (
        port(&emu.info.sandbox_url),
        port(&emu.info.mtls_url),
        port(&emu.info.auth_url),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let held = rt.block_on(async {
        let mut held = Vec::new();
        for i in 0..1000u16 {
            let target = [sandbox, mtls, auth][usize::from(i % 3)];
            let mut tcp = TcpStream::connect(("127.0.0.1", target)).await.unwrap();
            match i % 4 {
                // Connect and say nothing.
                0 => held.push(Box::new(tcp) as Box<dyn std::any::Any + Send>),
                // Start a ClientHello and stall.
                1 => {
                    tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).await.unwrap();
                    held.push(Box::new(tcp));
                }
                // Finish TLS, then send half a request head and stall (classic slowloris).
                _ if target == sandbox || target == auth => {
                    let connector = tokio_rustls::TlsConnector::from(tls.clone());
                    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                    let mut stream = connector.connect(name, tcp).await.unwrap();
                    stream
                        .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                        .await
                        .unwrap();
                    held.push(Box::new(stream));
                }
                _ => held.push(Box::new(tcp)),
            }
        }
        held
    });
    assert_eq!(held.len(), 1000);

    let started = Instant::now();
    let (http, mtls_client) = (plain(&emu), with_app_cert(&emu));
    let statuses = block_on(async {
        let mut statuses = Vec::new();
        for (client, url) in [
            (&http, &emu.info.sandbox_url),
            (&mtls_client, &emu.info.mtls_url),
            (&http, &emu.info.auth_url),
        ] {
            let resp = client
                .get(format!("{url}/health"))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .unwrap();
            statuses.push(resp.status().as_u16());
        }
        statuses
    });
    let elapsed = started.elapsed();
    assert_eq!(statuses, [200, 200, 200]);
    eprintln!("slowloris: 1,000 idle connections held; a new client was served on all three hosts in {elapsed:?}");
    drop(held);
    drop(rt);
    assert!(!emu.log().contains("panicked"));
}

#[test]
fn oversized_request_heads_get_431_with_a_json_explanation() {
    let emu = Emulator::start(&[]);
    let http = plain(&emu);
    for base in [&emu.info.sandbox_url, &emu.info.auth_url] {
        let health = format!("{base}/health");
        let fits = send(http.get(&health).header("x-big", "a".repeat(MAX_HEAD_BYTES - 1024)));
        assert_eq!(fits.0, 200, "a head under the limit is served");

        let (status, body, _) = send(http.get(&health).header("x-big", "a".repeat(MAX_HEAD_BYTES + 1024)));
        assert_eq!(status, 431);
        assert_eq!(body["status"], "REQUEST_HEADER_FIELDS_TOO_LARGE", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.contains(&format!("at most {MAX_HEAD_BYTES}")), "{message}");

        let mut many = http.get(&health);
        for i in 0..=MAX_HEADERS {
            many = many.header(format!("x-h{i}"), "v");
        }
        let (status, body, _) = send(many);
        assert_eq!(status, 431);
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(&format!("at most {MAX_HEADERS}")),
            "{body}"
        );
    }
    assert!(
        emu.log().contains("GET /health -> 431"),
        "refusals are in the access log"
    );
}

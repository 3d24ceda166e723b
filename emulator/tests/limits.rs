//! Slowloris: 1,000 connections held open without finishing anything must
//! not stop a new client from being served.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::util::{Emulator, block_on, plain, with_app_cert};

fn port(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn a_thousand_idle_connections_do_not_starve_a_new_client() {
    let emu = Emulator::start(&[]);
    let roots = {
        let mut store = rustls::RootCertStore::empty();
        for cert in mtls_sandbox::pki::certs_from_pem(&emu.read("lean_public_cert_chain.pem"), "ca").unwrap() {
            store.add(cert).unwrap();
        }
        store
    };
    let tls = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
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

//! A webhook receiver for the tests: a small HTTP(S) server on
//! 127.0.0.1:0, on its own thread and runtime, that records every POST and
//! answers from a script of statuses (200 once the script is used up).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::Value;

/// One POST as the receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Value,
}

#[derive(Default)]
struct Log {
    received: Vec<Received>,
    /// Statuses to answer, in order; 200 once empty.
    script: VecDeque<u16>,
}

/// A webhook receiver on its own thread and runtime.
pub struct Receiver {
    pub url: String,
    log: Arc<Mutex<Log>>,
}

impl Receiver {
    pub fn start(script: &[u16]) -> Self {
        Self::serve(script, None)
    }

    /// Serves HTTPS with `chain_pem` and `key_pem`, at `https://localhost:PORT`.
    pub fn start_tls(script: &[u16], chain_pem: &str, key_pem: &str) -> Self {
        let certs = mtls_sandbox::pki::certs_from_pem(chain_pem, "receiver chain").unwrap();
        let key = mtls_sandbox::pki::key_from_pem(key_pem, "receiver key").unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self::serve(script, Some(Arc::new(config)))
    }

    fn serve(script: &[u16], tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let log = Arc::new(Mutex::new(Log {
            received: Vec::new(),
            script: script.iter().copied().collect(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}/hooks"),
            None => format!("http://127.0.0.1:{port}/hooks?token=s3cret"),
        };
        let shared = log.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let app = axum::Router::new().route(
                    "/hooks",
                    axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                        let log = shared.clone();
                        async move {
                            let mut log = log.lock().unwrap();
                            log.received.push(Received {
                                headers,
                                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
                            });
                            let status = log.script.pop_front().unwrap_or(200);
                            axum::http::StatusCode::from_u16(status).unwrap()
                        }
                    }),
                );
                match tls {
                    Some(config) => {
                        let config = axum_server::tls_rustls::RustlsConfig::from_config(config);
                        axum_server::tls_rustls::from_tcp_rustls(listener, config)
                            .unwrap()
                            .serve(app.into_make_service())
                            .await
                            .unwrap();
                    }
                    None => {
                        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                        axum::serve(listener, app).await.unwrap();
                    }
                }
            });
        });
        Self { url, log }
    }

    /// What has arrived so far.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().received.clone()
    }

    /// Waits until `n` requests have arrived and returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let received = self.log.lock().unwrap().received.clone();
            if received.len() >= n {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "got {} of {n} webhooks: {received:?}",
                received.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

pub fn header<'a>(r: &'a Received, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

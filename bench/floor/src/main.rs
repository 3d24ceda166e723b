//! The stack's floor: a server on the product's named crates (tokio, axum,
//! axum-server, rustls and aws-lc-rs, rcgen, serde_json) that does only what
//! the bench's rows measure, and nothing a sandbox must do besides. Issue
//! #15 asks the sandbox for ratios against nginx and `openssl speed`; this
//! answers how much of each target the stack itself leaves room for.
//!
//! - `GET /banks/v1`: mTLS (client certificate verified against the CA the
//!   sandbox issued it from), one header compared, a fixed JSON body;
//! - `POST /token`: a signed JWT (PS256 or ES256) of the sandbox's shape,
//!   with no client authentication, storage, or logging. Signed with a key
//!   parsed once, as the sandbox's `oauth/signer.rs` does (jsonwebtoken
//!   parses its key again for every signature: 1,826 PS256 tokens/s here
//!   against the sandbox's 4,068).
//!
//! Usage: `stack-floor CERT KEY CLIENT_CA PAYLOAD APP_TOKEN PS256|ES256`;
//! binds 127.0.0.1 on a free port and prints it on stdout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, RsaKeyPair};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_server::tls_rustls::RustlsConfig;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

struct Floor {
    payload: axum::body::Bytes,
    app_token: String,
    key: Key,
    /// The JWT's header, base64url-encoded once.
    header: String,
    issued: AtomicU64,
}

enum Key {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl Key {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, aws_lc_rs::error::Unspecified> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match self {
            Key::Rsa(key) => {
                let mut out = vec![0; key.public_modulus_len()];
                key.sign(&sig::RSA_PSS_SHA256, &rng, message, &mut out)?;
                Ok(out)
            }
            Key::Ec(key) => Ok(key.sign(&rng, message)?.as_ref().to_vec()),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cert, tls_key, client_ca, payload, app_token, alg] = args.as_slice() else {
        return Err("usage: stack-floor CERT KEY CLIENT_CA PAYLOAD APP_TOKEN PS256|ES256".into());
    };
    let key = match alg.as_str() {
        "PS256" => Key::Rsa(RsaKeyPair::from_pkcs8(
            &rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256)?.serialize_der(),
        )?),
        "ES256" => Key::Ec(EcdsaKeyPair::from_pkcs8(
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?.serialize_der(),
        )?),
        other => return Err(format!("unknown algorithm {other}").into()),
    };
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
    let floor = Arc::new(Floor {
        payload: std::fs::read(payload)?.into(),
        app_token: app_token.clone(),
        key,
        header,
        issued: AtomicU64::new(0),
    });

    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(client_ca)? {
        roots.add(ca?)?;
    }
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots)).build()?;
    let chain = CertificateDer::pem_file_iter(cert)?.collect::<Result<Vec<_>, _>>()?;
    let mut tls = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, PrivateKeyDer::from_pem_file(tls_key)?)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];

    let app = axum::Router::new()
        .route("/banks/v1", get(banks))
        .route("/token", post(token))
        .with_state(floor);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    println!("{}", listener.local_addr()?.port());
    tokio::runtime::Runtime::new()?.block_on(async move {
        let mut server = axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(Arc::new(tls)))?;
        // HTTP/1.1 only (ALPN offers nothing else): no HTTP/2 preface detection.
        let http1 = server.http_builder().clone().http1_only();
        *server.http_builder() = http1;
        server.serve(app.into_make_service()).await
    })?;
    Ok(())
}

async fn banks(axum::extract::State(floor): axum::extract::State<Arc<Floor>>, headers: HeaderMap) -> Response {
    if headers.get("lean-app-token").map(|v| v.as_bytes()) != Some(floor.app_token.as_bytes()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], floor.payload.clone()).into_response()
}

async fn token(axum::extract::State(floor): axum::extract::State<Arc<Floor>>, _body: axum::body::Bytes) -> Response {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let claims = serde_json::json!({
        "iss": "https://127.0.0.1/", "sub": "floor", "aud": "https://127.0.0.1/",
        "client_id": "floor", "scope": "api", "iat": now, "exp": now + 3600,
        "jti": floor.issued.fetch_add(1, Ordering::Relaxed).to_string(),
    });
    let mut jwt = format!("{}.{}", floor.header, URL_SAFE_NO_PAD.encode(claims.to_string()));
    match floor.key.sign(jwt.as_bytes()) {
        Ok(signature) => {
            jwt.push('.');
            URL_SAFE_NO_PAD.encode_string(signature, &mut jwt);
            axum::Json(serde_json::json!({
                "access_token": jwt,
                "token_type": "Bearer", "expires_in": 3600,
            }))
            .into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

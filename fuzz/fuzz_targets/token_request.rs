//! The token endpoint's request handling without the network: form body,
//! Basic header, claimed client id, and the client-authentication decision
//! (secret, HS256 client assertion) against fixed registrations.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use mtls_sandbox::entropy::Entropy;
use mtls_sandbox::oauth::client::{AuthMethod, Client, SecretRecord, TokenFormat};
use mtls_sandbox::oauth::client_auth::{self, AuthContext, Presented};
use mtls_sandbox::oauth::endpoints::Form;
use rustls::server::danger::ClientCertVerifier;

fn verifier() -> &'static Arc<dyn ClientCertVerifier> {
    static V: OnceLock<Arc<dyn ClientCertVerifier>> = OnceLock::new();
    V.get_or_init(|| {
        let h = mtls_sandbox::pki::create_hierarchy("fuzz@host", time::OffsetDateTime::now_utc()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(h.root.cert_der().unwrap()).unwrap();
        rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .build()
        .unwrap()
    })
}

fn client(method: AuthMethod) -> Client {
    Client {
        client_id: "c1".into(),
        name: "fuzz".into(),
        auth_method: method,
        scopes: vec!["api".into()],
        secrets: vec![SecretRecord::new("s", "s3cret", true, &Entropy::SYSTEM)],
        tls_subject_dn: Some("CN=c1".into()),
        jwks: None,
        jwks_uri: None,
        certificates: vec![],
        token_format: TokenFormat::Jwt,
        static_client: true,
    }
}

fuzz_target!(|data: &[u8]| {
    // First line: the Authorization header; the rest: the form body.
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (auth, body) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
    let Ok(form) = Form::parse(&headers, body) else { return };
    let basic = std::str::from_utf8(auth).ok().filter(|a| !a.is_empty()).map(client_auth::parse_basic);
    let basic = match basic {
        Some(Ok(b)) => Some(b),
        Some(Err(_)) => return,
        None => None,
    };
    let presented = Presented {
        basic,
        client_id: form.get("client_id").map(str::to_owned),
        client_secret: form.get("client_secret").map(str::to_owned),
        assertion_type: form.get("client_assertion_type").map(str::to_owned),
        assertion: form.get("client_assertion").map(str::to_owned),
        peer_chain: vec![],
        chain_verified: false,
    };
    let _ = client_auth::claimed_client_id(&presented);
    let audiences = vec!["https://127.0.0.1:4445/oauth2/token".to_owned()];
    let first_use = |_: &str, _: &str, _: i64| Ok(true);
    let cx = AuthContext {
        ca_verifier: verifier().as_ref(),
        audiences: &audiences,
        now: time::OffsetDateTime::now_utc(),
        first_use: &first_use,
    };
    for method in [AuthMethod::ClientSecretPost, AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretJwt, AuthMethod::TlsClientAuth] {
        let _ = client_auth::authenticate(&presented, &client(method), &cx);
    }
});

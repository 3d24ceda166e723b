//! Every client-authentication method: success and each way it fails.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{EncodingKey, Header};
use rustls::server::WebPkiClientVerifier;
use serde_json::json;

use super::*;
use crate::oauth::client::{SecretRecord, TokenFormat};
use crate::pki::{self, ClientCertSpec};

const AUD: &str = "https://127.0.0.1:4445/oauth2/token";

fn client(method: AuthMethod) -> Client {
    Client {
        client_id: "c1".into(),
        name: "test".into(),
        auth_method: method,
        scopes: vec!["api".into()],
        secrets: vec![SecretRecord::new("s", "s3cret", true, &crate::entropy::Entropy::SYSTEM)],
        tls_subject_dn: None,
        jwks: None,
        jwks_uri: None,
        certificates: vec![],
        token_format: TokenFormat::Jwt,
        static_client: true,
        app: None,
    }
}

struct Fixture {
    hierarchy: pki::Hierarchy,
    verifier: Arc<dyn ClientCertVerifier>,
    audiences: Vec<String>,
    used: RefCell<HashSet<String>>,
    certs: CertMemo,
}

impl Fixture {
    fn new() -> Self {
        let hierarchy = pki::create_hierarchy("t@h", OffsetDateTime::now_utc()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(hierarchy.root.cert_der().unwrap()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        Self {
            hierarchy,
            verifier,
            audiences: vec![AUD.into()],
            used: RefCell::default(),
            certs: CertMemo::default(),
        }
    }

    fn run(&self, p: &Presented, c: &Client) -> Result<Authenticated, OAuthError> {
        let first_use =
            |client: &str, jti: &str, _exp: i64| Ok(self.used.borrow_mut().insert(format!("{client}/{jti}")));
        let cx = AuthContext {
            ca_verifier: self.verifier.as_ref(),
            certs: &self.certs,
            audiences: &self.audiences,
            now: OffsetDateTime::now_utc(),
            first_use: &first_use,
            secret_verdict: None,
        };
        authenticate(p, c.clone(), &cx)
    }

    /// (leaf DER, intermediate DER, subject) of a client cert from this CA.
    fn issued(&self, cn: &str) -> (Vec<u8>, Vec<u8>, String) {
        let ca = pki::Ca::load(self.hierarchy.intermediate.clone()).unwrap();
        let leaf = ca
            .issue_client(&ClientCertSpec::new(cn, OffsetDateTime::now_utc()))
            .unwrap();
        let der = leaf.cert_der().unwrap().to_vec();
        let subject = subject_of(&der).unwrap();
        (der, self.hierarchy.intermediate.cert_der().unwrap().to_vec(), subject)
    }
}

fn assertion(key: &EncodingKey, header: Header, claims: serde_json::Value) -> Presented {
    Presented {
        assertion_type: Some(JWT_BEARER.into()),
        assertion: Some(jsonwebtoken::encode(&header, &claims, key).unwrap()),
        ..Default::default()
    }
}

fn claims(aud: &str, exp_in: i64, jti: &str) -> serde_json::Value {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    json!({"iss": "c1", "sub": "c1", "aud": aud, "exp": now + exp_in, "iat": now, "jti": jti})
}

fn code(r: Result<Authenticated, OAuthError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{}: {}", e.code, e.description),
    }
}

#[test]
fn client_secret_basic_and_post() {
    let f = Fixture::new();
    let basic = |secret: &str| Presented {
        basic: Some(("c1".into(), secret.into())),
        ..Default::default()
    };
    let post = |secret: &str| Presented {
        client_id: Some("c1".into()),
        client_secret: Some(secret.into()),
        ..Default::default()
    };
    let basic_client = client(AuthMethod::ClientSecretBasic);
    let post_client = client(AuthMethod::ClientSecretPost);
    assert_eq!(code(f.run(&basic("s3cret"), &basic_client)), "ok");
    assert_eq!(code(f.run(&post("s3cret"), &post_client)), "ok");
    assert!(code(f.run(&basic("nope"), &basic_client)).starts_with("invalid_client: wrong client_secret"));
    assert!(code(f.run(&post("s3cret"), &basic_client)).contains("registered for client_secret_basic"));
    assert!(code(f.run(&basic("s3cret"), &post_client)).contains("registered for client_secret_post"));
    let mixed = Presented {
        basic: Some(("c1".into(), "s3cret".into())),
        client_secret: Some("s3cret".into()),
        ..Default::default()
    };
    assert!(code(f.run(&mixed, &post_client)).starts_with("invalid_request: multiple client authentication methods"));
    assert!(code(f.run(&Presented::default(), &post_client)).contains("used no credentials"));
}

#[test]
fn client_secret_jwt_checks_signature_audience_expiry_and_replay() {
    let f = Fixture::new();
    let c = client(AuthMethod::ClientSecretJwt);
    let key = EncodingKey::from_secret(b"s3cret");
    let hs = || Header::new(Algorithm::HS256);
    assert_eq!(code(f.run(&assertion(&key, hs(), claims(AUD, 60, "a1")), &c)), "ok");
    assert!(code(f.run(&assertion(&key, hs(), claims(AUD, 60, "a1")), &c)).contains("already used (replay)"));
    assert!(
        code(f.run(&assertion(&key, hs(), claims("https://elsewhere", 60, "a2")), &c))
            .contains("must contain the token endpoint")
    );
    assert!(code(f.run(&assertion(&key, hs(), claims(AUD, -CLOCK_SKEW - 5, "a3")), &c)).contains("expired"));
    assert!(code(f.run(&assertion(&key, hs(), claims(AUD, 7200, "a4")), &c)).contains("seconds ahead"));
    let wrong = EncodingKey::from_secret(b"other");
    assert!(code(f.run(&assertion(&wrong, hs(), claims(AUD, 60, "a5")), &c)).contains("signature does not verify"));
    let mut other_sub = claims(AUD, 60, "a6");
    other_sub["iss"] = "someone".into();
    assert!(code(f.run(&assertion(&key, hs(), other_sub), &c)).contains("iss and sub"));
    let no_jti = json!({"iss": "c1", "sub": "c1", "aud": AUD, "exp": OffsetDateTime::now_utc().unix_timestamp() + 60});
    assert!(code(f.run(&assertion(&key, hs(), no_jti), &c)).contains("no jti"));
    let mut p = assertion(&key, hs(), claims(AUD, 60, "a7"));
    p.assertion_type = Some("urn:other".into());
    assert!(code(f.run(&p, &c)).starts_with("invalid_request"));
}

#[test]
fn each_assertion_claim_is_checked_and_named_within_the_clock_skew() {
    let f = Fixture::new();
    let c = client(AuthMethod::ClientSecretJwt);
    let key = EncodingKey::from_secret(b"s3cret");
    let run = |claims: serde_json::Value| code(f.run(&assertion(&key, Header::new(Algorithm::HS256), claims), &c));
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let with = |jti: &str, claim: &str, value: serde_json::Value| {
        let mut c = claims(AUD, 60, jti);
        c[claim] = value;
        c
    };
    let without = |jti: &str, claim: &str| {
        let mut c = claims(AUD, 60, jti);
        c.as_object_mut().unwrap().remove(claim);
        c
    };
    let refusals = [
        (
            with("n1", "nbf", json!(now + 3000)),
            "nbf is 3000 seconds in the future",
        ),
        (
            with("n2", "iat", json!(now + 86_400)),
            "iat is 86400 seconds in the future",
        ),
        (with("n3", "jti", json!("")), "jti is empty"),
        (with("n4", "exp", json!("soon")), "wrong types"),
        (without("n5", "exp"), "no exp claim"),
        (without("n6", "aud"), "no aud claim"),
        (without("n7", "iss"), "no iss claim"),
        (without("n8", "sub"), "no sub claim"),
    ];
    for (claims, needle) in refusals {
        let refused = run(claims.clone());
        assert!(
            refused.starts_with("invalid_client: client_assertion refused: ") && refused.contains(needle),
            "{claims}: {refused}"
        );
        assert!(!refused.contains("signature"), "{refused}");
    }
    // A client clock a little off is tolerated.
    let skewed = with("s1", "nbf", json!(now + CLOCK_SKEW - 10));
    assert_eq!(run(skewed), "ok");
    assert_eq!(run(with("s2", "iat", json!(now + CLOCK_SKEW - 10))), "ok");
    assert_eq!(run(with("s3", "exp", json!(now - CLOCK_SKEW + 10))), "ok");
}

#[test]
fn a_jwk_registered_with_an_alg_verifies_only_that_alg() {
    let f = Fixture::new();
    let pem = crate::oauth::keys::SigningAlg::PS256.generate_pem().unwrap();
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap();
    let registered = |alg: Algorithm| {
        let mut c = client(AuthMethod::PrivateKeyJwt);
        let jwk = Jwk::from_encoding_key(&key, alg).unwrap();
        c.jwks = Some(serde_json::to_value(JwkSet { keys: vec![jwk] }).unwrap());
        c
    };
    let rs256 = registered(Algorithm::RS256);
    let signed = |alg: Algorithm, jti: &str| assertion(&key, Header::new(alg), claims(AUD, 60, jti));
    assert_eq!(code(f.run(&signed(Algorithm::RS256, "r1"), &rs256)), "ok");
    let refused = code(f.run(&signed(Algorithm::PS256, "r2"), &rs256));
    assert!(
        refused.contains("alg PS256 is not the alg registered with the client's key (RS256)"),
        "{refused}"
    );
    let mut any_alg = rs256.clone();
    any_alg.jwks.as_mut().unwrap()["keys"][0]
        .as_object_mut()
        .unwrap()
        .remove("alg");
    assert_eq!(code(f.run(&signed(Algorithm::PS256, "r3"), &any_alg)), "ok");
}

#[test]
fn private_key_jwt_uses_the_registered_jwks() {
    let f = Fixture::new();
    let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("k1".into());
    let mut c = client(AuthMethod::PrivateKeyJwt);
    c.jwks = Some(serde_json::to_value(JwkSet { keys: vec![jwk] }).unwrap());
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("k1".into());
    assert_eq!(
        code(f.run(&assertion(&key, header.clone(), claims(AUD, 60, "p1")), &c)),
        "ok"
    );

    let stranger_pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let stranger = EncodingKey::from_ec_pem(stranger_pem.as_bytes()).unwrap();
    assert!(
        code(f.run(&assertion(&stranger, header, claims(AUD, 60, "p2")), &c)).contains("signature does not verify")
    );
    let mut unknown = Header::new(Algorithm::ES256);
    unknown.kid = Some("k9".into());
    let refused = code(f.run(&assertion(&key, unknown, claims(AUD, 60, "p4")), &c));
    assert!(
        refused.contains("kid 'k9' matches no key registered for client 'c1' (its registered kids are 'k1')"),
        "{refused}"
    );
    assert!(!refused.contains("signature does not verify"), "{refused}");
    let mut no_kids = c.clone();
    let mut kidless = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    kidless.common.key_id = None;
    no_kids.jwks = Some(serde_json::to_value(JwkSet { keys: vec![kidless] }).unwrap());
    let mut k1 = Header::new(Algorithm::ES256);
    k1.kid = Some("k1".into());
    let refused = code(f.run(&assertion(&key, k1, claims(AUD, 60, "p5")), &no_kids));
    assert!(refused.contains("its registered keys have no kid"), "{refused}");
    let hs = assertion(
        &EncodingKey::from_secret(b"x"),
        Header::new(Algorithm::HS256),
        claims(AUD, 60, "p3"),
    );
    assert!(code(f.run(&hs, &c)).contains("must be RS256, PS256 or ES256"));
}

#[test]
fn tls_client_auth_needs_the_sandbox_ca_and_the_registered_subject() {
    let f = Fixture::new();
    let (leaf, intermediate, subject) = f.issued("partner");
    let mut c = client(AuthMethod::TlsClientAuth);
    let mut parts: Vec<&str> = subject.split(", ").collect();
    parts.reverse();
    c.tls_subject_dn = Some(parts.join(","));
    let with_chain = Presented {
        client_id: Some("c1".into()),
        peer_chain: vec![leaf.clone(), intermediate.clone()],
        ..Default::default()
    };
    let ok = f.run(&with_chain, &c).unwrap();
    assert_eq!(ok.thumbprint, Some(x5t_s256(&leaf)));

    let bare = Presented {
        client_id: Some("c1".into()),
        peer_chain: vec![leaf.clone()],
        ..Default::default()
    };
    assert!(code(f.run(&bare, &c)).contains("does not chain to the sandbox CA"));
    // `openssl req -x509`'s default: self-signed with CA:TRUE, refused by
    // webpki through rustls' `Other(OtherError(..))`.
    let mut params = rcgen::CertificateParams::new(vec!["partner".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = rcgen::KeyPair::generate().unwrap();
    let self_signed_ca = Presented {
        client_id: Some("c1".into()),
        peer_chain: vec![params.self_signed(&key).unwrap().der().to_vec()],
        ..Default::default()
    };
    let refused = code(f.run(&self_signed_ca, &c));
    assert!(
        refused.contains("is a CA certificate") && refused.contains(" Fix: "),
        "{refused}"
    );
    assert!(!refused.contains("OtherError"), "{refused}");
    // On the mtls host the handshake has verified the chain already.
    let verified = Presented {
        chain_verified: true,
        ..bare
    };
    assert_eq!(code(f.run(&verified, &c)), "ok");

    let (other_leaf, _, _) = f.issued("someone-else");
    let other = Presented {
        client_id: Some("c1".into()),
        peer_chain: vec![other_leaf, intermediate.clone()],
        ..Default::default()
    };
    assert!(code(f.run(&other, &c)).contains("is not the one registered"));

    // #18 item 11: RDN order counts, values compare case-insensitively.
    let der_order = subject.clone();
    let mut reordered = c.clone();
    reordered.tls_subject_dn = Some(der_order);
    let refused = code(f.run(&verified, &reordered));
    assert!(refused.contains("in another order"), "{refused}");
    let mut shouted = c.clone();
    shouted.tls_subject_dn = Some(c.tls_subject_dn.clone().unwrap().to_uppercase().replace("CN=", "cn="));
    assert_eq!(code(f.run(&verified, &shouted)), "ok");
    let mut garbage = c.clone();
    garbage.tls_subject_dn = Some(format!("{},garbage", c.tls_subject_dn.clone().unwrap()));
    assert!(code(f.run(&verified, &garbage)).contains("is malformed"));

    let none = Presented {
        client_id: Some("c1".into()),
        ..Default::default()
    };
    assert!(code(f.run(&none, &c)).contains("presented none"));
    let with_secret = Presented {
        client_id: Some("c1".into()),
        client_secret: Some("s3cret".into()),
        peer_chain: vec![leaf, intermediate],
        ..Default::default()
    };
    assert!(code(f.run(&with_secret, &c)).contains("registered for tls_client_auth"));
}

#[test]
fn self_signed_tls_client_auth_matches_a_registered_certificate_or_key() {
    let f = Fixture::new();
    let mine = rcgen::generate_simple_self_signed(vec!["me".into()]).unwrap();
    let theirs = rcgen::generate_simple_self_signed(vec!["them".into()]).unwrap();
    let presented = |der: &[u8]| Presented {
        client_id: Some("c1".into()),
        peer_chain: vec![der.to_vec()],
        ..Default::default()
    };
    let mut by_cert = client(AuthMethod::SelfSignedTlsClientAuth);
    by_cert.certificates = vec![STANDARD.encode(mine.cert.der())];
    assert_eq!(code(f.run(&presented(mine.cert.der()), &by_cert)), "ok");
    assert!(code(f.run(&presented(theirs.cert.der()), &by_cert)).contains("is not registered"));

    let key = EncodingKey::from_ec_pem(mine.signing_key.serialize_pem().as_bytes()).unwrap();
    let mut by_key = client(AuthMethod::SelfSignedTlsClientAuth);
    by_key.jwks = Some(
        serde_json::to_value(JwkSet {
            keys: vec![Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap()],
        })
        .unwrap(),
    );
    assert_eq!(code(f.run(&presented(mine.cert.der()), &by_key)), "ok");
    assert!(code(f.run(&presented(theirs.cert.der()), &by_key)).contains("is not registered"));
}

#[test]
fn basic_header_parsing_and_claimed_ids() {
    let header = format!("Basic {}", STANDARD.encode("my%3Aclient:p%40ss+word"));
    assert_eq!(parse_basic(&header).unwrap(), ("my:client".into(), "p@ss word".into()));
    assert!(parse_basic("Basic !!!").is_err());
    assert!(
        parse_basic("Bearer abc")
            .unwrap_err()
            .description
            .contains("unsupported Authorization scheme")
    );

    let both = Presented {
        basic: Some(("a".into(), "x".into())),
        client_id: Some("b".into()),
        ..Default::default()
    };
    assert_eq!(claimed_client_id(&both).unwrap_err().code, "invalid_request");
    assert_eq!(
        claimed_client_id(&Presented::default()).unwrap_err().code,
        "invalid_client"
    );
}

#[test]
fn the_certificate_memo_gives_what_the_certificate_says_and_none_for_garbage() {
    let f = Fixture::new();
    let (leaf, _, _) = f.issued("memo");
    let (_, cert) = X509Certificate::from_der(&leaf).unwrap();
    let memo = CertMemo::default();
    for _ in 0..2 {
        assert_eq!(memo.thumbprint(&leaf), x5t_s256(&leaf));
        assert_eq!(memo.subject(&leaf).as_deref(), Some(&Dn::from_x509(cert.subject())));
    }
    assert_eq!(
        memo.subject(&leaf).unwrap().to_string(),
        "CN=memo,OU=Sandbox applications,O=mtls-sandbox (SANDBOX ONLY - not trusted anywhere)"
    );
    assert_eq!(memo.subject(b"not a certificate"), None);
}

#[test]
fn the_memo_parses_a_registered_dn_as_dn_parse_does_malformed_ones_included() {
    let memo = CertMemo::default();
    for text in ["CN=a, O=b", "CN=a,garbage", "", "CN=a+UID=b,O=c"] {
        for _ in 0..2 {
            assert_eq!(*memo.registered_subject(text), Dn::parse(text), "{text:?}");
        }
    }
}

/// The registered DN is parsed once and remembered: a malformed one is
/// refused the same way on every request, with why.
#[test]
fn a_malformed_registered_dn_is_refused_alike_on_every_request() {
    let f = Fixture::new();
    let (leaf, inter, der_order) = f.issued("again");
    let subject = der_order.rsplit(", ").collect::<Vec<_>>().join(",");
    let mut c = client(AuthMethod::TlsClientAuth);
    c.tls_subject_dn = Some(format!("{subject},garbage"));
    let p = Presented {
        client_id: Some("c1".into()),
        peer_chain: vec![leaf, inter],
        chain_verified: true,
        ..Default::default()
    };
    let first = f.run(&p, &c).unwrap_err();
    let why = Dn::parse(c.tls_subject_dn.as_deref().unwrap()).unwrap_err();
    assert!(
        first.description.contains(&format!("is malformed: {why}")),
        "{}",
        first.description
    );
    assert_eq!(f.run(&p, &c).unwrap_err().description, first.description);
    c.tls_subject_dn = Some(subject);
    assert!(f.run(&p, &c).is_ok(), "a corrected registration is another entry");
}

//! The behind-proxy decision without a proxy: who may forward, what a
//! forwarded chain must pass, and what each refusal says.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use super::*;
use crate::clock::Clock;
use crate::key_type::KeyType;
use crate::pki::{self, ClientCertSpec};
use crate::tls::{self, CaMaterial, TlsOptions};

struct Fixture {
    hierarchy: pki::Hierarchy,
    clock: Arc<Clock>,
    verifier: Arc<dyn ClientCertVerifier>,
    certs: ForwardedCerts,
}

const LOCAL: [u8; 4] = [127, 0, 0, 1];

impl Fixture {
    fn new(header: Option<&str>) -> Self {
        let hierarchy = pki::create_hierarchy("t@h", OffsetDateTime::now_utc()).unwrap();
        let ca = CaMaterial {
            root: hierarchy.root.cert_der().unwrap(),
            intermediate: hierarchy.intermediate.cert_der().unwrap(),
            crls: Vec::new(),
        };
        let clock = Arc::new(Clock::system());
        let opts = TlsOptions {
            clock: clock.clone(),
            ..TlsOptions::default()
        };
        let verifier = tls::sandbox_ca_verifier(&ca, &opts).unwrap();
        let settings = BehindProxy::from_section(ProxySection {
            trusted_proxies: vec!["127.0.0.1/32".into(), "::1".into()],
            client_cert_header: header.map(str::to_owned),
            client_cert_header_format: None,
        })
        .unwrap();
        let certs = ForwardedCerts::new(settings, &ca.intermediate);
        Self {
            hierarchy,
            clock,
            verifier,
            certs,
        }
    }

    fn leaf(&self, spec: ClientCertSpec) -> Vec<u8> {
        let ca = pki::Ca::load(self.hierarchy.intermediate.clone()).unwrap();
        let spec = spec.with_key_type(KeyType::P256);
        ca.issue_client(&spec).unwrap().cert_der().unwrap().to_vec()
    }

    fn resolve(&self, peer: [u8; 4], values: &[&[u8]], tls: bool) -> Result<Chain, ForwardedCertError> {
        let check = Check::Required {
            verifier: self.verifier.clone(),
            now: self.clock.now().unix_timestamp(),
        };
        self.certs.resolve(Some(IpAddr::from(peer)), values, tls, check)
    }
}

fn escaped(der: &[u8]) -> String {
    let pem = pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()));
    percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn a_leaf_from_a_trusted_proxy_is_completed_and_verified() {
    let f = Fixture::new(None);
    let leaf = f.leaf(ClientCertSpec::new("my_app", OffsetDateTime::now_utc()));
    let chain = f.resolve(LOCAL, &[escaped(&leaf).as_bytes()], false).unwrap();
    let intermediate = f.hierarchy.intermediate.cert_der().unwrap().to_vec();
    assert_eq!(chain, Chain::Forwarded(vec![leaf.clone(), intermediate]));
    // An IPv4 peer on a dual-stack socket is still 127.0.0.1.
    let mapped = IpAddr::from(std::net::Ipv4Addr::from(LOCAL).to_ipv6_mapped());
    assert!(f.certs.settings().trusts(mapped));
    // The auth host takes it unverified: the token endpoint judges it.
    let optional = f
        .certs
        .resolve(Some(mapped), &[escaped(&leaf).as_bytes()], false, Check::Optional);
    assert!(matches!(optional, Ok(Chain::Forwarded(_))));
}

#[test]
fn the_header_from_anyone_else_is_refused_with_the_way_out() {
    let f = Fixture::new(None);
    let leaf = f.leaf(ClientCertSpec::new("my_app", OffsetDateTime::now_utc()));
    let err = f
        .resolve([10, 1, 2, 3], &[escaped(&leaf).as_bytes()], true)
        .unwrap_err();
    assert!(matches!(err, ForwardedCertError::Untrusted { .. }));
    let text = err.to_string();
    assert!(
        text.contains("x-ssl-client-cert header but comes from 10.1.2.3")
            && text.contains("127.0.0.1/32, ::1/128")
            && text.contains("--trusted-proxy 10.1.2.3"),
        "{text}"
    );
    // Without the header, a direct client's own certificate counts.
    assert_eq!(f.resolve([10, 1, 2, 3], &[], true).unwrap(), Chain::Connection);
}

#[test]
fn no_certificate_is_explained_for_the_proxy_or_for_the_client() {
    let f = Fixture::new(None);
    let none = f.resolve(LOCAL, &[], false).unwrap_err().to_string();
    assert!(
        none.starts_with("your proxy forwarded no client certificate")
            && none.contains("proxy_set_header x-ssl-client-cert $ssl_client_escaped_cert;"),
        "{none}"
    );
    let direct = f.resolve([10, 0, 0, 1], &[], false).unwrap_err();
    assert_eq!(direct, ForwardedCertError::NoCertificate);
    let envoy = Fixture::new(Some("X-Forwarded-Client-Cert"));
    assert_eq!(envoy.certs.settings().format(), HeaderFormat::Xfcc);
    let none = envoy.resolve(LOCAL, &[], false).unwrap_err().to_string();
    assert!(none.contains("forward_client_cert_details: SANITIZE_SET"), "{none}");
}

#[test]
fn forwarded_chains_meet_the_same_rules_as_handshakes() {
    let f = Fixture::new(Some("x-forwarded-client-cert"));
    let now = OffsetDateTime::now_utc();
    let mut spec = ClientCertSpec::new("old_app", now - Duration::days(800));
    spec.not_after = now - Duration::days(1);
    let expired = f.leaf(spec);
    let value = format!("Hash=ab;Cert=\"{}\"", escaped(&expired));
    let err = f.resolve(LOCAL, &[value.as_bytes()], false).unwrap_err();
    let ForwardedCertError::Refused { failure, chain } = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(failure, HandshakeFailure::Expired { .. }), "{failure:?}");
    assert_eq!(chain.len(), 2, "completed with the intermediate");
    assert!(err.to_string().contains("your proxy forwarded is refused"), "{err}");

    // Envoy forwarded the client's whole chain: the chain rule applies as sent.
    let leaf = f.leaf(ClientCertSpec::new("my_app", now));
    let bare = format!("Cert=\"{0}\";Chain=\"{0}\"", escaped(&leaf));
    let err = f.resolve(LOCAL, &[bare.as_bytes()], false).unwrap_err();
    assert!(
        matches!(
            &err,
            ForwardedCertError::Refused {
                failure: HandshakeFailure::MissingIntermediate { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn unreadable_or_repeated_headers_name_the_proxy_setting() {
    let f = Fixture::new(None);
    let err = f.resolve(LOCAL, &[b"MIIBxyz"], false).unwrap_err().to_string();
    assert!(
        err.contains("x-ssl-client-cert header your proxy forwarded cannot be read")
            && err.contains("not $ssl_client_cert"),
        "{err}"
    );
    let err = f.resolve(LOCAL, &[b"a", b"b"], false).unwrap_err().to_string();
    assert!(err.contains("appears more than once"), "{err}");
}

#[test]
fn settings_name_the_bad_field() {
    let section = |trusted: &[&str], header: Option<&str>| ProxySection {
        trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
        client_cert_header: header.map(str::to_owned),
        client_cert_header_format: None,
    };
    let err = BehindProxy::from_section(section(&["10.0.0/8"], None)).unwrap_err();
    assert!(err.starts_with("trusted_proxies: '10.0.0/8' is not"), "{err}");
    let err = BehindProxy::from_section(section(&["10.0.0.0/8"], Some("bad header"))).unwrap_err();
    assert!(err.starts_with("client_cert_header: 'bad header'"), "{err}");
    let err = BehindProxy::from_section(section(&[], Some("x-cert"))).unwrap_err();
    assert!(
        err.contains("no trusted proxy") && err.contains("--trusted-proxy"),
        "{err}"
    );
    let on = BehindProxy::from_section(section(&["10.0.0.0/8", "192.168.1.5"], None)).unwrap();
    assert!(on.is_on() && on.trusts([192, 168, 1, 5].into()) && !on.trusts([192, 168, 1, 6].into()));
    assert_eq!(on.info().trusted_proxies, ["10.0.0.0/8", "192.168.1.5/32"]);
    assert!(!BehindProxy::default().is_on());
}

#[test]
fn a_verdict_is_reused_only_with_the_same_verifier_and_within_validity() {
    let f = Fixture::new(None);
    let leaf = f.leaf(ClientCertSpec::new("my_app", OffsetDateTime::now_utc()));
    let value = escaped(&leaf);
    let first = f.resolve(LOCAL, &[value.as_bytes()], false).unwrap();
    assert_eq!(f.resolve(LOCAL, &[value.as_bytes()], false).unwrap(), first);
    // Another verifier (a CRL reload) decides afresh: one of another CA refuses.
    let other = Check::Required {
        verifier: Fixture::new(None).verifier,
        now: f.clock.now().unix_timestamp(),
    };
    let refused = f.certs.resolve(Some(LOCAL.into()), &[value.as_bytes()], false, other);
    assert!(
        matches!(refused, Err(ForwardedCertError::Refused { .. })),
        "{refused:?}"
    );
    // Three years on (the sandbox clock moved) the leaf has expired: verified again.
    f.clock.advance(Duration::days(1100)).unwrap();
    let expired = f.resolve(LOCAL, &[value.as_bytes()], false).unwrap_err();
    assert!(
        matches!(
            &expired,
            ForwardedCertError::Refused {
                failure: HandshakeFailure::Expired { .. },
                ..
            }
        ),
        "{expired:?}"
    );
}

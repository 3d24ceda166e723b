//! The sandbox's throwaway PKI: root CA → intermediate CA → server and client
//! certificates, plus the PKCS#12 bundle Java/.NET users need.
//!
//! This module only makes and parses certificates; where they are stored is
//! `state`'s business. The sandbox's own keys (root, intermediate, server)
//! are ECDSA P-256: fast to generate (a whole hierarchy in a few
//! milliseconds) and accepted by every client we target. Client keys are
//! whatever [`ClientCertSpec::key_type`] says: RSA-2048 by default, as the
//! provider issues them (see `key_type`).
//! Subjects say plainly that the certificates are for a sandbox, and on whose
//! machine they were made (as mkcert does), so nobody mistakes them for real.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

use crate::entropy::Entropy;
use crate::key_type::KeyType;

#[path = "pki_key_match.rs"]
mod key_match;
pub use key_match::key_matches_cert;
pub(crate) use key_match::{rsa_public_components, unsigned};

/// Organisation name on every certificate we issue.
pub const ORGANISATION: &str = "mtls-sandbox (SANDBOX ONLY - not trusted anywhere)";

/// Host names and addresses every server certificate covers: each listener
/// binds 127.0.0.1 and [::1], and `localhost` may resolve to either (README,
/// "What `up` gives you").
pub const DEFAULT_SERVER_SANS: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "::1",
    "sandbox.localhost",
    "mtls.sandbox.localhost",
    "auth.sandbox.localhost",
];

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("could not create certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{what} is not valid PEM: {detail}")]
    Pem { what: String, detail: String },
    #[error("could not build the PKCS#12 bundle: {0}")]
    Pkcs12(String),
}

/// A certificate and its private key, both PEM encoded.
#[derive(Clone)]
pub struct CertAndKey {
    pub cert_pem: String,
    pub key_pem: String,
}

impl CertAndKey {
    pub fn cert_der(&self) -> Result<CertificateDer<'static>, PkiError> {
        first_cert_der(&self.cert_pem, "certificate")
    }
}

/// What a client certificate should look like. Tests use the knobs to make
/// expired or not-yet-valid certificates.
#[derive(Debug, Clone)]
pub struct ClientCertSpec {
    pub common_name: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// The algorithm of the new key.
    pub key_type: KeyType,
}

impl ClientCertSpec {
    /// A client certificate valid from an hour ago for two years, with an
    /// RSA-2048 key, like the ones a provider portal hands out.
    pub fn new(common_name: &str, now: OffsetDateTime) -> Self {
        Self {
            common_name: common_name.to_owned(),
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(730),
            key_type: KeyType::default(),
        }
    }

    /// The same certificate with a key of type `key_type`.
    pub fn with_key_type(mut self, key_type: KeyType) -> Self {
        self.key_type = key_type;
        self
    }
}

/// A loaded certificate authority that can issue certificates.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub material: CertAndKey,
    /// Keys and serial numbers of issued certificates come from here.
    entropy: Arc<Entropy>,
}

impl Ca {
    /// Loads a CA from its certificate and key PEM (as written by
    /// [`create_hierarchy`]).
    pub fn load(material: CertAndKey) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(&material.key_pem).map_err(|e| PkiError::Pem {
            what: "CA private key".into(),
            detail: e.to_string(),
        })?;
        let issuer = Issuer::from_ca_cert_pem(&material.cert_pem, key).map_err(|e| PkiError::Pem {
            what: "CA certificate".into(),
            detail: e.to_string(),
        })?;
        Ok(Self {
            issuer,
            material,
            entropy: Arc::new(Entropy::SYSTEM),
        })
    }

    /// Issues with keys and serials from `entropy` (seeded in deterministic mode).
    pub fn with_entropy(mut self, entropy: Arc<Entropy>) -> Self {
        self.entropy = entropy;
        self
    }

    /// Issues a TLS server certificate for `sans` (valid one year).
    pub fn issue_server(&self, sans: &[String], now: OffsetDateTime) -> Result<CertAndKey, PkiError> {
        let mut params = CertificateParams::new(sans.to_vec())?;
        params.distinguished_name = subject("mtls-sandbox server", None);
        params.not_before = now - Duration::hours(1);
        params.not_after = now + Duration::days(365);
        params.serial_number = Some(random_serial(&self.entropy));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        self.sign(params, self.entropy.p256_key()?)
    }

    /// Issues a TLS client certificate, as a provider portal's "generate new
    /// certificate" button does.
    pub fn issue_client(&self, spec: &ClientCertSpec) -> Result<CertAndKey, PkiError> {
        // The serial is drawn before the key: a seeded entropy repeats both.
        let params = self.client_params(spec)?;
        self.sign(params, spec.key_type.generate(&self.entropy)?)
    }

    /// [`Ca::issue_client`] with a key of `spec.key_type` made beforehand,
    /// so that a slow RSA key can be generated while other work goes on.
    pub fn issue_client_with_key(&self, spec: &ClientCertSpec, key: KeyPair) -> Result<CertAndKey, PkiError> {
        self.sign(self.client_params(spec)?, key)
    }

    fn client_params(&self, spec: &ClientCertSpec) -> Result<CertificateParams, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = subject(&spec.common_name, Some("Sandbox applications"));
        params.not_before = spec.not_before;
        params.not_after = spec.not_after;
        params.serial_number = Some(random_serial(&self.entropy));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        Ok(params)
    }

    /// A CRL (PEM) listing `revoked` (serial, revocation time). Its
    /// next-update is far away: the sandbox rewrites it on every revocation,
    /// and a CRL that expires under a shifted clock would break every handshake.
    pub fn crl(
        &self,
        revoked: &[(Vec<u8>, OffsetDateTime)],
        crl_number: u64,
        now: OffsetDateTime,
    ) -> Result<String, PkiError> {
        let params = CertificateRevocationListParams {
            this_update: now - Duration::hours(1),
            next_update: now + Duration::days(3650),
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|(serial, at)| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: *at,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }

    fn sign(&self, params: CertificateParams, key: KeyPair) -> Result<CertAndKey, PkiError> {
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertAndKey {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A freshly made root and intermediate CA.
pub struct Hierarchy {
    pub root: CertAndKey,
    pub intermediate: CertAndKey,
}

/// Creates a root CA (10 years) and an intermediate CA (5 years) signed by it.
/// `owner` (user@host) goes into the subjects so a stray certificate can be
/// traced back to the machine that made it.
pub fn create_hierarchy(owner: &str, now: OffsetDateTime) -> Result<Hierarchy, PkiError> {
    create_hierarchy_with(owner, now, &Entropy::SYSTEM)
}

/// [`create_hierarchy`] with keys and serials from `entropy`.
pub fn create_hierarchy_with(owner: &str, now: OffsetDateTime, entropy: &Entropy) -> Result<Hierarchy, PkiError> {
    let root_key = entropy.p256_key()?;
    let mut root = ca_params("mtls-sandbox root CA", owner, now, Duration::days(3650), entropy);
    root.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    let root_cert = root.self_signed(&root_key)?;
    let root_issuer = Issuer::new(root, root_key);

    let int_key = entropy.p256_key()?;
    let mut int = ca_params(
        "mtls-sandbox intermediate CA",
        owner,
        now,
        Duration::days(1825),
        entropy,
    );
    int.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    int.use_authority_key_identifier_extension = true;
    let int_cert = int.signed_by(&int_key, &root_issuer)?;

    Ok(Hierarchy {
        root: CertAndKey {
            cert_pem: root_cert.pem(),
            key_pem: root_issuer.key().serialize_pem(),
        },
        intermediate: CertAndKey {
            cert_pem: int_cert.pem(),
            key_pem: int_key.serialize_pem(),
        },
    })
}

fn ca_params(cn: &str, owner: &str, now: OffsetDateTime, validity: Duration, entropy: &Entropy) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = subject(cn, Some(owner));
    params.not_before = now - Duration::hours(1);
    params.not_after = now + validity;
    params.serial_number = Some(random_serial(entropy));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn subject(cn: &str, unit: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANISATION);
    if let Some(unit) = unit {
        dn.push(DnType::OrganizationalUnitName, unit);
    }
    dn.push(DnType::CommonName, cn);
    dn
}

/// A random positive 127-bit serial: unique enough to revoke by serial later.
fn random_serial(entropy: &Entropy) -> SerialNumber {
    let mut bytes: [u8; 16] = entropy.array();
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// Every certificate in a PEM bundle, in file order.
pub fn certs_from_pem(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Pem {
            what: what.into(),
            detail: pem_problem(&e),
        })?;
    if certs.is_empty() {
        return Err(PkiError::Pem {
            what: what.into(),
            detail: "no CERTIFICATE block found".into(),
        });
    }
    Ok(certs)
}

/// The first certificate in a PEM bundle.
pub fn first_cert_der(pem: &str, what: &str) -> Result<CertificateDer<'static>, PkiError> {
    Ok(certs_from_pem(pem, what)?.remove(0))
}

/// The private key in a PEM file (PKCS#8, SEC1 or PKCS#1).
pub fn key_from_pem(pem: &str, what: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::Pem {
        what: what.into(),
        detail: pem_problem(&e),
    })
}

/// A PEM parse error in words: the parser's own `Display` prints the marker
/// it missed as a list of byte values, which tells a person nothing.
fn pem_problem(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match e {
        Error::MissingSectionEnd { end_marker } => format!(
            "cut off (no END line): the file ends before \"-----END {}-----\", probably truncated when copied",
            String::from_utf8_lossy(end_marker).trim()
        ),
        Error::IllegalSectionStart { line } => format!(
            "the line \"{}\" starts a PEM block but is not a valid BEGIN line",
            String::from_utf8_lossy(line).trim()
        ),
        Error::NoItemsFound => "no PEM block of the expected kind found".into(),
        other => other.to_string(),
    }
}

/// The subject of a DER certificate as one line of text (`CN=my_app, O=…`),
/// the way logs, headers and explanations show it; `None` if it does not
/// parse.
pub fn subject_of(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    X509Certificate::from_der(der)
        .ok()
        .map(|(_, cert)| cert.subject().to_string())
}

/// The common name of a DER certificate's subject (`my_app`), if it has
/// one and parses.
pub fn common_name_of(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?.to_owned();
    Some(cn)
}

/// Whether the server certificate of an earlier start (`leaf_pem` first in
/// its chain, `key_pem`) can serve this start: issued by `issuer_pem`,
/// covering exactly `sans`, valid for another 30 days, matching its key.
/// Reusing it keeps a warm start free of key generation and signing.
pub fn server_cert_fits(leaf_pem: &str, key_pem: &str, issuer_pem: &str, sans: &[String], now: OffsetDateTime) -> bool {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (Ok(leaf_der), Ok(issuer_der)) = (first_cert_der(leaf_pem, "server"), first_cert_der(issuer_pem, "issuer"))
    else {
        return false;
    };
    let (Ok((_, leaf)), Ok((_, issuer))) = (
        X509Certificate::from_der(&leaf_der),
        X509Certificate::from_der(&issuer_der),
    ) else {
        return false;
    };
    let Ok(Some(names)) = leaf.subject_alternative_name() else {
        return false;
    };
    let mut have: Vec<String> = names
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(dns.to_string()),
            GeneralName::IPAddress(b) if b.len() == 4 => {
                Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).ok()?).to_string())
            }
            GeneralName::IPAddress(b) if b.len() == 16 => {
                Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).ok()?).to_string())
            }
            _ => None,
        })
        .collect();
    let mut want: Vec<String> = sans
        .iter()
        .map(|s| {
            s.parse::<std::net::IpAddr>()
                .map_or_else(|_| s.clone(), |ip| ip.to_string())
        })
        .collect();
    have.sort();
    want.sort();
    want.dedup();
    let validity = leaf.validity();
    have == want
        && leaf.issuer().as_raw() == issuer.subject().as_raw()
        && leaf.verify_signature(Some(issuer.public_key())).is_ok()
        && validity.not_before.timestamp() <= now.unix_timestamp()
        && validity.not_after.timestamp() > (now + Duration::days(30)).unix_timestamp()
        && key_matches_cert(&leaf_der, key_pem).unwrap_or(false)
}

/// Builds a PKCS#12 bundle holding the client key, its certificate and the
/// CA chain, so `keytool`, Java's `KeyStore` and .NET can load it directly.
/// Encryption is PBES2/AES-256 with a SHA-256 MAC (what OpenSSL 3 writes).
pub fn pkcs12(
    leaf: &CertAndKey,
    chain: &[CertificateDer<'_>],
    password: &str,
    alias: &str,
) -> Result<Vec<u8>, PkiError> {
    let p12err = |e: p12_keystore::error::Error| PkiError::Pkcs12(e.to_string());
    let key_der = match key_from_pem(&leaf.key_pem, "client key")? {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        _ => return Err(PkiError::Pkcs12("client key is not PKCS#8".into())),
    };
    let mut certs = vec![p12_keystore::Certificate::from_der(&leaf.cert_der()?).map_err(p12err)?];
    for der in chain {
        certs.push(p12_keystore::Certificate::from_der(der).map_err(p12err)?);
    }
    let key = p12_keystore::PrivateKey::from_der(&key_der).map_err(p12err)?;
    let local_key_id: [u8; 20] = rand::random();
    let entry = p12_keystore::PrivateKeyChain::new(local_key_id.to_vec(), key, certs);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(alias, p12_keystore::KeyStoreEntry::PrivateKeyChain(entry));
    store.writer(password).write().map_err(p12err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::*;

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn a_truncated_pem_is_called_cut_off_not_a_byte_list() {
        let h = create_hierarchy("tester@host", now()).unwrap();
        let half = &h.root.cert_pem[..h.root.cert_pem.len() / 2];
        let err = certs_from_pem(half, "my_app_cert.crt").unwrap_err().to_string();
        assert!(
            err.starts_with("my_app_cert.crt is not valid PEM: cut off (no END line)")
                && err.contains("\"-----END CERTIFICATE-----\""),
            "{err}"
        );
        let half = &h.root.key_pem[..h.root.key_pem.len() / 2];
        let err = key_from_pem(half, "key.pem").unwrap_err().to_string();
        assert!(err.contains("cut off (no END line)") && !err.contains('['), "{err}");
    }

    #[test]
    fn hierarchy_chains_root_to_intermediate_to_leaves() {
        let h = create_hierarchy("tester@host", now()).unwrap();
        let ca = Ca::load(h.intermediate.clone()).unwrap();
        let sans: Vec<String> = DEFAULT_SERVER_SANS.iter().map(|s| s.to_string()).collect();
        let server = ca.issue_server(&sans, now()).unwrap();
        let client = ca.issue_client(&ClientCertSpec::new("my_app", now())).unwrap();

        let root_der = h.root.cert_der().unwrap();
        let int_der = h.intermediate.cert_der().unwrap();
        let (_, root) = X509Certificate::from_der(&root_der).unwrap();
        let (_, int) = X509Certificate::from_der(&int_der).unwrap();
        assert_eq!(int.issuer(), root.subject());
        assert!(root.is_ca() && int.is_ca());
        assert!(root.subject().to_string().contains("tester@host"));

        for (leaf, eku_server) in [(&server, true), (&client, false)] {
            let der = leaf.cert_der().unwrap();
            let (_, cert) = X509Certificate::from_der(&der).unwrap();
            assert_eq!(cert.issuer(), int.subject());
            assert!(cert.verify_signature(Some(int.public_key())).is_ok());
            let eku = cert.extended_key_usage().unwrap().unwrap().value;
            assert_eq!(eku.server_auth, eku_server);
            assert_eq!(eku.client_auth, !eku_server);
        }
        let der = server.cert_der().unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
        for expected in ["DNSName(localhost)", "DNSName(mtls.sandbox.localhost)"] {
            assert!(names.iter().any(|n| n == expected), "{names:?}");
        }
        assert!(names.iter().any(|n| n == "IPAddress(7f:00:00:01)"), "{names:?}");
    }

    #[test]
    fn pkcs12_round_trips_key_and_chain() {
        let h = create_hierarchy("t@h", now()).unwrap();
        let ca = Ca::load(h.intermediate.clone()).unwrap();
        let client = ca.issue_client(&ClientCertSpec::new("my_app", now())).unwrap();
        let chain = [h.intermediate.cert_der().unwrap(), h.root.cert_der().unwrap()];
        let p12 = pkcs12(&client, &chain, "pw", "my_app").unwrap();
        let store = p12_keystore::KeyStore::from_pkcs12(&p12, "pw", Default::default()).unwrap();
        let (_, entry) = store.private_key_chain().unwrap();
        assert_eq!(entry.certs().len(), 3);
        assert_eq!(entry.certs()[0].as_der(), client.cert_der().unwrap().as_ref());
        assert!(p12_keystore::KeyStore::from_pkcs12(&p12, "wrong", Default::default()).is_err());
    }

    #[test]
    fn crl_lists_revoked_serials() {
        let h = create_hierarchy("t@h", now()).unwrap();
        let ca = Ca::load(h.intermediate.clone()).unwrap();
        let pem = ca.crl(&[(vec![1, 2, 3], now())], 7, now()).unwrap();
        let der = rustls::pki_types::CertificateRevocationListDer::from_pem_slice(pem.as_bytes()).unwrap();
        let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
        let serials: Vec<Vec<u8>> = crl
            .iter_revoked_certificates()
            .map(|r| r.raw_serial().to_vec())
            .collect();
        assert_eq!(serials, vec![vec![1, 2, 3]]);
        let int_der = h.intermediate.cert_der().unwrap();
        let (_, int) = X509Certificate::from_der(&int_der).unwrap();
        assert_eq!(crl.issuer(), int.subject());
    }

    #[test]
    fn key_match_is_detected() {
        let h = create_hierarchy("t@h", now()).unwrap();
        let root = h.root.cert_der().unwrap();
        assert!(key_matches_cert(&root, &h.root.key_pem).unwrap());
        assert!(!key_matches_cert(&root, &h.intermediate.key_pem).unwrap());
    }

    #[test]
    fn pem_errors_name_what_was_parsed() {
        let err = certs_from_pem("garbage", "my_app_cert.crt").unwrap_err();
        assert!(err.to_string().contains("my_app_cert.crt"), "{err}");
    }

    #[test]
    fn a_server_certificate_is_reused_only_when_it_fits() {
        let h = create_hierarchy("t@h", now()).unwrap();
        let ca = Ca::load(h.intermediate.clone()).unwrap();
        let sans: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
        let server = ca.issue_server(&sans, now()).unwrap();
        let issuer = &h.intermediate.cert_pem;
        let fits =
            |sans: &[String], key: &str, issuer: &str, at| server_cert_fits(&server.cert_pem, key, issuer, sans, at);
        let reordered: Vec<String> = sans.iter().rev().cloned().collect();
        assert!(fits(&reordered, &server.key_pem, issuer, now()));
        let more = [sans.clone(), vec!["ci-host".into()]].concat();
        assert!(
            !fits(&more, &server.key_pem, issuer, now()),
            "a new name needs a new certificate"
        );
        assert!(
            !fits(&sans, &server.key_pem, issuer, now() + Duration::days(340)),
            "close to expiry"
        );
        let other = ca.issue_server(&sans, now()).unwrap();
        assert!(
            !fits(&sans, &other.key_pem, issuer, now()),
            "key of another certificate"
        );
        let stranger = create_hierarchy("x@y", now()).unwrap();
        assert!(
            !fits(&sans, &server.key_pem, &stranger.intermediate.cert_pem, now()),
            "another CA"
        );
    }
}

//! Client identities: which certificate (and chain) a scenario step
//! presents, and the HTTP client that presents it.
//!
//! Clients are rustls-based, and rustls sends exactly the chain it is given
//! (like Go): that is what makes `bare_leaf` fail against the mtls host.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use mtls_sandbox::info::SandboxInfo;
use mtls_sandbox::oauth::dn::Dn;
use mtls_sandbox::pki::{self, CertAndKey, ClientCertSpec};
use mtls_sandbox::records::Records;
use mtls_sandbox::state::{State, files};
use mtls_sandbox::tls;
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::scenario::{IdentityKind, IdentitySpec};

/// A client identity, ready to use.
pub struct Identity {
    /// How the transcript describes it.
    pub label: String,
    pub http: reqwest::Client,
    /// The leaf and key, when it has a certificate.
    pub leaf: Option<CertAndKey>,
}

impl Identity {
    /// Variables scenarios can use: `${<name>.subject}` (the subject DN as
    /// RFC 4514 writes it, CN first: what a `tls_client_auth` client
    /// registers as `tls_client_auth_subject_dn`), `${<name>.jwks}`.
    pub fn variables(&self, name: &str) -> Vec<(String, serde_json::Value)> {
        let Some(leaf) = &self.leaf else { return Vec::new() };
        let mut vars = Vec::new();
        if let Some(subject) = leaf.cert_der().ok().and_then(|der| subject_dn(&der)) {
            vars.push((format!("{name}.subject"), subject.into()));
        }
        if let Ok(key) = EncodingKey::from_ec_pem(leaf.key_pem.as_bytes())
            && let Ok(jwk) = Jwk::from_encoding_key(&key, Algorithm::ES256)
        {
            let jwks = serde_json::to_value(JwkSet { keys: vec![jwk] }).unwrap_or_default();
            vars.push((format!("{name}.jwks"), jwks));
        }
        vars
    }
}

/// A certificate's subject in RFC 4514 string order, as the sandbox
/// compares registered DNs.
fn subject_dn(der: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    Some(Dn::from_x509(cert.subject()).to_string())
}

/// Makes and caches identities for one sandbox.
pub struct Identities {
    info: SandboxInfo,
    state: State,
    roots_pem: String,
    chain_pem: String,
    cache: HashMap<String, Arc<Identity>>,
}

impl Identities {
    pub fn new(info: &SandboxInfo) -> anyhow::Result<Self> {
        let state = State::load(&info.state_dir).with_context(|| {
            format!(
                "the harness needs the sandbox's state dir ({}) to make client identities",
                info.state_dir.display()
            )
        })?;
        let chain_pem =
            std::fs::read_to_string(&info.ca_chain).with_context(|| format!("reading {}", info.ca_chain.display()))?;
        Ok(Self {
            info: info.clone(),
            roots_pem: chain_pem.clone(),
            chain_pem,
            state,
            cache: HashMap::new(),
        })
    }

    /// An identity already made by [`Identities::get`].
    pub fn cached(&self, name: &str) -> Option<&Arc<Identity>> {
        self.cache.get(name)
    }

    /// The identity called `name`: built-in, or defined by `spec`.
    pub fn get(&mut self, name: &str, spec: Option<&IdentitySpec>) -> anyhow::Result<Arc<Identity>> {
        if let Some(identity) = self.cache.get(name) {
            return Ok(identity.clone());
        }
        let identity = Arc::new(self.make(name, spec)?);
        self.cache.insert(name.to_owned(), identity.clone());
        Ok(identity)
    }

    fn make(&self, name: &str, spec: Option<&IdentitySpec>) -> anyhow::Result<Identity> {
        let now = OffsetDateTime::now_utc();
        let app = CertAndKey {
            cert_pem: std::fs::read_to_string(&self.info.client_cert)?,
            key_pem: std::fs::read_to_string(&self.info.client_key)?,
        };
        let (kind, cn, bare) = match (name, spec) {
            ("none", _) => return self.build("no client certificate".into(), None, ""),
            ("app", _) => return self.build("app certificate + chain".into(), Some(app), &self.chain_pem),
            ("bare_leaf", _) => return self.build("app certificate without its chain".into(), Some(app), ""),
            ("foreign_ca", _) => (IdentityKind::ForeignCa, "stranger".to_owned(), false),
            ("self_signed", _) => (IdentityKind::SelfSigned, "self-signed".to_owned(), false),
            ("expired", _) => (IdentityKind::Expired, "old-app".to_owned(), false),
            ("revoked", _) => (IdentityKind::Revoked, "revoked-app".to_owned(), false),
            (_, Some(spec)) => (spec.kind, spec.cn.clone().unwrap_or_else(|| name.to_owned()), spec.bare),
            (_, None) => anyhow::bail!("unknown identity '{name}'"),
        };
        let ca = self.state.issuing_ca()?;
        let with_chain = |extra: &str| if bare { String::new() } else { extra.to_owned() };
        let (label, leaf, chain) = match kind {
            IdentityKind::Issued => {
                let leaf = ca.issue_client(&ClientCertSpec::new(&cn, now))?;
                (
                    format!("certificate CN={cn} from the sandbox CA"),
                    leaf,
                    with_chain(&self.chain_pem),
                )
            }
            IdentityKind::Expired => {
                let spec = ClientCertSpec {
                    not_before: now - time::Duration::days(30),
                    not_after: now - time::Duration::days(1),
                    ..ClientCertSpec::new(&cn, now)
                };
                (
                    format!("expired certificate CN={cn}"),
                    ca.issue_client(&spec)?,
                    with_chain(&self.chain_pem),
                )
            }
            IdentityKind::Revoked => {
                let leaf = ca.issue_client(&ClientCertSpec::new(&cn, now))?;
                let records = Records::open(&self.state.path(files::RECORDS))?;
                mtls_sandbox::revocation::revoke(&self.state, &records, &leaf.cert_pem, &cn, now)?;
                // A running sandbox polls its CRL twice a second.
                std::thread::sleep(Duration::from_millis(1200));
                (
                    format!("revoked certificate CN={cn}"),
                    leaf,
                    with_chain(&self.chain_pem),
                )
            }
            IdentityKind::ForeignCa => {
                let foreign = pki::create_hierarchy("someone-else@elsewhere", now)?;
                let leaf = pki::Ca::load(foreign.intermediate.clone())?.issue_client(&ClientCertSpec::new(&cn, now))?;
                let chain = format!("{}{}", foreign.intermediate.cert_pem, foreign.root.cert_pem);
                (
                    format!("certificate CN={cn} from a foreign CA"),
                    leaf,
                    with_chain(&chain),
                )
            }
            IdentityKind::SelfSigned => {
                let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
                let mut params = rcgen::CertificateParams::new(vec![cn.clone()])?;
                params.distinguished_name.push(rcgen::DnType::CommonName, cn.clone());
                let cert = params.self_signed(&key)?;
                let leaf = CertAndKey {
                    cert_pem: cert.pem(),
                    key_pem: key.serialize_pem(),
                };
                (format!("self-signed certificate CN={cn}"), leaf, String::new())
            }
        };
        self.build(label, Some(leaf), &chain)
    }

    fn build(&self, label: String, leaf: Option<CertAndKey>, extra_chain_pem: &str) -> anyhow::Result<Identity> {
        let roots = pki::certs_from_pem(&self.roots_pem, "CA chain")?;
        let presented = match &leaf {
            None => None,
            Some(leaf) => {
                let mut chain: Vec<CertificateDer<'static>> = vec![leaf.cert_der()?];
                if !extra_chain_pem.is_empty() {
                    chain.extend(pki::certs_from_pem(extra_chain_pem, "chain")?);
                }
                Some((chain, pki::key_from_pem(&leaf.key_pem, "key")?))
            }
        };
        let config = tls::client_config(roots, presented)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .timeout(Duration::from_secs(15))
            .build()?;
        Ok(Identity { label, http, leaf })
    }
}

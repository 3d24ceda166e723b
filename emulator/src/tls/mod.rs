//! TLS policy per listener: which certificate the server presents, what it
//! asks of clients, and how refusals are explained; plus the one client
//! configuration the sandbox's own clients share (`client`).
//!
//! One crypto provider everywhere: aws-lc-rs (rustls' default, also used by
//! rcgen and jsonwebtoken here) — one implementation to build, audit and
//! benchmark, with the fastest RSA/ECDSA on x86_64 among the options.

mod acceptor;
mod alpn;
mod cert_problem;
mod client;
mod explain;
mod verifier;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{RootCertStore, ServerConfig};

pub use acceptor::{ExplainingAcceptor, RefusalSink};
pub use alpn::AlpnAcceptor;
pub use cert_problem::CertProblem;
pub use client::{ClientIdentity, ClientTlsError, client_builder, client_config};
pub use explain::HandshakeFailure;
pub use verifier::{AcceptAnyCert, ExplainingVerifier};

use crate::clock::Clock;
use crate::hosts::Host;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("invalid CA certificate for the client verifier: {0}")]
    Roots(String),
    #[error("cannot build the client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("invalid server certificate or key: {0}")]
    Server(#[from] rustls::Error),
}

/// Everything the listeners need from the PKI.
pub struct TlsMaterial {
    /// Server leaf followed by the intermediate.
    pub server_chain: Vec<CertificateDer<'static>>,
    pub server_key: PrivateKeyDer<'static>,
    pub ca: CaMaterial,
}

/// The sandbox CA as client-certificate verifiers need it.
#[derive(Clone)]
pub struct CaMaterial {
    pub root: CertificateDer<'static>,
    pub intermediate: CertificateDer<'static>,
    /// Revocation lists the mtls host checks client certificates against.
    pub crls: Vec<CertificateRevocationListDer<'static>>,
}

#[derive(Debug, Clone, Default)]
pub struct TlsOptions {
    /// Certificate validity is judged at this clock's "now".
    pub clock: Arc<Clock>,
    /// Also trust the intermediate directly, so a bare leaf is accepted.
    pub lenient_chain: bool,
    /// Write TLS secrets to `$SSLKEYLOGFILE` (for Wireshark in workshops).
    pub key_log: bool,
    /// A proxy in front forwards client certificates in a header: the mtls
    /// host still asks for one (direct clients keep working) but lets a
    /// connection without one through to the request layer, which then
    /// requires the forwarded one (`crate::proxy`).
    pub behind_proxy: bool,
}

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The verifier for certificates that must chain to the sandbox root (the
/// mtls host's handshake; tls_client_auth at the token endpoint).
pub fn sandbox_ca_verifier(
    material: &CaMaterial,
    opts: &TlsOptions,
) -> Result<Arc<dyn ClientCertVerifier>, TlsSetupError> {
    // The real host trusts only the root: a client must send its
    // intermediate. --lenient-chain trusts the intermediate too.
    let mut roots = RootCertStore::empty();
    roots
        .add(material.root.clone())
        .map_err(|e| TlsSetupError::Roots(e.to_string()))?;
    if opts.lenient_chain {
        roots
            .add(material.intermediate.clone())
            .map_err(|e| TlsSetupError::Roots(e.to_string()))?;
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    if !material.crls.is_empty() {
        // The CRL covers what the intermediate issued; the
        // intermediate itself (issued by the root) has none.
        builder = builder
            .with_crls(material.crls.iter().cloned())
            .only_check_end_entity_revocation()
            .allow_unknown_revocation_status();
    }
    if opts.behind_proxy {
        builder = builder.allow_unauthenticated();
    }
    let webpki = builder.build()?;
    Ok(Arc::new(ExplainingVerifier::new(
        webpki,
        &material.intermediate,
        opts.clock.clone(),
    )))
}

/// Builds the rustls server configuration for one listener.
pub fn server_config(
    host: Host,
    material: &TlsMaterial,
    opts: &TlsOptions,
) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let provider = provider();
    let verifier: Arc<dyn ClientCertVerifier> = match host {
        Host::Sandbox => WebPkiClientVerifier::no_client_auth(),
        Host::Mtls => sandbox_ca_verifier(&material.ca, opts)?,
        Host::Auth => Arc::new(AcceptAnyCert::new(&provider)),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(material.server_chain.clone(), material.server_key.clone_key())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if opts.key_log {
        config.key_log = Arc::new(rustls::KeyLogFile::new());
    }
    Ok(Arc::new(config))
}

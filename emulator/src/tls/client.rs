//! The client side of TLS, for the sandbox's own clients: `doctor`'s live
//! probe, the harness and the tests. Each trusts the roots it is given (the
//! sandbox chain), speaks with the same provider and protocol versions as
//! the listeners, and presents a certificate chain or none.
//!
//! Only configuration lives here; connecting is the caller's business
//! (tokio-rustls for the probe, reqwest elsewhere).

use rustls::client::WantsClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ConfigBuilder, RootCertStore};

/// A certificate chain (leaf first) and the leaf's private key.
pub type ClientIdentity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

#[derive(Debug, thiserror::Error)]
pub enum ClientTlsError {
    #[error("unusable CA certificate: {0}")]
    Root(rustls::Error),
    #[error(transparent)]
    Config(#[from] rustls::Error),
}

/// A client configuration that trusts `roots`, waiting for the client's
/// certificate choice (`with_no_client_auth`, `with_client_auth_cert`, or a
/// resolver).
pub fn client_builder(
    roots: impl IntoIterator<Item = CertificateDer<'static>>,
) -> Result<ConfigBuilder<ClientConfig, WantsClientCert>, ClientTlsError> {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add(root).map_err(ClientTlsError::Root)?;
    }
    Ok(ClientConfig::builder_with_provider(super::provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(store))
}

/// A client configuration that trusts `roots` and presents `identity`, or
/// no certificate.
pub fn client_config(
    roots: impl IntoIterator<Item = CertificateDer<'static>>,
    identity: Option<ClientIdentity>,
) -> Result<ClientConfig, ClientTlsError> {
    let builder = client_builder(roots)?;
    Ok(match identity {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder.with_client_auth_cert(chain, key)?,
    })
}

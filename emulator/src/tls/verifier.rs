//! Client-certificate verifiers for the listeners.
//!
//! - [`ExplainingVerifier`] wraps rustls' WebPKI verifier unchanged (same
//!   decisions, same alerts to the client) and, when it refuses a
//!   certificate, records *why* for the connection's log line.
//! - [`AcceptAnyCert`] is for the authorization server: any certificate is
//!   accepted at the TLS layer (the client must still prove it holds the
//!   key), because whether a certificate is good enough depends on the
//!   client's registration, which is only known at the token endpoint.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::acceptor::record_failure;
use super::explain::HandshakeFailure;
use crate::clock::Clock;

#[derive(Debug)]
pub struct ExplainingVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    /// DER-encoded subject of the sandbox intermediate CA.
    intermediate_subject: Vec<u8>,
    clock: Arc<Clock>,
}

impl ExplainingVerifier {
    pub fn new(inner: Arc<dyn ClientCertVerifier>, intermediate: &CertificateDer<'_>, clock: Arc<Clock>) -> Self {
        let intermediate_subject = X509Certificate::from_der(intermediate)
            .map(|(_, c)| c.subject().as_raw().to_vec())
            .unwrap_or_default();
        Self {
            inner,
            intermediate_subject,
            clock,
        }
    }
}

impl ClientCertVerifier for ExplainingVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        // The sandbox clock, not the system's: tests shift it (crate::clock).
        self.inner
            .verify_client_cert(end_entity, intermediates, self.clock.unix_time())
            .inspect_err(|err| {
                record_failure(
                    HandshakeFailure::from_rejected_cert(err, end_entity, &self.intermediate_subject),
                    end_entity,
                );
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner
            .verify_tls12_signature(message, cert, dss)
            .inspect_err(|_| record_key_mismatch(cert))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner
            .verify_tls13_signature(message, cert, dss)
            .inspect_err(|_| record_key_mismatch(cert))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

fn record_key_mismatch(cert: &CertificateDer<'_>) {
    let subject = crate::pki::subject_of(cert).unwrap_or_else(|| "(unparseable)".into());
    record_failure(HandshakeFailure::KeyMismatch { subject }, cert);
}

/// Accepts any client certificate, or none, while still checking the
/// handshake signature so the client proves possession of the key.
#[derive(Debug)]
pub struct AcceptAnyCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AcceptAnyCert {
    pub fn new(provider: &CryptoProvider) -> Self {
        Self {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for AcceptAnyCert {
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: a client must be free to present a self-signed
        // certificate (self_signed_tls_client_auth).
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
            .inspect_err(|_| record_key_mismatch(cert))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
            .inspect_err(|_| record_key_mismatch(cert))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

//! Every variant of rustls 0.23's `CertificateError`, and every
//! `rustls-webpki` error as it reaches rustls' callers, explained in plain
//! words with a fix. When a rustls upgrade adds a variant, add it here.

use std::sync::Arc;

use rustls::pki_types::{AlgorithmIdentifier, CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, Error as TlsError, ExtendedKeyPurpose, OtherError};

use super::*;
use crate::tls::HandshakeFailure;

fn time() -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000))
}

#[allow(deprecated)]
fn every_certificate_error() -> Vec<CertificateError> {
    let other = |e: &str| CertificateError::Other(OtherError(Arc::new(std::io::Error::other(e.to_owned()))));
    vec![
        CertificateError::BadEncoding,
        CertificateError::Expired,
        CertificateError::ExpiredContext {
            time: time(),
            not_after: time(),
        },
        CertificateError::NotValidYet,
        CertificateError::NotValidYetContext {
            time: time(),
            not_before: time(),
        },
        CertificateError::Revoked,
        CertificateError::UnhandledCriticalExtension,
        CertificateError::UnknownIssuer,
        CertificateError::UnknownRevocationStatus,
        CertificateError::ExpiredRevocationList,
        CertificateError::ExpiredRevocationListContext {
            time: time(),
            next_update: time(),
        },
        CertificateError::BadSignature,
        CertificateError::UnsupportedSignatureAlgorithm,
        CertificateError::UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id: vec![1, 2],
            supported_algorithms: vec![AlgorithmIdentifier::from_slice(&[3])],
        },
        CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id: vec![1],
            public_key_algorithm_id: vec![2],
        },
        CertificateError::NotValidForName,
        CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("client.example").unwrap(),
            presented: vec!["other.example".into()],
        },
        CertificateError::InvalidPurpose,
        CertificateError::InvalidPurposeContext {
            required: ExtendedKeyPurpose::ClientAuth,
            presented: vec![ExtendedKeyPurpose::ServerAuth],
        },
        CertificateError::InvalidOcspResponse,
        CertificateError::ApplicationVerificationFailure,
        // An `Other` that is not a webpki error (a custom verifier's).
        other("custom verifier said no"),
    ]
}

#[allow(deprecated)]
fn every_webpki_error() -> Vec<webpki::Error> {
    use webpki::Error as W;
    let alg = || webpki::UnsupportedSignatureAlgorithmContext {
        signature_algorithm_id: vec![1],
        supported_algorithms: vec![AlgorithmIdentifier::from_slice(&[2])],
    };
    let alg_for_key = || webpki::UnsupportedSignatureAlgorithmForPublicKeyContext {
        signature_algorithm_id: vec![1],
        public_key_algorithm_id: vec![2],
    };
    vec![
        W::BadDer,
        W::BadDerTime,
        W::CaUsedAsEndEntity,
        W::CertDistrusted,
        W::CertExpired {
            time: time(),
            not_after: time(),
        },
        W::CertNotValidForName(webpki::InvalidNameContext {
            expected: ServerName::try_from("client.example").unwrap(),
            presented: vec![],
        }),
        W::CertNotValidYet {
            time: time(),
            not_before: time(),
        },
        W::CertRevoked,
        W::CrlExpired {
            time: time(),
            next_update: time(),
        },
        W::EmptyEkuExtension,
        W::EndEntityUsedAsCa,
        W::ExtensionValueInvalid,
        W::InvalidCertValidity,
        W::InvalidCrlNumber,
        W::InvalidNetworkMaskConstraint,
        W::InvalidSerialNumber,
        W::InvalidCrlSignatureForPublicKey,
        W::InvalidSignatureForPublicKey,
        W::IssuerNotCrlSigner,
        W::MalformedDnsIdentifier,
        W::MalformedExtensions,
        W::MalformedNameConstraint,
        W::MaximumNameConstraintComparisonsExceeded,
        W::MaximumPathBuildCallsExceeded,
        W::MaximumPathDepthExceeded,
        W::MaximumSignatureChecksExceeded,
        W::NameConstraintViolation,
        W::PathLenConstraintViolated,
        W::RequiredEkuNotFound,
        W::RequiredEkuNotFoundContext(webpki::RequiredEkuNotFoundContext {
            required: webpki::KeyUsage::client_auth(),
            present: vec![],
        }),
        W::SignatureAlgorithmMismatch,
        W::TrailingData(webpki::DerTypeId::Certificate),
        W::UnknownIssuer,
        W::UnknownRevocationStatus,
        W::UnsupportedCertVersion,
        W::UnsupportedCriticalExtension,
        W::UnsupportedCrlIssuingDistributionPoint,
        W::UnsupportedCrlVersion,
        W::UnsupportedDeltaCrl,
        W::UnsupportedIndirectCrl,
        W::UnsupportedNameType,
        W::UnsupportedRevocationReason,
        W::UnsupportedRevocationReasonsPartitioning,
        W::UnsupportedCrlSignatureAlgorithm,
        W::UnsupportedCrlSignatureAlgorithmContext(alg()),
        W::UnsupportedSignatureAlgorithm,
        W::UnsupportedSignatureAlgorithmContext(alg()),
        W::UnsupportedCrlSignatureAlgorithmForPublicKey,
        W::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(alg_for_key()),
        W::UnsupportedSignatureAlgorithmForPublicKey,
        W::UnsupportedSignatureAlgorithmForPublicKeyContext(alg_for_key()),
    ]
}

/// The variant's name as `Debug` prints it: what must not reach a person.
fn debug_name(value: &impl std::fmt::Debug) -> String {
    let debug = format!("{value:?}");
    debug.split(['(', ' ', '{']).next().unwrap().to_owned()
}

fn assert_plain(explanation: &str, raw_name: &str) {
    assert!(explanation.contains(" Fix: "), "no fix in: {explanation}");
    for raw in ["Other(", "OtherError", "Context", raw_name] {
        assert!(!explanation.contains(raw), "raw `{raw}` in: {explanation}");
    }
}

fn self_signed_leaf() -> CertificateDer<'static> {
    let made = rcgen::generate_simple_self_signed(vec!["client.example".into()]).unwrap();
    made.cert.der().clone()
}

#[test]
fn every_certificate_error_is_explained_in_plain_words_with_a_fix() {
    let leaf = self_signed_leaf();
    let errors = every_certificate_error();
    assert_eq!(
        errors.len(),
        22,
        "one per rustls 0.23 variant (Other holding a custom verifier's error)"
    );
    for err in errors {
        let raw = debug_name(&err);
        let failure = HandshakeFailure::from_rejected_cert(&TlsError::InvalidCertificate(err), &leaf, &[]);
        assert_plain(&failure.to_string(), &raw);
        assert_eq!(failure.subject(), Some("CN=rcgen self signed cert"));
    }
}

#[test]
fn every_webpki_error_reaching_rustls_as_other_is_explained() {
    let leaf = self_signed_leaf();
    let errors = every_webpki_error();
    assert_eq!(errors.len(), 51, "one per rustls-webpki 0.103 variant");
    for err in errors {
        let raw = debug_name(&err);
        let wrapped = CertificateError::Other(OtherError(Arc::new(err)));
        let failure = HandshakeFailure::from_rejected_cert(&TlsError::InvalidCertificate(wrapped), &leaf, &[]);
        assert_plain(&failure.to_string(), &raw);
    }
}

#[test]
fn only_a_genuinely_unknown_error_is_unrecognised() {
    for err in every_webpki_error() {
        let raw = debug_name(&err);
        assert_ne!(
            CertProblem::from_webpki(&err, false),
            CertProblem::Unrecognised,
            "{raw}"
        );
    }
    let foreign = every_certificate_error().pop().unwrap();
    assert_eq!(CertProblem::from_error(&foreign, false), CertProblem::Unrecognised);
}

#[test]
fn a_self_signed_ca_certificate_says_so() {
    let ca = CertificateError::Other(OtherError(Arc::new(webpki::Error::CaUsedAsEndEntity)));
    let text =
        HandshakeFailure::from_rejected_cert(&TlsError::InvalidCertificate(ca), &self_signed_leaf(), &[]).to_string();
    assert!(
        text.contains("is a CA certificate (basicConstraints CA:TRUE)"),
        "{text}"
    );
    assert!(text.contains("openssl req -x509"), "{text}");
    assert!(
        !CertProblem::CaAsClient { self_signed: false }
            .to_string()
            .contains("self-signed")
    );
}

#[test]
fn a_revocation_list_error_and_an_unparseable_certificate_are_explained() {
    let crl = TlsError::InvalidCertRevocationList(rustls::CertRevocationListError::BadSignature);
    let text = HandshakeFailure::from_rejected_cert(&crl, &self_signed_leaf(), &[]).to_string();
    assert_plain(&text, "BadSignature");
    assert!(text.contains("revocation list"), "{text}");
    let garbage = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x01, 0xff]);
    let bad = TlsError::InvalidCertificate(CertificateError::BadEncoding);
    let failure = HandshakeFailure::from_rejected_cert(&bad, &garbage, &[]);
    assert_plain(&failure.to_string(), "BadEncoding");
    assert!(failure.to_string().contains("not a well-formed X.509"), "{failure}");
}

//! Why a client certificate was refused, in words a person can act on.
//!
//! rustls reports a refused certificate as a `CertificateError`; what its
//! own mapping does not cover arrives as `CertificateError::Other` holding
//! the verifier's (`rustls-webpki`) error, whose `Display` is its `Debug`
//! name — which is how `Other(OtherError(CaUsedAsEndEntity))` used to reach
//! the log. Here every variant of both enums becomes a [`CertProblem`]
//! whose `Display` reads after the certificate's subject ("the client
//! certificate "CN=x" …") and ends with a " Fix: " clause. Failures that
//! need the certificate itself to explain (an unknown issuer, the validity
//! dates) are classified in `explain.rs`; this module never sees a
//! certificate, only the error.
//!
//! Both enums are `#[non_exhaustive]`: a variant added by a later version
//! becomes [`CertProblem::Unrecognised`], still a plain sentence.

use std::fmt;

use rustls::{CertificateError, Error as TlsError};

use crate::state::files;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertProblem {
    /// A CA certificate (basicConstraints CA:TRUE) presented as a client's.
    CaAsClient {
        self_signed: bool,
    },
    /// A certificate in the chain that must be a CA is not one.
    LeafAsCa,
    BadEncoding,
    BadSignature,
    UnsupportedAlgorithm,
    UnsupportedVersion,
    CriticalExtension,
    MalformedExtension,
    EmptyExtendedKeyUsage,
    InvalidSerialNumber,
    NameConstraints,
    PathLength,
    ChainTooComplex,
    Distrusted,
    NotValidForName,
    RevocationUnknown,
    RevocationListUnusable,
    OcspResponse,
    Policy,
    /// Validity dates, revocation, purpose or issuer reached without the
    /// certificate in hand (the classification in `explain.rs` is used when
    /// it is available).
    Expired,
    NotYetValid,
    Revoked,
    NotClientAuth,
    UnknownIssuer,
    /// A variant newer than this mapping.
    Unrecognised,
}

impl CertProblem {
    /// The problem behind an error from a client-certificate verifier.
    pub fn from_tls_error(err: &TlsError, self_signed: bool) -> CertProblem {
        match err {
            TlsError::InvalidCertificate(cert_err) => Self::from_error(cert_err, self_signed),
            TlsError::InvalidCertRevocationList(_) => CertProblem::RevocationListUnusable,
            _ => CertProblem::Unrecognised,
        }
    }

    /// The problem behind a rustls certificate error. `self_signed` says
    /// whether the certificate names itself as its issuer.
    pub fn from_error(err: &CertificateError, self_signed: bool) -> CertProblem {
        use CertificateError as E;
        #[allow(deprecated)]
        match err {
            E::BadEncoding => CertProblem::BadEncoding,
            E::Expired | E::ExpiredContext { .. } => CertProblem::Expired,
            E::NotValidYet | E::NotValidYetContext { .. } => CertProblem::NotYetValid,
            E::Revoked => CertProblem::Revoked,
            E::UnhandledCriticalExtension => CertProblem::CriticalExtension,
            E::UnknownIssuer => CertProblem::UnknownIssuer,
            E::UnknownRevocationStatus => CertProblem::RevocationUnknown,
            E::ExpiredRevocationList | E::ExpiredRevocationListContext { .. } => CertProblem::RevocationListUnusable,
            E::BadSignature => CertProblem::BadSignature,
            E::UnsupportedSignatureAlgorithm
            | E::UnsupportedSignatureAlgorithmContext { .. }
            | E::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => CertProblem::UnsupportedAlgorithm,
            E::NotValidForName | E::NotValidForNameContext { .. } => CertProblem::NotValidForName,
            E::InvalidPurpose | E::InvalidPurposeContext { .. } => CertProblem::NotClientAuth,
            E::InvalidOcspResponse => CertProblem::OcspResponse,
            E::ApplicationVerificationFailure => CertProblem::Policy,
            E::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
                Some(webpki) => Self::from_webpki(webpki, self_signed),
                None => CertProblem::Unrecognised,
            },
            _ => CertProblem::Unrecognised,
        }
    }

    /// The problem behind a `rustls-webpki` error. rustls converts most of
    /// these itself; the rest reach us through `CertificateError::Other`.
    pub fn from_webpki(err: &webpki::Error, self_signed: bool) -> CertProblem {
        use webpki::Error as W;
        #[allow(deprecated)]
        match err {
            W::CaUsedAsEndEntity => CertProblem::CaAsClient { self_signed },
            W::EndEntityUsedAsCa => CertProblem::LeafAsCa,
            W::BadDer | W::BadDerTime | W::TrailingData(_) | W::SignatureAlgorithmMismatch => CertProblem::BadEncoding,
            W::InvalidSignatureForPublicKey => CertProblem::BadSignature,
            W::UnsupportedSignatureAlgorithm
            | W::UnsupportedSignatureAlgorithmContext(_)
            | W::UnsupportedSignatureAlgorithmForPublicKey
            | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => CertProblem::UnsupportedAlgorithm,
            W::UnsupportedCertVersion => CertProblem::UnsupportedVersion,
            W::UnsupportedCriticalExtension => CertProblem::CriticalExtension,
            W::ExtensionValueInvalid | W::MalformedExtensions => CertProblem::MalformedExtension,
            W::EmptyEkuExtension => CertProblem::EmptyExtendedKeyUsage,
            W::InvalidSerialNumber => CertProblem::InvalidSerialNumber,
            W::NameConstraintViolation
            | W::MalformedNameConstraint
            | W::InvalidNetworkMaskConstraint
            | W::MalformedDnsIdentifier
            | W::UnsupportedNameType => CertProblem::NameConstraints,
            W::PathLenConstraintViolated => CertProblem::PathLength,
            W::MaximumNameConstraintComparisonsExceeded
            | W::MaximumPathBuildCallsExceeded
            | W::MaximumPathDepthExceeded
            | W::MaximumSignatureChecksExceeded => CertProblem::ChainTooComplex,
            W::CertDistrusted => CertProblem::Distrusted,
            W::CertNotValidForName(_) => CertProblem::NotValidForName,
            W::CertExpired { .. } | W::InvalidCertValidity => CertProblem::Expired,
            W::CertNotValidYet { .. } => CertProblem::NotYetValid,
            W::CertRevoked => CertProblem::Revoked,
            W::RequiredEkuNotFound | W::RequiredEkuNotFoundContext(_) => CertProblem::NotClientAuth,
            W::UnknownIssuer => CertProblem::UnknownIssuer,
            W::UnknownRevocationStatus => CertProblem::RevocationUnknown,
            W::CrlExpired { .. }
            | W::IssuerNotCrlSigner
            | W::InvalidCrlNumber
            | W::InvalidCrlSignatureForPublicKey
            | W::UnsupportedCrlIssuingDistributionPoint
            | W::UnsupportedCrlVersion
            | W::UnsupportedDeltaCrl
            | W::UnsupportedIndirectCrl
            | W::UnsupportedRevocationReason
            | W::UnsupportedRevocationReasonsPartitioning
            | W::UnsupportedCrlSignatureAlgorithm
            | W::UnsupportedCrlSignatureAlgorithmContext(_)
            | W::UnsupportedCrlSignatureAlgorithmForPublicKey
            | W::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_) => CertProblem::RevocationListUnusable,
            _ => CertProblem::Unrecognised,
        }
    }
}

/// Reads after "the client certificate "<subject>" ".
impl fmt::Display for CertProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CertProblem::*;
        let (cert, key, chain) = (files::CLIENT_CERT, files::CLIENT_KEY, files::CA_CHAIN);
        let use_ours = format!("use {cert} and {key} from the sandbox's state dir");
        let reissue = format!("issue the certificate again with the sandbox CA, or {use_ours}");
        match self {
            CaAsClient { self_signed } => {
                write!(
                    f,
                    "is a CA certificate (basicConstraints CA:TRUE), which cannot identify a client"
                )?;
                if *self_signed {
                    write!(
                        f,
                        "; it is also self-signed — `openssl req -x509` makes such certificates unless told otherwise"
                    )?;
                }
                write!(
                    f,
                    ". Fix: {use_ours}; a certificate of your own must be issued by the sandbox CA with \
                     basicConstraints CA:FALSE and extendedKeyUsage clientAuth"
                )
            }
            LeafAsCa => write!(
                f,
                "came with a chain in which a certificate that must be a CA is not one (CA:FALSE). \
                 Fix: send {cert} followed by {chain} and nothing else"
            ),
            BadEncoding => write!(
                f,
                "is not a well-formed X.509 certificate (its DER encoding is broken). Fix: check that the \
                 file holds the PEM exactly as issued, or {use_ours}"
            ),
            BadSignature => write!(
                f,
                "does not carry a valid signature from its issuer (was it edited after issuance, or paired \
                 with the wrong chain?). Fix: {use_ours}, with {chain} as its chain"
            ),
            UnsupportedAlgorithm => write!(
                f,
                "is signed with an algorithm this sandbox does not accept (e.g. SHA-1, MD5 or DSA), or one \
                 that does not fit its issuer's key. Fix: {reissue} (RSA or ECDSA with SHA-256 or better)"
            ),
            UnsupportedVersion => write!(
                f,
                "is not an X.509 version 3 certificate. Fix: {reissue} (`openssl x509 -req` makes v3 only \
                 when given extensions with -extfile)"
            ),
            CriticalExtension => write!(
                f,
                "carries an extension marked critical that the verifier does not understand. Fix: {reissue} \
                 without that extension"
            ),
            MalformedExtension => write!(f, "has a malformed X.509 extension. Fix: {reissue}"),
            EmptyExtendedKeyUsage => write!(
                f,
                "has an extendedKeyUsage extension that lists no purpose. Fix: {reissue} with \
                 extendedKeyUsage clientAuth"
            ),
            InvalidSerialNumber => write!(
                f,
                "has an invalid serial number (negative, empty or longer than 20 bytes). Fix: {reissue}"
            ),
            NameConstraints => write!(
                f,
                "holds names its issuer may not certify, or names that are malformed. Fix: {reissue}"
            ),
            PathLength => write!(
                f,
                "came with a chain longer than one of its CAs allows (pathLenConstraint). Fix: send {cert} \
                 followed by {chain} and nothing else"
            ),
            ChainTooComplex => write!(
                f,
                "came with a chain too long or too tangled to verify. Fix: send {cert} followed by {chain} \
                 and nothing else"
            ),
            Distrusted => write!(
                f,
                "has a public key that is explicitly distrusted. Fix: make a new key pair and {reissue}"
            ),
            NotValidForName => write!(f, "is not valid for the name it is used for. Fix: {use_ours}"),
            RevocationUnknown => write!(
                f,
                "has a revocation status the sandbox cannot determine (no revocation list covers its \
                 issuer). Fix: {use_ours}"
            ),
            RevocationListUnusable => write!(
                f,
                "could not be checked because the sandbox's revocation list is expired or unusable. \
                 Fix: run `mtls-sandbox revoke` again to write a fresh list, or start with a new state dir"
            ),
            OcspResponse => write!(
                f,
                "came with an invalid OCSP response. Fix: stop stapling OCSP responses to the client \
                 certificate"
            ),
            Policy => write!(f, "is valid but was refused by the sandbox's policy. Fix: {use_ours}"),
            Expired => write!(
                f,
                "has expired. Fix: use a current certificate ({cert} from the state dir), or check this \
                 machine's clock"
            ),
            NotYetValid => write!(
                f,
                "is not valid yet. Fix: check the clock of the machine that issued it, or use {cert} from \
                 the state dir"
            ),
            Revoked => write!(f, "has been revoked. Fix: issue a new certificate and use it"),
            NotClientAuth => write!(
                f,
                "is not allowed for client authentication (its extended key usage lacks clientAuth — is it \
                 a server certificate?). Fix: use {cert}"
            ),
            UnknownIssuer => write!(
                f,
                "does not chain to the sandbox CA. Fix: {use_ours}, and send {chain} with it"
            ),
            Unrecognised => write!(
                f,
                "was refused by the certificate verifier for a reason this sandbox cannot name yet (the \
                 sandbox log at debug level has the verifier's own words). Fix: {use_ours}, with {chain} as \
                 its chain"
            ),
        }
    }
}

#[cfg(test)]
#[path = "cert_problem_tests.rs"]
mod tests;

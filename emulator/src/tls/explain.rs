//! Plain-words explanations of failed TLS handshakes.
//!
//! A hosted sandbox answers a broken mTLS setup with `bad certificate` and
//! nothing else. Here every failure becomes a [`HandshakeFailure`] whose
//! `Display` says what happened and how to fix it. Two inputs feed it: the
//! `rustls::Error` the handshake ended with, and — when our verifier saw the
//! client's certificate — a classification made with the certificate in hand
//! (which is the only way to tell "leaf without its intermediate" from
//! "certificate from another CA": rustls reports both as `UnknownIssuer`).

use std::fmt;
use std::io;

use rustls::pki_types::CertificateDer;
use rustls::{AlertDescription, Error as TlsError};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::cert_problem::CertProblem;
use crate::state::files;

#[derive(Debug, Clone, PartialEq)]
pub enum HandshakeFailure {
    NoCertificate,
    MissingIntermediate {
        subject: String,
    },
    ForeignIssuer {
        subject: String,
        issuer: String,
    },
    SelfSigned {
        subject: String,
    },
    Expired {
        subject: String,
        not_after: String,
    },
    NotYetValid {
        subject: String,
        not_before: String,
    },
    Revoked {
        subject: String,
    },
    NotClientAuth {
        subject: String,
    },
    KeyMismatch {
        subject: String,
    },
    /// Any other reason the verifier refused the certificate.
    Refused {
        subject: String,
        problem: CertProblem,
    },
    ClientDistrustsServer {
        alert: String,
    },
    ClientAborted {
        alert: String,
    },
    NotTls,
    NoCommonProtocol {
        detail: String,
    },
    Timeout,
    ClosedEarly,
    Other {
        detail: String,
    },
}

impl HandshakeFailure {
    /// The certificate subject involved, when one was seen.
    pub fn subject(&self) -> Option<&str> {
        use HandshakeFailure::*;
        match self {
            MissingIntermediate { subject }
            | ForeignIssuer { subject, .. }
            | SelfSigned { subject }
            | Expired { subject, .. }
            | NotYetValid { subject, .. }
            | Revoked { subject }
            | NotClientAuth { subject }
            | KeyMismatch { subject }
            | Refused { subject, .. } => Some(subject),
            _ => None,
        }
    }

    /// True for failures that say nothing about the client's TLS setup
    /// (a port probe, a client that gave up): logged at a quieter level.
    pub fn is_noise(&self) -> bool {
        matches!(self, HandshakeFailure::ClosedEarly)
    }

    /// Classifies a certificate rejected by the client-certificate verifier.
    /// `intermediate_subject` is the DER subject of the sandbox's
    /// intermediate CA: a leaf issued by it that fails with `UnknownIssuer`
    /// was sent without its chain.
    pub fn from_rejected_cert(
        err: &TlsError,
        end_entity: &CertificateDer<'_>,
        intermediate_subject: &[u8],
    ) -> HandshakeFailure {
        let parsed = X509Certificate::from_der(end_entity).ok().map(|(_, cert)| cert);
        let self_signed = parsed
            .as_ref()
            .is_some_and(|cert| cert.issuer().as_raw() == cert.subject().as_raw());
        let problem = CertProblem::from_tls_error(err, self_signed);
        if problem == CertProblem::Unrecognised {
            // Kept out of the explanation (it is the library's Debug text),
            // but not lost.
            tracing::debug!(target: "handshake", "unrecognised certificate error: {err:?}");
        }
        let Some(cert) = parsed else {
            return HandshakeFailure::Refused {
                subject: "(unparseable)".into(),
                problem,
            };
        };
        let subject = cert.subject().to_string();
        match problem {
            CertProblem::UnknownIssuer if self_signed => HandshakeFailure::SelfSigned { subject },
            CertProblem::UnknownIssuer if cert.issuer().as_raw() == intermediate_subject => {
                HandshakeFailure::MissingIntermediate { subject }
            }
            CertProblem::UnknownIssuer => HandshakeFailure::ForeignIssuer {
                issuer: cert.issuer().to_string(),
                subject,
            },
            CertProblem::Expired => HandshakeFailure::Expired {
                not_after: cert.validity().not_after.to_string(),
                subject,
            },
            CertProblem::NotYetValid => HandshakeFailure::NotYetValid {
                not_before: cert.validity().not_before.to_string(),
                subject,
            },
            CertProblem::Revoked => HandshakeFailure::Revoked { subject },
            CertProblem::NotClientAuth => HandshakeFailure::NotClientAuth { subject },
            problem => HandshakeFailure::Refused { subject, problem },
        }
    }

    /// Explains a failed accept. `seen` is what the verifier recorded, if it
    /// was reached; it is more precise than the error alone.
    pub fn from_accept_error(err: &io::Error, seen: Option<HandshakeFailure>) -> HandshakeFailure {
        if let Some(seen) = seen {
            return seen;
        }
        if err.kind() == io::ErrorKind::TimedOut {
            return HandshakeFailure::Timeout;
        }
        if err.kind() == io::ErrorKind::UnexpectedEof {
            return HandshakeFailure::ClosedEarly;
        }
        match err.get_ref().and_then(|e| e.downcast_ref::<TlsError>()) {
            Some(tls) => Self::from_tls_error(tls),
            None => HandshakeFailure::Other {
                detail: err.to_string(),
            },
        }
    }

    fn from_tls_error(err: &TlsError) -> HandshakeFailure {
        match err {
            TlsError::NoCertificatesPresented => HandshakeFailure::NoCertificate,
            TlsError::AlertReceived(alert) => {
                let name = alert_name(*alert);
                match alert {
                    AlertDescription::UnknownCA
                    | AlertDescription::BadCertificate
                    | AlertDescription::CertificateUnknown
                    | AlertDescription::CertificateExpired
                    | AlertDescription::DecryptError => HandshakeFailure::ClientDistrustsServer { alert: name },
                    _ => HandshakeFailure::ClientAborted { alert: name },
                }
            }
            TlsError::InvalidMessage(_) | TlsError::InappropriateMessage { .. } => HandshakeFailure::NotTls,
            TlsError::PeerIncompatible(why) => HandshakeFailure::NoCommonProtocol {
                detail: format!("{why:?}"),
            },
            other => HandshakeFailure::Other {
                detail: other.to_string(),
            },
        }
    }
}

fn alert_name(alert: AlertDescription) -> String {
    // `UnknownCA` → `unknown_ca`, as TLS specs and OpenSSL spell them.
    let debug = format!("{alert:?}");
    let mut out = String::new();
    let mut prev_upper = true;
    for ch in debug.chars() {
        if ch.is_uppercase() && !prev_upper {
            out.push('_');
        }
        prev_upper = ch.is_uppercase();
        out.push(ch.to_ascii_lowercase());
    }
    out
}

impl fmt::Display for HandshakeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HandshakeFailure::*;
        let (cert, key, chain) = (files::CLIENT_CERT, files::CLIENT_KEY, files::CA_CHAIN);
        match self {
            NoCertificate => write!(
                f,
                "the client sent no client certificate. Fix: pass one (curl: --cert {cert} --key {key}). \
                 If it did pass one, the file probably holds only the leaf certificate: Go and Java \
                 clients then withhold it because it does not chain to the CA this server names; \
                 concatenate the chain onto it (cat {cert} {chain} > my_app_fullchain.pem) and use that file"
            ),
            MissingIntermediate { subject } => write!(
                f,
                "the client certificate \"{subject}\" was sent without its intermediate CA certificate, \
                 so it cannot be chained to the sandbox root. Fix: concatenate {cert} with {chain} \
                 (cat {cert} {chain} > my_app_fullchain.pem) and send that as the client certificate, \
                 or start the sandbox with --lenient-chain"
            ),
            ForeignIssuer { subject, issuer } => write!(
                f,
                "the client certificate \"{subject}\" was issued by \"{issuer}\", which is not the sandbox CA. \
                 Fix: use {cert} and {key} from the sandbox's state dir"
            ),
            SelfSigned { subject } => write!(
                f,
                "the client certificate \"{subject}\" is self-signed; this host only accepts certificates \
                 issued by the sandbox CA. Fix: use {cert} and {key} from the sandbox's state dir"
            ),
            Expired { subject, not_after } => write!(
                f,
                "the client certificate \"{subject}\" expired on {not_after}. Fix: use a current certificate \
                 ({cert} from the state dir), or check this machine's clock"
            ),
            NotYetValid { subject, not_before } => write!(
                f,
                "the client certificate \"{subject}\" is not valid before {not_before}. Fix: check the clock \
                 of the machine that issued it, or use {cert} from the state dir"
            ),
            Revoked { subject } => write!(
                f,
                "the client certificate \"{subject}\" has been revoked. Fix: issue a new certificate and use it"
            ),
            NotClientAuth { subject } => write!(
                f,
                "the certificate \"{subject}\" is not allowed for client authentication (its extended key \
                 usage lacks clientAuth — is it a server certificate?). Fix: use {cert}"
            ),
            KeyMismatch { subject } => write!(
                f,
                "the client's private key does not match its certificate \"{subject}\". Fix: pass the key that \
                 belongs to the certificate ({key} with {cert})"
            ),
            Refused { subject, problem } => write!(f, "the client certificate \"{subject}\" {problem}"),
            ClientDistrustsServer { alert } => write!(
                f,
                "the client rejected the sandbox's server certificate (alert {alert}). Fix: make the client \
                 trust {chain} (curl: --cacert {chain}; Python requests: verify=\"{chain}\"; Node: ca option)"
            ),
            ClientAborted { alert } => {
                write!(f, "the client aborted the handshake (alert {alert})")
            }
            NotTls => write!(
                f,
                "the client did not speak TLS (plain HTTP sent to an HTTPS port?). Fix: use an https:// URL"
            ),
            NoCommonProtocol { detail } => write!(
                f,
                "the client and the sandbox share no TLS version or cipher suite ({detail}). Fix: enable \
                 TLS 1.2 or 1.3 with modern cipher suites in the client"
            ),
            Timeout => write!(f, "the client did not finish the TLS handshake in time"),
            ClosedEarly => write!(f, "the client closed the connection before finishing the TLS handshake"),
            Other { detail } => write!(f, "the handshake failed: {detail}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::CertificateError;

    #[test]
    fn alert_names_match_tls_spelling() {
        assert_eq!(alert_name(AlertDescription::UnknownCA), "unknown_ca");
        assert_eq!(alert_name(AlertDescription::BadCertificate), "bad_certificate");
    }

    #[test]
    fn accept_errors_are_classified() {
        let wrap = |e: TlsError| io::Error::new(io::ErrorKind::InvalidData, e);
        let no_cert = HandshakeFailure::from_accept_error(&wrap(TlsError::NoCertificatesPresented), None);
        assert_eq!(no_cert, HandshakeFailure::NoCertificate);
        assert!(
            no_cert
                .to_string()
                .contains("cat my_app_cert.crt lean_public_cert_chain.pem")
        );
        let distrust =
            HandshakeFailure::from_accept_error(&wrap(TlsError::AlertReceived(AlertDescription::UnknownCA)), None);
        assert!(
            distrust.to_string().contains("--cacert lean_public_cert_chain.pem"),
            "{distrust}"
        );
        let eof = HandshakeFailure::from_accept_error(&io::Error::from(io::ErrorKind::UnexpectedEof), None);
        assert!(eof.is_noise());
        let seen = HandshakeFailure::Revoked { subject: "CN=x".into() };
        let err = wrap(TlsError::InvalidCertificate(CertificateError::Revoked));
        assert_eq!(HandshakeFailure::from_accept_error(&err, Some(seen.clone())), seen);
    }
}

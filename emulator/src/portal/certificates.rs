//! The default application's client certificates, as the portal manages
//! them: the one created with the state dir, plus every certificate issued
//! by "Generate new certificate". Issuing never touches older certificates
//! (they stay valid until revoked), and a private key is never stored: it
//! exists only in the download, as on a hosted portal.

use std::sync::Arc;

use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::entropy::Entropy;
use crate::key_type::KeyType;
use crate::pki::{self, CertAndKey, ClientCertSpec};
use crate::records::{IssuedCertificate, Records, RecordsError, rfc3339};
use crate::revocation::{self, Revocations, RevokeError};
use crate::state::{State, StateError, files};

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("no certificate with serial {0} was issued to this application")]
    Unknown(String),
    #[error(transparent)]
    Revoke(#[from] RevokeError),
    #[error(transparent)]
    Records(#[from] RecordsError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
}

/// One certificate of the application, as the portal lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AppCertificate {
    pub serial_hex: String,
    pub subject: String,
    pub not_after: String,
    /// When it was issued; the state dir's creation time for the first one.
    pub issued_at: String,
    /// Where the user got it: `my_app_cert.crt` or `portal`.
    pub origin: &'static str,
    pub revoked: bool,
    #[serde(skip)]
    pub cert_pem: String,
}

impl AppCertificate {
    fn new(issued: IssuedCertificate, origin: &'static str) -> Self {
        Self {
            serial_hex: issued.serial_hex,
            subject: issued.subject,
            not_after: issued.not_after,
            issued_at: issued.issued_at,
            origin,
            revoked: false,
            cert_pem: issued.cert_pem,
        }
    }
}

/// Every certificate of the default application, oldest first.
pub fn list(state: &State, records: &Records) -> Result<Vec<AppCertificate>, CertificateError> {
    let revoked: Vec<String> = records.revoked_certificates()?.into_iter().map(|(s, _)| s).collect();
    let first = describe(&state.client.cert_pem, files::CLIENT_CERT, state.created_at)?;
    let mut out = vec![AppCertificate::new(first, files::CLIENT_CERT)];
    out.extend(
        records
            .issued_certificates()?
            .into_iter()
            .map(|c| AppCertificate::new(c, "portal")),
    );
    for cert in &mut out {
        cert.revoked = revoked.contains(&cert.serial_hex);
    }
    Ok(out)
}

/// Issues a new certificate (and key, of the configured type) for the
/// default application from the sandbox's intermediate CA and remembers the
/// certificate.
pub fn generate(
    state: &State,
    records: &Records,
    entropy: Arc<Entropy>,
    key_type: KeyType,
    now: OffsetDateTime,
) -> Result<CertAndKey, CertificateError> {
    let issued = state
        .issuing_ca()?
        .with_entropy(entropy)
        .issue_client(&ClientCertSpec::new(&state.app.name, now).with_key_type(key_type))?;
    records.add_issued_certificate(&describe(&issued.cert_pem, "the new certificate", now)?)?;
    Ok(issued)
}

/// Revokes the application's certificate with serial `serial_hex`.
pub fn revoke(revocations: &Revocations, serial_hex: &str) -> Result<revocation::Revoked, CertificateError> {
    let state = revocations.state();
    let first = describe(&state.client.cert_pem, files::CLIENT_CERT, state.created_at)?;
    let cert_pem = if first.serial_hex.eq_ignore_ascii_case(serial_hex) {
        first.cert_pem
    } else {
        revocations
            .records()
            .issued_certificate(&serial_hex.to_ascii_lowercase())?
            .ok_or_else(|| CertificateError::Unknown(serial_hex.into()))?
            .cert_pem
    };
    Ok(revocations.revoke(&cert_pem, &format!("certificate {serial_hex}"))?)
}

/// The record of `cert_pem` (named `what` in errors), issued at `issued_at`.
fn describe(cert_pem: &str, what: &str, issued_at: OffsetDateTime) -> Result<IssuedCertificate, CertificateError> {
    let der = pki::first_cert_der(cert_pem, what)?;
    let (_, cert) = X509Certificate::from_der(&der).map_err(|e| {
        CertificateError::Revoke(RevokeError::NotACertificate {
            what: what.into(),
            detail: e.to_string(),
        })
    })?;
    Ok(IssuedCertificate {
        serial_hex: hex::encode(cert.raw_serial()),
        subject: cert.subject().to_string(),
        not_after: rfc3339(cert.validity().not_after.to_datetime()),
        cert_pem: cert_pem.to_owned(),
        issued_at: rfc3339(issued_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generating_adds_a_certificate_and_revoking_marks_only_that_one() {
        let tmp = tempfile::tempdir().unwrap();
        let state = State::load_or_create(&tmp.path().join("s")).unwrap();
        let records = Records::open(&state.path(files::RECORDS)).unwrap();
        let now = OffsetDateTime::now_utc();

        let before = list(&state, &records).unwrap();
        assert_eq!(before.len(), 1);
        assert_eq!(before[0].origin, files::CLIENT_CERT);

        let issued = generate(&state, &records, Arc::new(Entropy::SYSTEM), KeyType::Rsa, now).unwrap();
        assert!(issued.key_pem.contains("PRIVATE KEY"));
        let after = list(&state, &records).unwrap();
        assert_eq!(after.len(), 2);
        assert_eq!(after[1].origin, "portal");
        assert_eq!(after[1].cert_pem, issued.cert_pem);
        assert_ne!(after[0].serial_hex, after[1].serial_hex);
        assert_eq!(after[0].subject, after[1].subject, "same application, same subject");

        let records = Arc::new(records);
        let revocations = Revocations::new(state.clone(), records.clone(), Arc::new(crate::clock::Clock::system()));
        let revoked = revoke(&revocations, &after[1].serial_hex).unwrap();
        assert!(revoked.newly);
        let listed = list(&state, &records).unwrap();
        assert_eq!(
            listed.iter().map(|c| c.revoked).collect::<Vec<_>>(),
            [false, true],
            "the original certificate stays valid"
        );
        assert_eq!(
            revocation::crl_serials(&state).unwrap().into_iter().collect::<Vec<_>>(),
            [after[1].serial_hex.clone()]
        );
    }

    #[test]
    fn revoking_an_unknown_serial_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let state = State::load_or_create(&tmp.path().join("s")).unwrap();
        let records = Records::open(&state.path(files::RECORDS)).unwrap();
        let revocations = Revocations::new(state, Arc::new(records), Arc::new(crate::clock::Clock::system()));
        let err = revoke(&revocations, "abcdef").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no certificate with serial abcdef was issued to this application"
        );
    }
}

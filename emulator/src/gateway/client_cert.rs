//! What the upstream is told about the client certificate — the URL-escaped
//! PEM (nginx's `$ssl_client_escaped_cert`), the SHA-256 thumbprint and
//! Envoy's `X-Forwarded-Client-Cert` element — as ready header values,
//! derived once per certificate.
//!
//! A keep-alive connection presents the same certificate on every request,
//! and a sandbox sees few certificates; deriving the values per request
//! (PEM-encoding, escaping and validating ~1.9 KB, hashing the DER, parsing
//! the subject) cost 68k of a forwarded request's 164k instructions
//! (callgrind, `bench/callgrind_gateway.sh`, issue #15). [`Certificates`] remembers
//! them by DER bytes ([`PerCertificate`]); handing them out costs a
//! reference-count increment per header.
//!
//! Pure: no HTTP, no network.

use axum::http::HeaderValue;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::oauth::token::x5t_s256;
use crate::per_cert::PerCertificate;

/// RFC 3986 unreserved characters stay; everything else is escaped, so
/// JavaScript's `decodeURIComponent` and nginx's `$ssl_client_escaped_cert`
/// readers both get the PEM back.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// The header values of one client certificate. `None` where the text is
/// not a valid header value (a subject with non-ASCII characters): that
/// header is left out, as it always was.
#[derive(Debug, Clone)]
pub struct CertHeaders {
    /// The URL-escaped PEM.
    pub escaped_pem: Option<HeaderValue>,
    /// base64url SHA-256 of the DER, as `cnf.x5t#S256`.
    pub thumbprint: Option<HeaderValue>,
    /// Envoy's `X-Forwarded-Client-Cert` element.
    pub xfcc: Option<HeaderValue>,
}

impl CertHeaders {
    /// Derives the values of the certificate `der` (leaf, DER).
    pub fn of(der: &[u8]) -> Self {
        let escaped = escaped_pem(der);
        let value = |text: String| HeaderValue::try_from(text).ok();
        Self {
            thumbprint: value(x5t_s256(der)),
            xfcc: value(xfcc(der, &escaped)),
            escaped_pem: value(escaped),
        }
    }
}

/// The values of every certificate seen so far (see the module doc).
#[derive(Default)]
pub struct Certificates(PerCertificate<CertHeaders>);

impl Certificates {
    /// The values of the certificate `der`, derived the first time it is seen.
    pub fn get(&self, der: &[u8]) -> CertHeaders {
        self.0.get(der, CertHeaders::of)
    }
}

/// The PEM certificate, URL-escaped (nginx's `$ssl_client_escaped_cert`).
fn escaped_pem(der: &[u8]) -> String {
    // LF line endings, as OpenSSL (and so nginx) writes PEM.
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    let pem = pem::encode_config(&pem::Pem::new("CERTIFICATE", der), config);
    utf8_percent_encode(&pem, COMPONENT).to_string()
}

/// Envoy's `X-Forwarded-Client-Cert` element: hex SHA-256 of the DER, the
/// subject, and the URL-escaped PEM.
fn xfcc(der: &[u8], escaped: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let hash = hex::encode(digest);
    let subject = crate::pki::subject_of(der).unwrap_or_default();
    format!(
        "Hash={hash};Subject=\"{}\";Cert=\"{escaped}\"",
        subject.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki;

    fn leaves(names: &[&str]) -> Vec<Vec<u8>> {
        let now = time::OffsetDateTime::now_utc();
        let ca = pki::Ca::load(pki::create_hierarchy("t", now).unwrap().intermediate).unwrap();
        let leaf = |name: &&str| {
            let client = ca.issue_client(&pki::ClientCertSpec::new(name, now)).unwrap();
            client.cert_der().unwrap().to_vec()
        };
        names.iter().map(leaf).collect()
    }

    fn text(value: &Option<HeaderValue>) -> &str {
        value.as_ref().unwrap().to_str().unwrap()
    }

    /// The DER an escaped-PEM header value carries.
    fn der_in(escaped: &str) -> Vec<u8> {
        let pem = percent_encoding::percent_decode_str(escaped).decode_utf8().unwrap();
        pki::first_cert_der(&pem, "header").unwrap().as_ref().to_vec()
    }

    #[test]
    fn each_certificate_gets_its_own_values_and_a_repeat_gets_the_same() {
        let [alice, bob] = <[Vec<u8>; 2]>::try_from(leaves(&["alice", "bob"])).unwrap();
        let certificates = Certificates::default();
        let first = certificates.get(&alice);
        let other = certificates.get(&bob);
        let again = certificates.get(&alice);

        assert_eq!(der_in(text(&first.escaped_pem)), alice);
        assert_eq!(der_in(text(&other.escaped_pem)), bob, "not the first certificate's");
        assert_eq!(text(&first.thumbprint), x5t_s256(&alice));
        assert_eq!(text(&other.thumbprint), x5t_s256(&bob));
        assert!(text(&other.xfcc).contains("CN=bob"), "{}", text(&other.xfcc));
        assert_eq!(again.escaped_pem, first.escaped_pem);
        assert_eq!(again.thumbprint, first.thumbprint);
        assert_eq!(again.xfcc, first.xfcc);
    }

    #[test]
    fn the_values_are_those_derived_afresh() {
        let der = leaves(&["my_app"]).remove(0);
        let remembered = Certificates::default().get(&der);
        let fresh = CertHeaders::of(&der);
        assert_eq!(remembered.escaped_pem, fresh.escaped_pem);
        assert_eq!(remembered.thumbprint, fresh.thumbprint);
        assert_eq!(remembered.xfcc, fresh.xfcc);
        // LF line endings, as nginx's $ssl_client_escaped_cert.
        assert!(text(&fresh.escaped_pem).starts_with("-----BEGIN%20CERTIFICATE-----%0AMII"));
    }
}

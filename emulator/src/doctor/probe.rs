//! The live half of `doctor`: real handshakes plus `GET /health` against an
//! mtls host, one per chain a client family would send.
//!
//! A leaf-only certificate file is sent as it is by Go, Java and rustls, but
//! OpenSSL-based clients (curl, Python, Node, Ruby) add the intermediate from
//! their CA file. So with a leaf-only file both chains are tried and both
//! results reported; a refusal of the bare leaf that the host accepts with
//! the intermediate is the expected warning, not a failure.

use std::sync::Arc;
use std::time::Duration;

use rustls::AlertDescription;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Credentials, Finding};
use crate::{pki, tls};

/// How long one attempt may take: a port that accepts TCP but never speaks
/// TLS must not hang doctor.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an attempt failed, in terms of what the user can change.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0} is not an https:// URL")]
    NotHttps(String),
    #[error("cannot connect to {addr}: {detail}")]
    Connect { addr: String, detail: String },
    #[error("the server refused the certificate: {}", describe_alert(*.0))]
    Refused(AlertDescription),
    #[error("TLS failed: {0}")]
    Tls(String),
    #[error("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())]
    Timeout,
    #[error("the server sent no HTTP response")]
    NoResponse,
}

fn describe_alert(alert: AlertDescription) -> String {
    let why = match alert {
        AlertDescription::UnknownCA => "it cannot link the certificate to its CA (intermediate missing, or another CA)",
        AlertDescription::CertificateRevoked => "the certificate is revoked",
        AlertDescription::CertificateExpired => "the certificate is expired or not yet valid",
        AlertDescription::CertificateRequired => "no client certificate was sent",
        AlertDescription::DecryptError => "the signature does not match the certificate's key",
        AlertDescription::UnsupportedCertificate => "the certificate is not allowed for client authentication",
        _ => "see the sandbox's log line for this connection",
    };
    format!("TLS alert {alert:?}: {why}")
}

/// Probes `url` the way each client family would call it: the certificate
/// file as it is, and — when that is the bare leaf and `intermediate` is
/// known — leaf plus intermediate. `roots` are the CAs trusted for the
/// server's certificate. The credentials must be usable
/// ([`super::handshake_blocker`] is `None`).
pub async fn probe_families(
    url: &str,
    creds: &Credentials,
    intermediate: Option<CertificateDer<'static>>,
    roots: &[CertificateDer<'static>],
) -> Vec<Finding> {
    let file = creds.cert_path.display().to_string();
    let as_is = attempt(url, &creds.certs, creds, roots).await;
    let (Some(intermediate), [leaf]) = (intermediate, creds.certs.as_slice()) else {
        let label = format!("{url} with {file} as it is (every client family sends the same chain)");
        return vec![verdict(&label, as_is)];
    };
    let chain = [leaf.clone(), intermediate];
    let with_chain = attempt(url, &chain, creds, roots).await;
    let openssl_label =
        format!("{url} with leaf + intermediate, as OpenSSL-based clients (curl, Python, Node, Ruby) send it");
    let strict_label = format!("{url} with {file} as it is (leaf only), as Go / Java / rustls clients send it");
    let strict = match (as_is, &with_chain) {
        (Ok(status), _) if status == "200" => Finding::ok(format!(
            "{strict_label}: accepted — this host does not insist on the intermediate (`up --lenient-chain`); \
             the provider's mtls host does"
        )),
        (Err(e), Ok(status)) if status == "200" => Finding::warn(
            format!("{strict_label}: refused as predicted above — {e}"),
            format!("give those clients {file} with the intermediate appended (see the Go / Java / rustls line above)"),
        ),
        (other, _) => verdict(&strict_label, other),
    };
    vec![verdict(&openssl_label, with_chain), strict]
}

fn verdict(label: &str, outcome: Result<String, ProbeError>) -> Finding {
    match outcome {
        Ok(status) if status == "200" => Finding::ok(format!("{label}: handshake accepted, GET /health answered 200")),
        Ok(status) => Finding::fail(
            format!("{label}: handshake accepted, but GET /health answered {status}"),
            "check the URL: it should be the mtls host's base URL (mtls_url in sandbox.json)",
        ),
        Err(e) => Finding::fail(
            format!("{label}: {e}"),
            "see the failures above; the sandbox's log line for this connection says exactly why it refused it",
        ),
    }
}

/// One handshake presenting `chain` with the credentials' key, then
/// `GET /health`; returns the HTTP status.
async fn attempt(
    url: &str,
    chain: &[CertificateDer<'static>],
    creds: &Credentials,
    roots: &[CertificateDer<'static>],
) -> Result<String, ProbeError> {
    tokio::time::timeout(ATTEMPT_TIMEOUT, try_attempt(url, chain, creds, roots))
        .await
        .unwrap_or(Err(ProbeError::Timeout))
}

async fn try_attempt(
    url: &str,
    chain: &[CertificateDer<'static>],
    creds: &Credentials,
    roots: &[CertificateDer<'static>],
) -> Result<String, ProbeError> {
    let authority = url
        .strip_prefix("https://")
        .ok_or_else(|| ProbeError::NotHttps(url.into()))?
        .trim_end_matches('/');
    let host = match authority.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
        None => authority,
    };
    let builder = tls::client_builder(roots.iter().cloned()).map_err(|e| ProbeError::Tls(e.to_string()))?;
    let key_pem = creds.key_pem.as_deref().unwrap_or_default();
    let key = pki::key_from_pem(key_pem, &creds.key_path.display().to_string())
        .map_err(|e| ProbeError::Tls(e.to_string()))?;
    let config = builder
        .with_client_auth_cert(chain.to_vec(), key)
        .map_err(|e| ProbeError::Tls(e.to_string()))?;
    let name = ServerName::try_from(host.to_owned()).map_err(|e| ProbeError::NotHttps(format!("{url} ({e})")))?;
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:443")
    };
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| ProbeError::Connect {
            addr: addr.clone(),
            detail: e.to_string(),
        })?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut tls = connector.connect(name, tcp).await.map_err(from_io)?;
    // Under TLS 1.3 a refused certificate only shows when reading.
    let request = format!("GET /health HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.map_err(from_io)?;
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await.map_err(from_io)?;
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .ok_or(ProbeError::NoResponse)
}

/// tokio-rustls reports TLS errors as `io::Error`s wrapping a
/// `rustls::Error`; an alert from the server is the answer doctor wants.
fn from_io(e: std::io::Error) -> ProbeError {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::AlertReceived(alert)) => ProbeError::Refused(*alert),
        Some(other) => ProbeError::Tls(other.to_string()),
        None => ProbeError::Tls(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_explained_and_io_errors_unwrapped() {
        let refused = ProbeError::Refused(AlertDescription::UnknownCA).to_string();
        assert_eq!(
            refused,
            "the server refused the certificate: TLS alert UnknownCA: it cannot link the certificate to its CA \
             (intermediate missing, or another CA)"
        );
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::CertificateRevoked),
        );
        assert!(matches!(
            from_io(wrapped),
            ProbeError::Refused(AlertDescription::CertificateRevoked)
        ));
        let plain = from_io(std::io::Error::other("reset"));
        assert_eq!(plain.to_string(), "TLS failed: reset");
    }
}

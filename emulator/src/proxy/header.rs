//! Reading the client certificate out of the header a TLS-terminating
//! proxy sets: nginx's `$ssl_client_escaped_cert` (the leaf as URL-escaped
//! PEM) or Envoy's `X-Forwarded-Client-Cert` (`Cert="…"` and `Chain="…"`,
//! URL-escaped PEM, among other `key=value` pairs).
//!
//! Pure functions over the header's bytes: what a proxy can send is
//! unit-tested here without a proxy. Nothing is verified here; a parsed
//! chain is only DER that looked like certificates.

use std::fmt;

use percent_encoding::percent_decode;
use serde::Deserialize;

/// How the proxy writes the certificate into its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeaderFormat {
    /// The leaf as URL-escaped PEM: nginx's `$ssl_client_escaped_cert`,
    /// also Traefik's and AWS ALB's choice.
    Nginx,
    /// Envoy's `X-Forwarded-Client-Cert`.
    Xfcc,
}

impl HeaderFormat {
    pub fn name(self) -> &'static str {
        match self {
            HeaderFormat::Nginx => "nginx",
            HeaderFormat::Xfcc => "xfcc",
        }
    }
}

impl fmt::Display for HeaderFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a header held: the client's certificates (DER, leaf first), and
/// whether the proxy sent the client's chain or the leaf alone.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded {
    pub chain: Vec<Vec<u8>>,
    pub chain_included: bool,
}

/// Why a certificate header could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HeaderError {
    #[error("it appears more than once")]
    Repeated,
    #[error("once URL-unescaped it is not text")]
    NotText,
    #[error("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoPem,
    #[error("its PEM is broken: {0}")]
    BadPem(String),
    #[error("it holds {0} elements (one per proxy hop); only the client's, as one element, is accepted")]
    XfccElements(usize),
    #[error("it has no Cert= (nor Chain=) field, only {0}")]
    XfccNoCert(String),
    #[error("it is not a list of key=value pairs: {0}")]
    XfccSyntax(String),
    #[error("its Cert= is not the first certificate of its Chain=")]
    XfccChainMismatch,
}

/// Reads the certificate header's value as `format` says it is written.
pub fn parse(format: HeaderFormat, value: &[u8]) -> Result<Forwarded, HeaderError> {
    match format {
        HeaderFormat::Nginx => Ok(Forwarded {
            chain: escaped_pem(value)?,
            chain_included: false,
        }),
        HeaderFormat::Xfcc => xfcc(value),
    }
}

/// URL-escaped PEM → DER certificates, in order.
fn escaped_pem(value: &[u8]) -> Result<Vec<Vec<u8>>, HeaderError> {
    let decoded = percent_decode(value).collect::<Vec<u8>>();
    let text = std::str::from_utf8(&decoded).map_err(|_| HeaderError::NotText)?;
    let blocks = pem::parse_many(text).map_err(|e| HeaderError::BadPem(e.to_string()))?;
    let certificates: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certificates.is_empty() {
        return Err(HeaderError::NoPem);
    }
    Ok(certificates)
}

/// Envoy's XFCC: elements separated by `,`, each `key=value` pairs
/// separated by `;`, values optionally in double quotes (inside which `,`
/// and `;` are literal and `\"` is a quote).
fn xfcc(value: &[u8]) -> Result<Forwarded, HeaderError> {
    let text = std::str::from_utf8(value).map_err(|_| HeaderError::NotText)?;
    let elements = split_unquoted(text, ',')?;
    let [element] = elements.as_slice() else {
        return Err(HeaderError::XfccElements(elements.len()));
    };
    let mut cert = None;
    let mut chain = None;
    let mut keys = Vec::new();
    for pair in split_unquoted(element, ';')? {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| HeaderError::XfccSyntax(format!("'{pair}' has no '='")))?;
        let key = key.trim();
        let value = unquote(value.trim());
        match key.to_ascii_lowercase().as_str() {
            "cert" => cert = Some(escaped_pem(value.as_bytes())?),
            "chain" => chain = Some(escaped_pem(value.as_bytes())?),
            _ => keys.push(key.to_owned()),
        }
    }
    match (cert, chain) {
        (_, Some(chain)) if chain.is_empty() => Err(HeaderError::NoPem),
        (Some(cert), Some(chain)) if cert.first() != chain.first() => Err(HeaderError::XfccChainMismatch),
        (_, Some(chain)) => Ok(Forwarded {
            chain,
            chain_included: true,
        }),
        (Some(cert), None) => Ok(Forwarded {
            chain: cert,
            chain_included: false,
        }),
        (None, None) if keys.is_empty() => Err(HeaderError::XfccSyntax("it is empty".into())),
        (None, None) => Err(HeaderError::XfccNoCert(keys.join(", "))),
    }
}

/// Splits `text` at `sep` outside double quotes; empty parts are dropped.
fn split_unquoted(text: &str, sep: char) -> Result<Vec<&str>, HeaderError> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, ch) in text.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(HeaderError::XfccSyntax("a quoted value is not closed".into()));
    }
    parts.push(&text[start..]);
    Ok(parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).collect())
}

/// A value without its surrounding quotes, `\"` and `\\` unescaped.
fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(cn: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec![cn.to_owned()]).unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    fn escaped(ders: &[&[u8]]) -> String {
        let pem: String = ders
            .iter()
            .map(|d| pem::encode(&pem::Pem::new("CERTIFICATE", d.to_vec())))
            .collect();
        percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    #[test]
    fn nginx_escaped_pem_is_the_leaf_alone() {
        let leaf = cert("client");
        let value = escaped(&[&leaf]);
        let forwarded = parse(HeaderFormat::Nginx, value.as_bytes()).unwrap();
        assert_eq!(forwarded.chain, vec![leaf]);
        assert!(!forwarded.chain_included);
    }

    #[test]
    fn broken_values_say_what_is_wrong() {
        assert_eq!(parse(HeaderFormat::Nginx, b"hello").unwrap_err(), HeaderError::NoPem);
        assert_eq!(parse(HeaderFormat::Nginx, b"%FF%FE").unwrap_err(), HeaderError::NotText);
        let raw = b"-----BEGIN CERTIFICATE-----\n\tMIIB\n";
        assert!(matches!(
            parse(HeaderFormat::Nginx, raw).unwrap_err(),
            HeaderError::BadPem(_) | HeaderError::NoPem
        ));
        let err = parse(HeaderFormat::Xfcc, b"Cert=\"abc").unwrap_err();
        assert!(err.to_string().contains("not closed"), "{err}");
    }

    /// A value as Envoy writes it with `forward_client_cert_details:
    /// SANITIZE_SET` and `set_current_client_cert_details: {subject: true,
    /// cert: true, chain: true, uri: true, dns: true}`.
    #[test]
    fn envoy_xfcc_with_cert_and_chain() {
        let (leaf, intermediate) = (cert("client"), cert("intermediate"));
        let value = format!(
            "By=spiffe://cluster.local/ns/default/sa/sandbox;Hash=8b3e0d4a9f;\
             Subject=\"CN=my_app,OU=Sandbox applications,O=mtls-sandbox (SANDBOX ONLY - not trusted anywhere)\";\
             URI=;DNS=client;Cert=\"{}\";Chain=\"{}\"",
            escaped(&[&leaf]),
            escaped(&[&leaf, &intermediate])
        );
        let forwarded = parse(HeaderFormat::Xfcc, value.as_bytes()).unwrap();
        assert_eq!(forwarded.chain, vec![leaf.clone(), intermediate.clone()]);
        assert!(forwarded.chain_included);

        let cert_only = format!("Hash=8b3e;Cert=\"{}\";Subject=\"CN=a;b\\\"c\"", escaped(&[&leaf]));
        let forwarded = parse(HeaderFormat::Xfcc, cert_only.as_bytes()).unwrap();
        assert_eq!((forwarded.chain, forwarded.chain_included), (vec![leaf.clone()], false));

        let mismatch = format!("Cert=\"{}\";Chain=\"{}\"", escaped(&[&leaf]), escaped(&[&intermediate]));
        assert_eq!(
            parse(HeaderFormat::Xfcc, mismatch.as_bytes()).unwrap_err(),
            HeaderError::XfccChainMismatch
        );
    }

    #[test]
    fn xfcc_without_a_certificate_or_with_several_hops_is_refused() {
        let err = parse(HeaderFormat::Xfcc, b"By=spiffe://a;Hash=abc;Subject=\"CN=x\"").unwrap_err();
        assert_eq!(err, HeaderError::XfccNoCert("By, Hash, Subject".into()));
        let two = format!(
            "Cert=\"{}\",By=spiffe://b;Cert=\"{}\"",
            escaped(&[&cert("a")]),
            escaped(&[&cert("b")])
        );
        assert_eq!(
            parse(HeaderFormat::Xfcc, two.as_bytes()).unwrap_err(),
            HeaderError::XfccElements(2)
        );
        assert!(matches!(
            parse(HeaderFormat::Xfcc, b"garbage").unwrap_err(),
            HeaderError::XfccSyntax(_)
        ));
    }
}

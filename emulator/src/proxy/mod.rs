//! Behind the user's own TLS terminator (the "semi-hosted" model): a
//! reverse proxy (nginx, Envoy) terminates TLS, asks the client for its
//! certificate and forwards it to the sandbox in a header.
//!
//! This module owns the mode's settings ([`BehindProxy`]: which addresses
//! are trusted proxies, which header, which format) and the decision for
//! one request ([`ForwardedCerts::resolve`]): which certificate chain is
//! the client's, or why there is none — explained for the proxy setup. A
//! forwarded chain is verified by the same client-certificate verifier the
//! mtls host's handshake uses (sandbox root, chain rule, CRL, sandbox
//! clock), so everything downstream (revocation, `tls_client_auth`, bound
//! tokens, the inspector) treats it as the connection's own.
//!
//! No HTTP here: the router's `forwarded_cert` layer reads the peer address
//! and the header, calls `resolve` and answers.

mod header;
mod verdicts;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderName;
use ipnet::IpNet;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use serde::{Deserialize, Serialize};
use x509_parser::prelude::{FromDer, X509Certificate};

pub use header::{Forwarded, HeaderError, HeaderFormat};

use crate::state::files;
use crate::tls::HandshakeFailure;
use verdicts::Verdicts;

/// The header nginx is told to set (`proxy_set_header X-SSL-Client-Cert
/// $ssl_client_escaped_cert;`) unless configured otherwise.
pub const DEFAULT_HEADER: &str = "x-ssl-client-cert";
/// Envoy's header; naming it selects the `xfcc` format.
pub const XFCC_HEADER: &str = "x-forwarded-client-cert";

/// `[behind_proxy]` as written in the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    /// Addresses (CIDR, or a single IP) whose certificate header is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The header carrying the client certificate (default x-ssl-client-cert).
    pub client_cert_header: Option<String>,
    /// `nginx` (URL-escaped PEM) or `xfcc` (Envoy); default from the header name.
    pub client_cert_header_format: Option<HeaderFormat>,
}

/// The mode's settings. The mode is on when there is at least one trusted
/// proxy ([`BehindProxy::check`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BehindProxy {
    pub trusted: Vec<IpNet>,
    pub header: Option<HeaderName>,
    pub format: Option<HeaderFormat>,
}

/// What `sandbox.json` says about the mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyInfo {
    pub trusted_proxies: Vec<String>,
    pub client_cert_header: String,
    pub client_cert_header_format: String,
}

impl BehindProxy {
    /// The settings of a config file's `[behind_proxy]`; the error names the key.
    pub fn from_section(section: ProxySection) -> Result<Self, String> {
        let trusted = section
            .trusted_proxies
            .iter()
            .map(|s| parse_trusted(s).map_err(|e| format!("trusted_proxies: {e}")))
            .collect::<Result<_, _>>()?;
        let header = match section.client_cert_header {
            Some(name) => Some(parse_header(&name).map_err(|e| format!("client_cert_header: {e}"))?),
            None => None,
        };
        let settings = Self {
            trusted,
            header,
            format: section.client_cert_header_format,
        };
        settings.check().map(|()| settings)
    }

    /// Refuses a header or format without a proxy allowed to send it.
    pub fn check(&self) -> Result<(), String> {
        if self.trusted.is_empty() && (self.header.is_some() || self.format.is_some()) {
            return Err(format!(
                "a client certificate header ({}) is configured but no trusted proxy: nobody would be allowed \
                 to send it. Add the proxy's address (--trusted-proxy 127.0.0.1/32, or trusted_proxies = \
                 [\"127.0.0.1/32\"] under [behind_proxy])",
                self.header()
            ));
        }
        Ok(())
    }

    pub fn is_on(&self) -> bool {
        !self.trusted.is_empty()
    }

    pub fn header(&self) -> HeaderName {
        self.header.clone().unwrap_or(HeaderName::from_static(DEFAULT_HEADER))
    }

    /// The configured format, else the one the header's name implies.
    pub fn format(&self) -> HeaderFormat {
        self.format.unwrap_or(if self.header() == XFCC_HEADER {
            HeaderFormat::Xfcc
        } else {
            HeaderFormat::Nginx
        })
    }

    /// Whether `peer` may forward a client certificate.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        // An IPv4 client of a dual-stack socket appears as ::ffff:a.b.c.d.
        let peer = peer.to_canonical();
        self.trusted.iter().any(|net| net.contains(&peer))
    }

    pub fn info(&self) -> ProxyInfo {
        ProxyInfo {
            trusted_proxies: self.trusted.iter().map(IpNet::to_string).collect(),
            client_cert_header: self.header().to_string(),
            client_cert_header_format: self.format().name().to_owned(),
        }
    }
}

impl fmt::Display for ProxyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client certificate from the {} header ({}) when sent by {}",
            self.client_cert_header,
            self.client_cert_header_format,
            self.trusted_proxies.join(", ")
        )
    }
}

/// A trusted proxy: a CIDR range, or one address.
pub fn parse_trusted(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            format!("'{s}' is not an address range (CIDR such as 127.0.0.1/32 or 10.0.0.0/8) nor an IP address")
        })
}

/// A header name, as HTTP allows it.
pub fn parse_header(s: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(s.trim().as_bytes())
        .map_err(|_| format!("'{s}' is not a valid HTTP header name (letters, digits and '-', e.g. x-ssl-client-cert)"))
}

/// What a host does with a client certificate.
pub enum Check {
    /// The mtls host: one is required and must pass `verifier` (the sandbox
    /// CA's, as in the handshake) at `now` (Unix seconds, the sandbox clock).
    Required {
        verifier: Arc<dyn ClientCertVerifier>,
        now: i64,
    },
    /// The auth host: optional, judged by the token endpoint per client.
    Optional,
}

/// Whose certificate a request carries.
#[derive(Debug, PartialEq)]
pub enum Chain {
    /// The chain a trusted proxy forwarded (leaf first, DER).
    Forwarded(Vec<Vec<u8>>),
    /// The connection's own (a client that came directly), or none where
    /// none is needed.
    Connection,
}

/// Why a request's client certificate does not count.
#[derive(Debug, Clone, PartialEq)]
pub enum ForwardedCertError {
    /// The header came from an address that is not a trusted proxy.
    Untrusted {
        peer: Option<IpAddr>,
        header: HeaderName,
        trusted: Vec<IpNet>,
    },
    /// A trusted proxy sent no certificate, and the connection has none.
    NoneForwarded { header: HeaderName, format: HeaderFormat },
    /// A direct client without a certificate on the mtls host.
    NoCertificate,
    Unreadable {
        header: HeaderName,
        format: HeaderFormat,
        error: HeaderError,
    },
    /// The sandbox CA's verifier refused the forwarded chain.
    Refused {
        failure: HandshakeFailure,
        chain: Vec<Vec<u8>>,
    },
}

/// The settings with what verifying a forwarded chain needs.
#[derive(Debug)]
pub struct ForwardedCerts {
    settings: BehindProxy,
    intermediate: Vec<u8>,
    intermediate_subject: Vec<u8>,
    verdicts: Verdicts,
}

impl ForwardedCerts {
    /// `intermediate` is the sandbox intermediate CA (DER): it completes a
    /// leaf forwarded without its chain (nginx cannot forward one).
    pub fn new(settings: BehindProxy, intermediate: &[u8]) -> Self {
        let intermediate_subject = X509Certificate::from_der(intermediate)
            .map(|(_, c)| c.subject().as_raw().to_vec())
            .unwrap_or_default();
        Self {
            settings,
            intermediate: intermediate.to_vec(),
            intermediate_subject,
            verdicts: Verdicts::default(),
        }
    }

    pub fn settings(&self) -> &BehindProxy {
        &self.settings
    }

    /// Decides whose certificate a request carries. `peer` is the address
    /// the connection comes from, `values` the certificate header's values,
    /// `connection_has_cert` whether the TLS handshake itself carried one.
    pub fn resolve(
        &self,
        peer: Option<IpAddr>,
        values: &[&[u8]],
        connection_has_cert: bool,
        check: Check,
    ) -> Result<Chain, ForwardedCertError> {
        let trusted = peer.is_some_and(|p| self.settings.trusts(p));
        let (header, format) = (self.settings.header(), self.settings.format());
        if values.is_empty() {
            return match check {
                Check::Required { .. } if !connection_has_cert && trusted => {
                    Err(ForwardedCertError::NoneForwarded { header, format })
                }
                Check::Required { .. } if !connection_has_cert => Err(ForwardedCertError::NoCertificate),
                _ => Ok(Chain::Connection),
            };
        }
        if !trusted {
            return Err(ForwardedCertError::Untrusted {
                peer,
                header,
                trusted: self.settings.trusted.clone(),
            });
        }
        let unreadable = |error| ForwardedCertError::Unreadable {
            header: header.clone(),
            format,
            error,
        };
        let [value] = values else {
            return Err(unreadable(HeaderError::Repeated));
        };
        if let Check::Required { verifier, now } = &check
            && let Some(chain) = self.verdicts.get(value, verifier, *now)
        {
            return Ok(Chain::Forwarded(chain));
        }
        let forwarded = header::parse(format, value).map_err(unreadable)?;
        let chain = self.completed(forwarded);
        if let Check::Required { verifier, .. } = &check {
            self.verify(&chain, verifier.as_ref())
                .map_err(|failure| ForwardedCertError::Refused {
                    failure,
                    chain: chain.clone(),
                })?;
            self.verdicts.insert(value, &chain, verifier);
        }
        Ok(Chain::Forwarded(chain))
    }

    /// A leaf the sandbox intermediate issued, forwarded without a chain,
    /// gets that intermediate: the proxy enforced the chain rule at its own
    /// handshake (README "Behind your own TLS terminator").
    fn completed(&self, forwarded: Forwarded) -> Vec<Vec<u8>> {
        let mut chain = forwarded.chain;
        let issued_by_ours = X509Certificate::from_der(&chain[0])
            .is_ok_and(|(_, leaf)| leaf.issuer().as_raw() == self.intermediate_subject.as_slice());
        if !forwarded.chain_included && chain.len() == 1 && issued_by_ours {
            chain.push(self.intermediate.clone());
        }
        chain
    }

    fn verify(&self, chain: &[Vec<u8>], verifier: &dyn ClientCertVerifier) -> Result<(), HandshakeFailure> {
        let leaf = CertificateDer::from(chain[0].as_slice());
        let intermediates: Vec<CertificateDer<'_>> = chain[1..]
            .iter()
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect();
        // The sandbox's verifier judges validity at the sandbox clock, not this "now".
        verifier
            .verify_client_cert(&leaf, &intermediates, UnixTime::now())
            .map(|_| ())
            .map_err(|err| HandshakeFailure::from_rejected_cert(&err, &leaf, &self.intermediate_subject))
    }
}

impl fmt::Display for ForwardedCertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardedCertError::Untrusted { peer, header, trusted } => {
                let peer = peer.map_or("an unknown address".into(), |p| p.to_canonical().to_string());
                let trusted: Vec<String> = trusted.iter().map(IpNet::to_string).collect();
                write!(
                    f,
                    "the request carries a {header} header but comes from {peer}, which is not a trusted proxy \
                     (trusted: {}); a forwarded client certificate is believed only from those addresses, since \
                     anyone else could name any certificate. Fix: send the request through your proxy; if {peer} \
                     is your proxy, start the sandbox with --trusted-proxy {peer} ([behind_proxy] trusted_proxies)",
                    trusted.join(", ")
                )
            }
            ForwardedCertError::NoneForwarded { header, format } => write!(
                f,
                "your proxy forwarded no client certificate: the request came from a trusted proxy without a \
                 {header} header. Either the client presented none to the proxy, or the proxy does not forward it. \
                 Fix: {}; and have the client present {} with {}",
                forward_instructions(header, *format),
                files::CLIENT_CERT,
                files::CLIENT_KEY
            ),
            ForwardedCertError::NoCertificate => write!(f, "{}", HandshakeFailure::NoCertificate),
            ForwardedCertError::Unreadable { header, format, error } => write!(
                f,
                "the {header} header your proxy forwarded cannot be read as a client certificate: {error}. Fix: {}",
                forward_instructions(header, *format)
            ),
            ForwardedCertError::Refused { failure, .. } => {
                write!(f, "the client certificate your proxy forwarded is refused: {failure}")
            }
        }
    }
}

/// How to make the proxy forward the certificate, in its own configuration
/// language.
fn forward_instructions(header: &HeaderName, format: HeaderFormat) -> String {
    match format {
        HeaderFormat::Nginx => format!(
            "in nginx, require and forward it: `ssl_verify_client on;` and `proxy_set_header {header} \
             $ssl_client_escaped_cert;` (the URL-escaped PEM; not $ssl_client_cert or $ssl_client_raw_cert), or set \
             client_cert_header_format = \"xfcc\" if your proxy is Envoy"
        ),
        HeaderFormat::Xfcc => format!(
            "in Envoy, set `forward_client_cert_details: SANITIZE_SET` and `set_current_client_cert_details: \
             {{ cert: true, chain: true }}` on the connection manager, with `require_client_certificate: true` \
             (the sandbox reads {header})"
        ),
    }
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;

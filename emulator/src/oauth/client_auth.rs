//! Client authentication at the token, introspection and revocation
//! endpoints: one decision function for the six methods of RFC 6749,
//! RFC 7523 and RFC 8705.
//!
//! The client's registration decides the method; presenting another one, or
//! two at once, is refused. TLS-based methods look at the certificate the
//! client presented on this connection (the auth listener accepts any
//! certificate at the handshake; this is where it is judged).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rustls::pki_types::CertificateDer;
use rustls::server::danger::ClientCertVerifier;
use serde::Deserialize;
use std::sync::Arc;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use super::client::{AuthMethod, Client};
use super::dn::Dn;
use super::error::OAuthError;
use super::token::x5t_s256;
use crate::per_cert::PerCertificate;
use crate::tls::CertProblem;
use crate::web::authorization::{self, BasicError};

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest client-assertion lifetime accepted.
const MAX_ASSERTION_LIFETIME: i64 = 3600;
/// Seconds the client's clock may be ahead of or behind ours when `exp`,
/// `nbf` and `iat` are judged (RFC 7523 §3 allows "some small leeway").
pub const CLOCK_SKEW: i64 = 60;

/// Credentials as presented on one request.
#[derive(Debug, Default)]
pub struct Presented {
    /// Decoded `Authorization: Basic` (client_id, secret).
    pub basic: Option<(String, String)>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub assertion_type: Option<String>,
    pub assertion: Option<String>,
    /// The TLS peer chain (DER, leaf first), if a certificate was presented.
    pub peer_chain: Vec<Vec<u8>>,
    /// The handshake already verified the chain against the sandbox CA
    /// (and its CRL): true on the mtls host, false on the auth host.
    pub chain_verified: bool,
}

/// Decodes an `Authorization: Basic` value (`web::authorization::basic`),
/// refusing it in RFC 6749's shape.
pub fn parse_basic(value: &str) -> Result<(String, String), OAuthError> {
    authorization::basic(value).map_err(|e| match e {
        BasicError::OtherScheme(scheme) => OAuthError::invalid_client(format!(
            "unsupported Authorization scheme '{scheme}' at the token endpoint; use Basic or form parameters"
        )),
        BasicError::Malformed => {
            OAuthError::invalid_client("the Authorization: Basic header is not base64(client_id:client_secret)")
        }
    })
}

/// The successful outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Authenticated {
    pub client: Client,
    pub method: AuthMethod,
    /// x5t#S256 of the presented certificate, for binding tokens to it.
    pub thumbprint: Option<String>,
}

/// What the decision needs besides the request.
pub struct AuthContext<'a> {
    /// Verifies a chain to the sandbox CA (tls_client_auth).
    pub ca_verifier: &'a dyn ClientCertVerifier,
    /// What is derived from a client certificate, kept by the authority.
    pub certs: &'a CertMemo,
    /// Acceptable `aud` values for client assertions.
    pub audiences: &'a [String],
    pub now: OffsetDateTime,
    /// Records an assertion id; false when it was already used.
    pub first_use: &'a dyn Fn(&str, &str, i64) -> Result<bool, OAuthError>,
    /// Whether [`presented_secret`] matched, when the caller already
    /// checked it off the async workers ([`Client::secret_matches_off_workers`]);
    /// `None` checks it here.
    pub secret_verdict: Option<bool>,
}

/// The client secret the request presented the way `client` is registered
/// to present it (HTTP Basic or the form), if any.
pub fn presented_secret<'a>(p: &'a Presented, client: &Client) -> Option<&'a str> {
    match (client.auth_method, &p.basic, &p.client_secret) {
        (AuthMethod::ClientSecretBasic, Some((_, s)), _) => Some(s),
        (AuthMethod::ClientSecretPost, None, Some(s)) => Some(s),
        _ => None,
    }
}

/// What a token request or a bearer call derives from its connection's
/// client certificate: its `x5t#S256` thumbprint (a token's `cnf`) and its
/// subject DN (tls_client_auth), computed once per certificate. They were
/// 54k of the 372k instructions of an ES256 token by tls_client_auth
/// (hashing ~1 KB, parsing the certificate), the same on every request of
/// a keep-alive connection (callgrind, issue #15).
///
/// Also the other side of that comparison: the subject DN a client
/// registered, parsed once per distinct string (keyed by its bytes, like a
/// certificate) instead of on every token — 22.7k of ~318k instructions
/// per token. Keyed by the text itself, a re-registered client with
/// another DN is simply another entry. Values are shared (`Arc`): cloning
/// a parsed DN out of the memo cost a dozen allocations per token.
#[derive(Default)]
pub struct CertMemo {
    thumbprints: PerCertificate<String>,
    subjects: PerCertificate<Option<Arc<Dn>>>,
    registered: PerCertificate<Arc<Result<Dn, String>>>,
}

impl CertMemo {
    pub fn thumbprint(&self, der: &[u8]) -> String {
        self.thumbprints.get(der, x5t_s256)
    }

    /// The certificate's subject; `None` when the certificate does not parse.
    pub fn subject(&self, der: &[u8]) -> Option<Arc<Dn>> {
        self.subjects.get(der, |der| {
            X509Certificate::from_der(der)
                .ok()
                .map(|(_, cert)| Arc::new(Dn::from_x509(cert.subject())))
        })
    }

    /// [`Dn::parse`] of a registered subject DN, the same answer (why it is
    /// malformed included) as parsing it again.
    pub fn registered_subject(&self, text: &str) -> Arc<Result<Dn, String>> {
        self.registered.get(text.as_bytes(), |_| Arc::new(Dn::parse(text)))
    }
}

/// The client id the request claims, before any check.
pub fn claimed_client_id(p: &Presented) -> Result<String, OAuthError> {
    let from_assertion = p.assertion.as_deref().and_then(super::token::unverified_subject);
    let ids: Vec<&str> = [
        p.basic.as_ref().map(|b| b.0.as_str()),
        p.client_id.as_deref(),
        from_assertion.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    match ids.split_first() {
        None => Err(OAuthError::invalid_client(
            "no client authentication: send client_id and client_secret (form or HTTP Basic), a client_assertion, or a client certificate with client_id",
        )),
        Some((first, rest)) if rest.iter().any(|id| id != first) => Err(OAuthError::invalid_request(
            "the request names two different client ids",
        )),
        Some((first, _)) => Ok((*first).to_owned()),
    }
}

/// Authenticates the request `p` as `client` (its registration, looked up
/// by the caller), which the outcome then carries: taken by value, as the
/// caller has no further use for it.
pub fn authenticate(p: &Presented, registered: Client, cx: &AuthContext<'_>) -> Result<Authenticated, OAuthError> {
    let client = &registered;
    let thumbprint = p.peer_chain.first().map(|der| cx.certs.thumbprint(der));
    let presented: Vec<AuthMethod> = [
        p.basic.as_ref().map(|_| AuthMethod::ClientSecretBasic),
        p.client_secret.as_ref().map(|_| AuthMethod::ClientSecretPost),
        p.assertion.as_ref().map(|_| AuthMethod::PrivateKeyJwt),
    ]
    .into_iter()
    .flatten()
    .collect();
    if presented.len() > 1 {
        return Err(OAuthError::invalid_request(
            "multiple client authentication methods in one request (e.g. HTTP Basic and client_secret in the form); use exactly one",
        ));
    }
    let wrong_method = |got: &str| {
        OAuthError::invalid_client(format!(
            "client '{}' is registered for {}, but the request used {got}",
            client.client_id,
            client.auth_method.name()
        ))
    };
    let used = match presented.first() {
        Some(AuthMethod::ClientSecretBasic) => "client_secret_basic (HTTP Basic)",
        Some(AuthMethod::ClientSecretPost) => "client_secret_post (client_secret in the form)",
        Some(_) => "a client_assertion",
        None if p.peer_chain.is_empty() => "no credentials",
        None => "only a TLS client certificate",
    };
    match client.auth_method {
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            let secret = presented_secret(p, client).ok_or_else(|| wrong_method(used))?;
            if !cx.secret_verdict.unwrap_or_else(|| client.secret_matches(secret)) {
                return Err(OAuthError::invalid_client(format!(
                    "wrong client_secret for client '{}' (deleted secrets stop working at once)",
                    client.client_id
                )));
            }
        }
        AuthMethod::ClientSecretJwt | AuthMethod::PrivateKeyJwt => {
            let assertion = p.assertion.as_deref().ok_or_else(|| wrong_method(used))?;
            if p.assertion_type.as_deref() != Some(JWT_BEARER) {
                return Err(OAuthError::invalid_request(format!(
                    "client_assertion_type must be {JWT_BEARER}"
                )));
            }
            verify_assertion(assertion, client, cx)?;
        }
        AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth => {
            if !presented.is_empty() {
                return Err(wrong_method(used));
            }
            let leaf = p.peer_chain.first().ok_or_else(|| {
                OAuthError::invalid_client(format!(
                    "client '{}' authenticates with its TLS client certificate ({}), but this connection presented none: \
                     pass --cert and --key (curl) and call the token endpoint over TLS directly",
                    client.client_id,
                    client.auth_method.name()
                ))
            })?;
            if client.auth_method == AuthMethod::TlsClientAuth {
                check_pki_cert(leaf, &p.peer_chain[1..], p.chain_verified, client, cx)?;
            } else {
                check_self_signed_cert(leaf, client)?;
            }
        }
    }
    Ok(Authenticated {
        method: registered.auth_method,
        client: registered,
        thumbprint,
    })
}

/// The claims of a client assertion, each checked with a message naming it.
#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

fn verify_assertion(assertion: &str, client: &Client, cx: &AuthContext<'_>) -> Result<(), OAuthError> {
    let invalid = |why: String| OAuthError::invalid_client(format!("client_assertion refused: {why}"));
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| invalid(format!("not a JWT ({e})")))?;
    let keys: Vec<DecodingKey> = match client.auth_method {
        AuthMethod::ClientSecretJwt => {
            if header.alg != Algorithm::HS256 {
                return Err(invalid(format!(
                    "client_secret_jwt assertions must be HS256, not {:?}",
                    header.alg
                )));
            }
            let keys: Vec<DecodingKey> = client
                .secrets
                .iter()
                .filter_map(|s| s.clear.as_deref())
                .map(|s| DecodingKey::from_secret(s.as_bytes()))
                .collect();
            if keys.is_empty() {
                return Err(invalid(
                    "client_secret_jwt needs a static client whose secret is in the config file".into(),
                ));
            }
            keys
        }
        _ => {
            if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256) {
                return Err(invalid(format!(
                    "private_key_jwt assertions must be RS256, PS256 or ES256, not {:?}",
                    header.alg
                )));
            }
            let jwks: JwkSet = client
                .jwks
                .clone()
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| invalid(format!("client '{}' has no usable registered JWKS", client.client_id)))?;
            if let Some(kid) = &header.kid
                && !jwks.keys.iter().any(|k| k.common.key_id.as_ref() == Some(kid))
            {
                return Err(invalid(unknown_kid(kid, &jwks, &client.client_id)));
            }
            let named: Vec<&Jwk> = jwks
                .keys
                .iter()
                .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
                .collect();
            // RFC 7517 §4.4: a key registered with an `alg` is for that
            // algorithm only (an RS256 key must not verify PS256).
            let alg = format!("{:?}", header.alg);
            let allowed: Vec<&Jwk> = named
                .iter()
                .copied()
                .filter(|k| k.common.key_algorithm.is_none_or(|a| a.to_string() == alg))
                .collect();
            if allowed.is_empty() && !named.is_empty() {
                let registered: Vec<String> = named
                    .iter()
                    .filter_map(|k| k.common.key_algorithm.map(|a| a.to_string()))
                    .collect();
                return Err(invalid(format!(
                    "the JWT header's alg {alg} is not the alg registered with the client's key ({}); \
                     sign with the registered alg or register the key without one",
                    registered.join(", ")
                )));
            }
            allowed
                .into_iter()
                .filter_map(|k| DecodingKey::from_jwk(k).ok())
                .collect()
        }
    };
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    // Verify the signature over any JSON payload, then judge each claim:
    // a missing claim is not a bad signature.
    let payload = keys
        .iter()
        .find_map(|key| jsonwebtoken::decode::<serde_json::Value>(assertion, key, &validation).ok())
        .ok_or_else(|| invalid("the signature does not verify with the client's registered key or secret".into()))?
        .claims;
    let claims: AssertionClaims =
        serde_json::from_value(payload).map_err(|e| invalid(format!("its claims have the wrong types: {e}")))?;
    let (jti, exp) = check_claims(claims, client, cx).map_err(invalid)?;
    if !(cx.first_use)(&client.client_id, &jti, exp)? {
        return Err(invalid(format!("jti '{jti}' was already used (replay)")));
    }
    Ok(())
}

/// RFC 7523 §3: `iss` and `sub` are the client, `aud` names this server,
/// `exp` is present and near, `nbf` and `iat` (when present) are not in
/// the future; plus a non-empty `jti` against replay. Returns (jti, exp).
fn check_claims(claims: AssertionClaims, client: &Client, cx: &AuthContext<'_>) -> Result<(String, i64), String> {
    let id = &client.client_id;
    let missing = |claim: &str, what: String| format!("it has no {claim} claim ({what})");
    let iss = claims
        .iss
        .ok_or_else(|| missing("iss", format!("it must be the client_id '{id}'")))?;
    let sub = claims
        .sub
        .ok_or_else(|| missing("sub", format!("it must be the client_id '{id}'")))?;
    if iss != *id || sub != *id {
        return Err(format!("iss and sub must both be the client_id '{id}'"));
    }
    let auds = match claims.aud {
        None => {
            return Err(missing(
                "aud",
                format!("use the token endpoint URL, one of {:?}", cx.audiences),
            ));
        }
        Some(Audience::One(a)) => vec![a],
        Some(Audience::Many(a)) => a,
    };
    if !auds.iter().any(|a| cx.audiences.contains(a)) {
        return Err(format!(
            "aud {auds:?} must contain the token endpoint URL (one of {:?})",
            cx.audiences
        ));
    }
    let now = cx.now.unix_timestamp();
    let exp = claims
        .exp
        .ok_or_else(|| missing("exp", format!("set it at most {MAX_ASSERTION_LIFETIME} seconds ahead")))?;
    if exp + CLOCK_SKEW <= now {
        return Err(format!(
            "it has expired (exp is {} seconds in the past; {CLOCK_SKEW} s of clock skew allowed)",
            now - exp
        ));
    }
    if exp > now + MAX_ASSERTION_LIFETIME + CLOCK_SKEW {
        return Err(format!("exp is more than {MAX_ASSERTION_LIFETIME} seconds ahead"));
    }
    for (claim, value) in [("nbf", claims.nbf), ("iat", claims.iat)] {
        if let Some(at) = value
            && at > now + CLOCK_SKEW
        {
            return Err(format!(
                "{claim} is {} seconds in the future (more than the {CLOCK_SKEW} s of clock skew allowed); \
                 check the client's clock",
                at - now
            ));
        }
    }
    let jti = claims
        .jti
        .ok_or_else(|| missing("jti", "needed to prevent replay".into()))?;
    if jti.trim().is_empty() {
        return Err("jti is empty; send a unique value per assertion (needed to prevent replay)".into());
    }
    Ok((jti, exp))
}

/// Names the kids a private_key_jwt client has registered: a kid that
/// matches none of them is a different mistake (a new or test key) from a
/// signature that does not verify, and deserves its own answer.
fn unknown_kid(kid: &str, jwks: &JwkSet, client_id: &str) -> String {
    let kids: Vec<String> = jwks
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.as_deref())
        .map(|k| format!("'{k}'"))
        .collect();
    let registered = match kids.as_slice() {
        [] => "its registered keys have no kid".to_owned(),
        kids => format!("its registered kids are {}", kids.join(", ")),
    };
    format!(
        "the JWT header's kid '{kid}' matches no key registered for client '{client_id}' ({registered}). \
         Fix: sign with a registered key and put its kid in the header, or register this key's public JWK for the client"
    )
}

fn check_pki_cert(
    leaf: &[u8],
    rest: &[Vec<u8>],
    chain_verified: bool,
    client: &Client,
    cx: &AuthContext<'_>,
) -> Result<(), OAuthError> {
    if !chain_verified {
        let ee = CertificateDer::from(leaf);
        let intermediates: Vec<CertificateDer<'_>> = rest.iter().map(|d| CertificateDer::from(d.as_slice())).collect();
        let unix_now = rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            cx.now.unix_timestamp().max(0) as u64,
        ));
        cx.ca_verifier
            .verify_client_cert(&ee, &intermediates, unix_now)
            .map_err(|e| {
                let self_signed = X509Certificate::from_der(leaf)
                    .is_ok_and(|(_, cert)| cert.issuer().as_raw() == cert.subject().as_raw());
                OAuthError::invalid_client(format!(
                    "tls_client_auth: the client certificate \"{}\" {}",
                    subject_of(leaf).unwrap_or_default(),
                    CertProblem::from_tls_error(&e, self_signed)
                ))
            })?;
    }
    let subject = cx
        .certs
        .subject(leaf)
        .ok_or_else(|| OAuthError::invalid_client("the client certificate cannot be parsed"))?;
    let registered = client.tls_subject_dn.as_deref().unwrap_or("");
    let parsed = cx.certs.registered_subject(registered);
    let expected = parsed.as_ref().as_ref().map_err(|why| {
        OAuthError::invalid_client(format!(
            "tls_client_auth: the subject DN registered for client '{}' (\"{registered}\") is malformed: {why}; \
             register the client again with a valid one",
            client.client_id
        ))
    })?;
    if *subject != *expected {
        let hint = if subject.same_rdns_in_another_order(expected) {
            " — the same attributes in another order: an RFC 4514 DN lists the most specific RDN (usually CN) first"
        } else {
            ""
        };
        return Err(OAuthError::invalid_client(format!(
            "tls_client_auth: certificate subject \"{subject}\" is not the one registered for client '{}' (\"{registered}\"){hint}",
            client.client_id
        )));
    }
    Ok(())
}

fn check_self_signed_cert(leaf: &[u8], client: &Client) -> Result<(), OAuthError> {
    let registered_cert = client
        .certificates
        .iter()
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .any(|der| der == leaf);
    let registered_key = || -> bool {
        let Ok((_, cert)) = X509Certificate::from_der(leaf) else {
            return false;
        };
        let Some(jwks) = client
            .jwks
            .clone()
            .and_then(|v| serde_json::from_value::<JwkSet>(v).ok())
        else {
            return false;
        };
        jwks.keys.iter().any(|jwk| spki_matches_jwk(&cert, &jwk.algorithm))
    };
    if registered_cert || registered_key() {
        Ok(())
    } else {
        Err(OAuthError::invalid_client(format!(
            "self_signed_tls_client_auth: the presented certificate (\"{}\") is not registered for client '{}'",
            subject_of(leaf).unwrap_or_default(),
            client.client_id
        )))
    }
}

fn spki_matches_jwk(cert: &X509Certificate<'_>, jwk: &AlgorithmParameters) -> bool {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    match (cert.public_key().parsed(), jwk) {
        (Ok(PublicKey::RSA(rsa)), AlgorithmParameters::RSA(params)) => {
            let strip = |b: &[u8]| b64(&b[b.iter().take_while(|x| **x == 0).count()..]);
            strip(rsa.modulus) == params.n && strip(rsa.exponent) == params.e
        }
        (Ok(PublicKey::EC(point)), AlgorithmParameters::EllipticCurve(params)) => {
            let data = point.data();
            data.len() == 65 && data[0] == 4 && b64(&data[1..33]) == params.x && b64(&data[33..]) == params.y
        }
        _ => false,
    }
}

fn subject_of(der: &[u8]) -> Result<String, OAuthError> {
    crate::pki::subject_of(der).ok_or_else(|| OAuthError::invalid_client("the client certificate cannot be parsed"))
}

#[cfg(test)]
#[path = "client_auth_tests.rs"]
mod tests;

//! Access tokens: JWTs (RFC 9068 profile) signed with the sandbox key,
//! optionally bound to a client certificate (RFC 8705 `cnf.x5t#S256`).
//!
//! Expiry is judged by the sandbox clock, not by the JWT library's system
//! time, so tests can move past `exp` without sleeping.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys::{KeySet, SigningKey};

/// Lifetime of an access token, as the provider issues them.
pub const EXPIRES_IN: i64 = 3599;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Confirmation {
    #[serde(rename = "x5t#S256")]
    pub x5t_s256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub scope: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl AccessClaims {
    /// The claims of a token issued `now` with the id `jti`. The caller
    /// picks the id: the authority draws it from the sandbox's entropy
    /// (seeded under `--deterministic`), and a random one made here was
    /// thrown away on every token.
    pub fn new(
        iss: &str,
        aud: &str,
        client_id: &str,
        scope: &str,
        thumbprint: Option<String>,
        now: OffsetDateTime,
        jti: String,
    ) -> Self {
        let now = now.unix_timestamp();
        Self {
            iss: iss.into(),
            sub: client_id.into(),
            aud: aud.into(),
            iat: now,
            nbf: now,
            exp: now + EXPIRES_IN,
            jti,
            scope: scope.into(),
            client_id: client_id.into(),
            cnf: thumbprint.map(|x5t_s256| Confirmation { x5t_s256 }),
        }
    }

    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split_whitespace()
    }
}

/// Why a presented access token is refused. Each says it plainly.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is signed with '{0}', which this sandbox does not accept (alg none and HMAC are refused)")]
    BadAlgorithm(String),
    #[error(
        "the token's key id is unknown to this sandbox (was it issued by another sandbox, or before a key rotation?)"
    )]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token expired at {0}")]
    Expired(String),
    /// Only the sandbox's own tokens get this far (the signature held), and
    /// they are valid from their issue time: so "now" is before the token
    /// was issued — the clock was set back since.
    #[error(
        "the token is not valid before {nbf}, and the sandbox clock says {now}: \
         the clock was set back since it was issued"
    )]
    NotYetValid { nbf: String, now: String },
    #[error("the token was issued by '{0}', not by this sandbox")]
    WrongIssuer(String),
    #[error("the token is meant for '{0}', not for this API")]
    WrongAudience(String),
    #[error("the token has been revoked")]
    Revoked,
}

pub fn issue(claims: &AccessClaims, key: &SigningKey) -> Result<String, jsonwebtoken::errors::Error> {
    let mut header = Header::new(key.alg.algorithm());
    header.kid = Some(key.kid.clone());
    header.typ = Some("at+jwt".into());
    jsonwebtoken::encode(&header, claims, &key.encoding)
}

/// Verifies signature, issuer, audience and validity window at `now`.
pub fn verify(
    token: &str,
    keys: &KeySet,
    iss: &str,
    aud: &str,
    now: OffsetDateTime,
) -> Result<AccessClaims, TokenError> {
    let claims = verify_signed(token, keys, iss, aud)?;
    check_window(&claims, now)?;
    Ok(claims)
}

/// [`verify`] but for the validity window, which the caller checks against
/// the time of the client the claims name ([`Clock::now_for`](crate::clock::Clock::now_for)).
pub fn verify_signed(token: &str, keys: &KeySet, iss: &str, aud: &str) -> Result<AccessClaims, TokenError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    let kid = header.kid.as_deref().ok_or(TokenError::UnknownKey)?;
    let key = keys.find(kid).ok_or(TokenError::UnknownKey)?;
    if header.alg != key.alg.algorithm() {
        return Err(TokenError::BadAlgorithm(format!("{:?}", header.alg)));
    }
    let mut validation = Validation::new(key.alg.algorithm());
    // Time and audience are checked below, against the sandbox clock and
    // with messages that say what was wrong.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation).map_err(|e| match e.kind() {
        jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
        _ => TokenError::Malformed,
    })?;
    let claims = data.claims;
    if claims.iss != iss {
        return Err(TokenError::WrongIssuer(claims.iss));
    }
    if claims.aud != aud {
        return Err(TokenError::WrongAudience(claims.aud));
    }
    Ok(claims)
}

/// Checks `nbf <= now < exp`.
pub fn check_window(claims: &AccessClaims, now: OffsetDateTime) -> Result<(), TokenError> {
    let at = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t)
            .map(crate::records::rfc3339)
            .unwrap_or_else(|_| t.to_string())
    };
    let now = now.unix_timestamp();
    if now >= claims.exp {
        return Err(TokenError::Expired(at(claims.exp)));
    }
    if now < claims.nbf {
        return Err(TokenError::NotYetValid {
            nbf: at(claims.nbf),
            now: at(now),
        });
    }
    Ok(())
}

/// RFC 8705 certificate thumbprint: base64url(SHA-256(DER)).
pub fn x5t_s256(cert_der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert_der);
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Whether `token` looks like a JWT (three dot-separated parts) rather than
/// an opaque reference.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// The claims of a JWT as sent, decoded without any check: for showing a
/// token, matching fault rules and reading the client id a request claims,
/// never for trusting it.
///
/// Only the payload is read. `jsonwebtoken::dangerous::insecure_decode` also
/// parses the header and gives nothing for one this sandbox refuses
/// (`alg: none`, an unknown alg); reading past it lets verification say why
/// such a token is refused instead of the request looking anonymous.
pub fn unverified_claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1)?).ok()?;
    serde_json::from_slice(&payload).ok()
}

/// The `sub` of a JWT as sent, unchecked (see [`unverified_claims`]): the
/// client a client assertion claims to come from.
pub fn unverified_subject(jwt: &str) -> Option<String> {
    unverified_claims(jwt)?.get("sub")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::super::keys::SigningAlg;
    use super::*;

    fn keyset(alg: SigningAlg) -> KeySet {
        KeySet::new(SigningKey::from_pem(alg, &alg.generate_pem().unwrap(), "k").unwrap())
    }

    const ISS: &str = "https://127.0.0.1:4445";
    const AUD: &str = "mtls-sandbox-api";

    #[test]
    fn issued_tokens_verify_and_carry_the_claims() {
        for alg in [SigningAlg::PS256, SigningAlg::ES256] {
            let keys = keyset(alg);
            let now = OffsetDateTime::now_utc();
            let claims = AccessClaims::new(ISS, AUD, "app", "api", Some("thumb".into()), now, "jti-1".into());
            let jwt = issue(&claims, &keys.active).unwrap();
            let header = jsonwebtoken::decode_header(&jwt).unwrap();
            assert_eq!(
                (header.kid.as_deref(), header.typ.as_deref()),
                (Some(keys.active.kid.as_str()), Some("at+jwt"))
            );
            assert_eq!(verify(&jwt, &keys, ISS, AUD, now).unwrap(), claims);
            assert_eq!(claims.exp - claims.iat, 3599);
        }
    }

    #[test]
    fn every_kind_of_bad_token_is_refused_with_its_reason() {
        let keys = keyset(SigningAlg::ES256);
        let now = OffsetDateTime::now_utc();
        let claims = AccessClaims::new(ISS, AUD, "app", "api", None, now, "jti-3".into());
        let jwt = issue(&claims, &keys.active).unwrap();

        let later = now + time::Duration::seconds(3600);
        assert!(matches!(
            verify(&jwt, &keys, ISS, AUD, later),
            Err(TokenError::Expired(_))
        ));
        let earlier = now - time::Duration::seconds(10);
        assert!(matches!(
            verify(&jwt, &keys, ISS, AUD, earlier),
            Err(TokenError::NotYetValid { .. })
        ));
        assert!(matches!(
            verify(&jwt, &keys, "https://other", AUD, now),
            Err(TokenError::WrongIssuer(_))
        ));
        assert!(matches!(
            verify(&jwt, &keys, ISS, "other-api", now),
            Err(TokenError::WrongAudience(_))
        ));

        let (head, rest) = jwt.split_once('.').unwrap();
        let (payload, sig) = rest.split_once('.').unwrap();
        let mut forged: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        forged["scope"] = "admin".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(forged.to_string());
        assert_eq!(
            verify(&format!("{head}.{forged_payload}.{sig}"), &keys, ISS, AUD, now),
            Err(TokenError::BadSignature)
        );

        let none_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, keys.active.kid));
        assert!(verify(&format!("{none_header}.{payload}."), &keys, ISS, AUD, now).is_err());

        let other = keyset(SigningAlg::ES256);
        let stranger = issue(&claims, &other.active).unwrap();
        assert_eq!(verify(&stranger, &keys, ISS, AUD, now), Err(TokenError::UnknownKey));
        assert_eq!(verify("abc", &keys, ISS, AUD, now), Err(TokenError::Malformed));
    }

    #[test]
    fn thumbprint_is_base64url_sha256() {
        // SHA-256("abc") = ba7816bf...
        assert_eq!(x5t_s256(b"abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    }

    #[test]
    fn unverified_claims_read_the_payload_whatever_the_header() {
        let payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"client-1"}"#);
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let claims = unverified_claims(&format!("{none_header}.{payload}.")).unwrap();
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(unverified_claims("opaque-reference"), None);
        assert_eq!(unverified_claims("a.not base64.c"), None);
    }
}

//! The `Authorization` request header, parsed one way for every area: the
//! resource API, the token endpoint, the portal, the gateway, fault rules
//! and the inspector.
//!
//! RFC 7235: `<scheme> <credentials>`, the scheme compared
//! case-insensitively; surrounding whitespace is ignored. Basic credentials
//! are `base64(client_id:client_secret)` with each half form-encoded first
//! (RFC 6749 §2.3.1). What a refusal says is up to the caller: the token
//! endpoint answers in RFC 6749's shape, the API in the provider's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The `lean-app-token` header: the application token on the resource API.
pub const APP_TOKEN_HEADER: &str = "lean-app-token";

/// The same as a header name, for lookups on every request: a `&str` key
/// is parsed and lower-cased at each `HeaderMap::get`.
pub const APP_TOKEN: axum::http::HeaderName = axum::http::HeaderName::from_static(APP_TOKEN_HEADER);

/// The scheme and the credentials of an `Authorization` value.
fn split(value: &str) -> Option<(&str, &str)> {
    let (scheme, credentials) = value.trim().split_once(' ')?;
    Some((scheme, credentials.trim()))
}

/// The token of `Bearer <token>`; `None` for another scheme or no token.
pub fn bearer(value: &str) -> Option<&str> {
    match split(value) {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => Some(token),
        _ => None,
    }
}

/// Whether the value uses `scheme` (compared case-insensitively).
pub fn has_scheme(value: &str, scheme: &str) -> bool {
    split(value).is_some_and(|(s, _)| s.eq_ignore_ascii_case(scheme))
}

/// Why a value is not usable Basic credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BasicError {
    /// Another scheme (named as sent).
    OtherScheme(String),
    /// `Basic` but not `base64(id:secret)`, or no scheme at all.
    Malformed,
}

/// `(client_id, client_secret)` from `Basic base64(id:secret)`.
pub fn basic(value: &str) -> Result<(String, String), BasicError> {
    let (scheme, b64) = split(value).ok_or(BasicError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(BasicError::OtherScheme(scheme.to_owned()));
    }
    let raw = STANDARD.decode(b64).map_err(|_| BasicError::Malformed)?;
    let text = String::from_utf8(raw).map_err(|_| BasicError::Malformed)?;
    let (id, secret) = text.split_once(':').ok_or(BasicError::Malformed)?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("v={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Ok((
        decode(id).ok_or(BasicError::Malformed)?,
        decode(secret).ok_or(BasicError::Malformed)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_case_insensitive_and_whitespace_is_ignored() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("BEARER abc"), Some("abc"));
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearerabc"), None);
        assert!(has_scheme("basic eA==", "Basic"));
    }

    #[test]
    fn basic_credentials_are_form_decoded_halves() {
        let value = format!("basic {}", STANDARD.encode("my%20id:s%3Ac"));
        assert_eq!(basic(&value), Ok(("my id".into(), "s:c".into())));
        assert_eq!(basic("Bearer x"), Err(BasicError::OtherScheme("Bearer".into())));
        assert_eq!(basic("Basic !!"), Err(BasicError::Malformed));
        assert_eq!(basic("Basic"), Err(BasicError::Malformed));
    }
}

//! Bearer tokens presented to the resource servers (the resource API, the
//! management API, gateway routes): verification including the RFC 8705
//! certificate binding, and its refusals in the provider's error shape.
//!
//! [`Authority::verify_bearer`] is the decision, plain and HTTP-free; the
//! rest of this module is the edge that reads it from a request and answers
//! with an [`ApiError`] (and RFC 6750's `WWW-Authenticate`).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum_server::tls::TlsInfo;

use super::authority::{Authority, VerifyError};
use super::token::TokenError;
use super::verified::Verified;
use crate::hosts::Host;
use crate::web::ApiError;
use crate::web::authorization;

/// Why a presented bearer token is refused.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The sandbox could not check the token (records, signing).
    #[error("{0}")]
    Internal(String),
    #[error(
        "this token is bound to another client certificate (cnf.x5t#S256); call with the certificate it was issued to"
    )]
    OtherCertificate,
    #[error("this token is bound to a client certificate; call the mtls host presenting that certificate")]
    NoCertificate,
    #[error("this sandbox requires certificate-bound tokens on the mtls host: request the token over mTLS")]
    Unbound,
}

impl Authority {
    /// Verifies a presented access token and its certificate binding
    /// against `certificate`, the connection's client certificate (DER);
    /// `require_binding` also refuses unbound tokens. Returns the token's
    /// JWT form (an opaque token is resolved) and its claims.
    pub fn verify_bearer(
        &self,
        token: &str,
        certificate: Option<&[u8]>,
        require_binding: bool,
    ) -> Result<Arc<Verified>, BearerError> {
        let verified = self.verify(token).map_err(|e| match e {
            VerifyError::Token(e) => BearerError::Token(e),
            VerifyError::OAuth(e) => BearerError::Internal(e.description),
        })?;
        let thumbprint = certificate.map(|der| self.certs.thumbprint(der));
        match (&verified.claims.cnf, thumbprint) {
            (Some(cnf), Some(thumbprint)) if cnf.x5t_s256 == thumbprint => {}
            (Some(_), Some(_)) => return Err(BearerError::OtherCertificate),
            (Some(_), None) => return Err(BearerError::NoCertificate),
            (None, _) if require_binding => return Err(BearerError::Unbound),
            (None, _) => {}
        }
        Ok(verified)
    }
}

impl From<BearerError> for ApiError {
    fn from(e: BearerError) -> Self {
        match e {
            BearerError::Token(e) => {
                invalid_token("UNAUTHORIZED", format!("{e}; get a new one from POST /oauth2/token"))
            }
            BearerError::Internal(description) => ApiError::internal(description),
            other => invalid_token("CERTIFICATE_TOKEN_MISMATCH", other.to_string()),
        }
    }
}

/// A 401 for a bad bearer token, with RFC 6750's header.
fn invalid_token(status: &'static str, message: String) -> ApiError {
    let header = format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        message.replace('"', "'")
    );
    ApiError::new(StatusCode::UNAUTHORIZED, status, message).with_www_authenticate(header)
}

/// A 403 naming the scope a call needs and the scopes the token has.
pub fn insufficient(have: &str, need: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "INSUFFICIENT_ACCESS_LEVEL",
        format!("this call needs scope '{need}'; the token has '{have}'. Request a token with scope={need}"),
    )
}

/// Verifies the `Authorization` header value `value` of the request in
/// `parts` as a bearer token bound to the connection's client certificate.
pub fn verify(
    authority: &Authority,
    parts: &Parts,
    value: &str,
    require_binding: bool,
) -> Result<Arc<Verified>, ApiError> {
    let token = authorization::bearer(value).ok_or_else(|| {
        ApiError::unauthorized(
            "unsupported Authorization header: send `Authorization: Bearer <access token>` or the lean-app-token header",
        )
    })?;
    let certificate = parts
        .extensions
        .get::<Arc<TlsInfo>>()
        .and_then(|tls| tls.peer_certificates.first());
    Ok(authority.verify_bearer(token, certificate.map(|c| c.as_ref()), require_binding)?)
}

/// As [`verify`], with the binding the host asks for: the mtls host refuses
/// unbound tokens when the sandbox requires binding.
pub fn verify_on_host(authority: &Authority, parts: &Parts, value: &str) -> Result<Arc<Verified>, ApiError> {
    let host = parts.extensions.get::<Host>().copied();
    let require_binding = host == Some(Host::Mtls) && authority.require_binding;
    verify(authority, parts, value, require_binding)
}

/// A caller of the management API: a bearer token with scope `admin`.
pub struct Admin;

impl<S> FromRequestParts<S> for Admin
where
    Arc<Authority>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let authority = Arc::<Authority>::from_ref(state);
        let value = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::unauthorized("the management API needs Authorization: Bearer <token with scope admin> (e.g. client testing/testing)")
            })?;
        let claims = &verify_on_host(&authority, parts, &value)?.claims;
        if claims.scopes().any(|s| s == "admin") {
            Ok(Admin)
        } else {
            Err(insufficient(&claims.scope, "admin"))
        }
    }
}

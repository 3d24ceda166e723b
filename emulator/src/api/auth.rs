//! Who is calling: the `Caller` extractor for the resource API and the
//! `Admin` extractor for the management API.
//!
//! The resource API accepts `lean-app-token: <app token>` (unless the
//! application has been switched to OAuth) or `Authorization: Bearer
//! <access token>` — a JWT or an opaque reference, checked for signature,
//! expiry, revocation, and on the mtls host its certificate binding.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum_server::tls::TlsInfo;

use super::error::ApiError;
use crate::config::AuthMode;
use crate::context::Ctx;
use crate::hosts::Host;
use crate::oauth::authority::VerifyError;
use crate::oauth::token::{AccessClaims, x5t_s256};

pub const APP_TOKEN_HEADER: &str = "lean-app-token";

/// An authenticated caller of the resource API.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// Authenticated with the application token.
    App,
    /// Authenticated with an access token.
    Bearer(AccessClaims),
}

impl Caller {
    /// Calls that act for the application need scope `api`.
    pub fn require_api(&self) -> Result<(), ApiError> {
        match self {
            Caller::App => Ok(()),
            Caller::Bearer(claims) if claims.scopes().any(|s| s == "api") => Ok(()),
            Caller::Bearer(claims) => Err(insufficient(&claims.scope, "api")),
        }
    }

    /// Reading one customer needs `api` or `customer.<id>`.
    pub fn require_customer(&self, id: &str) -> Result<(), ApiError> {
        let wanted = format!("customer.{id}");
        match self {
            Caller::Bearer(claims) if claims.scopes().any(|s| s == wanted) => Ok(()),
            other => other.require_api().map_err(|_| insufficient(other.scope(), &wanted)),
        }
    }

    fn scope(&self) -> &str {
        match self {
            Caller::App => "",
            Caller::Bearer(claims) => &claims.scope,
        }
    }
}

pub fn insufficient(have: &str, need: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "INSUFFICIENT_ACCESS_LEVEL",
        format!("this call needs scope '{need}'; the token has '{have}'. Request a token with scope={need}"),
    )
}

/// A 401 for a bad bearer token, with RFC 6750's header.
fn invalid_token(status: &'static str, message: String) -> ApiError {
    let header = format!(
        "Bearer error=\"invalid_token\", error_description=\"{}\"",
        message.replace('"', "'")
    );
    ApiError::new(StatusCode::UNAUTHORIZED, status, message).with_www_authenticate(header)
}

/// Verifies the bearer token in `value` (the whole Authorization header).
fn bearer(parts: &Parts, ctx: &Ctx, value: &str) -> Result<AccessClaims, ApiError> {
    let host = parts.extensions.get::<Host>().copied();
    let require_binding = host == Some(Host::Mtls) && ctx.oauth.require_binding;
    verify_bearer(parts, ctx, value, require_binding).map(|(_, claims)| claims)
}

/// Verifies the `Authorization` header value `value` as a bearer token,
/// including its certificate binding against the connection's client
/// certificate; `require_binding` also refuses unbound tokens. Returns the
/// token's JWT form (an opaque token is resolved) and its claims.
pub fn verify_bearer(
    parts: &Parts,
    ctx: &Ctx,
    value: &str,
    require_binding: bool,
) -> Result<(String, AccessClaims), ApiError> {
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => token.trim(),
        _ => {
            return Err(ApiError::unauthorized(
                "unsupported Authorization header: send `Authorization: Bearer <access token>` or the lean-app-token header",
            ));
        }
    };
    let (jwt, claims) = match ctx.oauth.verify(&ctx.records, token) {
        Ok(verified) => verified,
        Err(VerifyError::Token(e)) => {
            return Err(invalid_token(
                "UNAUTHORIZED",
                format!("{e}; get a new one from POST /oauth2/token"),
            ));
        }
        Err(VerifyError::OAuth(e)) => return Err(ApiError::internal(e.description)),
    };
    let presented = parts
        .extensions
        .get::<Arc<TlsInfo>>()
        .and_then(|tls| tls.peer_certificates.first().map(|der| x5t_s256(der)));
    match (&claims.cnf, presented) {
        (Some(cnf), Some(thumbprint)) if cnf.x5t_s256 == thumbprint => {}
        (Some(_), Some(_)) => {
            return Err(invalid_token(
                "CERTIFICATE_TOKEN_MISMATCH",
                "this token is bound to another client certificate (cnf.x5t#S256); call with the certificate it was issued to".into(),
            ));
        }
        (Some(_), None) => {
            return Err(invalid_token(
                "CERTIFICATE_TOKEN_MISMATCH",
                "this token is bound to a client certificate; call the mtls host presenting that certificate".into(),
            ));
        }
        (None, _) if require_binding => {
            return Err(invalid_token(
                "CERTIFICATE_TOKEN_MISMATCH",
                "this sandbox requires certificate-bound tokens on the mtls host: request the token over mTLS".into(),
            ));
        }
        (None, _) => {}
    }
    Ok((jwt, claims))
}

impl FromRequestParts<Ctx> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        if let Some(auth) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let value = auth.to_str().unwrap_or("").to_owned();
            return bearer(parts, ctx, &value).map(Caller::Bearer);
        }
        let Some(token) = parts.headers.get(APP_TOKEN_HEADER) else {
            return Err(ApiError::unauthorized(match ctx.config.auth_mode {
                AuthMode::AppToken => {
                    "missing credentials: send the lean-app-token header (your app token is in sandbox.json) or Authorization: Bearer <access token>"
                }
                AuthMode::Oauth => {
                    "missing credentials: this application uses OAuth; send Authorization: Bearer <access token> from POST /oauth2/token"
                }
            }));
        };
        if ctx.config.auth_mode == AuthMode::Oauth {
            return Err(ApiError::unauthorized(
                "this application has been switched to OAuth: lean-app-token alone is refused; send Authorization: Bearer <access token> from POST /oauth2/token",
            ));
        }
        if aws_lc_rs::constant_time::verify_slices_are_equal(token.as_bytes(), ctx.app.app_token.as_bytes()).is_ok() {
            Ok(Caller::App)
        } else {
            Err(ApiError::unauthorized(
                "the lean-app-token is not valid for this sandbox: copy app_token from sandbox.json",
            ))
        }
    }
}

/// A caller of the management API: a bearer token with scope `admin`.
pub struct Admin;

impl FromRequestParts<Ctx> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::unauthorized("the management API needs Authorization: Bearer <token with scope admin> (e.g. client testing/testing)")
            })?;
        let claims = bearer(parts, ctx, &value)?;
        if claims.scopes().any(|s| s == "admin") {
            Ok(Admin)
        } else {
            Err(insufficient(&claims.scope, "admin"))
        }
    }
}

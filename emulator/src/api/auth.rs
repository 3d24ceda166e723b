//! Who is calling the resource API: the `Caller` extractor.
//!
//! The resource API accepts `lean-app-token: <app token>` (unless the
//! application has been switched to OAuth) or `Authorization: Bearer
//! <access token>` — a JWT or an opaque reference, checked for signature,
//! expiry, revocation, and on the mtls host its certificate binding.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use serde::Deserialize;

use super::Api;
use crate::oauth::bearer::{self, insufficient};
use crate::oauth::token::AccessClaims;
use crate::web::ApiError;
use crate::web::authorization::APP_TOKEN_HEADER;

/// How the default application authenticates on the resource API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// `lean-app-token` header or a bearer token.
    #[default]
    AppToken,
    /// Bearer token only, as after the provider switches an app to OAuth.
    Oauth,
}

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

/// Any router whose state holds the resource API's (the provider's
/// endpoints do) authenticates its callers the same way.
impl<S: Send + Sync> FromRequestParts<S> for Caller
where
    Api: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let api = &Api::from_ref(state);
        if let Some(auth) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let value = auth.to_str().unwrap_or("").to_owned();
            return bearer::verify_on_host(&api.authority, parts, &value).map(Caller::Bearer);
        }
        let Some(token) = parts.headers.get(APP_TOKEN_HEADER) else {
            return Err(ApiError::unauthorized(match api.auth_mode {
                AuthMode::AppToken => {
                    "missing credentials: send the lean-app-token header (your app token is in sandbox.json) or Authorization: Bearer <access token>"
                }
                AuthMode::Oauth => {
                    "missing credentials: this application uses OAuth; send Authorization: Bearer <access token> from POST /oauth2/token"
                }
            }));
        };
        if api.auth_mode == AuthMode::Oauth {
            return Err(ApiError::unauthorized(
                "this application has been switched to OAuth: lean-app-token alone is refused; send Authorization: Bearer <access token> from POST /oauth2/token",
            ));
        }
        if aws_lc_rs::constant_time::verify_slices_are_equal(
            token.as_bytes(),
            api.application.credentials().app_token.as_bytes(),
        )
        .is_ok()
        {
            Ok(Caller::App)
        } else {
            Err(ApiError::unauthorized(
                "the lean-app-token is not valid for this sandbox: copy app_token from sandbox.json",
            ))
        }
    }
}

//! Who is calling the resource API, for which application: the `Caller`
//! extractor.
//!
//! The resource API accepts `lean-app-token: <app token>` (unless the
//! application has been switched to OAuth) or `Authorization: Bearer
//! <access token>` — a JWT or an opaque reference, checked for signature,
//! expiry, revocation, and on the mtls host its certificate binding. An app
//! token names its application; a bearer token acts for the application
//! owning the client it was issued to.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum_server::tls::TlsInfo;

use super::Api;
use crate::apps::{App, AuthMode};
use crate::hosts::Host;
use crate::oauth::bearer::{self, insufficient};
use crate::oauth::verified::Verified;
use crate::web::ApiError;
use crate::web::authorization::APP_TOKEN;

/// An authenticated caller of the resource API, and the application it
/// acts for.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// Authenticated with an application's app token.
    App(Arc<App>),
    /// Authenticated with an access token issued to a client of `app`
    /// (shared with the verified-token cache: not copied per request).
    Bearer { token: Arc<Verified>, app: Arc<App> },
}

impl Caller {
    /// The application the call acts for.
    pub fn app(&self) -> &Arc<App> {
        match self {
            Caller::App(app) | Caller::Bearer { app, .. } => app,
        }
    }

    /// Calls that act for the application need scope `api`.
    pub fn require_api(&self) -> Result<(), ApiError> {
        match self {
            Caller::App(_) => Ok(()),
            Caller::Bearer { token, .. } if token.claims.scopes().any(|s| s == "api") => Ok(()),
            Caller::Bearer { token, .. } => Err(insufficient(&token.claims.scope, "api")),
        }
    }

    /// Reading one customer needs `api` or `customer.<id>`.
    pub fn require_customer(&self, id: &str) -> Result<(), ApiError> {
        let wanted = format!("customer.{id}");
        match self {
            Caller::Bearer { token, .. } if token.claims.scopes().any(|s| s == wanted) => Ok(()),
            other => other.require_api().map_err(|_| insufficient(other.scope(), &wanted)),
        }
    }

    fn scope(&self) -> &str {
        match self {
            Caller::App(_) => "",
            Caller::Bearer { token, .. } => &token.claims.scope,
        }
    }
}

/// On the mtls host, the certificate and the credential must be one
/// application's: the provider ties an application's calls to its own
/// certificates, so another application's certificate is refused with 403
/// (the certificate, not the credential, is wrong). A certificate-bound
/// token is refused earlier, as `CERTIFICATE_TOKEN_MISMATCH`.
fn same_application(api: &Api, parts: &Parts, app: &App, credential: &str) -> Result<(), ApiError> {
    if parts.extensions.get::<Host>() != Some(&Host::Mtls) {
        return Ok(());
    }
    let certificate = parts
        .extensions
        .get::<Arc<TlsInfo>>()
        .and_then(|tls| tls.peer_certificates.first().cloned());
    match certificate.and_then(|der| api.apps.by_certificate(&der)) {
        Some(holder) if holder.id != app.id => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "INVALID_CERTIFICATE",
            format!(
                "the {credential} belongs to application {} but the client certificate (CN={}) belongs to \
                 application {}: call with {}'s own certificate, or with {}'s credentials",
                app.name, holder.name, holder.name, app.name, holder.name
            ),
        )),
        _ => Ok(()),
    }
}

const SWITCHED_TO_OAUTH: &str = "this application has been switched to OAuth: lean-app-token alone is refused; send Authorization: Bearer <access token> from POST /oauth2/token";

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
            let token = bearer::verify_on_host(&api.authority, parts, &value)?;
            let claims = &token.claims;
            let app = api.apps.by_client_id(&claims.client_id).ok_or_else(|| {
                ApiError::unauthorized(format!(
                    "this token was issued to client '{}', which no longer exists (its application was deleted); \
                     get a new one from POST /oauth2/token",
                    claims.client_id
                ))
            })?;
            same_application(api, parts, &app, "access token")?;
            return Ok(Caller::Bearer { token, app });
        }
        // Until a token names the application, answer as the default one
        // would (looked up on these refusals only: not on every request).
        let default_mode = || api.apps.default_app().auth_mode;
        let Some(token) = parts.headers.get(APP_TOKEN) else {
            return Err(ApiError::unauthorized(match default_mode() {
                AuthMode::AppToken => {
                    "missing credentials: send the lean-app-token header (your app token is in sandbox.json) or Authorization: Bearer <access token>"
                }
                AuthMode::Oauth => {
                    "missing credentials: this application uses OAuth; send Authorization: Bearer <access token> from POST /oauth2/token"
                }
            }));
        };
        let Some(app) = api.apps.by_app_token(token.to_str().unwrap_or("")) else {
            return Err(ApiError::unauthorized(match default_mode() {
                AuthMode::AppToken => {
                    "the lean-app-token is not valid for this sandbox: copy app_token from sandbox.json"
                }
                AuthMode::Oauth => SWITCHED_TO_OAUTH,
            }));
        };
        if app.auth_mode == AuthMode::Oauth {
            return Err(ApiError::unauthorized(SWITCHED_TO_OAUTH));
        }
        same_application(api, parts, &app, "app token")?;
        Ok(Caller::App(app))
    }
}

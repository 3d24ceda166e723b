//! Who is calling the resource API: the `Caller` extractor.
//!
//! Accepts `lean-app-token: <app token>` (unless the application has been
//! switched to OAuth) or `Authorization: Bearer <access token>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;
use crate::config::AuthMode;
use crate::context::Ctx;

pub const APP_TOKEN_HEADER: &str = "lean-app-token";

/// An authenticated caller of the resource API.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// Authenticated with the application token.
    App,
}

impl FromRequestParts<Ctx> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        if let Some(auth) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let value = auth.to_str().unwrap_or("");
            return match value.split_once(' ') {
                Some((scheme, _)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Err(ApiError::unauthorized(
                        "the bearer token is not valid for this sandbox. Get one from POST /oauth2/token on the auth host",
                    ))
                }
                _ => Err(ApiError::unauthorized(
                    "unsupported Authorization header: send `Authorization: Bearer <access token>` or the lean-app-token header",
                )),
            };
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
        if constant_time_eq(token.as_bytes(), ctx.app.app_token.as_bytes()) {
            Ok(Caller::App)
        } else {
            Err(ApiError::unauthorized(
                "the lean-app-token is not valid for this sandbox: copy app_token from sandbox.json",
            ))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

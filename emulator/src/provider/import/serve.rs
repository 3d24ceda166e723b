//! Which imported requests a sandbox answers, and the handler that answers
//! them.
//!
//! The built-in profile wins: an imported request whose method and path
//! (parameters by position) the profile already serves is shadowed, and
//! said so once at start. The handler is thin: the host's authentication
//! (`Caller`, scope `api` for bearer tokens), then the example with the
//! caller's path parameters put in ([`super::substitute`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::rejection::RawPathParamsRejection;
use axum::extract::{FromRef, RawPathParams};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, on};

use super::super::mount::{self, Key};
use super::super::profile::Profile;
use super::{ApiFiles, Body, Request, substitute};
use crate::api::{Api, Caller};
use crate::web::ApiError;

/// The imported requests a sandbox answers, and what it said about them.
#[derive(Debug, Default)]
pub struct Imported {
    /// Not shadowed by the profile, in file order.
    pub requests: Vec<Arc<Request>>,
    /// One line per file: how many requests it gave.
    pub summary: Vec<String>,
    /// One line per shadowed request: its file, item and the endpoint that wins.
    pub shadowed: Vec<String>,
}

impl Imported {
    /// `files`' requests less those `profile` serves itself.
    pub fn new(files: &ApiFiles, profile: &Profile) -> Self {
        let built_in: BTreeMap<Key, &str> = profile
            .endpoints
            .iter()
            .flat_map(|e| {
                mount::keys(&e.method, &e.path, e.trailing_slash)
                    .into_iter()
                    .map(|k| (k, e.id.as_str()))
            })
            .collect();
        let mut imported = Self::default();
        for file in &files.0 {
            let before = imported.shadowed.len();
            for request in &file.requests {
                match request.keys().first().and_then(|key| built_in.get(key)) {
                    Some(endpoint) => imported.shadowed.push(format!(
                        "{}: {}: {} {} is served by the built-in profile '{}' (endpoint {endpoint}); the imported example is not used",
                        file.path.display(),
                        request.item,
                        request.method,
                        request.path,
                        profile.name,
                    )),
                    None => imported.requests.push(Arc::new(request.clone())),
                }
            }
            let shadowed = imported.shadowed.len() - before;
            let served = file.requests.len() - shadowed;
            let mut line = format!("imported {served} request(s) from {}", file.path.display());
            if shadowed > 0 {
                line.push_str(&format!(" ({shadowed} shadowed by the built-in profile)"));
            }
            imported.summary.push(line);
        }
        imported
    }

    /// Says at start what was imported and what the profile shadows.
    pub fn log(&self) {
        for line in &self.summary {
            tracing::info!("{line}");
        }
        for line in &self.shadowed {
            tracing::warn!("{line}");
        }
    }
}

/// The route answering `request` in any router whose state holds the
/// resource API's (for `Caller`).
pub fn method_router<S>(request: Arc<Request>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Api: FromRef<S>,
{
    on(
        mount::method_filter(&request.method),
        move |caller: Caller, params: Result<RawPathParams, RawPathParamsRejection>| {
            let request = request.clone();
            async move { answer(&request, &caller, params) }
        },
    )
}

fn answer(request: &Request, caller: &Caller, params: Result<RawPathParams, RawPathParamsRejection>) -> Response {
    if let Err(refused) = caller.require_api() {
        return refused.into_response();
    }
    let params = match params {
        Ok(params) => mount::params_by_name(&request.path, &params),
        Err(e) => {
            return ApiError::invalid_parameters(format!("the URL path is not valid: {}", e.body_text()))
                .into_response();
        }
    };
    let example = &request.example;
    let bytes = match substitute::render(&example.body, &request.params, &params) {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Json(value) => serde_json::to_vec(&value).unwrap_or_default(),
    };
    let mut response = (example.status, bytes).into_response();
    match &example.content_type {
        Some(content_type) => response.headers_mut().insert(CONTENT_TYPE, content_type.clone()),
        None => response.headers_mut().remove(CONTENT_TYPE),
    };
    response
}

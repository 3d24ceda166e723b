//! HTTP endpoints of the authorization server. Thin: parse the form and
//! the TLS peer certificate, call [`Authority`], map the outcome.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_server::tls::TlsInfo;
use serde_json::{Value, json};

use super::authority::{Authority, Grant};
use super::client::AuthMethod;
use super::client_auth::{Authenticated, Presented, parse_basic};
use super::error::OAuthError;
use super::token::EXPIRES_IN;
use crate::hosts::Host;
use crate::web::TokenNote;

/// A form body as a map, refusing repeated parameters (RFC 6749 §3.2).
/// The media type of the token, introspection and revocation requests.
pub const FORM: &str = "application/x-www-form-urlencoded";

pub struct Form(BTreeMap<String, String>);

impl Form {
    pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Self, OAuthError> {
        if !crate::web::body::content_type_is(headers, FORM) {
            return Err(OAuthError::invalid_request(
                "send the parameters as a form: Content-Type: application/x-www-form-urlencoded",
            ));
        }
        let mut map = BTreeMap::new();
        for (key, value) in form_urlencoded::parse(body) {
            if map.insert(key.to_string(), value.into_owned()).is_some() {
                return Err(OAuthError::invalid_request(format!(
                    "parameter '{key}' appears more than once"
                )));
            }
        }
        Ok(Form(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

/// The credentials of a request: Basic header, form fields, TLS chain.
/// What the connection says about the client: its certificate chain, and
/// whether the handshake already verified it against the sandbox CA (on the
/// mtls host it did, CRL included; the auth host accepts any certificate).
pub struct Peer {
    chain: Vec<Vec<u8>>,
    chain_verified: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let chain = parts
            .extensions
            .get::<Arc<TlsInfo>>()
            .map(|t| t.peer_certificates.clone())
            .unwrap_or_default();
        let chain_verified = parts.extensions.get::<Host>() == Some(&Host::Mtls) && !chain.is_empty();
        Ok(Peer { chain, chain_verified })
    }
}

fn presented(headers: &HeaderMap, form: &Form, peer: &Peer) -> Result<Presented, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        Some(value) => Some(parse_basic(value.to_str().unwrap_or(""))?),
        None => None,
    };
    Ok(Presented {
        basic,
        client_id: form.get("client_id").map(str::to_owned),
        client_secret: form.get("client_secret").map(str::to_owned),
        assertion_type: form.get("client_assertion_type").map(str::to_owned),
        assertion: form.get("client_assertion").map(str::to_owned),
        peer_chain: peer.chain.clone(),
        chain_verified: peer.chain_verified,
    })
}

async fn authenticate(
    authority: &Authority,
    headers: &HeaderMap,
    form: &Form,
    peer: &Peer,
) -> Result<Authenticated, OAuthError> {
    let who = match presented(headers, form, peer) {
        Ok(presented) => authority.authenticate(&presented).await,
        Err(e) => Err(e),
    }
    .map_err(|e| e.challenging(headers));
    match &who {
        Ok(who) => {
            tracing::info!(target: "oauth", client_id = %who.client.client_id, method = who.method.name(), "client authenticated")
        }
        Err(e) => tracing::info!(target: "oauth", "client authentication failed: {e}"),
    }
    who
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The raw body of a form post; an unreadable or oversized body is an
/// RFC 6749 error like any other, not axum's plain-text rejection.
pub struct FormBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for FormBody {
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use crate::web::body::{BodyError, MAX_BODY_BYTES, read_body};
        match read_body(req, state).await {
            Ok(bytes) => Ok(FormBody(bytes)),
            Err(BodyError::TooLarge) => Err(OAuthError::payload_too_large(format!(
                "the request body is larger than {MAX_BODY_BYTES} bytes"
            ))),
            Err(BodyError::Unreadable(why)) => Err(OAuthError::invalid_request(format!(
                "cannot read the request body: {why}"
            ))),
        }
    }
}

/// `POST /oauth2/token` (client_credentials). The response carries a
/// [`TokenNote`] for the request inspector, refused or not.
pub async fn token(
    State(authority): State<Arc<Authority>>,
    peer: Peer,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Response {
    let mut note = TokenNote::default();
    let mut response = issue_token(&authority, &peer, &headers, &body, &mut note)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    response.extensions_mut().insert(note);
    response
}

async fn issue_token(
    authority: &Authority,
    peer: &Peer,
    headers: &HeaderMap,
    body: &[u8],
    note: &mut TokenNote,
) -> Result<Response, OAuthError> {
    let form = Form::parse(headers, body)?;
    note.client_id = form.get("client_id").map(str::to_owned);
    match form.get("grant_type") {
        None => {
            return Err(OAuthError::invalid_request(
                "grant_type is missing; use grant_type=client_credentials",
            ));
        }
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::unsupported_grant_type(format!(
                "grant_type '{other}' is not supported; this sandbox issues client_credentials tokens"
            )));
        }
    }
    let who = authenticate(authority, headers, &form, peer).await?;
    note.client_id = Some(who.client.client_id.clone());
    note.auth_method = Some(who.method.name());
    let scope = authority.grant_scope(&who.client, form.get("scope"))?;
    let grant = authority.grant(&who, scope)?;
    note.access_token = Some(grant.access_token.clone());
    tracing::info!(
        target: "oauth",
        client_id = %who.client.client_id,
        scope = %grant.scope,
        bound = who.thumbprint.is_some(),
        "token issued"
    );
    Ok(no_store(token_response(&grant)))
}

/// The token response (RFC 6749 §5.1) for `grant`, as `Json` would answer
/// it, into a buffer sized for the token: `Json` starts at 128 bytes and
/// grows the buffer as the ~600-byte token is written.
fn token_response(grant: &Grant) -> Response {
    let body = TokenResponse {
        access_token: &grant.access_token,
        expires_in: EXPIRES_IN,
        scope: &grant.scope,
        token_type: "bearer",
    };
    let mut json = Vec::with_capacity(grant.access_token.len() + grant.scope.len() + 80);
    match serde_json::to_writer(&mut json, &body) {
        Ok(()) => ([(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], json).into_response(),
        Err(e) => OAuthError::server_error(format!("cannot write the token response: {e}")).into_response(),
    }
}

/// The media type `Json` answers with.
const JSON: &str = "application/json";

/// The token response's fields, serialised straight from the grant: a
/// `json!` value copied the access token and built a map first. In the
/// order `json!` wrote them (alphabetical), so the body is the same.
#[derive(serde::Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    expires_in: i64,
    scope: &'a str,
    token_type: &'static str,
}

/// The common start of introspection and revocation: an authenticated
/// client and the `token` parameter it asks about.
async fn authenticated_token_param(
    authority: &Authority,
    peer: Peer,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Authenticated, String), OAuthError> {
    let form = Form::parse(headers, body)?;
    let who = authenticate(authority, headers, &form, &peer).await?;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("the token parameter is missing"))?;
    Ok((who, token.to_owned()))
}

/// `POST /oauth2/introspect` (RFC 7662). With `Accept: application/jwt`
/// an active token is answered with its JWT (phantom-token pattern). Only
/// the token's own client or an introspecting client sees it active
/// ([`Client::may_introspect`](super::client::Client::may_introspect)).
pub async fn introspect(
    State(authority): State<Arc<Authority>>,
    peer: Peer,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, OAuthError> {
    let (who, presented) = authenticated_token_param(&authority, peer, &headers, &body).await?;
    let presented = presented.as_str();
    let wants_jwt = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/jwt"));
    let inactive = || Ok(no_store(Json(json!({ "active": false })).into_response()));
    let Ok(verified) = authority.verify(presented) else {
        return inactive();
    };
    let claims = &verified.claims;
    if !who.client.may_introspect(&claims.client_id) {
        tracing::info!(
            target: "oauth",
            client_id = %who.client.client_id,
            "introspection of another client's token answered inactive (register the caller with scope introspect)"
        );
        return inactive();
    }
    if wants_jwt {
        let mut response = (StatusCode::OK, verified.jwt.clone()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jwt"));
        return Ok(no_store(response));
    }
    let mut body = serde_json::to_value(claims).unwrap_or(Value::Null);
    body["active"] = true.into();
    body["token_type"] = "bearer".into();
    Ok(no_store(Json(body).into_response()))
}

/// `POST /oauth2/revoke` (RFC 7009).
pub async fn revoke(
    State(authority): State<Arc<Authority>>,
    peer: Peer,
    headers: HeaderMap,
    FormBody(body): FormBody,
) -> Result<Response, OAuthError> {
    let (who, presented) = authenticated_token_param(&authority, peer, &headers, &body).await?;
    authority.revoke(&who.client.client_id, &presented)?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// `GET /jwks.json`.
pub async fn jwks(State(authority): State<Arc<Authority>>) -> Json<Value> {
    Json(serde_json::to_value(authority.keys().jwks()).unwrap_or(Value::Null))
}

/// `GET /.well-known/openid-configuration` and
/// `/.well-known/oauth-authorization-server` (RFC 8414).
pub async fn discovery(State(authority): State<Arc<Authority>>) -> Json<Value> {
    Json(discovery_document(&authority))
}

pub fn discovery_document(oauth: &Authority) -> Value {
    let (auth, mtls) = (&oauth.urls.auth, &oauth.urls.mtls);
    let methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.name()).collect();
    let alg = format!("{:?}", oauth.keys().active.alg.algorithm());
    json!({
        "issuer": auth,
        "token_endpoint": format!("{auth}/oauth2/token"),
        "jwks_uri": format!("{auth}/jwks.json"),
        "introspection_endpoint": format!("{auth}/oauth2/introspect"),
        "revocation_endpoint": format!("{auth}/oauth2/revoke"),
        "grant_types_supported": ["client_credentials"],
        // OIDC discovery requires this field; no authorization endpoint
        // exists here, so the list is empty (only token-endpoint grants).
        "response_types_supported": [],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "scopes_supported": ["api", "customer.<customer_id>", "admin"],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": ["HS256", "RS256", "PS256", "ES256"],
        "introspection_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_methods_supported": methods,
        "tls_client_certificate_bound_access_tokens": true,
        "mtls_endpoint_aliases": {
            "token_endpoint": format!("{mtls}/oauth2/token"),
            "introspection_endpoint": format!("{mtls}/oauth2/introspect"),
            "revocation_endpoint": format!("{mtls}/oauth2/revoke"),
        },
    })
}

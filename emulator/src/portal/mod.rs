//! The developer portal on the sandbox host (`/portal`): the application's
//! certificates (generate, download the chain, revoke), OAuth clients
//! (create, reveal a secret once, add secrets), the webhook URL with its
//! delivery log, and the request inspector.
//!
//! It is still a server on a port, so every page needs the portal token,
//! new at every start and printed in the startup summary as a link. The
//! link opens a browser session under a per-start path, walled off from the
//! other local ports a browser shares cookies with ([`session`] says how);
//! `Authorization: Bearer <token>` works on every portal path, for scripts.
//!
//! Each application besides the default one has its own link as well (in
//! its `sandbox.json`): it sees only that application ([`attendee`]), and
//! in the inspector only its requests; the owner's link sees everything,
//! with a filter by application ([`inspect`]).
//!
//! Handlers are thin: the work is in [`certificates`], the OAuth registry
//! and the inspector; [`pages`] renders HTML.

mod applications;
mod attendee;
pub mod bundle;
pub mod certificates;
pub mod download;
mod inspect;
mod pages;
pub mod session;
mod test_users;
mod webhooks;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::Value;

use crate::application::{Application, RotateError};
use crate::apps::Apps;
use crate::entropy::Entropy;
use crate::inspector::Inspector;
use crate::oauth::Authority;
use crate::records::Records;
use crate::revocation::Revocations;
use crate::revocation::RevokeError;

use crate::oauth::client::AuthMethod;
use crate::oauth::registry::{NewClient, RegistryError};
use crate::state::files;
use certificates::CertificateError;
use download::Entry;
use session::{Session, Viewer};

/// Every portal path starts with this.
pub const PREFIX: &str = "/portal";

/// Whether the inspector records a request for `path`: not the portal's own
/// pages, nor the icon a browser asks for, which would crowd out the calls
/// a user is debugging.
pub fn is_inspected(path: &str) -> bool {
    let portal = path == PREFIX || path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with('/'));
    !portal && path != "/favicon.ico"
}
/// What the portal works with.
pub struct Portal {
    pub application: Arc<Application>,
    /// Every application, for their own portal links.
    pub apps: Arc<Apps>,
    pub authority: Arc<Authority>,
    pub revocations: Arc<Revocations>,
    pub inspector: Arc<Inspector>,
    pub records: Arc<Records>,
    pub state: crate::state::State,
    /// For the keys of the certificates it issues.
    pub entropy: Arc<Entropy>,
    /// The key type of the certificates it issues (`[app] key_type`).
    pub client_key: crate::key_type::KeyType,
    /// The browser session's path segment (`/portal/<this>/`): new at every
    /// start and, unlike the token, in no file (see [`session`]).
    pub session: String,
    /// The application's webhook URL, and the test event.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
    /// The provider's API, for linking test users.
    pub provider: crate::provider::Provider,
}

/// The name of the secret "Reveal secret" shows (and rotates).
const REVEALED_SECRET: &str = "portal";

/// The portal's routes, for the sandbox host: each page both under the
/// browser session's path (`/portal/{session}/...`) and under `/portal/...`,
/// where only `Authorization: Bearer` gets in (the browser's cookie is not
/// sent there). `/portal` also takes the login link.
pub fn routes(portal: Arc<Portal>) -> Router {
    let session = format!("{PREFIX}/{{{}}}", session::PARAM);
    [PREFIX, session.as_str()]
        .into_iter()
        .fold(Router::new(), |router, base| {
            router
                .route(&format!("{base}/"), get(index))
                .route(&format!("{base}/certificates"), post(generate_certificate))
                .route(
                    &format!("{base}/certificates/{{serial}}/revoke"),
                    post(revoke_certificate),
                )
                .route(&format!("{base}/chain.zip"), get(chain))
                .route(&format!("{base}/bundle.zip"), get(bundle::download))
                .route(&format!("{base}/application/secret"), post(reveal_app_secret))
                .route(&format!("{base}/clients"), post(create_client))
                .route(&format!("{base}/clients/{{id}}/reveal"), post(reveal_secret))
                .route(&format!("{base}/clients/{{id}}/secrets"), post(add_secret))
                .route(&format!("{base}/webhooks"), post(webhooks::set_url))
                .route(&format!("{base}/webhooks/test"), post(webhooks::send_test))
                .route(&format!("{base}/test-users/link"), post(test_users::link))
                .route(&format!("{base}/inspect"), get(inspect::page))
                .route(&format!("{base}/inspect.json"), get(inspect::json))
        })
        .route(PREFIX, get(index))
        .layer(middleware::from_fn_with_state(portal.clone(), finish))
        .with_state(portal)
}

/// Renders a [`PortalError`] into its page (which links back to the
/// requester's own session) and walls off every portal response.
async fn finish(State(portal): State<Arc<Portal>>, request: Request, next: Next) -> Response {
    let back = session::base_for(&portal, request.uri().path(), request.headers());
    let mut response = next.run(request).await;
    if let Some(error) = response.extensions_mut().remove::<PortalError>() {
        let page = match error.login_help {
            true => pages::login_required(
                &error.message,
                &portal.state.path(files::SANDBOX_JSON).display().to_string(),
            ),
            false => pages::error(&back, error.status, &error.message),
        };
        response = (error.status, Html(page)).into_response();
    }
    session::wall_off(response.headers_mut());
    response
}

/// The path parameters of the portal's routes: `{serial}` or `{id}`, beside
/// the `{session}` of the session's routes.
#[derive(serde::Deserialize)]
struct Target {
    #[serde(alias = "serial")]
    id: String,
}

/// An error page: what went wrong and a way back. The page itself is
/// rendered by the portal's middleware ([`finish`]), which knows the
/// session's path the way back leads to.
#[derive(Debug, Clone)]
pub struct PortalError {
    status: StatusCode,
    message: String,
    /// A 401: the page says where the login link is (`sandbox.json`) and
    /// links nowhere, since every portal link would only lead to another 401.
    login_help: bool,
}

impl PortalError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            login_help: false,
        }
    }

    fn login_required(message: &str) -> Self {
        Self {
            login_help: true,
            ..Self::new(StatusCode::UNAUTHORIZED, message)
        }
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

impl From<RegistryError> for PortalError {
    fn from(e: RegistryError) -> Self {
        let status = match e {
            RegistryError::UnknownClient(_) | RegistryError::UnknownSecret { .. } => StatusCode::NOT_FOUND,
            RegistryError::StaticClient(_)
            | RegistryError::Exists(_)
            | RegistryError::TooManySecrets(_)
            | RegistryError::LimitReached { .. } => StatusCode::CONFLICT,
            RegistryError::Invalid(_) => StatusCode::BAD_REQUEST,
            RegistryError::Records(ref r) => return failed(r, r.storage()),
        };
        PortalError::new(status, e.to_string())
    }
}

impl From<CertificateError> for PortalError {
    fn from(e: CertificateError) -> Self {
        match e {
            CertificateError::Unknown(_) => PortalError::new(StatusCode::NOT_FOUND, e.to_string()),
            CertificateError::Records(ref r) | CertificateError::Revoke(RevokeError::Records(ref r)) => {
                failed(&e, r.storage())
            }
            CertificateError::State(ref s) | CertificateError::Revoke(RevokeError::State(ref s)) => {
                failed(&e, s.storage())
            }
            other => internal(&other),
        }
    }
}

impl From<crate::records::RecordsError> for PortalError {
    fn from(e: crate::records::RecordsError) -> Self {
        failed(&e, e.storage())
    }
}

impl From<RotateError> for PortalError {
    fn from(e: RotateError) -> Self {
        let storage = match &e {
            RotateError::State(s) => s.storage(),
            RotateError::Registry(RegistryError::Records(r)) => r.storage(),
            RotateError::Registry(_) => None,
        };
        failed(&e, storage)
    }
}

/// The disk under the state dir failing answers as in the APIs (507 when
/// full, 503 otherwise: `web::storage_status`), with its own message that
/// names the file and the fix; anything else is [`internal`].
fn failed(e: &dyn std::fmt::Display, storage: Option<&crate::storage::StorageFailure>) -> PortalError {
    match storage {
        Some(failure) => {
            tracing::error!("portal: {failure}");
            PortalError::new(crate::web::storage_status(failure).0, failure.to_string())
        }
        None => internal(e),
    }
}

fn internal(e: &dyn std::fmt::Display) -> PortalError {
    tracing::error!("portal: {e}");
    PortalError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("the sandbox could not do that: {e}"),
    )
}

#[derive(serde::Deserialize)]
struct IndexQuery {
    token: Option<String>,
    notice: Option<String>,
}

/// `GET /portal`; with `?token=` it logs in (sets the cookie) and redirects
/// to the session's path of that token's login.
async fn index(
    State(portal): State<Arc<Portal>>,
    Query(query): Query<IndexQuery>,
    viewer: Result<Viewer, Response>,
) -> Response {
    if let Some(token) = &query.token {
        let Some(viewer) = Viewer::of_token(&portal, token) else {
            return PortalError::login_required(
                "This portal link is not valid: its token changes at every start, so a link from an earlier \
                 start no longer works.",
            )
            .into_response();
        };
        let mut response = Redirect::to(&format!("{}/", viewer.base(&portal))).into_response();
        if let Some(cookie) = session::login_cookie(&portal, &viewer, token) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        return response;
    }
    match viewer {
        Err(refused) => return refused,
        Ok(Viewer::App(app)) => return attendee::index(&portal, &app),
        Ok(Viewer::Owner) => {}
    }
    let page = || -> Result<String, PortalError> {
        let certs = certificates::list(&portal.state, &portal.records)?;
        let clients = portal.authority.registry.list()?;
        let base = session::base(&portal);
        let sections = html_sections(&portal, &base);
        Ok(pages::index(
            &portal,
            &certs,
            &clients,
            query.notice.as_deref(),
            sections,
        ))
    };
    match page() {
        Ok(html) => no_store(Html(html).into_response()),
        Err(e) => e.into_response(),
    }
}

/// The owner's page's sections kept in their own modules: every
/// application, webhooks, test users.
fn html_sections(portal: &Portal, base: &str) -> maud::Markup {
    maud::html! {
        (applications::section(portal, base))
        (webhooks::section(portal, base, portal.webhooks.application()))
        (test_users::section(portal, base))
    }
}

/// "Generate new certificate": a zip with the new certificate and its key.
async fn generate_certificate(_: Session, State(portal): State<Arc<Portal>>) -> Result<Response, PortalError> {
    let issued = certificates::generate(
        &portal.state,
        &portal.records,
        portal.entropy.clone(),
        portal.client_key,
        portal.authority.now(),
    )?;
    tracing::info!(target: "portal", "new client certificate issued for {}", portal.application.credentials().name);
    let bytes = download::zip(&[
        Entry {
            name: files::CLIENT_KEY,
            bytes: issued.key_pem.as_bytes(),
            mode: 0o600,
        },
        Entry {
            name: files::CLIENT_CERT,
            bytes: issued.cert_pem.as_bytes(),
            mode: 0o644,
        },
    ])
    .map_err(|e| internal(&e))?;
    Ok(download::attachment("my_app_certificate.zip", bytes))
}

/// "Certificate chain": a zip with `lean_public_cert_chain.pem` (every
/// application trusts the same chain).
async fn chain(_: Viewer, State(portal): State<Arc<Portal>>) -> Result<Response, PortalError> {
    let path = portal.state.path(files::CA_CHAIN);
    let pem = std::fs::read(&path).map_err(|e| internal(&format!("cannot read {}: {e}", path.display())))?;
    let bytes = download::zip(&[Entry {
        name: files::CA_CHAIN,
        bytes: &pem,
        mode: 0o644,
    }])
    .map_err(|e| internal(&e))?;
    Ok(download::attachment("lean_public_cert_chain.zip", bytes))
}

async fn revoke_certificate(
    _: Session,
    State(portal): State<Arc<Portal>>,
    Path(Target { id: serial }): Path<Target>,
) -> Result<Redirect, PortalError> {
    let revoked = certificates::revoke(&portal.revocations, &serial)?;
    tracing::info!(target: "portal", "certificate {} ({}) revoked", revoked.serial_hex, revoked.subject);
    Ok(Redirect::to(&format!("{}/?notice=revoked", session::base(&portal))))
}

/// "Create client" (the form's field names are the API's).
async fn create_client(
    _: Session,
    State(portal): State<Arc<Portal>>,
    form: Result<Form<BTreeMap<String, String>>, FormRejection>,
) -> Result<Redirect, PortalError> {
    let Form(form) = form.map_err(|e| PortalError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let new = new_client(&form)?;
    let client = portal.authority.registry.create(new, portal.authority.now())?;
    tracing::info!(target: "oauth", client_id = %client.client_id, "client created in the portal");
    Ok(Redirect::to(&format!(
        "{}/?notice=client-created#client-{}",
        session::base(&portal),
        client.client_id
    )))
}

/// Reads the "Create client" form; empty fields mean "not given".
fn new_client(form: &BTreeMap<String, String>) -> Result<NewClient, PortalError> {
    let field = |name: &str| form.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let bad = |message: String| PortalError::new(StatusCode::BAD_REQUEST, message);
    let name = field("name").ok_or_else(|| bad("name: give the client a name".into()))?;
    let method = match field("token_endpoint_auth_method") {
        None => None,
        Some(m) => Some(AuthMethod::ALL.iter().copied().find(|a| a.name() == m).ok_or_else(|| {
            bad(format!(
                "token_endpoint_auth_method: '{m}' is not a method this sandbox knows"
            ))
        })?),
    };
    let jwks = field("jwks")
        .map(serde_json::from_str::<Value>)
        .transpose()
        .map_err(|e| {
            bad(format!(
                "jwks: not JSON ({e}); paste a JWK Set like {{\"keys\": [...]}}"
            ))
        })?;
    Ok(NewClient {
        name: name.to_owned(),
        token_endpoint_auth_method: method,
        scopes: field("scopes").map(|s| s.split_whitespace().map(str::to_owned).collect()),
        tls_client_auth_subject_dn: field("tls_client_auth_subject_dn").map(str::to_owned),
        jwks,
        jwks_uri: field("jwks_uri").map(str::to_owned),
        token_format: None,
        certificates: None,
        app: None,
    })
}

/// The application's "Reveal secret": for the owner, rotates the default
/// application's secret (state.json, sandbox.json, the running server); for
/// an application's link, shows that application's secret.
async fn reveal_app_secret(viewer: Viewer, State(portal): State<Arc<Portal>>) -> Result<Response, PortalError> {
    if let Viewer::App(app) = viewer {
        return attendee::secret(&portal, &app);
    }
    let clear = portal.application.rotate_secret()?;
    let client_id = portal.application.credentials().client_id.clone();
    tracing::info!(target: "oauth", %client_id, "application secret revealed (rotated) in the portal");
    secret_page(&portal, &client_id, &clear, true)
}

/// A client's "Reveal secret": shows a new secret once; the one shown before
/// stops working.
async fn reveal_secret(
    _: Session,
    State(portal): State<Arc<Portal>>,
    Path(Target { id }): Path<Target>,
) -> Result<Response, PortalError> {
    let (_, clear) = portal.authority.registry.rotate_secret(&id, REVEALED_SECRET)?;
    tracing::info!(target: "oauth", client_id = %id, "client secret revealed (rotated) in the portal");
    secret_page(&portal, &id, &clear, true)
}

/// "Add secret": one more secret; the others keep working.
async fn add_secret(
    _: Session,
    State(portal): State<Arc<Portal>>,
    Path(Target { id }): Path<Target>,
) -> Result<Response, PortalError> {
    let (record, clear) = portal.authority.registry.add_secret(&id, "added in the portal")?;
    tracing::info!(target: "oauth", client_id = %id, secret_id = %record.id, "client secret added in the portal");
    secret_page(&portal, &id, &clear, false)
}

fn secret_page(portal: &Portal, client_id: &str, clear: &str, rotated: bool) -> Result<Response, PortalError> {
    let client = portal
        .authority
        .registry
        .get(client_id)?
        .ok_or_else(|| RegistryError::UnknownClient(client_id.into()))?;
    Ok(no_store(
        Html(pages::secret(portal, &client, clear, rotated)).into_response(),
    ))
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_portal_does_not_record_itself() {
        assert!(!is_inspected("/portal") && !is_inspected("/portal/inspect.json"));
        assert!(!is_inspected("/favicon.ico"));
        assert!(is_inspected("/banks/v1") && is_inspected("/portals"));
    }

    #[test]
    fn the_create_client_form_names_the_field_at_fault() {
        let ok = new_client(&form(&[
            ("name", "shop"),
            ("token_endpoint_auth_method", "client_secret_basic"),
            ("scopes", "api  customer.*"),
            ("jwks_uri", ""),
        ]))
        .unwrap();
        assert_eq!(ok.token_endpoint_auth_method, Some(AuthMethod::ClientSecretBasic));
        assert_eq!(ok.scopes.unwrap(), ["api", "customer.*"]);
        assert!(ok.jwks_uri.is_none(), "an empty field is not given");

        let err = |pairs: &[(&str, &str)]| new_client(&form(pairs)).unwrap_err().message;
        assert!(err(&[("name", " ")]).starts_with("name:"));
        assert!(
            err(&[("name", "x"), ("token_endpoint_auth_method", "magic")]).starts_with("token_endpoint_auth_method:")
        );
        assert!(err(&[("name", "x"), ("jwks", "{not json")]).starts_with("jwks: not JSON"));
    }
}

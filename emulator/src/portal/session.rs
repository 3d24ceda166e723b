//! Who may use the portal, and from where: the portal token, the browser
//! session that carries it, and the walls around that session.
//!
//! The portal runs on `127.0.0.1`, beside whatever else the developer runs
//! there, and browsers do not isolate cookies by port: a cookie for
//! `127.0.0.1` goes to every local listener, plain HTTP included (loopback
//! counts as a secure context), and a page on another local port is
//! *same-site* with the portal. So:
//!
//! - The browser session lives under a path that is new at every start and
//!   unguessable, `/portal/<nonce>/`, and the cookie (the token, `HttpOnly`,
//!   `Secure`, `SameSite=Strict`) is scoped to that path. Another port gets
//!   it only if a page there knows the nonce, and the nonce never leaves the
//!   portal's own pages: it is not in `sandbox.json`, the login link
//!   (`/portal?token=`) redirects to it, and `Referrer-Policy: same-origin`
//!   keeps it out of the `Referer` other origins (other ports) would get.
//!   (`no-referrer` would also blank the `Origin` of the portal's own form
//!   posts, which the next point checks.) A cookie-free design (the token in every
//!   URL) would put the credential itself in the address bar and history.
//! - A state-changing request that rides on the cookie must come from the
//!   portal's own pages: `Origin` must be the portal's origin (scheme, host
//!   and port) and `Sec-Fetch-Site`, when sent, `same-origin`. A request with
//!   neither (an old browser, a forged form) is refused: there is no way to
//!   tell it from another site's. This holds even if the nonce leaked.
//! - Scripts send `Authorization: Bearer <token>` on any portal path
//!   (`/portal/...` or the session's); a browser never sends that header on
//!   its own, so those requests need no origin check.
//! - Every portal response forbids framing (`X-Frame-Options: DENY`,
//!   `frame-ancestors 'none'`), so no page can overlay the session's
//!   buttons.
//!
//! Two kinds of login share these walls ([`Viewer`]): the owner's link (the
//! one `up` prints) sees and changes everything; an application's link (in
//! its own `sandbox.json`, for a workshop attendee) sees only that
//! application. Each has its own token and its own session path, so its
//! cookie never reaches another's pages; a token is good only on its own
//! session path, and the owner's actions ([`Session`]) refuse an
//! application's login whatever path it comes on.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use std::sync::Arc;

use super::{PREFIX, Portal, PortalError};
use crate::apps::App;
use crate::web::authorization;

pub const COOKIE: &str = "mtls_sandbox_portal";

/// The session's path parameter in the portal's routes.
pub const PARAM: &str = "session";

/// Who is logged in to the portal.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// The sandbox's owner: every application, every action.
    Owner,
    /// One application's link: that application only.
    App(Arc<App>),
}

impl Viewer {
    /// The application this login is limited to; `None` for the owner.
    pub fn app(&self) -> Option<&Arc<App>> {
        match self {
            Viewer::Owner => None,
            Viewer::App(app) => Some(app),
        }
    }

    /// Whose login `token` is, if anyone's.
    pub fn of_token(portal: &Portal, token: &str) -> Option<Self> {
        if is_portal_token(portal, token) {
            return Some(Viewer::Owner);
        }
        portal.apps.by_portal_token(token).map(Viewer::App)
    }

    /// The path segment of this login's browser session.
    fn session<'a>(&'a self, portal: &'a Portal) -> &'a str {
        match self.app().and_then(|app| app.portal.as_ref()) {
            Some(link) => &link.session,
            None => &portal.session,
        }
    }

    /// Where this login's browser session lives: `/portal/<nonce>`.
    pub fn base(&self, portal: &Portal) -> String {
        format!("{PREFIX}/{}", self.session(portal))
    }
}

/// Where the owner's browser session lives, without the trailing slash:
/// `/portal/<nonce>`; its pages are under `/portal/<nonce>/`.
pub fn base(portal: &Portal) -> String {
    Viewer::Owner.base(portal)
}

/// Where an error page on `path` leads back to: the session the path is
/// under, else the session of the bearer token presented, else `/portal`.
/// Never another login's session: its path is the wall around its cookie.
pub fn base_for(portal: &Portal, path: &str, headers: &HeaderMap) -> String {
    let on_path = path
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.split_once('/'))
        .map(|(segment, _)| segment)
        .and_then(|segment| {
            if same_secret(segment, &portal.session) {
                Some(Viewer::Owner)
            } else {
                portal.apps.by_portal_session(segment).map(Viewer::App)
            }
        });
    let by_bearer = || {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(authorization::bearer)?;
        Viewer::of_token(portal, token)
    };
    match on_path.or_else(by_bearer) {
        Some(viewer) => viewer.base(portal),
        None => PREFIX.to_owned(),
    }
}

/// The `Set-Cookie` value the login link answers with: the token, sent back
/// only to the session's path of `viewer`.
pub fn login_cookie(portal: &Portal, viewer: &Viewer, token: &str) -> Option<HeaderValue> {
    let cookie = cookie::Cookie::build((COOKIE, token.to_owned()))
        .path(viewer.base(portal))
        .http_only(true)
        .secure(true)
        .same_site(cookie::SameSite::Strict)
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// A request by the owner: it presented the owner's portal token (cookie
/// or bearer) and, if it changes something with the cookie, came from the
/// portal's own pages. An application's login is refused (403).
pub struct Session;

impl FromRequestParts<Arc<Portal>> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Arc<Portal>) -> Result<Self, Self::Rejection> {
        match Viewer::from_request_parts(parts, portal).await? {
            Viewer::Owner => Ok(Session),
            Viewer::App(app) => Err(PortalError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "refused: this portal link is application {}'s, and it sees and changes only {} itself; \
                     this needs the sandbox owner's link (printed by `mtls-sandbox up`)",
                    app.name, app.name
                ),
            )
            .into_response()),
        }
    }
}

/// A request by any portal login (the owner's or an application's), on its
/// own session path or with a bearer token, under the same walls as
/// [`Session`]. Handlers show a [`Viewer::App`] only its application.
impl FromRequestParts<Arc<Portal>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, portal: &Arc<Portal>) -> Result<Self, Self::Rejection> {
        let login = || {
            PortalError::login_required("You are not logged in to the portal, or the sandbox restarted since you were.")
                .into_response()
        };
        let params = RawPathParams::from_request_parts(parts, portal)
            .await
            .map_err(|_| login())?;
        let on_session_path = params
            .iter()
            .find(|(name, _)| *name == PARAM)
            .map(|(_, v)| v.to_owned());
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(authorization::bearer);
        let (presented, by_cookie) = match bearer {
            Some(token) => (Some(token.to_owned()), false),
            None => (session_cookie(&parts.headers), true),
        };
        let Some(viewer) = presented.and_then(|t| Viewer::of_token(portal, &t)) else {
            return Err(login());
        };
        // A login is good only on its own session's path.
        if on_session_path.is_some_and(|nonce| !same_secret(&nonce, viewer.session(portal))) {
            return Err(login());
        }
        let changes = !matches!(parts.method, Method::GET | Method::HEAD);
        if by_cookie && changes {
            let info = portal.application.info();
            let scheme = info.sandbox_url.split("://").next().unwrap_or("https");
            from_own_pages(parts, scheme)
                .map_err(|why| PortalError::new(StatusCode::FORBIDDEN, why).into_response())?;
        }
        Ok(viewer)
    }
}

/// Whether a request comes from the portal's own pages: `Origin` is the
/// portal's origin and `Sec-Fetch-Site`, if sent, is `same-origin`.
fn from_own_pages(parts: &Parts, scheme: &str) -> Result<(), String> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site").filter(|s| *s != "same-origin") {
        return Err(format!(
            "refused: this request came from another page ({site}); the portal makes changes only for its own pages"
        ));
    }
    let authority = parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| header(header::HOST.as_str()));
    let own = authority.map(|a| format!("{scheme}://{a}"));
    match (header(header::ORIGIN.as_str()), own) {
        (Some(origin), Some(own)) if origin.eq_ignore_ascii_case(&own) => Ok(()),
        (Some(origin), _) => Err(format!(
            "refused: this request came from {origin}; the portal makes changes only for its own pages"
        )),
        (None, _) => Err(
            "refused: the request has no Origin header, so it may come from another page; \
                          use a current browser, or send `Authorization: Bearer <portal token>` from a script"
                .into(),
        ),
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
}

pub fn is_portal_token(portal: &Portal, presented: &str) -> bool {
    portal
        .application
        .info()
        .portal_token
        .as_deref()
        .is_some_and(|token| same_secret(presented, token))
}

fn same_secret(presented: &str, secret: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), secret.as_bytes()).is_ok()
}

/// For every portal response: no framing, and no `Referer` to other
/// origins (it would carry the session's path to wherever a link leads).
pub fn wall_off(headers: &mut HeaderMap) {
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::post("/portal/n/clients");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_the_portals_own_origin_may_change_things_with_the_cookie() {
        let own = [("host", "127.0.0.1:4443"), ("origin", "https://127.0.0.1:4443")];
        assert!(from_own_pages(&parts(&own), "https").is_ok());
        assert!(from_own_pages(&parts(&[own[0], own[1], ("sec-fetch-site", "same-origin")]), "https").is_ok());

        let refused = |headers: &[(&str, &str)]| from_own_pages(&parts(headers), "https").unwrap_err();
        assert!(refused(&[own[0], own[1], ("sec-fetch-site", "same-site")]).contains("(same-site)"));
        assert!(refused(&[own[0], ("origin", "https://127.0.0.1:8443")]).contains("came from https://127.0.0.1:8443"));
        assert!(refused(&[own[0], ("origin", "http://127.0.0.1:4443")]).contains("came from"));
        assert!(refused(&[own[0], ("origin", "null")]).contains("came from null"));
        assert!(refused(&[own[0]]).contains("no Origin header"));
    }
}

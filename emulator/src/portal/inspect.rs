//! The portal's request inspector pages (`inspect`, `inspect.json`): the
//! inspector's events as the login may see them. The owner sees every
//! event and may filter by application (`?app=NAME`); an application's
//! link sees only the events attributed to that application, never a
//! handshake, delivery or request nobody could attribute.
//!
//! Which application an event belongs to is decided when someone looks
//! ([`Lookups`]), from the running set of applications, so recording a
//! request costs no lookup.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use super::session::Viewer;
use super::{Portal, PortalError, no_store, pages};
use crate::inspector::{Caller, EventView, Resolve};

#[derive(serde::Deserialize)]
pub(super) struct InspectQuery {
    /// Reload the page every this many seconds.
    refresh: Option<u32>,
    /// Only this application's events (the owner's filter).
    app: Option<String>,
}

/// Which application's events a login sees: `None` for all (the owner
/// without a filter).
pub(super) fn filter(portal: &Portal, viewer: &Viewer, asked: Option<&str>) -> Result<Option<String>, PortalError> {
    let asked = asked.filter(|name| !name.is_empty());
    match (viewer.app(), asked) {
        (Some(own), Some(name)) if name != own.name => Err(PortalError::new(
            StatusCode::FORBIDDEN,
            format!(
                "refused: this portal link is application {}'s and shows only its requests, not {name}'s",
                own.name
            ),
        )),
        (Some(own), _) => Ok(Some(own.name.clone())),
        (None, Some(name)) if portal.apps.find(name).is_none() => Err(PortalError::new(
            StatusCode::NOT_FOUND,
            format!("app={name}: no application of that name; the inspector's list shows those there are"),
        )),
        (None, asked) => Ok(asked.map(str::to_owned)),
    }
}

/// The inspector's events, decoded, of the application `filter` names
/// (all without one), newest first.
pub(super) fn events(portal: &Portal, filter: Option<&str>) -> Vec<EventView> {
    let mut events = portal.inspector.view(&Lookups(portal));
    if let Some(name) = filter {
        events.retain(|e| e.app.as_deref() == Some(name));
    }
    events
}

pub(super) async fn page(
    viewer: Viewer,
    State(portal): State<Arc<Portal>>,
    Query(query): Query<InspectQuery>,
) -> Result<Response, PortalError> {
    let filter = filter(&portal, &viewer, query.app.as_deref())?;
    let events = events(&portal, filter.as_deref());
    let refresh = query.refresh.map(|s| s.clamp(1, 3600));
    let choices: Vec<String> = match viewer {
        Viewer::Owner => portal.apps.list().into_iter().map(|a| a.name).collect(),
        Viewer::App(_) => Vec::new(),
    };
    let view = pages::InspectView {
        base: &viewer.base(&portal),
        events: &events,
        refresh,
        app: filter.as_deref(),
        choices: &choices,
    };
    Ok(no_store(Html(pages::inspect(&portal, &view)).into_response()))
}

pub(super) async fn json(
    viewer: Viewer,
    State(portal): State<Arc<Portal>>,
    Query(query): Query<InspectQuery>,
) -> Result<Response, PortalError> {
    let filter = filter(&portal, &viewer, query.app.as_deref())?;
    let events = events(&portal, filter.as_deref());
    let body = json!({ "capacity": portal.inspector.capacity(), "app": filter, "events": events });
    Ok(no_store(axum::Json(body).into_response()))
}

/// What the portal knows for the inspector's view: token claims and the
/// applications.
struct Lookups<'a>(&'a Portal);

impl Resolve for Lookups<'_> {
    /// Decoded for display only: nothing is verified here.
    fn claims_of(&self, token: &str) -> Option<Value> {
        let jwt = if token.split('.').count() == 3 {
            token.to_owned()
        } else {
            crate::oauth::store::resolve_opaque(&self.0.records, token).ok()??
        };
        crate::oauth::token::unverified_claims(&jwt)
    }

    fn app_of(&self, caller: Caller<'_>) -> Option<String> {
        let apps = &self.0.apps;
        let app = match caller {
            Caller::AppToken(token) => apps.by_app_token(token),
            Caller::ClientId(id) => apps.by_client_id(id),
            Caller::CommonName(name) => apps.find(name),
        };
        app.map(|app| app.name.clone())
    }
}

//! Checks on a loaded profile that serde cannot make: every endpoint has
//! what its kind needs, the templates it names exist, paths and methods are
//! well formed, and the templates the engine itself renders are there.
//! Every error names the profile and the endpoint or template at fault.

use std::collections::BTreeSet;

use super::profile::{Generator, Kind, Profile, ProfileError, Source, file_error};
use super::template;
use crate::webhooks::envelope::events;

/// The handlers in code (`builtin.rs`) a profile's `builtin` endpoint may name.
pub const BUILTINS: &[&str] = &[
    "customers.create",
    "customers.get",
    "customers.list",
    "customers.by_app_user_id",
    "banks.list",
];

/// Paths the sandbox serves itself on the same hosts.
const RESERVED: &[&str] = &[
    "/health",
    "/oauth2",
    "/portal",
    "/api/transactions",
    "/.well-known",
    "/jwks.json",
    "/clients",
    "/admin",
];

/// The sandbox's own path prefix `path` falls under, if any.
pub fn reserved(path: &str) -> Option<&'static str> {
    RESERVED
        .iter()
        .find(|r| path == **r || path.starts_with(&format!("{r}/")))
        .copied()
}

/// Checks what serde cannot: every endpoint has what its kind needs,
/// every template it names exists, paths and methods are well formed.
pub fn validate(profile: &Profile) -> Result<(), ProfileError> {
    let file = format!("profile '{}'", profile.name);
    let err = |at: String, detail: String| file_error(&file, format!("{at}: {detail}"));
    let mut seen = BTreeSet::new();
    for (name, value) in &profile.templates {
        template::check(value, &profile.templates).map_err(|e| err(format!("template '{name}'"), e))?;
    }
    for ep in &profile.endpoints {
        let at = format!("endpoint '{}'", ep.id);
        if let Some(taken) = reserved(&ep.path) {
            return Err(err(at, format!("path {} is the sandbox's own ({taken})", ep.path)));
        }
        if !seen.insert((ep.method.clone(), ep.path.clone())) {
            return Err(err(at, format!("{} {} is declared twice", ep.method, ep.path)));
        }
        if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&ep.method.as_str()) {
            return Err(err(
                at,
                format!("method '{}' is not GET, POST, PUT, PATCH or DELETE", ep.method),
            ));
        }
        if !ep.path.starts_with('/') || ep.path.ends_with('/') && ep.path != "/" {
            return Err(err(
                at,
                format!(
                    "path '{}' must start with / and not end with one (set trailing_slash)",
                    ep.path
                ),
            ));
        }
        for segment in ep.path.split('/') {
            super::mount::segment_param(segment).map_err(|why| err(at.clone(), why))?;
        }
        let needs_collection = !matches!(ep.kind, Kind::Builtin | Kind::Action);
        if needs_collection && ep.collection.is_none() {
            return Err(err(at, format!("kind {:?} needs collection", ep.kind).to_lowercase()));
        }
        if matches!(ep.kind, Kind::Create | Kind::Action) && ep.template.is_none() {
            return Err(err(at, format!("kind {:?} needs template", ep.kind).to_lowercase()));
        }
        if ep.kind == Kind::Builtin && !ep.builtin.as_deref().is_some_and(|name| BUILTINS.contains(&name)) {
            return Err(err(
                at,
                format!(
                    "builtin '{}' is not one of {}",
                    ep.builtin.as_deref().unwrap_or(""),
                    BUILTINS.join(", ")
                ),
            ));
        }
        if matches!(ep.kind, Kind::Get | Kind::Delete) && ep.id_from.is_none() {
            return Err(err(at, "kind get/delete needs id_from (e.g. param:payment_id)".into()));
        }
        if ep.kind == Kind::Update && (ep.targets.is_none() || ep.set.is_empty()) {
            return Err(err(at, "kind update needs targets and set".into()));
        }
        for source in [&ep.parent, &ep.id_from].into_iter().flatten() {
            if let Source::Param(name) = source
                && !ep.path.contains(&format!("{{{name}}}"))
            {
                return Err(err(at, format!("param:{name} is not a parameter of {}", ep.path)));
            }
        }
        let names = [&ep.template, &ep.view, &ep.envelope, &ep.errors];
        let generators = ep.children.iter().flat_map(Generator::walk);
        for name in names.into_iter().flatten().chain(generators.map(|g| &g.template)) {
            if !profile.templates.contains_key(name) {
                return Err(err(at, format!("no template '{name}'")));
            }
        }
        if ep.event.is_some() && !matches!(ep.kind, Kind::Create | Kind::Action) {
            return Err(err(at, "event: only create and action endpoints send one".into()));
        }
        let generators = ep.children.iter().flat_map(Generator::walk);
        for event in ep.event.iter().chain(generators.filter_map(|g| g.event.as_ref())) {
            known_event(event).map_err(|e| err(at.clone(), e))?;
        }
    }
    for g in profile.link.iter().flat_map(Generator::walk) {
        if !profile.templates.contains_key(&g.template) {
            return Err(err("link".into(), format!("no template '{}'", g.template)));
        }
        if let Some(event) = &g.event {
            known_event(event).map_err(|e| err(format!("link '{}'", g.collection), e))?;
        }
    }
    for lifecycle in &profile.lifecycles {
        let at = format!("lifecycle '{}'", lifecycle.collection);
        if lifecycle.steps.is_empty() {
            return Err(err(at, "steps: give at least one { status, after }".into()));
        }
        if let Some(event) = &lifecycle.event {
            known_event(event).map_err(|e| err(at.clone(), e))?;
        }
        if let Some(view) = lifecycle.view.as_ref().filter(|v| !profile.templates.contains_key(*v)) {
            return Err(err(at, format!("no template '{view}'")));
        }
    }
    for name in ["error", "error_results", "pending"] {
        if !profile.templates.contains_key(name) {
            return Err(err(
                "templates".into(),
                format!("the engine needs a template named '{name}'"),
            ));
        }
    }
    Ok(())
}

/// An event name the webhooks know (`payment.created`), or what to write.
fn known_event(name: &str) -> Result<(), String> {
    if events::ALL.contains(&name) {
        Ok(())
    } else {
        Err(format!("event '{name}' is not one of {}", events::ALL.join(", ")))
    }
}

//! Putting endpoints on a listener's router, for the profile's endpoints
//! and for the requests imported from a user's API files alike.
//!
//! axum (matchit) refuses two names for a parameter at the same place of
//! paths sharing a prefix (`/x/{customer_id}` beside `/x/{payment_id}/y`)
//! and panics on a method mounted twice on one path. So every path's
//! parameters are named by position (`{s2}`), handlers get the names back
//! with [`params_by_name`], and a [`Mount`] remembers each (method, path)
//! it mounted and mounts nothing twice. Who wins a clash is decided by the
//! order of the calls, never by a panic.

use std::collections::BTreeSet;

use axum::Router;
use axum::extract::RawPathParams;
use axum::routing::{MethodFilter, MethodRouter};

/// `path` (`{name}` parameters) with each parameter named after its
/// segment (`{s2}`): routes sharing a prefix must name a parameter at the
/// same place alike, and the names people write differ.
pub fn axum_path(path: &str) -> String {
    path.split('/')
        .enumerate()
        .map(|(i, segment)| {
            if segment.starts_with('{') {
                format!("{{s{i}}}")
            } else {
                segment.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The parameter name of one path segment written `{name}` (`None` for a
/// literal segment), or why the segment cannot be routed: a parameter must
/// be a whole segment, and axum reads a segment starting with `*` or `:` as
/// a wildcard or parameter (and panics on some). One rule for the profile's
/// paths and the imported ones.
pub fn segment_param(segment: &str) -> Result<Option<&str>, String> {
    let name = segment
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .filter(|n| !n.is_empty() && !n.contains(['{', '}', '*']));
    match name {
        Some(name) => Ok(Some(name)),
        None if segment.contains(['{', '}']) => Err(format!(
            "path segment '{segment}': a path parameter must be a whole segment ({{name}} or :name)"
        )),
        None if segment.starts_with(['*', ':']) => Err(format!(
            "path segment '{segment}': a segment starting with * or : cannot be routed (axum reads it as a wildcard or parameter)"
        )),
        None => Ok(None),
    }
}

/// The filter for a method name checked at load (GET for anything else).
pub fn method_filter(method: &str) -> MethodFilter {
    match method {
        "POST" => MethodFilter::POST,
        "PUT" => MethodFilter::PUT,
        "PATCH" => MethodFilter::PATCH,
        "DELETE" => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    }
}

/// The request's path parameters under the names `path` gives them
/// (`{customer_id}`), from the positional names [`axum_path`] mounted.
pub fn params_by_name(path: &str, params: &RawPathParams) -> Vec<(String, String)> {
    let segments: Vec<&str> = path.split('/').collect();
    params
        .iter()
        .filter_map(|(name, value)| {
            let index: usize = name.strip_prefix('s')?.parse().ok()?;
            let segment = segments.get(index)?;
            Some((
                segment.trim_matches(|c| c == '{' || c == '}').to_owned(),
                value.to_owned(),
            ))
        })
        .collect()
}

/// What a route is mounted as: the method and the positional path.
pub type Key = (String, String);

/// The keys `method path` takes, with its trailing-slash twin if asked.
pub fn keys(method: &str, path: &str, trailing_slash: bool) -> Vec<Key> {
    let path = axum_path(path);
    let mut keys = vec![(method.to_owned(), path.clone())];
    if trailing_slash && path != "/" {
        keys.push((method.to_owned(), format!("{path}/")));
    }
    keys
}

/// A router being filled; mounts each (method, path) once.
pub struct Mount<S> {
    router: Router<S>,
    taken: BTreeSet<Key>,
}

impl<S: Clone + Send + Sync + 'static> Mount<S> {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            taken: BTreeSet::new(),
        }
    }

    /// Mounts `route` as `method path` (and `path/` with `trailing_slash`);
    /// a key already mounted keeps its first route. Returns how many keys
    /// were mounted.
    pub fn add(&mut self, method: &str, path: &str, trailing_slash: bool, route: MethodRouter<S>) -> usize {
        let mut mounted = 0;
        for key in keys(method, path, trailing_slash) {
            if self.taken.insert(key.clone()) {
                self.router = std::mem::take(&mut self.router).route(&key.1, route.clone());
                mounted += 1;
            }
        }
        mounted
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

#[cfg(test)]
mod tests {
    use axum::routing::get;

    use super::*;

    #[test]
    fn parameters_are_named_by_position() {
        assert_eq!(
            axum_path("/customers/v1/{customer_id}/entities/{entity_id}"),
            "/customers/v1/{s3}/entities/{s5}"
        );
        assert_eq!(axum_path("/banks/v1"), "/banks/v1");
    }

    #[test]
    fn a_route_is_mounted_once_and_its_twin_with_a_slash() {
        let mut mount = Mount::<()>::new();
        assert_eq!(mount.add("GET", "/a/{id}", true, get(|| async {})), 2);
        assert_eq!(mount.add("GET", "/a/{other}", true, get(|| async {})), 0);
        assert_eq!(
            mount.add("POST", "/a/{other}", false, axum::routing::post(|| async {})),
            1
        );
        assert_eq!(keys("GET", "/", true), vec![("GET".to_owned(), "/".to_owned())]);
        let _ = mount.into_router();
    }
}

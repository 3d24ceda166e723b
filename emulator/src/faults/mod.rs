//! Fault injection (README, "Faults and time"): rules that make the sandbox misbehave on
//! purpose — rate limits, 5xx, delays, dropped connections, token-endpoint
//! errors, signing-key rotation, certificate revocation — so users can test
//! their error handling.
//!
//! A middleware on every listener consults the installed rules. With none
//! installed it costs one relaxed atomic load per request. `/admin/*` is
//! never faulted, so a rule can always be removed.

pub mod admin;
mod clock_admin;
mod inject;
pub mod rule;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::http::Method;
use serde_json::{Value, json};

pub use inject::inject;
pub use rule::{Effect, Rule, RuleSpec};

use crate::apps::Apps;
use crate::clock::Clock;
use crate::entropy::Entropy;
use crate::hosts::Host;
use crate::oauth::Authority;
use crate::revocation::Revocations;

/// What fault injection and its admin endpoints work with: the rules, and
/// the owners of what a rule can do (rotate the signing key, revoke the
/// caller's certificate) and of the clock `/admin/clock` changes.
#[derive(Clone)]
pub struct FaultState {
    pub faults: Arc<Faults>,
    pub authority: Arc<Authority>,
    pub revocations: Arc<Revocations>,
    pub clock: Arc<Clock>,
    /// Which application a request comes from (rules matching `app`).
    pub apps: Arc<Apps>,
}

impl axum::extract::FromRef<FaultState> for Arc<Authority> {
    fn from_ref(state: &FaultState) -> Self {
        state.authority.clone()
    }
}

/// The auth host's `/admin/faults` and `/admin/clock`.
pub fn routes(state: FaultState) -> axum::Router {
    use axum::routing::{delete, get, post};
    axum::Router::new()
        .route(
            "/admin/faults",
            post(admin::add_fault)
                .get(admin::list_faults)
                .delete(admin::clear_faults),
        )
        .route("/admin/faults/{id}", delete(admin::delete_fault))
        .route(
            "/admin/clock",
            get(clock_admin::get_clock).post(clock_admin::change_clock),
        )
        .with_state(state)
}

/// Most rules installed at once. Every request is matched against each live
/// rule, so thousands of them slow the whole sandbox down; a test suite
/// needs a handful.
pub const MAX_RULES: usize = 100;

/// One installed rule and its bookkeeping.
#[derive(Debug)]
struct Installed {
    id: String,
    rule: Rule,
    /// Matches left when the rule has a count.
    remaining: Option<AtomicU64>,
    hits: AtomicU64,
}

impl Installed {
    fn live(&self, now: Instant) -> bool {
        self.rule.expires.is_none_or(|at| now < at)
            && self.remaining.as_ref().is_none_or(|r| r.load(Ordering::Relaxed) > 0)
    }

    /// Counts a match; false when another request took the last one.
    fn claim(&self) -> bool {
        let claimed = match &self.remaining {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok(),
        };
        if claimed {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        claimed
    }

    fn describe(&self) -> Value {
        let mut v = serde_json::to_value(&self.rule.spec).unwrap_or(Value::Null);
        v["id"] = json!(self.id);
        v["hits"] = json!(self.hits.load(Ordering::Relaxed));
        if let Some(left) = &self.remaining {
            v["remaining"] = json!(left.load(Ordering::Relaxed));
        }
        v
    }
}

/// What a request looks like to the matchers. Subject and client id are
/// looked up only when a live rule asks for them.
pub struct Probe<'a> {
    pub host: Host,
    pub method: &'a Method,
    pub path: &'a str,
    pub subject: Option<String>,
    pub client_id: Option<String>,
    /// The calling application's name.
    pub app: Option<String>,
}

/// Which request properties the live rules match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wants {
    pub subject: bool,
    pub client_id: bool,
    pub app: bool,
}

/// The installed rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: RwLock<Vec<Arc<Installed>>>,
    /// Rule ids come from here.
    entropy: Entropy,
    /// False while no rule is installed: the middleware's fast path.
    armed: AtomicBool,
}

impl Faults {
    /// Installs the config file's rules.
    pub fn new(specs: Vec<RuleSpec>, entropy: Entropy) -> Result<Self, String> {
        let faults = Self {
            entropy,
            ..Self::default()
        };
        for (i, spec) in specs.into_iter().enumerate() {
            faults.add(spec).map_err(|e| format!("faults[{i}]: {e}"))?;
        }
        Ok(faults)
    }

    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Relaxed)
    }

    /// Validates and installs a rule; returns its description (with `id`).
    pub fn add(&self, spec: RuleSpec) -> Result<Value, String> {
        let rule = Rule::try_from(spec)?;
        let installed = Arc::new(Installed {
            id: self.entropy.uuid(),
            remaining: rule.spec.count.map(AtomicU64::new),
            hits: AtomicU64::new(0),
            rule,
        });
        let description = installed.describe();
        self.prune();
        let mut rules = self.write();
        if rules.len() >= MAX_RULES {
            return Err(format!(
                "at most {MAX_RULES} fault rules can be installed at once; remove some first \
                 (DELETE /admin/faults, or `mtls-sandbox faults clear`)"
            ));
        }
        rules.push(installed);
        self.armed.store(true, Ordering::Relaxed);
        Ok(description)
    }

    /// The live rules, oldest first.
    pub fn list(&self) -> Vec<Value> {
        self.prune();
        self.read().iter().map(|r| r.describe()).collect()
    }

    /// Removes every rule; returns how many there were.
    pub fn clear(&self) -> usize {
        let mut rules = self.write();
        let n = rules.len();
        rules.clear();
        self.armed.store(false, Ordering::Relaxed);
        n
    }

    pub fn remove(&self, id: &str) -> bool {
        let mut rules = self.write();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        self.armed.store(!rules.is_empty(), Ordering::Relaxed);
        rules.len() < before
    }

    /// What a live rule matches on that is worth looking up.
    pub fn wants(&self) -> Wants {
        let rules = self.read();
        let any = |f: fn(&rule::MatchSpec) -> bool| rules.iter().any(|r| f(&r.rule.spec.matcher));
        Wants {
            subject: any(|m| m.subject.is_some()),
            client_id: any(|m| m.client_id.is_some()),
            app: any(|m| m.app.is_some()),
        }
    }

    /// The effect of the first live rule matching `probe`, counting the hit.
    pub fn take(&self, probe: &Probe) -> Option<Effect> {
        let now = Instant::now();
        let found = self
            .read()
            .iter()
            .find(|r| r.live(now) && matches(&r.rule, probe) && r.claim())
            .map(|r| r.rule.effect.clone());
        if found.is_some() {
            self.prune();
        }
        found
    }

    /// Drops exhausted and expired rules.
    fn prune(&self) {
        let now = Instant::now();
        if self.read().iter().all(|r| r.live(now)) {
            return;
        }
        let mut rules = self.write();
        rules.retain(|r| r.live(now));
        self.armed.store(!rules.is_empty(), Ordering::Relaxed);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Arc<Installed>>> {
        self.rules.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Arc<Installed>>> {
        self.rules.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn matches(rule: &Rule, p: &Probe) -> bool {
    let m = &rule.spec.matcher;
    rule.host.is_none_or(|h| h == p.host)
        && rule.method.as_ref().is_none_or(|want| want == p.method)
        && rule.path.as_ref().is_none_or(|g| g.is_match(p.path))
        && m.subject
            .as_deref()
            .is_none_or(|want| p.subject.as_deref().is_some_and(|s| s.contains(want)))
        && m.client_id
            .as_deref()
            .is_none_or(|want| p.client_id.as_deref() == Some(want))
        && m.app.as_deref().is_none_or(|want| p.app.as_deref() == Some(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: Value) -> RuleSpec {
        serde_json::from_value(json).unwrap()
    }

    fn probe<'a>(host: Host, method: &'a Method, path: &'a str) -> Probe<'a> {
        Probe {
            host,
            method,
            path,
            subject: Some("O=x, CN=my_app".into()),
            client_id: Some("testing".into()),
            app: Some("my_app".into()),
        }
    }

    #[test]
    fn counted_rules_apply_n_times_then_disarm() {
        let faults = Faults::default();
        assert!(!faults.armed());
        faults
            .add(spec(
                json!({"match": {"path": "/banks/*"}, "effect": {"status": 429}, "count": 2}),
            ))
            .unwrap();
        assert!(faults.armed());
        let get = Method::GET;
        assert!(faults.take(&probe(Host::Mtls, &get, "/customers/v1")).is_none());
        assert!(faults.take(&probe(Host::Mtls, &get, "/banks/v1")).is_some());
        assert_eq!(faults.list()[0]["remaining"], 1);
        assert!(faults.take(&probe(Host::Sandbox, &get, "/banks/v1")).is_some());
        assert!(faults.take(&probe(Host::Mtls, &get, "/banks/v1")).is_none());
        assert!(faults.list().is_empty() && !faults.armed());
    }

    #[test]
    fn every_matcher_must_hold() {
        let faults = Faults::default();
        let rule = json!({"match": {"host": "auth", "method": "POST", "client_id": "testing", "subject": "CN=my_app"},
                          "effect": {"oauth_error": "invalid_client"}});
        faults.add(spec(rule)).unwrap();
        let post = Method::POST;
        let mut p = probe(Host::Auth, &post, "/oauth2/token");
        p.client_id = Some("other".into());
        assert!(faults.take(&p).is_none());
        p.client_id = Some("testing".into());
        p.subject = None;
        assert!(faults.take(&p).is_none());
        assert!(faults.take(&probe(Host::Mtls, &post, "/oauth2/token")).is_none());
        assert!(faults.take(&probe(Host::Auth, &Method::GET, "/oauth2/token")).is_none());
        assert!(faults.take(&probe(Host::Auth, &post, "/oauth2/token")).is_some());
        assert_eq!(faults.list()[0]["hits"], 1);
    }

    #[test]
    fn a_rule_can_match_one_application() {
        let faults = Faults::default();
        faults
            .add(spec(json!({"match": {"app": "alice"}, "effect": {"status": 503}})))
            .unwrap();
        assert_eq!(
            faults.wants(),
            Wants {
                subject: false,
                client_id: false,
                app: true
            }
        );
        let get = Method::GET;
        let mut p = probe(Host::Sandbox, &get, "/banks/v1");
        assert!(faults.take(&p).is_none(), "my_app's request");
        p.app = None;
        assert!(faults.take(&p).is_none(), "nobody's");
        p.app = Some("alice".into());
        assert!(faults.take(&p).is_some());
        let err = faults
            .add(spec(json!({"match": {"app": "Alice"}, "effect": {"status": 503}})))
            .unwrap_err();
        assert!(
            err.contains("match.app") && err.contains("not a valid application name"),
            "{err}"
        );
    }

    #[test]
    fn rules_are_capped_and_the_refusal_names_the_limit() {
        let faults = Faults::default();
        for _ in 0..MAX_RULES {
            faults.add(spec(json!({"effect": {"status": 503}}))).unwrap();
        }
        let err = faults.add(spec(json!({"effect": {"status": 503}}))).unwrap_err();
        assert!(err.contains(&format!("at most {MAX_RULES} fault rules")), "{err}");
        faults.clear();
        assert!(faults.add(spec(json!({"effect": {"status": 503}}))).is_ok());
    }

    #[test]
    fn remove_and_clear() {
        let faults = Faults::new(vec![spec(json!({"effect": {"delay_ms": 5}}))], Entropy::SYSTEM).unwrap();
        let id = faults.add(spec(json!({"effect": {"status": 503}}))).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(faults.remove(&id) && !faults.remove(&id));
        assert_eq!(faults.clear(), 1);
        assert!(!faults.armed());
        let err = Faults::new(vec![RuleSpec::default()], Entropy::SYSTEM).unwrap_err();
        assert!(err.starts_with("faults[0]: effect: nothing to do"), "{err}");
    }
}

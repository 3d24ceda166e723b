//! Fault rules (README, "Faults and time"): what a rule matches, what it does, how long it
//! lives — as written (JSON over `/admin/faults`, TOML `[[faults]]` in the
//! config file, flags of `mtls-sandbox faults add`) and validated.
//!
//! Validation names the field at fault (`match.path`, `effect.status`), so
//! a rejected rule says what to change.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use globset::{Glob, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::hosts::Host;

/// A rule as written by users.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    #[serde(rename = "match", default)]
    pub matcher: MatchSpec,
    #[serde(default)]
    pub effect: EffectSpec,
    /// Apply to the first N matching requests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Apply for this long after installation ("30s", "5m").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

/// Every given field must match; an empty matcher matches every request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// sandbox, mtls or auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A glob over the path: `*` any characters, `?` one, `[ab]` a class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The OAuth client: form `client_id`, Basic user, client assertion
    /// subject, or the bearer token's `client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// A substring of the client certificate's subject DN, e.g. "CN=my_app".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The application calling, by name: its app token, a token or client
    /// of its own, or (with neither) its client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EffectSpec {
    /// Answer with this status instead of the endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The JSON body to answer with [default: the provider's error body].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Seconds in `Retry-After` [default: 1 for 429 and 503].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// Wait this long before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Send the status line and half the body, then close the connection.
    #[serde(default, skip_serializing_if = "is_false")]
    pub drop: bool,
    /// Answer as the token endpoint does: `invalid_client`, `invalid_grant`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_error: Option<String>,
    /// Replace the signing key; the old one leaves the JWKS, its tokens fail.
    #[serde(default, skip_serializing_if = "is_false")]
    pub rotate_keys: bool,
    /// Revoke the caller's client certificate (the CRL refuses it from the
    /// next handshake on).
    #[serde(default, skip_serializing_if = "is_false")]
    pub revoke_certificate: bool,
    /// The request goes on, and what it creates takes its lifecycle's
    /// failure path (the provider profile's `fail`, e.g. a payment ends
    /// `REJECTED_BY_BANK`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub fail: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a matching request gets, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Effect {
    pub respond: Option<Respond>,
    pub delay: Option<Duration>,
    pub rotate_keys: bool,
    pub revoke_certificate: bool,
    pub fail: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Respond {
    Status {
        status: StatusCode,
        body: Option<serde_json::Value>,
        retry_after: Option<u64>,
    },
    OAuth(String),
    Drop,
}

/// Token-endpoint errors a fault can answer with (RFC 6749 §5.2, plus the
/// two §4.1.2.1 codes servers send when overloaded).
pub const OAUTH_ERRORS: [&str; 8] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
];

/// A validated rule with its matchers compiled.
#[derive(Debug)]
pub struct Rule {
    pub spec: RuleSpec,
    pub host: Option<Host>,
    pub method: Option<Method>,
    pub path: Option<GlobMatcher>,
    pub effect: Effect,
    pub expires: Option<Instant>,
}

impl TryFrom<RuleSpec> for Rule {
    type Error = String;

    fn try_from(spec: RuleSpec) -> Result<Self, String> {
        let m = &spec.matcher;
        let host = match m.host.as_deref() {
            None => None,
            Some(name) => Some(
                Host::ALL
                    .into_iter()
                    .find(|h| h.name() == name)
                    .ok_or_else(|| format!("match.host: '{name}' is not one of sandbox, mtls, auth"))?,
            ),
        };
        let method = match m.method.as_deref() {
            None => None,
            Some(name) => Some(
                Method::from_bytes(name.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("match.method: '{name}' is not an HTTP method"))?,
            ),
        };
        let path = match m.path.as_deref() {
            None => None,
            Some(p) if !p.starts_with('/') && !p.starts_with('*') => {
                return Err(format!("match.path: '{p}' must start with / (or *)"));
            }
            Some(p) => Some(
                Glob::new(p)
                    .map_err(|e| format!("match.path: '{p}' is not a glob: {e}"))?
                    .compile_matcher(),
            ),
        };
        if let Some(app) = &m.app {
            crate::apps::validate_name(app).map_err(|e| format!("match.app: {e}"))?;
        }
        let effect = effect(&spec.effect)?;
        if spec.count == Some(0) {
            return Err("count: must be at least 1 (leave it out for no limit)".into());
        }
        let expires = match spec.duration.as_deref() {
            None => None,
            Some(d) => {
                let span = crate::clock::parse_span(d).map_err(|e| format!("duration: {e}"))?;
                let secs = u64::try_from(span.whole_seconds())
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("duration: '{d}' must be positive"))?;
                Some(Instant::now() + Duration::from_secs(secs))
            }
        };
        Ok(Self {
            host,
            method,
            path,
            effect,
            expires,
            spec,
        })
    }
}

fn effect(e: &EffectSpec) -> Result<Effect, String> {
    let responses = [e.status.is_some(), e.oauth_error.is_some(), e.drop];
    if responses.iter().filter(|r| **r).count() > 1 {
        return Err("effect: give only one of status, oauth_error and drop".into());
    }
    let respond = if let Some(code) = e.status {
        let status = StatusCode::from_u16(code)
            .ok()
            .filter(|s| (200..=599).contains(&s.as_u16()))
            .ok_or_else(|| format!("effect.status: {code} is not an HTTP status between 200 and 599"))?;
        let default_retry = matches!(code, 429 | 503).then_some(1);
        Some(Respond::Status {
            status,
            body: e.body.clone(),
            retry_after: e.retry_after.or(default_retry),
        })
    } else if let Some(code) = &e.oauth_error {
        if !OAUTH_ERRORS.contains(&code.as_str()) {
            return Err(format!(
                "effect.oauth_error: '{code}' is not one of {}",
                OAUTH_ERRORS.join(", ")
            ));
        }
        Some(Respond::OAuth(code.clone()))
    } else if e.drop {
        Some(Respond::Drop)
    } else {
        None
    };
    if e.body.is_some() && e.status.is_none() {
        return Err("effect.body: needs effect.status".into());
    }
    if e.retry_after.is_some() && e.status.is_none() {
        return Err("effect.retry_after: needs effect.status".into());
    }
    if e.fail && (e.status.is_some() || e.oauth_error.is_some()) {
        return Err("effect.fail: the request must go on to create something; drop status and oauth_error".into());
    }
    if respond.is_none() && e.delay_ms.is_none() && !e.rotate_keys && !e.revoke_certificate && !e.fail {
        return Err(
            "effect: nothing to do; give status, oauth_error, drop, delay_ms, rotate_keys, revoke_certificate or fail"
                .into(),
        );
    }
    if e.delay_ms.is_some_and(|ms| ms > 300_000) {
        return Err("effect.delay_ms: at most 300000 (5 minutes)".into());
    }
    Ok(Effect {
        respond,
        delay: e.delay_ms.map(Duration::from_millis),
        rotate_keys: e.rotate_keys,
        revoke_certificate: e.revoke_certificate,
        fail: e.fail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: serde_json::Value) -> Result<Rule, String> {
        Rule::try_from(serde_json::from_value::<RuleSpec>(json).map_err(|e| e.to_string())?)
    }

    #[test]
    fn a_rate_limit_rule_compiles_with_a_default_retry_after() {
        let r = rule(serde_json::json!({
            "match": {"host": "mtls", "method": "get", "path": "/banks/*"},
            "effect": {"status": 429}, "count": 2, "duration": "30s"
        }))
        .unwrap();
        assert_eq!((r.host, r.method), (Some(Host::Mtls), Some(Method::GET)));
        assert!(r.path.as_ref().unwrap().is_match("/banks/v1"));
        assert!(!r.path.as_ref().unwrap().is_match("/customers/v1"));
        assert_eq!(
            r.effect.respond,
            Some(Respond::Status {
                status: StatusCode::TOO_MANY_REQUESTS,
                body: None,
                retry_after: Some(1)
            })
        );
        assert!(r.expires.is_some());
    }

    #[test]
    fn invalid_rules_name_the_field() {
        let cases = [
            (
                serde_json::json!({"match": {"host": "web"}, "effect": {"status": 500}}),
                "match.host",
            ),
            (
                serde_json::json!({"match": {"method": "GE T"}, "effect": {"status": 500}}),
                "match.method",
            ),
            (
                serde_json::json!({"match": {"path": "banks"}, "effect": {"status": 500}}),
                "match.path",
            ),
            (
                serde_json::json!({"match": {"path": "/a/[b"}, "effect": {"status": 500}}),
                "match.path",
            ),
            (serde_json::json!({"effect": {"status": 42}}), "effect.status"),
            (
                serde_json::json!({"effect": {"status": 500, "drop": true}}),
                "only one of",
            ),
            (
                serde_json::json!({"effect": {"oauth_error": "nope"}}),
                "effect.oauth_error",
            ),
            (serde_json::json!({"effect": {"body": {}}}), "effect.body"),
            (serde_json::json!({"effect": {}}), "nothing to do"),
            (
                serde_json::json!({"effect": {"fail": true, "status": 500}}),
                "effect.fail",
            ),
            (serde_json::json!({"effect": {"status": 503}, "count": 0}), "count"),
            (
                serde_json::json!({"effect": {"status": 503}, "duration": "soon"}),
                "duration",
            ),
            (serde_json::json!({"effect": {"stauts": 503}}), "stauts"),
        ];
        for (json, needle) in cases {
            let err = rule(json.clone()).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
    }
}

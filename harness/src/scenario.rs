//! The scenario file format (TOML): named client identities and a list of
//! steps, each a request with an expected outcome.
//!
//! ```toml
//! name = "Curity partner flow"
//! description = "A partner calls an API over mutual TLS with a certificate-bound token."
//!
//! [identities.thief]        # extra identities besides the built-in ones
//! kind = "issued"           # issued | self_signed | foreign_ca | expired | revoked
//! cn = "thief"
//!
//! [[step]]
//! say = "Client is authenticating with the Identity Server via mutual TLS ..."
//! host = "mtls"             # sandbox | mtls | auth (or url = "${token_endpoint}")
//! identity = "app"          # app | bare_leaf | foreign_ca | self_signed | expired | revoked | none | <named>
//! method = "POST"
//! path = "/oauth2/token"
//! form = { grant_type = "client_credentials", client_id = "partner-client" }
//! expect = { status = 200, exists = ["/access_token"] }
//! capture = { token = "/access_token" }
//! done = "Client successfully authenticated and received an opaque access token"
//! ```
//!
//! Steps may also `retry` on 429/503 honouring `Retry-After` (`retries = 2`)
//! and assert `json_not = { "/pointer" = value }`. `[[gateway]]` tables
//! (the config file's form) route mtls-host paths to an upstream;
//! `upstream = "echo"` is the harness's echo API.
//!
//! A step with `webhook = "payment.created"` sends nothing: it waits for the
//! next event the application's webhook receiver gets (the harness starts
//! one and sets the sandbox's URL to it), which must be of that type, and
//! checks `expect.json`/`exists` and `capture` against its envelope
//! (`/type`, `/message`, `/payload/...`).
//!
//! Parse errors name the file, the line and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mtls_sandbox::gateway::RouteSection;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub identities: BTreeMap<String, IdentitySpec>,
    /// Gateway routes on the mtls host, as in the emulator's config file;
    /// `upstream = "echo"` is the harness's echo API.
    #[serde(default)]
    pub gateway: Vec<RouteSection>,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// Issued by the sandbox CA, sent with its chain.
    Issued,
    SelfSigned,
    /// Issued by an unrelated CA, sent with that CA's chain.
    ForeignCa,
    /// Issued by the sandbox CA but already expired.
    Expired,
    /// Issued by the sandbox CA, then revoked.
    Revoked,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    pub kind: IdentityKind,
    /// Common name of the certificate [default: the identity's name].
    pub cn: Option<String>,
    /// Send the leaf without its chain [default: false].
    #[serde(default)]
    pub bare: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum HostName {
    #[default]
    Sandbox,
    Mtls,
    Auth,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The narrative line, printed before the request.
    pub say: String,
    /// The line printed when every expectation holds.
    pub done: Option<String>,
    #[serde(default)]
    pub host: HostName,
    /// A full URL instead of host + path (e.g. a captured endpoint).
    pub url: Option<String>,
    #[serde(default = "default_identity")]
    pub identity: String,
    pub method: Option<String>,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    pub form: Option<BTreeMap<String, String>>,
    pub json: Option<toml::Value>,
    /// HTTP Basic credentials: [user, password].
    pub basic: Option<[String; 2]>,
    /// Adds a client assertion (RFC 7523) to the form.
    pub assertion: Option<AssertionSpec>,
    pub expect: Expect,
    /// On 429 / 503 with `Retry-After`, wait that long and retry, up to
    /// this many times, as a well-behaved client does [default: 0].
    #[serde(default)]
    pub retries: u32,
    /// Variables to capture: name → JSON pointer into the response body.
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Instead of a request: the next webhook event received must be of
    /// this type (`payment.created`); expectations apply to its envelope.
    pub webhook: Option<String>,
}

fn default_identity() -> String {
    "none".into()
}

/// How to build a `client_assertion`: HS256 with a secret, or ES256 with
/// a named identity's key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssertionSpec {
    pub client_id: String,
    pub secret: Option<String>,
    pub key: Option<String>,
    /// Audience [default: the token endpoint URL].
    pub aud: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: Option<u16>,
    /// `"refused"`: the TLS handshake must fail.
    pub handshake: Option<String>,
    /// JSON pointer → expected value.
    #[serde(default)]
    pub json: BTreeMap<String, toml::Value>,
    /// JSON pointer → value it must NOT have (e.g. a key id before rotation).
    #[serde(default)]
    pub json_not: BTreeMap<String, toml::Value>,
    /// JSON pointers that must exist.
    #[serde(default)]
    pub exists: Vec<String>,
    /// Header name → substring it must contain.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(0);
            ScenarioError::Parse {
                path: path.to_path_buf(),
                line,
                message: e.message().to_owned(),
            }
        })?;
        scenario.validate(text, path)?;
        Ok(scenario)
    }

    /// Checks what serde cannot: each step expects something, and names
    /// identities that exist.
    fn validate(&self, text: &str, path: &Path) -> Result<(), ScenarioError> {
        if let Err(message) = crate::upstream::routes(&self.gateway, "http://127.0.0.1:1") {
            let line = text
                .lines()
                .position(|l| l.trim() == "[[gateway]]")
                .map_or(0, |n| n + 1);
            return Err(ScenarioError::Parse {
                path: path.to_path_buf(),
                line,
                message,
            });
        }
        for (i, step) in self.steps.iter().enumerate() {
            let line = step_line(text, i);
            let fail = |message: String| ScenarioError::Parse {
                path: path.to_path_buf(),
                line,
                message,
            };
            if step.webhook.is_some() {
                if step.expect.status.is_some() || step.expect.handshake.is_some() {
                    return Err(fail(format!(
                        "step {}: a webhook step sends no request: expect only json, json_not or exists",
                        i + 1
                    )));
                }
                continue;
            }
            match (&step.expect.status, &step.expect.handshake) {
                (None, None) => return Err(fail(format!("step {}: expect needs status or handshake", i + 1))),
                (_, Some(h)) if h != "refused" => {
                    return Err(fail(format!(
                        "step {}: expect.handshake must be \"refused\", not \"{h}\"",
                        i + 1
                    )));
                }
                _ => {}
            }
            let builtin = [
                "app",
                "bare_leaf",
                "foreign_ca",
                "self_signed",
                "expired",
                "revoked",
                "none",
            ];
            if !builtin.contains(&step.identity.as_str()) && !self.identities.contains_key(&step.identity) {
                return Err(fail(format!(
                    "step {}: identity \"{}\" is neither built in ({}) nor defined under [identities]",
                    i + 1,
                    step.identity,
                    builtin.join(", ")
                )));
            }
            if step.url.is_none() && !step.path.starts_with('/') {
                return Err(fail(format!("step {}: path must start with / (or give url)", i + 1)));
            }
        }
        Ok(())
    }
}

impl Scenario {
    /// Whether it can run on any sandbox (`--against`), or needs one the
    /// harness starts: with its gateway routes, or its webhook receiver.
    pub fn runs_against_any_sandbox(&self) -> Result<(), String> {
        if !self.gateway.is_empty() {
            return Err(format!(
                "scenario \"{}\" declares [[gateway]] routes to the harness's echo API; run it without --against",
                self.name
            ));
        }
        if self.steps.iter().any(|s| s.webhook.is_some()) {
            return Err(format!(
                "scenario \"{}\" waits for webhooks at the harness's receiver; run it without --against",
                self.name
            ));
        }
        Ok(())
    }
}

/// The line of the `i`-th `[[step]]` header, for error messages.
fn step_line(text: &str, i: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[step]]")
        .nth(i)
        .map(|(n, _)| n + 1)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "demo"
[identities.thief]
kind = "issued"
cn = "thief"

[[step]]
say = "hello"
path = "/banks/v1"
headers = { lean-app-token = "${app_token}" }
expect = { status = 200 }

[[step]]
say = "refused"
host = "mtls"
identity = "thief"
path = "/health"
expect = { handshake = "refused" }
"#;

    fn err(text: &str) -> String {
        Scenario::parse(text, Path::new("s.toml")).unwrap_err().to_string()
    }

    #[test]
    fn a_good_file_parses() {
        let s = Scenario::parse(GOOD, Path::new("s.toml")).unwrap();
        assert_eq!(s.steps.len(), 2);
        assert_eq!(s.steps[1].host, HostName::Mtls);
        assert_eq!(s.identities["thief"].kind, IdentityKind::Issued);
    }

    #[test]
    fn a_webhook_step_waits_for_an_event_and_expects_no_status() {
        let text = "name = \"w\"\n[[step]]\nsay = \"hook\"\nwebhook = \"payment.created\"\n\
                    expect = { json = { \"/payload/status\" = \"AWAITING_AUTHORIZATION\" } }\n";
        let s = Scenario::parse(text, Path::new("s.toml")).unwrap();
        assert_eq!(s.steps[0].webhook.as_deref(), Some("payment.created"));
        let e = err(&text.replace("expect = {", "expect = { status = 200,"));
        assert!(e.starts_with("s.toml:2:") && e.contains("webhook step"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let typo = GOOD.replace("headers =", "header =");
        let e = err(&typo);
        assert!(e.starts_with("s.toml:10:") && e.contains("header"), "{e}");
        let bad_host = GOOD.replace("host = \"mtls\"", "host = \"mtsl\"");
        let e = err(&bad_host);
        assert!(e.starts_with("s.toml:15:") && e.contains("mtsl"), "{e}");
        let no_expect = GOOD.replace("expect = { status = 200 }", "expect = {}");
        let e = err(&no_expect);
        assert!(
            e.starts_with("s.toml:7:") && e.contains("expect needs status or handshake"),
            "{e}"
        );
        let unknown = GOOD.replace("identity = \"thief\"", "identity = \"ghost\"");
        assert!(err(&unknown).contains("identity \"ghost\""));
        let gateway = GOOD.replace(
            "[[step]]\nsay = \"hello\"",
            "[[gateway]]\nprefix = \"p\"\nupstream = \"echo\"\n[[step]]\nsay = \"hello\"",
        );
        let e = err(&gateway);
        assert!(
            e.starts_with("s.toml:7:") && e.contains("route 'p'") && e.contains("prefix"),
            "{e}"
        );
    }
}

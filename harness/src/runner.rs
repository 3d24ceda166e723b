//! Runs a scenario against a sandbox: builds each request (interpolating
//! `${variables}`), sends it with the step's identity, checks the
//! expectations, captures values for later steps, and writes the
//! transcript as it goes (a workshop audience watches it live).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use anyhow::{Context as _, anyhow};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mtls_sandbox::info::SandboxInfo;
use serde_json::Value;

use crate::exchange::{Prepared, Received, error_chain};
use crate::gate::Pass;
use crate::identity::{Identities, Identity};
use crate::outcome::{Failure, ScenarioResult, StepOutcome, StepResult};
use crate::receiver::Inbox;
use crate::scenario::{AssertionSpec, HostName, Scenario, Step};
use crate::stepper::Stepper;
use crate::transcript;

/// The variable that names the application a scenario plays as.
const APP_NAME: &str = "app_name";

pub struct Runner {
    info: SandboxInfo,
    identities: Identities,
    vars: BTreeMap<String, Value>,
    /// What the application's webhook receiver got, for `webhook` steps.
    inbox: Option<Inbox>,
    /// `--step`: show each exchange in full and wait before sending.
    stepper: Option<Stepper>,
    /// `--parallel`: the file's turn on a sandbox other files play on.
    pass: Option<Pass>,
}

impl Runner {
    /// A runner playing as the application `info` describes, the
    /// sandbox's default one unless [`Self::as_app`] names another.
    pub fn new(info: &SandboxInfo) -> anyhow::Result<Self> {
        let mut vars = BTreeMap::new();
        if let Value::Object(map) = serde_json::to_value(info)? {
            vars.extend(map);
        }
        vars.insert(APP_NAME.into(), crate::apps::DEFAULT_APP.into());
        Ok(Self {
            info: info.clone(),
            identities: Identities::new(info)?,
            vars,
            inbox: None,
            stepper: None,
            pass: None,
        })
    }

    /// Names the application `info` belongs to: `${app_name}`, for what a
    /// scenario registers for its own application (a client's `app`).
    pub fn as_app(mut self, name: &str) -> Self {
        self.vars.insert(APP_NAME.into(), name.into());
        self
    }

    /// Reads `webhook` steps' events from `inbox` (see [`crate::Sandbox::inbox`]).
    pub fn with_inbox(mut self, inbox: Option<Inbox>) -> Self {
        self.inbox = inbox;
        self
    }

    /// Shows every request and response in full, pausing before each
    /// request (`harness run --step`).
    pub fn with_stepper(mut self, stepper: Option<Stepper>) -> Self {
        self.stepper = stepper;
        self
    }

    /// Plays beside other files, taking turns for the steps that change
    /// what every application shares ([`crate::gate`]).
    pub fn with_pass(mut self, pass: Pass) -> Self {
        self.pass = Some(pass);
        self
    }

    /// The stepper back, for the next file (its input may have ended).
    pub fn into_stepper(self) -> Option<Stepper> {
        self.stepper
    }

    /// Runs every step, writing the transcript to `out`. A failed step does
    /// not stop the scenario: later steps show what else is wrong.
    pub async fn run(&mut self, scenario: &Scenario, out: &mut (dyn Write + Send)) -> anyhow::Result<ScenarioResult> {
        transcript::header(out, scenario)?;
        let started = Instant::now();
        let mut steps = Vec::with_capacity(scenario.steps.len());
        for (i, step) in scenario.steps.iter().enumerate() {
            if let Some(pass) = &mut self.pass {
                pass.before(step).await;
            }
            let step_started = Instant::now();
            transcript::step(out, i + 1, &step.say)?;
            let outcome = if let Some(event_type) = &step.webhook {
                transcript::webhook(out, event_type)?;
                self.receive(step, event_type).await
            } else {
                self.send(scenario, i, step, out).await?
            };
            let outcome = match outcome {
                Ok(summary) => {
                    transcript::passed(out, &summary, step.done.as_deref())?;
                    StepOutcome::Passed(summary)
                }
                Err(why) => {
                    transcript::failed(out, &why)?;
                    StepOutcome::Failed(why)
                }
            };
            steps.push(StepResult {
                name: step.say.clone(),
                outcome,
                duration: step_started.elapsed(),
            });
        }
        let result = ScenarioResult {
            name: scenario.name.clone(),
            steps,
            duration: started.elapsed(),
        };
        transcript::summary(out, scenario, result.tally())?;
        Ok(result)
    }

    /// Sends a request step (as its identity, with its retries) and checks
    /// the answer against the step's expectations.
    async fn send(
        &mut self,
        scenario: &Scenario,
        i: usize,
        step: &Step,
        out: &mut (dyn Write + Send),
    ) -> anyhow::Result<Result<String, Failure>> {
        let spec = scenario.identities.get(&step.identity);
        let identity = tokio::task::block_in_place(|| self.identities.get(&step.identity, spec))
            .with_context(|| format!("step {}: cannot make identity '{}'", i + 1, step.identity))?;
        for (name, value) in identity.variables(&step.identity) {
            self.vars.insert(name, value);
        }
        let request = match self.prepare(step).await {
            Ok(request) => request,
            Err(e) => return Ok(Err(Failure::Error(format!("cannot build the request: {e:#}")))),
        };
        transcript::request(out, &request.method, &request.url, &identity.label)?;
        let mut sent = self.exchange(&request, &identity, out).await?;
        for _ in 0..step.retries {
            let Some((status, wait)) = sent.as_ref().ok().and_then(Received::retry_after) else {
                break;
            };
            transcript::retry(out, status, wait)?;
            tokio::time::sleep(wait).await;
            sent = self.exchange(&request, &identity, out).await?;
        }
        Ok(self.check(step, sent))
    }

    /// Sends `request` once as `identity`; with `--step`, shows it in full
    /// and waits for Enter first, then shows the response in full.
    async fn exchange(
        &mut self,
        request: &Prepared,
        identity: &Identity,
        out: &mut (dyn Write + Send),
    ) -> anyhow::Result<reqwest::Result<Received>> {
        let built = match request.build(&identity.http) {
            Ok(built) => built,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(stepper) = &mut self.stepper {
            transcript::request_in_full(out, &built)?;
            stepper.pause(out)?;
        }
        let received = match identity.http.execute(built).await {
            Ok(response) => Ok(Received::read(response).await),
            Err(e) => Err(e),
        };
        if self.stepper.is_some() {
            match &received {
                Ok(received) => transcript::response_in_full(out, received)?,
                Err(e) => transcript::no_response(out, &error_chain(e))?,
            }
        }
        Ok(received)
    }

    /// Takes the next webhook event and checks it against the step.
    async fn receive(&mut self, step: &Step, event_type: &str) -> Result<String, Failure> {
        let inbox = self.inbox.as_mut().ok_or_else(|| {
            Failure::Error(
                "no webhook receiver: run this scenario on a sandbox the harness starts (without --against)".into(),
            )
        })?;
        let Some(event) = inbox.next().await else {
            return Err(Failure::mismatch(
                format!("a {event_type} webhook"),
                format!("none within {} s", crate::receiver::WAIT.as_secs()),
            ));
        };
        let text = event.to_string();
        let got = event["type"].as_str().unwrap_or_default();
        if got != event_type {
            return Err(Failure::mismatch(format!("a {event_type} webhook"), got).with_body(excerpt(&text)));
        }
        self.check_body(step, &event, &text)?;
        Ok(format!("{event_type} received"))
    }

    async fn prepare(&self, step: &Step) -> anyhow::Result<Prepared> {
        let url = match &step.url {
            Some(url) => self.interpolate(url)?,
            None => {
                let base = match step.host {
                    HostName::Sandbox => &self.info.sandbox_url,
                    HostName::Mtls => &self.info.mtls_url,
                    HostName::Auth => &self.info.auth_url,
                };
                format!("{base}{}", self.interpolate(&step.path)?)
            }
        };
        let mut form = match &step.form {
            Some(f) => Some(
                f.iter()
                    .map(|(k, v)| Ok((k.clone(), self.interpolate(v)?)))
                    .collect::<anyhow::Result<Vec<_>>>()?,
            ),
            None => None,
        };
        if let Some(spec) = &step.assertion {
            let jwt = self.assertion(spec, &url)?;
            let fields = form.get_or_insert_with(Vec::new);
            fields.push((
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            fields.push(("client_assertion".into(), jwt));
        }
        let json = match &step.json {
            Some(v) => Some(self.interpolate_value(&serde_json::to_value(v)?)?),
            None => None,
        };
        let default_method = if form.is_some() || json.is_some() {
            "POST"
        } else {
            "GET"
        };
        Ok(Prepared {
            method: step
                .method
                .clone()
                .unwrap_or_else(|| default_method.into())
                .to_uppercase(),
            url,
            headers: step
                .headers
                .iter()
                .map(|(k, v)| Ok((k.clone(), self.interpolate(v)?)))
                .collect::<anyhow::Result<_>>()?,
            query: step
                .query
                .iter()
                .map(|(k, v)| Ok((k.clone(), self.interpolate(v)?)))
                .collect::<anyhow::Result<_>>()?,
            basic: match &step.basic {
                Some([u, p]) => Some((self.interpolate(u)?, self.interpolate(p)?)),
                None => None,
            },
            form,
            json,
        })
    }

    fn assertion(&self, spec: &AssertionSpec, url: &str) -> anyhow::Result<String> {
        let client_id = self.interpolate(&spec.client_id)?;
        let aud = match &spec.aud {
            Some(aud) => self.interpolate(aud)?,
            None => url.to_owned(),
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let claims = serde_json::json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
        });
        let (header, key) = match (&spec.secret, &spec.key) {
            (Some(secret), None) => (
                Header::new(Algorithm::HS256),
                EncodingKey::from_secret(self.interpolate(secret)?.as_bytes()),
            ),
            (None, Some(identity)) => {
                let pem = self.identities_key(identity).ok_or_else(|| {
                    anyhow!("assertion.key: identity '{identity}' has no key yet (use it in an earlier step)")
                })?;
                (Header::new(Algorithm::ES256), EncodingKey::from_ec_pem(pem.as_bytes())?)
            }
            _ => anyhow::bail!("assertion needs exactly one of secret or key"),
        };
        Ok(jsonwebtoken::encode(&header, &claims, &key)?)
    }

    fn identities_key(&self, name: &str) -> Option<String> {
        self.identities
            .cached(name)
            .and_then(|i| i.leaf.as_ref().map(|l| l.key_pem.clone()))
    }

    /// Replaces `${name}` with variables (sandbox.json values, identity
    /// values and captures).
    fn interpolate(&self, text: &str) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| anyhow!("unclosed ${{ in \"{text}\""))?
                + start;
            let name = &rest[start + 2..end];
            let value = self.vars.get(name).ok_or_else(|| {
                anyhow!(
                    "unknown variable ${{{name}}} (captured by an earlier step? known: {})",
                    self.known()
                )
            })?;
            out.push_str(&rest[..start]);
            match value {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Like [`Self::interpolate`] inside JSON; a string that is exactly
    /// `"${name}"` becomes the variable's JSON value (objects included).
    fn interpolate_value(&self, value: &Value) -> anyhow::Result<Value> {
        Ok(match value {
            Value::String(s) if s.starts_with("${") && s.ends_with('}') && s.matches("${").count() == 1 => {
                let name = &s[2..s.len() - 1];
                self.vars
                    .get(name)
                    .cloned()
                    .ok_or_else(|| anyhow!("unknown variable ${{{name}}}"))?
            }
            Value::String(s) => Value::String(self.interpolate(s)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.interpolate_value(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.interpolate_value(v)?)))
                    .collect::<anyhow::Result<_>>()?,
            ),
            other => other.clone(),
        })
    }

    fn known(&self) -> String {
        self.vars.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    /// Compares the outcome with the step's expectations; captures values.
    fn check(&mut self, step: &Step, sent: reqwest::Result<Received>) -> Result<String, Failure> {
        let expect = &step.expect;
        let Received { status, headers, text } = match (sent, expect.handshake.is_some()) {
            (Err(_), true) => return Ok("the handshake was refused, as expected".into()),
            (Err(e), false) => {
                return Err(Failure::mismatch(
                    format!("status {}", expect.status.unwrap_or(0)),
                    format!("no response (the connection failed: {})", error_chain(&e)),
                ));
            }
            (Ok(r), true) => {
                return Err(Failure::mismatch(
                    "the handshake to be refused",
                    format!("HTTP {}", r.status.as_u16()),
                ));
            }
            (Ok(r), false) => r,
        };
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(want) = expect.status
            && status.as_u16() != want
        {
            return Err(
                Failure::mismatch(format!("status {want}"), status.as_u16().to_string()).with_body(excerpt(&text))
            );
        }
        for (name, fragment) in &expect.headers {
            let got = headers.get(name.as_str()).and_then(|v| v.to_str().ok()).unwrap_or("");
            let fragment = self.interpolate(fragment).map_err(|e| Failure::Error(e.to_string()))?;
            if !got.contains(&fragment) {
                return Err(Failure::mismatch(
                    format!("header {name} to contain \"{fragment}\""),
                    format!("\"{got}\""),
                ));
            }
        }
        self.check_body(step, &body, &text)?;
        let reason = status.canonical_reason().unwrap_or("");
        Ok(format!("{} {reason}", status.as_u16()))
    }

    /// The step's JSON expectations (`json`, `json_not`, `exists`) on
    /// `body`, then its captures.
    fn check_body(&mut self, step: &Step, body: &Value, text: &str) -> Result<(), Failure> {
        let expect = &step.expect;
        let excerpt = || excerpt(text);
        for (pointer, want) in &expect.json {
            let want = self
                .interpolate_value(&serde_json::to_value(want).unwrap_or(Value::Null))
                .map_err(|e| Failure::Error(e.to_string()))?;
            match body.pointer(pointer) {
                Some(got) if *got == want => {}
                got => {
                    let got = got.map(|g| g.to_string()).unwrap_or("nothing".into());
                    return Err(Failure::mismatch(format!("{pointer} = {want}"), got).with_body(excerpt()));
                }
            }
        }
        for (pointer, unwanted) in &expect.json_not {
            let unwanted = self
                .interpolate_value(&serde_json::to_value(unwanted).unwrap_or(Value::Null))
                .map_err(|e| Failure::Error(e.to_string()))?;
            if body.pointer(pointer) == Some(&unwanted) {
                return Err(
                    Failure::mismatch(format!("{pointer} to differ from {unwanted}"), unwanted.to_string())
                        .with_body(excerpt()),
                );
            }
        }
        for pointer in &expect.exists {
            if body.pointer(pointer).is_none() {
                return Err(Failure::mismatch(format!("{pointer} in the response"), "nothing").with_body(excerpt()));
            }
        }
        for (var, pointer) in &step.capture {
            let value = body
                .pointer(pointer)
                .cloned()
                .ok_or_else(|| Failure::Error(format!("cannot capture {var}: {pointer} is not in the response")))?;
            self.vars.insert(var.clone(), value);
        }
        Ok(())
    }
}

/// The first 300 characters of a body, for failure messages.
fn excerpt(text: &str) -> String {
    text.chars().take(300).collect()
}

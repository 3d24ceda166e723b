//! HTTPS to the running sandbox's admin API (`/admin/faults`,
//! `/admin/clock`) from the shell, with an admin token minted from the state
//! dir's signing key by the sandbox's own clock.

use serde_json::Value;

use super::{Failure, GlobalArgs, usage};
use crate::info::SandboxInfo;
use crate::instance;
use crate::oauth::authority::AUDIENCE;
use crate::oauth::token::{self, AccessClaims};

/// HTTPS to the running sandbox's admin API.
pub struct AdminClient {
    info: SandboxInfo,
    pub http: reqwest::Client,
    token: String,
}

impl AdminClient {
    pub fn connect(global: &GlobalArgs) -> Result<Self, Failure> {
        let dir = global.state_dir()?;
        let info = instance::probe(&dir).and_then(|r| r.info).ok_or_else(|| {
            usage(anyhow::anyhow!(
                "no sandbox is running for {}. Start one with `mtls-sandbox up`",
                dir.display()
            ))
        })?;
        let (oauth, _) = super::oauth::offline(global)?;
        let claims = AccessClaims::new(
            oauth.issuer(),
            AUDIENCE,
            "mtls-sandbox-cli",
            "admin",
            None,
            oauth.now(),
            oauth.entropy().uuid(),
        );
        let token = token::issue(&claims, &oauth.keys().active)?;
        let ca = std::fs::read(&info.ca_chain)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", info.ca_chain.display()))?;
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca)?)
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self { info, http, token })
    }

    /// `path` on the auth host.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.info.auth_url)
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let response = request.bearer_auth(&self.token).send().await.map_err(|e| {
            anyhow::anyhow!(
                "the sandbox at {} did not answer: {e}. Is it running?",
                self.info.auth_url
            )
        })?;
        let status = response.status();
        let body: Value = if status == reqwest::StatusCode::NO_CONTENT {
            serde_json::json!({ "data": { "deleted": true } })
        } else {
            response.json().await.unwrap_or(Value::Null)
        };
        if !status.is_success() {
            let message = body["message"].as_str().unwrap_or("no message").to_owned();
            let error = anyhow::anyhow!("the sandbox refused: {status} {message}");
            return Err(if status.is_client_error() {
                usage(error)
            } else {
                error.into()
            });
        }
        Ok(body)
    }
}

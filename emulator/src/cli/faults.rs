//! `mtls-sandbox faults add|list|clear`: the `/admin/faults` API of a
//! running sandbox from the shell. Rules live in the running process, so
//! these commands talk HTTPS to it (found through `sandbox.json`), with an
//! admin token minted from the state dir's signing key.

use super::admin::AdminClient;
use super::output::out;
use super::{Failure, GlobalArgs, usage};
use crate::faults::rule::{EffectSpec, MatchSpec};
use crate::faults::{Rule, RuleSpec};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum FaultsCommand {
    /// Install a rule in the running sandbox and print it (with its id).
    #[command(after_help = "Examples:\n  \
        mtls-sandbox faults add --path '/banks/*' --status 429 --count 2\n  \
        mtls-sandbox faults add --host auth --oauth-error invalid_client --duration 30s")]
    Add(Box<AddArgs>),
    /// Print the installed rules as JSON.
    #[command(after_help = "Example:\n  mtls-sandbox faults list | jq '.data[].id'")]
    List,
    /// Remove the rule with this id, or every rule.
    #[command(after_help = "Examples:\n  mtls-sandbox faults clear\n  mtls-sandbox faults clear RULE_ID")]
    Clear {
        /// A rule id from `faults list` [default: all rules].
        id: Option<String>,
    },
}

/// A rule as flags: matchers (all must hold), effects, limits.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Match the listener: sandbox, mtls or auth.
    #[arg(long, help_heading = "Match")]
    pub host: Option<String>,
    /// Match the HTTP method, e.g. POST.
    #[arg(long, help_heading = "Match")]
    pub method: Option<String>,
    /// Path glob, e.g. '/banks/*' or '/oauth2/token'.
    #[arg(long, help_heading = "Match")]
    pub path: Option<String>,
    /// Match the OAuth client (form, Basic user, assertion sub or bearer token).
    #[arg(long, help_heading = "Match")]
    pub client_id: Option<String>,
    /// Substring of the client certificate's subject, e.g. CN=my_app.
    #[arg(long, help_heading = "Match")]
    pub subject: Option<String>,
    /// Match the calling application (app token, token or client, else certificate), e.g. alice.
    #[arg(long, help_heading = "Match")]
    pub app: Option<String>,
    /// Answer with this status (429 and 503 get Retry-After: 1).
    #[arg(long, help_heading = "Effect")]
    pub status: Option<u16>,
    /// JSON body for --status [default: the provider's error body].
    #[arg(long, value_name = "JSON", help_heading = "Effect")]
    pub body: Option<String>,
    /// Retry-After header for --status, in seconds [default: 1 for 429 and 503].
    #[arg(long, value_name = "SECONDS", help_heading = "Effect")]
    pub retry_after: Option<u64>,
    /// Wait this long before answering (combines with the other effects).
    #[arg(long, value_name = "MS", help_heading = "Effect")]
    pub delay_ms: Option<u64>,
    /// Send half the response, then close the connection.
    #[arg(long, help_heading = "Effect")]
    pub drop: bool,
    /// Token-endpoint error: invalid_client, invalid_grant, ...
    #[arg(long, value_name = "CODE", help_heading = "Effect")]
    pub oauth_error: Option<String>,
    /// Replace the signing key (the old one leaves the JWKS).
    #[arg(long, help_heading = "Effect")]
    pub rotate_keys: bool,
    /// Revoke the caller's client certificate.
    #[arg(long, help_heading = "Effect")]
    pub revoke_certificate: bool,
    /// What the request creates takes its lifecycle's failure path
    /// (a payment ends REJECTED_BY_BANK).
    #[arg(long, help_heading = "Effect")]
    pub fail: bool,
    /// Only the first N matching requests.
    #[arg(long, help_heading = "Limit")]
    pub count: Option<u64>,
    /// Only for this long, e.g. 30s or 5m.
    #[arg(long, help_heading = "Limit")]
    pub duration: Option<String>,
}

impl AddArgs {
    fn into_spec(self) -> Result<RuleSpec, String> {
        let body = match &self.body {
            Some(text) => Some(serde_json::from_str(text).map_err(|e| format!("--body is not JSON: {e}"))?),
            None => None,
        };
        Ok(RuleSpec {
            matcher: MatchSpec {
                host: self.host,
                method: self.method,
                path: self.path,
                client_id: self.client_id,
                subject: self.subject,
                app: self.app,
            },
            effect: EffectSpec {
                status: self.status,
                body,
                retry_after: self.retry_after,
                delay_ms: self.delay_ms,
                drop: self.drop,
                oauth_error: self.oauth_error,
                rotate_keys: self.rotate_keys,
                revoke_certificate: self.revoke_certificate,
                fail: self.fail,
            },
            count: self.count,
            duration: self.duration,
        })
    }
}

pub async fn faults(global: &GlobalArgs, command: FaultsCommand) -> Result<(), Failure> {
    let admin = AdminClient::connect(global)?;
    let url = admin.url("/admin/faults");
    let reply = match command {
        FaultsCommand::Add(args) => {
            let spec = (*args).into_spec().map_err(|e| usage(anyhow::anyhow!(e)))?;
            // Same validation as the server, as a usage error before any I/O.
            Rule::try_from(spec.clone()).map_err(|e| usage(anyhow::anyhow!(e)))?;
            admin.send(admin.http.post(&url).json(&spec)).await?
        }
        FaultsCommand::List => admin.send(admin.http.get(&url)).await?,
        FaultsCommand::Clear { id: Some(id) } => admin.send(admin.http.delete(format!("{url}/{id}"))).await?,
        FaultsCommand::Clear { id: None } => admin.send(admin.http.delete(&url)).await?,
    };
    out!("{}", serde_json::to_string_pretty(&reply).unwrap_or_default());
    Ok(())
}

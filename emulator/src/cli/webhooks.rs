//! `mtls-sandbox webhooks set|show|clear|test`: the `/admin/webhooks` API of
//! a running sandbox from the shell (found through `sandbox.json`, with an
//! admin token minted from the state dir's signing key, as `faults` does).

use clap::Subcommand;

use super::admin::AdminClient;
use super::output::out;
use super::{Failure, GlobalArgs, usage};
use crate::webhooks::WebhookUrl;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Send the provider's events for the default application to URL (kept after a restart).
    #[command(after_help = "Examples:\n  \
        mtls-sandbox webhooks set http://localhost:8080/webhooks\n  \
        mtls-sandbox webhooks set https://hooks.example.com/lean")]
    Set {
        /// https:// anywhere, or http:// to localhost, 127.0.0.1 or [::1].
        url: String,
    },
    /// Print the webhook URL and the delivery settings as JSON.
    #[command(after_help = "Example:\n  mtls-sandbox webhooks show | jq -r .data.url")]
    Show,
    /// Stop sending events (removes the URL).
    #[command(after_help = "Example:\n  mtls-sandbox webhooks clear")]
    Clear,
    /// Send a webhook.test event to the URL; the portal's inspector shows its delivery.
    #[command(after_help = "Example:\n  mtls-sandbox webhooks test")]
    Test,
}

pub async fn webhooks(global: &GlobalArgs, command: WebhooksCommand) -> Result<(), Failure> {
    // A bad URL is a usage error before any I/O, with the server's words.
    if let WebhooksCommand::Set { url } = &command {
        WebhookUrl::parse(url).map_err(|e| usage(anyhow::anyhow!("url: {e}")))?;
    }
    let admin = AdminClient::connect(global)?;
    let url = admin.url("/admin/webhooks");
    let reply = match command {
        WebhooksCommand::Set { url: target } => {
            let body = serde_json::json!({ "url": target });
            admin.send(admin.http.put(&url).json(&body)).await?
        }
        WebhooksCommand::Show => admin.send(admin.http.get(&url)).await?,
        WebhooksCommand::Clear => admin.send(admin.http.delete(&url)).await?,
        WebhooksCommand::Test => admin.send(admin.http.post(format!("{url}/test"))).await?,
    };
    out!("{}", serde_json::to_string_pretty(&reply).unwrap_or_default());
    Ok(())
}

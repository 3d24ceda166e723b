//! `mtls-sandbox webhooks [--app NAME] set|show|clear|test`: the
//! `/admin/webhooks` API of a running sandbox from the shell (found through
//! `sandbox.json`, with an admin token minted from the state dir's signing
//! key, as `faults` does), for the default application or `--app`'s.

use clap::{Args, Subcommand};

use super::admin::AdminClient;
use super::output::out;
use super::{Failure, GlobalArgs, usage};
use crate::webhooks::WebhookUrl;

#[derive(Debug, Args)]
pub struct WebhooksArgs {
    /// The application whose URL this is (see `apps list`) [default: my_app].
    #[arg(long, global = true, value_name = "NAME")]
    app: Option<String>,
    #[command(subcommand)]
    command: WebhooksCommand,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Send the provider's events for the application to URL (kept after a restart).
    #[command(after_help = "Examples:\n  \
        mtls-sandbox webhooks set http://localhost:8080/webhooks\n  \
        mtls-sandbox webhooks set https://hooks.example.com/lean\n  \
        mtls-sandbox webhooks set http://localhost:8081/hooks --app alice")]
    Set {
        /// https:// anywhere, or http:// to localhost, 127.0.0.1 or [::1].
        url: String,
    },
    /// Print the webhook URL and the delivery settings as JSON.
    #[command(after_help = "Example:\n  mtls-sandbox webhooks show | jq -r .data.url")]
    Show,
    /// Stop sending events (removes the URL).
    #[command(after_help = "Example:\n  mtls-sandbox webhooks clear --app alice")]
    Clear,
    /// Send a webhook.test event to the URL; the portal's inspector shows its delivery.
    #[command(after_help = "Example:\n  mtls-sandbox webhooks test")]
    Test,
}

pub async fn webhooks(global: &GlobalArgs, args: WebhooksArgs) -> Result<(), Failure> {
    // A bad URL or name is a usage error before any I/O, with the server's words.
    if let WebhooksCommand::Set { url } = &args.command {
        WebhookUrl::parse(url).map_err(|e| usage(anyhow::anyhow!("url: {e}")))?;
    }
    if let Some(app) = &args.app {
        crate::apps::validate_name(app).map_err(usage)?;
    }
    let admin = AdminClient::connect(global)?;
    let url = admin.url("/admin/webhooks");
    let query: Vec<(&str, &str)> = args.app.iter().map(|app| ("app", app.as_str())).collect();
    let request = match args.command {
        WebhooksCommand::Set { url: target } => admin.http.put(&url).json(&serde_json::json!({ "url": target })),
        WebhooksCommand::Show => admin.http.get(&url),
        WebhooksCommand::Clear => admin.http.delete(&url),
        WebhooksCommand::Test => admin.http.post(format!("{url}/test")),
    };
    let reply = admin.send(request.query(&query)).await?;
    out!("{}", serde_json::to_string_pretty(&reply).unwrap_or_default());
    Ok(())
}

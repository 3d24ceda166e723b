//! `mtls-sandbox apps create|list|delete`: the `/admin/apps` API of a
//! running sandbox from the shell. Applications are created by the running
//! process (it serves their tokens and clients at once), so these commands
//! talk HTTPS to it, as `faults` does.

use clap::Subcommand;
use serde_json::json;

use super::admin::AdminClient;
use super::output::out;
use super::{Failure, GlobalArgs, usage};
use crate::apps::AuthMode;

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    /// Create an application (certificate, app token, OAuth client, its own sandbox.json).
    #[command(after_help = "Examples:\n  \
        mtls-sandbox apps create alice\n  \
        mtls-sandbox apps create ci-job-7 --auth-mode oauth\n  \
        eval \"$(mtls-sandbox env --app alice)\"")]
    Create {
        /// Its name: 1 to 32 of [a-z0-9_-], starting with [a-z0-9]; names its files and certificate.
        name: String,
        /// How it calls the resource API: app_token (app token or bearer) or oauth (bearer only).
        #[arg(long, value_parser = parse_auth_mode, default_value = "app_token", value_name = "MODE")]
        auth_mode: AuthMode,
    },
    /// List the applications (my_app first).
    #[command(after_help = "Examples:\n  mtls-sandbox apps list\n  mtls-sandbox apps list --json | jq -r '.[].name'")]
    List {
        /// Print a JSON array of {name, auth_mode, client_id, created_at}.
        #[arg(long)]
        json: bool,
    },
    /// Delete an application: its certificate is revoked, its client and files removed.
    #[command(after_help = "Example:\n  mtls-sandbox apps delete alice")]
    Delete {
        /// The application's name (see `apps list`); my_app cannot be deleted.
        name: String,
    },
}

fn parse_auth_mode(s: &str) -> Result<AuthMode, String> {
    serde_json::from_value(json!(s)).map_err(|_| format!("'{s}' is not an auth mode: use app_token or oauth"))
}

pub async fn apps(global: &GlobalArgs, command: AppsCommand) -> Result<(), Failure> {
    let admin = AdminClient::connect(global)?;
    let url = admin.url("/admin/apps");
    match command {
        AppsCommand::Create { name, auth_mode } => {
            crate::apps::validate_name(&name).map_err(usage)?;
            let body = json!({ "name": name, "auth_mode": auth_mode });
            let reply = admin.send(admin.http.post(&url).json(&body)).await?;
            let info = &reply["data"];
            let field = |key: &str| info[key].as_str().unwrap_or_default().to_owned();
            let dir = std::path::Path::new(&field("client_cert"))
                .parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            out!("Created application {name} (auth mode {}).", auth_mode.name());
            out!("  sandbox.json  {dir}/sandbox.json (credentials, URLs and files, as the sandbox's own)");
            out!("  client cert   {}", field("client_cert"));
            out!("  client key    {}", field("client_key"));
            out!("  app token     {}", field("app_token"));
            out!("  client id     {}", field("client_id"));
            out!("Point a shell at it: eval \"$(mtls-sandbox env --app {name})\"");
        }
        AppsCommand::List { json } => {
            let reply = admin.send(admin.http.get(&url)).await?;
            let apps = reply["data"].as_array().cloned().unwrap_or_default();
            if json {
                out!("{}", serde_json::to_string_pretty(&apps).unwrap_or_default());
            } else {
                out!("{:<32}  {:<9}  {:<36}  CREATED", "NAME", "AUTH MODE", "CLIENT ID");
                for app in &apps {
                    let s = |key: &str| app[key].as_str().unwrap_or_default().to_owned();
                    out!(
                        "{:<32}  {:<9}  {:<36}  {}",
                        s("name"),
                        s("auth_mode"),
                        s("client_id"),
                        s("created_at")
                    );
                }
            }
        }
        AppsCommand::Delete { name } => {
            admin.send(admin.http.delete(format!("{url}/{name}"))).await?;
            out!(
                "Deleted application {name}: its certificate is revoked, its OAuth client and files are gone; \
                 its customers stay in records.db, out of every application's reach."
            );
        }
    }
    Ok(())
}

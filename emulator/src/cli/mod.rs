//! Command-line interface: clap definitions and the subcommand dispatch.
//!
//! Exit codes: 0 ok, 1 runtime failure, 2 usage error (bad flag, bad config
//! file). Every error names the file or value at fault.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

mod admin;
mod apps;
mod clock;
mod doctor;
mod faults;
mod files_cmd;
mod generate;
mod link;
mod locate;
pub mod logging;
mod oauth;
pub mod output;
mod running;
mod up;
mod webhooks;
mod workshop;

use crate::config::{Config, ConfigError, FileConfig};

#[derive(Debug, Parser)]
#[command(
    name = "mtls-sandbox",
    version,
    about = "A local stand-in for an mTLS + OAuth open-banking sandbox.",
    long_about = "A local stand-in for an mTLS + OAuth open-banking sandbox.\n\n\
        `mtls-sandbox up` creates a throwaway CA and the files a provider's portal hands out \
        (lean_public_cert_chain.pem, my_app_cert.crt, my_app_private_key.pem, my_app.p12), then serves \
        a plain HTTPS host, a mutual-TLS host and an OAuth authorization server on localhost.\n\n\
        Everything it makes is for testing only: never trust its CA outside a sandbox."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Directory holding the CA, certificates, credentials and records
    /// [default: the nearest .sandbox/ in this directory or a parent, else ./.sandbox].
    #[arg(long, global = true, env = "MTLS_SANDBOX_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// TOML config file (see fixtures/config.toml); flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the sandbox (creates the state dir on first start, reuses it after).
    #[command(
        after_help = "Examples:\n  mtls-sandbox up\n  mtls-sandbox up --sandbox-port 0 --mtls-port 0 --auth-port 0 --json > sandbox.json"
    )]
    Up(up::UpArgs),
    /// Create the state dir (CA, certificates, credentials) without serving, and print the file paths.
    #[command(after_help = "Example:\n  mtls-sandbox certs --state-dir ci/.sandbox")]
    Certs,
    /// Is a sandbox running for this state dir? Its pid, uptime and URLs.
    #[command(after_help = "Examples:\n  mtls-sandbox status\n  mtls-sandbox status --json | jq -r .mtls_url")]
    Status {
        /// Print a JSON document (running, pid, uptime_seconds, and sandbox.json's fields).
        #[arg(long)]
        json: bool,
    },
    /// Stop the sandbox running for this state dir and wait until its ports are free.
    #[command(after_help = "Example:\n  mtls-sandbox down --timeout 20s")]
    Down {
        /// Give up after this long (e.g. 15s, 1m).
        #[arg(long, default_value = "15s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Wait until a sandbox started in the background is ready (for CI scripts).
    #[command(after_help = "Example:\n  mtls-sandbox up > sandbox.log 2>&1 &\n  mtls-sandbox wait --timeout 30s")]
    Wait {
        /// Give up after this long (e.g. 30s, 2m).
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Print shell exports that point common HTTP clients at the sandbox.
    #[command(
        long_about = "Print shell exports that point common HTTP clients at the sandbox.\n\n\
            SSL_CERT_FILE, REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE point at trust_bundle.pem in the state dir: \
            your system's CA roots plus the sandbox chain, so other HTTPS calls (pip, git) keep working. \
            NODE_EXTRA_CA_CERTS adds the sandbox chain to Node's own roots.",
        after_help = "Examples:\n  eval \"$(mtls-sandbox env)\"\n  curl -H \"lean-app-token: $APP_TOKEN\" \"$SANDBOX_URL/banks/v1\"\n  eval \"$(mtls-sandbox env --app alice)\""
    )]
    Env {
        /// Another application's URLs and credentials (its sandbox.env) [default: my_app].
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
    },
    /// Revoke a client certificate; with a sandbox running, returns once it refuses the certificate.
    #[command(after_help = "Examples:\n  mtls-sandbox revoke\n  mtls-sandbox revoke --cert downloads/my_app_cert.crt")]
    Revoke {
        /// PEM certificate to revoke [default: my_app_cert.crt in the state dir].
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
    },
    /// Manage applications in the running sandbox: create, list, delete
    /// (each with its own certificate, app token, OAuth client and sandbox.json).
    #[command(subcommand)]
    Apps(apps::AppsCommand),
    /// Manage OAuth clients: create, list, delete.
    #[command(subcommand)]
    Clients(oauth::ClientsCommand),
    /// Manage client secrets: create (shown once), delete.
    #[command(subcommand)]
    Secrets(oauth::SecretsCommand),
    /// Print an access token for the default application, by the running sandbox's clock.
    #[command(
        after_help = "Examples:\n  TOKEN=$(mtls-sandbox token --scope api)\n  mtls-sandbox token --client-id testing --scope admin"
    )]
    Token {
        /// Space-separated scopes, e.g. api or customer.<customer_id> [default: api]
        #[arg(long)]
        scope: Option<String>,
        /// Another client than the default application's (see `clients list`).
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Show or change the running sandbox's clock (token expiry, certificate dates),
    /// or one application's own time (--app).
    Clock(clock::ClockArgs),
    /// Check your own certificate and key files and say what to change.
    #[command(
        after_help = "Examples:\n  mtls-sandbox doctor\n  mtls-sandbox doctor --cert client.pem --key client.key --ca lean_public_cert_chain.pem"
    )]
    Doctor(doctor::DoctorArgs),
    /// Make the running sandbox misbehave on purpose: rate limits, 5xx, delays,
    /// dropped connections, token errors, key rotation (also POST /admin/faults).
    #[command(subcommand)]
    Faults(faults::FaultsCommand),
    /// Link a customer to a bank in the running sandbox, as an end user does in the
    /// provider's web SDK: an entity with accounts, balances and transactions.
    #[command(after_help = "Example:\n  mtls-sandbox link 0b6c...e1 --bank LEANMB1")]
    Link(link::LinkArgs),
    /// Where the running sandbox POSTs the provider's events (entity.created,
    /// payment.updated, ...): set, show or clear an application's URL, send a test event.
    Webhooks(webhooks::WebhooksArgs),
    /// Print a shell completion script (see the README's "Shell completions and man page").
    #[command(
        after_help = "Examples:\n  mtls-sandbox completions bash > ~/.local/share/bash-completion/completions/mtls-sandbox\n  mtls-sandbox completions zsh > ~/.zfunc/_mtls-sandbox\n  mtls-sandbox completions fish > ~/.config/fish/completions/mtls-sandbox.fish"
    )]
    Completions(generate::CompletionsArgs),
    /// Print the man page (roff), or write every page into a directory.
    #[command(
        after_help = "Examples:\n  mtls-sandbox man | man -l -\n  mtls-sandbox man --dir ~/.local/share/man/man1"
    )]
    Man(generate::ManArgs),
}

/// An error with the exit code it deserves.
pub struct Failure {
    pub code: i32,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(error: E) -> Self {
        Self {
            code: 1,
            error: error.into(),
        }
    }
}

pub(crate) fn usage(error: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        error: error.into(),
    }
}

pub async fn run(cli: Cli) -> Result<(), Failure> {
    let global = &cli.global;
    match cli.command {
        Command::Up(args) => up::up(global, args).await,
        Command::Certs => files_cmd::certs(global),
        Command::Status { json } => running::status(global, json),
        Command::Down { timeout } => running::down(global, timeout).await,
        Command::Wait { timeout } => running::wait(global, timeout).await,
        Command::Env { app } => files_cmd::env(global, app.as_deref()),
        Command::Apps(c) => apps::apps(global, c).await,
        Command::Revoke { cert } => files_cmd::revoke(global, cert).await,
        Command::Doctor(args) => doctor::run(global, args).await,
        Command::Clients(c) => oauth::clients(global, c),
        Command::Secrets(c) => oauth::secrets(global, c),
        Command::Token { scope, client_id } => oauth::token(global, scope, client_id),
        Command::Clock(c) => clock::clock(global, c).await,
        Command::Faults(c) => faults::faults(global, c).await,
        Command::Link(args) => link::link(global, args).await,
        Command::Webhooks(c) => webhooks::webhooks(global, c).await,
        Command::Completions(args) => generate::completions(args),
        Command::Man(args) => generate::man(args),
    }
}

/// The configuration for the sandbox in `state_dir`: defaults, then `--config`.
pub(crate) fn resolve_config(global: &GlobalArgs, state_dir: &Path) -> Result<Config, ConfigError> {
    let mut config = Config::new(state_dir);
    if let Some(path) = &global.config {
        FileConfig::load(path)?.apply(&mut config, path)?;
    }
    config.key_log = std::env::var_os("SSLKEYLOGFILE").is_some();
    Ok(config)
}

/// `--timeout`, in the sandbox's one span grammar ([`crate::clock::parse_span`]).
fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::clock::parse_span(s).map(|span| span.unsigned_abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command has a description, and every command
    /// a user runs ends its help with an example.
    #[test]
    fn help_describes_every_argument_and_shows_an_example() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id != "help" && id != "version" && arg.get_help().is_none() {
                    problems.push(format!("{path}: argument {id} has no description"));
                }
            }
            let leaves: Vec<_> = cmd.get_subcommands().filter(|c| c.get_name() != "help").collect();
            if leaves.is_empty() {
                let after = cmd.get_after_help().map(|h| h.to_string()).unwrap_or_default();
                if !after.contains("Example") {
                    problems.push(format!("{path}: no example at the end of its help"));
                }
            }
            for sub in leaves {
                walk(sub, &path, problems);
            }
        }
        let mut problems = Vec::new();
        for sub in Cli::command().get_subcommands() {
            walk(sub, "mtls-sandbox", &mut problems);
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        let up = Cli::command()
            .find_subcommand_mut("up")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(up.contains("default: 127.0.0.1"), "{up}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}

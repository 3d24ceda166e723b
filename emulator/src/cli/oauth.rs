//! OAuth subcommands: `clients`, `secrets` and `token`. They work on the
//! state dir directly, so they also work while a sandbox runs (dynamic
//! clients live in records.db, read on every token request).

use clap::Subcommand;

use super::{Failure, GlobalArgs, resolve_config};
use crate::info::SandboxInfo;
use crate::oauth::Authority;
use crate::oauth::client::AuthMethod;
use crate::oauth::client_auth::Authenticated;
use crate::oauth::registry::NewClient;
use crate::records::Records;
use crate::server;
use crate::state::{State, files};
use crate::tls::{self, TlsOptions};

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client (prints its id; add a secret with `secrets create`).
    Create {
        name: String,
        /// token_endpoint_auth_method [default: client_secret_post]
        #[arg(long, value_parser = parse_method)]
        auth_method: Option<AuthMethod>,
        /// Scopes it may request (repeatable) [default: api customer.*]
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// tls_client_auth: the subject DN its certificate must carry.
        #[arg(long)]
        subject_dn: Option<String>,
    },
    /// List every client (static and dynamic).
    List,
    /// Delete a dynamic client.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Add a secret to a client; the clear secret is shown this once.
    Create { client_id: String, name: Option<String> },
    /// Delete one secret; the client's other secrets keep working.
    Delete { client_id: String, secret_id: String },
}

/// `--auth-method`: the names of RFC 7591 (`client_secret_basic`, ...).
fn parse_method(s: &str) -> Result<AuthMethod, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        let names: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.name()).collect();
        format!("unknown method '{s}'; use one of {}", names.join(", "))
    })
}

/// The authorization server of the sandbox in the state dir, without
/// serving: URLs from the running sandbox if there is one.
pub(super) fn offline(global: &GlobalArgs) -> Result<(Authority, Records), Failure> {
    let config = resolve_config(global).map_err(super::usage)?;
    let state = State::load_or_create(&global.state_dir)?;
    let info = SandboxInfo::read(&state.path(files::SANDBOX_JSON)).unwrap_or_else(|_| {
        let ports = [config.ports.sandbox, config.ports.mtls, config.ports.auth];
        SandboxInfo::new(&state, &config.url_host(), ports)
    });
    let opts = TlsOptions {
        clock: config.clock.clone(),
        ..Default::default()
    };
    let verifier = tls::sandbox_ca_verifier(&server::ca_material(&state)?, &opts)?;
    let records = Records::open(&state.path(files::RECORDS))?;
    Ok((server::authority(&state, &config, &info, verifier)?, records))
}

pub fn clients(global: &GlobalArgs, command: ClientsCommand) -> Result<(), Failure> {
    let (oauth, records) = offline(global)?;
    match command {
        ClientsCommand::Create {
            name,
            auth_method,
            scopes,
            subject_dn,
        } => {
            let new = NewClient {
                name,
                token_endpoint_auth_method: auth_method,
                scopes: (!scopes.is_empty()).then_some(scopes),
                tls_client_auth_subject_dn: subject_dn,
                ..Default::default()
            };
            let client = oauth.registry.create(&records, new, oauth.now())?;
            println!("Created client '{}'", client.name);
            println!("  id      {}", client.client_id);
            println!("  method  {}", client.auth_method.name());
            println!("  scopes  {}", client.scopes.join(" "));
            println!("Add a secret: mtls-sandbox secrets create {} default", client.client_id);
        }
        ClientsCommand::List => {
            println!("{:<38} {:<28} {:<24} secrets  name", "id", "method", "scopes");
            for c in oauth.registry.list(&records)? {
                let kind = if c.static_client { " (static)" } else { "" };
                println!(
                    "{:<38} {:<28} {:<24} {:<8} {}{kind}",
                    c.client_id,
                    c.auth_method.name(),
                    c.scopes.join(" "),
                    c.secrets.len(),
                    c.name
                );
            }
        }
        ClientsCommand::Delete { id } => {
            oauth.registry.delete(&records, &id)?;
            println!("Deleted client {id}; its tokens stay valid until they expire.");
        }
    }
    Ok(())
}

pub fn secrets(global: &GlobalArgs, command: SecretsCommand) -> Result<(), Failure> {
    let (oauth, records) = offline(global)?;
    match command {
        SecretsCommand::Create { client_id, name } => {
            let (record, clear) =
                oauth
                    .registry
                    .add_secret(&records, &client_id, name.as_deref().unwrap_or("default"))?;
            println!("ID     {}", record.id);
            println!("Name   {}", record.name);
            println!("Clear  {clear}");
            println!("The clear secret is shown only now; the sandbox stores it hashed.");
        }
        SecretsCommand::Delete { client_id, secret_id } => {
            oauth.registry.delete_secret(&records, &client_id, &secret_id)?;
            println!("Deleted secret {secret_id}; the client's other secrets keep working.");
        }
    }
    Ok(())
}

/// Prints an access token for the default application (or `client_id`).
pub fn token(global: &GlobalArgs, scope: Option<String>, client_id: Option<String>) -> Result<(), Failure> {
    let (oauth, records) = offline(global)?;
    let state = State::load(&global.state_dir)?;
    let id = client_id.unwrap_or(state.app.client_id);
    let client = oauth
        .registry
        .get(&records, &id)?
        .ok_or_else(|| anyhow::anyhow!("no client with id '{id}' (see `mtls-sandbox clients list`)"))?;
    let scope = oauth
        .grant_scope(&records, &client, scope.as_deref())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let who = Authenticated {
        method: client.auth_method,
        client,
        thumbprint: None,
    };
    let grant = oauth.grant(&records, &who, scope).map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", grant.access_token);
    Ok(())
}

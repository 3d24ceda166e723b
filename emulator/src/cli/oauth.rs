//! OAuth subcommands: `clients`, `secrets` and `token`. They work on the
//! state dir directly, so they also work while a sandbox runs (dynamic
//! clients live in records.db, read on every token request), and they use
//! the running sandbox's clock, so a token minted here is valid there.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use serde_json::json;

use super::output::out;
use super::{Failure, GlobalArgs, resolve_config, usage};
use crate::clock::Clock;
use crate::entropy::Entropy;
use crate::instance;
use crate::oauth::Authority;
use crate::oauth::client::{AuthMethod, Client};
use crate::oauth::client_auth::Authenticated;
use crate::oauth::registry::NewClient;
use crate::records::Records;
use crate::server;
use crate::state::{State, files};
use crate::tls::{self, TlsOptions};

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client (prints its id; secret-based clients then need `secrets create`).
    #[command(after_help = "Examples:\n  \
        mtls-sandbox clients create billing --json\n  \
        mtls-sandbox clients create signer --auth-method private_key_jwt --jwks jwks.json\n  \
        mtls-sandbox clients create partner --auth-method tls_client_auth --subject-dn 'CN=my_app,O=Sandbox'\n  \
        mtls-sandbox clients create selfie --auth-method self_signed_tls_client_auth --certificate client.pem\n  \
        mtls-sandbox clients create alice-ci --app alice")]
    Create {
        /// A name for humans (shown in lists and the portal).
        name: String,
        /// token_endpoint_auth_method [default: client_secret_post]
        #[arg(long, value_parser = parse_method, value_name = "METHOD")]
        auth_method: Option<AuthMethod>,
        /// Scopes it may request (repeatable) [default: api customer.*]
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// tls_client_auth: the subject DN its certificate must carry.
        #[arg(long, value_name = "DN")]
        subject_dn: Option<String>,
        /// private_key_jwt / self_signed_tls_client_auth: a JSON file with its public keys ({"keys": [...]}).
        #[arg(long, value_name = "FILE")]
        jwks: Option<PathBuf>,
        /// private_key_jwt: where its public keys are published (fetched and cached by the sandbox).
        #[arg(long, value_name = "URL")]
        jwks_uri: Option<String>,
        /// self_signed_tls_client_auth: the PEM certificate it presents.
        #[arg(long, value_name = "FILE")]
        certificate: Option<PathBuf>,
        /// The application whose customers its tokens reach (see `apps list`) [default: my_app].
        #[arg(long, value_name = "NAME")]
        app: Option<String>,
        /// Print the registration as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List every client (static and dynamic) with its authentication method.
    #[command(
        after_help = "Examples:\n  mtls-sandbox clients list\n  mtls-sandbox clients list --json | jq -r '.[].client_id'"
    )]
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Delete a dynamic client (its tokens stay valid until they expire).
    #[command(after_help = "Example:\n  mtls-sandbox clients delete 0b9e4c1e-6d1c-4bb7-9a55-1f0c6f5f9d7e")]
    Delete {
        /// The client_id to delete (see `clients list`).
        #[arg(value_name = "CLIENT_ID")]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Add a secret to a client; the clear secret is shown this once.
    #[command(after_help = "Examples:\n  mtls-sandbox secrets create CLIENT_ID\n  \
        SECRET=$(mtls-sandbox secrets create CLIENT_ID ci --json | jq -r .secret)")]
    Create {
        /// The client that gets the secret (see `clients list`).
        #[arg(value_name = "CLIENT_ID")]
        client_id: String,
        /// A label for the secret [default: default].
        #[arg(value_name = "NAME")]
        name: Option<String>,
        /// Print {id, name, secret} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete one secret; the client's other secrets keep working.
    #[command(after_help = "Example:\n  mtls-sandbox secrets delete CLIENT_ID SECRET_ID")]
    Delete {
        /// The client that holds the secret.
        #[arg(value_name = "CLIENT_ID")]
        client_id: String,
        /// The secret's id, as `secrets create` printed it.
        #[arg(value_name = "SECRET_ID")]
        secret_id: String,
    },
}

/// `--auth-method`: the names of RFC 7591 (`client_secret_basic`, ...).
fn parse_method(s: &str) -> Result<AuthMethod, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
        let names: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.name()).collect();
        format!("unknown method '{s}'; use one of {}", names.join(", "))
    })
}

/// The authorization server of the sandbox in the state dir, without
/// serving: URLs and clock from the running sandbox if there is one.
pub(super) fn offline(global: &GlobalArgs) -> Result<(Authority, State), Failure> {
    let dir = global.state_dir()?;
    let mut config = resolve_config(global, &dir).map_err(usage)?;
    let state = State::load(&dir)?;
    let running = instance::probe(&dir).and_then(|r| r.info);
    let mut clock = Arc::new(Clock::system());
    if let Some(info) = &running {
        clock = Arc::new(Clock::load(&state.path(files::CLOCK)).map_err(anyhow::Error::msg)?);
        // The running sandbox may have been started with another config file.
        if let Ok(method) = parse_method(&info.token_endpoint_auth_method) {
            config.app_auth_method = method;
        }
    }
    let info = running.unwrap_or_else(|| {
        let ports = [config.ports.sandbox, config.ports.mtls, config.ports.auth];
        config.sandbox_info(&state, ports, &clock)
    });
    let opts = TlsOptions {
        clock: clock.clone(),
        ..Default::default()
    };
    let verifier = tls::sandbox_ca_verifier(&server::ca_material(&state)?, &opts)?;
    let records = Arc::new(Records::open(&state.path(files::RECORDS))?);
    let setup = server::authority_setup(&state, &config, &info, &Entropy::SYSTEM, verifier, None)?;
    Ok((Authority::new(setup, records, state.clone(), clock), state))
}

pub fn clients(global: &GlobalArgs, command: ClientsCommand) -> Result<(), Failure> {
    let (oauth, state) = offline(global)?;
    match command {
        ClientsCommand::Create {
            name,
            auth_method,
            scopes,
            subject_dn,
            jwks,
            jwks_uri,
            certificate,
            app,
            json,
        } => {
            if let Some(name) = app.as_deref().filter(|name| *name != crate::apps::DEFAULT_APP) {
                let id = crate::apps::id_of(&state.dir, name).map_err(|e| usage(anyhow::anyhow!("--app: {e}")))?;
                oauth.registry.know_app(name, &id);
            }
            let new = NewClient {
                name,
                token_endpoint_auth_method: auth_method,
                scopes: (!scopes.is_empty()).then_some(scopes),
                tls_client_auth_subject_dn: subject_dn,
                jwks: jwks.as_deref().map(read_jwks).transpose()?,
                jwks_uri,
                certificates: certificate
                    .as_deref()
                    .map(crate::oauth::client::read_certificates)
                    .transpose()
                    .map_err(|e| usage(anyhow::anyhow!("--certificate {e}")))?,
                app,
                ..Default::default()
            };
            let client = oauth
                .registry
                .create(new, oauth.now())
                .map_err(|e| usage(anyhow::anyhow!("{e}. See `mtls-sandbox clients create --help`")))?;
            if json {
                out!("{}", serde_json::to_string_pretty(&describe(&client)).expect("JSON"));
                return Ok(());
            }
            out!("Created client '{}'", client.name);
            out!("  id      {}", client.client_id);
            out!("  method  {}", client.auth_method.name());
            out!("  scopes  {}", client.scopes.join(" "));
            if client.auth_method.uses_secret() {
                out!("Add a secret: mtls-sandbox secrets create {} default", client.client_id);
            }
        }
        ClientsCommand::List { json } => {
            let clients = oauth.registry.list()?;
            if json {
                let list: Vec<_> = clients.iter().map(describe).collect();
                out!("{}", serde_json::to_string_pretty(&list).expect("JSON"));
                return Ok(());
            }
            out!("{:<38} {:<28} {:<24} secrets  name", "id", "auth method", "scopes");
            for c in clients {
                let kind = if c.static_client { " (static)" } else { "" };
                out!(
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
            oauth.registry.delete(&id)?;
            out!("Deleted client {id}; its tokens stay valid until they expire.");
        }
    }
    Ok(())
}

/// A client as scripts read it: no secret hashes, no key material.
fn describe(c: &Client) -> serde_json::Value {
    json!({
        "client_id": c.client_id,
        "name": c.name,
        "token_endpoint_auth_method": c.auth_method.name(),
        "scopes": c.scopes,
        "secrets": c.secrets.len(),
        "tls_client_auth_subject_dn": c.tls_subject_dn,
        "jwks_uri": c.jwks_uri,
        "static": c.static_client,
    })
}

fn read_jwks(path: &Path) -> Result<serde_json::Value, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(anyhow::anyhow!("--jwks {}: cannot read it: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        usage(anyhow::anyhow!(
            "--jwks {}: not JSON ({e}); it must hold a JWK set like {{\"keys\": [...]}}",
            path.display()
        ))
    })
}

pub fn secrets(global: &GlobalArgs, command: SecretsCommand) -> Result<(), Failure> {
    let (oauth, _) = offline(global)?;
    match command {
        SecretsCommand::Create { client_id, name, json } => {
            let (record, clear) = oauth
                .registry
                .add_secret(&client_id, name.as_deref().unwrap_or("default"))?;
            if json {
                let doc = json!({ "client_id": client_id, "id": record.id, "name": record.name, "secret": clear });
                out!("{}", serde_json::to_string_pretty(&doc).expect("JSON"));
                return Ok(());
            }
            out!("ID     {}", record.id);
            out!("Name   {}", record.name);
            out!("Clear  {clear}");
            out!("The clear secret is shown only now; the sandbox stores it hashed.");
        }
        SecretsCommand::Delete { client_id, secret_id } => {
            oauth.registry.delete_secret(&client_id, &secret_id)?;
            out!("Deleted secret {secret_id}; the client's other secrets keep working.");
        }
    }
    Ok(())
}

/// Prints an access token for the default application (or `client_id`).
pub fn token(global: &GlobalArgs, scope: Option<String>, client_id: Option<String>) -> Result<(), Failure> {
    let (oauth, state) = offline(global)?;
    let id = client_id.unwrap_or(state.app.client_id);
    let client = oauth.registry.get(&id)?.ok_or_else(|| {
        usage(anyhow::anyhow!(
            "no client with id '{id}' (see `mtls-sandbox clients list`)"
        ))
    })?;
    let scope = oauth
        .grant_scope(&client, scope.as_deref())
        .map_err(|e| usage(anyhow::anyhow!("{e}")))?;
    let who = Authenticated {
        method: client.auth_method,
        client,
        thumbprint: None,
    };
    let grant = oauth.grant(&who, scope).map_err(|e| anyhow::anyhow!("{e}"))?;
    out!("{}", grant.access_token);
    Ok(())
}

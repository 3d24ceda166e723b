//! Configuration: defaults, then the TOML config file, then command-line
//! flags, resolved once into a validated [`Config`].
//!
//! The file format rejects unknown keys so a typo is an error that names the
//! file, line and key instead of a setting that silently does nothing.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

pub use crate::apps::{AppSpec, AuthMode};
use crate::clock::Clock;
use crate::faults::rule::{Rule, RuleSpec};
use crate::gateway::route::{Route, RouteSection};
use crate::info::SandboxInfo;
use crate::key_type::KeyType;
use crate::oauth::client::{AuthMethod, Client, SecretRecord, TokenFormat};
use crate::oauth::dn::Dn;
use crate::oauth::keys::SigningAlg;
use crate::proxy::{BehindProxy, ProxySection};
use crate::state::{State, files};
use crate::webhooks::{WebhookSettings, WebhooksSection};

pub const DEFAULT_STATE_DIR: &str = ".sandbox";
pub const DEFAULT_PORTS: Ports = Ports {
    sandbox: 4443,
    mtls: 4444,
    auth: 4445,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path} is invalid: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("banks file {path} is invalid: {detail}. It must hold a JSON array of bank objects.")]
    Banks { path: PathBuf, detail: String },
    #[error("config file {path}: gateway route '{prefix}': {detail}")]
    Gateway {
        path: PathBuf,
        prefix: String,
        detail: String,
    },
    #[error("config file {path}: faults[{index}]: {detail}")]
    Fault {
        path: PathBuf,
        index: usize,
        detail: String,
    },
    #[error("config file {path}: [webhooks] {detail}")]
    Webhooks { path: PathBuf, detail: String },
    #[error("config file {path}: [[apps]] {detail}")]
    Apps { path: PathBuf, detail: String },
    #[error("config file {path}: [app] {detail}")]
    App { path: PathBuf, detail: String },
    #[error("config file {path}: [provider] {source}")]
    Provider {
        path: PathBuf,
        source: crate::provider::ProfileError,
    },
    #[error("config file {path}: [[api]] {source}")]
    Api {
        path: PathBuf,
        source: Box<crate::provider::import::ImportError>,
    },
    #[error("config file {path}: client '{client}': {detail}")]
    Client {
        path: PathBuf,
        client: String,
        detail: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub sandbox: u16,
    pub mtls: u16,
    pub auth: u16,
}

/// The validated configuration of one sandbox.
#[derive(Debug, Clone)]
pub struct Config {
    pub state_dir: PathBuf,
    pub bind: IpAddr,
    pub ports: Ports,
    pub lenient_chain: bool,
    /// Host name clients use when it is not 127.0.0.1; first in URLs.
    pub public_host: Option<String>,
    /// Extra subject alternative names for the server certificate.
    pub extra_sans: Vec<String>,
    pub auth_mode: AuthMode,
    /// How the default application's OAuth client authenticates at the
    /// token endpoint (a secret-based method: the secret is in the state dir).
    pub app_auth_method: AuthMethod,
    /// The key type of client certificates the sandbox issues (a new state
    /// dir's, the portal's); an existing state dir keeps its key.
    pub client_key: KeyType,
    /// The banks served by `GET /banks/v1`, as a JSON array.
    pub banks: serde_json::Value,
    pub key_log: bool,
    pub oauth: OAuthConfig,
    /// Static OAuth clients (besides the default app's own).
    pub clients: Vec<Client>,
    /// Gateway routes: mtls-host paths forwarded to the user's own API.
    pub gateway: Vec<Route>,
    /// Fault rules installed at start (validated).
    pub faults: Vec<RuleSpec>,
    /// Where and how the provider's events are delivered.
    pub webhooks: WebhookSettings,
    /// How many recent requests and handshakes the inspector keeps.
    pub inspect_capacity: usize,
    /// The user accepts that the built-in `testing`/`testing` admin client
    /// is reachable on a non-loopback bind (`--allow-shared-admin`).
    pub allow_shared_admin: bool,
    /// The provider API surface served on the sandbox and mtls hosts.
    pub provider: Arc<crate::provider::Profile>,
    /// Behind the user's TLS terminator: who may forward client certificates, and how.
    pub behind_proxy: BehindProxy,
    /// The user's own API files (`--api`, `[[api]]`), answered from their examples.
    pub api: crate::provider::import::ApiFiles,
    /// Applications besides the default one, created at start when missing.
    pub apps: Vec<AppSpec>,
    /// Workshop attendees' applications (`up --apps`): created at start
    /// when missing, with the default application's auth mode; existing
    /// ones are kept as they are.
    pub attendees: Vec<String>,
}

impl Config {
    /// Defaults for a sandbox in `state_dir`, as `up` with no flags and no
    /// config file: the settings of the shipped `fixtures/config.toml`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::bare(state_dir);
        let path = Path::new("fixtures/config.toml (built in)");
        FileConfig::parse(DEFAULT_CONFIG, path)
            .and_then(|file| file.apply(&mut config, path))
            .expect("the built-in fixtures/config.toml is valid");
        config
    }

    /// Built-in values only, before any config file (no static clients).
    pub fn bare(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            bind: IpAddr::from([127, 0, 0, 1]),
            ports: DEFAULT_PORTS,
            lenient_chain: false,
            public_host: None,
            extra_sans: Vec::new(),
            auth_mode: AuthMode::AppToken,
            app_auth_method: AuthMethod::ClientSecretPost,
            client_key: KeyType::default(),
            banks: default_banks(),
            key_log: false,
            oauth: OAuthConfig::default(),
            clients: Vec::new(),
            gateway: Vec::new(),
            faults: Vec::new(),
            webhooks: WebhookSettings::default(),
            inspect_capacity: crate::inspector::DEFAULT_CAPACITY,
            allow_shared_admin: false,
            provider: Arc::new(crate::provider::Profile::built_in(crate::provider::DEFAULT_PROFILE)),
            behind_proxy: BehindProxy::default(),
            api: Default::default(),
            apps: Vec::new(),
            attendees: Vec::new(),
        }
    }

    /// The host name to put in URLs.
    pub fn url_host(&self) -> String {
        match (&self.public_host, self.bind) {
            (Some(host), _) => host.clone(),
            (None, ip) if ip.is_unspecified() => "127.0.0.1".into(),
            (None, IpAddr::V6(ip)) => format!("[{ip}]"),
            (None, ip) => ip.to_string(),
        }
    }
}

impl Config {
    /// What `sandbox.json` says about a sandbox started with this
    /// configuration on `state`, listening on `ports` (sandbox, mtls, auth)
    /// with `clock` as its "now".
    pub fn sandbox_info(&self, state: &State, ports: [u16; 3], clock: &Clock) -> SandboxInfo {
        let host = self.url_host();
        let url = |port: u16| format!("https://{host}:{port}");
        SandboxInfo {
            sandbox_url: url(ports[0]),
            mtls_url: url(ports[1]),
            auth_url: url(ports[2]),
            token_endpoint: format!("{}/oauth2/token", url(ports[2])),
            mtls_token_endpoint: format!("{}/oauth2/token", url(ports[1])),
            app_token: state.app.app_token.clone(),
            client_id: state.app.client_id.clone(),
            client_secret: state.app.client_secret.clone(),
            token_endpoint_auth_method: self.app_auth_method.name().to_owned(),
            ca_chain: state.path(files::CA_CHAIN),
            client_cert: state.path(files::CLIENT_CERT),
            client_key: state.path(files::CLIENT_KEY),
            client_p12: state.path(files::CLIENT_P12),
            p12_password: state.app.p12_password.clone(),
            pid: std::process::id(),
            state_dir: state.dir.clone(),
            lenient_chain: self.lenient_chain,
            clock: clock.describe(),
            portal_url: None,
            portal_token: None,
            shared_admin: self.shares_admin(),
            behind_proxy: self.behind_proxy.is_on().then(|| self.behind_proxy.info()),
        }
    }
}

/// The shipped default configuration, compiled in.
pub const DEFAULT_CONFIG: &str = include_str!("../../fixtures/config.toml");

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    #[serde(default)]
    pub signing_alg: SigningAlg,
    /// Refuse unbound bearer tokens on the mtls host.
    #[serde(default)]
    pub require_certificate_binding: bool,
}

/// A static client as written in the config file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSection {
    pub id: String,
    pub name: Option<String>,
    #[serde(default)]
    pub secrets: Vec<String>,
    pub auth_method: Option<AuthMethod>,
    pub scopes: Option<Vec<String>>,
    pub tls_subject_dn: Option<String>,
    /// Inline JWKS (JSON text) for private_key_jwt / self_signed_tls_client_auth.
    pub jwks: Option<String>,
    /// Where private_key_jwt keys are published instead (fetched, cached 5 min).
    pub jwks_uri: Option<String>,
    /// PEM certificate for self_signed_tls_client_auth (relative to the config file).
    pub certificate_file: Option<PathBuf>,
    #[serde(default)]
    pub token_format: TokenFormat,
}

impl ClientSection {
    fn into_client(self, file_path: &Path) -> Result<Client, ConfigError> {
        let err = |detail: String| ConfigError::Client {
            path: file_path.to_path_buf(),
            client: self.id.clone(),
            detail,
        };
        let auth_method = self.auth_method.unwrap_or(AuthMethod::ClientSecretPost);
        if auth_method.uses_secret() && self.secrets.is_empty() {
            return Err(err(format!(
                "auth_method {} needs at least one entry in secrets",
                auth_method.name()
            )));
        }
        if auth_method == AuthMethod::TlsClientAuth && self.tls_subject_dn.is_none() {
            return Err(err("auth_method tls_client_auth needs tls_subject_dn".into()));
        }
        if let Some(dn) = &self.tls_subject_dn {
            Dn::parse(dn).map_err(|why| err(format!("tls_subject_dn: {why}")))?;
        }
        let jwks = match &self.jwks {
            Some(text) => {
                let jwks: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| err(format!("jwks is not JSON: {e}")))?;
                crate::oauth::client::validate_jwks(&jwks).map_err(err)?;
                Some(jwks)
            }
            None => None,
        };
        if let Some(uri) = &self.jwks_uri {
            crate::oauth::client::validate_jwks_uri(uri).map_err(err)?;
        }
        if auth_method == AuthMethod::PrivateKeyJwt && jwks.is_none() && self.jwks_uri.is_none() {
            return Err(err("auth_method private_key_jwt needs jwks or jwks_uri".into()));
        }
        let certificates = match &self.certificate_file {
            Some(file) => {
                let path = file_path.parent().unwrap_or(Path::new(".")).join(file);
                crate::oauth::client::read_certificates(&path).map_err(|e| err(format!("certificate_file {e}")))?
            }
            None => Vec::new(),
        };
        if auth_method == AuthMethod::SelfSignedTlsClientAuth && certificates.is_empty() && jwks.is_none() {
            return Err(err(
                "auth_method self_signed_tls_client_auth needs certificate_file or jwks".into(),
            ));
        }
        Ok(Client {
            name: self.name.clone().unwrap_or_else(|| self.id.clone()),
            secrets: self
                .secrets
                .iter()
                // Static secrets are in the config file in clear anyway.
                .map(|s| SecretRecord::new("config", s, true, &crate::entropy::Entropy::SYSTEM))
                .collect(),
            auth_method,
            scopes: self
                .scopes
                .clone()
                .unwrap_or_else(|| vec!["api".into(), "customer.*".into()]),
            tls_subject_dn: self.tls_subject_dn.clone(),
            jwks,
            jwks_uri: self.jwks_uri.clone(),
            certificates,
            token_format: self.token_format,
            static_client: true,
            app: None,
            client_id: self.id,
        })
    }
}

/// The built-in admin client: everyone knows its secret.
const SHARED_ADMIN: (&str, &str) = ("testing", "testing");

impl Config {
    /// Whether the built-in `testing`/`testing` client, with scope `admin`
    /// (clients, fault rules, the clock, key rotation, certificate
    /// revocation), is registered and listens beyond this machine.
    pub fn shares_admin(&self) -> bool {
        !self.bind.is_loopback() && self.has_shared_admin_client()
    }

    fn has_shared_admin_client(&self) -> bool {
        let (id, secret) = SHARED_ADMIN;
        self.clients
            .iter()
            .any(|c| c.client_id == id && c.scopes.iter().any(|s| s == "admin") && c.secret_matches(secret))
    }

    /// Refuses to expose the built-in admin client to the network unless the
    /// user asked for it: on a laptop it is a convenience, on a LAN it hands
    /// the sandbox to anyone who has read the README.
    pub fn check_shared_admin(&self) -> Result<(), String> {
        if !self.shares_admin() || self.allow_shared_admin {
            return Ok(());
        }
        Err(format!(
            "--bind {} would make the built-in client testing/testing (scope admin: clients, fault rules, the clock, \
             key rotation, certificate revocation) reachable from the network, and everyone knows its secret. \
             Drop it with your own [[clients]] (or `clients = []`) in a config file, bind to 127.0.0.1, or pass \
             --allow-shared-admin ([server] allow_shared_admin = true) if everyone who can reach this machine may \
             administer the sandbox",
            self.bind
        ))
    }
}

/// The config file, as written by users. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub app: AppSection,
    #[serde(default)]
    pub data: DataSection,
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// Replaces the built-in static clients when present.
    pub clients: Option<Vec<ClientSection>>,
    /// Gateway routes to the user's own API.
    #[serde(default)]
    pub gateway: Vec<RouteSection>,
    /// Fault rules installed at start.
    #[serde(default)]
    pub faults: Vec<RuleSpec>,
    /// The webhook URL and delivery settings.
    pub webhooks: Option<WebhooksSection>,
    #[serde(default)]
    pub provider: ProviderSection,
    /// Client certificates forwarded by the user's own TLS terminator.
    pub behind_proxy: Option<ProxySection>,
    /// The user's own Postman collections / OpenAPI documents.
    #[serde(default)]
    pub api: Vec<ApiSection>,
    /// Applications besides the default one (`[[apps]] name = "alice"`).
    #[serde(default)]
    pub apps: Vec<AppSpec>,
}

/// `[[api]] file = "widgets.postman.json"` (relative to the config file).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    pub file: PathBuf,
}

/// `[provider] profile = "lean-ksa"` (built in) or a folder path.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    pub profile: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub bind: Option<IpAddr>,
    pub sandbox_port: Option<u16>,
    pub mtls_port: Option<u16>,
    pub auth_port: Option<u16>,
    pub lenient_chain: Option<bool>,
    pub public_host: Option<String>,
    #[serde(default)]
    pub sans: Vec<String>,
    pub allow_shared_admin: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    pub auth_mode: Option<AuthMode>,
    /// `client_secret_post` (default), `client_secret_basic` or `client_secret_jwt`.
    pub client_auth_method: Option<AuthMethod>,
    /// `rsa` (RSA-2048, default) or `p256`: the application's client keys.
    pub key_type: Option<KeyType>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// Path to a JSON file with the banks list (relative to the config file).
    pub banks: Option<PathBuf>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            detail: e.to_string().trim_end().to_owned(),
        })
    }

    /// Applies the file's settings on top of `config`. `file_path` anchors
    /// relative paths in the file.
    pub fn apply(self, config: &mut Config, file_path: &Path) -> Result<(), ConfigError> {
        let s = self.server;
        config.bind = s.bind.unwrap_or(config.bind);
        config.ports.sandbox = s.sandbox_port.unwrap_or(config.ports.sandbox);
        config.ports.mtls = s.mtls_port.unwrap_or(config.ports.mtls);
        config.ports.auth = s.auth_port.unwrap_or(config.ports.auth);
        config.lenient_chain = s.lenient_chain.unwrap_or(config.lenient_chain);
        config.public_host = s.public_host.or(config.public_host.take());
        config.extra_sans.extend(s.sans);
        config.allow_shared_admin = s.allow_shared_admin.unwrap_or(config.allow_shared_admin);
        config.auth_mode = self.app.auth_mode.unwrap_or(config.auth_mode);
        config.client_key = self.app.key_type.unwrap_or(config.client_key);
        if let Some(method) = self.app.client_auth_method {
            if !method.uses_secret() {
                return Err(ConfigError::App {
                    path: file_path.to_path_buf(),
                    detail: format!(
                        "client_auth_method = \"{}\": the application's own client authenticates with its secret; \
                         use client_secret_post, client_secret_basic or client_secret_jwt (register other methods \
                         as [[clients]])",
                        method.name()
                    ),
                });
            }
            config.app_auth_method = method;
        }
        if let Some(banks) = self.data.banks {
            let path = file_path.parent().unwrap_or(Path::new(".")).join(banks);
            config.banks = load_banks(&path)?;
        }
        if let Some(spec) = self.provider.profile {
            let base = file_path.parent().unwrap_or(Path::new("."));
            config.provider =
                Arc::new(
                    crate::provider::Profile::load(&spec, base).map_err(|source| ConfigError::Provider {
                        path: file_path.to_path_buf(),
                        source,
                    })?,
                );
        }
        for section in self.api {
            let path = file_path.parent().unwrap_or(Path::new(".")).join(section.file);
            config.api.load(&path).map_err(|source| ConfigError::Api {
                path: file_path.to_path_buf(),
                source: Box::new(source),
            })?;
        }
        config.oauth = self.oauth.unwrap_or(config.oauth);
        if let Some(section) = self.behind_proxy {
            config.behind_proxy = BehindProxy::from_section(section).map_err(|detail| ConfigError::Parse {
                path: file_path.to_path_buf(),
                detail: format!("[behind_proxy] {detail}"),
            })?;
        }
        if let Some(clients) = self.clients {
            config.clients = clients
                .into_iter()
                .map(|c| c.into_client(file_path))
                .collect::<Result<_, _>>()?;
        }
        for section in self.gateway {
            let prefix = section.prefix.clone();
            let route = Route::try_from(section).map_err(|detail| ConfigError::Gateway {
                path: file_path.to_path_buf(),
                prefix,
                detail,
            })?;
            config.gateway.push(route);
        }
        if let Some(section) = self.webhooks {
            config.webhooks = section
                .apply(&config.webhooks)
                .map_err(|detail| ConfigError::Webhooks {
                    path: file_path.to_path_buf(),
                    detail,
                })?;
        }
        for spec in self.apps {
            let err = |detail: String| ConfigError::Apps {
                path: file_path.to_path_buf(),
                detail,
            };
            if spec.name == crate::apps::DEFAULT_APP {
                return Err(err(format!(
                    "name = \"{}\" is the default application; set its auth mode with [app] auth_mode",
                    spec.name
                )));
            }
            crate::apps::validate_name(&spec.name).map_err(|e| err(e.to_string()))?;
            if config.apps.iter().any(|a| a.name == spec.name) {
                return Err(err(format!("name = \"{}\" is declared twice", spec.name)));
            }
            config.apps.push(spec);
        }
        for (index, spec) in self.faults.into_iter().enumerate() {
            Rule::try_from(spec.clone()).map_err(|detail| ConfigError::Fault {
                path: file_path.to_path_buf(),
                index,
                detail,
            })?;
            config.faults.push(spec);
        }
        Ok(())
    }
}

/// The banks list shipped in `fixtures/banks.json`, compiled in so the
/// binary works from any directory.
pub fn default_banks() -> serde_json::Value {
    serde_json::from_str(include_str!("../../fixtures/banks.json")).expect("fixtures/banks.json is valid JSON")
}

fn load_banks(path: &Path) -> Result<serde_json::Value, ConfigError> {
    let err = |detail: String| ConfigError::Banks {
        path: path.to_path_buf(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if !value.is_array() {
        return Err(err("the top level is not an array".into()));
    }
    Ok(value)
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;

//! Configuration: defaults, then the TOML config file, then command-line
//! flags, resolved once into a validated [`Config`].
//!
//! The file format rejects unknown keys so a typo is an error that names the
//! file, line and key instead of a setting that silently does nothing.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::clock::Clock;

pub const DEFAULT_STATE_DIR: &str = ".sandbox";
pub const DEFAULT_PORTS: Ports = Ports {
    sandbox: 4443,
    mtls: 4444,
    auth: 4445,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("banks file {path} is invalid: {detail}. It must hold a JSON array of bank objects.")]
    Banks { path: PathBuf, detail: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub sandbox: u16,
    pub mtls: u16,
    pub auth: u16,
}

/// How the default application authenticates on the resource API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// `lean-app-token` header or a bearer token.
    #[default]
    AppToken,
    /// Bearer token only, as after the provider switches an app to OAuth.
    Oauth,
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
    /// The banks served by `GET /banks/v1`, as a JSON array.
    pub banks: serde_json::Value,
    pub key_log: bool,
    /// The sandbox's "now"; shared, so changing it affects a running sandbox.
    pub clock: Arc<Clock>,
}

impl Config {
    /// Defaults for a sandbox in `state_dir`, as `up` with no flags.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            bind: IpAddr::from([127, 0, 0, 1]),
            ports: DEFAULT_PORTS,
            lenient_chain: false,
            public_host: None,
            extra_sans: Vec::new(),
            auth_mode: AuthMode::AppToken,
            banks: default_banks(),
            key_log: false,
            clock: Arc::new(Clock::system()),
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    pub auth_mode: Option<AuthMode>,
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
        config.auth_mode = self.app.auth_mode.unwrap_or(config.auth_mode);
        if let Some(banks) = self.data.banks {
            let path = file_path.parent().unwrap_or(Path::new(".")).join(banks);
            config.banks = load_banks(&path)?;
        }
        Ok(())
    }
}

/// The banks list shipped in `fixtures/banks.json`, compiled in so the
/// binary works from any directory.
pub fn default_banks() -> serde_json::Value {
    serde_json::from_str(include_str!("../../fixtures/banks.json"))
        .expect("fixtures/banks.json is valid JSON")
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
mod tests {
    use super::*;

    #[test]
    fn file_settings_override_defaults() {
        let file = FileConfig::parse(
            "[server]\nmtls_port = 0\nlenient_chain = true\nsans = [\"ci-host\"]\n[app]\nauth_mode = \"oauth\"\n",
            Path::new("c.toml"),
        )
        .unwrap();
        let mut config = Config::new(".sandbox");
        file.apply(&mut config, Path::new("c.toml")).unwrap();
        assert_eq!(config.ports.mtls, 0);
        assert_eq!(config.ports.sandbox, 4443);
        assert!(config.lenient_chain);
        assert_eq!(config.extra_sans, vec!["ci-host"]);
        assert_eq!(config.auth_mode, AuthMode::Oauth);
    }

    #[test]
    fn unknown_keys_are_errors_naming_file_and_key() {
        let err = FileConfig::parse("[server]\nmtls_prot = 1\n", Path::new("my.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("my.toml") && err.contains("mtls_prot") && err.contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn default_banks_is_a_nonempty_array() {
        assert!(default_banks().as_array().is_some_and(|a| !a.is_empty()));
    }
}

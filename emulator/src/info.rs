//! What a running sandbox tells the world: `sandbox.json` (the
//! machine-readable contract for CI and the harness, SPEC §3), `sandbox.env`,
//! the human startup summary, and the `env` command's exports.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::api::APP_TOKEN_HEADER;
use crate::state::{State, files};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SandboxInfo {
    pub sandbox_url: String,
    pub mtls_url: String,
    pub auth_url: String,
    pub token_endpoint: String,
    pub mtls_token_endpoint: String,
    pub app_token: String,
    pub client_id: String,
    pub client_secret: String,
    pub ca_chain: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub client_p12: PathBuf,
    pub p12_password: String,
    pub pid: u32,
    pub state_dir: PathBuf,
    /// The developer portal, with its login token (new at every start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_url: Option<String>,
    /// The portal's token alone, for `Authorization: Bearer` on
    /// `/portal/inspect.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_token: Option<String>,
}

impl SandboxInfo {
    /// Describes a sandbox for `state` reachable at `host` on `ports`
    /// (sandbox, mtls, auth).
    pub fn new(state: &State, host: &str, ports: [u16; 3]) -> Self {
        let url = |port: u16| format!("https://{host}:{port}");
        Self {
            sandbox_url: url(ports[0]),
            mtls_url: url(ports[1]),
            auth_url: url(ports[2]),
            token_endpoint: format!("{}/oauth2/token", url(ports[2])),
            mtls_token_endpoint: format!("{}/oauth2/token", url(ports[1])),
            app_token: state.app.app_token.clone(),
            client_id: state.app.client_id.clone(),
            client_secret: state.app.client_secret.clone(),
            ca_chain: state.path(files::CA_CHAIN),
            client_cert: state.path(files::CLIENT_CERT),
            client_key: state.path(files::CLIENT_KEY),
            client_p12: state.path(files::CLIENT_P12),
            p12_password: state.app.p12_password.clone(),
            pid: std::process::id(),
            state_dir: state.dir.clone(),
            portal_url: None,
            portal_token: None,
        }
    }

    /// Adds the portal of a running sandbox, reachable with `token`.
    pub fn with_portal(mut self, token: &str) -> Self {
        self.portal_url = Some(format!("{}/portal?token={token}", self.sandbox_url));
        self.portal_token = Some(token.to_owned());
        self
    }

    /// Writes `sandbox.json` and `sandbox.env` into the state dir (owner-only:
    /// they hold credentials): at start, and when the portal rotates the
    /// application's secret.
    pub fn publish(&self, state: &State) -> Result<(), crate::state::StateError> {
        state.write_runtime(files::SANDBOX_JSON, self.to_json().as_bytes(), true)?;
        state.write_runtime(files::SANDBOX_ENV, self.to_env().as_bytes(), true)
    }

    /// Reads a `sandbox.json` written by a running sandbox.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not a valid sandbox.json: {e}", path.display()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("SandboxInfo serialises")
    }

    /// `KEY='value'` lines (the JSON keys upper-cased), for `source`-ing in
    /// shell scripts and `--env-file` in container tools.
    pub fn to_env(&self) -> String {
        let value = serde_json::to_value(self).expect("SandboxInfo serialises");
        let mut out = String::new();
        for (key, v) in value.as_object().expect("an object") {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("{}={}\n", key.to_uppercase(), shell_quote(&v)));
        }
        out
    }

    /// `export` lines that point common HTTP clients at the sandbox CA.
    pub fn to_exports(&self) -> String {
        let ca = self.ca_chain.display().to_string();
        let mut out = String::from("# Trust the sandbox CA in common clients (eval \"$(mtls-sandbox env)\")\n");
        for key in [
            "SSL_CERT_FILE",
            "REQUESTS_CA_BUNDLE",
            "NODE_EXTRA_CA_CERTS",
            "CURL_CA_BUNDLE",
        ] {
            out.push_str(&format!("export {key}={}\n", shell_quote(&ca)));
        }
        out.push_str("# Sandbox URLs and credentials\n");
        for line in self.to_env().lines() {
            out.push_str(&format!("export {line}\n"));
        }
        out
    }

    /// The human summary printed once all listeners accept connections.
    pub fn summary(&self) -> String {
        let q = |p: &Path| shell_quote(&p.display().to_string());
        let (ca, cert, key) = (q(&self.ca_chain), q(&self.client_cert), q(&self.client_key));
        let token = format!("-H '{APP_TOKEN_HEADER}: {}'", self.app_token);
        format!(
            "mtls-sandbox is ready (state: {state})\n\
             \n\
             Hosts\n  \
               sandbox  {sandbox}   HTTPS; authenticate with the {APP_TOKEN_HEADER} header\n  \
               mtls     {mtls}   mutual TLS: client certificate + chain required\n  \
               auth     {auth}   OAuth 2.0 authorization server\n\
             \n\
             Files (trust lean_public_cert_chain.pem as your CA)\n  \
               CA chain     {ca_path}\n  \
               client cert  {cert_path}\n  \
               client key   {key_path}\n  \
               PKCS#12      {p12_path} (password {p12_pw})\n\
             \n\
             Credentials (sandbox only; also in {state}/sandbox.json)\n  \
               app token      {app_token}\n  \
               client id      {client_id}\n  \
               client secret  {client_secret}\n\
             \n\
             Try it\n  \
               curl --cacert {ca} {token} {sandbox}/banks/v1\n  \
               curl --cacert {ca} --cert {cert} --key {key} {token} {mtls}/banks/v1\n  \
               curl --cacert {ca} {auth}/health\n{portal}",
            portal = self
                .portal_url
                .as_ref()
                .map(|url| format!(
                    "\nPortal (applications, certificates, secrets, request inspector; the link logs you in)\n  {url}\n"
                ))
                .unwrap_or_default(),
            state = self.state_dir.display(),
            sandbox = self.sandbox_url,
            mtls = self.mtls_url,
            auth = self.auth_url,
            ca_path = self.ca_chain.display(),
            cert_path = self.client_cert.display(),
            key_path = self.client_key.display(),
            p12_path = self.client_p12.display(),
            p12_pw = self.p12_password,
            app_token = self.app_token,
            client_id = self.client_id,
            client_secret = self.client_secret,
        )
    }
}

/// Quotes `s` for POSIX shells when it needs quoting.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-:@+=,".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/tmp/a.pem"), "/tmp/a.pem");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}

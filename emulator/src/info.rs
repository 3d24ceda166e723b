//! What a running sandbox tells the world: `sandbox.json` (the
//! machine-readable contract for CI and the harness; README "sandbox.json"), `sandbox.env`,
//! the human startup summary, and the `env` command's exports.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::state::{State, files};
use crate::web::authorization::APP_TOKEN_HEADER;

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
    /// How the default application's client must authenticate at the token
    /// endpoint (RFC 7591 name); other methods are refused.
    #[serde(default = "default_auth_method")]
    pub token_endpoint_auth_method: String,
    pub ca_chain: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub client_p12: PathBuf,
    pub p12_password: String,
    pub pid: u32,
    pub state_dir: PathBuf,
    /// `--lenient-chain`: the mtls host accepts a leaf sent without its chain.
    #[serde(default)]
    pub lenient_chain: bool,
    /// The sandbox clock when it is not real time ("shifted +2h from real time").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
    /// The developer portal, with its login token (new at every start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_url: Option<String>,
    /// The portal's token alone, for `Authorization: Bearer` on
    /// `/portal/inspect.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_token: Option<String>,
    /// The built-in `testing`/`testing` admin client listens beyond
    /// loopback (`--allow-shared-admin`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shared_admin: bool,
    /// Behind the user's TLS terminator: who may forward client
    /// certificates, in which header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behind_proxy: Option<crate::proxy::ProxyInfo>,
}

impl SandboxInfo {
    /// Adds the portal of a running sandbox, reachable with `token`.
    pub fn with_portal(mut self, token: &str) -> Self {
        self.portal_url = Some(format!("{}/portal?token={token}", self.sandbox_url));
        self.portal_token = Some(token.to_owned());
        self
    }

    /// Writes `sandbox.json` and `sandbox.env` into the state dir (owner-only:
    /// they hold credentials): at start, and when the portal rotates the
    /// application's secret. `sandbox.json` last: its appearance is the
    /// readiness signal, so `sandbox.env` must already be there.
    pub fn publish(&self, state: &State) -> Result<(), crate::state::StateError> {
        state.write_runtime(files::SANDBOX_ENV, self.to_env().as_bytes(), true)?;
        state.write_runtime(files::SANDBOX_JSON, self.to_json().as_bytes(), true)
    }

    /// Reads a `sandbox.json` written by a running sandbox.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not a valid sandbox.json: {e}", path.display()))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("SandboxInfo serialises")
    }

    /// `export KEY='value'` lines (the JSON keys upper-cased), for `source`-ing
    /// in shell scripts: `source .sandbox/sandbox.env` then makes them visible
    /// to the processes the script starts (python-dotenv reads them too).
    pub fn to_env(&self) -> String {
        self.env_lines(true)
    }

    fn env_lines(&self, with_pid: bool) -> String {
        let value = serde_json::to_value(self).expect("SandboxInfo serialises");
        let mut out = String::new();
        for (key, v) in value.as_object().expect("an object") {
            if key == "pid" && !with_pid {
                continue;
            }
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push_str(&format!("export {}={}\n", key.to_uppercase(), shell_quote(&v)));
        }
        out
    }

    /// What `mtls-sandbox env` prints: trust-store variables pointing at
    /// `bundle` (the system roots plus the sandbox chain, so `pip install`
    /// and every other HTTPS client keep working), then the sandbox's URLs
    /// and credentials. `running` false: described as `up` would start it,
    /// without a pid.
    pub fn to_exports(&self, bundle: &Path, running: bool) -> String {
        let bundle = shell_quote(&bundle.display().to_string());
        let chain = shell_quote(&self.ca_chain.display().to_string());
        let mut out = String::from("# Trust the system CAs plus the sandbox CA (eval \"$(mtls-sandbox env)\")\n");
        for key in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"] {
            out.push_str(&format!("export {key}={bundle}\n"));
        }
        out.push_str(&format!("export NODE_EXTRA_CA_CERTS={chain}\n"));
        if !running {
            out.push_str("# No sandbox is running for this state dir: start one with `mtls-sandbox up`.\n");
        }
        out.push_str("# Sandbox URLs and credentials\n");
        out.push_str(&self.env_lines(running));
        out
    }

    /// The human summary printed once all listeners accept connections;
    /// `bold` marks the headings (a terminal without `NO_COLOR`); `secrets`
    /// says whether the client secret, the PKCS#12 password and the portal
    /// login link may appear.
    pub fn summary(&self, bold: bool, secrets: Secrets) -> String {
        let h = |title: &str| {
            if bold {
                format!("\x1b[1m{title}\x1b[0m")
            } else {
                title.to_owned()
            }
        };
        let q = |p: &Path| shell_quote(&p.display().to_string());
        let (ca, cert, key) = (q(&self.ca_chain), q(&self.client_cert), q(&self.client_key));
        let token = format!("-H '{APP_TOKEN_HEADER}: {}'", self.app_token);
        let chain_rule = if self.lenient_chain {
            "mutual TLS: client certificate required; a leaf without its chain is accepted (--lenient-chain)"
        } else {
            "mutual TLS: client certificate + chain required"
        };
        let secret = |value: &str, key: &str| match secrets {
            Secrets::Shown => value.to_owned(),
            Secrets::Withheld => format!("(not printed: \"{key}\" in sandbox.json)"),
        };
        let mut out = format!(
            "mtls-sandbox is ready (state: {state})\n\
             \n\
             {hosts}\n  \
               sandbox  {sandbox}   HTTPS; authenticate with the {APP_TOKEN_HEADER} header\n  \
               mtls     {mtls}   {chain_rule}\n  \
               auth     {auth}   OAuth 2.0 authorization server\n\
             \n\
             {files}\n  \
               CA chain     {ca_path}\n  \
               client cert  {cert_path}\n  \
               client key   {key_path}\n  \
               PKCS#12      {p12_path} (password {p12_pw})\n\
             \n\
             {credentials}\n  \
               app token      {app_token}\n  \
               client id      {client_id}\n  \
               client secret  {client_secret}\n  \
               client auth    {method} at {token_endpoint} (other methods are refused)\n\
             \n\
             {try_it}\n  \
               curl --cacert {ca} {token} {sandbox}/banks/v1\n  \
               curl --cacert {ca} --cert {cert} --key {key} {token} {mtls}/banks/v1\n  \
               curl --cacert {ca} {auth}/health\n",
            hosts = h("Hosts"),
            files = h("Files (trust lean_public_cert_chain.pem as your CA)"),
            credentials = h(&format!(
                "Credentials (sandbox only; also in {}/sandbox.json)",
                self.state_dir.display()
            )),
            try_it = h("Try it"),
            state = self.state_dir.display(),
            sandbox = self.sandbox_url,
            mtls = self.mtls_url,
            auth = self.auth_url,
            ca_path = self.ca_chain.display(),
            cert_path = self.client_cert.display(),
            key_path = self.client_key.display(),
            p12_path = self.client_p12.display(),
            p12_pw = secret(&self.p12_password, "p12_password"),
            app_token = self.app_token,
            client_id = self.client_id,
            client_secret = secret(&self.client_secret, "client_secret"),
            method = self.token_endpoint_auth_method,
            token_endpoint = self.token_endpoint,
        );
        if self.shared_admin {
            out.push_str(&format!(
                "\n{}\n  the built-in admin client testing/testing is reachable from the network \
                 (--allow-shared-admin): anyone who can reach {} can manage clients, faults, the clock, \
                 keys and certificates\n",
                h("Warning"),
                self.auth_url
            ));
        }
        if let Some(proxy) = &self.behind_proxy {
            out.push_str(&format!(
                "\n{}\n  {proxy}; other clients present their certificate to the mtls host directly\n",
                h("Behind your proxy")
            ));
        }
        if let Some(clock) = &self.clock {
            out.push_str(&format!(
                "\n{}\n  {clock} (`mtls-sandbox clock reset` returns to real time)\n",
                h("Clock")
            ));
        }
        if let Some(url) = &self.portal_url {
            let link = match secrets {
                Secrets::Shown => url.clone(),
                Secrets::Withheld => format!("{}/portal ({})", self.sandbox_url, secret(url, "portal_url")),
            };
            out.push_str(&format!(
                "\n{}\n  {link}\n",
                h("Portal (applications, certificates, secrets, request inspector; the link logs you in)")
            ));
        }
        out
    }
}

/// Whether the startup summary may print credentials. On a terminal they are
/// seen and scroll away; redirected (`up > sandbox.log` in CI) they would be
/// stored in a world-readable file, so the summary points to the owner-only
/// `sandbox.json` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    Shown,
    Withheld,
}

fn default_auth_method() -> String {
    crate::oauth::client::AuthMethod::ClientSecretPost.name().to_owned()
}

/// Where the system's CA roots usually are (Debian/Ubuntu, Fedora/RHEL,
/// Alpine/macOS, SUSE).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// Writes `trust_bundle.pem` into the state dir: the roots the user trusts
/// today (their own `SSL_CERT_FILE`, else the system bundle) followed by the
/// sandbox chain. Pointing `SSL_CERT_FILE` at the sandbox chain alone would
/// break every other HTTPS call in that shell (`pip install`, `git`).
pub fn write_trust_bundle(state: &State) -> Result<PathBuf, crate::state::StateError> {
    let path = state.path(files::TRUST_BUNDLE);
    let own = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .filter(|p| p != &path && p.is_file());
    let system = own
        .into_iter()
        .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
        .find_map(|p| std::fs::read_to_string(&p).ok().map(|text| (p, text)));
    let mut bundle = String::new();
    match system {
        Some((from, text)) => {
            bundle.push_str(&format!("# System roots from {}\n", from.display()));
            bundle.push_str(text.trim_end());
            bundle.push('\n');
        }
        None => bundle.push_str("# No system CA bundle found: only the sandbox chain is trusted here.\n"),
    }
    bundle.push_str("# mtls-sandbox CA chain (test only)\n");
    bundle.push_str(&state.intermediate.cert_pem);
    bundle.push_str(&state.root.cert_pem);
    state.write_runtime(files::TRUST_BUNDLE, bundle.as_bytes(), false)?;
    Ok(path)
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

    /// Issue #18 item 9: the summary redirected to a file carried every secret.
    #[test]
    fn a_summary_for_a_file_withholds_the_secrets_and_says_where_they_are() {
        let info: SandboxInfo = serde_json::from_value(serde_json::json!({
            "sandbox_url": "https://127.0.0.1:4443", "mtls_url": "https://127.0.0.1:4444",
            "auth_url": "https://127.0.0.1:4445", "token_endpoint": "https://127.0.0.1:4445/oauth2/token",
            "mtls_token_endpoint": "https://127.0.0.1:4444/oauth2/token", "app_token": "APPTOKEN",
            "client_id": "CLIENTID", "client_secret": "CLIENTSECRET", "ca_chain": "/s/chain.pem",
            "client_cert": "/s/c.crt", "client_key": "/s/c.key", "client_p12": "/s/c.p12",
            "p12_password": "P12PASSWORD", "pid": 1, "state_dir": "/s",
        }))
        .unwrap();
        let info = info.with_portal("PORTALTOKEN");
        let shown = info.summary(false, Secrets::Shown);
        for secret in ["CLIENTSECRET", "P12PASSWORD", "PORTALTOKEN"] {
            assert!(shown.contains(secret), "a terminal shows {secret}: {shown}");
        }
        let withheld = info.summary(false, Secrets::Withheld);
        for (secret, key) in [
            ("CLIENTSECRET", "client_secret"),
            ("P12PASSWORD", "p12_password"),
            ("PORTALTOKEN", "portal_url"),
        ] {
            assert!(!withheld.contains(secret), "{secret} leaked: {withheld}");
            assert!(withheld.contains(&format!("\"{key}\" in sandbox.json")), "{withheld}");
        }
        assert!(withheld.contains("https://127.0.0.1:4443/portal ("), "{withheld}");
        assert!(
            withheld.contains("CLIENTID") && withheld.contains("APPTOKEN"),
            "{withheld}"
        );
        assert!(!shown.contains("reachable from the network"));
        let shared = SandboxInfo {
            shared_admin: true,
            ..info
        };
        assert!(
            shared
                .summary(false, Secrets::Withheld)
                .contains("Warning\n  the built-in admin client testing/testing is reachable from the network")
        );
    }
}

//! `Sandbox::start()`: an isolated, in-process mtls-sandbox on free ports in
//! a temp state dir, for other projects' tests.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let sandbox = harness::Sandbox::start().await?;
//! let banks = sandbox
//!     .mtls_client()?
//!     .get(format!("{}/banks/v1", sandbox.info.mtls_url))
//!     .header("lean-app-token", &sandbox.info.app_token)
//!     .send()
//!     .await?;
//! assert_eq!(banks.status(), 200);
//! # Ok(()) }
//! ```
//!
//! Dropping the `Sandbox` shuts the emulator down and deletes its state.

use std::sync::Arc;

use mtls_sandbox::config::{Config, Ports};
use mtls_sandbox::entropy::Entropy;
use mtls_sandbox::info::SandboxInfo;
use mtls_sandbox::key_type::KeyType;
use mtls_sandbox::pki::{self, CertAndKey};
use mtls_sandbox::server::{self, Running, Runtime};
use mtls_sandbox::tls;
use mtls_sandbox::webhooks::WebhookUrl;

use crate::receiver::{self, Inbox};
use crate::scenario::Scenario;
use crate::upstream;

pub struct Sandbox {
    /// The `sandbox.json` values: URLs, credentials, file paths.
    pub info: SandboxInfo,
    running: Option<Running>,
    /// The echo API behind a scenario's gateway routes, if any.
    echo: Option<wiremock::MockServer>,
    /// The webhook receiver a scenario's `webhook` steps read, if any.
    webhooks: Option<Arc<wiremock::MockServer>>,
    _dir: tempfile::TempDir,
}

impl Sandbox {
    /// Starts a sandbox with the default configuration.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts a sandbox after `adjust` has changed its configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        Self::start_in(adjust, Runtime::default()).await
    }

    /// Starts a sandbox on `runtime` (its clock and entropy) after `adjust`
    /// has changed its configuration.
    pub async fn start_in(adjust: impl FnOnce(&mut Config), runtime: Runtime) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::new(dir.path().join("state"));
        config.ports = Ports {
            sandbox: 0,
            mtls: 0,
            auth: 0,
        };
        adjust(&mut config);
        let running = server::start(config, runtime).await?;
        Ok(Self {
            info: running.info.clone(),
            running: Some(running),
            echo: None,
            webhooks: None,
            _dir: dir,
        })
    }

    /// Starts a sandbox for `scenario`: deterministic (seeded with the
    /// scenario's name, so ids repeat from run to run and transcripts are
    /// stable), with its gateway routes and the echo API they point to, and
    /// a webhook receiver as its URL when a step waits for a webhook.
    pub async fn for_scenario(scenario: &Scenario) -> anyhow::Result<Self> {
        let seed = format!("harness scenario: {}", scenario.name);
        Self::for_scenarios(&seed, &[scenario]).await
    }

    /// Starts one sandbox for several scenarios at once (`harness run
    /// --parallel`): seeded with `seed`, with every scenario's gateway
    /// routes and one echo API behind them, and a webhook receiver when a
    /// step of any of them waits for a webhook.
    pub async fn for_scenarios(seed: &str, scenarios: &[&Scenario]) -> anyhow::Result<Self> {
        let gateway: Vec<_> = scenarios.iter().flat_map(|s| s.gateway.iter().cloned()).collect();
        let echo = match gateway.is_empty() {
            true => None,
            false => Some(upstream::start_echo().await),
        };
        let routes = match &echo {
            Some(echo) => upstream::routes(&gateway, &echo.uri()).map_err(anyhow::Error::msg)?,
            None => Vec::new(),
        };
        let waits_for_webhooks = scenarios.iter().flat_map(|s| &s.steps).any(|s| s.webhook.is_some());
        let webhooks = match waits_for_webhooks {
            true => Some(receiver::start().await),
            false => None,
        };
        let url = match &webhooks {
            Some(server) => Some(WebhookUrl::parse(&format!("{}{}", server.uri(), receiver::PATH))?),
            None => None,
        };
        let runtime = Runtime {
            entropy: Arc::new(Entropy::from_seed(seed)),
            ..Runtime::default()
        };
        let adjust = |config: &mut Config| {
            config.gateway = routes;
            config.webhooks.url = url;
            // Derived from the seed like the rest (aws-lc cannot derive RSA
            // keys): the same certificate every run, and no RSA prime
            // search per scenario. The harness makes the scenario's calls
            // itself, so the key's type is not what a scenario tests.
            config.client_key = KeyType::P256;
        };
        let mut sandbox = Self::start_in(adjust, runtime).await?;
        sandbox.echo = echo;
        sandbox.webhooks = webhooks;
        Ok(sandbox)
    }

    /// The events the scenario's webhook receiver got, from the first.
    pub fn inbox(&self) -> Option<Inbox> {
        self.webhooks.clone().map(Inbox::new)
    }

    /// An HTTPS client that trusts the sandbox CA and presents no certificate.
    pub fn client(&self) -> anyhow::Result<reqwest::Client> {
        self.build(None)
    }

    /// An HTTPS client that presents the app certificate with its chain.
    pub fn mtls_client(&self) -> anyhow::Result<reqwest::Client> {
        let leaf = CertAndKey {
            cert_pem: std::fs::read_to_string(&self.info.client_cert)?,
            key_pem: std::fs::read_to_string(&self.info.client_key)?,
        };
        self.build(Some(leaf))
    }

    fn build(&self, leaf: Option<CertAndKey>) -> anyhow::Result<reqwest::Client> {
        let chain_pem = std::fs::read_to_string(&self.info.ca_chain)?;
        let presented = match leaf {
            None => None,
            Some(leaf) => {
                let mut chain = vec![leaf.cert_der()?];
                chain.extend(pki::certs_from_pem(&chain_pem, "CA chain")?);
                Some((chain, pki::key_from_pem(&leaf.key_pem, "client key")?))
            }
        };
        let config = tls::client_config(pki::certs_from_pem(&chain_pem, "CA chain")?, presented)?;
        Ok(reqwest::Client::builder().tls_backend_preconfigured(config).build()?)
    }

    /// Stops the sandbox and waits until its listeners are closed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        match self.running.take() {
            Some(running) => {
                running.shutdown();
                running.wait().await
            }
            None => Ok(()),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            running.shutdown();
        }
    }
}

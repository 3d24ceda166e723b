//! `mtls-sandbox up`: resolve the configuration, start the sandbox, print
//! the summary, serve until Ctrl-C or SIGTERM (`mtls-sandbox down`).

use std::net::IpAddr;
use std::sync::Arc;

use clap::Args;

use super::output;
use super::workshop;
use super::{Failure, GlobalArgs, resolve_config, usage};
use crate::clock::Clock;
use crate::entropy::Entropy;
use crate::gateway::Route;
use crate::info::Secrets;
use crate::oauth::keys::SigningAlg;
use crate::server::{self, Runtime};

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address to listen on; 0.0.0.0 for every interface [default: 127.0.0.1, and ::1 beside it].
    #[arg(long, env = "MTLS_SANDBOX_BIND", value_name = "IP")]
    pub bind: Option<IpAddr>,
    /// Port of the plain HTTPS host (0 picks a free port) [default: 4443].
    #[arg(long, value_name = "PORT")]
    pub sandbox_port: Option<u16>,
    /// Port of the mutual-TLS host (0 picks a free port) [default: 4444].
    #[arg(long, value_name = "PORT")]
    pub mtls_port: Option<u16>,
    /// Port of the OAuth authorization server (0 picks a free port) [default: 4445].
    #[arg(long, value_name = "PORT")]
    pub auth_port: Option<u16>,
    /// Accept a client certificate sent without its intermediate CA (the real host refuses it).
    #[arg(long)]
    pub lenient_chain: bool,
    /// Host name clients use to reach the sandbox when it is not 127.0.0.1 (a CI service name).
    #[arg(long, env = "MTLS_SANDBOX_PUBLIC_HOST", value_name = "NAME")]
    pub public_host: Option<String>,
    /// Extra host name or IP for the server certificate (repeatable).
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// The sandbox's "now": an RFC 3339 instant (frozen) or an offset like +2h or -30d (shifted).
    #[arg(long, value_name = "TIME|OFFSET", value_parser = parse_clock, allow_hyphen_values = true)]
    pub clock: Option<Arc<Clock>>,
    /// INSECURE, for snapshot tests and handouts: derive keys, serials, ids, secrets and
    /// token ids of a new state dir and of this run from SEED, so two fresh runs match.
    #[arg(long, value_name = "SEED")]
    pub deterministic: Option<String>,
    /// Gateway mode: forward mtls-host requests no emulated endpoint answers to
    /// this http:// URL, after the handshake and a bearer-token check.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Keep the last N requests and refused handshakes for the portal's request
    /// inspector (0 turns it off) [default: 200].
    #[arg(long, value_name = "N")]
    pub inspect: Option<usize>,
    /// Let the built-in testing/testing admin client be reachable on a
    /// non-loopback --bind (refused otherwise: anyone on the network could use it).
    #[arg(long, env = "MTLS_SANDBOX_ALLOW_SHARED_ADMIN")]
    pub allow_shared_admin: bool,
    /// Behind your own TLS terminator: believe the client certificate header
    /// from this proxy address or CIDR range (repeatable; turns the mode on).
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = crate::proxy::parse_trusted)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header the proxy forwards the client certificate in [default:
    /// x-ssl-client-cert, URL-escaped PEM as nginx's $ssl_client_escaped_cert;
    /// x-forwarded-client-cert reads Envoy's XFCC].
    #[arg(long, value_name = "NAME", value_parser = crate::proxy::parse_header)]
    pub client_cert_header: Option<axum::http::HeaderName>,
    /// Print the sandbox.json document instead of the human summary.
    #[arg(long)]
    pub json: bool,
    /// Provider API profile: lean-uae (default), lean-ksa, or a folder with a profile.toml.
    #[arg(long, value_name = "PROFILE")]
    pub provider: Option<String>,
    /// Your own endpoints: a Postman collection (v2.1) or OpenAPI 3 document (JSON) whose
    /// requests are answered with their examples on the sandbox and mtls hosts (repeatable).
    #[arg(long = "api", value_name = "FILE")]
    pub api: Vec<std::path::PathBuf>,
    /// Workshop mode: one application per attendee, created if missing: a
    /// count (attendee-1 to attendee-N) or names (alice,bob); prints each
    /// one's portal link, which sees only that application.
    #[arg(long, value_name = "N|NAMES", value_parser = workshop::parse)]
    pub apps: Option<workshop::Attendees>,
}

pub async fn up(global: &GlobalArgs, args: UpArgs) -> Result<(), Failure> {
    let mut config = resolve_config(global, &global.state_dir_or_new()).map_err(usage)?;
    config.bind = args.bind.unwrap_or(config.bind);
    config.ports.sandbox = args.sandbox_port.unwrap_or(config.ports.sandbox);
    config.ports.mtls = args.mtls_port.unwrap_or(config.ports.mtls);
    config.ports.auth = args.auth_port.unwrap_or(config.ports.auth);
    config.lenient_chain |= args.lenient_chain;
    config.allow_shared_admin |= args.allow_shared_admin;
    config.inspect_capacity = args.inspect.unwrap_or(config.inspect_capacity);
    config.public_host = args.public_host.or(config.public_host);
    config.extra_sans.extend(args.sans);
    config.behind_proxy.trusted.extend(args.trusted_proxies);
    if let Some(header) = args.client_cert_header {
        config.behind_proxy.header = Some(header);
    }
    config.behind_proxy.check().map_err(|e| usage(anyhow::anyhow!(e)))?;
    let mut runtime = Runtime::default();
    if let Some(clock) = args.clock {
        runtime.clock = clock;
    }
    if let Some(seed) = &args.deterministic {
        runtime.entropy = Arc::new(Entropy::from_seed(seed));
        tracing::warn!("deterministic mode: keys, ids and secrets derive from the seed; never use it outside tests");
        if config.oauth.signing_alg == SigningAlg::PS256 {
            tracing::warn!(
                "deterministic mode: the PS256 signing key stays random (aws-lc cannot derive RSA keys from a seed); set [oauth] signing_alg = \"ES256\" for a derived key"
            );
        }
        if !config.client_key.is_derivable() {
            tracing::warn!(
                "deterministic mode: the RSA client key of a new state dir stays random (aws-lc cannot derive RSA keys from a seed); set [app] key_type = \"p256\" for a derived key"
            );
        }
    }
    if let Some(spec) = &args.provider {
        let profile = crate::provider::Profile::load(spec, std::path::Path::new("."))
            .map_err(|e| usage(anyhow::anyhow!("--provider: {e}")))?;
        config.provider = Arc::new(profile);
    }
    for file in &args.api {
        config
            .api
            .load(file)
            .map_err(|e| usage(anyhow::anyhow!("--api: {e}")))?;
    }
    if let Some(url) = &args.upstream {
        let route = Route::catch_all(url).map_err(|e| usage(anyhow::anyhow!("--upstream: {e}")))?;
        config.gateway.push(route);
    }

    config.check_shared_admin().map_err(|e| usage(anyhow::anyhow!(e)))?;
    if config.shares_admin() {
        tracing::warn!(
            "the built-in admin client testing/testing is reachable from the network (--allow-shared-admin)"
        );
    }

    let routes = config.gateway.clone();
    let attendees = args.apps.map(|a| a.0).unwrap_or_default();
    config.attendees.clone_from(&attendees);
    let shutdown = ShutdownSignal::listen()?;
    let running = server::start(config, runtime).await?;
    let attendees = workshop::infos(running.apps(), &attendees).map_err(anyhow::Error::from)?;
    // Nobody reading stdout any more (`up | head`) must not stop the server.
    if args.json {
        output::write_lossy(&format!("{}\n", running.info.to_json()));
    } else {
        // Credentials go to a terminal only; a redirected summary (a CI log)
        // points to the owner-only sandbox.json instead.
        let secrets = if output::stdout_is_terminal() {
            Secrets::Shown
        } else {
            Secrets::Withheld
        };
        let mut text = running.info.summary(output::colour_stdout(), secrets);
        if !routes.is_empty() {
            text.push_str("\nGateway (mtls host → your API)\n");
            for route in &routes {
                text.push_str(&format!("  {}{}\n", running.info.mtls_url, route.describe()));
            }
        }
        if !attendees.is_empty() {
            text.push_str(&workshop::table(&attendees, output::colour_stdout(), secrets));
        }
        text.push_str("\nPress Ctrl-C to stop (or run `mtls-sandbox down`).\n");
        output::write_lossy(&text);
    }
    // Spare RSA keys for the next fresh state dir, made while this one idles.
    crate::key_pool::refill_in_background();
    tracing::info!(
        "ready: sandbox {}, mtls {}, auth {}",
        running.info.sandbox_url,
        running.info.mtls_url,
        running.info.auth_url
    );
    shutdown.recv().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown();
    running.wait().await?;
    Ok(())
}

/// SIGINT and SIGTERM, listened for from before the sandbox is ready.
/// Scripts stop it the moment `sandbox.json` appears (CI, the bench's
/// start-up measure); a signal that came before the listeners would kill
/// the process without its graceful stop, or — once the handler was in but
/// the listener not yet subscribed — be lost, leaving the sandbox running
/// (seen under load).
struct ShutdownSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn listen() -> Result<Self, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

fn parse_clock(s: &str) -> Result<Arc<Clock>, String> {
    Clock::parse(s).map(Arc::new)
}

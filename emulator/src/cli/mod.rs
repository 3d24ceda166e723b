//! Command-line interface: clap definitions and the subcommand dispatch.
//!
//! Exit codes: 0 ok, 1 runtime failure, 2 usage error (bad flag, bad config
//! file). Every error names the file or value at fault.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

mod doctor;
mod faults;
mod oauth;

use crate::clock::Clock;
use crate::config::{Config, ConfigError, DEFAULT_STATE_DIR, FileConfig};
use crate::entropy::Entropy;
use crate::gateway::Route;
use crate::info::SandboxInfo;
use crate::oauth::keys::SigningAlg;
use crate::server;
use crate::state::{State, files};

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
    /// Directory holding the CA, certificates, credentials and records.
    #[arg(long, global = true, env = "MTLS_SANDBOX_STATE_DIR", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// TOML config file (see fixtures/config.toml); flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the sandbox (creates the state dir on first start, reuses it after).
    Up(UpArgs),
    /// Create the state dir (CA, certificates, credentials) without serving, and print the file paths.
    Certs,
    /// Print shell exports that point common HTTP clients at the sandbox: eval "$(mtls-sandbox env)".
    Env,
    /// Revoke a client certificate: the mtls host refuses it from the next handshake on (via a CRL).
    Revoke {
        /// PEM certificate to revoke [default: my_app_cert.crt in the state dir].
        #[arg(long, value_name = "FILE")]
        cert: Option<PathBuf>,
    },
    /// Manage OAuth clients: create, list, delete.
    #[command(subcommand)]
    Clients(oauth::ClientsCommand),
    /// Manage client secrets: create (shown once), delete.
    #[command(subcommand)]
    Secrets(oauth::SecretsCommand),
    /// Print an access token for the default application: TOKEN=$(mtls-sandbox token --scope api)
    Token {
        /// Space-separated scopes, e.g. api or customer.<customer_id> [default: api]
        #[arg(long)]
        scope: Option<String>,
        /// Another client than the default application's.
        #[arg(long)]
        client_id: Option<String>,
    },
    /// Check your own certificate and key files and say what to change.
    Doctor(doctor::DoctorArgs),
    /// Make the running sandbox misbehave on purpose: rate limits, 5xx, delays,
    /// dropped connections, token errors, key rotation (also POST /admin/faults).
    #[command(subcommand)]
    Faults(faults::FaultsCommand),
    /// Wait until a sandbox started in the background is ready (for CI scripts).
    Wait {
        /// Give up after this long (e.g. 30s, 2m).
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        timeout: Duration,
    },
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Address to listen on.
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// Port of the plain HTTPS host (0 picks a free port) [default: 4443].
    #[arg(long)]
    pub sandbox_port: Option<u16>,
    /// Port of the mutual-TLS host (0 picks a free port) [default: 4444].
    #[arg(long)]
    pub mtls_port: Option<u16>,
    /// Port of the OAuth authorization server (0 picks a free port) [default: 4445].
    #[arg(long)]
    pub auth_port: Option<u16>,
    /// Accept a client certificate sent without its intermediate CA (the real host refuses it).
    #[arg(long)]
    pub lenient_chain: bool,
    /// Host name clients use to reach the sandbox when it is not 127.0.0.1 (a CI service name).
    #[arg(long, value_name = "NAME")]
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
    /// Print the sandbox.json document instead of the human summary.
    #[arg(long)]
    pub json: bool,
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
    match cli.command {
        Command::Up(args) => up(&cli.global, args).await,
        Command::Certs => certs(&cli.global),
        Command::Env => env(&cli.global),
        Command::Wait { timeout } => wait(&cli.global, timeout).await,
        Command::Revoke { cert } => revoke(&cli.global, cert),
        Command::Doctor(args) => doctor::run(&cli.global, args).await,
        Command::Clients(c) => oauth::clients(&cli.global, c),
        Command::Secrets(c) => oauth::secrets(&cli.global, c),
        Command::Token { scope, client_id } => oauth::token(&cli.global, scope, client_id),
        Command::Faults(c) => faults::faults(&cli.global, c).await,
    }
}

pub(crate) fn resolve_config(global: &GlobalArgs) -> Result<Config, ConfigError> {
    let mut config = Config::new(&global.state_dir);
    if let Some(path) = &global.config {
        FileConfig::load(path)?.apply(&mut config, path)?;
    }
    config.key_log = std::env::var_os("SSLKEYLOGFILE").is_some();
    Ok(config)
}

async fn up(global: &GlobalArgs, args: UpArgs) -> Result<(), Failure> {
    let mut config = resolve_config(global).map_err(usage)?;
    config.bind = args.bind.unwrap_or(config.bind);
    config.ports.sandbox = args.sandbox_port.unwrap_or(config.ports.sandbox);
    config.ports.mtls = args.mtls_port.unwrap_or(config.ports.mtls);
    config.ports.auth = args.auth_port.unwrap_or(config.ports.auth);
    config.lenient_chain |= args.lenient_chain;
    config.inspect_capacity = args.inspect.unwrap_or(config.inspect_capacity);
    config.public_host = args.public_host.or(config.public_host);
    config.extra_sans.extend(args.sans);
    if let Some(clock) = args.clock {
        config.clock = clock;
    }
    if let Some(seed) = &args.deterministic {
        config.entropy = Arc::new(Entropy::from_seed(seed));
        tracing::warn!("deterministic mode: keys, ids and secrets derive from the seed; never use it outside tests");
        if config.oauth.signing_alg == SigningAlg::PS256 {
            tracing::warn!(
                "deterministic mode: the PS256 signing key stays random (aws-lc cannot derive RSA keys from a seed); set [oauth] signing_alg = \"ES256\" for a derived key"
            );
        }
    }
    if let Some(url) = &args.upstream {
        let route = Route::catch_all(url).map_err(|e| usage(anyhow::anyhow!("--upstream: {e}")))?;
        config.gateway.push(route);
    }

    let routes = config.gateway.clone();
    let running = server::start(config).await?;
    if args.json {
        println!("{}", running.info.to_json());
    } else {
        print!("{}", running.info.summary());
        if !routes.is_empty() {
            println!("\nGateway (mtls host → your API)");
            for route in &routes {
                println!("  {}{}", running.info.mtls_url, route.describe());
            }
        }
        println!("\nPress Ctrl-C to stop.");
    }
    tracing::info!(
        "ready: sandbox {}, mtls {}, auth {}",
        running.info.sandbox_url,
        running.info.mtls_url,
        running.info.auth_url
    );
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.shutdown();
    running.wait().await?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn certs(global: &GlobalArgs) -> Result<(), Failure> {
    let state = State::load_or_create(&global.state_dir)?;
    let verb = if state.fresh { "Created" } else { "Reusing" };
    println!("{verb} sandbox state in {}", state.dir.display());
    for (label, name) in [
        ("CA chain (trust this)", files::CA_CHAIN),
        ("client certificate", files::CLIENT_CERT),
        ("client private key", files::CLIENT_KEY),
        ("PKCS#12 bundle", files::CLIENT_P12),
    ] {
        println!("  {label:<22} {}", state.path(name).display());
    }
    println!("  {:<22} {}", "PKCS#12 password", state.app.p12_password);
    Ok(())
}

fn env(global: &GlobalArgs) -> Result<(), Failure> {
    let running = global.state_dir.join(files::SANDBOX_JSON);
    let info = if running.exists() {
        SandboxInfo::read(&running).map_err(anyhow::Error::msg)?
    } else {
        // Not running: describe the sandbox as `up` would start it.
        let config = resolve_config(global).map_err(usage)?;
        let state = State::load_or_create(&global.state_dir)?;
        let ports = [config.ports.sandbox, config.ports.mtls, config.ports.auth];
        SandboxInfo::new(&state, &config.url_host(), ports)
    };
    print!("{}", info.to_exports());
    Ok(())
}

fn revoke(global: &GlobalArgs, cert: Option<PathBuf>) -> Result<(), Failure> {
    let state = State::load(&global.state_dir)?;
    let path = cert.unwrap_or_else(|| state.path(files::CLIENT_CERT));
    let pem = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let records = crate::records::Records::open(&state.path(files::RECORDS))?;
    let what = path.display().to_string();
    let done = crate::revocation::revoke(&state, &records, &pem, &what, time::OffsetDateTime::now_utc())?;
    let verb = if done.newly { "Revoked" } else { "Already revoked:" };
    println!("{verb} \"{}\" (serial {}).", done.subject, done.serial_hex);
    println!(
        "A running sandbox refuses it from its next handshake (CRL: {}).",
        state.path(files::CRL).display()
    );
    Ok(())
}

async fn wait(global: &GlobalArgs, timeout: Duration) -> Result<(), Failure> {
    let path = global.state_dir.join(files::SANDBOX_JSON);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(info) = ready(&path) {
            println!("ready: {}", info.sandbox_url);
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(anyhow::anyhow!(
                "no sandbox became ready within {timeout:?} ({} did not appear). Is `mtls-sandbox up --state-dir {}` running? Check its log.",
                path.display(),
                global.state_dir.display()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `sandbox.json` is written only once every listener accepts connections,
/// and removed at shutdown; a live pid guards against a killed process.
fn ready(path: &Path) -> Option<SandboxInfo> {
    let info = SandboxInfo::read(path).ok()?;
    Path::new(&format!("/proc/{}", info.pid)).exists().then_some(info)
}

fn parse_clock(s: &str) -> Result<Arc<Clock>, String> {
    Clock::parse(s).map(Arc::new)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration like 30s or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("'{s}': unknown unit '{unit}' (use ms, s, m or h)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}

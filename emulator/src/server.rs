//! Starting and stopping a sandbox: load the state, bind the three
//! listeners, serve, announce readiness through `sandbox.json`, and drain
//! on shutdown.
//!
//! The composition root: the only place that reads [`Config`] to build
//! the parts (authorization server, application, revocations, fault rules,
//! gateway, portal, webhooks) with their own settings and runtime dependencies
//! ([`Runtime`]), and hands each area its state ([`router::Areas`]).
//!
//! The caller owns the lifecycle ([`start`] returns a [`Running`] handle), so
//! the binary, the harness and tests all start sandboxes the same way.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::task::JoinSet;

use crate::api::{Api, ApiState};
use crate::application::Application;
use crate::apps::admin::AppsAdmin;
use crate::apps::{AppSettings, AppSpec, Apps};
use crate::clock::Clock;
use crate::config::Config;
use crate::entropy::Entropy;
use crate::faults::{FaultState, Faults};
use crate::gateway::Gateway;
use crate::hosts::Host;
use crate::info::SandboxInfo;
use crate::inspector::Inspector;
use crate::instance::InstanceLock;
use crate::limits::{self, ConnectionLimit, Connections};
use crate::oauth::Authority;
use crate::oauth::authority::{Setup, Urls, load_signing_key};
use crate::oauth::client::{Client, SecretRecord};
use crate::oauth::keys::KeyInProgress;
use crate::pki;
use crate::portal::Portal;
use crate::provider::Provider;
use crate::provider::events::Watcher;
use crate::proxy::ForwardedCerts;
use crate::records::Records;
use crate::revocation::{self, Revocations};
use crate::router::{self, Areas};
use crate::state::{State, files};
use crate::tls::{self, AlpnAcceptor, ExplainingAcceptor, TlsMaterial, TlsOptions};
use crate::webhooks::{self, WebhookState, Webhooks};

/// How long in-flight requests may take to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A started sandbox. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    pub info: SandboxInfo,
    control: axum_server::Control,
    tasks: JoinSet<std::io::Result<()>>,
    state: State,
    crl_watch: tokio::task::JoinHandle<()>,
    /// Its delivery workers stop with the listeners.
    webhooks: Arc<Webhooks>,
    /// Sends the provider's lifecycle events; stops with the webhooks.
    watcher: Watcher,
    /// Their `sandbox.json` files go when the sandbox stops.
    apps: Arc<Apps>,
    /// Held until [`Running::wait`] has cleaned up: one sandbox per state dir.
    _lock: InstanceLock,
}

/// Files that describe a running sandbox; removed at start (left by a
/// killed run) and at shutdown.
const RUNTIME_FILES: [&str; 4] = [files::SANDBOX_JSON, files::SANDBOX_ENV, files::CLOCK, files::CRL_LOADED];

/// What a sandbox takes from its caller besides its configuration: the
/// clock it calls "now" (shared, so the caller can move it while it runs)
/// and the randomness for keys, ids and secrets (seeded by
/// `--deterministic`).
#[derive(Debug, Clone)]
pub struct Runtime {
    pub clock: Arc<Clock>,
    pub entropy: Arc<Entropy>,
}

impl Default for Runtime {
    /// The machine's clock and the system's randomness.
    fn default() -> Self {
        Self {
            clock: Arc::new(Clock::system()),
            entropy: Arc::new(Entropy::SYSTEM),
        }
    }
}

/// Loads (or creates) the state, binds the listeners and serves. Returns
/// once every listener accepts connections and `sandbox.json` is written.
pub async fn start(config: Config, runtime: Runtime) -> anyhow::Result<Running> {
    let Runtime { clock, entropy } = runtime;
    crate::oauth::signer::install();
    // A first start makes the signing key while the state (and its client
    // key) is created: see `SigningAlg::generate_in_background`.
    let alg = config.oauth.signing_alg;
    let signing_key = if config.state_dir.join(alg.file_name()).exists() {
        None
    } else {
        alg.generate_in_background()
    };
    let state = State::load_or_create_with(&config.state_dir, &entropy, config.client_key)?;
    // A second sandbox on this state dir is refused here, before it touches
    // any file the running one owns.
    let lock = InstanceLock::acquire(&state.dir)?;
    // A stale sandbox.json from a killed run must not look like readiness.
    for name in RUNTIME_FILES {
        let _ = std::fs::remove_file(state.path(name));
    }
    let records = Records::open(&state.path(files::RECORDS))
        .with_context(|| format!("cannot open {}", state.path(files::RECORDS).display()))?
        .with_entropy(entropy.fork());
    let records = Arc::new(records);
    revocation::sync_crl(&state, &records, time::OffsetDateTime::now_utc())?;
    let mut material = tls_material(&state, &config, &entropy)?;
    let opts = TlsOptions {
        lenient_chain: config.lenient_chain,
        key_log: config.key_log,
        clock: clock.clone(),
        behind_proxy: config.behind_proxy.is_on(),
    };

    let hosts = [
        (Host::Sandbox, config.ports.sandbox),
        (Host::Mtls, config.ports.mtls),
        (Host::Auth, config.ports.auth),
    ];
    let mut listeners = Vec::new();
    let mut ports = [0u16; 3];
    for (i, (host, port)) in hosts.into_iter().enumerate() {
        let bound = bind(&config, host, port)?;
        ports[i] = bound[0].local_addr()?.port();
        listeners.push((host, bound));
    }
    clock.publish_to(state.path(files::CLOCK));
    // The portal token guards the portal's secrets and actions: random even
    // under --deterministic, where everything else repeats from the seed.
    let portal_token = Entropy::SYSTEM.alphanumeric(32);
    let portal_session = Entropy::SYSTEM.alphanumeric(32);
    let info = config.sandbox_info(&state, ports, &clock).with_portal(&portal_token);
    let inspector = Arc::new(Inspector::new(config.inspect_capacity));
    let setup = authority_setup(
        &state,
        &config,
        &info,
        &entropy,
        tls::sandbox_ca_verifier(&material.ca, &opts)?,
        signing_key,
    )?;
    let authority = Arc::new(Authority::new(setup, records.clone(), state.clone(), clock.clone()));
    let application = Arc::new(Application::new(state.clone(), info.clone(), authority.clone()));
    let revocations = Arc::new(Revocations::new(state.clone(), records.clone(), clock.clone()));
    let apps = Arc::new(Apps::load(
        state.clone(),
        authority.clone(),
        revocations.clone(),
        application.clone(),
        AppSettings {
            default_mode: config.auth_mode,
            auth_method: config.app_auth_method,
            key_type: config.client_key,
        },
        entropy.clone(),
        &config.apps,
    )?);
    let attendees: Vec<AppSpec> = (config.attendees.iter())
        .map(|name| AppSpec {
            name: name.clone(),
            auth_mode: config.auth_mode,
        })
        .collect();
    apps.create_missing(&attendees)?;
    let faults = Faults::new(config.faults.clone(), entropy.fork()).map_err(anyhow::Error::msg)?;
    let webhooks = Arc::new(Webhooks::new(
        config.webhooks.clone(),
        webhooks::Setup {
            application: state.app.name.clone(),
            store: state.path(files::WEBHOOKS),
            ca_pem: format!("{}{}", state.root.cert_pem, state.intermediate.cert_pem).into_bytes(),
            clock: clock.clone(),
            entropy: entropy.clone(),
            inspector: inspector.clone(),
        },
    )?);
    // A URL stored for an application deleted by hand while the sandbox was
    // stopped must not reach a new one of the same name.
    match webhooks.forget_missing(|name| apps.find(name).is_some()) {
        Ok(gone) if !gone.is_empty() => {
            tracing::info!(target: "webhooks", "webhook URLs of applications that no longer exist dropped: {}", gone.join(", "))
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(target: "webhooks", "{e}"),
    }
    apps.on_delete({
        let (webhooks, clock) = (webhooks.clone(), clock.clone());
        move |app| {
            let name = &app.name;
            if let Err(e) = webhooks.forget(name) {
                tracing::error!(target: "webhooks", "application {name} deleted, but its webhook URL stays stored: {e}");
            }
            clock.reset_for(&app.id);
        }
    });
    let api = Api::new(ApiState {
        authority: authority.clone(),
        apps: apps.clone(),
        records: records.clone(),
        banks: Arc::new(config.banks.clone()),
        banks_json: crate::api::banks::body(&config.banks),
    });
    let imported = Arc::new(crate::provider::import::Imported::new(&config.api, &config.provider));
    imported.log();
    let provider = Provider {
        api: api.clone(),
        profile: config.provider.clone(),
        clock: clock.clone(),
        imported: imported.clone(),
        webhooks: webhooks.clone(),
    };
    let areas = Areas {
        provider_routes: crate::provider::routes(provider.clone()),
        provider: provider.clone(),
        api,
        faults: FaultState {
            faults: Arc::new(faults),
            authority: authority.clone(),
            revocations: revocations.clone(),
            clock: clock.clone(),
            apps: apps.clone(),
        },
        portal: Arc::new(Portal {
            application,
            apps: apps.clone(),
            authority: authority.clone(),
            revocations: revocations.clone(),
            inspector: inspector.clone(),
            records,
            state: state.clone(),
            entropy: entropy.clone(),
            client_key: config.client_key,
            session: portal_session,
            webhooks: webhooks.clone(),
            provider,
        }),
        gateway: Arc::new(Gateway::new(config.gateway.clone(), authority.clone())),
        webhooks: WebhookState {
            webhooks: webhooks.clone(),
            apps: apps.clone(),
            authority: authority.clone(),
        },
        authority: authority.clone(),
        apps: AppsAdmin {
            apps: apps.clone(),
            authority: authority.clone(),
        },
        revocations: revocations.clone(),
        inspector: inspector.clone(),
        forwarded: config.behind_proxy.is_on().then(|| {
            let settings = config.behind_proxy.clone();
            Arc::new(ForwardedCerts::new(settings, &material.ca.intermediate))
        }),
    };

    let control = axum_server::Control::new();
    let mut tasks = JoinSet::new();
    let mut mtls_config = None;
    let mut starting = Vec::new();
    for (host, bound) in listeners {
        let tls_config = RustlsConfig::from_config(tls::server_config(host, &material, &opts)?);
        if host == Host::Mtls {
            mtls_config = Some(tls_config.clone());
        }
        // One limit and one router per host: its IPv4 and IPv6 listeners
        // share them (a router is cheap to clone, not to build).
        let connections = Connections::new(limits::MAX_CONNECTIONS, limits::IDLE_TIMEOUT);
        let app = axum::ServiceExt::into_make_service_with_connect_info::<SocketAddr>(router::router(
            &areas,
            host,
            connections.clone(),
        ));
        for listener in bound {
            let tls = RustlsAcceptor::new(tls_config.clone()).handshake_timeout(limits::TLS_HANDSHAKE_TIMEOUT);
            let acceptor = ConnectionLimit::new(
                AlpnAcceptor::new(ExplainingAcceptor::new(tls, host, inspector.clone())),
                connections.clone(),
            );
            let handle: Handle<SocketAddr> = Handle::with_control(control.clone());
            let mut server = axum_server::from_tcp(listener)?
                .acceptor(acceptor)
                .handle(handle.clone());
            limits::configure(server.http_builder());
            let app = app.clone();
            tasks.spawn(async move { server.serve(app).await });
            starting.push((host, handle));
        }
    }
    // Waited for together: each wait is a hop to a worker thread, and one
    // after another they added up to a third of a warm start on a busy machine.
    for (host, handle) in starting {
        handle
            .listening()
            .await
            .with_context(|| format!("the {host} listener failed to start"))?;
    }

    warm_signing_key(&authority, &state);

    // Reload the CA verifiers when the CRL changes (a revocation here, or
    // `mtls-sandbox revoke` in another process); `revoke` waits for that.
    let crl_watch = {
        let mtls_config = mtls_config.expect("mtls listener");
        revocations.watch(move |state| {
            // The CRL is the only file that changed: no need to reload the state.
            material.ca.crls = revocation::load_crl(state).into_iter().collect();
            authority.set_ca_verifier(tls::sandbox_ca_verifier(&material.ca, &opts)?);
            mtls_config.reload_from_config(tls::server_config(Host::Mtls, &material, &opts)?);
            Ok(())
        })
    };

    let watcher = Watcher::start(areas.provider.clone());
    apps.publish()?;
    info.publish(&state)?;
    Ok(Running {
        info,
        control,
        tasks,
        state,
        crl_watch,
        webhooks,
        watcher,
        apps,
        _lock: lock,
    })
}

/// Parses the token signing key for signing beside the last steps to ready
/// (the first token would pay for it otherwise); start-up only read its
/// public half. A key that cannot sign is said now, with its file.
fn warm_signing_key(authority: &Authority, state: &State) {
    let key = authority.keys().active;
    let file = state.path(key.alg.file_name());
    tokio::task::spawn_blocking(move || {
        if let Err(e) = key.warm() {
            tracing::error!(
                "the token signing key {} cannot sign ({e}): token requests will fail. Stop the sandbox, delete that file and start again to make a new key",
                file.display()
            );
        }
    });
}

impl Running {
    /// The running set of applications (`up --apps` adds the attendees').
    pub fn apps(&self) -> &Arc<Apps> {
        &self.apps
    }

    /// Stops accepting connections and lets in-flight requests finish;
    /// webhook deliveries and the provider's lifecycle events stop now (no
    /// retries after shutdown).
    pub fn shutdown(&self) {
        self.watcher.shutdown();
        self.webhooks.shutdown();
        self.control.graceful_shutdown(Some(DRAIN_TIMEOUT));
    }

    /// Waits until every listener has stopped, then removes `sandbox.json`
    /// so nobody mistakes a stopped sandbox for a running one.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(e) = joined
                .context("listener task panicked")
                .and_then(|r| r.context("listener failed"))
            {
                self.control.shutdown();
                result = Err(e);
            }
        }
        self.crl_watch.abort();
        self.watcher.stopped().await;
        self.webhooks.stopped().await;
        self.apps.unpublish();
        for name in RUNTIME_FILES {
            let _ = std::fs::remove_file(self.state.path(name));
        }
        result
    }
}

/// The authorization server's settings for this start: static clients
/// (config + the default app's own client), the signing key (`early` when
/// its generation started before the state was loaded), and the URLs
/// clients use.
pub fn authority_setup(
    state: &State,
    config: &Config,
    info: &SandboxInfo,
    entropy: &Entropy,
    ca_verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    early: Option<KeyInProgress>,
) -> anyhow::Result<Setup> {
    let key = load_signing_key(state, config.oauth.signing_alg, entropy, early)?;
    let mut statics = config.clients.clone();
    statics.push(Client::of_application(
        &state.app.client_id,
        format!("{} (default application)", state.app.name),
        config.app_auth_method,
        SecretRecord::new("default", &state.app.client_secret, true, entropy),
        None,
    ));
    let urls = Urls {
        auth: info.auth_url.clone(),
        mtls: info.mtls_url.clone(),
    };
    Ok(Setup {
        urls,
        statics,
        key,
        ca_verifier,
        require_binding: config.oauth.require_certificate_binding,
    })
}

/// Binds `host`'s listener on the configured address and, when that is
/// 127.0.0.1, also on `[::1]` with the same port: the server certificate
/// names both, and clients that resolve `localhost` to ::1 first must
/// connect. A machine without IPv6 gets a warning, not an error.
fn bind(config: &Config, host: Host, port: u16) -> anyhow::Result<Vec<TcpListener>> {
    let addr = SocketAddr::new(config.bind, port);
    let listener = TcpListener::bind(addr).map_err(|e| {
        let flag = format!("--{}-port", host.name());
        anyhow::anyhow!("cannot listen on {addr} for the {host} host: {e}. Stop whatever uses it, or pass {flag} 0 to pick a free port")
    })?;
    listener.set_nonblocking(true)?;
    let port = listener.local_addr()?.port();
    let mut bound = vec![listener];
    if config.bind == std::net::IpAddr::from([127, 0, 0, 1]) {
        let v6 = SocketAddr::new(std::net::Ipv6Addr::LOCALHOST.into(), port);
        match TcpListener::bind(v6).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
            Ok(listener) => bound.push(listener),
            Err(e) => tracing::warn!("the {host} host listens on {addr} only: cannot also listen on {v6}: {e}"),
        }
    }
    Ok(bound)
}

/// Issues a fresh server certificate for this start's host names (cheap:
/// one P-256 key and signature) and writes it next to the CA for tools
/// that want the same certificate (benchmarks against nginx).
fn tls_material(state: &State, config: &Config, entropy: &Arc<Entropy>) -> anyhow::Result<TlsMaterial> {
    let mut sans: Vec<String> = pki::DEFAULT_SERVER_SANS.iter().map(|s| s.to_string()).collect();
    sans.extend(config.public_host.iter().cloned());
    sans.extend(config.extra_sans.iter().cloned());
    if !config.bind.is_unspecified() && !config.bind.is_loopback() {
        sans.push(config.bind.to_string());
    }
    sans.dedup();
    let now = time::OffsetDateTime::now_utc();
    let earlier = (
        std::fs::read_to_string(state.path(files::SERVER_CERT)),
        std::fs::read_to_string(state.path(files::SERVER_KEY)),
    );
    let server = match earlier {
        (Ok(cert_pem), Ok(key_pem))
            if pki::server_cert_fits(&cert_pem, &key_pem, &state.intermediate.cert_pem, &sans, now) =>
        {
            // The whole chain as written last time; only the leaf is kept here.
            let leaf = pki::first_cert_der(&cert_pem, files::SERVER_CERT)?;
            let leaf_pem = pem::encode(&pem::Pem::new("CERTIFICATE", leaf.as_ref()));
            pki::CertAndKey {
                cert_pem: leaf_pem,
                key_pem,
            }
        }
        _ => {
            let server = state
                .issuing_ca()?
                .with_entropy(entropy.clone())
                .issue_server(&sans, now)?;
            let chain_pem = format!("{}{}", server.cert_pem, state.intermediate.cert_pem);
            state.write_runtime(files::SERVER_CERT, chain_pem.as_bytes(), false)?;
            state.write_runtime(files::SERVER_KEY, server.key_pem.as_bytes(), true)?;
            server
        }
    };
    let chain_pem = format!("{}{}", server.cert_pem, state.intermediate.cert_pem);
    Ok(TlsMaterial {
        server_chain: pki::certs_from_pem(&chain_pem, files::SERVER_CERT)?,
        server_key: pki::key_from_pem(&server.key_pem, files::SERVER_KEY)?,
        ca: ca_material(state)?,
    })
}

/// The sandbox CA with its current revocation list.
pub fn ca_material(state: &State) -> anyhow::Result<tls::CaMaterial> {
    Ok(tls::CaMaterial {
        root: state.root.cert_der()?,
        intermediate: state.intermediate.cert_der()?,
        crls: revocation::load_crl(state).into_iter().collect(),
    })
}

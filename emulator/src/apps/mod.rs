//! The sandbox's applications, as a provider's account has them: each with
//! its own client certificate (subject `CN=<name>`), app token, default
//! OAuth client, auth mode, files (`apps/<name>/`) and `sandbox.json`.
//!
//! The default application `my_app` is the one the state dir was created
//! with; its files stay where they always were (the top of the state dir,
//! `application` keeps its credentials) and it cannot be deleted. Others
//! are created and deleted at runtime (admin API, CLI) or declared in the
//! config file (`[[apps]]`, created at start when missing).
//!
//! [`Apps`] (here) is the running set and the one way to change it; the
//! lookups the resource API makes on every request (app token →
//! application, client id → application) are hash-map lookups on an
//! in-memory table, so a hundred applications cost a request nothing.
//! `app` is one application as requests see it, `record` owns the files,
//! `admin` is the `/admin/apps` edge.

pub mod admin;
mod app;
pub mod record;
mod table;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use time::OffsetDateTime;

use crate::application::Application;
use crate::entropy::Entropy;
use crate::info::SandboxInfo;
use crate::key_type::KeyType;
use crate::oauth::Authority;
use crate::oauth::client::{AuthMethod, Client, SecretRecord};
use crate::per_cert::PerCertificate;
use crate::revocation::Revocations;
use crate::state::State;
use app::same_secret;
pub use app::{App, AppSpec, AuthMode, PortalLink};
pub use record::{AppFiles, DEFAULT_APP, id_of, validate_name};
use record::{AppRecord, NewApp};
use table::Table;

/// Most applications besides the default one. Each costs a key pair at
/// creation; a runaway script creating one per test run should meet a
/// clear refusal, not a slowly filling disk.
pub const MAX_APPS: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("'{name}' is not a valid application name: {why}. Use 1 to 32 of [a-z0-9_-], starting with [a-z0-9]")]
    InvalidName { name: String, why: String },
    #[error("an application named '{0}' already exists (GET /admin/apps or `mtls-sandbox apps list` lists them)")]
    Exists(String),
    #[error("no application named '{0}' (GET /admin/apps or `mtls-sandbox apps list` lists them)")]
    Unknown(String),
    #[error(
        "'{DEFAULT_APP}' is the default application: it cannot be deleted or created again (its files are the state dir's own)"
    )]
    Default,
    #[error(
        "this sandbox already has {MAX_APPS} applications besides {DEFAULT_APP}, the most it holds; delete unused ones first"
    )]
    TooMany,
    #[error(
        "application '{name}': {path} is damaged: {detail}.\n  Restore it from a backup, or remove {dir} \
         (or run `mtls-sandbox apps delete {name}` on a running sandbox) and create the application again; \
         its customers stay in records.db"
    )]
    Damaged {
        path: PathBuf,
        detail: String,
        dir: PathBuf,
        name: String,
    },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("could not create the application's certificate: {0}")]
    Pki(#[from] crate::pki::PkiError),
    #[error("could not revoke the application's certificate: {0}")]
    Revoke(#[from] crate::revocation::RevokeError),
    #[error(transparent)]
    Registry(#[from] crate::oauth::registry::RegistryError),
}

/// `base` (the default application's `sandbox.json`) with `record`'s
/// credentials and files.
fn info_for(base: &SandboxInfo, record: &AppRecord, auth_method: AuthMethod) -> SandboxInfo {
    let files = AppFiles::new(&base.state_dir, record.name());
    let c = &record.credentials;
    SandboxInfo {
        app_token: c.app_token.clone(),
        client_id: c.client_id.clone(),
        client_secret: c.client_secret.clone(),
        token_endpoint_auth_method: auth_method.name().to_owned(),
        client_cert: files.cert(),
        client_key: files.key(),
        client_p12: files.p12(),
        p12_password: c.p12_password.clone(),
        portal_url: None,
        portal_token: None,
        ..base.clone()
    }
}

/// What `sandbox.json` would say for the application `name` of the state
/// dir `base` describes, read from its files (for `env --app` with no
/// sandbox running).
pub fn describe(base: &SandboxInfo, name: &str, auth_method: AuthMethod) -> Result<SandboxInfo, AppError> {
    if name == DEFAULT_APP {
        return Ok(base.clone());
    }
    validate_name(name)?;
    let record = record::load_all(&base.state_dir)?
        .into_iter()
        .find(|r| r.name() == name)
        .ok_or_else(|| AppError::Unknown(name.to_owned()))?;
    Ok(info_for(base, &record, auth_method))
}

/// A line of `GET /admin/apps`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppSummary {
    pub name: String,
    pub auth_mode: AuthMode,
    pub client_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// What every application is made with: the settings of the default one.
#[derive(Debug, Clone, Copy)]
pub struct AppSettings {
    /// The default application's auth mode (`[app] auth_mode`).
    pub default_mode: AuthMode,
    /// How applications' OAuth clients authenticate at the token endpoint.
    pub auth_method: AuthMethod,
    /// The key type of new applications' certificates.
    pub key_type: KeyType,
}

/// What runs after an application is deleted, with what it was.
type DeleteHook = Box<dyn Fn(&App) + Send + Sync>;

/// The running set of applications.
pub struct Apps {
    state: State,
    authority: Arc<Authority>,
    revocations: Arc<Revocations>,
    default: Arc<Application>,
    settings: AppSettings,
    entropy: Arc<Entropy>,
    table: RwLock<Table>,
    /// The CN of each certificate seen: parsed once, not on every request
    /// (shared, not copied: a request costs no allocation).
    common_names: PerCertificate<Option<Arc<str>>>,
    /// Creations and deletions one at a time: each touches files, the OAuth
    /// registry and the table, which must agree.
    changing: Mutex<()>,
    /// See [`Apps::on_delete`].
    deleted: RwLock<Vec<DeleteHook>>,
}

impl Apps {
    /// The default application and every one in `state`'s `apps/`, then
    /// those of `declared` (the config file) that are missing, created now;
    /// a declared application whose auth mode changed gets the new one.
    pub fn load(
        state: State,
        authority: Arc<Authority>,
        revocations: Arc<Revocations>,
        default: Arc<Application>,
        settings: AppSettings,
        entropy: Arc<Entropy>,
        declared: &[AppSpec],
    ) -> Result<Self, AppError> {
        let credentials = default.credentials();
        let mut table = Table::default();
        table.insert(Arc::new(App {
            name: credentials.name.clone(),
            id: crate::records::DEFAULT_OWNER.to_owned(),
            auth_mode: settings.default_mode,
            client_id: credentials.client_id.clone(),
            app_token: credentials.app_token.clone(),
            created_at: state.created_at,
            record: None,
            portal: None,
        }));
        let apps = Self {
            state,
            authority,
            revocations,
            default,
            settings,
            entropy,
            table: RwLock::new(table),
            common_names: PerCertificate::default(),
            changing: Mutex::default(),
            deleted: RwLock::default(),
        };
        for record in record::load_all(&apps.state.dir)? {
            apps.register(record)?;
        }
        apps.create_missing(declared)?;
        for spec in declared {
            match apps.find(&spec.name) {
                Some(app) if app.auth_mode == spec.auth_mode => {}
                Some(_) => apps.set_auth_mode(&spec.name, spec.auth_mode)?,
                None => {
                    apps.create(&spec.name, spec.auth_mode)?;
                }
            }
        }
        Ok(apps)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The application whose app token this is.
    pub fn by_app_token(&self, presented: &str) -> Option<Arc<App>> {
        self.read()
            .by_token
            .get(presented)
            .filter(|app| app.token_matches(presented))
            .cloned()
    }

    /// The application whose portal token this is (constant-time compare).
    pub fn by_portal_token(&self, presented: &str) -> Option<Arc<App>> {
        self.read()
            .by_portal
            .get(presented)
            .filter(|app| app.portal.as_ref().is_some_and(|l| same_secret(presented, &l.token)))
            .cloned()
    }

    /// The application whose portal session lives under `/portal/<session>/`.
    pub fn by_portal_session(&self, session: &str) -> Option<Arc<App>> {
        self.read()
            .by_session
            .get(session)
            .filter(|app| app.portal.as_ref().is_some_and(|l| same_secret(session, &l.session)))
            .cloned()
    }

    /// The application an OAuth client belongs to: an application's own
    /// client (a map lookup), else the one the client names, else the
    /// default application (the config's clients, clients created through
    /// `/clients`). `None` for a client, or its application, that no longer
    /// exists: a deleted application's tokens must not act for `my_app`.
    pub fn by_client_id(&self, client_id: &str) -> Option<Arc<App>> {
        if let Some(app) = self.read().by_client.get(client_id) {
            return Some(app.clone());
        }
        match self.authority.registry.get(client_id) {
            Ok(Some(client)) => match client.app {
                Some(id) => self.read().by_id.get(&id).cloned(),
                None => Some(self.default_app()),
            },
            Ok(None) => None,
            Err(e) => {
                tracing::error!("oauth registry: {e}");
                None
            }
        }
    }

    /// The application a client certificate (DER) names: its subject's CN
    /// is an application's name, as in every certificate the sandbox issues
    /// to one. `None` for other certificates (made for a test, or for a
    /// client of the user's own).
    pub fn by_certificate(&self, der: &[u8]) -> Option<Arc<App>> {
        let cn = self
            .common_names
            .get(der, |der| crate::pki::common_name_of(der).map(Arc::from))?;
        self.read().by_name.get(&*cn).cloned()
    }

    /// The application with this id (the owner stamped on its customers
    /// and objects); `None` once it is deleted.
    pub fn by_id(&self, id: &str) -> Option<Arc<App>> {
        self.read().by_id.get(id).cloned()
    }

    /// Runs `hook` after every deletion, whichever path deleted the
    /// application: what other parts keep per application (its webhook URL
    /// and queue, its own time) goes with it, without this module knowing them.
    pub fn on_delete(&self, hook: impl Fn(&App) + Send + Sync + 'static) {
        self.deleted
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(hook));
    }

    /// The default application.
    pub fn default_app(&self) -> Arc<App> {
        self.read().by_name[DEFAULT_APP].clone()
    }

    /// The application called `name`.
    pub fn find(&self, name: &str) -> Option<Arc<App>> {
        self.read().by_name.get(name).cloned()
    }

    /// Every application, the default one first, then by creation.
    pub fn list(&self) -> Vec<AppSummary> {
        let table = self.read();
        let mut apps: Vec<&Arc<App>> = table.by_name.values().collect();
        apps.sort_by_key(|app| (!app.is_default(), app.created_at, app.name.clone()));
        apps.into_iter()
            .map(|app| AppSummary {
                name: app.name.clone(),
                auth_mode: app.auth_mode,
                client_id: app.client_id.clone(),
                created_at: app.created_at,
            })
            .collect()
    }

    /// What `sandbox.json` says for the application `name`.
    pub fn info(&self, name: &str) -> Result<SandboxInfo, AppError> {
        let app = self.find(name).ok_or_else(|| AppError::Unknown(name.to_owned()))?;
        Ok(self.info_of(&app))
    }

    /// The default application's `sandbox.json` with this application's
    /// credentials, files and portal link: the same shape, so a tool
    /// reading it works unchanged as this application. The owner's portal
    /// link stays in the default application's only: it sees every
    /// application.
    fn info_of(&self, app: &App) -> SandboxInfo {
        let Some(record) = &app.record else {
            return (*self.default.info()).clone();
        };
        let info = info_for(&self.default.info(), record, self.settings.auth_method);
        match &app.portal {
            Some(link) => info.with_portal(&link.token),
            None => info,
        }
    }

    /// Creates the application `name` (files, OAuth client, `sandbox.json`)
    /// and returns its `sandbox.json`.
    pub fn create(&self, name: &str, auth_mode: AuthMode) -> Result<SandboxInfo, AppError> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        if name == DEFAULT_APP {
            return Err(AppError::Default);
        }
        validate_name(name)?;
        if self.find(name).is_some() {
            return Err(AppError::Exists(name.to_owned()));
        }
        if self.read().by_name.len() > MAX_APPS {
            return Err(AppError::TooMany);
        }
        let record = record::create(&self.state, &self.new_app(name, auth_mode, self.authority.now()))?;
        self.serve_created(record)
    }

    fn new_app<'a>(&'a self, name: &'a str, auth_mode: AuthMode, now: OffsetDateTime) -> NewApp<'a> {
        NewApp {
            name,
            auth_mode,
            key_type: self.settings.key_type,
            now,
            entropy: &self.entropy,
        }
    }

    /// Registers and publishes an application [`record::create`] has just
    /// made; if it cannot be served, its files go again.
    fn serve_created(&self, record: AppRecord) -> Result<SandboxInfo, AppError> {
        let (name, auth_mode) = (record.name().to_owned(), record.auth_mode);
        let app = match self.register(record) {
            Ok(app) => app,
            Err(e) => {
                let _ = record::remove(&self.state.dir, &name);
                return Err(e);
            }
        };
        let info = self.info_of(&app);
        self.publish_one(&name, &info)?;
        tracing::info!(target: "apps", "application {name} created ({})", auth_mode.name());
        Ok(info)
    }

    /// Creates those of `specs` that do not exist yet (at start: `[[apps]]`,
    /// `up --apps`), as [`Apps::create`] one after the other would — same
    /// order, same refusals, and after a failure none of the later ones —
    /// but with their files made on every core. Each application costs a
    /// key pair (RSA-2048 by default: 50–200 ms, most of a creation) and a
    /// PKCS#12, so a workshop's hundred attendees took 100 of them in a row.
    /// A seeded run (`--deterministic`) creates them one at a time, so each
    /// application draws the same values from the seeded stream as before.
    pub fn create_missing(&self, specs: &[AppSpec]) -> Result<(), AppError> {
        let mut missing: Vec<&AppSpec> = Vec::new();
        for spec in specs {
            if self.find(&spec.name).is_none() && !missing.iter().any(|m| m.name == spec.name) {
                missing.push(spec);
            }
        }
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(missing.len());
        if workers <= 1 || self.entropy.is_seeded() {
            for spec in missing {
                self.create(&spec.name, spec.auth_mode)?;
            }
            return Ok(());
        }
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        // What `create` refuses before making anything, in order; the rest
        // is made in parallel, each with its own creation time (the list's
        // order).
        let room = (MAX_APPS + 1).saturating_sub(self.read().by_name.len());
        let planned: Vec<Result<NewApp, AppError>> = missing
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                if spec.name == DEFAULT_APP {
                    return Err(AppError::Default);
                }
                validate_name(&spec.name)?;
                if i >= room {
                    return Err(AppError::TooMany);
                }
                Ok(self.new_app(&spec.name, spec.auth_mode, self.authority.now()))
            })
            .collect();
        let made = parallel_map(&planned, workers, |new| {
            new.as_ref().ok().map(|new| record::create(&self.state, new))
        });
        let mut failed = None;
        for (plan, made) in planned.into_iter().zip(made) {
            let made = plan.and_then(|_| made.expect("made when planned"));
            match (made, &failed) {
                (Ok(record), None) => {
                    if let Err(e) = self.serve_created(record) {
                        failed = Some(e);
                    }
                }
                (Ok(record), Some(_)) => {
                    let _ = record::remove(&self.state.dir, record.name());
                }
                (Err(e), None) => failed = Some(e),
                (Err(_), Some(_)) => {}
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Deletes the application `name`: its certificate is revoked, its
    /// OAuth client and files removed. Its customers and objects stay in
    /// `records.db`, owned by an id no application has any more.
    pub fn delete(&self, name: &str) -> Result<(), AppError> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let app = self.find(name).ok_or_else(|| AppError::Unknown(name.to_owned()))?;
        if app.is_default() {
            return Err(AppError::Default);
        }
        let files = AppFiles::new(&self.state.dir, name);
        let cert = std::fs::read_to_string(files.cert()).map_err(|source| AppError::Io {
            action: "read",
            path: files.cert(),
            source,
        })?;
        self.revocations.revoke(&cert, &files.cert().display().to_string())?;
        self.write().remove(name);
        self.authority.registry.remove_app_client(&app.client_id);
        record::remove(&self.state.dir, name)?;
        for hook in self.deleted.read().unwrap_or_else(|p| p.into_inner()).iter() {
            hook(&app);
        }
        tracing::info!(target: "apps", "application {name} deleted; its certificate is revoked");
        Ok(())
    }

    /// Writes every application's `sandbox.json` and `sandbox.env` (at
    /// start, before the top-level `sandbox.json` announces readiness).
    pub fn publish(&self) -> Result<(), AppError> {
        let apps: Vec<Arc<App>> = self
            .read()
            .by_name
            .values()
            .filter(|a| !a.is_default())
            .cloned()
            .collect();
        for app in apps {
            self.publish_one(&app.name, &self.info_of(&app))?;
        }
        Ok(())
    }

    /// Removes what [`Apps::publish`] wrote (at shutdown): a stopped
    /// sandbox must not look like a running one, whichever file is read.
    pub fn unpublish(&self) {
        for app in self.read().by_name.values().filter(|app| !app.is_default()) {
            let files = AppFiles::new(&self.state.dir, &app.name);
            let _ = std::fs::remove_file(files.sandbox_json());
            let _ = std::fs::remove_file(files.sandbox_env());
        }
    }

    fn publish_one(&self, name: &str, info: &SandboxInfo) -> Result<(), AppError> {
        let files = AppFiles::new(&self.state.dir, name);
        // sandbox.json last, as for the top-level one.
        for (path, text) in [
            (files.sandbox_env(), info.to_env()),
            (files.sandbox_json(), info.to_json()),
        ] {
            crate::fsutil::write_replace(&path, text.as_bytes(), crate::fsutil::SECRET_MODE).map_err(|source| {
                AppError::Io {
                    action: "write",
                    path,
                    source,
                }
            })?;
        }
        Ok(())
    }

    fn set_auth_mode(&self, name: &str, auth_mode: AuthMode) -> Result<(), AppError> {
        let _one_at_a_time = self.changing.lock().unwrap_or_else(|p| p.into_inner());
        let mut record = self
            .find(name)
            .and_then(|app| app.record.clone())
            .ok_or_else(|| AppError::Unknown(name.to_owned()))?;
        record.auth_mode = auth_mode;
        record::save(&self.state.dir, &record)?;
        self.write().remove(name);
        self.register(record).map(drop)
    }

    /// Serves `record`: its OAuth client in the registry (as the default
    /// application's: a static client, its secret kept as `state.json`
    /// keeps the default one's) and its entry in the table.
    fn register(&self, record: AppRecord) -> Result<Arc<App>, AppError> {
        let c = &record.credentials;
        self.authority.registry.add_app_client(
            &c.name,
            Client::of_application(
                &c.client_id,
                format!("{} (application)", c.name),
                self.settings.auth_method,
                SecretRecord::new("default", &c.client_secret, true, &self.entropy),
                Some(record.id.clone()),
            ),
        )?;
        let app = Arc::new(App {
            name: c.name.clone(),
            id: record.id.clone(),
            auth_mode: record.auth_mode,
            client_id: c.client_id.clone(),
            app_token: c.app_token.clone(),
            created_at: record.created_at,
            record: Some(record.clone()),
            portal: Some(PortalLink::new()),
        });
        self.write().insert(app.clone());
        Ok(app)
    }
}

/// `f` of each of `items`, in their order, computed on `workers` threads.
fn parallel_map<T: Sync, R: Send>(items: &[T], workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = f(item);
                    done.lock().unwrap_or_else(|p| p.into_inner()).push((i, result));
                }
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
#[path = "apps_tests.rs"]
mod tests;

//! Webhooks: the sandbox POSTs the provider's events (`entity.created`,
//! `payment.updated`, …) to the URL an application registered, in the
//! provider's envelope ([`envelope`]), in order, with retries.
//!
//! [`Webhooks`] is a service the server owns and hands (as
//! `Arc<Webhooks>`) to the areas whose state changes are events:
//! [`Webhooks::emit`] stamps the event (id from the sandbox's entropy,
//! timestamp from its clock) and queues it, never waiting on the network.
//! One worker per application ([`deliver`]) sends that application's events
//! one at a time, so a receiver sees them in the order they happened, and
//! reports every attempt to the [`Inspector`], where the portal shows it.
//!
//! The URL is set per application (by name): `[webhooks] url` in the config
//! file for the default one, or at runtime through `/admin/webhooks?app=`
//! ([`admin`]), `mtls-sandbox webhooks --app` and the portal
//! ([`Webhooks::set_url_for`], [`Webhooks::clear_url_for`]); runtime
//! changes are kept in `webhooks.json` ([`store`]) and survive a restart,
//! but a URL in the config file wins at start. An event goes only to the
//! URL of the application it belongs to (the areas say which, see
//! [`Webhooks::emit_for`]): an application without a URL gets nothing, and
//! never another's events. A deleted application's URL and queue go with
//! it ([`Webhooks::forget`]).
//! Nothing is ever sent to a URL that did not pass [`url::WebhookUrl`], and
//! an event queued for a URL that was since changed or cleared is dropped.
//!
//! This module must not know which area emits what: the areas name their
//! events (see [`envelope::events`]).

pub mod admin;
mod deliver;
pub mod envelope;
pub mod outbox;
pub mod retry;
pub mod settings;
mod store;
pub mod url;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use serde_json::Value;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::apps::Apps;
use crate::clock::Clock;
use crate::entropy::Entropy;
use crate::inspector::Inspector;
use crate::oauth::Authority;
pub use envelope::Envelope;
use outbox::Outbox;
pub use settings::{WebhookSettings, WebhooksSection};
pub use url::{UrlError, WebhookUrl};

/// Where an application's URL came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `[webhooks] url` in the config file.
    Config,
    /// The admin API, the CLI or the portal (kept in `webhooks.json`).
    Runtime,
}

/// An application's webhook URL and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub url: WebhookUrl,
    pub source: Source,
}

/// Why a webhook setting could not be changed or the service built.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot save the webhook URL in {path}: {source}")]
    Store { path: PathBuf, source: std::io::Error },
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// What the service needs from the server besides its settings.
pub struct Setup {
    /// The default application's name: [`Webhooks::emit`] sends to its URL.
    pub application: String,
    /// `webhooks.json` in the state dir.
    pub store: PathBuf,
    /// The sandbox's own CA certificates (PEM), trusted besides the system's
    /// roots for https receivers that use a certificate it issued.
    pub ca_pem: Vec<u8>,
    pub clock: Arc<Clock>,
    pub entropy: Arc<Entropy>,
    pub inspector: Arc<Inspector>,
}

/// An event waiting for delivery, bound to the URL it was emitted for.
#[derive(Debug)]
struct Pending {
    envelope: Envelope,
    body: axum::body::Bytes,
    url: WebhookUrl,
}

/// One application's queue and the worker's wake-up call.
struct Lane {
    outbox: Mutex<Outbox<Pending>>,
    wake: Notify,
    /// Set when the application is deleted: its worker ends, so creating
    /// and deleting applications all day leaves no task behind.
    closed: AtomicBool,
}

/// The webhook service: URLs per application, queues, delivery workers.
pub struct Webhooks {
    application: String,
    settings: WebhookSettings,
    destinations: RwLock<BTreeMap<String, Destination>>,
    store: PathBuf,
    lanes: Mutex<HashMap<String, Arc<Lane>>>,
    clock: Arc<Clock>,
    entropy: Arc<Entropy>,
    inspector: Arc<Inspector>,
    /// Built at the first delivery from `roots` (see `deliver::build_client`).
    http: OnceLock<Result<reqwest::Client, String>>,
    roots: Vec<reqwest::Certificate>,
    stop: watch::Sender<bool>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Webhooks {
    /// The service with the URLs stored by earlier runs, the config file's
    /// URL (which wins) for the default application, and no worker yet:
    /// each starts with its application's first event.
    pub fn new(settings: WebhookSettings, setup: Setup) -> Result<Self, WebhookError> {
        let mut destinations: BTreeMap<String, Destination> = store::load(&setup.store)
            .into_iter()
            .map(|(app, url)| {
                let destination = Destination {
                    url,
                    source: Source::Runtime,
                };
                (app, destination)
            })
            .collect();
        if let Some(url) = &settings.url {
            destinations.insert(
                setup.application.clone(),
                Destination {
                    url: url.clone(),
                    source: Source::Config,
                },
            );
        }
        Ok(Self {
            http: OnceLock::new(),
            roots: deliver::sandbox_roots(&setup.ca_pem)?,
            application: setup.application,
            settings,
            destinations: RwLock::new(destinations),
            store: setup.store,
            lanes: Mutex::default(),
            clock: setup.clock,
            entropy: setup.entropy,
            inspector: setup.inspector,
            stop: watch::channel(false).0,
            workers: Mutex::default(),
        })
    }

    /// The default application's name.
    pub fn application(&self) -> &str {
        &self.application
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// Queues an event for the default application. Returns its `event_id`,
    /// or `None` when nothing is sent: the application has no webhook URL,
    /// the sandbox is stopping, or `event_type` is not a dotted lowercase
    /// name like `payment.created` (logged).
    pub fn emit(self: &Arc<Self>, event_type: &str, message: &str, payload: Value) -> Option<String> {
        let application = self.application.clone();
        self.emit_for(&application, event_type, message, payload)
    }

    /// Queues an event for `application`'s URL; see [`Webhooks::emit`].
    pub fn emit_for(
        self: &Arc<Self>,
        application: &str,
        event_type: &str,
        message: &str,
        payload: Value,
    ) -> Option<String> {
        if !envelope::is_event_type(event_type) {
            tracing::warn!(target: "webhooks", "event type {event_type:?} is not a dotted lowercase name: event not sent");
            return None;
        }
        let Some(destination) = self.destination_for(application) else {
            tracing::debug!(target: "webhooks", application, event_type, "no webhook URL: event not sent");
            return None;
        };
        if *self.stop.borrow() {
            tracing::warn!(target: "webhooks", event_type, "the sandbox is stopping: event not sent");
            return None;
        }
        let envelope = Envelope::new(event_type, message, payload, self.entropy.uuid(), self.clock.now());
        let event_id = envelope.event_id.clone();
        let pending = Pending {
            body: envelope.body().into(),
            envelope,
            url: destination.url,
        };
        let lane = self.lane(application);
        let dropped = lane.outbox.lock().unwrap_or_else(|p| p.into_inner()).push(pending);
        if let Some(old) = dropped {
            tracing::warn!(
                target: "webhooks",
                event_type = %old.envelope.event_type,
                event_id = %old.envelope.event_id,
                "webhook queue full ({} waiting for {}): the oldest event is dropped",
                self.settings.queue_capacity,
                old.url
            );
        }
        lane.wake.notify_one();
        Some(event_id)
    }

    /// The default application's URL.
    pub fn destination(&self) -> Option<Destination> {
        self.destination_for(&self.application)
    }

    /// `application`'s URL, if it has one.
    pub fn destination_for(&self, application: &str) -> Option<Destination> {
        let destinations = self.destinations.read().unwrap_or_else(|p| p.into_inner());
        destinations.get(application).cloned()
    }

    /// Whether any application has a URL: without one, the lifecycle
    /// watcher has nothing to do.
    pub fn any_destination(&self) -> bool {
        !self.destinations.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Sets the default application's URL (kept for the next start).
    pub fn set_url(&self, url: WebhookUrl) -> Result<(), WebhookError> {
        self.change(&self.application, Some(url))
    }

    /// Clears the default application's URL; false when none was set.
    pub fn clear_url(&self) -> Result<bool, WebhookError> {
        let application = self.application.clone();
        self.clear_url_for(&application)
    }

    /// Sets `application`'s URL (kept for the next start). The caller
    /// checks that the application exists: this service only keeps names.
    pub fn set_url_for(&self, application: &str, url: WebhookUrl) -> Result<(), WebhookError> {
        self.change(application, Some(url))
    }

    /// Clears `application`'s URL; false when none was set.
    pub fn clear_url_for(&self, application: &str) -> Result<bool, WebhookError> {
        let had = self.destination_for(application).is_some();
        self.change(application, None)?;
        Ok(had)
    }

    /// Forgets the URLs of applications `exists` no longer knows (at start:
    /// one deleted by hand while the sandbox was stopped), so that none
    /// reaches a new application of the same name; returns their names.
    pub fn forget_missing(&self, exists: impl Fn(&str) -> bool) -> Result<Vec<String>, WebhookError> {
        let missing: Vec<String> = self
            .destinations
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|name| !exists(name))
            .cloned()
            .collect();
        for name in &missing {
            self.forget(name)?;
        }
        Ok(missing)
    }

    /// Forgets the deleted `application`: its URL (stored too), its waiting
    /// events and its worker. A new application of the same name starts
    /// with no URL, as it starts with no customers.
    pub fn forget(&self, application: &str) -> Result<(), WebhookError> {
        let lane = self.lanes.lock().unwrap_or_else(|p| p.into_inner()).remove(application);
        if let Some(lane) = lane {
            lane.closed.store(true, Ordering::SeqCst);
            lane.outbox.lock().unwrap_or_else(|p| p.into_inner()).clear();
            lane.wake.notify_one();
        }
        if self.destination_for(application).is_some() {
            self.change(application, None)?;
        }
        Ok(())
    }

    /// Sets or clears `application`'s URL, stores the runtime URLs, and
    /// drops the events still waiting for the previous URL.
    fn change(&self, application: &str, url: Option<WebhookUrl>) -> Result<(), WebhookError> {
        let mut destinations = self.destinations.write().unwrap_or_else(|p| p.into_inner());
        let mut next = destinations.clone();
        match &url {
            Some(url) => {
                next.insert(
                    application.to_owned(),
                    Destination {
                        url: url.clone(),
                        source: Source::Runtime,
                    },
                );
            }
            None => {
                next.remove(application);
            }
        }
        let stored = next
            .iter()
            .filter(|(_, d)| d.source == Source::Runtime)
            .map(|(app, d)| (app.clone(), d.url.clone()))
            .collect();
        store::save(&self.store, &stored).map_err(|source| WebhookError::Store {
            path: self.store.clone(),
            source,
        })?;
        let changed = destinations.get(application).map(|d| &d.url) != url.as_ref();
        *destinations = next;
        drop(destinations);
        match &url {
            Some(url) => tracing::info!(target: "webhooks", application, "webhook URL set to {url}"),
            None => tracing::info!(target: "webhooks", application, "webhook URL cleared"),
        }
        if changed {
            let lane = self
                .lanes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(application)
                .cloned();
            let dropped = lane.map_or(0, |l| l.outbox.lock().unwrap_or_else(|p| p.into_inner()).clear());
            if dropped > 0 {
                tracing::warn!(
                    target: "webhooks",
                    application,
                    "{dropped} waiting webhook event(s) dropped: the URL they were for was changed"
                );
            }
        }
        Ok(())
    }

    /// `application`'s lane, created (with its worker) on first use.
    fn lane(self: &Arc<Self>, application: &str) -> Arc<Lane> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lane) = lanes.get(application) {
            return lane.clone();
        }
        let lane = Arc::new(Lane {
            outbox: Mutex::new(Outbox::new(self.settings.queue_capacity)),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        });
        lanes.insert(application.to_owned(), lane.clone());
        // Outside a runtime (unit tests of the queue) events only wait.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let worker = runtime.spawn(self.clone().run_lane(application.to_owned(), lane.clone()));
            self.workers.lock().unwrap_or_else(|p| p.into_inner()).push(worker);
        }
        lane
    }

    /// Stops the workers: no new attempt starts, no retry waits on, an
    /// attempt in flight is abandoned. Waiting events are dropped (logged).
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Stops the workers and waits until they have ended.
    pub async fn stopped(&self) {
        self.shutdown();
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for worker in workers {
            let _ = worker.await;
        }
    }
}

/// What the auth host's `/admin/webhooks` works with: the service, the
/// applications (`?app=` must name one), and the authorization server the
/// `Admin` extractor asks.
#[derive(Clone)]
pub struct WebhookState {
    pub webhooks: Arc<Webhooks>,
    pub apps: Arc<Apps>,
    pub authority: Arc<Authority>,
}

impl axum::extract::FromRef<WebhookState> for Arc<Authority> {
    fn from_ref(state: &WebhookState) -> Self {
        state.authority.clone()
    }
}

/// The auth host's `/admin/webhooks` and `/admin/webhooks/test`.
pub fn routes(state: WebhookState) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/admin/webhooks", get(admin::show).put(admin::set).delete(admin::clear))
        .route("/admin/webhooks/test", post(admin::test))
        .with_state(state)
}

#[cfg(test)]
#[path = "webhooks_tests.rs"]
mod tests;

//! The provider's webhook events, as the profile names them: what a call
//! makes sends its event at once (`entity.created`, `payment.created`:
//! `event` on an endpoint or a generator), and the lifecycle steps objects
//! reach on the sandbox clock send theirs (`payment.updated`: `event` on a
//! `[[lifecycles]]` entry), one per step, in order, once.
//!
//! Statuses are computed from the clock, never stored
//! ([`Engine::lifecycle`]), and the clock jumps when an admin moves it; so a
//! [`Watcher`] task looks every second for tracked objects whose next step
//! is due, and sends every step between the last one sent and the current
//! one. How far each object got is kept in the records database
//! (`provider_progress`) and written before its events are queued, so a
//! restart never sends a step twice nor forgets one still to come.
//!
//! Every event goes to the application that owns the object: the caller's
//! for what a call makes, the owner stamped on the object for a lifecycle
//! step (traced back to the application's name, [`Owners`]). An object is
//! tracked only while its application has a webhook URL, and the watcher
//! ticks only while some application has one: without, a call or a tick
//! costs a lock read. An object whose application was deleted sends
//! nothing more. This module sends through [`Webhooks::emit_for`]; it owns
//! no HTTP.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Provider;
use super::engine::{Engine, object_vars};
use super::profile::Lifecycle;
use super::store::{Object, Progress};
use crate::records::RecordsError;
use crate::webhooks::Webhooks;

/// How often the watcher looks for lifecycle steps that are due.
pub const TICK: Duration = Duration::from_secs(1);

/// Most objects one tick moves on: the rest wait for the next tick.
pub const MAX_PER_TICK: u64 = 100;

/// The name of the application with this owner id (see
/// [`Store::owner`](super::store::Store::owner)); `None` once it is deleted.
pub type Owners<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Sends the events of what `engine`'s call made to `application` (the
/// name of the one the call acted for, whose store `engine` has), and
/// starts tracking the lifecycle of what it made. Nothing without a
/// webhook URL.
pub fn publish(engine: &Engine, webhooks: &Arc<Webhooks>, application: &str) {
    let made = engine.made.take();
    if made.is_empty() || webhooks.destination_for(application).is_none() {
        return;
    }
    for made in made {
        if let Some((event, payload)) = made.event {
            webhooks.emit_for(application, &event, &message(&event, None), payload);
        }
        if let Some(object) = made.object
            && let Err(e) = track(engine, &object)
        {
            tracing::error!("provider events: cannot track {} {}: {e}", object.collection, object.id);
        }
    }
}

/// Records where a new object's lifecycle starts, if it has one that sends events.
fn track(engine: &Engine, object: &Object) -> Result<(), RecordsError> {
    let Some(lifecycle) = engine
        .profile
        .lifecycle(&object.collection)
        .filter(|l| l.event.is_some())
    else {
        return Ok(());
    };
    let sent = lifecycle.position(object.fails, 0).map_or(-1, |i| i as i64);
    match next_due(lifecycle, object.fails, object.created_at, sent) {
        Some(due_at) => engine.store.set_progress(&Progress {
            collection: object.collection.clone(),
            id: object.id.clone(),
            sent,
            due_at,
        }),
        None => Ok(()),
    }
}

/// The indexes (in [`Lifecycle::path`]) of the steps to send for an object
/// `elapsed` seconds old whose step `sent` was the last sent (-1: none).
pub fn steps_to_send(lifecycle: &Lifecycle, fails: bool, elapsed: i64, sent: i64) -> Range<usize> {
    let from = usize::try_from(sent + 1).unwrap_or(0);
    let to = lifecycle.position(fails, elapsed).map_or(0, |i| i + 1);
    from..to.max(from)
}

/// When (unix seconds) the step after `sent` is reached; `None` after the last.
pub fn next_due(lifecycle: &Lifecycle, fails: bool, created_at: OffsetDateTime, sent: i64) -> Option<i64> {
    let next = usize::try_from(sent + 1).unwrap_or(0);
    let step = lifecycle.path(fails).get(next).copied()?;
    Some(created_at.unix_timestamp().saturating_add(step.after))
}

/// Sends the lifecycle steps due at `engine.now` (for at most
/// [`MAX_PER_TICK`] objects; an object whose application's time is its own
/// by that application's, `offsets` in seconds by application id), each to
/// the application that owns the object (`owners` names it); returns what
/// was queued: (object id, status). The steps of an object whose
/// application has no URL, or no longer exists, pass unsent.
pub fn tick(
    engine: &Engine,
    webhooks: &Arc<Webhooks>,
    owners: &Owners,
    offsets: &BTreeMap<String, i64>,
) -> Result<Vec<(String, String)>, RecordsError> {
    let mut sent_events = Vec::new();
    for progress in engine.store.due(engine.now.unix_timestamp(), offsets, MAX_PER_TICK)? {
        let found = engine.store.get(&progress.collection, &progress.id, None)?;
        let lifecycle = engine
            .profile
            .lifecycle(&progress.collection)
            .filter(|l| l.event.is_some());
        let (Some(object), Some(lifecycle)) = (found, lifecycle) else {
            engine.store.end_progress(&progress.collection, &progress.id)?;
            continue;
        };
        let owner = engine.store.owner_of(&object.collection, &object.id)?;
        let offset = owner.as_ref().and_then(|id| offsets.get(id)).copied().unwrap_or(0);
        let elapsed = (engine.now - object.created_at).whole_seconds().saturating_add(offset);
        let steps = steps_to_send(lifecycle, object.fails, elapsed, progress.sent);
        let sent = steps.clone().last().map_or(progress.sent, |i| i as i64);
        // The progress first: a crash after it loses a queued event at
        // worst, as a stop does, but never sends a step twice.
        match next_due(lifecycle, object.fails, object.created_at, sent) {
            Some(due_at) => engine.store.set_progress(&Progress {
                sent,
                due_at,
                ..progress
            })?,
            None => engine.store.end_progress(&object.collection, &object.id)?,
        }
        let event = lifecycle.event.as_deref().unwrap_or_default();
        let Some(application) = owner.and_then(|id| owners(&id)) else {
            continue;
        };
        for index in steps {
            let status = &lifecycle.path(object.fails)[index].status;
            match step_payload(engine, lifecycle, &object, status) {
                Ok(payload) => {
                    if webhooks
                        .emit_for(&application, event, &message(event, Some(status)), payload)
                        .is_some()
                    {
                        sent_events.push((object.id.clone(), status.clone()));
                    }
                }
                Err(e) => tracing::error!("provider events: {event} for {}: {}", object.id, e.message),
            }
        }
    }
    Ok(sent_events)
}

/// The object as a read shows it at the step with `status` (through the
/// lifecycle's `view`, if any).
fn step_payload(
    engine: &Engine,
    lifecycle: &Lifecycle,
    object: &Object,
    status: &str,
) -> Result<Value, super::engine::Failure> {
    let mut object = object.clone();
    object.body[&lifecycle.field] = Value::String(status.to_owned());
    match &lifecycle.view {
        Some(view) => engine.render(view, object_vars(&object)),
        None => Ok(object.body),
    }
}

/// The envelope's `message`: a short sentence made from the event's name
/// (`payment.created` → "A payment was created"; with a status, "The
/// payment is now ACCEPTED_BY_BANK").
pub fn message(event: &str, status: Option<&str>) -> String {
    let (subject, verb) = event.rsplit_once('.').unwrap_or((event, "changed"));
    let subject = subject.replace(['.', '_'], " ");
    match status {
        Some(status) => format!("The {subject} is now {status}"),
        None if verb.ends_with("ed") => {
            let article = if subject.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "An"
            } else {
                "A"
            };
            format!("{article} {subject} was {verb}")
        }
        None => format!("The {subject}: {verb}"),
    }
}

/// The task that sends lifecycle events as the sandbox clock moves on;
/// owned by the server, stopped with the webhook workers.
pub struct Watcher {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Watcher {
    /// Starts watching `provider`'s objects, every [`TICK`].
    pub fn start(provider: Provider) -> Self {
        let (stop, mut stopping) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    _ = stopping.changed() => {}
                }
                if *stopping.borrow() {
                    break;
                }
                if !provider.webhooks.any_destination() {
                    continue;
                }
                // Every application's objects, each by its application's time.
                let engine = provider.engine(None);
                let owners = |id: &str| provider.api.apps.by_id(id).map(|app| app.name.clone());
                let offsets = provider.clock.app_offsets();
                if let Err(e) = tick(&engine, &provider.webhooks, &owners, &offsets) {
                    tracing::error!("provider events: {e}");
                }
            }
        });
        Self { stop, task }
    }

    /// No tick starts after this.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Stops the task and waits until it has ended.
    pub async fn stopped(self) {
        self.shutdown();
        let _ = self.task.await;
    }
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;

use serde_json::json;
use time::macros::datetime;

use super::*;
use crate::clock::Clock;
use crate::entropy::Entropy;
use crate::inspector::Inspector;
use crate::provider::made::Made;
use crate::provider::profile::{Profile, Step};
use crate::provider::store::Store;
use crate::records::Records;
use crate::webhooks::{Setup, WebhookSettings, WebhookUrl};

fn step(status: &str, after: i64) -> Step {
    Step {
        status: status.into(),
        after,
    }
}

fn payments() -> Lifecycle {
    Lifecycle {
        collection: "payments".into(),
        field: "status".into(),
        steps: vec![step("NEW", 0), step("PENDING", 60), step("DONE", 300)],
        fail: Some(step("REJECTED", 120)),
        event: Some("payment.updated".into()),
        view: None,
    }
}

const T0: OffsetDateTime = datetime!(2030-01-01 00:00 UTC);

#[test]
fn the_steps_to_send_are_those_after_the_last_sent_up_to_now() {
    let l = payments();
    assert_eq!(steps_to_send(&l, false, 0, 0), 1..1, "nothing new at creation");
    assert_eq!(steps_to_send(&l, false, 59, 0), 1..1);
    assert_eq!(steps_to_send(&l, false, 60, 0), 1..2);
    assert_eq!(
        steps_to_send(&l, false, 3600, 0),
        1..3,
        "a jump sends every step passed"
    );
    assert_eq!(steps_to_send(&l, false, 3600, 2), 3..3, "nothing twice");
    assert_eq!(steps_to_send(&l, false, 10, 2), 3..3, "the clock moved back");
    assert_eq!(steps_to_send(&l, false, 0, -1), 0..1, "none sent yet");
    assert_eq!(
        steps_to_send(&l, true, 3600, 0),
        1..3,
        "the failure path has 3 steps too"
    );
    assert_eq!(l.path(true)[2].status, "REJECTED");

    assert_eq!(next_due(&l, false, T0, 0), Some(T0.unix_timestamp() + 60));
    assert_eq!(next_due(&l, false, T0, 1), Some(T0.unix_timestamp() + 300));
    assert_eq!(next_due(&l, true, T0, 1), Some(T0.unix_timestamp() + 120));
    assert_eq!(next_due(&l, false, T0, 2), None, "the last step");
}

#[test]
fn messages_are_short_sentences_from_the_event_name() {
    assert_eq!(message("payment.created", None), "A payment was created");
    assert_eq!(message("entity.created", None), "An entity was created");
    assert_eq!(message("payment_source.created", None), "A payment source was created");
    assert_eq!(
        message("entity.data.refresh.updated", Some("FINISHED")),
        "The entity data refresh is now FINISHED"
    );
    assert_eq!(message("results.ready", None), "The results: ready");
}

struct Fixture {
    _dir: tempfile::TempDir,
    records: Records,
    profile: Profile,
    entropy: Entropy,
    webhooks: Arc<Webhooks>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let records = Records::open(&dir.path().join("records.db")).unwrap();
        let mut profile = Profile::built_in("lean-uae");
        profile.lifecycles.retain(|l| l.collection != "payments");
        profile.lifecycles.push(payments());
        let settings = WebhookSettings {
            url: Some(WebhookUrl::parse("http://localhost:9/h").unwrap()),
            ..WebhookSettings::default()
        };
        let setup = Setup {
            application: "my_app".into(),
            store: dir.path().join("webhooks.json"),
            ca_pem: Vec::new(),
            clock: Arc::new(Clock::system()),
            entropy: Arc::new(Entropy::from_seed("events")),
            inspector: Arc::new(Inspector::new(10)),
        };
        Self {
            webhooks: Arc::new(Webhooks::new(settings, setup).unwrap()),
            _dir: dir,
            records,
            profile,
            entropy: Entropy::from_seed("events"),
        }
    }

    fn engine(&self, seconds: i64) -> Engine<'_> {
        self.engine_of(None, seconds)
    }

    /// The engine over the store of the application with id `owner`.
    fn engine_of<'a>(&'a self, owner: Option<&'a str>, seconds: i64) -> Engine<'a> {
        Engine {
            profile: &self.profile,
            store: Store::new(&self.records, owner),
            entropy: &self.entropy,
            now: T0 + time::Duration::seconds(seconds),
            made: Default::default(),
            fail: false,
        }
    }

    /// A payment made at T0 by my_app, published as a call would.
    fn make(&self, id: &str, fails: bool) {
        self.make_as(None, "my_app", id, fails);
    }

    /// A payment made at T0 by the application `name` (id `owner`).
    fn make_as(&self, owner: Option<&str>, name: &str, id: &str, fails: bool) {
        let engine = self.engine_of(owner, 0);
        let object = Object {
            collection: "payments".into(),
            id: id.into(),
            parent_id: None,
            customer_id: None,
            created_at: T0,
            body: json!({"id": id, "status": "NEW"}),
            fails,
        };
        engine.store.insert(&object).unwrap();
        engine.made.push(Made {
            object: Some(object),
            event: Some(("payment.created".into(), json!({"id": id}))),
        });
        publish(&engine, &self.webhooks, name);
    }

    /// Every progress record still due at some time (at most 10).
    fn all_due(&self) -> Vec<crate::provider::store::Progress> {
        self.engine(0).store.due(i64::MAX, &Default::default(), 10).unwrap()
    }

    /// A tick of the watcher; the applications are my_app and bob (id
    /// `b-id`): any other owner was deleted.
    fn tick(&self, seconds: i64) -> Vec<(String, String)> {
        self.tick_with(seconds, &Default::default())
    }

    /// A tick where the applications with these ids run ahead (or behind)
    /// by these seconds.
    fn tick_with(&self, seconds: i64, offsets: &std::collections::BTreeMap<String, i64>) -> Vec<(String, String)> {
        let owners = |id: &str| match id {
            "my_app" => Some("my_app".to_owned()),
            "b-id" => Some("bob".to_owned()),
            _ => None,
        };
        tick(&self.engine(seconds), &self.webhooks, &owners, offsets).unwrap()
    }
}

fn sent(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn the_watcher_sends_each_step_once_in_order_and_failures_take_their_path() {
    let f = Fixture::new();
    f.make("p1", false);
    f.make("p2", true);
    assert!(f.tick(30).is_empty(), "nothing due yet");
    assert_eq!(f.tick(90), sent(&[("p1", "PENDING"), ("p2", "PENDING")]));
    assert!(f.tick(90).is_empty(), "nothing twice");
    assert_eq!(f.tick(3600), sent(&[("p2", "REJECTED"), ("p1", "DONE")]), "by due time");
    assert!(f.tick(7200).is_empty(), "both lifecycles are over");
    assert!(f.all_due().is_empty());

    // A jump past every step sends them all, in order; a deleted object is forgotten.
    f.make("p3", false);
    f.make("p4", false);
    f.engine(0).store.delete("payments", "p4").unwrap();
    assert_eq!(f.tick(1000), sent(&[("p3", "PENDING"), ("p3", "DONE")]));
    assert!(f.all_due().is_empty());
}

#[test]
fn without_a_webhook_url_nothing_is_tracked() {
    let f = Fixture::new();
    f.webhooks.clear_url().unwrap();
    f.make("p1", false);
    assert!(f.all_due().is_empty());
}

#[test]
fn each_step_goes_to_the_owners_url_and_to_nobody_elses() {
    let f = Fixture::new();
    let url = WebhookUrl::parse("http://localhost:9/bob").unwrap();
    f.webhooks.set_url_for("bob", url.clone()).unwrap();
    f.webhooks.set_url_for("carol", url).unwrap();
    f.make("p1", false);
    f.make_as(Some("b-id"), "bob", "p2", false);
    f.make_as(Some("c-id"), "carol", "p3", false);
    f.make_as(Some("d-id"), "dave", "p4", false);
    assert_eq!(f.all_due().len(), 3, "dave has no URL: his payment is not tracked");
    assert_eq!(
        f.tick(90),
        sent(&[("p1", "PENDING"), ("p2", "PENDING")]),
        "carol's application is gone: her payment sends nothing more"
    );
    f.webhooks.clear_url_for("bob").unwrap();
    assert_eq!(
        f.tick(3600),
        sent(&[("p1", "DONE")]),
        "bob has no URL any more: his step passes unsent, my_app's is not held up"
    );
    assert!(f.all_due().is_empty(), "every lifecycle is over");
}

#[test]
fn an_application_whose_time_runs_ahead_sees_its_own_steps_early_and_only_its_own() {
    let f = Fixture::new();
    let url = WebhookUrl::parse("http://localhost:9/bob").unwrap();
    f.webhooks.set_url_for("bob", url).unwrap();
    f.make("p1", false);
    f.make_as(Some("b-id"), "bob", "p2", false);
    let bob_ahead = [("b-id".to_owned(), 3600)].into();
    assert_eq!(
        f.tick_with(30, &bob_ahead),
        sent(&[("p2", "PENDING"), ("p2", "DONE")]),
        "bob's payment is an hour old by bob's time; my_app's is 30 s old"
    );
    assert_eq!(f.tick_with(90, &bob_ahead), sent(&[("p1", "PENDING")]));
    let my_app_behind = [("my_app".to_owned(), -3600)].into();
    assert!(f.tick_with(3600, &my_app_behind).is_empty(), "my_app's time is behind");
    assert_eq!(f.tick(3600), sent(&[("p1", "DONE")]));
}

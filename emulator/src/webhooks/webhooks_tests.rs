use super::*;
use serde_json::json;

fn service(dir: &std::path::Path, settings: WebhookSettings) -> Arc<Webhooks> {
    let setup = Setup {
        application: "my_app".into(),
        store: dir.join("webhooks.json"),
        ca_pem: Vec::new(),
        clock: Arc::new(Clock::system()),
        entropy: Arc::new(Entropy::from_seed("webhooks")),
        inspector: Arc::new(Inspector::new(10)),
    };
    Arc::new(Webhooks::new(settings, setup).unwrap())
}

fn waiting(webhooks: &Webhooks) -> Vec<String> {
    waiting_for(webhooks, "my_app")
}

/// The types of the events waiting for `application` (taken out).
fn waiting_for(webhooks: &Webhooks, application: &str) -> Vec<String> {
    let lanes = webhooks.lanes.lock().unwrap();
    let Some(lane) = lanes.get(application) else {
        return Vec::new();
    };
    let mut outbox = lane.outbox.lock().unwrap();
    std::iter::from_fn(|| outbox.pop().map(|p| p.envelope.event_type)).collect()
}

#[test]
fn without_a_url_nothing_is_queued() {
    let dir = tempfile::tempdir().unwrap();
    let webhooks = service(dir.path(), WebhookSettings::default());
    assert_eq!(webhooks.emit("entity.created", "x", json!({})), None);
    assert!(webhooks.lanes.lock().unwrap().is_empty());
    webhooks
        .set_url(WebhookUrl::parse("http://localhost:9/h").unwrap())
        .unwrap();
    assert_eq!(webhooks.emit("Not An Event", "x", json!({})), None);
    webhooks.shutdown();
    assert_eq!(webhooks.emit("entity.created", "x", json!({})), None, "stopping");
    assert!(webhooks.lanes.lock().unwrap().is_empty());
}

#[test]
fn events_queue_in_order_with_deterministic_ids_and_a_bounded_queue() {
    let dir = tempfile::tempdir().unwrap();
    let settings = WebhookSettings {
        queue_capacity: 3,
        ..WebhookSettings::default()
    };
    let webhooks = service(dir.path(), settings.clone());
    webhooks
        .set_url(WebhookUrl::parse("http://localhost:9/h").unwrap())
        .unwrap();
    let ids: Vec<String> = (0..4)
        .filter_map(|i| webhooks.emit(&format!("e.n{i}"), "m", json!({ "i": i })))
        .collect();
    assert_eq!(ids.len(), 4);
    assert_eq!(waiting(&webhooks), ["e.n1", "e.n2", "e.n3"], "the oldest was dropped");
    let other_dir = tempfile::tempdir().unwrap();
    let again = service(other_dir.path(), settings);
    again
        .set_url(WebhookUrl::parse("http://localhost:9/h").unwrap())
        .unwrap();
    assert_eq!(
        again.emit("e.n0", "m", json!({})).as_ref(),
        ids.first(),
        "seeded ids repeat"
    );
}

#[test]
fn runtime_urls_survive_a_restart_but_the_config_file_wins() {
    let dir = tempfile::tempdir().unwrap();
    let first = service(dir.path(), WebhookSettings::default());
    let url = WebhookUrl::parse("https://example.com/hooks").unwrap();
    first.set_url(url.clone()).unwrap();
    let restarted = service(dir.path(), WebhookSettings::default());
    assert_eq!(
        restarted.destination(),
        Some(Destination {
            url,
            source: Source::Runtime
        })
    );
    let configured = WebhookUrl::parse("http://localhost:1/c").unwrap();
    let with_config = service(
        dir.path(),
        WebhookSettings {
            url: Some(configured.clone()),
            ..WebhookSettings::default()
        },
    );
    assert_eq!(with_config.destination().unwrap().url, configured);
    assert_eq!(with_config.destination().unwrap().source, Source::Config);
    assert!(restarted.clear_url().unwrap());
    assert!(!restarted.clear_url().unwrap());
    assert_eq!(service(dir.path(), WebhookSettings::default()).destination(), None);
}

#[test]
fn changing_the_url_drops_the_events_waiting_for_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let webhooks = service(dir.path(), WebhookSettings::default());
    webhooks
        .set_url(WebhookUrl::parse("http://localhost:9/a").unwrap())
        .unwrap();
    webhooks.emit("e.old", "m", json!({}));
    webhooks
        .set_url(WebhookUrl::parse("http://localhost:9/b").unwrap())
        .unwrap();
    webhooks.emit("e.new", "m", json!({}));
    assert_eq!(waiting(&webhooks), ["e.new"]);
}

#[test]
fn each_application_has_its_own_url_and_queue_and_a_deleted_one_is_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let webhooks = service(dir.path(), WebhookSettings::default());
    let (a, b) = (
        WebhookUrl::parse("http://localhost:9/a").unwrap(),
        WebhookUrl::parse("http://localhost:9/b").unwrap(),
    );
    webhooks.set_url_for("alice", a.clone()).unwrap();
    webhooks.set_url_for("bob", b.clone()).unwrap();
    assert_eq!(webhooks.destination(), None, "my_app has none");
    assert!(webhooks.any_destination());
    assert!(webhooks.emit_for("alice", "e.alice", "m", json!({})).is_some());
    assert!(webhooks.emit_for("bob", "e.bob", "m", json!({})).is_some());
    assert_eq!(webhooks.emit_for("carol", "e.carol", "m", json!({})), None);
    assert_eq!(webhooks.emit("e.mine", "m", json!({})), None);
    assert_eq!(waiting_for(&webhooks, "alice"), ["e.alice"]);
    assert_eq!(waiting_for(&webhooks, "bob"), ["e.bob"]);
    assert!(waiting_for(&webhooks, "carol").is_empty() && waiting(&webhooks).is_empty());

    webhooks.emit_for("bob", "e.bob2", "m", json!({}));
    webhooks.forget("bob").unwrap();
    assert_eq!(webhooks.destination_for("bob"), None);
    assert!(!webhooks.lanes.lock().unwrap().contains_key("bob"), "its queue is gone");
    assert_eq!(webhooks.emit_for("bob", "e.bob3", "m", json!({})), None);
    webhooks.forget("nobody").unwrap();
    let restarted = service(dir.path(), WebhookSettings::default());
    assert_eq!(restarted.destination_for("alice").map(|d| d.url), Some(a));
    assert_eq!(restarted.destination_for("bob"), None, "forgotten in webhooks.json too");
    assert!(restarted.clear_url_for("alice").unwrap());
    assert!(!restarted.clear_url_for("alice").unwrap());
    assert!(!restarted.any_destination());
    restarted
        .set_url_for("alice", WebhookUrl::parse("http://localhost:9/a").unwrap())
        .unwrap();
    restarted
        .set_url_for("gone", WebhookUrl::parse("http://localhost:9/g").unwrap())
        .unwrap();
    assert_eq!(restarted.forget_missing(|name| name != "gone").unwrap(), ["gone"]);
    assert!(restarted.destination_for("alice").is_some());
    assert_eq!(
        service(dir.path(), WebhookSettings::default()).destination_for("gone"),
        None
    );
}

#[tokio::test]
async fn forgetting_an_application_ends_its_worker() {
    let dir = tempfile::tempdir().unwrap();
    let webhooks = service(dir.path(), WebhookSettings::default());
    let nowhere = WebhookUrl::parse("http://localhost:9/b").unwrap();
    webhooks.set_url_for("bob", nowhere).unwrap();
    webhooks.emit_for("bob", "e.bob", "m", json!({}));
    webhooks.forget("bob").unwrap();
    let worker = webhooks.workers.lock().unwrap().pop().expect("bob's worker");
    tokio::time::timeout(std::time::Duration::from_secs(10), worker)
        .await
        .expect("the worker ends with its application")
        .unwrap();
}

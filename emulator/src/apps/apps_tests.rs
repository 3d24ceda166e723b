//! Tests of the running set of applications: the lookups requests make,
//! creating and deleting, and loading again after a restart.

use super::*;
use crate::oauth::registry::NewClient;

/// The applications of the state dir `dir` as a start loads them, with
/// `bob` declared (auth mode oauth) in the config.
fn start(dir: &std::path::Path) -> Apps {
    let parts = crate::oauth::test_authority::on_fresh_state(dir);
    let (state, records, clock, info) = (parts.state, parts.records, parts.clock, parts.info);
    let authority = Arc::new(parts.authority);
    let application = Arc::new(Application::new(state.clone(), info, authority.clone()));
    let revocations = Arc::new(Revocations::new(state.clone(), records, clock));
    let settings = AppSettings {
        default_mode: AuthMode::AppToken,
        auth_method: AuthMethod::ClientSecretPost,
        key_type: KeyType::P256,
    };
    let declared = [AppSpec {
        name: "bob".into(),
        auth_mode: AuthMode::Oauth,
    }];
    Apps::load(
        state,
        authority,
        revocations,
        application,
        settings,
        Arc::new(Entropy::SYSTEM),
        &declared,
    )
    .unwrap()
}

fn der_of(path: &std::path::Path) -> Vec<u8> {
    let pem = std::fs::read_to_string(path).unwrap();
    crate::pki::first_cert_der(&pem, "cert").unwrap().to_vec()
}

#[test]
fn requests_find_their_application_by_token_client_and_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = start(&tmp.path().join("s"));
    let alice = apps.create("alice", AuthMode::AppToken).unwrap();
    let names: Vec<String> = apps.list().into_iter().map(|a| a.name).collect();
    assert_eq!(names, ["my_app", "bob", "alice"]);
    assert_eq!(apps.find("bob").unwrap().auth_mode, AuthMode::Oauth);

    let default = apps.info(DEFAULT_APP).unwrap();
    assert_eq!(apps.by_app_token(&default.app_token).unwrap().name, DEFAULT_APP);
    assert_eq!(apps.by_app_token(&alice.app_token).unwrap().name, "alice");
    assert!(apps.by_app_token("not-a-token").is_none());
    assert_eq!(apps.by_client_id(&alice.client_id).unwrap().name, "alice");
    assert_eq!(
        apps.by_client_id("testing").unwrap().name,
        DEFAULT_APP,
        "a config client"
    );
    assert!(apps.by_client_id("nobody").is_none());
    let registry = &apps.authority.registry;
    let now = OffsetDateTime::now_utc();
    let new = |app: Option<&str>| NewClient {
        name: "ci".into(),
        app: app.map(str::to_owned),
        ..Default::default()
    };
    let alices = registry.create(new(Some("alice")), now).unwrap();
    let mine = registry.create(new(None), now).unwrap();
    assert_eq!(apps.by_client_id(&alices.client_id).unwrap().name, "alice");
    assert_eq!(apps.by_client_id(&mine.client_id).unwrap().name, DEFAULT_APP);
    let err = registry.create(new(Some("carol")), now).unwrap_err().to_string();
    assert!(err.contains("no application named 'carol'"), "{err}");
    assert_eq!(apps.by_certificate(&der_of(&alice.client_cert)).unwrap().name, "alice");
    assert_eq!(
        apps.by_certificate(&der_of(&default.client_cert)).unwrap().name,
        DEFAULT_APP
    );
    assert!(apps.by_certificate(b"not a certificate").is_none());

    // Deleted: nothing finds it, not even a client registered for it.
    assert!(matches!(apps.delete(DEFAULT_APP), Err(AppError::Default)));
    apps.delete("alice").unwrap();
    assert!(apps.by_app_token(&alice.app_token).is_none());
    assert!(apps.by_client_id(&alice.client_id).is_none());
    assert!(
        apps.by_client_id(&alices.client_id).is_none(),
        "its tokens must not act for my_app"
    );
    assert!(apps.by_certificate(&der_of(&default.client_cert)).is_some());
    assert!(matches!(apps.delete("alice"), Err(AppError::Unknown(_))));
    assert!(matches!(
        apps.create(DEFAULT_APP, AuthMode::AppToken),
        Err(AppError::Default)
    ));
    assert!(matches!(
        apps.create("bob", AuthMode::AppToken),
        Err(AppError::Exists(_))
    ));
    assert!(matches!(
        apps.create("Bob", AuthMode::AppToken),
        Err(AppError::InvalidName { .. })
    ));
}

#[test]
fn a_restart_finds_the_same_applications_and_creates_declared_ones_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let first = start(&dir);
    let alice = first.create("alice", AuthMode::Oauth).unwrap();
    let bob = first.info("bob").unwrap();
    drop(first);
    let again = start(&dir);
    assert_eq!(again.info("alice").unwrap().client_secret, alice.client_secret);
    assert_eq!(again.info("bob").unwrap().app_token, bob.app_token, "not created twice");
    assert_eq!(again.by_app_token(&alice.app_token).unwrap().auth_mode, AuthMode::Oauth);
    let registry = &again.authority.registry;
    let client = registry.get(&alice.client_id).unwrap().unwrap();
    assert!(
        client.secret_matches(&alice.client_secret),
        "its OAuth client is served again"
    );
}

#[test]
fn missing_applications_are_created_in_parallel_in_order_and_none_after_a_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let apps = start(&tmp.path().join("s"));
    let spec = |name: &str| AppSpec {
        name: name.into(),
        auth_mode: AuthMode::AppToken,
    };
    let specs: Vec<AppSpec> = ["c1", "bob", "c2", "c3", "c2", "c4"].map(spec).into();
    apps.create_missing(&specs).unwrap();
    let names: Vec<String> = apps.list().into_iter().map(|a| a.name).collect();
    assert_eq!(
        names,
        ["my_app", "bob", "c1", "c2", "c3", "c4"],
        "in the order asked, bob kept"
    );
    for name in ["c1", "c4"] {
        let info = apps.info(name).unwrap();
        assert_eq!(apps.by_app_token(&info.app_token).unwrap().name, name);
        assert!(AppFiles::new(&apps.state.dir, name).sandbox_json().is_file());
    }

    let specs: Vec<AppSpec> = ["d1", "Not Valid", "d2"].map(spec).into();
    assert!(matches!(apps.create_missing(&specs), Err(AppError::InvalidName { .. })));
    assert!(apps.find("d1").is_some(), "made before the refusal");
    assert!(apps.find("d2").is_none(), "none after it");
    assert!(!AppFiles::new(&apps.state.dir, "d2").cert().exists(), "nor its files");
}

//! Tests of the config file: every section, the errors naming file and field.

use super::*;

#[test]
fn file_settings_override_defaults() {
    let file = FileConfig::parse(
        "[server]\nmtls_port = 0\nlenient_chain = true\nsans = [\"ci-host\"]\n[app]\nauth_mode = \"oauth\"\n",
        Path::new("c.toml"),
    )
    .unwrap();
    let mut config = Config::new(".sandbox");
    file.apply(&mut config, Path::new("c.toml")).unwrap();
    assert_eq!(config.ports.mtls, 0);
    assert_eq!(config.ports.sandbox, 4443);
    assert!(config.lenient_chain);
    assert_eq!(config.extra_sans, vec!["ci-host"]);
    assert_eq!(config.auth_mode, AuthMode::Oauth);
    assert_eq!(config.app_auth_method, AuthMethod::ClientSecretPost);
}

#[test]
fn the_application_client_method_is_settable_among_secret_methods() {
    let path = Path::new("app.toml");
    let mut config = Config::new(".sandbox");
    FileConfig::parse("[app]\nclient_auth_method = \"client_secret_basic\"\n", path)
        .unwrap()
        .apply(&mut config, path)
        .unwrap();
    assert_eq!(config.app_auth_method, AuthMethod::ClientSecretBasic);
    let err = FileConfig::parse("[app]\nclient_auth_method = \"private_key_jwt\"\n", path)
        .unwrap()
        .apply(&mut config, path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("app.toml") && err.contains("client_auth_method"), "{err}");
}

#[test]
fn unknown_keys_are_errors_naming_file_and_key() {
    let err = FileConfig::parse("[server]\nmtls_prot = 1\n", Path::new("my.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("my.toml") && err.contains("mtls_prot") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn built_in_defaults_provision_testing_and_partner_clients() {
    let config = Config::new(".sandbox");
    let ids: Vec<&str> = config.clients.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["testing", "partner-client"]);
    assert!(config.clients[0].secret_matches("testing"));
    assert_eq!(config.clients[1].auth_method, AuthMethod::TlsClientAuth);
    assert_eq!(config.oauth.signing_alg, SigningAlg::PS256);
}

/// #18 item 7: the well-known admin client must not reach the LAN unasked.
#[test]
fn a_network_bind_refuses_the_built_in_admin_client_unless_allowed() {
    let mut config = Config::new("/tmp/x");
    assert!(
        config.check_shared_admin().is_ok() && !config.shares_admin(),
        "loopback"
    );
    config.bind = IpAddr::from([0, 0, 0, 0]);
    let refused = config.check_shared_admin().unwrap_err();
    assert!(
        refused.contains("--bind 0.0.0.0") && refused.contains("--allow-shared-admin"),
        "{refused}"
    );
    config.allow_shared_admin = true;
    assert!(config.check_shared_admin().is_ok() && config.shares_admin());
    config.allow_shared_admin = false;
    config.clients.retain(|c| c.client_id != "testing");
    assert!(config.check_shared_admin().is_ok() && !config.shares_admin());
    let path = Path::new("lan.toml");
    let file = FileConfig::parse("[server]\nbind = \"0.0.0.0\"\nallow_shared_admin = true\n", path).unwrap();
    let mut config = Config::new("/tmp/x");
    file.apply(&mut config, path).unwrap();
    assert!(config.allow_shared_admin && config.check_shared_admin().is_ok());
}

#[test]
fn a_user_config_replaces_clients_and_checks_them() {
    let path = Path::new("mine.toml");
    let mut config = Config::new(".sandbox");
    FileConfig::parse("[[clients]]\nid = \"x\"\nsecrets = [\"y\"]\n", path)
        .unwrap()
        .apply(&mut config, path)
        .unwrap();
    assert_eq!(config.clients.len(), 1);
    let err = FileConfig::parse("[[clients]]\nid = \"p\"\nauth_method = \"tls_client_auth\"\n", path)
        .unwrap()
        .apply(&mut config, path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mine.toml") && err.contains("client 'p'") && err.contains("tls_subject_dn"),
        "{err}"
    );
    let err = FileConfig::parse(
        "[[clients]]\nid = \"k\"\nauth_method = \"private_key_jwt\"\njwks = \"{\"\n",
        path,
    )
    .unwrap()
    .apply(&mut config, path)
    .unwrap_err()
    .to_string();
    assert!(err.contains("jwks is not JSON"), "{err}");
}

#[test]
fn default_banks_is_a_nonempty_array() {
    assert!(default_banks().as_array().is_some_and(|a| !a.is_empty()));
}

#[test]
fn applications_are_declared_with_checked_names() {
    let path = Path::new("apps.toml");
    let apply = |text: &str| {
        let mut config = Config::new(".sandbox");
        FileConfig::parse(text, path)?.apply(&mut config, path).map(|()| config)
    };
    let config = apply("[[apps]]\nname = \"alice\"\n[[apps]]\nname = \"bob\"\nauth_mode = \"oauth\"\n").unwrap();
    let declared: Vec<(&str, AuthMode)> = config.apps.iter().map(|a| (a.name.as_str(), a.auth_mode)).collect();
    assert_eq!(declared, [("alice", AuthMode::AppToken), ("bob", AuthMode::Oauth)]);
    for (text, why) in [
        ("[[apps]]\nname = \"Alice\"\n", "not a valid application name"),
        ("[[apps]]\nname = \"my_app\"\n", "[app] auth_mode"),
        ("[[apps]]\nname = \"a\"\n[[apps]]\nname = \"a\"\n", "declared twice"),
    ] {
        let err = apply(text).unwrap_err().to_string();
        assert!(err.contains("apps.toml: [[apps]]") && err.contains(why), "{err}");
    }
    let err = apply("[[apps]]\nname = \"a\"\ncolour = \"red\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("colour"), "{err}");
}

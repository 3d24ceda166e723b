//! The authorization server over real TLS: token endpoint errors, every
//! client-authentication method, certificate-bound tokens, introspection,
//! revocation, discovery, client management, and JWTs checked by an
//! independent implementation (PyJWT).

use std::process::Command;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mtls_sandbox::pki;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::util::{
    Emulator, Identity, Reply, app_identity, app_token, client, fixed_port_args, other_identity_client, plain, send,
    token_request, with_app_cert,
};

#[test]
fn token_endpoint_answers_like_the_provider_and_errors_follow_rfc_6749() {
    let emu = Emulator::start(&[]);
    let http = plain(&emu);
    let url = emu.info.token_endpoint.clone();
    let (id, secret) = (emu.info.client_id.as_str(), emu.info.client_secret.as_str());

    let (status, body, headers) = token_request(
        &http,
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ],
    );
    assert_eq!(status, 200);
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type"]);
    assert_eq!(
        (&body["token_type"], &body["expires_in"], &body["scope"]),
        (&json!("bearer"), &json!(3599), &json!("api"))
    );
    assert_eq!(headers["cache-control"], "no-store");

    let err = |reply: Reply| (reply.0, reply.1["error"].as_str().unwrap_or("").to_owned());
    let basic = send(
        http.post(&url)
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")]),
    );
    assert_eq!(basic.2["www-authenticate"], "Basic realm=\"mtls-sandbox\"");
    assert_eq!(err(basic), (401, "invalid_client".into()));
    assert_eq!(
        err(token_request(
            &http,
            &url,
            &[("client_id", id), ("client_secret", secret)]
        )),
        (400, "invalid_request".into())
    );
    let password = [("grant_type", "password"), ("client_id", id), ("client_secret", secret)];
    assert_eq!(
        err(token_request(&http, &url, &password)),
        (400, "unsupported_grant_type".into())
    );
    let dup = "grant_type=client_credentials&grant_type=client_credentials";
    let reply = send(
        http.post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(dup),
    );
    assert_eq!(err(reply), (400, "invalid_request".into()));
    let reply = send(http.post(&url).json(&json!({"grant_type": "client_credentials"})));
    assert_eq!(err(reply), (400, "invalid_request".into()));
    let stranger = [
        ("grant_type", "client_credentials"),
        ("client_id", "nobody"),
        ("client_secret", "x"),
    ];
    // RFC 6749 §5.2: a challenge only for a client that used the
    // Authorization header; form credentials get the JSON body alone.
    let refused = token_request(&http, &url, &stranger);
    assert!(!refused.2.contains_key("www-authenticate"), "{:?}", refused.2);
    assert_eq!(err(refused), (401, "invalid_client".into()));
    let admin = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        ("scope", "admin"),
    ];
    assert_eq!(err(token_request(&http, &url, &admin)), (400, "invalid_scope".into()));
    let ghost = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        ("scope", "customer.ghost"),
    ];
    assert_eq!(err(token_request(&http, &url, &ghost)), (400, "invalid_scope".into()));
    // Our RSA-key-caching signer must have won the provider race.
    assert!(!emu.log().contains("crypto provider"), "{}", emu.log());
}

#[test]
fn customer_scoped_tokens_reach_only_their_customer() {
    let emu = Emulator::start(&[]);
    let http = plain(&emu);
    let base = &emu.info.sandbox_url;
    let api = app_token(&emu, "api");
    let (status, customer, _) = send(
        http.post(format!("{base}/customers/v1"))
            .bearer_auth(&api)
            .json(&json!({"app_user_id": "u-1"})),
    );
    assert_eq!(status, 200, "{customer}");
    let id = customer["customer_id"].as_str().unwrap();

    let scoped = app_token(&emu, &format!("customer.{id}"));
    assert_eq!(
        send(http.get(format!("{base}/customers/v1/{id}")).bearer_auth(&scoped)).0,
        200
    );
    let (status, body, _) = send(http.get(format!("{base}/banks/v1")).bearer_auth(&scoped));
    assert_eq!(
        (status, body["status"].as_str()),
        (403, Some("INSUFFICIENT_ACCESS_LEVEL"))
    );
    let (status, _, _) = send(
        http.get(format!("{base}/customers/v1/someone-else"))
            .bearer_auth(&scoped),
    );
    assert_eq!(status, 403);
    let (status, body, headers) = send(http.get(format!("{base}/banks/v1")).bearer_auth("not-a-token"));
    assert_eq!((status, body["status"].as_str()), (401, Some("UNAUTHORIZED")));
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
}

#[test]
fn curity_partner_flow_binds_opaque_tokens_to_the_certificate() {
    let emu = Emulator::start(&[]);
    let mtls = with_app_cert(&emu);
    let form = [("grant_type", "client_credentials"), ("client_id", "partner-client")];
    let (status, body, _) = token_request(&mtls, &emu.info.mtls_token_endpoint, &form);
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(token.split('.').count(), 1, "partner-client gets opaque tokens");

    let tx = format!("{}/api/transactions", emu.info.mtls_url);
    assert_eq!(send(mtls.post(&tx).bearer_auth(&token)).0, 201);

    // Same token, another certificate from the same CA: refused.
    let thief = other_identity_client(&emu, "thief");
    let (status, body, headers) = send(thief.post(&tx).bearer_auth(&token));
    assert_eq!(
        (status, body["status"].as_str()),
        (401, Some("CERTIFICATE_TOKEN_MISMATCH"))
    );
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\"")
    );

    // Phantom token: introspection turns the reference into claims or the JWT.
    let http = plain(&emu);
    let introspect = format!("{}/oauth2/introspect", emu.info.auth_url);
    let creds = [
        ("client_id", "testing"),
        ("client_secret", "testing"),
        ("token", token.as_str()),
    ];
    let (status, claims, _) = token_request(&http, &introspect, &creds);
    assert_eq!(
        (status, &claims["active"], &claims["client_id"]),
        (200, &json!(true), &json!("partner-client"))
    );
    let thumbprint = mtls_sandbox::oauth::token::x5t_s256(&app_identity(&emu).cert_der().unwrap());
    assert_eq!(claims["cnf"]["x5t#S256"], thumbprint.as_str());
    let (status, jwt, headers) = send(http.post(&introspect).header("accept", "application/jwt").form(&creds));
    assert_eq!(
        (status, headers["content-type"].to_str().unwrap()),
        (200, "application/jwt")
    );
    assert_eq!(jwt.as_str().unwrap().split('.').count(), 3);

    // Revocation by its own client makes later use fail.
    let revoke = format!("{}/oauth2/revoke", emu.info.mtls_url);
    let (status, _, _) = token_request(
        &mtls,
        &revoke,
        &[("client_id", "partner-client"), ("token", token.as_str())],
    );
    assert_eq!(status, 200);
    let (status, body, _) = send(mtls.post(&tx).bearer_auth(&token));
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap().contains("revoked"), "{body}");
    let (_, claims, _) = token_request(&http, &introspect, &creds);
    assert_eq!(claims, json!({"active": false}));
}

#[test]
fn introspection_shows_a_client_only_its_own_tokens_unless_it_may_introspect() {
    let emu = Emulator::start(&[]);
    let http = plain(&emu);
    let introspect = format!("{}/oauth2/introspect", emu.info.auth_url);
    let form = [("grant_type", "client_credentials"), ("client_id", "partner-client")];
    let (_, body, _) = token_request(&with_app_cert(&emu), &emu.info.mtls_token_endpoint, &form);
    let opaque = body["access_token"].as_str().unwrap().to_owned();
    let admin = crate::util::admin_token(&emu);
    let own = app_token(&emu, "api");
    // The default app's client has scopes api and customer.* only.
    let ask = |id: &str, secret: &str, token: &str, accept: &str| {
        let form = [("client_id", id), ("client_secret", secret), ("token", token)];
        send(http.post(&introspect).header("accept", accept).form(&form))
    };
    let (id, secret) = (emu.info.client_id.as_str(), emu.info.client_secret.as_str());
    let (status, body, _) = ask(id, secret, &own, "application/json");
    assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
    for token in [&admin, &opaque] {
        for accept in ["application/json", "application/jwt"] {
            let (status, body, _) = ask(id, secret, token, accept);
            assert_eq!(
                (status, body),
                (200, json!({"active": false})),
                "another client's token looks inactive ({accept})"
            );
        }
    }
    // A client registered with `admin` (the phantom-token gateway) sees all.
    let (_, body, _) = ask("testing", "testing", &opaque, "application/json");
    assert_eq!(body["client_id"], "partner-client", "{body}");
}

#[test]
fn expired_tokens_are_inactive_and_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    // Same ports (hence same issuer) before and after the restart.
    let ports = fixed_port_args();
    let fixed: Vec<&str> = ports.iter().map(String::as_str).collect();
    crate::util::copy_template_to(&dir);
    let past = Emulator::start_in(&dir, &[&fixed[..], &["--clock", "-2h"]].concat());
    let old = app_token(&past, "api");
    assert!(past.stop().success());

    let emu = Emulator::start_in(&dir, &fixed);
    let http = plain(&emu);
    let introspect = format!("{}/oauth2/introspect", emu.info.auth_url);
    let creds = [
        ("client_id", "testing"),
        ("client_secret", "testing"),
        ("token", old.as_str()),
    ];
    assert_eq!(token_request(&http, &introspect, &creds).1, json!({"active": false}));
    let (status, body, _) = send(http.get(format!("{}/banks/v1", emu.info.sandbox_url)).bearer_auth(&old));
    assert_eq!(status, 401, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("the token expired at"),
        "{body}"
    );
}

#[test]
fn discovery_is_complete_and_tokens_verify_with_pyjwt_against_the_jwks() {
    for alg in ["PS256", "ES256"] {
        let tmp = tempfile::tempdir().unwrap();
        let config = tmp.path().join("c.toml");
        std::fs::write(&config, format!("[oauth]\nsigning_alg = \"{alg}\"\n")).unwrap();
        crate::util::copy_template_to(&tmp.path().join("s"));
        let emu = Emulator::start_in(&tmp.path().join("s"), &["--config", config.to_str().unwrap()]);
        let http = plain(&emu);
        let (status, doc, _) = send(http.get(format!("{}/.well-known/oauth-authorization-server", emu.info.auth_url)));
        assert_eq!(status, 200);
        for field in [
            "issuer",
            "token_endpoint",
            "jwks_uri",
            "response_types_supported",
            "grant_types_supported",
        ] {
            assert!(doc.get(field).is_some(), "RFC 8414 field {field} missing: {doc}");
        }
        assert_eq!(doc["issuer"], emu.info.auth_url.as_str());
        assert_eq!(doc["token_endpoint"], emu.info.token_endpoint.as_str());
        assert_eq!(
            doc["mtls_endpoint_aliases"]["token_endpoint"],
            emu.info.mtls_token_endpoint.as_str()
        );
        assert_eq!(doc["tls_client_certificate_bound_access_tokens"], true);
        assert_eq!(
            send(http.get(format!("{}/.well-known/openid-configuration", emu.info.auth_url))).1,
            doc
        );

        let token = app_token(&emu, "api");
        let script = r#"
import json, sys, jwt, requests
info = json.load(open(sys.argv[1]))
doc = requests.get(info["auth_url"] + "/.well-known/openid-configuration", verify=info["ca_chain"]).json()
jwks = jwt.PyJWKClient(doc["jwks_uri"], ssl_context=__import__("ssl").create_default_context(cafile=info["ca_chain"]))
token = sys.argv[2]
key = jwks.get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=[sys.argv[3]], audience="mtls-sandbox-api", issuer=doc["issuer"])
print(jwt.get_unverified_header(token)["alg"], claims["client_id"] == info["client_id"], claims["scope"])
"#;
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(emu.file("sandbox.json"))
            .arg(&token)
            .arg(alg)
            .output()
            .expect("python3 with pyjwt[crypto] (scripts/test installs it)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "PyJWT check failed (a missing module? scripts/test installs pyjwt[crypto]):\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout, format!("{alg} True api\n"));
    }
}

#[test]
fn formance_flow_manages_clients_and_secrets_over_http() {
    let emu = Emulator::start(&[]);
    let http = plain(&emu);
    let auth = &emu.info.auth_url;
    let admin = crate::util::admin_token(&emu);

    let (status, created, _) = send(
        http.post(format!("{auth}/clients"))
            .bearer_auth(&admin)
            .json(&json!({"name": "myclient"})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["data"]["id"].as_str().unwrap().to_owned();
    let secret = |name: &str| {
        send(
            http.post(format!("{auth}/clients/{id}/secrets"))
                .bearer_auth(&admin)
                .json(&json!({"name": name})),
        )
    };
    let (s1, s2) = (secret("one").1["data"].clone(), secret("two").1["data"].clone());
    let use_secret = |clear: &Value| {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", clear.as_str().unwrap()),
        ];
        token_request(&http, &emu.info.token_endpoint, &form).0
    };
    assert_eq!((use_secret(&s1["clear"]), use_secret(&s2["clear"])), (200, 200));

    let del = send(
        http.delete(format!("{auth}/clients/{id}/secrets/{}", s1["id"].as_str().unwrap()))
            .bearer_auth(&admin),
    );
    assert_eq!(del.0, 204);
    assert_eq!((use_secret(&s1["clear"]), use_secret(&s2["clear"])), (401, 200));

    let (_, list, _) = send(http.get(format!("{auth}/clients")).bearer_auth(&admin));
    let listed = list["data"].as_array().unwrap();
    assert!(listed.iter().any(|c| c["id"] == id.as_str()));
    assert!(
        !list.to_string().contains(s2["clear"].as_str().unwrap()),
        "secrets are never listed"
    );

    assert_eq!(
        send(http.post(format!("{auth}/clients")).json(&json!({"name": "x"}))).0,
        401
    );
    let api = app_token(&emu, "api");
    let (status, body, _) = send(
        http.post(format!("{auth}/clients"))
            .bearer_auth(&api)
            .json(&json!({"name": "x"})),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (403, Some("INSUFFICIENT_ACCESS_LEVEL"))
    );
    assert_eq!(
        send(http.delete(format!("{auth}/clients/testing")).bearer_auth(&admin)).0,
        409
    );
    assert_eq!(
        send(http.delete(format!("{auth}/clients/{id}")).bearer_auth(&admin)).0,
        204
    );
    assert_eq!(use_secret(&s2["clear"]), 401);
}

#[test]
fn cli_manages_clients_and_mints_tokens_for_a_running_sandbox() {
    let emu = Emulator::start(&[]);
    let run = |args: &[&str]| {
        let out = Command::new(crate::util::bin())
            .args(args)
            .arg("--state-dir")
            .arg(&emu.state_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let created = run(&["clients", "create", "cli-client"]);
    let id = created
        .lines()
        .find_map(|l| l.trim().strip_prefix("id"))
        .unwrap()
        .trim()
        .to_owned();
    let secret = run(&["secrets", "create", &id, "ci"]);
    let clear = secret
        .lines()
        .find_map(|l| l.strip_prefix("Clear"))
        .unwrap()
        .trim()
        .to_owned();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", clear.as_str()),
    ];
    assert_eq!(token_request(&plain(&emu), &emu.info.token_endpoint, &form).0, 200);
    assert!(run(&["clients", "list"]).contains(&id));

    let token = run(&["token", "--scope", "api"]);
    let (status, _, _) = send(
        plain(&emu)
            .get(format!("{}/banks/v1", emu.info.sandbox_url))
            .bearer_auth(token.trim()),
    );
    assert_eq!(status, 200);
    run(&["clients", "delete", &id]);
    assert_eq!(token_request(&plain(&emu), &emu.info.token_endpoint, &form).0, 401);
}

#[test]
fn jwt_and_self_signed_clients_registered_in_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let key_pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let key = EncodingKey::from_ec_pem(key_pem.as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some("k1".into());
    let jwks = serde_json::to_string(&JwkSet { keys: vec![jwk] }).unwrap();
    let selfie = rcgen::generate_simple_self_signed(vec!["selfie".into()]).unwrap();
    std::fs::write(tmp.path().join("selfie.pem"), selfie.cert.pem()).unwrap();
    let config = format!(
        "[[clients]]\nid = \"pkjwt\"\nauth_method = \"private_key_jwt\"\njwks = '{jwks}'\n\n\
         [[clients]]\nid = \"hs\"\nauth_method = \"client_secret_jwt\"\nsecrets = [\"shared-secret\"]\n\n\
         [[clients]]\nid = \"selfie\"\nauth_method = \"self_signed_tls_client_auth\"\ncertificate_file = \"selfie.pem\"\n"
    );
    std::fs::write(tmp.path().join("c.toml"), config).unwrap();
    crate::util::copy_template_to(&tmp.path().join("s"));
    let emu = Emulator::start_in(
        &tmp.path().join("s"),
        &["--config", tmp.path().join("c.toml").to_str().unwrap()],
    );
    let http = plain(&emu);
    let url = emu.info.token_endpoint.clone();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let assertion = |id: &str, header: Header, key: &EncodingKey, jti: &str| {
        let claims = json!({"iss": id, "sub": id, "aud": url, "exp": now + 60, "jti": jti});
        jsonwebtoken::encode(&header, &claims, key).unwrap()
    };
    let jwt_form = |a: String| {
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", a),
        ];
        send(http.post(&url).form(&form))
    };
    let mut es = Header::new(Algorithm::ES256);
    es.kid = Some("k1".into());
    let first = assertion("pkjwt", es.clone(), &key, "j1");
    assert_eq!(jwt_form(first.clone()).0, 200);
    let replay = jwt_form(first);
    assert_eq!((replay.0, replay.1["error"].as_str()), (401, Some("invalid_client")));
    let hs = assertion(
        "hs",
        Header::new(Algorithm::HS256),
        &EncodingKey::from_secret(b"shared-secret"),
        "h1",
    );
    assert_eq!(jwt_form(hs).0, 200);

    let selfie_pem = pki::CertAndKey {
        cert_pem: selfie.cert.pem(),
        key_pem: selfie.signing_key.serialize_pem(),
    };
    let selfie_client = client(&emu.read("lean_public_cert_chain.pem"), Identity::Leaf(selfie_pem));
    let (status, body, _) = send(
        selfie_client
            .post(&url)
            .form(&[("grant_type", "client_credentials"), ("client_id", "selfie")]),
    );
    assert_eq!(status, 200, "{body}");
    let stranger = client(
        &emu.read("lean_public_cert_chain.pem"),
        Identity::Leaf(app_identity(&emu)),
    );
    let (status, body, _) = send(
        stranger
            .post(&url)
            .form(&[("grant_type", "client_credentials"), ("client_id", "selfie")]),
    );
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
}

#[test]
fn signing_keys_survive_restarts_and_binding_can_be_required() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("c.toml");
    std::fs::write(&config, "[oauth]\nrequire_certificate_binding = true\n").unwrap();
    let dir = tmp.path().join("s");
    let emu = Emulator::start_in(&dir, &["--config", config.to_str().unwrap()]);
    let jwks = |emu: &Emulator| send(plain(emu).get(format!("{}/jwks.json", emu.info.auth_url))).1;
    let before = jwks(&emu);
    assert_eq!(before["keys"].as_array().unwrap().len(), 1);

    // An unbound token works on the sandbox host but not on the mtls host.
    let unbound = app_token(&emu, "api");
    let banks = |host: &str| format!("{host}/banks/v1");
    assert_eq!(
        send(plain(&emu).get(banks(&emu.info.sandbox_url)).bearer_auth(&unbound)).0,
        200
    );
    let (status, body, _) = send(with_app_cert(&emu).get(banks(&emu.info.mtls_url)).bearer_auth(&unbound));
    assert_eq!(
        (status, body["status"].as_str()),
        (401, Some("CERTIFICATE_TOKEN_MISMATCH"))
    );
    // Obtained over mTLS, the same client's token is bound and accepted.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", emu.info.client_id.as_str()),
        ("client_secret", emu.info.client_secret.as_str()),
    ];
    let (_, bound, _) = token_request(&with_app_cert(&emu), &emu.info.mtls_token_endpoint, &form);
    let bound = bound["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        send(with_app_cert(&emu).get(banks(&emu.info.mtls_url)).bearer_auth(&bound)).0,
        200
    );

    assert!(emu.stop().success());
    let emu = Emulator::start_in(&dir, &["--config", config.to_str().unwrap()]);
    assert_eq!(jwks(&emu), before, "the signing key is kept in the state dir");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(emu.file("oauth_signing_key_ps256.pem"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

/// A private_key_jwt client that publishes its keys at a jwks_uri: the
/// sandbox fetches them (a wiremock server stands in for the client's
/// JWKS host), caches them, and refetches when the client rotates keys.
#[test]
fn private_key_jwt_with_a_jwks_uri_served_by_wiremock() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let new_key = |kid: &str| {
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_pem();
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
        jwk.common.key_id = Some(kid.into());
        (key, jwk)
    };
    let (old_key, old_jwk) = new_key("old");
    let (rotated_key, rotated_jwk) = new_key("rotated");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let jwks_host = rt.block_on(MockServer::start());
    let serve = |keys: Vec<Jwk>, limit: u64| {
        rt.block_on(
            Mock::given(method("GET"))
                .and(path("/jwks.json"))
                .respond_with(ResponseTemplate::new(200).set_body_json(JwkSet { keys }))
                .up_to_n_times(limit)
                .mount(&jwks_host),
        )
    };
    serve(vec![old_jwk.clone()], 1);

    let tmp = tempfile::tempdir().unwrap();
    let config = format!(
        "[[clients]]\nid = \"published\"\nauth_method = \"private_key_jwt\"\njwks_uri = \"{}/jwks.json\"\n\
         [[clients]]\nid = \"clockmaster\"\nsecrets = [\"s\"]\nscopes = [\"admin\"]\n",
        jwks_host.uri()
    );
    std::fs::write(tmp.path().join("c.toml"), config).unwrap();
    crate::util::copy_template_to(&tmp.path().join("s"));
    let emu = Emulator::start_in(
        &tmp.path().join("s"),
        &["--config", tmp.path().join("c.toml").to_str().unwrap()],
    );
    let http = plain(&emu);
    let url = emu.info.token_endpoint.clone();
    let request = |key: &EncodingKey, kid: &str, jti: &str| {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = json!({"iss": "published", "sub": "published", "aud": url, "exp": now + 60, "jti": jti});
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        let assertion = jsonwebtoken::encode(&header, &claims, key).unwrap();
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion", assertion),
        ];
        send(http.post(&url).form(&form))
    };
    assert_eq!(request(&old_key, "old", "1").0, 200);
    assert_eq!(
        request(&old_key, "old", "2").0,
        200,
        "served from the cache (the mock answers once)"
    );

    serve(vec![old_jwk, rotated_jwk], 1);
    assert_eq!(
        request(&rotated_key, "rotated", "3").0,
        401,
        "an unknown kid within 30 s of the last fetch does not refetch (#18 item 4)"
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "clockmaster"),
        ("client_secret", "s"),
        ("scope", "admin"),
    ];
    let (status, body, _) = token_request(&http, &url, &form);
    assert_eq!(status, 200, "{body}");
    let admin = body["access_token"].as_str().unwrap();
    let clock = format!("{}/admin/clock", emu.info.auth_url);
    let (status, body, _) = send(http.post(&clock).bearer_auth(admin).json(&json!({"advance": "31s"})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        request(&rotated_key, "rotated", "3b").0,
        200,
        "an unknown kid triggers a refetch once the interval has passed"
    );
    let requests = rt.block_on(jwks_host.received_requests()).unwrap();
    assert_eq!(requests.len(), 2);

    rt.block_on(jwks_host.reset());
    let (status, body, _) = send(http.post(&clock).bearer_auth(admin).json(&json!({"advance": "31s"})));
    assert_eq!(status, 200, "{body}");
    let (status, body, _) = request(&new_key("other").0, "other", "4");
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    assert!(
        body["error_description"].as_str().unwrap().contains("jwks_uri"),
        "{body}"
    );
}

use super::*;

fn request(status: u16, credentials: Credentials) -> Seen {
    Seen::Request(Box::new(RequestSeen {
        method: Method::GET,
        path: "/banks/v1".into(),
        status: StatusCode::from_u16(status).unwrap(),
        elapsed: Duration::from_micros(1500),
        tls: None,
        credentials,
        note: None,
        failure: None,
    }))
}

/// Knows the token `abc` (client `client-2`) and who is who:
/// `alice`'s app token, `client-1` and `client-2` are alice's.
struct Known;

impl Resolve for Known {
    fn claims_of(&self, token: &str) -> Option<Value> {
        (token == "abc").then(|| serde_json::json!({"client_id": "client-2"}))
    }

    fn app_of(&self, caller: Caller<'_>) -> Option<String> {
        match caller {
            Caller::AppToken("alice-token") | Caller::ClientId("client-1" | "client-2") => Some("alice".into()),
            Caller::CommonName("bob") => Some("bob".into()),
            _ => None,
        }
    }
}

#[test]
fn keeps_the_last_n_events_newest_first() {
    let inspector = Inspector::new(3);
    for _ in 0..5 {
        inspector.record(Host::Sandbox, None, request(200, Credentials::None));
    }
    let seqs: Vec<u64> = inspector.events().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [5, 4, 3]);
    let off = Inspector::new(0);
    off.record(Host::Sandbox, None, request(200, Credentials::None));
    assert!(off.events().is_empty());
}

#[test]
fn handshake_failures_are_explained_with_their_fix() {
    let inspector = Inspector::new(10);
    let client: SocketAddr = "127.0.0.1:5555".parse().unwrap();
    inspector.record(
        Host::Mtls,
        Some(client),
        Seen::Handshake {
            failure: HandshakeFailure::MissingIntermediate {
                subject: "CN=my_app".into(),
            },
            certificate: None,
        },
    );
    let view = &inspector.view(&Undecoded)[0];
    assert_eq!(
        (view.kind, view.listener, view.outcome),
        ("handshake", "mtls", "refused")
    );
    assert_eq!(view.client_address.as_deref(), Some("127.0.0.1:5555"));
    assert!(
        view.explanation
            .as_deref()
            .unwrap()
            .contains("without its intermediate CA certificate")
    );
    assert!(
        view.fix
            .as_deref()
            .unwrap()
            .starts_with("concatenate my_app_cert.crt with lean_public_cert_chain.pem"),
        "{:?}",
        view.fix
    );
}

#[test]
fn deliveries_are_a_third_kind_with_their_attempt_and_result() {
    let inspector = Inspector::new(10);
    let attempt = |n: u32, status: Option<u16>, result: DeliveryResult| DeliverySeen {
        application: "alice".into(),
        event_type: "payment.created".into(),
        event_id: "e-1".into(),
        delivery_id: format!("d-{n}"),
        url: "http://localhost:9/hook".into(),
        attempt: n,
        max_attempts: 2,
        status,
        error: (result != DeliveryResult::Delivered).then(|| "cannot connect: Connection refused".into()),
        elapsed: Duration::from_millis(2),
        result,
    };
    inspector.record_delivery(attempt(1, None, DeliveryResult::Retrying { in_ms: 50 }));
    inspector.record_delivery(attempt(2, None, DeliveryResult::Failed));
    inspector.record_delivery(attempt(1, Some(204), DeliveryResult::Delivered));
    let views = inspector.view(&Undecoded);
    let summary: Vec<_> = views
        .iter()
        .map(|v| (v.kind, v.listener, v.outcome, v.webhook.as_ref().unwrap().result))
        .collect();
    assert_eq!(
        summary,
        [
            ("delivery", "outbound", "ok", "delivered"),
            ("delivery", "outbound", "refused", "failed"),
            ("delivery", "outbound", "error", "retrying"),
        ]
    );
    assert_eq!(views[0].request.as_deref(), Some("POST http://localhost:9/hook"));
    assert_eq!(views[0].app.as_deref(), Some("alice"), "whose URL it went to");
    assert_eq!(views[0].status, Some(204));
    let failed = views[1].explanation.as_deref().unwrap();
    assert!(
        failed.contains("attempt 2 of 2") && failed.contains("no more attempts"),
        "{failed}"
    );
    assert!(views[1].fix.as_deref().unwrap().contains("start your webhook receiver"));
    assert_eq!(views[2].webhook.as_ref().unwrap().retry_in_ms, Some(50));
}

#[test]
fn credentials_are_decoded_without_keeping_secrets_in_the_view() {
    let inspector = Inspector::new(10);
    let basic = HeaderValue::from_static("Basic Y2xpZW50LTE6czNjcjN0"); // client-1:s3cr3t
    inspector.record(Host::Auth, None, request(401, Credentials::Authorization(basic)));
    inspector.record(
        Host::Mtls,
        None,
        request(200, Credentials::Authorization(HeaderValue::from_static("Bearer abc"))),
    );
    let app_token = HeaderValue::from_static("alice-token");
    inspector.record(Host::Sandbox, None, request(200, Credentials::AppToken(app_token)));
    let views = inspector.view(&Known);
    assert_eq!(views[0].auth_method.as_deref(), Some("lean-app-token"));
    assert_eq!(views[1].client_id.as_deref(), Some("client-2"));
    assert_eq!(views[1].token_claims.as_ref().unwrap()["client_id"], "client-2");
    assert_eq!(views[2].client_id.as_deref(), Some("client-1"));
    assert_eq!(views[2].outcome, "refused");
    let json = serde_json::to_string(&views).unwrap();
    assert!(!json.contains("s3cr3t"), "no secret in the view: {json}");
    assert!(!json.contains("alice-token"), "no app token in the view: {json}");
    assert_eq!(views[2].duration_ms, Some(1.5));
}

#[test]
fn each_request_is_attributed_to_its_application_by_token_client_or_certificate() {
    let inspector = Inspector::new(10);
    let basic = HeaderValue::from_static("Basic Y2xpZW50LTE6czNjcjN0"); // client-1:s3cr3t
    inspector.record(Host::Auth, None, request(200, Credentials::Authorization(basic)));
    let bearer = HeaderValue::from_static("Bearer abc");
    inspector.record(Host::Mtls, None, request(200, Credentials::Authorization(bearer)));
    let unknown = HeaderValue::from_static("nobody");
    inspector.record(Host::Sandbox, None, request(401, Credentials::AppToken(unknown)));
    let now = time::OffsetDateTime::now_utc();
    let hierarchy = crate::pki::create_hierarchy("test", now).unwrap();
    let ca = crate::pki::Ca::load(hierarchy.intermediate).unwrap();
    let bob = ca.issue_client(&crate::pki::ClientCertSpec::new("bob", now)).unwrap();
    let bob = bob.cert_der().unwrap().to_vec();
    inspector.record(
        Host::Mtls,
        None,
        Seen::Handshake {
            failure: HandshakeFailure::MissingIntermediate {
                subject: "CN=bob".into(),
            },
            certificate: Some(bob),
        },
    );
    let apps: Vec<Option<String>> = inspector.view(&Known).into_iter().map(|v| v.app).collect();
    let alice = Some("alice".to_owned());
    assert_eq!(apps, [Some("bob".to_owned()), None, alice.clone(), alice]);
    let none: Vec<_> = inspector.view(&Undecoded).into_iter().filter_map(|v| v.app).collect();
    assert!(none.is_empty(), "{none:?}");
}

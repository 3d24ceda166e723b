//! The `Sandbox` fixture as another project's test would use it.

use harness::Sandbox;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_sandbox_for_your_own_tests() {
    let sandbox = Sandbox::start().await.unwrap();
    let info = &sandbox.info;

    // The mTLS host with the app certificate + chain.
    let banks = sandbox
        .mtls_client()
        .unwrap()
        .get(format!("{}/banks/v1", info.mtls_url))
        .header("lean-app-token", &info.app_token)
        .send()
        .await
        .unwrap();
    assert_eq!(banks.status(), 200);

    // OAuth on the auth host with the default app's credentials.
    let token: serde_json::Value = sandbox
        .client()
        .unwrap()
        .post(&info.token_endpoint)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &info.client_id),
            ("client_secret", &info.client_secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["token_type"], "bearer");

    // Without a certificate the mtls host refuses the connection.
    let refused = sandbox
        .client()
        .unwrap()
        .get(format!("{}/health", info.mtls_url))
        .send()
        .await;
    assert!(refused.is_err());

    let state_dir = info.state_dir.clone();
    sandbox.stop().await.unwrap();
    assert!(!state_dir.join("sandbox.json").exists(), "stopped cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sandboxes_run_side_by_side() {
    let (a, b) = (Sandbox::start().await.unwrap(), Sandbox::start().await.unwrap());
    assert_ne!(a.info.mtls_url, b.info.mtls_url);
    assert_ne!(a.info.app_token, b.info.app_token);
}

//! The emulator's admin API as the harness uses it: creating and deleting
//! applications (`/admin/apps` on the auth host) for `harness run
//! --parallel`, and setting one's webhook URL (`/admin/webhooks?app=`).
//!
//! It authenticates as the shipped scenarios do: an access token with
//! scope `admin` from the sandbox's built-in `testing` client. That needs
//! nothing but the sandbox's URLs (no signing key read from its state dir),
//! and a sandbox without that client says so in the error.

use anyhow::Context as _;
use mtls_sandbox::info::SandboxInfo;
use mtls_sandbox::pki;
use mtls_sandbox::tls;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::apps;

/// The admin client the default configuration provisions.
const ADMIN_CLIENT: (&str, &str) = ("testing", "testing");

/// How many numbered names to try when a name is taken (`quickstart-2`, …):
/// applications left behind by runs that were killed.
const NAME_ATTEMPTS: usize = 20;

/// Why the sandbox refused an admin call.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("an application named {0} already exists")]
    Taken(String),
    #[error("{what}: the sandbox answered {status}: {message}")]
    Refused {
        what: String,
        status: StatusCode,
        message: String,
    },
    #[error("{what}: the sandbox at {url} did not answer: {reason}")]
    Unreachable { what: String, url: String, reason: String },
}

/// An admin session on one sandbox.
pub struct AdminApi {
    http: reqwest::Client,
    auth_url: String,
    token_endpoint: String,
    /// Renewed when the sandbox refuses it: a scenario playing beside
    /// others may rotate the signing key (or move its clock) under it.
    token: std::sync::RwLock<String>,
}

impl AdminApi {
    /// Connects to the sandbox `info` describes (trusting its CA) and gets
    /// an admin token.
    pub async fn connect(info: &SandboxInfo) -> anyhow::Result<Self> {
        let chain = std::fs::read_to_string(&info.ca_chain)
            .with_context(|| format!("reading the sandbox CA chain {}", info.ca_chain.display()))?;
        let config = tls::client_config(pki::certs_from_pem(&chain, "CA chain")?, None)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(config)
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Self::connect_with(http, &info.auth_url, &info.token_endpoint).await
    }

    /// Gets an admin token at `token_endpoint` and calls `auth_url` with it.
    pub async fn connect_with(http: reqwest::Client, auth_url: &str, token_endpoint: &str) -> anyhow::Result<Self> {
        let token = new_token(&http, token_endpoint).await?;
        Ok(Self {
            http,
            auth_url: auth_url.trim_end_matches('/').to_owned(),
            token_endpoint: token_endpoint.to_owned(),
            token: std::sync::RwLock::new(token),
        })
    }

    /// Sends the request `build` makes with the admin token; once more with
    /// a new token if the sandbox no longer accepts it (401).
    async fn call(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
        what: &str,
        url: &str,
    ) -> Result<Value, AdminError> {
        let token = self.token.read().unwrap_or_else(|p| p.into_inner()).clone();
        match send(build(&token), what, url).await {
            Err(AdminError::Refused {
                status: StatusCode::UNAUTHORIZED,
                ..
            }) => {
                let fresh = new_token(&self.http, &self.token_endpoint)
                    .await
                    .map_err(|e| AdminError::Refused {
                        what: what.to_owned(),
                        status: StatusCode::UNAUTHORIZED,
                        message: format!("the admin token was refused and a new one could not be had: {e:#}"),
                    })?;
                *self.token.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
                send(build(&fresh), what, url).await
            }
            other => other,
        }
    }

    /// `POST /admin/apps`: creates application `name` and returns its
    /// `sandbox.json`.
    pub async fn create_app(&self, name: &str) -> Result<SandboxInfo, AdminError> {
        let url = format!("{}/admin/apps", self.auth_url);
        let what = format!("creating application {name}");
        let request = |token: &str| {
            self.http
                .post(&url)
                .bearer_auth(token)
                .json(&json!({ "name": name, "auth_mode": "app_token" }))
        };
        let body = match self.call(request, &what, &url).await {
            Err(AdminError::Refused {
                status: StatusCode::CONFLICT,
                ..
            }) => return Err(AdminError::Taken(name.to_owned())),
            other => other?,
        };
        serde_json::from_value(body["data"].clone()).map_err(|e| AdminError::Refused {
            what,
            status: StatusCode::CREATED,
            message: format!("its answer is not an application's sandbox.json ({e}): {body}"),
        })
    }

    /// Creates an application called `base`, or `base-2`, `base-3`, … when
    /// that is taken; returns the name it got and its `sandbox.json`.
    pub async fn create_app_like(&self, base: &str) -> Result<(String, SandboxInfo), AdminError> {
        for n in 1..=NAME_ATTEMPTS {
            let name = apps::numbered(base, n);
            match self.create_app(&name).await {
                Ok(info) => return Ok((name, info)),
                Err(AdminError::Taken(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(AdminError::Taken(format!(
            "{base} (and {base}-2 to {base}-{NAME_ATTEMPTS}; delete old ones with `mtls-sandbox apps delete NAME`)"
        )))
    }

    /// `GET /admin/apps`: the names of the sandbox's applications.
    pub async fn app_names(&self) -> Result<Vec<String>, AdminError> {
        let url = format!("{}/admin/apps", self.auth_url);
        let body = self
            .call(
                |token| self.http.get(&url).bearer_auth(token),
                "listing applications",
                &url,
            )
            .await?;
        let names = body["data"].as_array().into_iter().flatten();
        Ok(names
            .filter_map(|app| app["name"].as_str().map(str::to_owned))
            .collect())
    }

    /// `PUT /admin/webhooks?app={name}`: the application's events go to `url`.
    pub async fn set_webhook_url(&self, name: &str, url: &str) -> Result<(), AdminError> {
        let endpoint = format!("{}/admin/webhooks", self.auth_url);
        let request = |token: &str| {
            self.http
                .put(&endpoint)
                .query(&[("app", name)])
                .bearer_auth(token)
                .json(&json!({ "url": url }))
        };
        let what = format!("setting application {name}'s webhook URL");
        self.call(request, &what, &endpoint).await?;
        Ok(())
    }

    /// `DELETE /admin/apps/{name}`.
    pub async fn delete_app(&self, name: &str) -> Result<(), AdminError> {
        let url = format!("{}/admin/apps/{name}", self.auth_url);
        let request = |token: &str| self.http.delete(&url).bearer_auth(token);
        self.call(request, &format!("deleting application {name}"), &url)
            .await?;
        Ok(())
    }
}

/// An access token with scope `admin` from the built-in client.
async fn new_token(http: &reqwest::Client, token_endpoint: &str) -> anyhow::Result<String> {
    let (id, secret) = ADMIN_CLIENT;
    let what = format!("getting an admin token as the built-in `{id}` client");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
        ("scope", "admin"),
    ];
    let body = send(http.post(token_endpoint).form(&form), &what, token_endpoint)
        .await
        .with_context(|| {
            format!(
                "--parallel creates an application per scenario file through the admin API, \
                 with a token of the `{id}` client; a sandbox whose configuration leaves it out cannot do that"
            )
        })?;
    Ok(body["access_token"]
        .as_str()
        .with_context(|| format!("{what}: no access_token in {body}"))?
        .to_owned())
}

/// Sends an admin request; a 2xx answer's JSON body (`null` for 204).
async fn send(request: reqwest::RequestBuilder, what: &str, url: &str) -> Result<Value, AdminError> {
    let response = request.send().await.map_err(|e| AdminError::Unreachable {
        what: what.to_owned(),
        url: url.to_owned(),
        reason: crate::exchange::error_chain(&e),
    })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = ["message", "error_description"]
        .iter()
        .find_map(|key| body[key].as_str())
        .map(str::to_owned)
        .unwrap_or(text);
    Err(AdminError::Refused {
        what: what.to_owned(),
        status,
        message,
    })
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{body_json, body_string_contains, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    /// A fake auth host: the token endpoint, and `/admin/apps` where
    /// `quickstart` is already taken.
    async fn fake_auth_host() -> MockServer {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .and(body_string_contains("client_id=testing"))
            .and(body_string_contains("scope=admin"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "admin-token"})))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/admin/apps"))
            .and(body_json(json!({"name": "quickstart", "auth_mode": "app_token"})))
            .respond_with(ResponseTemplate::new(409).set_body_json(json!({"status": "CONFLICT", "message": "exists"})))
            .mount(&server)
            .await;
        let mut info: Value = serde_json::to_value(sample_info()).unwrap();
        info["app_token"] = "token-of-quickstart-2".into();
        Mock::given(method("POST"))
            .and(path("/admin/apps"))
            .and(header("authorization", "Bearer admin-token"))
            .and(body_json(json!({"name": "quickstart-2", "auth_mode": "app_token"})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({ "data": info })))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/admin/apps/quickstart-2"))
            .and(header("authorization", "Bearer admin-token"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/admin/apps/ghost"))
            .respond_with(
                ResponseTemplate::new(404).set_body_json(json!({"status": "NOT_FOUND", "message": "no app ghost"})),
            )
            .mount(&server)
            .await;
        server
    }

    fn sample_info() -> SandboxInfo {
        serde_json::from_value(json!({
            "sandbox_url": "https://127.0.0.1:1", "mtls_url": "https://127.0.0.1:2", "auth_url": "https://127.0.0.1:3",
            "token_endpoint": "https://127.0.0.1:3/oauth2/token", "mtls_token_endpoint": "https://127.0.0.1:2/oauth2/token",
            "app_token": "t", "client_id": "c", "client_secret": "s",
            "ca_chain": "/s/lean_public_cert_chain.pem", "client_cert": "/s/apps/x/cert.crt",
            "client_key": "/s/apps/x/key.pem", "client_p12": "/s/apps/x/x.p12", "p12_password": "p",
            "pid": 1, "state_dir": "/s"
        }))
        .unwrap()
    }

    async fn admin(server: &MockServer) -> AdminApi {
        let token_endpoint = format!("{}/oauth2/token", server.uri());
        AdminApi::connect_with(reqwest::Client::new(), &server.uri(), &token_endpoint)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_taken_name_gets_the_next_number_and_the_app_can_be_deleted() {
        let server = fake_auth_host().await;
        let admin = admin(&server).await;
        let (name, info) = admin.create_app_like("quickstart").await.unwrap();
        assert_eq!(name, "quickstart-2");
        assert_eq!(info.app_token, "token-of-quickstart-2");
        admin.delete_app("quickstart-2").await.unwrap();
        let e = admin.delete_app("ghost").await.unwrap_err().to_string();
        assert_eq!(
            e,
            "deleting application ghost: the sandbox answered 404 Not Found: no app ghost"
        );
    }

    #[tokio::test]
    async fn a_refused_admin_token_is_renewed_once() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "first"})))
            .up_to_n_times(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "renewed"})))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(header("authorization", "Bearer first"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "key rotated"})))
            .mount(&server)
            .await;
        Mock::given(method("DELETE"))
            .and(path("/admin/apps/a"))
            .and(header("authorization", "Bearer renewed"))
            .respond_with(ResponseTemplate::new(204))
            .expect(2)
            .mount(&server)
            .await;
        let admin = admin(&server).await;
        admin.delete_app("a").await.unwrap();
        admin.delete_app("a").await.unwrap();
        server.verify().await;
    }

    #[tokio::test]
    async fn without_the_testing_client_the_error_says_why_parallel_needs_it() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth2/token"))
            .respond_with(
                ResponseTemplate::new(401)
                    .set_body_json(json!({"error": "invalid_client", "error_description": "unknown client testing"})),
            )
            .mount(&server)
            .await;
        let token_endpoint = format!("{}/oauth2/token", server.uri());
        let e = AdminApi::connect_with(reqwest::Client::new(), &server.uri(), &token_endpoint)
            .await
            .err()
            .unwrap();
        let e = format!("{e:#}");
        assert!(e.contains("--parallel creates an application per scenario file"), "{e}");
        assert!(e.contains("401 Unauthorized: unknown client testing"), "{e}");
    }
}

//! The stand-in API behind the gateway in scenarios: a wiremock server that
//! answers every request with what it received, as JSON, so steps can
//! assert what the gateway forwarded.
//!
//! Scenario files route to it with `upstream = "echo"` in a `[[gateway]]`
//! table (the same table as in the emulator's config file).

use mtls_sandbox::gateway::{Route, RouteSection};
use mtls_sandbox::oauth::token::unverified_claims;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The `upstream` value that means the harness's echo API.
pub const ECHO: &str = "echo";

/// Starts the echo API on a free loopback port.
pub async fn start_echo() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(|req: &Request| ResponseTemplate::new(200).set_body_json(echo(req)))
        .mount(&server)
        .await;
    server
}

/// `{"method", "path", "query", "headers", "body", "jwt"}`; `jwt` holds the
/// (unverified) claims of a bearer JWT, as an API would log them, else null.
fn echo(req: &Request) -> Value {
    let headers: serde_json::Map<String, Value> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or(""))))
        .collect();
    let jwt = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(unverified_claims);
    json!({
        "method": req.method.as_str(),
        "path": req.url.path(),
        "query": req.url.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&req.body),
        "jwt": jwt,
    })
}

/// The scenario's gateway tables as emulator routes, `echo` resolved to
/// `echo_url`.
pub fn routes(sections: &[RouteSection], echo_url: &str) -> Result<Vec<Route>, String> {
    sections
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if s.upstream == ECHO {
                s.upstream = echo_url.to_owned();
            }
            let prefix = s.prefix.clone();
            Route::try_from(s).map_err(|e| format!("gateway route '{prefix}': {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_resolves_and_bad_routes_name_the_field() {
        let section: RouteSection = toml::from_str("prefix = \"/p/\"\nupstream = \"echo\"").unwrap();
        let routes = routes(std::slice::from_ref(&section), "http://127.0.0.1:9").unwrap();
        assert_eq!(routes[0].origin, "http://127.0.0.1:9");
        let mut bad = section;
        bad.upstream = "ftp://x".into();
        let err = super::routes(&[bad], "http://127.0.0.1:9").unwrap_err();
        assert!(err.contains("route '/p/'") && err.contains("upstream"), "{err}");
    }
}

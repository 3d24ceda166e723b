//! Gateway routes: which path prefixes of the mtls host go to which upstream,
//! and what the gateway checks and adds on the way.
//!
//! Written in the config file as `[[gateway]]` tables, or as one catch-all
//! route by `up --upstream URL`. Validated once at start so a typo is an
//! error naming the route and field, not a 502 at the first request.

use std::time::Duration;

use axum::http::{HeaderName, Uri};
use serde::Deserialize;

pub const DEFAULT_CERT_HEADER: &str = "x-client-cert";
pub const DEFAULT_THUMBPRINT_HEADER: &str = "x-client-cert-thumbprint";
pub const XFCC_HEADER: &str = "x-forwarded-client-cert";
const DEFAULT_TIMEOUT_MS: u64 = 30_000;

/// One `[[gateway]]` table as written by users.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    /// Path prefix on the mtls host (plain string prefix, as nginx's `location`).
    pub prefix: String,
    /// `http://host:port[/base]`: where matching requests go.
    pub upstream: String,
    /// Refuse requests without a valid bearer token (default true).
    pub require_token: Option<bool>,
    /// Scopes the token must all carry.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Refuse tokens that are not bound to the caller's certificate.
    #[serde(default)]
    pub require_binding: bool,
    /// Replace an opaque token by its JWT before forwarding (default true).
    pub phantom_token: Option<bool>,
    /// Header carrying the URL-escaped PEM client certificate, as nginx's
    /// `$ssl_client_escaped_cert`; "" leaves it out.
    pub client_cert_header: Option<String>,
    /// Header carrying the certificate's SHA-256 thumbprint (base64url, as
    /// `cnf.x5t#S256`); "" leaves it out.
    pub thumbprint_header: Option<String>,
    /// Also send Envoy's `X-Forwarded-Client-Cert` (Hash, Subject, Cert).
    #[serde(default)]
    pub xfcc: bool,
    /// Remove the prefix from the path before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    /// How long to wait for the upstream's response headers, and the longest
    /// silence allowed within its response body (default 30000).
    pub timeout_ms: Option<u64>,
}

/// A validated route.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub prefix: String,
    /// Scheme and authority of the upstream, e.g. `http://127.0.0.1:3000`.
    pub origin: String,
    /// The upstream's base path without a trailing slash ("" for none).
    pub base_path: String,
    pub require_token: bool,
    pub scopes: Vec<String>,
    pub require_binding: bool,
    pub phantom_token: bool,
    pub cert_header: Option<HeaderName>,
    pub thumbprint_header: Option<HeaderName>,
    pub xfcc: bool,
    pub strip_prefix: bool,
    pub timeout: Duration,
}

impl Route {
    /// The catch-all route of `up --upstream URL`, with default checks.
    pub fn catch_all(upstream: &str) -> Result<Self, String> {
        Self::try_from(RouteSection {
            prefix: "/".into(),
            upstream: upstream.into(),
            require_token: None,
            scopes: Vec::new(),
            require_binding: false,
            phantom_token: None,
            client_cert_header: None,
            thumbprint_header: None,
            xfcc: false,
            strip_prefix: false,
            timeout_ms: None,
        })
    }

    /// One line for the startup summary: prefix, upstream and checks.
    pub fn describe(&self) -> String {
        let mut checks = Vec::new();
        if self.require_token {
            checks.push("bearer token".to_owned());
        }
        if !self.scopes.is_empty() {
            checks.push(format!("scopes {}", self.scopes.join(" ")));
        }
        if self.require_binding {
            checks.push("certificate-bound".into());
        }
        let checks = if checks.is_empty() {
            "mTLS only".into()
        } else {
            checks.join(", ")
        };
        let stripped = if self.strip_prefix { "(prefix stripped)" } else { "" };
        format!(
            "{}* → {}{}/ {stripped} [{checks}]",
            self.prefix, self.origin, self.base_path
        )
    }

    /// `host:port` of the upstream.
    pub fn authority(&self) -> &str {
        self.origin.strip_prefix("http://").unwrap_or(&self.origin)
    }

    /// The upstream request target (origin-form: the upstream's base path,
    /// the path and the query; the connection names the host) for a request
    /// to `path` (and `query`) on the mtls host. Built in one allocation:
    /// it is made for every forwarded request.
    pub fn path_and_query(&self, path: &str, query: Option<&str>) -> String {
        let rest = if self.strip_prefix {
            path.strip_prefix(self.prefix.as_str()).unwrap_or(path)
        } else {
            path
        };
        let len = self.base_path.len() + 1 + rest.len() + query.map_or(0, |q| 1 + q.len());
        let mut uri = String::with_capacity(len);
        uri.push_str(&self.base_path);
        if !rest.starts_with('/') {
            uri.push('/');
        }
        uri.push_str(rest);
        if let Some(query) = query {
            uri.push('?');
            uri.push_str(query);
        }
        uri
    }
}

impl TryFrom<RouteSection> for Route {
    type Error = String;

    fn try_from(s: RouteSection) -> Result<Self, String> {
        if !s.prefix.starts_with('/') {
            return Err(format!("prefix {:?} must start with '/'", s.prefix));
        }
        let uri: Uri = s
            .upstream
            .parse()
            .map_err(|e| format!("upstream {:?} is not a URL: {e}", s.upstream))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(format!(
                "upstream {:?} must be http://host:port[/path] (the gateway talks plain HTTP to your API)",
                s.upstream
            ));
        }
        if uri.query().is_some() {
            return Err(format!("upstream {:?} must not have a query string", s.upstream));
        }
        let header = |field: &str, value: Option<String>, default: &str| -> Result<Option<HeaderName>, String> {
            match value.as_deref().unwrap_or(default) {
                "" => Ok(None),
                name => HeaderName::try_from(name)
                    .map(Some)
                    .map_err(|_| format!("{field} {name:?} is not a valid header name")),
            }
        };
        let timeout_ms = s.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        if timeout_ms == 0 {
            return Err("timeout_ms must be at least 1".into());
        }
        Ok(Self {
            origin: format!("http://{}", uri.authority().expect("checked above")),
            base_path: uri.path().trim_end_matches('/').to_owned(),
            require_token: s.require_token.unwrap_or(true),
            scopes: s.scopes,
            require_binding: s.require_binding,
            phantom_token: s.phantom_token.unwrap_or(true),
            cert_header: header("client_cert_header", s.client_cert_header, DEFAULT_CERT_HEADER)?,
            thumbprint_header: header("thumbprint_header", s.thumbprint_header, DEFAULT_THUMBPRINT_HEADER)?,
            xfcc: s.xfcc,
            strip_prefix: s.strip_prefix,
            timeout: Duration::from_millis(timeout_ms),
            prefix: s.prefix,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml: &str) -> RouteSection {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn defaults_check_tokens_swap_phantoms_and_send_the_certificate() {
        let route = Route::catch_all("http://127.0.0.1:3000").unwrap();
        assert!(route.require_token && route.phantom_token && !route.require_binding);
        assert_eq!(route.cert_header.as_ref().unwrap(), DEFAULT_CERT_HEADER);
        assert_eq!(route.thumbprint_header.as_ref().unwrap(), DEFAULT_THUMBPRINT_HEADER);
        assert_eq!(route.timeout, Duration::from_secs(30));
        assert_eq!(route.authority(), "127.0.0.1:3000");
        assert_eq!(route.path_and_query("/a/b", Some("c=d")), "/a/b?c=d");
        assert_eq!(route.describe(), "/* → http://127.0.0.1:3000/  [bearer token]");
    }

    #[test]
    fn base_paths_and_stripped_prefixes_join_with_one_slash() {
        let route = Route::try_from(section(
            "prefix = \"/partner\"\nupstream = \"http://api:8080/v2/\"\nstrip_prefix = true\nclient_cert_header = \"\"",
        ))
        .unwrap();
        assert_eq!(route.authority(), "api:8080");
        assert_eq!(route.path_and_query("/partner/tx", Some("x=1")), "/v2/tx?x=1");
        assert_eq!(route.path_and_query("/partner", Some("x=1")), "/v2/?x=1");
        assert_eq!(route.path_and_query("/partner", None), "/v2/");
        assert_eq!(route.path_and_query("/partnerx", None), "/v2/x");
        assert_eq!(route.cert_header, None);
    }

    #[test]
    fn invalid_routes_name_the_field() {
        let cases = [
            ("prefix = \"api\"\nupstream = \"http://a:1\"", "prefix"),
            ("prefix = \"/\"\nupstream = \"https://a:1\"", "http://host:port"),
            ("prefix = \"/\"\nupstream = \"not a url\"", "not a URL"),
            ("prefix = \"/\"\nupstream = \"http://a:1/?q\"", "query"),
            (
                "prefix = \"/\"\nupstream = \"http://a:1\"\nthumbprint_header = \"bad header\"",
                "thumbprint_header",
            ),
            (
                "prefix = \"/\"\nupstream = \"http://a:1\"\ntimeout_ms = 0",
                "timeout_ms",
            ),
        ];
        for (toml, needle) in cases {
            let err = Route::try_from(section(toml)).unwrap_err();
            assert!(err.contains(needle), "{toml}: {err}");
        }
    }
}

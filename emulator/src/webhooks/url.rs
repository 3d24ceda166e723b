//! Which URLs the sandbox will POST webhooks to: `https://` anywhere
//! (verified against the system's roots plus the sandbox's own CA), and
//! plain `http://` only to this machine (`localhost`, 127.0.0.0/8, `[::1]`),
//! where a test's receiver runs without a certificate.
//!
//! A URL is checked once, where it is set (config file, admin API, CLI,
//! portal); the worker only ever sends to a [`WebhookUrl`], so nothing
//! reaches a URL that did not pass here.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

/// Longest URL accepted.
pub const MAX_LEN: usize = 2048;

/// A webhook URL that passed [`WebhookUrl::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebhookUrl(Url);

/// Why a URL is refused; the message names what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("'{0}' is not an absolute URL; give one like https://example.com/webhooks or http://localhost:8080/hook")]
    NotAUrl(String),
    #[error("is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("'{0}': only https:// URLs, or http:// to localhost, 127.0.0.1 or [::1], are accepted")]
    Scheme(String),
    #[error(
        "'{0}': plain http:// is accepted only for a receiver on this machine (localhost, 127.0.0.1, [::1]); use https:// for {1}"
    )]
    RemoteHttp(String, String),
    #[error("must not carry a user name or password (user:password@host): they would be sent and shown in logs")]
    Credentials,
    #[error("'{0}' must not have a #fragment")]
    Fragment(String),
}

impl WebhookUrl {
    pub fn parse(text: &str) -> Result<Self, UrlError> {
        let text = text.trim();
        if text.len() > MAX_LEN {
            return Err(UrlError::TooLong);
        }
        let url = Url::parse(text).map_err(|_| UrlError::NotAUrl(text.to_owned()))?;
        let Some(host) = url.host_str().filter(|h| !h.is_empty()).map(str::to_owned) else {
            return Err(UrlError::NotAUrl(text.to_owned()));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(UrlError::Fragment(text.to_owned()));
        }
        match url.scheme() {
            "https" => {}
            "http" if is_local(&host) => {}
            "http" => return Err(UrlError::RemoteHttp(text.to_owned(), host)),
            _ => return Err(UrlError::Scheme(text.to_owned())),
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The URL for logs and the inspector: without its query string, which
    /// often carries a receiver's secret token (`?token=…` shows as `?…`).
    pub fn redacted(&self) -> String {
        let mut url = self.0.clone();
        let had_query = url.query().is_some();
        url.set_query(None);
        if had_query {
            format!("{url}?…")
        } else {
            url.to_string()
        }
    }
}

impl fmt::Display for WebhookUrl {
    /// Redacted: see [`WebhookUrl::redacted`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `localhost` (and `*.localhost`, RFC 6761) or a loopback address.
fn is_local(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.to_ascii_lowercase().ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_and_http_only_on_this_machine() {
        for ok in [
            "https://example.com/hooks",
            "https://10.0.0.5:8443/x?token=abc",
            "http://localhost:8080/hook",
            "http://127.0.0.1:9/",
            "http://127.1.2.3/",
            "http://[::1]:8080/hook",
            "http://receiver.localhost/",
            "  https://example.com  ",
        ] {
            assert!(WebhookUrl::parse(ok).is_ok(), "{ok}");
        }
        let refused = |text: &str| WebhookUrl::parse(text).unwrap_err();
        assert!(matches!(refused("http://example.com/hook"), UrlError::RemoteHttp(_, h) if h == "example.com"));
        assert!(matches!(refused("http://10.0.0.5/"), UrlError::RemoteHttp(..)));
        assert!(matches!(refused("ftp://localhost/x"), UrlError::Scheme(_)));
        assert!(matches!(refused("file:///etc/passwd"), UrlError::NotAUrl(_)));
        assert!(matches!(
            refused("localhost:8080"),
            UrlError::Scheme(_) | UrlError::NotAUrl(_)
        ));
        assert!(matches!(refused("/hook"), UrlError::NotAUrl(_)));
        assert!(matches!(refused("https://u:p@example.com/"), UrlError::Credentials));
        assert!(matches!(refused("https://example.com/#x"), UrlError::Fragment(_)));
        let long = format!("https://example.com/{}", "a".repeat(MAX_LEN));
        assert_eq!(refused(&long), UrlError::TooLong);
        assert!(
            refused("http://example.com/")
                .to_string()
                .contains("use https:// for example.com")
        );
    }

    #[test]
    fn logs_never_show_the_query_string() {
        let url = WebhookUrl::parse("https://example.com/hook?token=s3cret").unwrap();
        assert_eq!(url.redacted(), "https://example.com/hook?…");
        assert!(!url.to_string().contains("s3cret"));
        assert_eq!(url.as_str(), "https://example.com/hook?token=s3cret");
        let plain = WebhookUrl::parse("http://localhost:1/h").unwrap();
        assert_eq!(plain.redacted(), "http://localhost:1/h");
    }
}

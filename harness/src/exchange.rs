//! One HTTP exchange of a request step: the request as the runner prepared
//! it (variables already interpolated), and the response as received,
//! body read in full, so the checks, the retry rule and `--step`'s full
//! display all look at the same bytes.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// A request step with every `${variable}` replaced.
pub struct Prepared {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub basic: Option<(String, String)>,
    pub form: Option<Vec<(String, String)>>,
    pub json: Option<Value>,
}

impl Prepared {
    /// The request as `http` will send it (built anew for each retry).
    pub fn build(&self, http: &reqwest::Client) -> reqwest::Result<reqwest::Request> {
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut req = http.request(method, &self.url).query(&self.query);
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some((user, password)) = &self.basic {
            req = req.basic_auth(user, Some(password));
        }
        if let Some(form) = &self.form {
            req = req.form(form);
        }
        if let Some(json) = &self.json {
            req = req.json(json);
        }
        req.build()
    }
}

/// A response with its body read.
pub struct Received {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Received {
    /// Reads the whole body; a body that breaks off reads as empty, which
    /// the step's expectations then report.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        Self { status, headers, text }
    }

    /// What a well-behaved client does with a 429 or 503: wait as long as
    /// `Retry-After` says (delay-seconds; capped at 60) and try again.
    pub fn retry_after(&self) -> Option<(StatusCode, Duration)> {
        if self.status != StatusCode::TOO_MANY_REQUESTS && self.status != StatusCode::SERVICE_UNAVAILABLE {
            return None;
        }
        let secs: u64 = self.headers.get("retry-after")?.to_str().ok()?.trim().parse().ok()?;
        Some((self.status, Duration::from_secs(secs.min(60))))
    }
}

/// The innermost cause of a client error, which is what says what failed.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg = s.to_string();
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(status: u16, retry_after: Option<&str>) -> Received {
        let mut headers = HeaderMap::new();
        if let Some(value) = retry_after {
            headers.insert("retry-after", value.parse().unwrap());
        }
        Received {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            text: String::new(),
        }
    }

    #[test]
    fn only_429_and_503_with_delay_seconds_are_retried_and_the_wait_is_capped() {
        assert_eq!(
            received(429, Some("2")).retry_after(),
            Some((StatusCode::TOO_MANY_REQUESTS, Duration::from_secs(2)))
        );
        assert_eq!(
            received(503, Some("600")).retry_after().unwrap().1,
            Duration::from_secs(60)
        );
        assert_eq!(received(500, Some("1")).retry_after(), None);
        assert_eq!(received(429, None).retry_after(), None);
        assert_eq!(received(429, Some("Wed, 21 Oct 2015 07:28:00 GMT")).retry_after(), None);
    }
}

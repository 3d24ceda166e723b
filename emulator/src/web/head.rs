//! The request-head limits (`limits::MAX_HEAD_BYTES`, `limits::MAX_HEADERS`)
//! answered in the API's JSON error shape.
//!
//! hyper refuses a head over its own limits by itself, with a bare 431 and
//! no body — the one error a client would see without an explanation.
//! So hyper's limits sit above the documented ones (`limits::configure`)
//! and this middleware, the first to see each request, enforces the
//! documented limits with a 431 that says which limit was exceeded. Only a
//! head beyond hyper's ceiling still gets hyper's own answer: the server
//! must stop reading somewhere before the request reaches any code of ours.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::limits::{MAX_HEAD_BYTES, MAX_HEADERS};

/// The answer to a request whose head exceeds the documented limits.
pub fn refusal(req: &Request) -> Option<Response> {
    let error = over(req.method(), req.uri(), req.headers())?;
    let mut response = error.into_response();
    // The body (if any) is not read: end the connection rather than
    // parse whatever follows as the next request.
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Some(response)
}

#[cfg(test)]
fn over_limit(parts: &axum::http::request::Parts) -> Option<ApiError> {
    over(&parts.method, &parts.uri, &parts.headers)
}

fn over(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<ApiError> {
    let too_large = |message: String| {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            message,
        )
    };
    let count = headers.len();
    if count > MAX_HEADERS {
        return Some(too_large(format!(
            "the request has {count} header fields; the sandbox accepts at most {MAX_HEADERS}. \
             Fix: send fewer headers (a proxy or a cookie jar adding them?)"
        )));
    }
    let size = head_size(method, uri, headers);
    if size > MAX_HEAD_BYTES {
        return Some(too_large(format!(
            "the request line and headers are {size} bytes; the sandbox accepts at most {MAX_HEAD_BYTES}. \
             Fix: shorten the URL or the largest header (a cookie or a token sent twice?)"
        )));
    }
    None
}

/// The size of the head as sent on HTTP/1.1: the request line, each
/// `name: value` line, and the blank line that ends the head.
fn head_size(method: &Method, uri: &Uri, headers: &HeaderMap) -> usize {
    let request_line = method.as_str().len() + 1 + uri_len(uri) + " HTTP/1.1\r\n".len();
    let fields: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + ": ".len() + value.len() + "\r\n".len())
        .sum();
    request_line + fields + "\r\n".len()
}

/// `uri.to_string().len()` without making the string (every request).
fn uri_len(uri: &Uri) -> usize {
    uri.scheme_str().map_or(0, |s| s.len() + "://".len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path().len()
        + uri.query().map_or(0, |q| "?".len() + q.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, String)]) -> axum::http::request::Parts {
        let mut builder = Request::builder().method("GET").uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn head_size_counts_the_bytes_on_the_wire() {
        let head = "GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n";
        let p = parts("/health", &[("host", "localhost".into())]);
        assert_eq!(head_size(&p.method, &p.uri, &p.headers), head.len());
    }

    #[test]
    fn uri_len_is_the_length_of_the_uri_as_written() {
        for uri in [
            "/",
            "/a/b?c=d&e",
            "/?",
            "https://h.example:8443/p?q",
            "*",
            "h.example:443",
        ] {
            let uri: Uri = uri.parse().unwrap();
            assert_eq!(uri_len(&uri), uri.to_string().len(), "{uri}");
        }
    }

    #[test]
    fn heads_over_the_documented_limits_are_refused_with_the_limit_named() {
        assert!(over_limit(&parts("/", &[("x-ok", "a".repeat(1000))])).is_none());

        let big = over_limit(&parts("/", &[("x-big", "a".repeat(MAX_HEAD_BYTES))])).unwrap();
        assert_eq!(big.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert!(
            big.message.contains(&format!("at most {MAX_HEAD_BYTES}")),
            "{}",
            big.message
        );

        let names: Vec<(String, String)> = (0..=MAX_HEADERS).map(|i| (format!("x-{i}"), "v".into())).collect();
        let borrowed: Vec<(&str, String)> = names.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
        let many = over_limit(&parts("/", &borrowed)).unwrap();
        assert!(
            many.message.contains(&format!("at most {MAX_HEADERS}")),
            "{}",
            many.message
        );
    }
}

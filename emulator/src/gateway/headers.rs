//! What the upstream sees: the request headers rewritten the way a
//! TLS-terminating reverse proxy does it (nginx `proxy_pass` with
//! `$ssl_client_escaped_cert`, Envoy's `X-Forwarded-Client-Cert`).
//!
//! Pure functions over a `HeaderMap`, so every rule is unit-tested without
//! a network.

use std::net::IpAddr;

use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::client_cert::CertHeaders;
use super::route::{Route, XFCC_HEADER};

/// RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
/// Proxy-Authorization is addressed to the gateway itself. Names, not
/// strings: removing by a string parses it on every request.
const HOPS: usize = 7;
const HOP_BY_HOP: [HeaderName; HOPS] = [
    header::CONNECTION,
    HeaderName::from_static("proxy-connection"),
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Headers a TLS-terminating proxy sets about the client and the
/// connection. The gateway is the client's first hop, so whatever a client
/// sends under these names is a forgery the upstream would trust: all are
/// removed from every request, whether or not this route sets them.
const OWNED: [&str; 8] = [
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-client-verify",
    "x-arr-clientcert",
    "ssl-client-cert",
    XFCC_HEADER,
];

/// Name prefixes of the same kind: X-Forwarded-For/-Host/-Proto/-Port/-Prefix
/// and Traefik's X-Forwarded-Tls-Client-Cert, our `X-Client-Cert*`,
/// nginx/Apache conventions (`X-SSL-Client-Verify`, `-DN`, `-Cert`) and
/// AWS ALB's `X-Amzn-Mtls-*`.
const OWNED_PREFIXES: [&str; 4] = ["x-forwarded-", "x-client-cert", "x-ssl-", "x-amzn-mtls-"];

/// The certificate header names of every route: a name one route sets is
/// one its upstream may trust on a request arriving through another route.
#[derive(Debug, Default)]
pub struct Owned(Vec<HeaderName>);

impl Owned {
    pub fn of(routes: &[Route]) -> Self {
        let names = routes
            .iter()
            .flat_map(|r| [&r.cert_header, &r.thumbprint_header])
            .flatten()
            .cloned()
            .collect();
        Self(names)
    }

    fn contains(&self, name: &HeaderName) -> bool {
        let name = name.as_str();
        OWNED.contains(&name)
            || OWNED_PREFIXES.iter().any(|p| name.starts_with(p))
            || self.0.iter().any(|n| n.as_str() == name)
    }
}

/// What the gateway knows about the caller.
pub struct Caller<'a> {
    pub ip: Option<IpAddr>,
    /// The authority of the request URI. HTTP/2 names the host in the
    /// `:authority` pseudo-header instead of `Host`, and hyper puts it in
    /// the URI, not in the header map.
    pub authority: Option<&'a str>,
    /// The header values of the client certificate the handshake verified.
    pub certificate: Option<CertHeaders>,
    /// The JWT to forward in place of the presented (opaque) token.
    pub phantom_jwt: Option<&'a str>,
}

/// Rewrites `headers` of a request on its way to the upstream of `route`;
/// `owned` names every route's certificate headers.
pub fn for_upstream(route: &Route, owned: &Owned, headers: &mut HeaderMap, caller: Caller) {
    remove_hop_by_hop(headers);
    // A client must not be able to pose as another certificate or address:
    // the upstream trusts these headers because only the gateway sets them.
    let forged: Vec<HeaderName> = headers.keys().filter(|n| owned.contains(n)).cloned().collect();
    for name in forged {
        headers.remove(name);
    }

    let host = headers
        .remove(header::HOST)
        .or_else(|| caller.authority.and_then(|a| HeaderValue::from_str(a).ok()));
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST, host);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    // The first hop: the address chain starts here (a client-sent one is
    // not appended to, it is dropped above).
    if let Some(ip) = caller.ip {
        headers.insert(X_FORWARDED_FOR, address(ip));
    }
    if let Some(cert) = caller.certificate {
        let mut set = |name: Option<&HeaderName>, value: Option<HeaderValue>| {
            if let (Some(name), Some(value)) = (name, value) {
                headers.insert(name.clone(), value);
            }
        };
        set(route.cert_header.as_ref(), cert.escaped_pem);
        set(route.thumbprint_header.as_ref(), cert.thumbprint);
        set(route.xfcc.then_some(&HeaderName::from_static(XFCC_HEADER)), cert.xfcc);
    }
    if let Some(jwt) = caller.phantom_jwt {
        insert(headers, header::AUTHORIZATION, &format!("Bearer {jwt}"));
    }
}

/// Rewrites `headers` of the upstream's response on its way to the client.
pub fn for_client(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Requests usually carry none of them, responses often Connection
    // alone (nginx: `keep-alive`): one pass over the names finds those
    // present, and only they are removed (a removal hashes the name).
    let mut present = [false; HOPS];
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|hop| hop == name) {
            present[i] = true;
        }
    }
    if !present.contains(&true) {
        return;
    }
    // Fields named in Connection are hop-by-hop too; those of the list
    // above go below in any case.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|name| !HOP_BY_HOP.iter().any(|hop| hop.as_str().eq_ignore_ascii_case(name)))
        .filter_map(|name| HeaderName::try_from(name).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for (name, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            headers.remove(name);
        }
    }
}

/// `ip` as a header value, as its `Display` writes it. IPv4, the usual
/// case, is written by hand: `to_string` through the formatting machinery
/// cost ~1.4k instructions per forwarded request (callgrind, issue #15).
fn address(ip: IpAddr) -> HeaderValue {
    let IpAddr::V4(v4) = ip else {
        return HeaderValue::from_str(&ip.to_string()).expect("an IPv6 address is hex digits, colons and dots");
    };
    let mut text = [0u8; 15];
    let mut len = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            text[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            text[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        text[len] = b'0' + octet % 10;
        len += 1;
    }
    HeaderValue::from_bytes(&text[..len]).expect("digits and dots")
}

fn insert(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    // Every value built here is ASCII without control characters.
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::token::x5t_s256;
    use crate::pki;

    fn leaf() -> Vec<u8> {
        let now = time::OffsetDateTime::now_utc();
        let ca = pki::Ca::load(pki::create_hierarchy("t", now).unwrap().intermediate).unwrap();
        let client = ca.issue_client(&pki::ClientCertSpec::new("my_app", now)).unwrap();
        client.cert_der().unwrap().to_vec()
    }

    /// `for_upstream` on a gateway with `route` as its only route.
    fn alone(route: &Route, h: &mut HeaderMap, caller: Caller) {
        for_upstream(route, &Owned::of(std::slice::from_ref(route)), h, caller);
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::try_from(*k).unwrap(), HeaderValue::from_str(v).unwrap()))
            .collect()
    }

    #[test]
    fn upstream_gets_forwarding_headers_and_the_certificate_three_ways() {
        let der = leaf();
        let mut route = Route::catch_all("http://127.0.0.1:1").unwrap();
        route.xfcc = true;
        let mut h = headers(&[
            ("host", "127.0.0.1:4444"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-client-cert", "forged"),
            ("x-forwarded-client-cert", "forged"),
            ("authorization", "Bearer opaque-ref"),
            ("accept", "application/json"),
        ]);
        let caller = Caller {
            ip: Some([127, 0, 0, 1].into()),
            authority: None,
            certificate: Some(CertHeaders::of(&der)),
            phantom_jwt: Some("a.b.c"),
        };
        alone(&route, &mut h, caller);

        assert_eq!(h["x-forwarded-host"], "127.0.0.1:4444");
        assert!(h.get("host").is_none(), "the client sets the upstream's Host");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-for"], "127.0.0.1", "the first hop starts the chain");
        assert_eq!(h["authorization"], "Bearer a.b.c");
        assert_eq!(h["accept"], "application/json");
        assert_eq!(h["x-client-cert-thumbprint"], x5t_s256(&der).as_str());

        let escaped = h["x-client-cert"].to_str().unwrap();
        assert!(escaped.starts_with("-----BEGIN%20CERTIFICATE-----%0AMII"), "{escaped}");
        let pem = percent_encoding::percent_decode_str(escaped).decode_utf8().unwrap();
        assert_eq!(pki::first_cert_der(&pem, "header").unwrap().as_ref(), der.as_slice());

        let xfcc = h["x-forwarded-client-cert"].to_str().unwrap();
        assert!(
            xfcc.starts_with("Hash=")
                && xfcc.contains("CN=my_app\";Cert=")
                && xfcc.ends_with(&format!("Cert=\"{escaped}\"")),
            "{xfcc}"
        );
        assert_eq!(xfcc[5..69].len(), 64);
    }

    #[test]
    fn forged_certificate_headers_are_dropped_even_without_a_certificate() {
        let route = Route::catch_all("http://127.0.0.1:1").unwrap();
        let mut h = headers(&[("x-client-cert", "forged"), ("x-client-cert-thumbprint", "forged")]);
        let caller = Caller {
            ip: None,
            authority: None,
            certificate: None,
            phantom_jwt: None,
        };
        alone(&route, &mut h, caller);
        assert!(h.get("x-client-cert").is_none() && h.get("x-client-cert-thumbprint").is_none());
        assert!(h.get("x-forwarded-for").is_none());
    }

    #[test]
    fn every_header_the_gateway_could_set_is_dropped_even_where_it_sets_none() {
        let mut quiet = Route::catch_all("http://127.0.0.1:1").unwrap();
        (quiet.cert_header, quiet.thumbprint_header) = (None, None);
        let mut custom = quiet.clone();
        custom.cert_header = Some(HeaderName::from_static("x-mtls-cert"));
        let owned = Owned::of(&[quiet.clone(), custom]);
        let forged = [
            "forwarded",
            "x-forwarded-host",
            "x-forwarded-port",
            "x-forwarded-prefix",
            "x-forwarded-tls-client-cert",
            "x-real-ip",
            "x-ssl-client-verify",
            "x-ssl-client-dn",
            "x-client-cert",
            "x-client-cert-thumbprint",
            "x-forwarded-client-cert",
            "x-amzn-mtls-clientcert",
            "x-mtls-cert",
        ];
        let mut h = headers(&forged.map(|name| (name, "forged")));
        h.insert("accept", HeaderValue::from_static("*/*"));
        let caller = Caller {
            ip: None,
            authority: Some("mtls.sandbox.localhost:4444"),
            certificate: None,
            phantom_jwt: None,
        };
        for_upstream(&quiet, &owned, &mut h, caller);
        let mut left: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.to_str().unwrap())).collect();
        left.sort();
        assert_eq!(
            left,
            [
                ("accept", "*/*"),
                ("x-forwarded-host", "mtls.sandbox.localhost:4444"),
                ("x-forwarded-proto", "https")
            ]
        );
    }

    #[test]
    fn forwarded_host_comes_from_host_or_from_the_http2_authority() {
        let route = Route::catch_all("http://127.0.0.1:1").unwrap();
        let caller = |authority| Caller {
            ip: None,
            authority,
            certificate: None,
            phantom_jwt: None,
        };
        let mut h2 = headers(&[("accept", "*/*")]);
        alone(&route, &mut h2, caller(Some("mtls.sandbox.localhost:4444")));
        assert_eq!(h2["x-forwarded-host"], "mtls.sandbox.localhost:4444");
        // A Host header wins (HTTP/1.1; HTTP/2 clients that send both must match).
        let mut h1 = headers(&[("host", "127.0.0.1:4444")]);
        alone(&route, &mut h1, caller(Some("other:1")));
        assert_eq!(h1["x-forwarded-host"], "127.0.0.1:4444");
        let mut none = headers(&[]);
        alone(&route, &mut none, caller(None));
        assert!(none.get("x-forwarded-host").is_none());
    }

    #[test]
    fn hop_by_hop_fields_go_including_those_named_in_connection() {
        let mut h = headers(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("te", "trailers"),
            ("proxy-authorization", "Basic x"),
            ("content-type", "application/json"),
        ]);
        for_client(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["content-type"], "application/json");

        // Connection alone, naming a field of the list and one not present.
        let mut h = headers(&[("connection", "Keep-Alive, close"), ("content-length", "2")]);
        for_client(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!(h["content-length"], "2");
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "1.22.3.40",
            "127.0.0.1",
            "::1",
            "::ffff:192.0.2.1",
            "2001:db8::7",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(address(ip), ip.to_string().as_str());
        }
    }
}

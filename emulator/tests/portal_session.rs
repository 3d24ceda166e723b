//! The portal's browser session against other local origins (issue #18):
//! the cookie reaches no other port, no other page makes changes with it,
//! and no page frames the portal. The browser test (`browser.rs`) runs the
//! same attacks from real pages on other ports.

use crate::portal::{no_redirects, portal_post};
use crate::util::*;

/// Logs in as a browser does: the session's path (`/portal/<nonce>`) and
/// the cookie (`name=value`).
fn browser_login(emu: &Emulator) -> (String, String) {
    let (status, _, headers) = send(no_redirects(emu).get(emu.info.portal_url.as_deref().unwrap()));
    assert_eq!(status, 303);
    let session = headers["location"].to_str().unwrap().trim_end_matches('/').to_owned();
    let cookie = headers["set-cookie"].to_str().unwrap();
    (session, cookie.split(';').next().unwrap().to_owned())
}

#[test]
fn the_session_cookie_goes_only_to_a_per_start_path_that_is_in_no_file() {
    let emu = Emulator::start(&[]);
    let (session, cookie) = browser_login(&emu);
    let nonce = session.strip_prefix("/portal/").expect("a path under /portal/");
    assert!(
        nonce.len() >= 32 && nonce.chars().all(|c| c.is_ascii_alphanumeric()),
        "a path another port cannot guess: {session}"
    );
    assert!(!cookie.contains(nonce) && !emu.info.portal_token.as_deref().unwrap().contains(nonce));
    assert!(
        !emu.read("sandbox.json").contains(nonce),
        "the session's path is in no file"
    );
    assert!(!emu.read("sandbox.env").contains(nonce));

    let http = no_redirects(&emu);
    let get = |path: &str| {
        send(
            http.get(format!("{}{path}", emu.info.sandbox_url))
                .header("cookie", &cookie),
        )
        .0
    };
    assert_eq!(get(&format!("{session}/")), 200);
    assert_eq!(get(&format!("{session}/inspect")), 200);
    // A browser sends the cookie nowhere else; the portal also takes it nowhere else.
    assert_eq!(get("/portal/not-the-session/"), 401);
    assert_eq!(get(&format!("{session}x/")), 401);
}

#[test]
fn changes_with_the_cookie_need_the_portals_own_origin_and_scripts_with_the_token_none() {
    let emu = Emulator::start(&[]);
    let (session, cookie) = browser_login(&emu);
    let own = emu.info.sandbox_url.clone();
    let http = no_redirects(&emu);
    let create = |name: &str, origin: Option<&str>, site: Option<&str>| {
        let mut req = http
            .post(format!("{own}{session}/clients"))
            .header("cookie", &cookie)
            .form(&[("name", name)]);
        if let Some(origin) = origin {
            req = req.header("origin", origin);
        }
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        send(req)
    };
    let refused = [
        // Another local port is same-site: the old check let it through.
        ("same-site port", Some("https://127.0.0.1:1"), Some("same-site")),
        ("plain http port", Some("http://127.0.0.1:1"), Some("cross-site")),
        ("own origin, other page", Some(own.as_str()), Some("same-site")),
        ("opaque origin", Some("null"), None),
        ("no fetch metadata", None, None),
    ];
    for (what, origin, site) in refused {
        let (status, page, headers) = create(&format!("planted: {what}"), origin, site);
        assert_eq!(status, 403, "{what}: {page}");
        assert!(page.as_str().unwrap().contains("refused: "), "{what}: {page}");
        assert!(headers.get("set-cookie").is_none());
    }
    assert_eq!(create("from the portal", Some(&own), Some("same-origin")).0, 303);
    assert_eq!(create("from an old browser", Some(&own), None).0, 303);
    // Scripts send the token itself and no browser headers.
    assert_eq!(
        portal_post(&emu, "/portal/clients", &[("name", "from a script")]).status,
        303
    );
    assert_eq!(
        portal_post(&emu, &format!("{session}/clients"), &[("name", "from a script")]).status,
        303
    );

    let (_, page, _) = portal_get(&emu, "/portal");
    let page = page.as_str().unwrap();
    assert!(!page.contains("planted"), "a refused request created a client");
    assert!(page.contains("from the portal") && page.contains("from an old browser"));
}

#[test]
fn no_portal_response_can_be_framed_or_sends_a_referer_elsewhere() {
    let emu = Emulator::start(&[]);
    let (session, cookie) = browser_login(&emu);
    let http = no_redirects(&emu);
    let url = |path: &str| format!("{}{path}", emu.info.sandbox_url);
    let replies = [
        ("the 401 page", send(http.get(url("/portal/inspect")))),
        (
            "the login redirect",
            send(http.get(emu.info.portal_url.as_deref().unwrap())),
        ),
        (
            "the portal",
            send(http.get(url(&format!("{session}/"))).header("cookie", &cookie)),
        ),
        ("the inspector JSON", portal_get(&emu, "/portal/inspect.json")),
        (
            "an error page",
            send(
                http.post(url(&format!("{session}/certificates/abc/revoke")))
                    .header("cookie", &cookie),
            ),
        ),
    ];
    for (what, (status, _, headers)) in replies {
        assert!(status < 500, "{what}: {status}");
        assert_eq!(
            headers.get("x-frame-options").map(|v| v.to_str().unwrap()),
            Some("DENY"),
            "{what}"
        );
        assert_eq!(
            headers.get("content-security-policy").map(|v| v.to_str().unwrap()),
            Some("frame-ancestors 'none'"),
            "{what}"
        );
        assert_eq!(
            headers.get("referrer-policy").map(|v| v.to_str().unwrap()),
            Some("same-origin"),
            "{what}"
        );
    }
}

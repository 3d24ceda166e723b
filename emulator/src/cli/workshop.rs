//! Workshop mode (`up --apps N` or `--apps alice,bob`): one application per
//! attendee, created at start when missing (so a restart keeps everyone's
//! certificates; `Config::attendees`), and a table of their portal links
//! after the summary.
//! Each link logs its attendee in to their own application only; with
//! `--public-host` the links name that host, for attendees on the LAN.

use crate::apps::{self, Apps, DEFAULT_APP, MAX_APPS};
use crate::info::{SandboxInfo, Secrets};

/// The attendees' application names, as `--apps` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendees(pub Vec<String>);

/// Parses `--apps`: a count (`attendee-1` … `attendee-N`) or a
/// comma-separated list of names.
pub fn parse(value: &str) -> Result<Attendees, String> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let n: usize = value
            .parse()
            .map_err(|_| format!("{value} is not a number of attendees (1 to {MAX_APPS})"))?;
        if !(1..=MAX_APPS).contains(&n) {
            return Err(format!(
                "{n} attendees: give 1 to {MAX_APPS}, or their names (alice,bob)"
            ));
        }
        return Ok(Attendees((1..=n).map(|i| format!("attendee-{i}")).collect()));
    }
    let mut names: Vec<String> = Vec::new();
    for name in value.split(',').map(str::trim) {
        if name == DEFAULT_APP {
            return Err(format!(
                "{DEFAULT_APP} is the sandbox's own application; name the attendees otherwise"
            ));
        }
        apps::validate_name(name).map_err(|e| e.to_string())?;
        if names.iter().any(|n| n == name) {
            return Err(format!("'{name}' is named twice"));
        }
        names.push(name.to_owned());
    }
    Ok(Attendees(names))
}

/// Each attendee with their `sandbox.json`, in the order given (the
/// server created the missing ones at start, before announcing readiness).
pub fn infos(apps: &Apps, attendees: &[String]) -> Result<Vec<(String, SandboxInfo)>, apps::AppError> {
    attendees
        .iter()
        .map(|name| Ok((name.clone(), apps.info(name)?)))
        .collect()
}

/// The table printed after the summary: each attendee's portal link, or
/// (`Secrets::Withheld`, stdout not a terminal) where to find it.
pub fn table(attendees: &[(String, SandboxInfo)], bold: bool, secrets: Secrets) -> String {
    let title = "Workshop: one application per attendee (each link sees only its own; the link above sees all)";
    let mut out = match bold {
        true => format!("\n\x1b[1m{title}\x1b[0m\n"),
        false => format!("\n{title}\n"),
    };
    let width = attendees.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, info) in attendees {
        let link = match (secrets, &info.portal_url) {
            (Secrets::Shown, Some(url)) => url.clone(),
            _ => format!(
                "(not printed: \"portal_url\" in {})",
                info.client_cert.with_file_name("sandbox.json").display()
            ),
        };
        out.push_str(&format!("  {name:<width$}  {link}\n"));
    }
    out.push_str("  Each attendee opens their link and downloads their bundle (key, certificate, chain, .p12, sandbox.json, README).\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_or_names_and_a_clear_refusal_otherwise() {
        assert_eq!(parse("3").unwrap().0, ["attendee-1", "attendee-2", "attendee-3"]);
        assert_eq!(parse("alice, bob").unwrap().0, ["alice", "bob"]);
        for (bad, why) in [
            ("0", "give 1 to"),
            ("1001", "give 1 to"),
            ("alice,alice", "named twice"),
            ("alice,,bob", "it is empty"),
            ("Alice", "start with a lowercase"),
            ("my_app", "the sandbox's own"),
            ("99999999999999999999999", "not a number"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn the_table_shows_links_on_a_terminal_and_where_they_are_otherwise() {
        let info: SandboxInfo = serde_json::from_value(serde_json::json!({
            "sandbox_url": "https://ws.lan:4443", "mtls_url": "https://ws.lan:4444",
            "auth_url": "https://ws.lan:4445", "token_endpoint": "t", "mtls_token_endpoint": "t",
            "app_token": "a", "client_id": "c", "client_secret": "s",
            "ca_chain": "/s/lean_public_cert_chain.pem", "client_cert": "/s/apps/alice/alice_cert.crt",
            "client_key": "/s/apps/alice/alice_private_key.pem", "client_p12": "/s/apps/alice/alice.p12",
            "p12_password": "p", "pid": 1, "state_dir": "/s",
            "portal_url": "https://ws.lan:4443/portal?token=LINK", "portal_token": "LINK",
        }))
        .unwrap();
        let attendees = [("alice".to_owned(), info)];
        let shown = table(&attendees, false, Secrets::Shown);
        assert!(
            shown.contains("  alice  https://ws.lan:4443/portal?token=LINK\n"),
            "{shown}"
        );
        let withheld = table(&attendees, false, Secrets::Withheld);
        assert!(!withheld.contains("LINK"), "{withheld}");
        assert!(
            withheld.contains("\"portal_url\" in /s/apps/alice/sandbox.json"),
            "{withheld}"
        );
    }
}

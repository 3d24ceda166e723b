//! The transcript: what a workshop audience reads, step by step, in the
//! style of the Curity example's client script ("Client is authenticating
//! with the Identity Server via mutual TLS ...").

use std::io::{self, Write};

use crate::exchange::Received;
use crate::outcome::{Failure, Tally};
use crate::scenario::Scenario;

pub fn header(out: &mut dyn Write, scenario: &Scenario) -> io::Result<()> {
    writeln!(out, "== {} ==", scenario.name)?;
    if let Some(description) = &scenario.description {
        writeln!(out, "{}", description.trim())?;
    }
    writeln!(out)
}

pub fn step(out: &mut dyn Write, n: usize, say: &str) -> io::Result<()> {
    writeln!(out, "{n}. {say}")
}

pub fn request(out: &mut dyn Write, method: &str, url: &str, identity: &str) -> io::Result<()> {
    writeln!(out, "   -> {method} {url}  [{identity}]")
}

/// `--step`: the request exactly as it goes out (the headers the harness
/// sets itself included), for a projector.
pub fn request_in_full(out: &mut dyn Write, request: &reqwest::Request) -> io::Result<()> {
    writeln!(out, "      {} {}", request.method(), request.url())?;
    headers(out, request.headers())?;
    let body = request.body().and_then(|b| b.as_bytes()).unwrap_or_default();
    body_in_full(out, &String::from_utf8_lossy(body))
}

/// `--step`: the response as it came back.
pub fn response_in_full(out: &mut dyn Write, received: &Received) -> io::Result<()> {
    let status = received.status;
    writeln!(
        out,
        "   <- {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )?;
    headers(out, &received.headers)?;
    body_in_full(out, &received.text)
}

/// `--step`: a request that got no response at all.
pub fn no_response(out: &mut dyn Write, why: &str) -> io::Result<()> {
    writeln!(out, "   <- no response: {why}")
}

fn headers(out: &mut dyn Write, headers: &reqwest::header::HeaderMap) -> io::Result<()> {
    for (name, value) in headers {
        writeln!(out, "      {name}: {}", String::from_utf8_lossy(value.as_bytes()))?;
    }
    Ok(())
}

/// A body after a blank line, JSON indented so a room can read it.
fn body_in_full(out: &mut dyn Write, body: &str) -> io::Result<()> {
    if body.is_empty() {
        return Ok(());
    }
    let pretty = indent_json(body);
    writeln!(out)?;
    for line in pretty.as_deref().unwrap_or(body).lines() {
        writeln!(out, "      {line}")?;
    }
    Ok(())
}

/// `text` indented by two spaces per level when it is JSON, keeping every
/// member in the order it came in (parsing into a map would sort them).
fn indent_json(text: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).ok()?;
    let mut out = String::with_capacity(text.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut chars = text.trim().chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    };
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|&n| n == '}' || n == ']') {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// A step that waits for the application's webhook receiver.
pub fn webhook(out: &mut dyn Write, event_type: &str) -> io::Result<()> {
    writeln!(out, "   <- webhook {event_type}  [the application's receiver]")
}

pub fn passed(out: &mut dyn Write, outcome: &str, done: Option<&str>) -> io::Result<()> {
    match done {
        Some(done) => writeln!(out, "   ✓ {outcome}: {done}"),
        None => writeln!(out, "   ✓ {outcome}"),
    }
}

pub fn retry(out: &mut dyn Write, status: reqwest::StatusCode, wait: std::time::Duration) -> io::Result<()> {
    writeln!(
        out,
        "   ↻ {status}, Retry-After: {} s: waiting, then retrying",
        wait.as_secs()
    )
}

pub fn failed(out: &mut dyn Write, why: &Failure) -> io::Result<()> {
    writeln!(out, "   ✗ {why}")
}

pub fn summary(out: &mut dyn Write, scenario: &Scenario, tally: Tally) -> io::Result<()> {
    let total = tally.passed + tally.failed;
    if tally.failed == 0 {
        writeln!(out, "\n{}: all {total} steps as expected.", scenario.name)
    } else {
        writeln!(
            out,
            "\n{}: {} of {total} steps did NOT go as expected.",
            scenario.name, tally.failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::indent_json;

    #[test]
    fn json_is_indented_in_the_order_it_came_and_strings_are_left_alone() {
        let text = r#"{"z":1,"a":{"list":[1, 2],"empty":[ ],"none":{}},"s":"a, \"b\": {c}"}"#;
        assert_eq!(
            indent_json(text).unwrap(),
            "{\n  \"z\": 1,\n  \"a\": {\n    \"list\": [\n      1,\n      2\n    ],\n    \"empty\": [],\n    \
             \"none\": {}\n  },\n  \"s\": \"a, \\\"b\\\": {c}\"\n}"
        );
        assert_eq!(indent_json("not json"), None);
        assert_eq!(indent_json("grant_type=client_credentials"), None);
    }
}

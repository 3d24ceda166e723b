//! What a scenario changes that every application of a sandbox shares:
//! the sandbox clock, the signing key, fault rules that match every
//! application. `harness run --parallel` plays such a file alone from
//! that step on ([`crate::gate`]); an application's own time and rules
//! matching one application are its own.

use serde_json::Value;

use crate::scenario::{Scenario, Step};

/// What `scenario` changes that every application of a sandbox shares;
/// empty when it can run beside other files from start to end.
pub fn shared_by(scenario: &Scenario) -> Vec<&'static str> {
    let mut shared = Vec::new();
    for what in scenario.steps.iter().filter_map(shared_by_step) {
        if !shared.contains(&what) {
            shared.push(what);
        }
    }
    shared
}

/// What `step` changes that every application shares, if anything: the
/// sandbox clock (an application's own time, `"app"` in the change, is
/// its own), the signing key, or fault rules that match every application.
pub fn shared_by_step(step: &Step) -> Option<&'static str> {
    let method = method_of(step);
    let body = body_of(step);
    if step.path.starts_with("/admin/clock") && method.eq_ignore_ascii_case("POST") && body.get("app").is_none() {
        return Some("moves the sandbox clock");
    }
    if !step.path.starts_with("/admin/faults") {
        return None;
    }
    if method.eq_ignore_ascii_case("DELETE") {
        return Some("installs or clears fault rules that match every application");
    }
    if !method.eq_ignore_ascii_case("POST") {
        return None;
    }
    if body["effect"]["rotate_keys"] == Value::Bool(true) {
        return Some("rotates the provider's signing key (every application's tokens)");
    }
    let own = ["app", "application"]
        .iter()
        .any(|key| body["match"].get(key).is_some());
    (!own).then_some("installs or clears fault rules that match every application")
}

fn method_of(step: &Step) -> &str {
    let sends_body = step.json.is_some() || step.form.is_some();
    step.method
        .as_deref()
        .unwrap_or(if sends_body { "POST" } else { "GET" })
}

fn body_of(step: &Step) -> Value {
    step.json
        .as_ref()
        .and_then(|j| serde_json::to_value(j).ok())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn scenario(steps: &str) -> Scenario {
        Scenario::parse(&format!("name = \"s\"\n{steps}"), Path::new("s.toml")).unwrap()
    }

    const BANKS: &str = "[[step]]\nsay = \"banks\"\npath = \"/banks/v1\"\nexpect = { status = 200 }\n";

    #[test]
    fn a_scenario_that_only_uses_its_own_application_shares_nothing() {
        assert!(shared_by(&scenario(BANKS)).is_empty());
    }

    #[test]
    fn the_sandbox_clock_the_signing_key_and_global_fault_rules_are_shared_webhooks_are_not() {
        let clock = "[[step]]\nsay = \"c\"\nhost = \"auth\"\npath = \"/admin/clock\"\n\
                     json = { advance = \"1m\" }\nexpect = { status = 200 }\n";
        let fault = "[[step]]\nsay = \"f\"\nhost = \"auth\"\npath = \"/admin/faults\"\n\
                     json = { match = { path = \"/banks/v1\" }, effect = { status = 429 } }\nexpect = { status = 201 }\n";
        let rotate = "[[step]]\nsay = \"r\"\nhost = \"auth\"\npath = \"/admin/faults\"\n\
                      json = { match = { app = \"me\" }, effect = { rotate_keys = true } }\nexpect = { status = 201 }\n";
        let hook = "[[step]]\nsay = \"w\"\nwebhook = \"payment.created\"\nexpect = { exists = [\"/type\"] }\n";
        let all = scenario(&format!("{BANKS}{clock}{fault}{clock}{rotate}{hook}"));
        assert_eq!(
            shared_by(&all),
            [
                "moves the sandbox clock",
                "installs or clears fault rules that match every application",
                "rotates the provider's signing key (every application's tokens)",
            ]
        );
        assert!(
            shared_by(&scenario(hook)).is_empty(),
            "each file's application has its own webhook URL"
        );
    }

    #[test]
    fn an_applications_own_time_is_its_own_and_reading_the_clock_changes_nothing() {
        let own = "[[step]]\nsay = \"c\"\nhost = \"auth\"\npath = \"/admin/clock\"\n\
                   json = { advance = \"1m\", app = \"${app_name}\" }\nexpect = { status = 200 }\n";
        let read = "[[step]]\nsay = \"r\"\nhost = \"auth\"\npath = \"/admin/clock\"\nexpect = { status = 200 }\n";
        assert!(shared_by(&scenario(&format!("{own}{read}"))).is_empty());
    }

    #[test]
    fn fault_rules_for_one_application_and_reading_the_rules_are_not_shared() {
        let own = "[[step]]\nsay = \"f\"\nhost = \"auth\"\npath = \"/admin/faults\"\n\
                   json = { match = { app = \"me\" }, effect = { status = 429 } }\nexpect = { status = 201 }\n";
        let list = "[[step]]\nsay = \"l\"\nhost = \"auth\"\npath = \"/admin/faults\"\nexpect = { status = 200 }\n";
        assert!(shared_by(&scenario(&format!("{own}{list}"))).is_empty());
        let clear = list.replace("path =", "method = \"DELETE\"\npath =");
        assert_eq!(
            shared_by(&scenario(&clear)),
            ["installs or clears fault rules that match every application"]
        );
    }
}

//! The CI recipes in docs/ci/ are run, not just shown: their shell steps
//! (GitHub: every step's `run`; GitLab: `before_script` + `script` in one
//! shell, then `after_script` in another, as the runner does) are read with
//! a YAML parser (python3 with PyYAML; scripts/test installs it) and run in
//! order with bash in a fresh copy of the repository (its tracked files as
//! in the working tree, nothing untracked), on free ports, with a state dir
//! in the temp dir. Every step must exit 0, and the sandbox must be stopped
//! at the end.
//!
//! The recipes install mtls-sandbox and the harness only when they are not
//! on PATH; here the binaries this test run built come first on PATH, so
//! the install lines run their check and skip the 5-minute release build.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::bin;

/// Prints the recipe's shell steps as JSON: [{name, script, always}].
const STEPS: &str = r#"
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[2]))
steps = []
def lines(value):
    if not isinstance(value, list):
        return value or ""
    for line in value:
        if not isinstance(line, str):
            sys.exit(f"not a shell line (quote lines with ': ' in them): {line!r}")
    return "\n".join(value)
if sys.argv[1] == "github":
    for job_name, job in doc["jobs"].items():
        for i, step in enumerate(job["steps"]):
            if "run" in step:
                steps.append({"name": f"{job_name}: {step.get('name', f'step {i + 1}')}", "script": step["run"],
                              "always": "always()" in str(step.get("if", ""))})
else:
    for job_name, job in doc.items():
        if isinstance(job, dict) and "script" in job:
            steps.append({"name": f"{job_name}: before_script + script",
                          "script": lines(job.get("before_script")) + "\n" + lines(job["script"]), "always": False})
            if "after_script" in job:
                steps.append({"name": f"{job_name}: after_script", "script": lines(job["after_script"]), "always": True})
print(json.dumps(steps))
"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{cmd:?} could not run ({e}); scripts/test installs it"))
}

/// The repository as a fresh checkout sees it, copied into `dir`: the
/// files git tracks, as they are in the working tree (read-only for the
/// repository: `git stash create` would lock its index), without
/// target/, .sandbox/ or anything else untracked.
fn export_checkout(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let copy =
        "git -C \"$1\" ls-files -z --cached | tar -C \"$1\" --null -T - --ignore-failed-read -cf - | tar -x -C \"$2\"";
    let out = run(Command::new("bash")
        .args(["-eo", "pipefail", "-c", copy, "export"])
        .arg(repo_root())
        .arg(dir));
    assert!(
        out.status.success(),
        "cannot copy the checkout (git and tar needed): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn steps_of(kind: &str, recipe: &Path) -> Vec<Value> {
    let out = run(Command::new("python3").args(["-c", STEPS, kind]).arg(recipe));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'yaml'"),
        "PyYAML is missing: pip install pyyaml (scripts/test installs it)"
    );
    assert!(out.status.success(), "cannot read {}: {stderr}", recipe.display());
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// Runs `docs/ci/<file>` in a fresh checkout; returns the checkout's temp dir.
fn run_recipe(kind: &str, file: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("checkout");
    export_checkout(&checkout);
    let bin_dir = bin().parent().unwrap().to_path_buf();
    assert!(
        bin_dir.join("harness").is_file(),
        "no harness binary next to {}: cargo build -p harness (cargo test --workspace builds it)",
        bin().display()
    );
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let state_dir = tmp.path().join("state");
    let shell = |script: &str| {
        run(Command::new("bash")
            .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(&checkout)
            .env("PATH", &path)
            .env("MTLS_SANDBOX_STATE_DIR", &state_dir)
            .env("SANDBOX_PORT", "0")
            .env("MTLS_PORT", "0")
            .env("AUTH_PORT", "0")
            .env_remove("SSLKEYLOGFILE"))
    };

    let steps = steps_of(kind, &checkout.join("docs/ci").join(file));
    assert!(steps.len() >= 2, "{file}: no shell steps found");
    let mut failed = None;
    let mut log = String::new();
    for step in &steps {
        let name = step["name"].as_str().unwrap();
        if failed.is_some() && step["always"] != true {
            log.push_str(&format!("--- {name}: skipped\n"));
            continue;
        }
        let out = shell(step["script"].as_str().unwrap());
        log.push_str(&format!(
            "--- {name}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        if !out.status.success() && failed.is_none() {
            failed = Some(name.to_owned());
        }
    }
    let sandbox_log = std::fs::read_to_string(checkout.join("sandbox.log")).unwrap_or_default();
    let status = shell("mtls-sandbox status");
    if status.status.code() != Some(3) {
        shell("mtls-sandbox down --timeout 20s");
    }
    assert_eq!(
        failed, None,
        "{file}: a step failed\n{log}\n--- sandbox.log\n{sandbox_log}"
    );
    assert_eq!(
        status.status.code(),
        Some(3),
        "{file}: the sandbox was still running after the last step\n{log}"
    );
    tmp
}

fn assert_reports(tmp: &tempfile::TempDir) {
    let checkout = tmp.path().join("checkout");
    let junit = std::fs::read_to_string(checkout.join("harness-report.xml")).unwrap();
    assert!(
        junit.contains("<testsuites") && junit.contains("failures=\"0\""),
        "{junit}"
    );
    let banks = std::fs::read_to_string(checkout.join("banks.json")).unwrap();
    assert!(banks.contains("LEANMB1"), "{banks}");
}

#[test]
fn the_github_actions_recipe_runs() {
    assert_reports(&run_recipe("github", "github-actions.yml"));
}

#[test]
fn the_gitlab_ci_recipe_runs() {
    assert_reports(&run_recipe("gitlab", "gitlab-ci.yml"));
}

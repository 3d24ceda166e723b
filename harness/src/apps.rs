//! Which application a scenario plays as. Every application of a running
//! sandbox has a `sandbox.json` of the same shape as the sandbox's own:
//! `my_app` (the default) at the top of the state dir, any other at
//! `apps/<name>/sandbox.json` beside it. `harness run --app NAME` reads
//! that file instead of the one `--against` names; `--parallel` names the
//! applications it creates after the scenario files ([`names_for`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The application a state dir is created with.
pub const DEFAULT_APP: &str = "my_app";

/// Where applications' files live in a state dir.
const APPS_DIR: &str = "apps";

/// The emulator's limit on application names.
const MAX_NAME: usize = 32;

#[derive(Debug, thiserror::Error)]
#[error("no application {name} in {dir}; create it with `mtls-sandbox apps create {name}`")]
pub struct UnknownApp {
    name: String,
    dir: PathBuf,
}

/// The `sandbox.json` of application `name`, given the sandbox's own
/// (`--against`).
pub fn sandbox_json_of(sandbox_json: &Path, name: &str) -> Result<PathBuf, UnknownApp> {
    if name == DEFAULT_APP {
        return Ok(sandbox_json.to_path_buf());
    }
    let dir = match sandbox_json.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let path = dir.join(APPS_DIR).join(name).join("sandbox.json");
    // A name with a path in it would look outside the apps directory.
    let plain = !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != "..";
    if plain && path.is_file() {
        return Ok(path);
    }
    Err(UnknownApp {
        name: name.to_owned(),
        dir: dir.to_path_buf(),
    })
}

/// One application name per scenario file, from its stem, as the emulator
/// accepts them (lowercase letters, digits, `-` and `_`, at most 32
/// characters) and unique within the run: `quickstart`, `quickstart-2`.
pub fn names_for(files: &[PathBuf]) -> Vec<String> {
    let mut taken = HashSet::new();
    files
        .iter()
        .map(|file| {
            let stem = file.file_stem().map(|s| s.to_string_lossy()).unwrap_or_default();
            let base = app_name(&stem);
            let name = (1..)
                .map(|n| numbered(&base, n))
                .find(|candidate| !taken.contains(candidate))
                .expect("some number is free");
            taken.insert(name.clone());
            name
        })
        .collect()
}

/// `base` with `-n` (n > 1), cut so that the whole stays within the limit.
pub fn numbered(base: &str, n: usize) -> String {
    if n == 1 {
        return base.to_owned();
    }
    let suffix = format!("-{n}");
    let keep = base.len().min(MAX_NAME - suffix.len());
    format!("{}{suffix}", &base[..keep])
}

/// A file stem as an application name: lowercased, anything else than a
/// letter, digit, `-` or `_` made `-`, never `my_app` (the default
/// application, which a run must not take over).
fn app_name(stem: &str) -> String {
    let mut name: String = stem
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => c,
            _ => '-',
        })
        .skip_while(|c| !c.is_ascii_alphanumeric())
        .take(MAX_NAME)
        .collect();
    if name.is_empty() || name == DEFAULT_APP {
        name.insert_str(0, "scenario-");
        name.truncate(MAX_NAME);
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn my_app_is_the_sandbox_json_itself_and_others_live_under_apps() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("sandbox.json");
        assert_eq!(sandbox_json_of(&top, "my_app").unwrap(), top);
        let alice = dir.path().join("apps/alice");
        std::fs::create_dir_all(&alice).unwrap();
        std::fs::write(alice.join("sandbox.json"), "{}").unwrap();
        assert_eq!(sandbox_json_of(&top, "alice").unwrap(), alice.join("sandbox.json"));
    }

    #[test]
    fn a_missing_application_names_the_dir_and_the_command_that_creates_it() {
        let dir = tempfile::tempdir().unwrap();
        let top = dir.path().join("sandbox.json");
        let e = sandbox_json_of(&top, "bob").unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "no application bob in {}; create it with `mtls-sandbox apps create bob`",
                dir.path().display()
            )
        );
        assert!(sandbox_json_of(&top, "../x").is_err());
    }

    #[test]
    fn names_come_from_file_stems_made_valid_and_unique() {
        let files: Vec<PathBuf> = [
            "a/quickstart.toml",
            "b/quickstart.toml",
            "c/Quick Start.toml",
            "my_app.toml",
            "_x.toml",
            "a-very-long-scenario-file-name-indeed.toml",
            "b/a-very-long-scenario-file-name-indeed.toml",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(
            names_for(&files),
            [
                "quickstart",
                "quickstart-2",
                "quick-start",
                "scenario-my_app",
                "x",
                "a-very-long-scenario-file-name-i",
                "a-very-long-scenario-file-name-2",
            ]
        );
    }

    #[test]
    fn numbering_stays_within_the_length_limit() {
        assert_eq!(numbered("quickstart", 1), "quickstart");
        assert_eq!(numbered("quickstart", 12), "quickstart-12");
        assert_eq!(numbered(&"x".repeat(32), 3).len(), 32);
    }
}

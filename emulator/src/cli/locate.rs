//! Which state dir a command works on.
//!
//! `--state-dir` or `MTLS_SANDBOX_STATE_DIR` when given; otherwise the
//! nearest `.sandbox/` holding a sandbox, in the working directory or one of
//! its parents, as git finds `.git` (so `mtls-sandbox token` works from a
//! project's subdirectory). Only `up` and `certs` may create a state dir;
//! every other command on a missing one is a usage error saying where it
//! looked and what to run — never a silently created CA that nothing serves.

use std::path::{Path, PathBuf};

use super::{Failure, GlobalArgs, usage};
use crate::config::DEFAULT_STATE_DIR;
use crate::state::files;

impl GlobalArgs {
    /// The state dir for `up` and `certs`: the one given, the nearest
    /// existing one, or `./.sandbox` (created there).
    pub fn state_dir_or_new(&self) -> PathBuf {
        match &self.state_dir {
            Some(dir) => dir.clone(),
            None => nearest(&cwd()).unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
        }
    }

    /// The state dir of an existing sandbox, or exit 2 with what to do.
    pub fn state_dir(&self) -> Result<PathBuf, Failure> {
        if let Some(dir) = &self.state_dir {
            if dir.join(files::MANIFEST).is_file() {
                return Ok(dir.clone());
            }
            return Err(usage(anyhow::anyhow!(
                "no sandbox state in {} (it has no {}).\n  Create one with `mtls-sandbox up --state-dir {0}`, \
                 or point --state-dir / MTLS_SANDBOX_STATE_DIR at the directory `up` printed.",
                dir.display(),
                files::MANIFEST,
            )));
        }
        nearest(&cwd()).ok_or_else(|| {
            usage(anyhow::anyhow!(
                "no sandbox state found: looked for {DEFAULT_STATE_DIR}/{} in {} and its parent directories.\n  \
                 Run `mtls-sandbox up` in your project directory first, or pass --state-dir DIR \
                 (or set MTLS_SANDBOX_STATE_DIR) to use one elsewhere.",
                files::MANIFEST,
                cwd().display(),
            ))
        })
    }
}

fn cwd() -> PathBuf {
    std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
}

/// The nearest `.sandbox/` with a manifest in `start` or its ancestors.
fn nearest(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(DEFAULT_STATE_DIR))
        .find(|candidate| candidate.join(files::MANIFEST).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_state_dir_is_found_in_parents_only_when_it_holds_a_sandbox() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("project/src/module");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(nearest(&deep), None);
        // An empty .sandbox/ (or someone else's) is not a sandbox.
        std::fs::create_dir_all(tmp.path().join("project/src/.sandbox")).unwrap();
        assert_eq!(nearest(&deep), None);
        let state = tmp.path().join("project/.sandbox");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join(files::MANIFEST), "{}").unwrap();
        assert_eq!(nearest(&deep), Some(state));
    }
}

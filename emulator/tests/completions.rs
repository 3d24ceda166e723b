//! `mtls-sandbox completions` and `man`: bash really completes (the script
//! is sourced and its completion function called as bash does on Tab),
//! zsh and fish scripts name every subcommand, and the man page renders
//! with groff (scripts/test installs groff-base) without warnings.

use std::process::Command;

use clap::CommandFactory;
use mtls_sandbox::cli::Cli;

use crate::util::bin;

fn subcommands() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect()
}

fn stdout_of(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The candidates bash offers after `words` (the last one being completed).
fn bash_complete(words: &[&str]) -> Vec<String> {
    const SCRIPT: &str = r#"
source <("$MTLS_SANDBOX" completions bash) || exit 10
# The function bash calls on Tab, as the script registered it.
fn=$(complete -p mtls-sandbox | sed -E 's/.* -F ([^ ]+) .*/\1/') || exit 11
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
COMPREPLY=()
"$fn" mtls-sandbox "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"#;
    let out = Command::new("bash")
        .args(["-c", SCRIPT, "complete"])
        .args(words)
        .env("MTLS_SANDBOX", bin())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{words:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_their_flags() {
    let all = bash_complete(&["mtls-sandbox", ""]);
    for name in ["up", "down", "status", "wait", "completions", "man"] {
        assert!(all.contains(&name.to_owned()), "{name} not offered: {all:?}");
    }
    assert_eq!(bash_complete(&["mtls-sandbox", "u"]), ["up"]);
    assert_eq!(bash_complete(&["mtls-sandbox", "st"]), ["status"]);
    let shells = bash_complete(&["mtls-sandbox", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&shell.to_owned()), "{shells:?}");
    }
    assert_eq!(bash_complete(&["mtls-sandbox", "down", "--ti"]), ["--timeout"]);
}

#[test]
fn zsh_and_fish_scripts_name_every_subcommand() {
    for shell in ["zsh", "fish"] {
        let script = stdout_of(&["completions", shell]);
        for name in subcommands() {
            assert!(script.contains(&name), "{shell} script lacks {name}");
        }
    }
    assert!(stdout_of(&["completions", "zsh"]).starts_with("#compdef mtls-sandbox"));
    assert!(stdout_of(&["completions", "fish"]).contains("complete -c mtls-sandbox"));
    let out = Command::new(bin()).args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// groff's text rendering of a roff page, failing on any groff warning.
fn groff(page: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-P-cbou"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("groff must be installed: apt-get install groff-base (scripts/test installs it)");
    child.stdin.take().unwrap().write_all(page).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "groff: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_man_page_renders_and_names_every_subcommand() {
    let text = groff(stdout_of(&["man"]).as_bytes());
    assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{text}");
    // groff may hyphenate at line ends; compare without soft breaks.
    let flat = text.replace("‐\n", "").replace('‐', "-");
    for name in subcommands() {
        assert!(
            flat.contains(&format!("mtls-sandbox-{name}(1)")),
            "man page lacks {name}:\n{text}"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    stdout_of(&["man", "--dir", dir.path().to_str().unwrap()]);
    for name in subcommands() {
        let page = std::fs::read(dir.path().join(format!("mtls-sandbox-{name}.1")))
            .unwrap_or_else(|e| panic!("no page for {name}: {e}"));
        assert!(groff(&page).contains("SYNOPSIS"), "{name}");
    }
}

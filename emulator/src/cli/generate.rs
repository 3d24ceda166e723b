//! `completions` and `man`: shell completion scripts (clap_complete) and
//! the roff man page (clap_mangen), generated from the same clap
//! definitions as `--help`, so they cannot drift from the commands. A
//! command rather than a build script: nothing to find under target/, and
//! an installed binary can always print its own.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::output::{self, out};
use super::{Cli, Failure, usage};

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn completions(args: CompletionsArgs) -> Result<(), Failure> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "mtls-sandbox", &mut script);
    let mut script = String::from_utf8(script)?;
    if args.shell == Shell::Bash {
        script = script.replace(BASH_MISSPELT_STATE, BASH_STATE);
    }
    output::write(format_args!("{script}"));
    Ok(())
}

/// clap_complete's bash script spells the state of a subcommand of a
/// hyphenated binary two ways: the word loop sets `mtls__sandbox__subcmd__down`,
/// the case arms match `mtls__subcmd__sandbox__subcmd__down`, so nothing
/// after a subcommand completes (clap-rs/clap#6421, open). Spelling the
/// arms as the loop does fixes it, and is a no-op once fixed upstream;
/// tests/completions.rs completes `down --ti` to prove it.
const BASH_MISSPELT_STATE: &str = "mtls__subcmd__sandbox";
const BASH_STATE: &str = "mtls__sandbox";

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write every page (mtls-sandbox.1 and one per subcommand, as the main
    /// page's SUBCOMMANDS section names them) into this existing directory
    /// instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn man(args: ManArgs) -> Result<(), Failure> {
    let Some(dir) = args.dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page)?;
        output::write(format_args!("{}", String::from_utf8(page)?));
        return Ok(());
    };
    if !dir.is_dir() {
        return Err(usage(anyhow::anyhow!(
            "--dir {}: no such directory (create it first: mkdir -p {})",
            dir.display(),
            dir.display()
        )));
    }
    clap_mangen::generate_to(Cli::command(), &dir)
        .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
    out!(
        "Wrote the man pages into {} (try: man -l {}/mtls-sandbox.1)",
        dir.display(),
        dir.display()
    );
    Ok(())
}

//! `harness run FILE... [--against PATH/sandbox.json]`: plays scenario
//! files as workshop transcripts. Exit 0 when every expectation holds, 1
//! when one does not, 2 on unusable input.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use harness::Sandbox;
use harness::runner::Runner;
use harness::scenario::Scenario;
use mtls_sandbox::info::SandboxInfo;

#[derive(Parser)]
#[command(
    name = "harness",
    about = "Play mtls-sandbox scenario files as workshop transcripts."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenario files (fixtures/scenarios/*.toml).
    Run {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Use this running sandbox (its sandbox.json) instead of starting one.
        #[arg(long, value_name = "PATH")]
        against: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let Command::Run { files, against } = Cli::parse().command;
    let mut scenarios = Vec::new();
    for file in &files {
        match Scenario::load(file) {
            Ok(s) => scenarios.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    match run(scenarios, against).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(scenarios: Vec<Scenario>, against: Option<PathBuf>) -> anyhow::Result<bool> {
    let against = match against {
        Some(path) => Some(SandboxInfo::read(&path).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let mut all_passed = true;
    let mut out = std::io::stdout();
    for scenario in &scenarios {
        // A fresh sandbox and runner per scenario: state and captures do
        // not leak between files.
        let (info, sandbox) = match &against {
            Some(_) if !scenario.gateway.is_empty() => anyhow::bail!(
                "scenario \"{}\" declares [[gateway]] routes to the harness's echo API; run it without --against",
                scenario.name
            ),
            Some(_) if scenario.steps.iter().any(|s| s.webhook.is_some()) => anyhow::bail!(
                "scenario \"{}\" waits for webhooks at the harness's receiver; run it without --against",
                scenario.name
            ),
            Some(info) => (info.clone(), None),
            None => {
                let sandbox = Sandbox::for_scenario(scenario).await?;
                (sandbox.info.clone(), Some(sandbox))
            }
        };
        let inbox = sandbox.as_ref().and_then(Sandbox::inbox);
        let tally = Runner::new(&info)?.with_inbox(inbox).run(scenario, &mut out).await?;
        all_passed &= tally.failed == 0;
        if let Some(sandbox) = sandbox {
            sandbox.stop().await?;
        }
        println!();
    }
    Ok(all_passed)
}

//! `harness run FILE... [--against PATH/sandbox.json] [--junit FILE] [--json FILE]`:
//! plays scenario files as workshop transcripts, and writes CI reports.
//! Exit 0 when every expectation holds, 1 when one does not, 2 on unusable
//! input (a scenario file, a report path) or a scenario that could not run.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use harness::Sandbox;
use harness::report::{self, Destination, FileReport};
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
    #[command(after_help = "Examples:\n  harness run fixtures/scenarios/quickstart.toml\n  \
                      harness run my.toml --against .sandbox/sandbox.json --junit report.xml --json report.json")]
    Run {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Use this running sandbox (its sandbox.json) instead of starting one.
        #[arg(long, value_name = "PATH")]
        against: Option<PathBuf>,
        /// Write a JUnit XML report: a testsuite per file, a testcase per step.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Write a JSON report (per file and step: outcome, expected/got, duration);
        /// `-` writes it to standard output and moves the transcript to standard error.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
}

/// The reports asked for, opened before anything runs.
struct Reports {
    junit: Option<Destination>,
    json: Option<Destination>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let Command::Run {
        files,
        against,
        junit,
        json,
    } = Cli::parse().command;
    let mut scenarios = Vec::new();
    for file in &files {
        match Scenario::load(file) {
            Ok(s) => scenarios.push((file.clone(), s)),
            Err(e) => return usage(e),
        }
    }
    if junit.as_deref() == Some(std::path::Path::new("-")) {
        return usage("--junit - is not supported: give a file (--json - writes JSON to standard output)");
    }
    let reports = Reports {
        junit: match junit.map(|p| Destination::open("JUnit", &p)).transpose() {
            Ok(d) => d,
            Err(e) => return usage(e),
        },
        json: match json.map(|p| Destination::open("JSON", &p)).transpose() {
            Ok(d) => d,
            Err(e) => return usage(e),
        },
    };
    // With the JSON report on stdout, the transcript goes to stderr.
    let mut out: Box<dyn Write> = match &reports.json {
        Some(d) if d.is_stdout() => Box::new(std::io::stderr()),
        _ => Box::new(std::io::stdout()),
    };
    let done = run(&scenarios, against, &mut out).await;
    if let Err(e) = write_reports(reports, &done) {
        return usage(e);
    }
    let errors = done.iter().filter_map(|f| f.run.as_ref().err());
    let mut code = ExitCode::SUCCESS;
    for error in errors {
        eprintln!("error: {error}");
        code = ExitCode::from(2);
    }
    let failed = done.iter().any(|f| f.counts().failures > 0);
    if code == ExitCode::SUCCESS && failed {
        code = ExitCode::from(1);
    }
    code
}

fn usage(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

/// Runs every scenario (a fresh sandbox and runner each, so state and
/// captures do not leak between files), until one cannot run at all.
async fn run(scenarios: &[(PathBuf, Scenario)], against: Option<PathBuf>, out: &mut dyn Write) -> Vec<FileReport> {
    let against = against.map(|path| SandboxInfo::read(&path).map_err(|e| format!("--against: {e}")));
    let mut done = Vec::new();
    for (file, scenario) in scenarios {
        let started = time::OffsetDateTime::now_utc();
        let run = run_one(scenario, against.as_ref(), out)
            .await
            .map_err(|e| format!("{}: {e:#}", file.display()));
        let stop = run.is_err();
        done.push(FileReport {
            file: file.clone(),
            name: scenario.name.clone(),
            started,
            run,
        });
        if stop {
            break;
        }
        let _ = writeln!(out);
    }
    done
}

async fn run_one(
    scenario: &Scenario,
    against: Option<&Result<SandboxInfo, String>>,
    out: &mut dyn Write,
) -> anyhow::Result<harness::outcome::ScenarioResult> {
    let (info, sandbox) = match against {
        Some(_) if !scenario.gateway.is_empty() => anyhow::bail!(
            "scenario \"{}\" declares [[gateway]] routes to the harness's echo API; run it without --against",
            scenario.name
        ),
        Some(_) if scenario.steps.iter().any(|s| s.webhook.is_some()) => anyhow::bail!(
            "scenario \"{}\" waits for webhooks at the harness's receiver; run it without --against",
            scenario.name
        ),
        Some(Ok(info)) => (info.clone(), None),
        Some(Err(e)) => anyhow::bail!("{e}"),
        None => {
            let sandbox = Sandbox::for_scenario(scenario).await?;
            (sandbox.info.clone(), Some(sandbox))
        }
    };
    let inbox = sandbox.as_ref().and_then(Sandbox::inbox);
    let result = Runner::new(&info)?.with_inbox(inbox).run(scenario, out).await;
    if let Some(sandbox) = sandbox {
        sandbox.stop().await?;
    }
    result
}

fn write_reports(reports: Reports, done: &[FileReport]) -> anyhow::Result<()> {
    if let Some(dest) = reports.junit {
        dest.write(&report::junit::render(done)?)?;
    }
    if let Some(dest) = reports.json {
        dest.write(report::json::render(done).as_bytes())?;
    }
    Ok(())
}

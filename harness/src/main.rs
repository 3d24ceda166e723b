//! `harness run FILE... [--against PATH/sandbox.json [--app NAME]] [--step | --parallel]
//! [--junit FILE] [--json FILE]`: plays scenario files as workshop
//! transcripts, and writes CI reports (see [`harness::suite`]).
//! Exit 0 when every expectation holds, 1 when one does not, 2 on unusable
//! input (a scenario file, a report path) or a scenario that could not run.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use harness::parallel::Job;
use harness::report::{self, Destination, FileReport};
use harness::scenario::Scenario;
use harness::suite::{self, Options};

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
    /// Run scenario files (fixtures/scenarios/*.toml), or every *.toml file of a directory.
    #[command(after_help = "Examples:\n  harness run fixtures/scenarios/quickstart.toml\n  \
                      harness run my.toml --against .sandbox/sandbox.json --junit report.xml --json report.json\n  \
                      harness run quickstart.toml --against .sandbox/sandbox.json --app alice --step\n  \
                      harness run fixtures/scenarios --parallel")]
    Run {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Use this running sandbox (its sandbox.json) instead of starting one.
        #[arg(long, value_name = "PATH")]
        against: Option<PathBuf>,
        /// Play as this application of the --against sandbox (its
        /// apps/NAME/sandbox.json; my_app is the sandbox's own).
        #[arg(long, value_name = "NAME", requires = "against")]
        app: Option<String>,
        /// Show each request and response in full and wait for Enter before
        /// each request (for a projector). Reads Enter from standard input;
        /// once that ends (closed, /dev/null) it no longer waits.
        #[arg(long, conflicts_with = "parallel")]
        step: bool,
        /// Run the files at the same time on one sandbox (--against, or one the
        /// harness starts), each as an application of its own, created and
        /// deleted through the admin API. A file that moves the sandbox clock,
        /// rotates the signing key or installs fault rules for every
        /// application plays alone from that step on, the others waiting.
        /// Transcripts are printed whole, in file order.
        #[arg(long, conflicts_with = "app")]
        parallel: bool,
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
        app,
        step,
        parallel,
        junit,
        json,
    } = Cli::parse().command;
    let files = match scenario_files(files) {
        Ok(files) => files,
        Err(e) => return usage(e),
    };
    let mut jobs = Vec::new();
    for file in files {
        match Scenario::load(&file) {
            Ok(scenario) => jobs.push(Job { file, scenario }),
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
    let mut out: Box<dyn Write + Send> = match &reports.json {
        Some(d) if d.is_stdout() => Box::new(std::io::stderr()),
        _ => Box::new(std::io::stdout()),
    };
    let options = Options {
        against,
        app,
        step,
        parallel,
    };
    let played = suite::run(&jobs, &options, &mut out).await;
    let done: Vec<FileReport> = played.into_iter().map(|p| p.report).collect();
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

/// The files to play: each path given, a directory standing for its
/// `*.toml` files in name order (`harness run fixtures/scenarios`).
fn scenario_files(paths: Vec<PathBuf>) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path);
            continue;
        }
        let entries =
            std::fs::read_dir(&path).map_err(|e| format!("cannot read the directory {}: {e}", path.display()))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        if found.is_empty() {
            return Err(format!("{} holds no scenario files (*.toml)", path.display()));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

fn usage(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
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

//! One `harness run` over several scenario files: which sandbox and
//! application each plays against (one the harness starts, `--against`,
//! `--app`), in what order (one after another, or `--parallel`), and where
//! the transcripts go. The reports are built from what it returns, in the
//! order the files were given, whichever way they ran.

use std::io::Write;
use std::path::{Path, PathBuf};

use mtls_sandbox::info::SandboxInfo;

use crate::outcome::ScenarioResult;
use crate::parallel::{self, Job, Played};
use crate::report::FileReport;
use crate::runner::Runner;
use crate::scenario::Scenario;
use crate::stepper::Stepper;
use crate::{Sandbox, apps, shared};

/// How the files run (the `harness run` flags).
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// A running sandbox's `sandbox.json`.
    pub against: Option<PathBuf>,
    /// Play as this application of the `--against` sandbox.
    pub app: Option<String>,
    /// Show each exchange in full, waiting for Enter before each request.
    pub step: bool,
    /// Run the files at the same time, each as an application of its own.
    pub parallel: bool,
}

/// Runs every file; returns each one's report and transcript, in the order
/// given. Transcripts are written to `out` as they are final: live, one
/// file after another, or with `parallel`, each whole once its batch is done.
pub async fn run(jobs: &[Job], options: &Options, out: &mut (dyn Write + Send)) -> Vec<Played> {
    let against = options
        .against
        .as_deref()
        .map(|path| target(path, options.app.as_deref()));
    if options.parallel {
        return run_parallel(jobs, against, out).await;
    }
    let mut stepper = options.step.then(Stepper::stdin);
    let mut done = Vec::new();
    for job in jobs {
        let played = run_one(job, against.as_ref(), options.app.as_deref(), &mut stepper, out).await;
        let stop = played.report.run.is_err();
        done.push(played);
        if stop {
            // A file that could not run at all (a sandbox that would not
            // start) most likely means the next cannot either.
            break;
        }
        let _ = writeln!(out);
    }
    done
}

/// The `sandbox.json` to play against: `--against`, or with `--app`, that
/// application's.
fn target(sandbox_json: &Path, app: Option<&str>) -> Result<SandboxInfo, String> {
    let path = match app {
        Some(name) => apps::sandbox_json_of(sandbox_json, name).map_err(|e| format!("--app: {e}"))?,
        None => sandbox_json.to_path_buf(),
    };
    SandboxInfo::read(&path).map_err(|e| format!("--against: {e}"))
}

/// `--parallel`: every file at the same time ([`parallel::play`]); a file
/// that changes what every application shares ([`shared::shared_by`])
/// plays alone from that step on ([`crate::gate`]). The output says which
/// files wait, and why.
async fn run_parallel(
    jobs: &[Job],
    against: Option<Result<SandboxInfo, String>>,
    out: &mut (dyn Write + Send),
) -> Vec<Played> {
    let info = match against {
        Some(Err(e)) => return jobs.iter().map(|job| Played::failed(job, &e)).collect(),
        Some(Ok(info)) => Some(info),
        None => None,
    };
    let _ = writeln!(
        out,
        "--parallel: {} file(s) at once on one sandbox, each as an application of its own.",
        jobs.len()
    );
    let sharing: Vec<&Job> = jobs
        .iter()
        .filter(|j| !shared::shared_by(&j.scenario).is_empty())
        .collect();
    if !sharing.is_empty() {
        let _ = writeln!(
            out,
            "--parallel: these play alone (one at a time, the others waiting) from the first step that changes \
             what every application shares:"
        );
        for job in sharing {
            let reasons = shared::shared_by(&job.scenario).join("; ");
            let _ = writeln!(out, "  {}: {reasons}", job.file.display());
        }
    }
    let _ = writeln!(out);
    let played = parallel::play(jobs, info.as_ref()).await;
    for p in &played {
        let _ = writeln!(out, "{}", p.transcript);
    }
    played
}

/// Plays one file on its own: on a sandbox started for it, or `against`
/// (as its application `app`, the default one when `None`). The transcript
/// goes to `out` live and is kept.
async fn run_one(
    job: &Job,
    against: Option<&Result<SandboxInfo, String>>,
    app: Option<&str>,
    stepper: &mut Option<Stepper>,
    out: &mut (dyn Write + Send),
) -> Played {
    let started = time::OffsetDateTime::now_utc();
    let mut tee = Tee { out, kept: Vec::new() };
    let run = play(&job.scenario, against, app, stepper, &mut tee)
        .await
        .map_err(|e| format!("{}: {e:#}", job.file.display()));
    Played {
        report: FileReport {
            file: job.file.clone(),
            name: job.scenario.name.clone(),
            started,
            run,
        },
        transcript: String::from_utf8_lossy(&tee.kept).into_owned(),
        app: None,
    }
}

async fn play(
    scenario: &Scenario,
    against: Option<&Result<SandboxInfo, String>>,
    app: Option<&str>,
    stepper: &mut Option<Stepper>,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<ScenarioResult> {
    let (info, sandbox) = match against {
        Some(Ok(info)) => {
            scenario.runs_against_any_sandbox().map_err(anyhow::Error::msg)?;
            (info.clone(), None)
        }
        Some(Err(e)) => anyhow::bail!("{e}"),
        None => {
            let sandbox = Sandbox::for_scenario(scenario).await?;
            (sandbox.info.clone(), Some(sandbox))
        }
    };
    let inbox = sandbox.as_ref().and_then(Sandbox::inbox);
    let mut runner = Runner::new(&info)?
        .as_app(app.unwrap_or(apps::DEFAULT_APP))
        .with_inbox(inbox)
        .with_stepper(stepper.take());
    let result = runner.run(scenario, out).await;
    *stepper = runner.into_stepper();
    if let Some(sandbox) = sandbox {
        sandbox.stop().await?;
    }
    result
}

/// Writes through to the run's output and keeps a copy.
struct Tee<'a> {
    out: &'a mut (dyn Write + Send),
    kept: Vec<u8>,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

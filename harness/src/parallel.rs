//! `harness run --parallel`: scenario files played at the same time on one
//! sandbox, each as an application of its own, so that one file's
//! customers, tokens and clients cannot change what another sees.
//!
//! Applications do not separate everything. The sandbox clock, the
//! signing key and fault rules that match every application are shared, so
//! a scenario that moves the sandbox clock (a payment another file is
//! watching jumps ahead), rotates the key (another file's token stops
//! verifying) or installs such a rule (another file's call gets the 429)
//! would make the others' transcripts depend on timing. An application's
//! own time (`"app"` in an `/admin/clock` change) and rules matching one
//! application are its own. [`shared_by`](crate::shared::shared_by) names what a scenario shares;
//! such a file plays beside the others up to its first shared step, then
//! alone ([`crate::gate`]). Revoking a certificate is not on the list: the scenarios revoke
//! only certificates they made for themselves, which no other file
//! presents. Webhooks are not either: the sandbox sends each application's
//! events to that application's URL only, so a file that waits for them
//! gets a receiver of its own, set as its application's URL.
//!
//! Each file's transcript is buffered and handed back whole: the caller
//! prints them in file order, never interleaved.

use std::sync::Arc;

use mtls_sandbox::info::SandboxInfo;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::admin::AdminApi;
use crate::gate::{Gate, Pass};
use crate::receiver::{self, Inbox};
use crate::report::FileReport;
use crate::runner::Runner;
use crate::scenario::Scenario;
use crate::shared::shared_by;
use crate::{Sandbox, apps};

/// What the in-process sandbox of a parallel run is seeded with.
const SEED: &str = "harness parallel run";

/// Most files playing at once. Each makes its application's key pair (RSA
/// by default) when it starts and holds a few connections: a directory of
/// a hundred files should queue, not make a hundred key pairs at once.
const AT_ONCE: usize = 8;

/// One scenario file to play.
#[derive(Clone)]
pub struct Job {
    pub file: std::path::PathBuf,
    pub scenario: Scenario,
}

/// A file played: its report and its whole transcript.
pub struct Played {
    pub report: FileReport,
    pub transcript: String,
    /// The application it played as, when the run created one for it.
    pub app: Option<String>,
}

/// Plays `jobs` at the same time on the sandbox `against` describes, or on
/// one the harness starts; each as an application created for it (named
/// after its file) and deleted afterwards. Returns them in the order given.
pub async fn play(jobs: &[Job], against: Option<&SandboxInfo>) -> Vec<Played> {
    let own = match against {
        Some(_) => None,
        None => {
            let scenarios: Vec<&Scenario> = jobs.iter().map(|j| &j.scenario).collect();
            match Sandbox::for_scenarios(SEED, &scenarios).await {
                Ok(sandbox) => Some(sandbox),
                Err(e) => return all_failed(jobs, &format!("cannot start a sandbox for the parallel run: {e:#}")),
            }
        }
    };
    let info = against.or(own.as_ref().map(|s| &s.info)).expect("a sandbox");
    let played = match AdminApi::connect(info).await {
        Ok(admin) => play_as_apps(jobs, Arc::new(admin), own.is_some()).await,
        Err(e) => all_failed(jobs, &format!("{e:#}")),
    };
    if let Some(sandbox) = own
        && let Err(e) = sandbox.stop().await
    {
        eprintln!("warning: the parallel run's sandbox did not stop cleanly: {e:#}");
    }
    played
}

async fn play_as_apps(jobs: &[Job], admin: Arc<AdminApi>, own_sandbox: bool) -> Vec<Played> {
    let files: Vec<_> = jobs.iter().map(|j| j.file.clone()).collect();
    let slots = Arc::new(Semaphore::new(AT_ONCE));
    let gate = Gate::default();
    let mut tasks = JoinSet::new();
    for (i, (job, name)) in jobs.iter().cloned().zip(apps::names_for(&files)).enumerate() {
        let (admin, slots, gate) = (admin.clone(), slots.clone(), gate.clone());
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await.expect("the semaphore is never closed");
            let pass = gate.enter(!shared_by(&job.scenario).is_empty()).await;
            (i, play_one(job, &name, &admin, own_sandbox, pass).await)
        });
    }
    let mut played: Vec<Option<Played>> = jobs.iter().map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((i, p)) => played[i] = Some(p),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
    played.into_iter().map(|p| p.expect("every task reported")).collect()
}

/// Creates an application for `job` (with a webhook receiver of its own
/// when a step waits for a webhook, on a sandbox the harness started: as
/// without `--parallel`, `--against` gets none), plays the scenario as it
/// into a buffer, deletes the application (its webhook URL goes with it).
async fn play_one(job: Job, name: &str, admin: &AdminApi, own_sandbox: bool, pass: Pass) -> Played {
    let started = time::OffsetDateTime::now_utc();
    let mut transcript = Vec::new();
    let mut app = None;
    let run = async {
        if !own_sandbox {
            job.scenario.runs_against_any_sandbox().map_err(anyhow::Error::msg)?;
        }
        let (name, info) = admin.create_app_like(name).await?;
        app = Some(name.clone());
        let result = async {
            let inbox = match own_sandbox && job.scenario.steps.iter().any(|s| s.webhook.is_some()) {
                true => {
                    let server = receiver::start().await;
                    let url = format!("{}{}", server.uri(), receiver::PATH);
                    admin.set_webhook_url(&name, &url).await?;
                    Some(Inbox::new(server))
                }
                false => None,
            };
            let mut runner = Runner::new(&info)?.as_app(&name).with_inbox(inbox).with_pass(pass);
            runner.run(&job.scenario, &mut transcript).await
        }
        .await;
        let deleted = admin.delete_app(&name).await;
        let result = result?;
        deleted?;
        anyhow::Ok(result)
    }
    .await;
    Played {
        report: FileReport {
            file: job.file.clone(),
            name: job.scenario.name.clone(),
            started,
            run: run.map_err(|e| format!("{}: {e:#}", job.file.display())),
        },
        transcript: String::from_utf8_lossy(&transcript).into_owned(),
        app,
    }
}

fn all_failed(jobs: &[Job], why: &str) -> Vec<Played> {
    jobs.iter().map(|job| Played::failed(job, why)).collect()
}

impl Played {
    /// A file that could not run at all, and why.
    pub fn failed(job: &Job, why: &str) -> Self {
        Self {
            report: FileReport {
                file: job.file.clone(),
                name: job.scenario.name.clone(),
                started: time::OffsetDateTime::now_utc(),
                run: Err(format!("{}: {why}", job.file.display())),
            },
            transcript: String::new(),
            app: None,
        }
    }
}

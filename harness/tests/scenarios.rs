//! Every scenario file in fixtures/scenarios/ runs against a fresh sandbox
//! and its transcript is snapshotted (ports and ids redacted). Every file is
//! run and compared before the test fails, so one run names every scenario
//! whose transcript changed (`insta::glob!`), not just the first. The files
//! run at once, each on its own sandbox: a run is mostly waiting (handshakes,
//! the clock's steps, webhook deliveries), and one after another they made
//! this the slowest test of the harness.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use harness::Sandbox;
use harness::outcome::Tally;
use harness::runner::Runner;
use harness::scenario::Scenario;

/// Runs one scenario file on a sandbox of its own.
async fn transcript_of(file: &Path) -> (String, Tally) {
    let scenario = Scenario::load(file).unwrap();
    let sandbox = Sandbox::for_scenario(&scenario).await.unwrap();
    let mut transcript = Vec::new();
    let tally = Runner::new(&sandbox.info)
        .unwrap()
        .with_inbox(sandbox.inbox())
        .run(&scenario, &mut transcript)
        .await
        .unwrap()
        .tally();
    sandbox.stop().await.unwrap();
    (String::from_utf8(transcript).unwrap(), tally)
}

#[test]
fn every_scenario_passes_and_matches_its_snapshot() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut files: Vec<PathBuf> = Vec::new();
    insta::glob!("../../fixtures/scenarios", "*.toml", |file| files.push(file.to_owned()));
    let mut runs: HashMap<PathBuf, (String, Tally)> = rt.block_on(async {
        let runs: Vec<_> = files
            .into_iter()
            .map(|file| tokio::spawn(async move { (file.clone(), transcript_of(&file).await) }))
            .collect();
        let mut done = HashMap::new();
        for run in runs {
            let (file, result) = run.await.unwrap();
            done.insert(file, result);
        }
        done
    });
    let mut ran = Vec::new();
    let mut failed = Vec::new();
    insta::glob!("../../fixtures/scenarios", "*.toml", |file| {
        let (transcript, tally) = runs.remove(file).expect("every file ran");
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let mut settings = insta::Settings::clone_current();
        // Snapshots keep the names and headers they had before glob!.
        settings.remove_snapshot_suffix();
        settings.remove_input_file();
        settings.set_prepend_module_to_snapshot(false);
        // The sandbox is deterministic (ids repeat); only free ports vary.
        settings.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]");
        settings.bind(|| insta::assert_snapshot!(name.as_str(), transcript));
        if tally.failed > 0 {
            failed.push(format!("{}:\n{transcript}", file.display()));
        }
        ran.push(name);
    });
    assert!(ran.len() >= 5, "expected the shipped scenarios, found {ran:?}");
    assert!(
        failed.is_empty(),
        "steps did not go as expected in:\n{}",
        failed.join("\n")
    );
}

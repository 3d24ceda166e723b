//! Every scenario file in fixtures/scenarios/ runs against a fresh sandbox
//! and its transcript is snapshotted (ports and ids redacted).

use std::path::{Path, PathBuf};

use harness::Sandbox;
use harness::runner::Runner;
use harness::scenario::Scenario;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_passes_and_matches_its_snapshot() {
    let files = scenario_files();
    assert!(files.len() >= 5, "expected the shipped scenarios, found {files:?}");
    for file in files {
        let scenario = Scenario::load(&file).unwrap();
        let sandbox = Sandbox::for_scenario(&scenario).await.unwrap();
        let mut transcript = Vec::new();
        let tally = Runner::new(&sandbox.info)
            .unwrap()
            .run(&scenario, &mut transcript)
            .await
            .unwrap();
        let transcript = String::from_utf8(transcript).unwrap();
        assert_eq!(tally.failed, 0, "{}:\n{transcript}", file.display());
        sandbox.stop().await.unwrap();
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        insta::with_settings!({
            // The sandbox is deterministic (ids repeat); only free ports vary.
            filters => vec![(r"127\.0\.0\.1:\d+", "127.0.0.1:[port]")],
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_snapshot!(name, transcript);
        });
    }
}

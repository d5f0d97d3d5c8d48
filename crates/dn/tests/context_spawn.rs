//! Context that follows the work: 50 `#[dn::task]` calls spawned onto tokio
//! inside one run. With `dn::spawn` the run holds all 50; with plain
//! `tokio::spawn` each call becomes a run of its own and one warning (not
//! fifty) names the fix. One test, because both use the global instance and
//! the warning is said once per instance.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;

#[dn::task]
async fn classify(i: usize) -> usize {
    tokio::task::yield_now().await;
    i % 2
}

const WARNING: &str = "started with no current dn context while a run is open";

fn run_folders(dir: &std::path::Path) -> HashSet<String> {
    common::read_all(dir)
        .into_iter()
        .filter(|(_, v)| v["name"] == "classify")
        .map(|(file, _)| file.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default())
        .collect()
}

#[test]
fn spawned_tasks_keep_their_run_with_dn_spawn_and_are_warned_about_without() {
    common::capture_logs();
    let dir = tempfile::tempdir().unwrap();
    dn::configure(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();

    // With dn::spawn: one run holds all 50, and nothing is warned.
    let with = rt.block_on(dn::run("with-dn-spawn").instrument(async {
        let hs: Vec<_> = (0..50).map(|i| dn::spawn(classify(i))).collect();
        for h in hs {
            h.await.unwrap();
        }
        dn::current_run().unwrap()
    }));
    assert_eq!(with.tasks().len(), 50, "every call is a child of the run");
    dn::flush();
    assert_eq!(run_folders(dir.path()).len(), 1);
    assert!(!common::logs().contains(WARNING), "no warning when the context is carried");

    // Without: 50 runs of their own, and exactly one warning naming the fix.
    let without = rt.block_on(dn::run("with-tokio-spawn").instrument(async {
        let hs: Vec<_> = (0..50).map(|i| tokio::spawn(classify(i))).collect();
        for h in hs {
            h.await.unwrap();
        }
        dn::current_run().unwrap()
    }));
    assert_eq!(without.tasks().len(), 0, "tokio::spawn does not carry the context");
    dn::flush();
    assert_eq!(run_folders(dir.path()).len(), 51, "the first run's folder and one per lost call");
    let logs = common::logs();
    assert_eq!(logs.matches(WARNING).count(), 1, "{logs}");
    assert!(logs.contains("dn::spawn"), "the warning names the fix: {logs}");
    dn::shutdown();
}

//! Capacity with default settings: bursts are kept, open files are bounded.
#![allow(clippy::unwrap_used)] // tests and benches fail loudly by design

mod common;

use common::{instance, read_all};

#[test]
fn a_burst_of_100k_task_spans_keeps_every_span() {
    let (dn, dir) = instance();
    let run = dn.run("burst").enter();
    for i in 0..100_000 {
        dn.task_span("t").run(|t| t.log_metric("i", i as f64));
    }
    drop(run);
    let report = dn.shutdown();
    assert_eq!(report.dropped(), 0, "{report:?}");
    assert_eq!(report.accepted, 100_001);
    assert_eq!(read_all(dir.path()).len(), 100_001);
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[test]
fn ten_thousand_runs_hold_a_bounded_number_of_files_open() {
    let (dn, dir) = instance();
    let before = open_fds();
    let (mut peak, mut peak_between) = (0, 0);
    for i in 0..10_000 {
        dn.run(format!("run-{i}")).run(|r| r.log_metric("m", 1.0));
        if i % 100 == 0 {
            // Between flushes the writer's side thread may still be closing
            // files it let go: at most 320 (dn-export's `CLOSE_BATCH` times
            // its queue and the piece in hand).
            peak_between = peak_between.max(open_fds());
        }
        if i % 500 == 0 {
            dn.flush();
            peak = peak.max(open_fds());
        }
    }
    dn.flush();
    peak = peak.max(open_fds());
    // Beyond the cap: the project directories the writer holds open while
    // it makes runs in them (at most 8), and 8 to spare.
    let cap = dn::export::DEFAULT_MAX_OPEN_FILES + 8;
    assert!(peak <= before + cap + 8, "peak {peak} fds after a flush, {before} before");
    assert!(peak_between <= before + cap + 320 + 8, "peak {peak_between} fds between flushes, {before} before");
    dn.shutdown();
    let runs = std::fs::read_dir(dir.path().join("projects/default")).unwrap().count();
    assert_eq!(runs, 10_000);
    // Each run's file made by the writer or its side thread, and each line
    // written once.
    let lines = read_all(dir.path());
    assert_eq!(lines.len(), 10_000);
    let mut names: Vec<&str> = lines.iter().map(|(_, l)| l["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), 10_000);
}

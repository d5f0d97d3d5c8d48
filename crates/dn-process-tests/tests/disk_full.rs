//! A local file that fills up: a full disk, or here a file-size limit
//! (`RLIMIT_FSIZE`, which stops an append the same way: the kernel writes
//! what fits; the next write past it would end the process with `SIGXFSZ`,
//! whose default action the child keeps). The process lives, the file
//! keeps whole lines only, every line is counted as written or failed as it
//! truly is, what is on disk is what the collector receives, and writing
//! goes on once there is room again.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::path::Path;

use serde_json::Value;

/// Runs the child (`keep_limit`: the limit stays on to the end),
/// delivering to a loopback collector; its report, the run's file as it is
/// (not through `dn_testing::jsonl`, which leaves a torn last line out),
/// and the collector.
fn run_child(keep_limit: bool) -> (Value, String, dn_testing::loopback::Receiver) {
    let dir = tempfile::tempdir().unwrap();
    let rx = dn_testing::loopback::receiver(vec![]);
    let endpoint = rx.url.trim_end_matches("/v1/traces").to_string();
    let mut c =
        dn_testing::process::sdk_command(Path::new(env!("CARGO_BIN_EXE_file_size_limit")), dir.path(), Some(&endpoint));
    if keep_limit {
        c.env("DN_KEEP_LIMIT", "1");
    }
    let out = c.output().unwrap();
    // (Killed by SIGXFSZ: dn wrote past the limit.)
    assert!(out.status.success(), "{:?} {}", out.status, String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("projects/default")).unwrap().collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let text = std::fs::read_to_string(runs[0].as_ref().unwrap().path().join("spans.jsonl")).unwrap();
    (report, text, rx)
}

/// Every line of `text` parsed: whole JSON lines only, no torn or empty one.
fn whole_lines(text: &str) -> Vec<Value> {
    assert!(text.ends_with('\n'));
    text.lines().map(|l| serde_json::from_str(l).expect("a whole JSON line")).collect()
}

#[test]
fn a_file_that_fills_up_keeps_whole_lines_and_counts_each_line_truly() {
    let (report, text, rx) = run_child(false);
    let n = |k: &str| report[k].as_u64().unwrap_or_else(|| panic!("{k} in {report}"));

    // The limit was met: lines failed while it held, and it was named.
    assert!(n("failed_while_limited") > 0, "{report}");
    assert!(report["last_error"].as_str().unwrap().contains("file-size limit"), "{report}");

    // The run's file: whole JSON lines only, no torn or empty one.
    let lines = whole_lines(&text);

    // Each line is counted as what it is: the lines on disk are the
    // written ones, and every accepted span is written or failed.
    assert_eq!(n("dropped_from_the_queue"), 0, "{report}");
    assert_eq!(lines.len() as u64, n("exported"), "{report}");
    assert_eq!(n("exported") + n("failed"), n("accepted"), "{report}");
    assert!(n("failed") >= n("failed_while_limited"));
    assert_eq!(n("dropped"), n("failed"), "the report's loss is the file's");

    // Once there was room again, writing went on: the 500 later tasks and
    // the run are all there.
    assert!(text.len() as u64 > n("limit"));
    let names: HashSet<&str> = lines.iter().map(|l| l["name"].as_str().unwrap()).collect();
    let missing: Vec<u64> = (2000..2500).filter(|i| !names.contains(format!("task-{i}").as_str())).collect();
    assert!(missing.is_empty(), "tasks logged after the limit was lifted are missing: {missing:?}");
    assert!(names.contains("limited"), "the run's own line");

    // The collector got exactly the lines on disk: those a stopped write
    // left whole were delivered, and nothing of a line that failed.
    assert_eq!(n("delivered"), n("exported"), "{report}");
    let on_disk: HashSet<String> = lines.iter().map(|l| l["span_id"].as_str().unwrap().to_string()).collect();
    let seen = rx.seen.lock().unwrap();
    let received: HashSet<String> =
        seen.spans.iter().map(|s| s.span_id.iter().map(|b| format!("{b:02x}")).collect()).collect();
    assert_eq!(seen.spans.len(), received.len(), "each span once");
    assert_eq!(received, on_disk);
}

#[test]
fn a_disk_still_full_at_exit_costs_counted_lines_not_a_hang_or_a_torn_one() {
    let (report, text, _collector) = run_child(true);
    let n = |k: &str| report[k].as_u64().unwrap_or_else(|| panic!("{k} in {report}"));
    assert_eq!(report["lifted"], false);
    // Shutdown came back within its timeout, with every line counted.
    assert_eq!(report["timed_out"], false, "{report}");
    assert_eq!(n("dropped_from_the_queue"), 0, "{report}");
    assert_eq!(n("exported") + n("failed"), n("accepted"), "{report}");
    let lines = whole_lines(&text);
    assert_eq!(lines.len() as u64, n("exported"), "{report}");
    assert!(text.len() as u64 <= n("limit"));
    // The run's line, written at shutdown, did not fit: counted, not torn.
    assert!(!lines.iter().any(|l| l["name"] == "limited"), "the run's line cannot fit under the limit");
    assert!(n("failed") > n("failed_while_limited"), "{report}");
    assert_eq!(n("delivered"), n("exported"), "{report}");
}

//! Allocation budget of the hot path, on the caller's thread (issue #13,
//! "no cross-thread frees on the hot path"): what the caller allocates, the
//! writer frees or gives back, so every allocation here is work on two
//! threads and, with glibc, a lock the writer's free may take.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;

#[test]
/// The task span (one input, one metric with a step, one output) and
/// a `#[dn::task]` call allocate once each in the steady state — the task's
/// handle; names, short values, the metric's name and the auto attributes
/// are held inline, the rendered groups go into a buffer the writer gave
/// back. Before: 7.1 allocations per task span and 4.2 per call. Counted by
/// `alloc_count` over 9 000 of each (rounds flushed, so the writer's lag
/// does not decide how many rendered buffers are back).
fn a_task_span_and_a_task_call_allocate_once_on_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let out = dn_testing::process::sdk_command(Path::new(env!("CARGO_BIN_EXE_alloc_count")), dir.path(), None)
        .output()
        .expect("child runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let task = v["task_allocations_per_span"].as_f64().unwrap();
    let call = v["decorated_allocations_per_call"].as_f64().unwrap();
    assert!(task <= 1.25, "a task span allocated {task:.2} times on the caller");
    assert!(call <= 1.25, "a #[dn::task] call allocated {call:.2} times on the caller");
    assert_eq!(v["dropped"], 0);
    let mut lines = 0;
    for run in std::fs::read_dir(dir.path().join("projects/default")).expect("project dir") {
        let f = run.expect("entry").path().join("spans.jsonl");
        lines += std::fs::read_to_string(f).expect("spans file").lines().count();
    }
    // Every span of both runs is on disk, the two runs' own lines included.
    assert_eq!(lines as u64, 2 * v["spans_per_kind"].as_u64().unwrap() + 2);
}

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

/// `cross_frees` run with `round` spans a round: each workload's frees of
/// the caller's allocations, thread by thread, with the output.
fn cross_frees(round: u64) -> (u64, Vec<(String, String, u64)>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dn_testing::process::sdk_command(Path::new(env!("CARGO_BIN_EXE_cross_frees")), dir.path(), None)
        .arg(round.to_string())
        .output()
        .expect("child runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["dropped"], 0);
    assert_eq!(v["round"], round);
    let workloads = v["workloads"].as_object().unwrap();
    assert_eq!(workloads.len(), 5, "{v}");
    // The runs workload allocates on the caller, and the route is among
    // what it allocates: the count is live, not vacuous.
    assert!(workloads["runs"]["caller_allocations"].as_u64().unwrap() >= v["per_workload"].as_u64().unwrap(), "{v}");
    let frees = workloads
        .iter()
        .flat_map(|(w, r)| {
            r["frees_by_thread"].as_object().unwrap().iter().map(|(t, n)| (w.clone(), t.clone(), n.as_u64().unwrap()))
        })
        .collect();
    (v["per_workload"].as_u64().unwrap(), frees, v)
}

#[test]
/// The writer frees none of the caller's allocations while the caller logs
/// (issue #13, "no cross-thread frees on the hot path"), for each workload
/// of the bench: a task span with its body, a light span, a metric point, a
/// `#[dn::task]` call and a run with a param and a metric, 20 000 of each.
/// `cross_frees` tags every block with the thread that allocated it and
/// counts frees elsewhere, by thread, while the caller's loop runs.
///
/// In rounds of 1 000 the writer keeps up: no thread frees one for as many
/// as one span in a hundred (what is left is one-off, a runtime's thread
/// exiting, or once a batch, the route the line formatter held last).
/// Before routes were given back the writer freed two for every run: its
/// route and its run id.
///
/// In one round of 20 000 the writer falls behind (four to one for runs):
/// the pools then take back what it wrote up to one export queue's worth,
/// and are trimmed a step at a time (at most every 100 ms) while it is
/// idle; an idle round as a loop begins may free a step's worth (256 items
/// a pool). No thread frees one for as many as one span in ten. With
/// the idle bounds alone the writer freed 1 400 to 4 300 in the task and
/// `#[dn::task]` loops while they ran (and most of the runs' routes, run
/// ids and buffers as it caught up after them, which this does not count).
fn the_writer_frees_nothing_the_caller_allocated() {
    for (round, per) in [(1_000, 100), (20_000, 10)] {
        let (n, frees, v) = cross_frees(round);
        for (w, thread, frees) in frees {
            assert!(
                frees < n / per,
                "rounds of {round}, {w}: {thread} freed {frees} of the caller's allocations in {n} spans (by size: {})",
                v["workloads"][&w]["frees_by_size"]
            );
        }
    }
}

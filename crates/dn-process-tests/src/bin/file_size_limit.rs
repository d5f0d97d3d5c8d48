//! Logs into a file-size limit (`RLIMIT_FSIZE`), which stops an append the
//! way a full disk does: the kernel writes what fits, and the next write
//! past it sends `SIGXFSZ`, which ends the process (its default action,
//! kept here).
//! 2 000 task spans (about 2.5 MB of lines) are logged while the run's file
//! may hold [`LIMIT`] bytes; then the limit is lifted ("the disk has room
//! again"), 500 more are logged and the run ends. With `DN_KEEP_LIMIT` set
//! the limit stays on to the end: the run's own line, written at shutdown,
//! does not fit either. Prints the export report as JSON.
use serde_json::json;

/// What the run's file may hold while the limit is on.
const LIMIT: u64 = 256 << 10;

fn task(i: u64) {
    dn::task_span(format!("task-{i}")).run(|t| t.log_input("x", format!("{i}-{}", "y".repeat(300))));
}

fn main() {
    // SIGXFSZ keeps its default action: a write past the limit would end
    // this process, so dn must never make one.
    dn::configure(dn::Config::new()).expect("configure");
    dn_process_tests::set_file_size_limit(Some(LIMIT));
    let run = dn::run("limited").enter();
    (0..2000).for_each(task);
    let limited = dn::flush();
    let lift = std::env::var_os("DN_KEEP_LIMIT").is_none();
    if lift {
        dn_process_tests::set_file_size_limit(None);
        (2000..2500).for_each(task);
    }
    drop(run);
    let report = dn::shutdown();
    let jsonl = |r: &dn::ExportReport| r.exporters.iter().find(|e| e.name == "jsonl").cloned().expect("jsonl");
    let (while_limited, at_end) = (jsonl(&limited), jsonl(&report));
    println!(
        "{}",
        json!({
            "limit": LIMIT,
            "lifted": lift,
            "timed_out": report.timed_out,
            "accepted": report.accepted,
            "dropped": report.dropped(),
            "dropped_from_the_queue": report.dropped_queue_full + report.dropped_after_shutdown,
            "failed_while_limited": while_limited.failed,
            "exported": at_end.exported,
            "failed": at_end.failed,
            "last_error": at_end.last_error,
            "delivered": report.exporters.iter().find(|e| e.name != "jsonl").map(|e| e.exported),
        })
    );
}

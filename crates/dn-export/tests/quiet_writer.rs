//! A quiet writer thread: it backs off to about one wake-up a second, and
//! the first span after the quiet spell still wakes it at once. Its own
//! process (a test binary of one test): the wake-ups are the writer
//! thread's context switches, read from `/proc`, and no other test's
//! pipeline shares the recycling pools it trims before it backs off.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::Path;
use std::time::{Duration, Instant};

use dn_core::{SpanSink, Tracer};
use dn_export::{ExportPipeline, JsonlExporter, Resource};

/// The voluntary context switches of this process's thread named `name`.
fn switches(name: &str) -> u64 {
    for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if std::fs::read_to_string(t.path().join("comm")).unwrap_or_default().trim() == name {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap();
            let line = status.lines().find(|l| l.starts_with("voluntary_ctxt_switches:")).unwrap();
            return line.split_whitespace().nth(1).unwrap().parse().unwrap();
        }
    }
    panic!("no thread named {name}");
}

/// Whether a spans file under `dir` holds a span named `name`.
fn written(dir: &Path, name: &str) -> bool {
    dn_testing::jsonl::spans(dir).iter().any(|s| s["name"] == name)
}

#[test]
fn a_quiet_writer_wakes_about_once_a_second_and_a_span_still_wakes_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = JsonlExporter::new(dir.path(), &Resource::detect("quiet")).unwrap();
    let pipeline = std::sync::Arc::new(ExportPipeline::builder().exporter(jsonl).build().unwrap());
    let tracer = Tracer::with_sink(pipeline.clone(), "p").unwrap();
    tracer.run("before").run(|_| ());
    assert!(SpanSink::flush(&*pipeline, Duration::from_secs(30)).is_clean());
    // Let it settle into its quiet spell, then count 3 s of it: 150
    // wake-ups at the 20 ms it used to sleep, about 5 backed off to 1 s.
    std::thread::sleep(Duration::from_secs(2));
    let before = switches("dn-export");
    std::thread::sleep(Duration::from_secs(3));
    let woke = switches("dn-export") - before;
    assert!(woke <= 12, "the quiet writer woke {woke} times in 3 s");
    let start = Instant::now();
    tracer.run("after").run(|_| ());
    while !written(dir.path(), "after") {
        // Half the longest idle sleep (1 s, `IDLE_INTERVAL_MAX`).
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "the first span after a quiet spell waited out the sleep"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

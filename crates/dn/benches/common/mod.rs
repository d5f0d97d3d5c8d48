//! Helpers shared by the benchmarks.
#![allow(dead_code, clippy::unwrap_used)] // each bench uses part of it; benches fail loudly

use divan::Bencher;
use dn::core::{TaskSpan, Tracer};

/// Benchmarks `body` with a current run that is renewed every 1000
/// iterations: a run keeps its finished children (for `tasks()`), so a fresh
/// one keeps the benchmark's memory flat at an amortised cost.
pub fn in_a_run<R>(b: Bencher<'_, '_>, start_run: impl Fn() -> TaskSpan, mut body: impl FnMut(&TaskSpan) -> R) {
    let mut run = start_run();
    let mut n = 0u32;
    b.bench_local(|| {
        n += 1;
        if n % 1000 == 0 {
            run.end();
            run = start_run();
        }
        body(&run)
    });
    run.end();
}

/// The standard task span: one input, one metric, one output.
pub fn task_with_io(tracer: &Tracer, run: &TaskSpan) {
    tracer.task_span("task").parent(run).run(|t| {
        t.log_input("rows", 250);
        t.log_metric("latency_ms", 112);
        t.log_output("status", "ok");
    });
}

/// A scratch directory on tmpfs (`/dev/shm`) where there is one, as the
/// workload benchmarks use: a writer benchmark measures formatting and the
/// append, not how busy this shared machine's disk is (on `/tmp`'s disk
/// the writer rows varied 3x between runs minutes apart).
pub fn fast_tempdir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() { tempfile::tempdir_in(shm).unwrap() } else { tempfile::tempdir().unwrap() }
}

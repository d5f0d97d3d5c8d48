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

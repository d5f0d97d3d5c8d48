//! Overhead of calling a `#[dn::task]` function vs the same plain function,
//! inside a run. `cargo xtask bench task_macro`.
//!
//! One recorded run on the 2-core machine kind (2026-12-06 15:32, code
//! efcaedc, core round trip 70 / 81 ns), medians: plain fn 0.75 ns; task fn
//! without logging 5.61 µs, with one input and the output logged 4.58 µs
//! (fastest samples 0.67 and 1.32 µs). The spread within a row is larger
//! than the difference between the rows (why is not established; the
//! writer shares the caller's core at times on this machine kind, see
//! `docs/performance-log.md`). The `#[dn::task]` row of
//! `cargo xtask bench workloads` measures the same call end to end, every
//! line on disk (`docs/performance.md`).
#![allow(clippy::unwrap_used)] // benches fail loudly by design

mod common;

use divan::Bencher;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    dn::configure(dn::Config::new().local_dir(dir.path()).isolated().queue_capacity(1 << 22)).unwrap();
    divan::main();
    dn::shutdown();
}

fn plain(x: u64) -> u64 {
    x.wrapping_mul(31).wrapping_add(7)
}

#[dn::task]
fn traced(x: u64) -> u64 {
    x.wrapping_mul(31).wrapping_add(7)
}

#[dn::task(log_inputs = false, log_output = false)]
fn traced_bare(x: u64) -> u64 {
    x.wrapping_mul(31).wrapping_add(7)
}

#[divan::bench(sample_count = 100, sample_size = 1000)]
fn plain_fn(b: Bencher<'_, '_>) {
    b.bench(|| plain(divan::black_box(3)));
}

#[divan::bench(sample_count = 100, sample_size = 200)]
fn task_fn_with_input_and_output(b: Bencher<'_, '_>) {
    common::in_a_run(
        b,
        || dn::run("bench").start(),
        |run| {
            let _g = run.enter_context();
            traced(divan::black_box(3))
        },
    );
}

#[divan::bench(sample_count = 100, sample_size = 200)]
fn task_fn_without_logging(b: Bencher<'_, '_>) {
    common::in_a_run(
        b,
        || dn::run("bench").start(),
        |run| {
            let _g = run.enter_context();
            traced_bare(divan::black_box(3))
        },
    );
}

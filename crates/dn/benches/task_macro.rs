//! Overhead of calling a `#[dn::task]` function vs the same plain function,
//! inside a run. `cargo xtask bench task_macro`.
//!
//! One run on the 2-core machine kind (medians): plain fn 0.16 ns; task fn
//! without logging 1.96 µs; with one input and the output logged 4.63 µs.
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

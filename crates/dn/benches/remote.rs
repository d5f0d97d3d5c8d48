//! Remote export: spans per second delivered (protobuf + gzip) to an
//! in-process OTLP receiver on loopback, and what streaming adds to a task
//! span on the caller's thread. `cargo xtask bench remote`.
//!
//! One recorded run (`cargo xtask bench remote`, 2-core machine kind,
//! 2026-12-06 16:06, code efcaedc, load 1.62 before, core round trip
//! 81 / 90 ns; medians, fastest in brackets): writing 1 000 task spans and
//! delivering them from the JSONL to an in-process receiver that decodes
//! every request takes 32.3 ms (25.2 ms) end to end, ~31 000 spans/s
//! (~40 000) with the receiver's decoding on the same two cores; a task span
//! with one input, metric and output costs the caller 1.43 µs (1.394 µs) with
//! the local JSONL only and 1.79 µs (1.401 µs) with an OTLP destination
//! added: 1.005× on the fastest samples — delivery reads from disk on its
//! own thread, and on two cores it shares them with the caller and the
//! writer. Delivery after the fact (`dn sync`, both cores) is
//! measured by `cargo xtask bench outage`; its figures are in
//! `docs/performance.md`.
#![allow(clippy::unwrap_used)] // benches fail loudly by design

mod common;

use std::sync::Arc;
use std::time::Duration;

use divan::Bencher;
use dn::core::{SpanSink as _, Tracer};
use dn::export::delivery::OtlpExporter;
use dn::export::otlp::OtlpConfig;
use dn::export::{ExportPipeline, JsonlExporter, Resource};
use dn_testing::loopback::receiver;

fn main() {
    divan::main();
}

/// A pipeline writing JSONL under `dir`, with an OTLP destination to `url` when given.
fn pipeline(dir: &std::path::Path, url: Option<&str>) -> Arc<ExportPipeline> {
    let resource = Resource::detect("bench");
    let mut jsonl = JsonlExporter::new(dir, &resource).unwrap();
    let mut builder = ExportPipeline::builder().queue_capacity(1 << 22);
    if let Some(url) = url {
        let dest = OtlpExporter::new(OtlpConfig::new(url), dir).unwrap();
        jsonl = jsonl.notify(dest.clone());
        builder = builder.destination(dest);
    }
    Arc::new(builder.exporter(jsonl).build().unwrap())
}

/// Delivery throughput, end to end: 1000 task spans written to the JSONL,
/// read back, converted, gzipped and posted, until the receiver has them all.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn otlp_deliver_1000_task_spans(b: Bencher<'_, '_>) {
    let rx = receiver(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), Some(&rx.url));
    let tracer = Tracer::with_sink(p.clone(), "bench").unwrap();
    b.bench_local(|| {
        tracer.run("run").run(|run| {
            for _ in 0..999 {
                common::task_with_io(&tracer, run);
            }
        });
        let r = p.flush(Duration::from_secs(60));
        assert!(r.is_clean(), "{r:?}");
    });
}

fn task_span_bench(b: Bencher<'_, '_>, with_otlp: bool) {
    let dir = tempfile::tempdir().unwrap();
    let rx = receiver(vec![]);
    let p = pipeline(dir.path(), with_otlp.then_some(rx.url.as_str()));
    let tracer = Tracer::with_sink(p.clone(), "bench").unwrap();
    common::in_a_run(b, || tracer.run("bench-run").start(), |run| common::task_with_io(&tracer, run));
    let _ = p.flush(Duration::from_secs(60));
}

/// Caller-side task span with the local JSONL exporter only.
#[divan::bench(sample_count = 100, sample_size = 200)]
fn task_span_local_only(b: Bencher<'_, '_>) {
    task_span_bench(b, false);
}

/// The same with an OTLP destination added: the caller's cost must not move.
#[divan::bench(sample_count = 100, sample_size = 200)]
fn task_span_local_and_otlp(b: Bencher<'_, '_>) {
    task_span_bench(b, true);
}

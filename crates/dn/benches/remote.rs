//! Remote export: spans per second delivered (protobuf + gzip) to an
//! in-process OTLP receiver on loopback, and what streaming adds to a task
//! span on the caller's thread. `cargo xtask bench remote`.
//!
//! One run on the 2-core machine kind (medians): delivery of 1000 task spans
//! 19.9 ms (about 50 000 spans/s, protobuf + gzip + HTTP on loopback); a
//! task span with one input, metric and output costs the caller 3.05 µs with
//! the local JSONL only and 3.24 µs with an OTLP destination added (1.06×,
//! within this machine's run-to-run noise): no network work happens on the
//! caller's thread.
#![allow(clippy::unwrap_used)] // benches fail loudly by design

mod common;

use std::sync::Arc;
use std::time::Duration;

use divan::Bencher;
use dn::core::{MemorySink, SpanRecord, Tracer};
use dn::export::otlp::{OtlpConfig, OtlpExporter};
use dn::export::{ExportPipeline, Exporter, JsonlExporter, Resource};
use dn_testing::loopback::receiver;

fn main() {
    divan::main();
}

fn task_records(n: usize) -> Vec<SpanRecord> {
    let sink = MemorySink::new();
    let tracer = Tracer::new(sink.clone(), "bench").unwrap();
    tracer.run("run").run(|_| {
        for i in 0..n - 1 {
            tracer.task_span("task").run(|t| {
                t.log_input("rows", i);
                t.log_metric("latency_ms", 112);
                t.log_output("status", "ok");
            });
        }
    });
    sink.take()
}

/// Delivery thread throughput: 1000 task spans exported and flushed.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn otlp_deliver_1000_task_spans(b: Bencher<'_, '_>) {
    let rx = receiver(vec![]);
    let records = task_records(1000);
    let mut e = OtlpExporter::new(OtlpConfig::new(rx.url.clone()), &Resource::detect("bench")).unwrap();
    b.bench_local(|| {
        e.export(&records);
        e.flush();
    });
    assert_eq!(e.report().failed, 0);
    e.shutdown();
}

fn task_span_bench(b: Bencher<'_, '_>, with_otlp: bool) {
    let dir = tempfile::tempdir().unwrap();
    let resource = Resource::detect("bench");
    let rx = receiver(vec![]);
    let mut builder =
        ExportPipeline::builder().exporter(JsonlExporter::new(dir.path(), &resource).unwrap()).queue_capacity(1 << 22);
    if with_otlp {
        builder = builder.exporter(OtlpExporter::new(OtlpConfig::new(rx.url.clone()), &resource).unwrap());
    }
    let pipeline = Arc::new(builder.build().unwrap());
    let tracer = Tracer::with_sink(pipeline.clone(), "bench").unwrap();
    common::in_a_run(b, || tracer.run("bench-run").start(), |run| common::task_with_io(&tracer, run));
    let _ = dn::core::SpanSink::flush(&*pipeline, Duration::from_secs(60));
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

//! Caller-side cost of dn spans beside a raw `opentelemetry_sdk` span, all
//! in one binary so the ratios compare like with like.
//!
//! `cargo xtask bench` (or `cargo bench -p dn --bench spans`). Figures from
//! one run on the 2-core CI machine kind, as ratios to the raw OTel SDK
//! span (start + end, batch processor, no-op exporter) measured in the same
//! run (median times):
//!
//! | benchmark                                      | median     | vs OTel span |
//! |------------------------------------------------|------------|--------------|
//! | otel_sdk_span (baseline)                       | BASE       | 1.00×        |
//! | dn light span (create + end)                   | LIGHT      | RLIGHT       |
//! | dn task span + 1 input, 1 metric, 1 output     | TASK       | RTASK        |
//! | dn run × 100 task spans (per run)              | RUN100     | RRUN100      |
//! | dn log_metric                                  | METRIC     | RMETRIC      |
//! | JSONL writer, per task span (writer thread)    | WRITER     | RWRITER      |
//!
//! The caller thread does no file I/O: records go to a bounded queue and a
//! writer thread formats and writes them (the last row is that thread's
//! cost per span, measured separately).

use std::sync::Arc;
use std::time::Duration;

use divan::Bencher;
use dn::core::{ExporterReport, MemorySink, SpanRecord, SpanSink, Tracer};
use dn::export::{ExportPipeline, Exporter, JsonlExporter, Resource};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

fn main() {
    divan::main();
}

#[derive(Debug)]
struct NoopOtelExporter;

impl SpanExporter for NoopOtelExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

/// Drops records on the writer thread: measures the caller side only.
struct DiscardExporter;

impl Exporter for DiscardExporter {
    fn name(&self) -> &'static str {
        "discard"
    }
    fn export(&mut self, _batch: &[SpanRecord]) {}
    fn flush(&mut self) {}
    fn shutdown(&mut self) {}
    fn report(&self) -> ExporterReport {
        ExporterReport::default()
    }
}

fn dn_tracer() -> (Tracer, Arc<ExportPipeline>) {
    let pipeline =
        Arc::new(ExportPipeline::builder().exporter(DiscardExporter).queue_capacity(1 << 20).build().unwrap());
    (Tracer::with_sink(pipeline.clone(), "bench").unwrap(), pipeline)
}

#[divan::bench]
fn otel_sdk_span(b: Bencher<'_, '_>) {
    let provider = SdkTracerProvider::builder().with_batch_exporter(NoopOtelExporter).build();
    let tracer = provider.tracer("bench");
    b.bench(|| {
        let mut span = tracer.start("span");
        span.end();
    });
    let _ = provider.shutdown();
}

#[divan::bench]
fn dn_light_span(b: Bencher<'_, '_>) {
    let (tracer, pipeline) = dn_tracer();
    b.bench(|| {
        let g = tracer.span("span").enter();
        drop(g);
    });
    report("light", pipeline.flush(Duration::from_secs(30)));
}

#[divan::bench]
fn dn_task_span_io(b: Bencher<'_, '_>) {
    let (tracer, pipeline) = dn_tracer();
    let run = tracer.run("bench-run").start().unwrap();
    let _ctx = run.enter_context();
    // Children are kept by the run (for `tasks()`): use a fresh run per
    // batch of iterations so the benchmark's memory stays flat.
    b.bench(|| {
        tracer.task_span("task").run(|t| {
            t.log_input("rows", &250).unwrap();
            t.log_metric("latency_ms", 112).unwrap();
            t.log_output("status", "ok").unwrap();
        });
    });
    drop(_ctx);
    run.end().unwrap();
    report("task", pipeline.flush(Duration::from_secs(30)));
}

#[divan::bench(sample_count = 50, sample_size = 10)]
fn dn_run_100_tasks(b: Bencher<'_, '_>) {
    let (tracer, pipeline) = dn_tracer();
    b.bench(|| {
        tracer
            .run("run")
            .run(|_| {
                for i in 0..100 {
                    tracer.task_span("task").run(|t| t.log_metric("i", i).unwrap());
                }
            })
            .unwrap();
    });
    report("run100", pipeline.flush(Duration::from_secs(30)));
}

#[divan::bench]
fn dn_log_metric(b: Bencher<'_, '_>) {
    let (tracer, _pipeline) = dn_tracer();
    let task = tracer.task_span("metrics").start();
    let mut step = 0i64;
    b.bench_local(|| {
        step += 1;
        task.log_metric("loss", dn::Metric::new(0.5).step(step)).unwrap();
    });
}

/// Writer-thread cost: format and append task-span records to a JSONL file.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn jsonl_writer_per_1000_task_spans(b: Bencher<'_, '_>) {
    let dir = tempfile::tempdir().unwrap();
    let sink = MemorySink::new();
    let tracer = Tracer::new(sink.clone(), "bench").unwrap();
    tracer
        .run("run")
        .run(|_| {
            for i in 0..1000 {
                tracer.task_span("task").run(|t| {
                    t.log_input("rows", &i).unwrap();
                    t.log_metric("latency_ms", 112).unwrap();
                    t.log_output("status", "ok").unwrap();
                });
            }
        })
        .unwrap();
    let records = sink.take();
    let mut exporter = JsonlExporter::new(dir.path(), &Resource::detect("bench")).unwrap();
    b.with_inputs(|| {
        // Fresh records each sample so rendering is measured too.
        records.to_vec()
    })
    .bench_local_values(|batch| {
        for chunk in batch.chunks(256) {
            exporter.export(chunk);
        }
    });
}

fn report(name: &str, r: dn::ExportReport) {
    if r.dropped() > 0 {
        eprintln!("{name}: {} spans dropped (queue full) — figures include the drop path", r.dropped());
    }
}

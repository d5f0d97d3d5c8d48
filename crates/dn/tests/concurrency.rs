//! Threads and tokio tasks: every span written once with the right parents,
//! no deadlock, and memory bounded when the writer is slower than producers.
#![allow(clippy::unwrap_used)] // tests and benches fail loudly by design

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use common::{instance, spans};
use dn::ContextExt as _;
use dn::core::{DestinationReport, SpanRecord, SpanSink, Tracer};
use dn::export::{ExportPipeline, Exporter};
use serde_json::Value;

#[test]
fn eight_threads_by_ten_thousand_task_spans() {
    let (dn, dir) = instance();
    let run = dn.run("threads").start();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let ctx = run.context();
            let dn = dn.clone();
            std::thread::spawn(move || {
                let _g = ctx.enter();
                for i in 0..10_000 {
                    dn.task_span(format!("t{t}-{i}")).run(|task| task.log_metric("i", i as f64));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    run.end();
    let report = dn.shutdown();
    assert!(report.is_clean(), "{report:?}");
    let s = spans(dir.path());
    assert_eq!(s.len(), 80_001);
    let ids: HashSet<&str> = s.iter().map(|x| x["span_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 80_001, "every span written once");
    let run_id = run.span_id().to_string();
    for x in s.iter().filter(|x| x["name"] != "threads") {
        assert_eq!(x["parent_id"], run_id.as_str());
        assert_eq!(x["attributes"]["dreadnode.task.parent_id"], run_id.as_str());
    }
    assert_eq!(run.tasks().len(), 80_000);
}

#[test]
fn a_thousand_concurrent_tokio_tasks_nest_correctly() {
    let (dn, dir) = instance();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let run = dn.run("tokio").start();
    let r2 = run.clone();
    let dn2 = dn.clone();
    rt.block_on(r2.instrument(async move {
        let mut hs = Vec::new();
        for i in 0..1000 {
            let dn = dn2.clone();
            hs.push(tokio::spawn(
                async move {
                    dn.task_span(format!("outer-{i}"))
                        .instrument(async move {
                            tokio::task::yield_now().await;
                            dn.task_span(format!("inner-{i}"))
                                .instrument(async move {
                                    tokio::time::sleep(Duration::from_micros((i % 7) as u64 * 100)).await;
                                    dn::log_input("i", i);
                                    dn.span(format!("light-{i}")).instrument(tokio::task::yield_now()).await;
                                })
                                .await;
                            dn::log_output("done", i);
                        })
                        .await
                }
                .in_current_context(),
            ));
        }
        for h in hs {
            h.await.unwrap();
        }
    }));
    let report = dn.shutdown();
    assert!(report.is_clean(), "{report:?}");
    let s = spans(dir.path());
    assert_eq!(s.len(), 3001);
    let by_id: HashMap<&str, &Value> = s.iter().map(|x| (x["span_id"].as_str().unwrap(), x)).collect();
    let parent_name = |x: &Value| by_id[x["parent_id"].as_str().unwrap()]["name"].as_str().unwrap().to_string();
    for x in &s {
        let name = x["name"].as_str().unwrap();
        if let Some(i) = name.strip_prefix("inner-") {
            assert_eq!(parent_name(x), format!("outer-{i}"));
            assert!(x["attributes"]["dreadnode.inputs"].as_str().unwrap().contains("\"i\""));
        } else if let Some(i) = name.strip_prefix("light-") {
            assert_eq!(parent_name(x), format!("inner-{i}"));
        } else if name.starts_with("outer-") {
            assert_eq!(parent_name(x), "tokio");
        }
    }
}

/// A pipeline whose one exporter pauses `pause` per batch, configured by
/// `options`; its tracer; and the count of records the exporter received.
fn slow_pipeline(
    pause: Duration,
    options: impl FnOnce(dn::export::ExportPipelineBuilder) -> dn::export::ExportPipelineBuilder,
) -> (Arc<ExportPipeline>, Tracer, Arc<AtomicU64>) {
    let received = Arc::new(AtomicU64::new(0));
    let builder = ExportPipeline::builder().exporter(SlowExporter { received: received.clone(), pause });
    let pipeline = Arc::new(options(builder).build().unwrap());
    let tracer = Tracer::with_sink(pipeline.clone(), "default").unwrap();
    (pipeline, tracer, received)
}

/// An exporter that is slower than any producer: `pause` per batch.
struct SlowExporter {
    received: Arc<AtomicU64>,
    pause: Duration,
}

impl Exporter for SlowExporter {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn export(&mut self, batch: &[SpanRecord]) {
        std::thread::sleep(self.pause);
        self.received.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
    fn flush(&mut self) {}
    fn shutdown(&mut self) {}
    fn report(&self) -> DestinationReport {
        DestinationReport { name: "slow".into(), exported: self.received.load(Ordering::Relaxed), ..Default::default() }
    }
}

/// With no wait allowed, a writer slower than the producer costs counted
/// drops, never memory beyond the bound.
#[test]
fn a_slow_writer_with_no_wait_means_counted_drops_not_unbounded_memory() {
    let (pipeline, tracer, received) =
        slow_pipeline(Duration::from_millis(2), |b| b.queue_capacity(256).full_wait(Duration::ZERO));
    let produced = 50_000u64;
    for i in 0..produced {
        tracer.span(format!("s{i}")).run(|| ());
        assert!(pipeline.queued() <= 256, "the queue never grows past its capacity");
    }
    let report = pipeline.flush(Duration::from_secs(30));
    assert!(report.dropped_queue_full > 0, "{report:?}");
    assert_eq!(report.accepted + report.dropped_queue_full, produced, "every span is either written or counted");
    assert_eq!(received.load(Ordering::Relaxed), report.accepted);
    assert_eq!(report.dropped(), report.dropped_queue_full);
}

/// By default a producer waits for a slow writer (a disk slower than the
/// spans): 50 000 spans through a 256-record buffer whose writer takes 2 ms
/// per batch of at most 256 — about 400 fills, each waited out — lose none.
#[test]
fn a_slow_writer_slows_the_producer_and_loses_nothing() {
    let (pipeline, tracer, received) = slow_pipeline(Duration::from_millis(2), |b| b.queue_capacity(256));
    let produced = 50_000u64;
    for i in 0..produced {
        tracer.span(format!("s{i}")).run(|| ());
        assert!(pipeline.queued() <= 256, "the queue never grows past its capacity");
    }
    let report = pipeline.flush(Duration::from_secs(30));
    assert_eq!(report.dropped(), 0, "{report:?}");
    assert_eq!(received.load(Ordering::Relaxed), produced);
}

/// The byte bound: 2 000 task spans of 100 KiB each through a 1 MiB
/// buffer and a writer pausing 1 ms a batch: the buffer never holds more
/// than its bound plus one record, and nothing is lost.
#[test]
fn large_records_are_bounded_in_bytes_and_all_written() {
    let (pipeline, tracer, received) = slow_pipeline(Duration::from_millis(1), |b| b.queue_bytes(1 << 20));
    let big = "v".repeat(100 << 10);
    let run = tracer.run("bytes").start();
    for _ in 0..2000 {
        tracer.task_span("t").parent(&run).run(|t| t.log_input("x", big.as_str()));
        assert!(pipeline.queued() <= 11, "at most 1 MiB of 100 KiB records waits: {}", pipeline.queued());
    }
    run.end();
    let report = pipeline.flush(Duration::from_secs(30));
    assert_eq!(report.dropped(), 0, "{report:?}");
    assert_eq!(received.load(Ordering::Relaxed), 2001);
}

/// The byte bound is shared by the threads: 16 threads each ending 200
/// task spans with a 100 KiB input, through a writer that pauses 2 ms a
/// batch, each thread allowed 4 MiB and all of them 8 MiB. Each thread
/// alone would fill its own 4 MiB (64 MiB in all, as before the shared
/// bound); together the bytes waiting stay within 8 MiB and one record a
/// thread, and every span is written.
#[test]
fn threads_share_one_byte_bound_and_lose_nothing() {
    const THREADS: usize = 16;
    const TASKS: usize = 200;
    const TOTAL: usize = 8 << 20;
    let (pipeline, tracer, received) =
        slow_pipeline(Duration::from_millis(2), |b| b.queue_bytes(4 << 20).queue_total_bytes(TOTAL));
    let big = "v".repeat(100 << 10);
    let run = tracer.run("threads").start();
    let peak = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..TASKS {
                    tracer.task_span("t").parent(&run).run(|t| t.log_input("x", big.as_str()));
                    peak.fetch_max(pipeline.queued_bytes(), Ordering::Relaxed);
                }
            });
        }
    });
    run.end();
    let report = pipeline.flush(Duration::from_secs(60));
    assert_eq!(report.dropped(), 0, "{report:?}");
    assert_eq!(received.load(Ordering::Relaxed), (THREADS * TASKS + 1) as u64);
    let peak = peak.into_inner();
    // A record here weighs a little over its 100 KiB input.
    let one_record_a_thread = THREADS * (128 << 10);
    assert!(peak <= TOTAL + one_record_a_thread, "{peak} bytes waited, over the shared 8 MiB bound");
    assert!(peak >= TOTAL / 2, "the writer was slower than the threads, so the bound was reached: {peak}");
}

/// A writer stuck for 3 s with a 200 ms wait: the first full buffer waits
/// 200 ms, then spans drop (counted) at once until the writer moves again;
/// every span is written or counted.
#[test]
fn a_stuck_writer_costs_one_bounded_wait_then_counted_drops() {
    let (pipeline, tracer, received) =
        slow_pipeline(Duration::from_secs(3), |b| b.queue_capacity(64).full_wait(Duration::from_millis(200)));
    let produced = 20_000u64;
    let t0 = std::time::Instant::now();
    for i in 0..produced {
        tracer.span(format!("s{i}")).run(|| ());
    }
    let took = t0.elapsed();
    let report = pipeline.flush(Duration::from_secs(60));
    assert!(report.dropped_queue_full > 0, "{report:?}");
    assert_eq!(report.accepted + report.dropped_queue_full, produced, "every span is written or counted");
    assert_eq!(received.load(Ordering::Relaxed), report.accepted);
    // 20 000 spans with a wait per full buffer would take 20 000 / 64 × 200 ms ≈ 62 s.
    assert!(took < Duration::from_secs(20), "a stuck writer costs a bounded wait, not one per span: {took:?}");
}

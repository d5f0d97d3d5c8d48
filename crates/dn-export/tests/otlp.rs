//! Delivery from the local JSONL to an in-process OTLP receiver on loopback
//! that decodes every request and answers with scripted faults: 503s, 429
//! with Retry-After, 413, 401, a rejection with an explanation, a receiver
//! that is down, one that never answers. The JSONL is the log: whatever the
//! receiver does, every line is on disk, and what was not delivered is
//! counted as pending and delivered later by `delivery::sync`.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dn_core::{DestinationReport, SpanSink as _, Tracer};
use dn_export::delivery::OtlpExporter;
use dn_export::delivery::sync::{self, Selection};
use dn_export::otlp::OtlpConfig;
use dn_export::{ExportPipeline, JsonlExporter, Resource};
use dn_testing::loopback::{Answer, Receiver, receiver};

struct Setup {
    dir: tempfile::TempDir,
    pipeline: Arc<ExportPipeline>,
    tracer: Tracer,
    config: OtlpConfig,
}

fn config(url: &str, tweak: impl FnOnce(&mut OtlpConfig)) -> OtlpConfig {
    let mut c = OtlpConfig::new(url).header("X-Api-Key", "sk-test-secret").header("X-Other", "1");
    c.flush_timeout = Duration::from_secs(20);
    tweak(&mut c);
    c
}

fn setup(url: &str, tweak: impl FnOnce(&mut OtlpConfig)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let c = config(url, tweak);
    let dest = OtlpExporter::new(c.clone(), dir.path()).unwrap();
    let jsonl = JsonlExporter::new(dir.path(), &Resource::detect("otlp-test")).unwrap().notify(dest.clone());
    let pipeline = Arc::new(ExportPipeline::builder().exporter(jsonl).destination(dest).build().unwrap());
    let tracer = Tracer::with_sink(pipeline.clone(), "default").unwrap();
    Setup { dir, pipeline, tracer, config: c }
}

/// A run with `n - 1` task spans.
fn log_spans(t: &Tracer, n: usize) {
    t.run("otlp-run").run(|_| {
        for i in 0..n.saturating_sub(1) {
            t.task_span("task").run(|task| task.log_input("i", i));
        }
    });
}

fn otlp(r: &dn_core::ExportReport) -> DestinationReport {
    r.exporters.iter().find(|e| e.name == "otlp").cloned().unwrap()
}

fn lines_on_disk(s: &Setup) -> usize {
    dn_testing::jsonl::spans(s.dir.path()).len()
}

fn ids_seen(rx: &Receiver) -> (usize, usize) {
    let seen = rx.seen.lock().unwrap();
    let ids: HashSet<Vec<u8>> = seen.spans.iter().map(|s| s.span_id.clone()).collect();
    (seen.spans.len(), ids.len())
}

#[test]
fn every_span_arrives_once_with_parents_headers_and_the_jsonl_attributes() {
    let rx = receiver(vec![]);
    // The platform's wire: exactly the line (collectors add conventions,
    // tested in delivery::conventions and against Phoenix and MLflow).
    let s = setup(&rx.url, |c| {
        c.max_batch_spans = 16;
        c.conventions = dn_export::otlp::Conventions::AsWritten;
    });
    log_spans(&s.tracer, 50);
    let r = otlp(&s.pipeline.flush(Duration::from_secs(20)));
    assert_eq!((r.exported, r.failed, r.pending), (50, 0, 0), "{r:?}");
    assert_eq!(ids_seen(&rx), (50, 50), "each span once");
    let seen = rx.seen.lock().unwrap();
    // Batches of at most 16, full ones among them. How many depends on how
    // many lines were on disk each time delivery read (4 when it read once
    // all 50 were written; more when the writer's appends came beside it).
    assert_eq!(seen.batch_sizes.iter().sum::<usize>(), 50, "{:?}", seen.batch_sizes);
    assert!(seen.batch_sizes.iter().all(|&n| n <= 16) && seen.batch_sizes.contains(&16), "{:?}", seen.batch_sizes);
    assert_eq!(seen.requests, seen.batch_sizes.len(), "every request accepted");
    let run = seen.spans.iter().find(|s| s.name == "otlp-run").unwrap();
    assert!(seen.spans.iter().filter(|s| s.name == "task").all(|s| s.parent_span_id == run.span_id));
    let h = &seen.headers[0];
    let get = |k: &str| h.iter().find(|(hk, _)| hk == k).map(|(_, v)| v.as_str());
    assert_eq!(get("content-type"), Some("application/x-protobuf"));
    assert_eq!(get("content-encoding"), Some("gzip"));
    assert_eq!(get("x-api-key"), Some("sk-test-secret"));
    assert!(get("user-agent").unwrap().starts_with("dreadnode-rust/"));
    // Same attributes, in the same order, as the JSONL line.
    let line = dn_testing::jsonl::spans(s.dir.path()).into_iter().find(|l| l["name"] == "otlp-run").unwrap();
    let want: Vec<String> = line["attributes"].as_object().unwrap().keys().cloned().collect();
    let got: Vec<String> = run.attributes.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(got, want);
    let res: Vec<&str> = seen.resource.iter().map(|kv| kv.key.as_str()).collect();
    for k in ["service.name", "telemetry.sdk.language", "process.pid", "host.name"] {
        assert!(res.contains(&k), "resource {k}");
    }
    // The delivery log says what was delivered.
    let files = sync::spans_files(s.dir.path(), &Selection::default());
    assert!(sync::unsettled(s.dir.path(), &files, &s.config.destination_id()).is_empty());
}

#[test]
fn transient_503s_are_retried_and_every_span_arrives_once() {
    let rx = receiver(vec![Answer::Status(503, vec![]), Answer::Status(503, vec![])]);
    let s = setup(&rx.url, |_| {});
    log_spans(&s.tracer, 10);
    let r = otlp(&s.pipeline.flush(Duration::from_secs(20)));
    assert_eq!((r.exported, r.failed, r.retried, r.pending), (10, 0, 2, 0), "{r:?}");
    assert_eq!(ids_seen(&rx), (10, 10));
}

#[test]
fn retry_after_is_honoured() {
    let rx = receiver(vec![Answer::Status(429, vec![("Retry-After", "1")])]);
    let s = setup(&rx.url, |_| {});
    let t0 = Instant::now();
    log_spans(&s.tracer, 3);
    let r = otlp(&s.pipeline.flush(Duration::from_secs(20)));
    assert!(t0.elapsed() >= Duration::from_millis(900), "waited the server's Retry-After");
    assert_eq!(r.exported, 3);
}

#[test]
fn a_413_splits_the_batch_until_it_fits() {
    let rx = receiver(vec![Answer::LimitSpans(3)]);
    let s = setup(&rx.url, |c| c.max_batch_spans = 20);
    log_spans(&s.tracer, 20);
    let r = otlp(&s.pipeline.flush(Duration::from_secs(20)));
    assert_eq!((r.exported, r.failed, r.pending), (20, 0, 0), "{r:?}");
    assert_eq!(ids_seen(&rx), (20, 20), "each span once");
}

#[test]
fn a_401_stops_delivery_with_one_message_keeps_everything_pending_and_never_leaks_the_key() {
    let rx = receiver(vec![Answer::Status(401, vec![])]);
    let s = setup(&rx.url, |_| {});
    log_spans(&s.tracer, 5);
    s.pipeline.flush(Duration::from_secs(5));
    log_spans(&s.tracer, 5);
    let report = s.pipeline.shutdown(Duration::from_secs(5));
    let r = otlp(&report);
    assert_eq!((r.exported, r.failed, r.pending), (0, 0, 10), "nothing lost: pending, not failed: {r:?}");
    assert!(!report.is_clean());
    let msg = r.last_error.unwrap();
    assert!(msg.contains("401") && msg.contains(&rx.url), "{msg}");
    assert!(!msg.contains("sk-test-secret"));
    assert_eq!(rx.seen.lock().unwrap().requests, 1, "nothing is sent after a 401");
    assert_eq!(lines_on_disk(&s), 10, "the JSONL holds every span");
    // Once the receiver takes the credentials (its script answers 200 now), `sync` delivers them.
    let files = sync::spans_files(s.dir.path(), &Selection::default());
    let sr = sync::sync(s.dir.path(), s.config.clone(), &files, 2, &mut |_| {}).unwrap();
    assert_eq!((sr.delivered, sr.rejected, sr.pending), (10, 0, 0), "{sr:?}");
    assert_eq!(ids_seen(&rx), (10, 10));
}

#[test]
fn a_rejection_is_explained_once_counted_and_not_sent_again() {
    let rx = receiver(vec![Answer::Body(422, "header x-mlflow-experiment-id required")]);
    let s = setup(&rx.url, |c| c.max_batch_spans = 4);
    log_spans(&s.tracer, 8);
    let r = otlp(&s.pipeline.flush(Duration::from_secs(20)));
    // The script rejects the first request only. Batches hold at most 4
    // spans, and the first holds what was on disk when delivery first read
    // (the writer gathers a burst for 1 ms, then writes beside it): 1 to 4.
    assert_eq!((r.exported + r.failed, r.pending), (8, 0), "every span settled: {r:?}");
    assert!((1..=4).contains(&r.failed), "one batch rejected, the rest delivered: {r:?}");
    let seen = rx.seen.lock().unwrap();
    assert_eq!(seen.requests, 1 + seen.batch_sizes.len(), "one rejected, then each accepted: {:?}", seen.batch_sizes);
    assert_eq!(seen.batch_sizes.iter().sum::<usize>() as u64, r.exported, "{:?}", seen.batch_sizes);
    assert!(seen.batch_sizes.iter().all(|&n| n <= 4), "{:?}", seen.batch_sizes);
    drop(seen);
    let why = r.last_error.unwrap();
    assert!(why.contains("HTTP 422") && why.contains("x-mlflow-experiment-id required"), "{why}");
    let files = sync::spans_files(s.dir.path(), &Selection::default());
    let sr = sync::sync(s.dir.path(), s.config.clone(), &files, 0, &mut |_| {}).unwrap();
    assert_eq!((sr.delivered, sr.rejected, sr.pending), (0, 0, 0), "settled ranges are not sent again: {sr:?}");
}

/// Receiver down for longer than any internal bound (batch size, request
/// timeout, backoff cap): 2 000 spans written while every request fails,
/// shutdown returns within its timeout with the exact pending count, and a
/// later sync delivers each span once; a second sync sends nothing.
#[test]
fn a_receiver_that_is_down_costs_no_local_line_and_sync_delivers_later() {
    let rx = receiver(vec![]);
    rx.down.store(true, std::sync::atomic::Ordering::Relaxed);
    let s = setup(&rx.url, |c| c.max_batch_spans = 100);
    for _ in 0..20 {
        log_spans(&s.tracer, 100);
    }
    let t0 = Instant::now();
    let report = s.pipeline.shutdown(Duration::from_secs(3));
    assert!(t0.elapsed() < Duration::from_secs(10), "shutdown returns within its timeout");
    let r = otlp(&report);
    assert_eq!((r.exported, r.failed, r.pending), (0, 0, 2000), "every span counted as pending: {r:?}");
    assert!(report.timed_out);
    assert_eq!(lines_on_disk(&s), 2000);
    rx.down.store(false, std::sync::atomic::Ordering::Relaxed);
    let files = sync::spans_files(s.dir.path(), &Selection::default());
    let mut progress = Vec::new();
    let sr = sync::sync(s.dir.path(), s.config.clone(), &files, 2, &mut |p| progress.push(p.done)).unwrap();
    assert_eq!((sr.delivered, sr.pending), (2000, 0), "{sr:?}");
    assert_eq!(progress.last(), Some(&2000));
    assert_eq!(ids_seen(&rx), (2000, 2000), "each span once");
    let again = sync::sync(s.dir.path(), s.config.clone(), &files, 2, &mut |_| {}).unwrap();
    assert_eq!((again.delivered, again.files), (0, 0), "a second sync sends nothing");
}

#[test]
fn a_receiver_that_never_answers_times_out_without_hanging_shutdown() {
    let rx = receiver(vec![Answer::Hang; 50]);
    let s = setup(&rx.url, |c| c.request_timeout = Duration::from_millis(300));
    log_spans(&s.tracer, 4);
    let t0 = Instant::now();
    let r = otlp(&s.pipeline.shutdown(Duration::from_secs(2)));
    assert!(t0.elapsed() < Duration::from_secs(5), "no hang at exit");
    assert_eq!((r.exported, r.pending), (0, 4), "{r:?}");
}

/// A receiver taking 10 s per request (longer than the shutdown timeout):
/// the local file is complete at once, shutdown returns within its timeout
/// with the exact pending count, and nothing is delivered twice.
#[test]
fn a_slow_receiver_costs_nothing_locally_and_shutdown_does_not_wait_for_it() {
    let rx = receiver(vec![Answer::Slow(Duration::from_secs(10)); 10]);
    let s = setup(&rx.url, |c| {
        c.max_batch_spans = 100;
        c.request_timeout = Duration::from_secs(30);
    });
    log_spans(&s.tracer, 300);
    let t0 = Instant::now();
    let report = s.pipeline.shutdown(Duration::from_secs(2));
    assert!(t0.elapsed() < Duration::from_secs(5), "shutdown within its timeout: {:?}", t0.elapsed());
    assert_eq!(lines_on_disk(&s), 300, "the JSONL is complete");
    let r = otlp(&report);
    assert_eq!((r.exported, r.failed, r.pending), (0, 0, 300), "{r:?}");
    std::thread::sleep(Duration::from_secs(9)); // the request in flight completes and is settled
    let files = sync::spans_files(s.dir.path(), &Selection::default());
    let left = sync::unsettled(s.dir.path(), &files, &s.config.destination_id());
    // The batch in flight holds what the writer had appended when it was
    // read (up to 100 spans, fewer when the first write was smaller).
    let (n, unique) = ids_seen(&rx);
    assert!((1..=100).contains(&n), "one batch was in flight: {n}");
    assert_eq!(unique, n, "nothing twice");
    assert_eq!(
        left.iter().map(|u| u.spans).sum::<u64>(),
        300 - n as u64,
        "the batch in flight was settled when it came back"
    );
}

#[test]
fn a_header_http_refuses_is_a_configuration_error_naming_the_setting_not_the_value() {
    let c = OtlpConfig::new("http://127.0.0.1:9/v1/traces").header("X-Api-Key", "sk-bad\nvalue");
    let e = OtlpExporter::new(c, std::env::temp_dir()).unwrap_err().to_string();
    assert!(e.contains("X-Api-Key"), "{e}");
    assert!(!e.contains("sk-bad"), "{e}");
}

//! OTLP delivery against an in-process receiver on loopback that decodes
//! every request and answers with scripted faults: 401, 503 then 200, 429
//! with Retry-After, 413, a receiver that is down, one that never answers.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::net::TcpListener;
use std::time::{Duration, Instant};

use dn_core::{MemorySink, SpanRecord, Tracer};
use dn_export::otlp::{OtlpConfig, OtlpExporter};
use dn_export::{Exporter, Resource};
use dn_testing::loopback::{Answer, receiver};

/// `n` task-span records of one run.
fn records(n: usize) -> Vec<SpanRecord> {
    let sink = MemorySink::new();
    let tracer = Tracer::new(sink.clone(), "default").unwrap();
    tracer.run("otlp-run").run(|_| {
        for i in 0..n.saturating_sub(1) {
            tracer.task_span("task").run(|t| t.log_input("i", i));
        }
    });
    sink.take()
}

fn exporter(url: &str, tweak: impl FnOnce(&mut OtlpConfig)) -> OtlpExporter {
    let mut c = OtlpConfig::new(url).header("X-Api-Key", "sk-test-secret").header("X-Other", "1");
    c.flush_timeout = Duration::from_secs(20);
    tweak(&mut c);
    OtlpExporter::new(c, &Resource::detect("otlp-test")).unwrap()
}

#[test]
fn every_span_arrives_once_with_parents_headers_and_the_jsonl_attributes() {
    let rx = receiver(vec![]);
    let recs = records(50);
    let mut e = exporter(&rx.url, |c| c.max_batch_spans = 16);
    e.export(&recs);
    e.flush();
    let report = e.report();
    assert_eq!(report.exported, 50, "{report:?}");
    assert_eq!(report.failed, 0);
    let seen = rx.seen.lock().unwrap();
    assert_eq!(seen.spans.len(), 50);
    assert_eq!(seen.requests, 4, "batches of 16");
    let ids: std::collections::HashSet<Vec<u8>> = seen.spans.iter().map(|s| s.span_id.clone()).collect();
    assert_eq!(ids.len(), 50, "each span once");
    let run = seen.spans.iter().find(|s| s.name == "otlp-run").unwrap();
    assert!(seen.spans.iter().filter(|s| s.name == "task").all(|s| s.parent_span_id == run.span_id));
    let h = &seen.headers[0];
    let get = |k: &str| h.iter().find(|(hk, _)| hk == k).map(|(_, v)| v.as_str());
    assert_eq!(get("content-type"), Some("application/x-protobuf"));
    assert_eq!(get("content-encoding"), Some("gzip"));
    assert_eq!(get("x-api-key"), Some("sk-test-secret"));
    assert!(get("user-agent").unwrap().starts_with("dreadnode-rust/"));
    // Same attributes, in the same order, as the JSONL line.
    let rec = recs.iter().find(|r| &*r.name == "otlp-run").unwrap();
    let want: Vec<String> = rec.attributes().into_iter().map(|(k, _)| k.to_string()).collect();
    let got: Vec<String> = run.attributes.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(got, want);
    let res: Vec<&str> = seen.resource.iter().map(|kv| kv.key.as_str()).collect();
    for k in ["service.name", "telemetry.sdk.language", "process.pid", "host.name"] {
        assert!(res.contains(&k), "resource {k}");
    }
    e.shutdown();
}

#[test]
fn transient_503s_are_retried_and_every_span_arrives_once() {
    let rx = receiver(vec![Answer::Status(503, vec![]), Answer::Status(503, vec![])]);
    let mut e = exporter(&rx.url, |_| {});
    e.export(&records(10));
    e.flush();
    let r = e.report();
    assert_eq!((r.exported, r.failed, r.retried), (10, 0, 2), "{r:?}");
    assert_eq!(rx.seen.lock().unwrap().spans.len(), 10);
    e.shutdown();
}

#[test]
fn retry_after_is_honoured() {
    let rx = receiver(vec![Answer::Status(429, vec![("Retry-After", "1")])]);
    let mut e = exporter(&rx.url, |_| {});
    let t0 = Instant::now();
    e.export(&records(3));
    e.flush();
    assert!(t0.elapsed() >= Duration::from_millis(900), "waited the server's Retry-After");
    assert_eq!(e.report().exported, 3);
    e.shutdown();
}

#[test]
fn a_413_splits_the_batch_until_it_fits() {
    let rx = receiver(vec![Answer::LimitSpans(3)]);
    let mut e = exporter(&rx.url, |c| c.max_batch_spans = 20);
    e.export(&records(20));
    e.flush();
    let r = e.report();
    assert_eq!((r.exported, r.failed), (20, 0), "{r:?}");
    let seen = rx.seen.lock().unwrap();
    assert_eq!(seen.spans.len(), 20, "each span once");
    e.shutdown();
}

#[test]
fn a_401_stops_streaming_with_one_message_and_never_leaks_the_key() {
    let rx = receiver(vec![Answer::Status(401, vec![])]);
    let mut e = exporter(&rx.url, |_| {});
    e.export(&records(5));
    e.flush();
    e.export(&records(5));
    e.flush();
    let r = e.report();
    assert_eq!((r.exported, r.failed), (0, 10), "{r:?}");
    let msg = r.last_error.unwrap();
    assert!(msg.contains("401") && msg.contains(&rx.url), "{msg}");
    assert!(!msg.contains("sk-test-secret"));
    assert!(!format!("{e:?}").contains("sk-test-secret"), "Debug redacts header values");
    assert_eq!(rx.seen.lock().unwrap().requests, 1, "nothing is sent after a 401");
    e.shutdown();
}

#[test]
fn a_receiver_that_is_down_means_bounded_memory_and_counted_drops() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port(); // closed right away
    let url = format!("http://127.0.0.1:{port}/v1/traces");
    let mut e = exporter(&url, |c| {
        c.max_queued_spans = 100;
        c.max_retries = 2;
        c.flush_timeout = Duration::from_secs(3);
    });
    for _ in 0..10 {
        e.export(&records(100));
    }
    let t0 = Instant::now();
    e.shutdown();
    assert!(t0.elapsed() < Duration::from_secs(10), "shutdown returns within its timeout");
    let r = e.report();
    assert_eq!(r.exported, 0);
    assert_eq!(r.failed, 1000, "every span counted: {r:?}");
    assert!(r.last_error.is_some());
}

#[test]
fn a_receiver_that_never_answers_times_out_without_hanging_shutdown() {
    let rx = receiver(vec![Answer::Hang, Answer::Hang, Answer::Hang]);
    let mut e = exporter(&rx.url, |c| {
        c.request_timeout = Duration::from_millis(300);
        c.max_retries = 1;
        c.flush_timeout = Duration::from_secs(2);
    });
    e.export(&records(4));
    let t0 = Instant::now();
    e.shutdown();
    assert!(t0.elapsed() < Duration::from_secs(5), "no hang at exit");
    let r = e.report();
    assert_eq!(r.exported, 0);
    assert_eq!(r.failed, 4, "{r:?}");
}

//! Streaming to any OpenTelemetry collector (no Dreadnode API): every span
//! arrives once while the local JSONL stays complete, and a collector that
//! is down never affects the application.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use dn_testing::loopback::receiver;

#[test]
fn a_run_streams_to_the_collector_and_the_local_files_stay_complete() {
    let rx = receiver(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let dn = dn::Dreadnode::new(
        dn::Config::new()
            .isolated()
            .local_dir(dir.path())
            .otlp_endpoint(&rx.url)
            .otlp_header("authorization", "Bearer sk-collector-secret"),
    )
    .unwrap();
    dn.run("collector-run").run(|_| {
        for i in 0..20 {
            dn.task_span("task").run(|t| t.log_metric("i", i));
        }
    });
    let report = dn.shutdown();
    assert!(report.is_clean(), "{report:?}");
    let otlp = report.exporters.iter().find(|e| e.name == "otlp").unwrap();
    assert_eq!(otlp.exported, 21);
    let local = common::spans(dir.path());
    assert_eq!(local.len(), 21);
    let seen = rx.seen.lock().unwrap();
    assert_eq!(seen.spans.len(), 21);
    let mut remote_ids: Vec<String> =
        seen.spans.iter().map(|s| s.span_id.iter().map(|b| format!("{b:02x}")).collect()).collect();
    let mut local_ids: Vec<String> = local.iter().map(|s| s["span_id"].as_str().unwrap().to_string()).collect();
    remote_ids.sort();
    local_ids.sort();
    assert_eq!(remote_ids, local_ids, "the same spans in both places");
    assert!(seen.headers[0].iter().any(|(k, v)| k == "authorization" && v == "Bearer sk-collector-secret"));
    // The secret reaches the collector's header and nowhere else.
    for (_, line) in common::read_all(dir.path()) {
        assert!(!line.to_string().contains("sk-collector-secret"));
    }
    assert!(!format!("{dn:?}").contains("sk-collector-secret"));
}

#[test]
fn a_collector_that_is_down_never_affects_the_application() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let dn = dn::Dreadnode::new(
        dn::Config::new()
            .isolated()
            .local_dir(dir.path())
            .otlp_endpoint(format!("http://127.0.0.1:{port}/v1/traces"))
            .shutdown_timeout(std::time::Duration::from_secs(3)),
    )
    .unwrap();
    dn.run("offline").run(|r| r.log_metric("m", 1.0));
    let t0 = std::time::Instant::now();
    let report = dn.shutdown();
    assert!(t0.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(common::spans(dir.path()).len(), 1, "the local file is complete");
    let otlp = report.exporters.iter().find(|e| e.name == "otlp").unwrap();
    assert_eq!((otlp.exported, otlp.failed, otlp.pending), (0, 0, 1), "pending on disk, not lost: {report:?}");
    assert!(!report.is_clean());
}

fn stream_and_shutdown() -> dn::ExportReport {
    let rx = receiver(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let dn = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(dir.path()).otlp_endpoint(&rx.url)).unwrap();
    dn.run("in-runtime").run(|r| r.log_metric("m", 1.0));
    let flushed = dn.flush();
    assert_eq!(flushed.exporters.iter().find(|e| e.name == "otlp").unwrap().exported, 1);
    dn.shutdown()
}

#[tokio::test(flavor = "current_thread")]
async fn flush_and_shutdown_are_safe_in_a_current_thread_runtime() {
    assert!(stream_and_shutdown().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_and_shutdown_are_safe_in_a_multi_thread_runtime() {
    assert!(stream_and_shutdown().is_clean());
}

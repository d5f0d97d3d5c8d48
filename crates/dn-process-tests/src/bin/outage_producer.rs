//! Writes task spans at a steady rate into one run, timing each call, and
//! prints what happened as JSON: the caller's p50/p99 per span, peak RSS,
//! how long shutdown took and the OTLP destination's counts. Settings from
//! the environment: `DN_RATE` (spans/s, default 2000), `DN_SECONDS`
//! (default 60), `DN_SHUTDOWN_SECONDS` (default 5), and the SDK's own
//! (`DREADNODE_LOCAL_DIR`, `OTEL_EXPORTER_OTLP_ENDPOINT`). Used by the
//! outage tests and benchmark.
use std::time::{Duration, Instant};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let rate = env_u64("DN_RATE", 2000).max(1);
    let seconds = env_u64("DN_SECONDS", 60);
    let shutdown = Duration::from_secs(env_u64("DN_SHUTDOWN_SECONDS", 5));
    dn::configure(dn::Config::new().shutdown_timeout(shutdown)).expect("configure");
    let run = dn::run("outage-run").enter();
    let total = rate * seconds;
    let mut lat: Vec<u32> = Vec::with_capacity(total as usize);
    let t0 = Instant::now();
    for i in 0..total {
        let due = t0 + Duration::from_nanos(i * 1_000_000_000 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let s = Instant::now();
        dn::task_span("t").run(|t| {
            t.log_input("i", i);
            t.log_metric("m", dn::Metric::new(i as f64 * 0.5).step(i));
            t.log_output("y", i * 2);
        });
        lat.push(u32::try_from(s.elapsed().as_nanos()).unwrap_or(u32::MAX));
        if i % 10_000 == 0 {
            eprintln!("outage_producer: {i} spans");
        }
    }
    drop(run);
    let s = Instant::now();
    let report = dn::shutdown();
    let shutdown_ms = s.elapsed().as_millis();
    lat.sort_unstable();
    let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied();
    let otlp = report.exporters.iter().find(|e| e.name == "otlp");
    let (_, peak_kib) = dn_process_tests::rss_kib();
    println!(
        "{}",
        serde_json::json!({
            "written": total + 1,
            "p50_ns": pct(0.5),
            "p99_ns": pct(0.99),
            "peak_kib": peak_kib,
            "shutdown_ms": shutdown_ms,
            "timed_out": report.timed_out,
            "delivered": otlp.map(|o| o.exported),
            "pending": otlp.map(|o| o.pending),
            "rejected": otlp.map(|o| o.failed),
            "jsonl_written": report.exporters.iter().find(|e| e.name == "jsonl").map(|j| j.exported),
            "dropped": report.dropped(),
        })
    );
}

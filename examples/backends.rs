//! Trace backends, configured only from the environment: runs the
//! quickstart workload and prints where spans went and the export report.
//!
//! ```sh
//! cargo run --example backends                                   # local JSONL only
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 cargo run --example backends   # + a collector
//! DREADNODE_SERVER=https://... DREADNODE_API_KEY=... DREADNODE_ORGANIZATION=acme \
//!   DREADNODE_PROJECT=support-bots cargo run --example backends  # + the platform
//! ```

fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new())?;
    let settings = dn::instance().settings().cloned().ok_or_else(|| dn::Error::Config("not configured".into()))?;
    println!("local files: {}", settings.local_dir.display());
    match (settings.streaming, &settings.server) {
        (true, Some(server)) => println!("platform: streaming to {server} (organization {:?})", settings.organization),
        _ => println!("platform: not streaming (backend {:?})", settings.trace_backend),
    }
    match &settings.otlp {
        Some(dest) => println!("collector: {}", dest.endpoint),
        None => println!("collector: none"),
    }

    let run = dn::run("backends-demo").enter();
    {
        let _task = dn::task_span("data-prep").enter();
        dn::log_input("rows", 250);
        dn::log_metric("latency_ms", dn::Metric::new(112).step(1));
        dn::log_output("status", "ok");
    }
    let file = dn::instance().spans_file(&run)?;
    drop(run);

    let report = dn::shutdown();
    println!("accepted {} spans; dropped {}", report.accepted, report.dropped());
    for e in &report.exporters {
        println!(
            "  {}: exported {}, failed {}, retried {}{}",
            e.name,
            e.exported,
            e.failed,
            e.retried,
            e.last_error.as_deref().map(|m| format!(" (last error: {m})")).unwrap_or_default()
        );
    }
    println!("wrote: {}", file.display());
    Ok(())
}

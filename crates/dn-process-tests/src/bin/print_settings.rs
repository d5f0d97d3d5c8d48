//! Prints the settings of the global instance as JSON, without calling
//! `configure` (so the first use configures from the environment), or, with
//! `--project P`, the settings of an explicit `Config::new().project(P)`.
//! Then logs one run and prints the export report's drop count.
//! dn reports its own problems through `tracing`; the probe sends them to
//! stderr the way a user's subscriber would.
fn main() {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args: Vec<String> = std::env::args().collect();
    let settings = match args.iter().position(|a| a == "--project") {
        Some(i) => dn::Config::new().project(args[i + 1].clone()).resolve().ok(),
        None => dn::instance().settings().cloned(),
    };
    let run = dn::run("settings-probe").run(|_| true);
    let report = dn::shutdown();
    println!(
        "{}",
        serde_json::json!({
            "configured": settings.is_some(),
            "project": settings.as_ref().map(|s| s.project.clone()),
            "server": settings.as_ref().and_then(|s| s.server.clone()),
            "local_dir": settings.as_ref().map(|s| s.local_dir.display().to_string()),
            "service_name": settings.as_ref().map(|s| s.service_name.clone()),
            "resource_attributes": settings.as_ref().map(|s| s.resource_attributes.clone()),
            "otlp_timeout_ms": settings.as_ref().and_then(|s| s.otlp.as_ref().and_then(|o| o.timeout.map(|t| t.as_millis() as u64))),
            "otlp_endpoint": settings.as_ref().and_then(|s| s.otlp.as_ref().map(|o| o.endpoint.clone())),
            "otlp_headers": settings.as_ref().and_then(|s| s.otlp.as_ref().map(|o| o.headers.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())),
            "run_ok": run,
            "dropped": report.dropped(),
        })
    );
}

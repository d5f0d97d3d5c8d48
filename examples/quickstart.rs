//! Quick start, as the documentation's: a run with the task span
//! `data-prep` (type `task`, tags `etl`) logging an input, a metric and an
//! output. Configured only from `DREADNODE_*` environment variables
//! (local files under `DREADNODE_LOCAL_DIR`, default `~/.dreadnode`).
//!
//! ```sh
//! cargo run --example quickstart
//! ```

fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new())?;

    let run = dn::run("quickstart").tags(["demo"]).enter();
    dn::log_param("model", "baseline");
    {
        let _task = dn::task_span("data-prep").span_type(dn::SpanType::Task).tags(["etl"]).enter();
        dn::log_input("rows", 250);
        dn::log_metric("latency_ms", dn::Metric::new(112).step(1));
        dn::log_output("status", "ok");
    }
    let file = dn::instance().spans_file(&run)?;
    drop(run);

    let report = dn::shutdown();
    println!("run finished: {} spans written, {} dropped", report.accepted, report.dropped());
    println!("wrote: {}", file.display());
    Ok(())
}

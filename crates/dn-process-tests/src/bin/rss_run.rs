//! A run holding 10 000 finished task spans (one input, metric and output
//! each): prints the process RSS as JSON. It flushes every 1 000 tasks so
//! the figure is what the run holds, not how far the writer thread fell
//! behind on a loaded machine (the queue's own bound is tested elsewhere).
fn main() {
    dn::configure(dn::Config::new()).expect("configure");
    let run = dn::run("rss-run").enter().expect("run");
    let n: usize = std::env::var("DN_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    for i in 0..n {
        dn::task_span("task").run(|t| {
            t.log_input("i", &i).expect("input");
            t.log_metric("score", 0.5).expect("metric");
            t.log_output("o", "ok").expect("output");
        });
        if i % 1000 == 999 {
            dn::flush();
        }
    }
    dn::flush();
    let (rss, peak) = dn_process_tests::rss_kib();
    println!("{}", serde_json::json!({"rss_kib": rss, "peak_kib": peak, "tasks": run.tasks().len()}));
    drop(run);
    dn::shutdown();
}

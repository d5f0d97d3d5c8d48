//! Exits while task spans are still open in ways a run's end does not
//! cover: a worker thread still inside a task when the run ends and `main`
//! returns, and a task handle leaked inside the run (with a metric series
//! long enough to be rendered partly on a helper thread, in the exit
//! hook). Never calls shutdown: the exit hook must write both, with what
//! they logged.
fn main() {
    dn::configure(dn::Config::new()).expect("configure");
    let run = dn::run("open-at-exit").enter();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    dn::thread::spawn(move || {
        dn::task_span("worker-still-running").run(|t| {
            t.log_input("job", 7);
            started_tx.send(()).expect("main is waiting");
            loop {
                std::thread::park(); // still inside the task at exit
            }
        });
    });
    started_rx.recv().expect("the worker started");
    let leaked = dn::task_span("leaked-handle").start();
    leaked.log_metric("progress", 0.5);
    // A series long enough that rendering it at exit starts a helper thread
    // for its values (dn-core's `PARALLEL_RENDER_MIN`, 16 384 points).
    for step in 0..20_000u64 {
        leaked.log_metric("loss", dn::Metric::new(1.0 / (step as f64 + 1.0)).step(step));
    }
    std::mem::forget(leaked);
    drop(run); // the run ends while both are open
}

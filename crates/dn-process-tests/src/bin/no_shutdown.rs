//! Returns from `main` without calling `dn::shutdown()`, leaving a run open
//! in a leaked guard: the exit hook must still write every span.
fn main() {
    dn::configure(dn::Config::new()).expect("configure");
    let run = dn::run("no-shutdown-run").enter();
    for i in 0..1000 {
        dn::task_span(format!("task-{i}")).run(|t| t.log_input("i", i));
    }
    std::mem::forget(run);
}

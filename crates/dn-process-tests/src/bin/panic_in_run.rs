//! Panics inside a run after finishing a task: both must reach the disk.
fn main() {
    dn::configure(dn::Config::new()).expect("configure");
    let _run = dn::run("panicking-run").enter();
    dn::task_span("finished-task").run(|t| t.log_metric("m", 1.0));
    let _open = dn::task_span("open-task").enter();
    dn::log_input("kept", "yes");
    panic!("boom in main");
}

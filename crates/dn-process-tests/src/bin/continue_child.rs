//! Continues the task context given as JSON in `argv[1]`, logs `remote_score`,
//! opens a nested task, then writes `argv[2]` more task spans under the
//! fragment (to race the parent on the shared run file).
fn main() {
    let mut args = std::env::args().skip(1);
    let json = args.next().expect("context JSON");
    let extra: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    dn::configure(dn::Config::new()).expect("configure");
    let ctx = dn::TaskContext::from_json(&json).expect("valid context");
    dn::continue_task(&ctx).expect("continue").run(|fragment| {
        fragment.log_metric("remote_score", 0.88);
        dn::task_span("remote-subtask").run(|t| t.log_metric("sub_metric", 1.0));
        for i in 0..extra {
            dn::task_span("child-bulk").run(|t| t.log_input("i", i));
        }
    });
    dn::shutdown();
}

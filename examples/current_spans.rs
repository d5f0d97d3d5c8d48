//! `current_run` / `current_task` and every TaskSpan property.

fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new())?;
    assert!(dn::current_run().is_none());

    let run = dn::run("props-run").tags(["p"]).param("p0", 0).enter();
    dn::log_input("question", "q?");
    dn::log_output("answer", "a!");
    dn::log_metric("m", 1.0);
    dn::log_metric("m", 2.0);
    dn::task_span("child-1").run(|c1| {
        c1.log_metric("c", 1.0);
        dn::task_span("grandchild").run(|gc| {
            let current_run = dn::current_run().expect("inside a run");
            let current_task = dn::current_task().expect("inside a task");
            println!("inside grandchild: current_run={} current_task={}", current_run.name(), current_task.name());
            assert_eq!(current_task, *gc);
        });
    });

    let file = dn::instance().spans_file(&run)?;
    let run_span = run.task().clone();
    drop(run);
    print_properties(&run_span);
    for t in run_span.all_tasks() {
        print_properties(&t);
    }
    dn::shutdown();
    println!("wrote: {}", file.display());
    Ok(())
}

fn print_properties(t: &dn::TaskSpan) {
    println!("- {}", t.name());
    println!("    task_id={} root_id={} span_id={} trace_id={}", t.task_id(), t.root_id(), t.span_id(), t.trace_id());
    println!(
        "    label={:?} tags={:?} parent_task_id={:?}",
        t.label(),
        t.tags(),
        t.parent_task_id().map(|s| s.to_string())
    );
    println!("    params={:?} inputs={:?} outputs={:?}", t.params(), t.inputs(), t.outputs());
    println!("    metrics={:?}", t.metrics().iter().map(|(k, v)| (k.clone(), v.values().to_vec())).collect::<Vec<_>>());
    println!("    duration={:?} active={} failed={}", t.duration(), t.active(), t.failed());
    println!("    tasks={:?}", t.tasks().iter().map(|c| c.name().to_string()).collect::<Vec<_>>());
    println!("    all_tasks={:?}", t.all_tasks().iter().map(|c| c.name().to_string()).collect::<Vec<_>>());
}

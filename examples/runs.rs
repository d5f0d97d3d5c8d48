//! Runs: params, inputs, outputs and a metric on a run, `task_and_run`, and
//! a run whose body fails (it and its failed task end in ERROR).

use dn::SpanType;

fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new())?;

    let run = dn::run("experiment-1").project("my-project").tags(["baseline"]).enter();
    dn::log_param("learning_rate", 0.001);
    dn::log_input("prompt", "What is the capital of France?");
    dn::log_output("answer", "Paris");
    dn::log_metric("accuracy", 0.95);
    let first = dn::instance().spans_file(&run)?;
    drop(run);

    // task_and_run: opens a run when none is current, with a task inside.
    let task = dn::task_and_run("eval-run")
        .task_name("scoring")
        .task_type(SpanType::Evaluation)
        .param("threshold", 0.5)
        .input("dataset", "golden-v1")
        .enter();
    dn::log_metric("score", 0.87);
    println!("task {} runs in run {}", task.name(), task.run_id());
    let second = dn::instance().spans_file(&task)?;
    drop(task);

    // A run whose body fails: the failing task and the run end in ERROR.
    let mut third = None;
    let failed = dn::run("failed-run").project("my-project").try_run(|run| {
        third = dn::instance().spans_file(run).ok();
        dn::task_span("load-dataset").try_run(|_| Err::<(), _>("dataset golden-v2 not found".to_string()))
    });
    println!("failed-run: {failed:?}");

    dn::shutdown();
    println!("wrote: {}", first.display());
    println!("wrote: {}", second.display());
    if let Some(third) = third {
        println!("wrote: {}", third.display());
    }
    Ok(())
}

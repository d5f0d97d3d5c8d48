//! Scrubbing: opt-in patterns on, a config with a password and a prompt with
//! an AWS key id logged; both are stored as `[REDACTED:<pattern>]` markers,
//! and the shutdown report counts them by pattern name.

fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new().scrubbing(dn::Scrubbing::default()))?;

    let run = dn::run("scrubbed-run").enter();
    dn::log_params(serde_json::json!({"model": "gpt-4o-mini", "db": {"host": "db.internal", "password": "hunter2"}}));
    dn::task_span("triage").run(|task| {
        task.log_input("prompt", "The deploy key is AKIAZ7Q3ABCDEFGH1234, rotate it");
        task.log_output("verdict", "rotate");
    });
    let file = dn::instance().spans_file(&run)?;
    drop(run);

    let report = dn::shutdown();
    for (pattern, n) in &report.scrubbed {
        println!("scrubbed {pattern}: {n}");
    }
    println!("wrote: {}", file.display());
    Ok(())
}

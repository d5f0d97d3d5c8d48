//! Distributed tracing: the parent serializes its task context to JSON and
//! spawns itself as a child process that continues the task (logging
//! `remote_score`), waits, then prints the merged trace from the run file.
//!
//! ```sh
//! cargo run --example distributed
//! ```

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    dn::configure(dn::Config::new())?;
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        // The child: continue the task from the context it was handed.
        let ctx = dn::TaskContext::from_json(args.get(2).ok_or("missing context")?)?;
        dn::continue_task(&ctx)?.run(|fragment| {
            fragment.log_metric("remote_score", 0.88);
            dn::task_span("remote-work").run(|t| t.log_output("result", "done"));
        });
        dn::shutdown();
        return Ok(());
    }

    let run = dn::run("distributed-parent").tags(["dist"]).enter();
    dn::log_metric("parent_metric", 1.0);
    let file = dn::instance().spans_file(&run)?;
    dn::task_span("dispatch").run(|_| -> Result<(), Box<dyn std::error::Error>> {
        let ctx = dn::task_context()?;
        println!("context: {}", ctx.to_json());
        let status = Command::new(std::env::current_exe()?).arg("--child").arg(ctx.to_json()).status()?;
        println!("child exited: {status}");
        Ok(())
    })?;
    drop(run);
    dn::shutdown();

    // Print the merged trace: every span of both processes, as a tree.
    let text = std::fs::read_to_string(&file)?;
    let spans: Vec<serde_json::Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    fn print(spans: &[serde_json::Value], parent: Option<&str>, depth: usize) {
        for s in spans.iter().filter(|s| s["parent_id"].as_str() == parent) {
            let ty = s["attributes"]["dreadnode.type"].as_str().unwrap_or("?");
            println!(
                "{}{} [{ty}] trace={}",
                "  ".repeat(depth),
                s["name"].as_str().unwrap_or("?"),
                s["trace_id"].as_str().unwrap_or("?")
            );
            print(spans, s["span_id"].as_str(), depth + 1);
        }
    }
    print(&spans, None, 0);
    println!("wrote: {}", file.display());
    Ok(())
}

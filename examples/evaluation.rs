//! A realistic async evaluation, written as a newcomer would from the docs:
//! a run with params, an async `#[dn::task]` classifier whose scorer reads
//! the expected label from the task's inputs, 50 concurrent calls carried
//! into `tokio::spawn` with `dn::spawn`, metrics with `usize` steps from
//! `enumerate()`, samples, an artifact directory, a session, a hand-off to a
//! thread, and `push_update`. No call here can fail the evaluation: logging
//! warns and counts instead (see the report printed at the end).

use serde::Serialize;

#[derive(Serialize, Clone)]
struct Ticket {
    id: usize,
    text: String,
}

/// Scorer: 1.0 when the label matches the `expected` input of the call.
fn accuracy(output: &str, inputs: &dn::TaskInputs) -> f64 {
    if inputs.str("expected") == Some(output) { 1.0 } else { 0.0 }
}

/// The classifier under evaluation.
#[dn::task(type = "tool", scorers = [accuracy(output, inputs)])]
async fn classify(ticket: Ticket, expected: String) -> String {
    tokio::task::yield_now().await;
    let _ = &expected; // logged as an input for the scorer; the model never sees it
    if ticket.text.contains("refund") { "billing".to_string() } else { "general".to_string() }
}

fn dataset() -> Vec<(Ticket, String)> {
    (0..50)
        .map(|id| {
            let billing = id % 3 == 0;
            let text =
                if billing { format!("ticket {id}: I want a refund") } else { format!("ticket {id}: login fails") };
            // Every tenth label is wrong on purpose, so accuracy is not 1.0.
            let expected = if billing == (id % 10 != 9) { "billing" } else { "general" };
            (Ticket { id, text }, expected.to_string())
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    dn::configure(dn::Config::new().project("ticket-eval"))?;
    let scratch = tempfile::tempdir()?; // demo files live outside the SDK's directory

    let run = dn::run("classifier-eval").tags(["baseline"]).param("model", "keyword-v1").enter();
    dn::log_params(serde_json::json!({"dataset": "tickets-50", "concurrency": 50}));

    // 50 concurrent calls; dn::spawn carries the run into each tokio task.
    let handles: Vec<_> =
        dataset().into_iter().map(|(ticket, expected)| dn::spawn(classify(ticket, expected))).collect();
    let mut labels = Vec::new();
    for h in handles {
        labels.push(h.await?);
    }

    // Metrics over steps straight from enumerate() (usize).
    let mut billing = 0;
    for (step, label) in labels.iter().enumerate() {
        billing += usize::from(label == "billing");
        dn::log_metric("billing_share", dn::Metric::new(billing as f64 / (step + 1) as f64).step(step));
    }

    // A few samples, and the run's own summary metric.
    for (ticket, expected) in dataset().into_iter().take(3) {
        dn::log_sample("spot-check", ticket.text, expected, [("reviewed", 1.0)], ticket.id);
    }
    let accuracy_metrics: Vec<f64> =
        run.all_tasks().iter().filter_map(|t| t.metrics().get("accuracy").map(|m| m.values()[0])).collect();
    let mean = accuracy_metrics.iter().sum::<f64>() / accuracy_metrics.len().max(1) as f64;
    dn::log_metric("accuracy", mean);

    // An artifact directory written to a scratch place, then logged.
    let report_dir = scratch.path().join("report");
    std::fs::create_dir_all(&report_dir)?;
    std::fs::write(report_dir.join("summary.txt"), format!("accuracy {mean:.2}\n"))?;
    std::fs::write(report_dir.join("labels.json"), serde_json::to_string(&labels)?)?;
    dn::task_span("publish-report").run(|_| dn::log_artifact(&report_dir))?;

    // A chat-style follow-up under a session.
    {
        let _session = dn::bind_session_id("session_123");
        dn::task_span("chat:turn-1").run(|turn| {
            turn.log_input("prompt", "How did the classifier do?");
            turn.log_output("response", format!("accuracy {mean:.2}"));
        });
    }

    // Work handed to a thread stays in the run.
    dn::thread::spawn(move || {
        dn::task_span("offline-audit").run(|audit| audit.log_metric("audited", 50));
    })
    .join()
    .map_err(|_| "the audit thread panicked")?;

    let update = dn::push_update();
    let file = dn::instance().spans_file(&run)?;
    println!("run {} holds {} tasks; accuracy {mean:.2}", run.run_id(), run.all_tasks().len());
    println!("push_update clean: {}", update.is_clean());
    drop(run);
    let report = dn::shutdown();
    println!("logging faults: {}", report.logging_faults);
    println!("wrote: {}", file.display());
    if let Some(dir) =
        dn::instance().settings().map(|s| s.local_dir.join("sessions/session_123/chat_session_123.jsonl"))
    {
        println!("wrote: {}", dir.display());
    }
    Ok(())
}

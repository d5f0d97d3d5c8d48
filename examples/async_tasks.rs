//! Concurrent tokio tasks, each in its own task span, nested correctly —
//! across `.await`, and across `tokio::spawn` with `dn::spawn` (which carries
//! the current context; `fut.in_current_context()` does the same for any
//! executor).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    dn::configure(dn::Config::new())?;
    let run = dn::run("async-demo").start();
    let run2 = run.clone();

    run.instrument(async move {
        let mut handles = Vec::new();
        for i in 0..8 {
            // The spawned future carries the run as its context.
            let h = dn::spawn(async move {
                dn::task_span(format!("worker-{i}"))
                    .instrument(async move {
                        dn::log_input("i", i);
                        tokio::time::sleep(std::time::Duration::from_millis(5 * (8 - i))).await;
                        dn::task_span("inner")
                            .instrument(async move {
                                tokio::task::yield_now().await;
                                dn::log_metric("value", i as f64);
                            })
                            .await;
                        dn::log_output("done", true);
                    })
                    .await
            });
            handles.push(h);
        }
        for h in handles {
            h.await?;
        }
        Ok::<_, tokio::task::JoinError>(())
    })
    .await?;

    let file = dn::instance().spans_file(&run2)?;
    for t in run2.tasks() {
        let inner: Vec<String> =
            t.tasks().iter().map(|c| format!("{}(value={:?})", c.name(), c.metrics()["value"].values())).collect();
        println!("{} -> {:?}", t.name(), inner);
    }
    dn::shutdown();
    println!("wrote: {}", file.display());
    Ok(())
}

//! Binding session ids: the documentation's example — session `session_123`
//! around the task span `chat:turn-1` logging `prompt` "Hi" and `response`
//! "Hello!" — and two concurrent async sessions whose spans must not mix.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new())?;
    let local_dir = dn::instance().settings().map(|s| s.local_dir.clone()).unwrap_or_default();

    {
        let _session = dn::bind_session_id("session_123");
        dn::task_span("chat:turn-1").run(|_| {
            dn::log_input("prompt", "Hi");
            dn::log_output("response", "Hello!");
            dn::span("tool-call").run(|| ());
        });
    }

    // Two conversations interleaving on one thread.
    let conversation = |id: &'static str| {
        dn::with_session_id(id, async move {
            for turn in 0..3 {
                dn::task_span(format!("{id}-turn-{turn}"))
                    .instrument(async move {
                        tokio::task::yield_now().await;
                        dn::log_input("turn", turn);
                    })
                    .await;
            }
        })
    };
    let (a, b) = (tokio::spawn(conversation("alice")), tokio::spawn(conversation("bob")));
    let _ = (a.await, b.await);
    dn::shutdown();

    for id in ["session_123", "alice", "bob"] {
        let file = local_dir.join(format!("sessions/{id}/chat_{id}.jsonl"));
        let n = std::fs::read_to_string(&file).map(|t| t.lines().count()).unwrap_or(0);
        println!("session {id}: {n} spans");
        println!("wrote: {}", file.display());
    }
    Ok(())
}

//! Binding session ids: the doc's `chat:turn-1` example, and two concurrent
//! async sessions whose spans must not mix.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new())?;
    let local_dir = dn::instance().settings().map(|s| s.local_dir.clone()).unwrap_or_default();

    {
        let _session = dn::bind_session_id("chat:turn-1");
        dn::task_span("chat-turn").run(|_| {
            dn::log_input("user_message", "Hello there");
            dn::log_output("assistant_message", "General Kenobi");
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

    for id in ["chat:turn-1", "alice", "bob"] {
        let file = local_dir.join(format!("sessions/{id}/chat_{id}.jsonl"));
        let n = std::fs::read_to_string(&file).map(|t| t.lines().count()).unwrap_or(0);
        println!("session {id}: {n} spans");
        println!("wrote: {}", file.display());
    }
    Ok(())
}

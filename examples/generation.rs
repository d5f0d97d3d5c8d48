//! An LLM generation recorded with `dn::Generation` on a span of type
//! `generation`: model, provider, operation, token counts and finish reasons
//! as OpenTelemetry GenAI attributes (`gen_ai.*`, semconv 1.37.0), the
//! tokens as metrics. Messages are recorded only when opted in
//! (`Generation::messages`), as in the second call.

fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new())?;

    let run = dn::run("support-bot").enter();
    let prompt = "Where is my refund?";
    let reply = dn::task_span("answer").span_type(dn::SpanType::Generation).run(|task| {
        task.log_input("prompt", prompt);
        // The call to the model goes here; this reply and these counts stand in for its response.
        let reply = "Refunds arrive within 5 business days.";
        task.log_generation(
            &dn::Generation::new("gpt-4o-mini")
                .provider("openai")
                .operation("chat")
                .response_model("gpt-4o-mini-2024-07-18")
                .input_tokens(14)
                .output_tokens(9)
                .finish_reasons(["stop"]),
        );
        task.log_output("reply", reply);
        reply
    });
    println!("answer: {reply}");

    // Opted in: the messages go into the span too.
    dn::task_span("follow-up").span_type(dn::SpanType::Generation).run(|task| {
        // Shaped as the GenAI conventions' messages: a role and its parts.
        let messages = serde_json::json!([{"role": "user", "parts": [{"type": "text", "content": "And if it does not?"}]}]);
        let response = serde_json::json!([{"role": "assistant", "parts": [{"type": "text", "content": "Reply here."}], "finish_reason": "stop"}]);
        task.log_generation(
            &dn::Generation::new("gpt-4o-mini").provider("openai").input_tokens(11).output_tokens(10).messages(messages, response),
        );
    });

    let file = dn::instance().spans_file(&run)?;
    drop(run);
    dn::shutdown();
    println!("wrote: {}", file.display());
    Ok(())
}

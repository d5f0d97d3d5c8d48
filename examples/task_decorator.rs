//! `#[dn::task]`: the documentation's `classify` and its `classifier` task
//! (with `scorers`, `log_inputs` and `log_output`), a sync task, a method, a
//! task returning `Result` that fails, and an entrypoint task that opens its
//! own run.

#[dn::task]
async fn classify(text: String) -> String {
    if text.contains("refund") { "billing".into() } else { "general".into() }
}

fn is_billing(label: &str) -> bool {
    label == "billing"
}

#[dn::task(name = "classifier", scorers = [is_billing], log_inputs = true, log_output = true, tags = ["v2"])]
async fn classify_v2(text: String) -> String {
    if text.to_lowercase().contains("refund") { "billing".into() } else { "general".into() }
}

#[dn::task(type = "tool")]
fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

struct Router {
    threshold: f64,
}

impl Router {
    #[dn::task(name = "route")]
    fn route(&self, score: f64) -> &'static str {
        if score >= self.threshold { "human" } else { "bot" }
    }
}

#[dn::task]
fn parse_priority(text: &str) -> Result<u8, std::num::ParseIntError> {
    text.trim().parse()
}

#[dn::task(entrypoint)]
async fn triage(ticket: String) -> String {
    let label = classify_v2(ticket.clone()).await;
    dn::log_metric("words", word_count(&ticket) as f64);
    label
}

#[tokio::main]
async fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new())?;

    let run = dn::run("ticket-classification").start();
    let r = run.clone();
    r.instrument(async {
        println!("classify: {}", classify("I want a refund".into()).await);
        println!("classifier: {}", classify_v2("REFUND please".into()).await);
        println!("word_count: {}", word_count("three little words"));
        println!("route: {}", Router { threshold: 0.5 }.route(0.7));
        println!("parse_priority: {:?}", parse_priority("high")); // Err: the span is marked failed
    })
    .await;
    let first = dn::instance().spans_file(&run)?;

    // No current task: the entrypoint opens a run of its own.
    println!("triage: {}", triage("Refund for order 42".into()).await);
    dn::shutdown();

    println!("wrote: {}", first.display());
    let root = dn::instance().settings().map(|s| s.local_dir.join("projects/default")).unwrap_or_default();
    for dir in std::fs::read_dir(&root).map_err(|e| dn::Error::Config(e.to_string()))?.flatten() {
        let file = dir.path().join("spans.jsonl");
        if file != first && std::fs::read_to_string(&file).is_ok_and(|t| t.contains("\"triage\"")) {
            println!("wrote: {}", file.display());
        }
    }
    Ok(())
}

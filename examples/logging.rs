//! Everything that can be logged: params, inputs/outputs in batches,
//! metrics with every aggregation mode, samples, tags, object links and
//! `push_update`.

use dn::{Aggregation, AttrValue, Metric, RefOptions};
use serde_json::json;

fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new())?;
    let run = dn::run("logging-demo").tags(["baseline"]).enter();

    dn::log_params(json!({"model": "gpt-4o", "temperature": 0.7, "max_tokens": 1000}));
    dn::log_inputs(json!({"text": "hello", "items": [1, 2, 3], "mapping": {"b": 2, "a": 1}}));
    dn::log_outputs(json!({"result": "ok", "count": 3}));
    dn::log_output_with("with_label", [1, 2], RefOptions::new().label("My Label!").attribute("k", "v"));

    for (mode, agg) in [
        ("direct", Aggregation::Direct),
        ("min", Aggregation::Min),
        ("max", Aggregation::Max),
        ("avg", Aggregation::Avg),
        ("sum", Aggregation::Sum),
        ("count", Aggregation::Count),
    ] {
        for (step, v) in [3.0, 1.0, 4.0, 1.0, 5.0].into_iter().enumerate() {
            dn::log_metric(&format!("agg_{mode}"), Metric::new(v).step(step as i64).aggregation(agg));
        }
    }
    dn::log_metrics([("accuracy", 0.95), ("loss", 0.05)], 1, Aggregation::Direct);

    dn::log_sample("qa-sample", "What is 2+2?", "4", [("correct", 1.0)], 3);
    dn::log_samples("batch", [("in-1", "out-1", vec![("accuracy".to_string(), 0.95)]), ("in-2", "out-2", vec![])]);

    dn::tag(["Needs Review!", "v2"]);
    let prompt = "Translate: bonjour";
    let completion = json!({"translation": "hello"});
    dn::link_objects(&completion, prompt, &[("relation", AttrValue::from("generated_from"))]);

    let report = dn::push_update();
    println!("push_update: {} spans written so far", report.accepted);

    let file = dn::instance().spans_file(&run)?;
    println!("metrics now: {:?}", run.metrics().keys().collect::<Vec<_>>());
    drop(run);
    dn::shutdown();
    println!("wrote: {}", file.display());
    Ok(())
}

//! Task spans vs light spans, and span types.
//!
//! A task span (`dn::task_span`) carries params, inputs, outputs and metrics;
//! a light span (`dn::span`) only timing, tags and attributes. Both nest, and
//! a task inside a light span still reports its parent *task*.

use dn::SpanType;

fn main() -> Result<(), dn::Error> {
    dn::configure(dn::Config::new())?;
    let run = dn::run("spans-demo").enter();

    // A light span around a cache warm-up, with attributes and tags.
    dn::span("cache-warmup").tags(["warm", "Cache Warm"]).attribute("cache.size", 128).run(|| {
        // A task inside a light span: OTel parent = the light span,
        // dreadnode.task.parent_id = the run.
        dn::task_span("task-inside-light-span").run(|t| t.log_metric("items", 3));
    });

    // Typed task spans.
    for (name, ty) in [("judge", SpanType::Scorer), ("search", SpanType::Tool), ("agent-step", SpanType::Agent)] {
        dn::task_span(name).span_type(ty).label(format!("{name} label")).run(|t| {
            println!("{} span: type={} label={}", t.name(), t.span_type(), t.label());
        });
    }

    let file = dn::instance().spans_file(&run)?;
    drop(run);
    dn::shutdown();
    println!("wrote: {}", file.display());
    Ok(())
}

//! The `tracing` bridge: a library's `#[tracing::instrument]` spans and
//! `info!` events, called from `#[dn::task]`s, land nested under the right dn
//! task — across `.await`, a plain `tokio::spawn` of an `Instrument`ed future,
//! and 1 000 concurrent tasks on a 2-worker runtime — and dn's own warnings
//! never loop back into the spans.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

/// A library instrumented with `tracing` only.
mod library {
    #[tracing::instrument(fields(model = "gpt-4o"))]
    pub async fn complete(prompt: &str, n: usize) -> String {
        tracing::info!(tokens = n, "sending request");
        tokio::task::yield_now().await;
        tracing::debug!(ok = true, "got response");
        format!("{prompt}!")
    }
}

#[dn::task]
async fn answer(i: usize) -> String {
    dn::current_task().unwrap().set_attribute("index", i);
    let a = library::complete("hi", i).await;
    let spawned = tokio::spawn(library::complete("bg", i).instrument(tracing::info_span!("background", index = i)));
    spawned.await.unwrap();
    a
}

/// One local directory and one global subscriber (the bridge) per binary.
fn setup() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        dn::configure(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(dn::tracing_layer())).unwrap();
        dir
    })
    .path()
}

fn attr<'a>(span: &'a Value, key: &str) -> &'a Value {
    &span["attributes"][key]
}

fn by_run(dir: &std::path::Path, run: &str) -> Vec<Value> {
    let spans = common::spans(dir);
    let run_id = spans
        .iter()
        .find(|s| s["name"] == run && s["parent_id"].is_null())
        .map(|s| attr(s, "dreadnode.run.id").clone())
        .unwrap_or_else(|| panic!("run {run} not on disk"));
    spans.into_iter().filter(|s| attr(s, "dreadnode.run.id") == &run_id || s["name"] == run).collect()
}

#[test]
fn a_library_s_tracing_spans_and_events_nest_under_the_dn_task_that_called_it() {
    let dir = setup();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(dn::run("one-call").instrument(async { answer(7).await }));
    dn::flush();
    let spans = by_run(dir, "one-call");
    let task = spans.iter().find(|s| s["name"] == "answer").unwrap();
    let complete: Vec<&Value> = spans.iter().filter(|s| s["name"] == "complete").collect();
    let background = spans.iter().find(|s| s["name"] == "background").unwrap();
    assert_eq!(complete.len(), 2, "{spans:#?}");
    assert_eq!(background["parent_id"], task["span_id"], "the spawned future's span is the task's child");
    let direct = complete.iter().find(|s| s["parent_id"] == task["span_id"]).expect("one call directly under the task");
    let nested = complete.iter().find(|s| s["parent_id"] == background["span_id"]).expect("one under background");
    for s in [direct, nested] {
        assert_eq!(s["trace_id"], task["trace_id"]);
        assert_eq!(attr(s, "n"), 7, "fields become attributes");
        assert_eq!(attr(s, "model"), "gpt-4o");
        assert_eq!(attr(s, "code.filepath"), "crates/dn/tests/tracing_bridge.rs");
        assert_eq!(attr(s, "code.namespace"), "tracing_bridge::library");
        assert!(attr(s, "code.lineno").as_i64().unwrap() > 0);
        let events = s["events"].as_array().unwrap();
        let names: Vec<&str> = events.iter().map(|e| e["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["sending request", "got response"], "events on the span they fired in: {s:#}");
        assert_eq!(events[0]["attributes"]["level"], "INFO");
        assert_eq!(events[0]["attributes"]["target"], "tracing_bridge::library");
        assert_eq!(events[0]["attributes"]["tokens"], 7);
        assert_eq!(events[1]["attributes"]["level"], "DEBUG");
        assert_eq!(events[1]["attributes"]["ok"], true);
    }
    assert_eq!(attr(direct, "prompt"), "hi", "#[instrument] records a &str argument as a string");
    assert_eq!(attr(background, "index"), 7);
}

#[test]
fn a_thousand_concurrent_tasks_each_own_exactly_their_tracing_spans() {
    const TASKS: usize = 1_000;
    let dir = setup();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(dn::run("thousand").instrument(async {
        let handles: Vec<_> = (0..TASKS).map(|i| dn::spawn(answer(i))).collect();
        for h in handles {
            h.await.unwrap();
        }
    }));
    dn::flush();
    let spans = by_run(dir, "thousand");
    let by_id: HashMap<&str, &Value> = spans.iter().map(|s| (s["span_id"].as_str().unwrap(), s)).collect();
    let parent_of = |s: &Value| *by_id.get(s["parent_id"].as_str().unwrap()).expect("parent on disk in the same run");
    let mut seen = vec![0usize; TASKS];
    for s in spans.iter().filter(|s| s["name"] == "complete") {
        let n = attr(s, "n").as_u64().unwrap() as usize;
        let parent = parent_of(s);
        // Directly under the task `answer(n)`, or under its `background` span.
        let task = if parent["name"] == "background" {
            assert_eq!(attr(parent, "index"), n as u64);
            parent_of(parent)
        } else {
            parent
        };
        assert_eq!(task["name"], "answer");
        assert_eq!(attr(task, "index"), n as u64, "a span nested under another task's span");
        assert_eq!(s["trace_id"], task["trace_id"]);
        let events = s["events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0]["attributes"]["tokens"], n as u64, "an event on another task's span");
        seen[n] += 1;
    }
    assert!(seen.iter().all(|&c| c == 2), "every task's two library calls are on disk: {:?}", &seen[..10]);
    let background = spans.iter().filter(|s| s["name"] == "background").count();
    assert_eq!(background, TASKS);
}

#[test]
fn dn_s_own_warnings_do_not_loop_back_and_nothing_is_recorded_outside_dn_spans() {
    let dir = setup();
    dn::run("diagnostics").run(|_| {
        dn::task_span("warned").run(|_| {
            // An empty name is normalised with a dn warning (target "dn").
            let _s = dn::span("").enter();
            tracing::warn!("a user warning");
        });
    });
    tracing::info_span!("outside-any-dn-span").in_scope(|| tracing::info!("not recorded"));
    // Asked for: spans outside dn spans are light spans of their own traces.
    let subscriber = tracing_subscriber::registry().with(dn::tracing_layer().record_outside_dn(true));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("recorded-outside", k = 1).in_scope(|| tracing::info!("kept"));
    });
    dn::flush();
    let spans = common::spans(dir);
    let all_events: Vec<&Value> = spans.iter().flat_map(|s| s["events"].as_array().unwrap()).collect();
    assert!(all_events.iter().all(|e| e["attributes"]["target"] != "dn"), "a dn diagnostic was recorded as an event");
    let warned = spans.iter().find(|s| s["name"] == "warned").unwrap();
    let names: Vec<&Value> = warned["events"].as_array().unwrap().iter().map(|e| &e["name"]).collect();
    assert_eq!(names, ["a user warning"], "an event inside a dn light span lands on its task");
    assert!(!spans.iter().any(|s| s["name"] == "outside-any-dn-span"));
    let outside = spans.iter().find(|s| s["name"] == "recorded-outside").expect("record_outside_dn(true) records it");
    assert!(outside["parent_id"].is_null());
    assert_eq!(attr(outside, "k"), 1);
    assert_eq!(outside["events"][0]["name"], "kept");
}

//! `#[dn::task]` on every supported function shape, checked through the
//! files it writes (`docs/format.md` ("Attributes"), §11) and against the Python reference.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{Value, json};

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fn setup() -> &'static std::path::Path {
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        dn::configure(dn::Config::new().local_dir(d.path()).isolated()).unwrap();
        d
    })
    .path()
}

/// Every span of `run_id`'s file.
fn spans_of(run_id: &str) -> Vec<Value> {
    let dir = setup();
    dn::flush();
    let f = dir.join(format!("projects/default/{run_id}/spans.jsonl"));
    std::fs::read_to_string(f).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn attr(span: &Value, key: &str) -> Value {
    let v = &span["attributes"][key];
    v.as_str().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_else(|| v.clone())
}

fn span_named<'a>(spans: &'a [Value], name: &str) -> &'a Value {
    spans.iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no span {name}"))
}

// ----- the functions under test -----------------------------------------

#[dn::task]
async fn plain_task(x: i32, y: i32) -> i32 {
    x * y
}

#[dn::task(name = "named-task", label = "Named Label", tags = ["decorated"], type = "tool")]
async fn named(text: &str) -> String {
    text.to_uppercase()
}

#[dn::task(log_inputs = [keep], log_output = false)]
async fn selective(keep: &str, drop: &str) -> String {
    format!("{keep}{drop}")
}

fn length_score(output: &str) -> f64 {
    output.len() as f64 / 10.0
}
fn is_upper(output: &str) -> bool {
    output.chars().all(|c| !c.is_lowercase())
}
async fn async_score(output: &str) -> f64 {
    tokio::task::yield_now().await;
    output.len() as f64
}
fn failing_score(_output: &str) -> Result<f64, String> {
    Err("judge unavailable".into())
}

#[dn::task(scorers = [length_score, is_upper, async_score, failing_score])]
async fn scored(text: &str) -> String {
    text.to_uppercase()
}

#[dn::task(scorers = [length_score])]
fn sync_task(x: i32) -> String {
    (x + 1).to_string()
}

#[derive(Serialize)]
struct Point {
    x: i32,
    y: i32,
}

#[dn::task]
fn generic<T: Serialize + std::fmt::Display>(value: T, times: usize) -> String {
    value.to_string().repeat(times)
}

#[derive(Debug)]
struct ParseError(String);
impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot parse {}", self.0)
    }
}

#[dn::task]
fn parse(text: &str) -> Result<i64, ParseError> {
    text.parse().map_err(|_| ParseError(text.to_string()))
}

#[dn::task]
async fn parse_async(text: String) -> Result<i64, ParseError> {
    if text.is_empty() {
        return Err(ParseError("<empty>".into()));
    }
    text.parse().map_err(|_| ParseError(text.clone()))
}

#[dn::task]
fn later(n: u32) -> impl std::future::Future<Output = u32> {
    async move {
        tokio::task::yield_now().await;
        dn::log_metric("inside_future", 1.0);
        n * 2
    }
}

struct Counter {
    count: u32,
}

impl Counter {
    #[dn::task]
    fn peek(&self, by: u32) -> u32 {
        self.count + by
    }
    #[dn::task(name = "bump")]
    fn bump(&mut self, by: u32) -> u32 {
        self.count += by;
        self.count
    }
    #[dn::task]
    fn into_total(self, extra: u32) -> u32 {
        self.count + extra
    }
    #[dn::task]
    async fn later(&self) -> u32 {
        self.count
    }
}

#[dn::task(entrypoint)]
async fn entry(x: i32) -> Point {
    dn::log_metric("inner", x);
    Point { x, y: 2 * x }
}

#[dn::task]
fn explodes(n: i32) -> i32 {
    if n > 0 {
        panic!("exploded with {n}");
    }
    n
}

#[dn::task]
fn unit(_ignored: u8) {}

// ----- tests ----------------------------------------------------------------

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[test]
fn async_and_sync_tasks_log_inputs_outputs_and_code_attributes() {
    setup();
    let run = dn::run("decorator-run").start();
    let r2 = run.clone();
    rt().block_on(r2.instrument(async {
        assert_eq!(plain_task(21, 2).await, 42);
        assert_eq!(named("hello").await, "HELLO");
        assert_eq!(selective("k", "d").await, "kd");
    }));
    {
        let _g = run.enter_context();
        assert_eq!(sync_task(1), "2");
        assert_eq!(generic(Point { x: 1, y: 2 }.x, 3), "111");
        assert_eq!(generic("ab", 2), "abab");
        unit(7);
    }
    assert!(!run.active());
    let s = spans_of(run.run_id());
    let p = span_named(&s, "plain_task");
    let keys: Vec<&str> = p["attributes"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        &keys[..9],
        [
            "dreadnode.version",
            "dreadnode.type",
            "dreadnode.label",
            "dreadnode.project",
            "code.function",
            "code.lineno",
            "code.filepath",
            "logfire.span_type",
            "logfire.msg"
        ]
    );
    assert_eq!(p["attributes"]["code.function"], "plain_task");
    let file = p["attributes"]["code.filepath"].as_str().unwrap();
    assert_eq!(file, "crates/dn/tests/task_macro.rs", "relative to the workspace, normalised");
    assert!(p["attributes"]["code.lineno"].as_i64().unwrap() > 0);
    assert_eq!(p["parent_id"], run.span_id().to_string().as_str());
    // Same inputs/outputs/objects as the Python reference for plain_task(21) with y=2.
    assert_eq!(
        attr(p, "dreadnode.inputs"),
        json!([
            {"name": "x", "label": "x", "hash": "9ce9c45d9b8a0c51", "attributes": {"auto": true}},
            {"name": "y", "label": "y", "hash": "041751f55a4b4629", "attributes": {"auto": true}}
        ])
    );
    assert_eq!(
        attr(p, "dreadnode.outputs"),
        json!([{"name": "output", "label": "output", "hash": "2e164e172f76d6dd", "attributes": {"auto": true}}])
    );
    let n = span_named(&s, "named-task");
    assert_eq!(n["attributes"]["dreadnode.label"], "named_label");
    assert_eq!(n["attributes"]["dreadnode.type"], "tool");
    assert_eq!(n["attributes"]["dreadnode.tags"], json!(["decorated"]));
    assert_eq!(n["attributes"]["code.function"], "named");
    assert_eq!(attr(n, "dreadnode.outputs")[0]["hash"], "be5f31852573cdb8", "same hash as Python's \"HELLO\"");
    let sel = span_named(&s, "selective");
    assert_eq!(attr(sel, "dreadnode.inputs").as_array().unwrap().len(), 1);
    assert_eq!(attr(sel, "dreadnode.inputs")[0]["name"], "keep");
    assert_eq!(attr(sel, "dreadnode.outputs"), json!([]));
    let st = span_named(&s, "sync_task");
    assert_eq!(attr(st, "dreadnode.metrics")["length_score"]["values"], json!([0.1]));
    let g: Vec<&Value> = s.iter().filter(|x| x["name"] == "generic").collect();
    assert_eq!(g.len(), 2);
    let u = span_named(&s, "unit");
    assert_eq!(attr(u, "dreadnode.inputs"), json!([]), "arguments starting with _ are not logged");
    assert_eq!(attr(u, "dreadnode.outputs"), json!([]), "a unit return is not logged");
}

#[test]
fn scorers_run_after_the_output_and_a_failing_scorer_logs_zero() {
    setup();
    let run = dn::run("scorers").start();
    let r2 = run.clone();
    rt().block_on(r2.instrument(async {
        assert_eq!(scored("hello world").await, "HELLO WORLD");
    }));
    let s = spans_of(run.run_id());
    let sc = span_named(&s, "scored");
    let m = attr(sc, "dreadnode.metrics");
    assert_eq!(m["length_score"]["values"], json!([1.1]), "same as the Python reference");
    assert_eq!(m["is_upper"]["values"], json!([1.0]));
    assert_eq!(m["async_score"]["values"], json!([11.0]));
    assert_eq!(m["failing_score"]["values"], json!([0.0]));
    assert_eq!(sc["status"], "UNSET", "a failing scorer never fails the task");
    let ev = &sc["events"][0];
    assert_eq!(ev["name"], "dreadnode.scorer.error");
    assert_eq!(ev["attributes"]["error"], "judge unavailable");
}

fn matches_expected(output: &str, inputs: &dn::TaskInputs) -> bool {
    inputs.str("expected") == Some(output)
}

async fn async_matches(output: &str, inputs: &dn::TaskInputs) -> f64 {
    f64::from(u8::from(inputs.get_as::<String>("expected").as_deref() == Some(output)))
}

#[dn::task(scorers = [matches_expected(output, inputs), length_score(output)])]
fn label_sync(text: &str, expected: &str) -> String {
    let _ = expected;
    if text.contains("refund") { "billing".into() } else { "general".into() }
}

#[dn::task(scorers = [async_matches(output, inputs)])]
async fn label_async(text: String, expected: String) -> String {
    let _ = expected;
    if text.contains("refund") { "billing".into() } else { "general".into() }
}

#[test]
fn a_scorer_written_with_inputs_reads_the_expected_label() {
    setup();
    let run = dn::run("scorer-inputs").start();
    run.context().in_scope(|| {
        label_sync("refund please", "billing");
        label_sync("refund please", "general");
    });
    rt().block_on(run.context().wrap(async {
        label_async("login".into(), "general".into()).await;
    }));
    let s = spans_of(run.run_id());
    let scores: Vec<Value> = s
        .iter()
        .filter(|x| x["name"] == "label_sync")
        .map(|x| attr(x, "dreadnode.metrics")["matches_expected"]["values"].clone())
        .collect();
    assert_eq!(scores, vec![json!([1.0]), json!([0.0])], "right, then wrong against the expected input");
    let sync = s.iter().find(|x| x["name"] == "label_sync").unwrap();
    assert_eq!(
        attr(sync, "dreadnode.metrics")["length_score"]["values"],
        json!([0.7]),
        "`f(output)` is the plain form"
    );
    assert_eq!(attr(span_named(&s, "label_async"), "dreadnode.metrics")["async_matches"]["values"], json!([1.0]));
}

#[test]
fn result_tasks_log_ok_and_fail_on_err_returning_it_unchanged() {
    setup();
    let run = dn::run("results").start();
    {
        let _g = run.enter_context();
        assert_eq!(parse("42").unwrap(), 42);
        let e = parse("x").unwrap_err();
        assert_eq!(e.0, "x", "the error comes back unchanged");
    }
    let r2 = run.clone();
    rt().block_on(r2.instrument(async {
        assert_eq!(parse_async("7".into()).await.unwrap(), 7);
        assert!(parse_async(String::new()).await.is_err(), "early return inside the async body");
    }));
    let s = spans_of(run.run_id());
    let parses: Vec<&Value> = s.iter().filter(|x| x["name"] == "parse" || x["name"] == "parse_async").collect();
    assert_eq!(parses.len(), 4);
    for p in parses {
        let outputs = attr(p, "dreadnode.outputs");
        if p["status"] == "ERROR" {
            assert_eq!(outputs, json!([]));
            assert_eq!(p["attributes"]["logfire.level_num"], 17);
            assert!(p["events"][0]["attributes"]["exception.message"].as_str().unwrap().starts_with("cannot parse"));
        } else {
            assert_eq!(outputs.as_array().unwrap().len(), 1, "the Ok value is the output");
        }
    }
    assert_eq!(s.iter().filter(|x| x["status"] == "ERROR").count(), 2);
}

#[test]
fn methods_and_impl_future_functions() {
    setup();
    let run = dn::run("methods").start();
    let r2 = run.clone();
    rt().block_on(r2.instrument(async {
        let mut c = Counter { count: 1 };
        assert_eq!(c.peek(2), 3);
        assert_eq!(c.bump(4), 5);
        assert_eq!(c.later().await, 5);
        assert_eq!(c.into_total(1), 6);
        assert_eq!(later(21).await, 42);
    }));
    let s = spans_of(run.run_id());
    for n in ["peek", "bump", "into_total"] {
        let sp = span_named(&s, n);
        assert_eq!(attr(sp, "dreadnode.inputs").as_array().unwrap().len(), 1, "{n}: self is not logged");
    }
    let l: Vec<&Value> = s.iter().filter(|x| x["name"] == "later").collect();
    let fut_task = l.iter().find(|x| attr(x, "dreadnode.inputs").as_array().map(Vec::len) == Some(1)).unwrap();
    assert_eq!(
        attr(fut_task, "dreadnode.metrics")["inside_future"]["values"],
        json!([1.0]),
        "current while the future runs"
    );
    assert_eq!(attr(fut_task, "dreadnode.outputs")[0]["name"], "output");
}

#[test]
fn an_entrypoint_opens_a_run_only_when_none_is_current() {
    setup();
    let (point, run_id) = rt().block_on(async {
        let p = entry(3).await;
        (p, dn::current_run().map(|r| r.run_id().to_string()))
    });
    assert_eq!(point.y, 6);
    assert!(run_id.is_none(), "the run ended with the entrypoint");
    // Find the run it opened: the project folder with an `entry` span.
    dn::flush();
    let dir = setup().join("projects/default");
    let mut found = None;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path().join("spans.jsonl");
        let Ok(text) = std::fs::read_to_string(path) else { continue }; // another test's run, not written yet
        let s: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        if s.iter().any(|x| x["name"] == "entry") {
            found = Some(s);
        }
    }
    let s = found.unwrap();
    assert_eq!(s.len(), 2, "the entry task and its run");
    let e = span_named(&s, "entry");
    let run = s.iter().find(|x| x["parent_id"].is_null()).unwrap();
    assert_eq!(run["name"], "entry");
    assert_eq!(e["parent_id"], run["span_id"]);
    assert_eq!(attr(e, "dreadnode.metrics")["inner"]["values"], json!([3.0]));
    assert_eq!(attr(e, "dreadnode.outputs")[0]["name"], "output");

    let outer = dn::run("outer").start();
    let o2 = outer.clone();
    rt().block_on(o2.instrument(async {
        entry(1).await;
    }));
    let s = spans_of(outer.run_id());
    assert_eq!(s.len(), 2, "inside a run: no new run");
}

#[test]
fn a_panic_in_a_task_marks_it_failed_and_continues() {
    setup();
    let run = dn::run("panics").start();
    {
        let _g = run.enter_context();
        let caught = std::panic::catch_unwind(|| explodes(3));
        assert!(caught.is_err(), "the panic reaches the caller");
        assert_eq!(explodes(0), 0);
    }
    let s = spans_of(run.run_id());
    let failed: Vec<&Value> = s.iter().filter(|x| x["name"] == "explodes" && x["status"] == "ERROR").collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["events"][0]["attributes"]["exception.message"], "exploded with 3");
    assert!(s.iter().all(|x| x["end_time"].is_string()), "every span ended and was written");
}

#[test]
fn configure_twice_is_an_error_and_changes_nothing() {
    let dir = setup();
    let other = tempfile::tempdir().unwrap();
    let e = dn::configure(dn::Config::new().local_dir(other.path()).isolated()).unwrap_err();
    assert!(matches!(e, dn::Error::AlreadyConfigured), "{e}");
    assert_eq!(dn::instance().settings().unwrap().local_dir, dir, "the first configuration stays");
}

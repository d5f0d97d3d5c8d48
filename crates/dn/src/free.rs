//! Free functions acting on the current task, as in the documentation.
//!
//! None of them can fail the caller's code: with no current task, or on an
//! ended one, nothing is logged, a warning says so (rate-limited) and the
//! fault is counted in the [`ExportReport`] of `flush`/`shutdown`. Each has
//! a `try_` twin returning the [`Error`](crate::Error) instead.

use serde::Serialize;

use dn_core::{Aggregation, AttrValue, ExportReport, Generation, Hash16, Metric, RefOptions, Step, TaskSpan};

use crate::error::Result;

/// Runs `f` on the current task, or counts and warns about a call with none.
fn on_task<R: Default>(what: &'static str, f: impl FnOnce(&TaskSpan) -> R) -> R {
    match dn_core::current_task() {
        Some(t) => f(&t),
        None => {
            crate::instance().tracer().logging_fault(&dn_core::Error::NoActiveTask(what));
            R::default()
        }
    }
}

/// Runs `f` on the current task, or returns the error for a call with none.
fn try_on_task<R>(what: &'static str, f: impl FnOnce(&TaskSpan) -> dn_core::Result<R>) -> Result<R> {
    match dn_core::current_task() {
        Some(t) => Ok(f(&t)?),
        None => Err(dn_core::Error::NoActiveTask(what).into()),
    }
}

/// The current run (the root task), if any.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// assert!(dn::current_run().is_none());
/// dn.run("r").run(|_| assert_eq!(dn::current_run().unwrap().name(), "r"));
/// ```
pub fn current_run() -> Option<TaskSpan> {
    dn_core::current_run()
}
/// The innermost current task, if any.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.run("r").run(|_| {
///     dn.task_span("t").run(|_| assert_eq!(dn::current_task().unwrap().name(), "t"));
/// });
/// ```
pub fn current_task() -> Option<TaskSpan> {
    dn_core::current_task()
}

/// Logs a param on the current task (any `Serialize` value, by value or by
/// reference).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.run("r").run(|run| {
///     dn::log_param("learning_rate", 0.001);
///     dn::log_param("model", "gpt-4o");
///     assert_eq!(run.params()["model"], "gpt-4o");
/// });
/// dn::log_param("outside", 1); // no current task: warned and counted, nothing logged
/// assert!(dn::try_log_param("outside", 1).is_err());
/// ```
pub fn log_param(name: &str, value: impl Serialize) {
    on_task("log_param", |t| t.log_param(name, value))
}
/// [`log_param`], returning the error.
pub fn try_log_param(name: &str, value: impl Serialize) -> Result<()> {
    try_on_task("log_param", |t| t.try_log_param(name, value))
}

/// Logs every entry of a map-like value (a struct, a map, `json!({..})`)
/// as a param on the current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.run("r").run(|run| {
///     dn::log_params(serde_json::json!({"epochs": 3, "batch": 32}));
///     assert_eq!(run.params().len(), 2);
/// });
/// ```
pub fn log_params(params: impl Serialize) {
    on_task("log_params", |t| t.log_params(params))
}
/// [`log_params`], returning the error (a value that is not a map is one).
pub fn try_log_params(params: impl Serialize) -> Result<()> {
    try_on_task("log_params", |t| t.try_log_params(params))
}

/// Logs an input on the current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.task_span("t").run(|task| {
///     dn::log_input("rows", 250);
///     assert_eq!(task.inputs()["rows"], 250);
/// });
/// ```
pub fn log_input(name: &str, value: impl Serialize) {
    on_task("log_input", |t| t.log_input(name, value))
}
/// [`log_input`], returning the object hash or the error.
pub fn try_log_input(name: &str, value: impl Serialize) -> Result<Hash16> {
    try_on_task("log_input", |t| t.try_log_input(name, value))
}
/// Logs an input with a label and attributes on the current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.task_span("t").run(|_| dn::log_input_with("prompt", "Hi", dn::RefOptions::new().label("user prompt")));
/// ```
pub fn log_input_with(name: &str, value: impl Serialize, options: RefOptions) {
    on_task("log_input", |t| t.log_input_with(name, value, options))
}
/// [`log_input_with`], returning the object hash or the error.
pub fn try_log_input_with(name: &str, value: impl Serialize, options: RefOptions) -> Result<Hash16> {
    try_on_task("log_input", |t| t.try_log_input_with(name, value, options))
}
/// Logs every entry of a map-like value as an input on the current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.task_span("t").run(|task| {
///     dn::log_inputs(serde_json::json!({"a": 1, "b": "two"}));
///     assert_eq!(task.inputs().len(), 2);
/// });
/// ```
pub fn log_inputs(inputs: impl Serialize) {
    on_task("log_inputs", |t| t.log_inputs(inputs))
}
/// [`log_inputs`], returning the object hashes or the error.
pub fn try_log_inputs(inputs: impl Serialize) -> Result<Vec<Hash16>> {
    try_on_task("log_inputs", |t| t.try_log_inputs(inputs))
}

/// Logs an output on the current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.task_span("t").run(|task| {
///     dn::log_output("status", "ok");
///     assert_eq!(task.outputs()["status"], "ok");
/// });
/// ```
pub fn log_output(name: &str, value: impl Serialize) {
    on_task("log_output", |t| t.log_output(name, value))
}
/// Records one LLM generation on the current task — best a span of type
/// `generation` — as OpenTelemetry GenAI attributes (`gen_ai.*`), the token
/// counts as metrics and the finish reasons as an output (see
/// [`TaskSpan::log_generation`]).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.task_span("chat").span_type(dn::SpanType::Generation).run(|task| {
///     dn::log_generation(&dn::Generation::new("gpt-4o").provider("openai").input_tokens(12).output_tokens(30));
///     assert_eq!(task.metrics()["output_tokens"].values(), [30.0]);
/// });
/// ```
pub fn log_generation(generation: &Generation) {
    on_task("log_generation", |t| t.log_generation(generation))
}
/// [`log_generation`], returning the error.
pub fn try_log_generation(generation: &Generation) -> Result<()> {
    try_on_task("log_generation", |t| t.try_log_generation(generation))
}

/// [`log_output`], returning the object hash or the error.
pub fn try_log_output(name: &str, value: impl Serialize) -> Result<Hash16> {
    try_on_task("log_output", |t| t.try_log_output(name, value))
}
/// Logs an output with a label and attributes on the current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.task_span("t").run(|_| dn::log_output_with("answer", 42, dn::RefOptions::new().attribute("unit", "none")));
/// ```
pub fn log_output_with(name: &str, value: impl Serialize, options: RefOptions) {
    on_task("log_output", |t| t.log_output_with(name, value, options))
}
/// [`log_output_with`], returning the object hash or the error.
pub fn try_log_output_with(name: &str, value: impl Serialize, options: RefOptions) -> Result<Hash16> {
    try_on_task("log_output", |t| t.try_log_output_with(name, value, options))
}
/// Logs every entry of a map-like value as an output on the current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.task_span("t").run(|_| dn::log_outputs(serde_json::json!({"label": "cat", "score": 0.9})));
/// ```
pub fn log_outputs(outputs: impl Serialize) {
    on_task("log_outputs", |t| t.log_outputs(outputs))
}
/// [`log_outputs`], returning the object hashes or the error.
pub fn try_log_outputs(outputs: impl Serialize) -> Result<Vec<Hash16>> {
    try_on_task("log_outputs", |t| t.try_log_outputs(outputs))
}

/// Logs a metric on the current task; returns the stored (aggregated)
/// value, or the value given when there is no current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// use dn::{Aggregation, Metric};
/// dn.run("r").run(|_| {
///     for (step, loss) in [0.4, 0.6].into_iter().enumerate() {
///         dn::log_metric("loss", Metric::new(loss).step(step).aggregation(Aggregation::Min));
///     }
///     assert_eq!(dn::log_metric("loss", Metric::new(0.5).aggregation(Aggregation::Min)), 0.4);
/// });
/// ```
pub fn log_metric(name: &str, metric: impl Into<Metric>) -> f64 {
    let m: Metric = metric.into();
    let given = m.value();
    // By reference: logging a metric runs no user code (the value and any
    // origin were converted above), so the context may stay borrowed.
    match dn_core::with_current_task(|t| t.log_metric(name, m)) {
        Some(stored) => stored,
        None => {
            crate::instance().tracer().logging_fault(&dn_core::Error::NoActiveTask("log_metric"));
            given
        }
    }
}
/// [`log_metric`], returning the error.
pub fn try_log_metric(name: &str, metric: impl Into<Metric>) -> Result<f64> {
    try_on_task("log_metric", |t| t.try_log_metric(name, metric))
}

/// Logs several metrics with one step (any integer type) and aggregation on
/// the current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.run("r").run(|run| {
///     dn::log_metrics([("precision", 0.8), ("recall", 0.7)], 3usize, dn::Aggregation::Direct);
///     assert_eq!(run.metrics()["recall"].steps(), &[3]);
/// });
/// ```
pub fn log_metrics<I, K, V>(metrics: I, step: impl Step, aggregation: Aggregation)
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: Into<Metric>,
{
    on_task("log_metrics", |t| t.log_metrics(metrics, step, aggregation))
}
/// [`log_metrics`], returning the first error.
pub fn try_log_metrics<I, K, V>(metrics: I, step: impl Step, aggregation: Aggregation) -> Result<()>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: Into<Metric>,
{
    try_on_task("log_metrics", |t| t.try_log_metrics(metrics, step, aggregation))
}

/// Logs a sample (a child task with input, output, a link and metrics).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.run("r").run(|run| {
///     dn::log_sample("qa", "2+2?", "4", [("correct", 1.0)], 0);
///     assert_eq!(run.tasks()[0].name(), "qa");
/// });
/// ```
pub fn log_sample<M, K>(label: &str, input: impl Serialize, output: impl Serialize, metrics: M, step: impl Step)
where
    M: IntoIterator<Item = (K, f64)>,
    K: AsRef<str>,
{
    on_task("log_sample", |t| t.log_sample(label, input, output, metrics, step))
}
/// [`log_sample`], returning the error.
pub fn try_log_sample<M, K>(
    label: &str,
    input: impl Serialize,
    output: impl Serialize,
    metrics: M,
    step: impl Step,
) -> Result<()>
where
    M: IntoIterator<Item = (K, f64)>,
    K: AsRef<str>,
{
    try_on_task("log_sample", |t| t.try_log_sample(label, input, output, metrics, step))
}

/// Logs several samples under one name: `(input, output, metrics)` each.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.run("r").run(|run| {
///     dn::log_samples("qa", [("1+1", "2", vec![("ok".to_string(), 1.0)])]);
///     assert_eq!(run.tasks().len(), 1);
/// });
/// ```
pub fn log_samples<I, O, M>(name: &str, samples: impl IntoIterator<Item = (I, O, M)>)
where
    I: Serialize,
    O: Serialize,
    M: IntoIterator<Item = (String, f64)>,
{
    on_task("log_samples", |t| t.log_samples(name, samples))
}
/// [`log_samples`], returning the first error.
pub fn try_log_samples<I, O, M>(name: &str, samples: impl IntoIterator<Item = (I, O, M)>) -> Result<()>
where
    I: Serialize,
    O: Serialize,
    M: IntoIterator<Item = (String, f64)>,
{
    try_on_task("log_samples", |t| t.try_log_samples(name, samples))
}

/// Adds tags to the current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.run("r").run(|run| {
///     dn::tag(["Reviewed"]);
///     assert_eq!(run.tags(), ["reviewed"]);
/// });
/// ```
pub fn tag<I, S>(tags: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    on_task("tag", |t| t.tag(tags))
}
/// [`tag`], returning the error.
pub fn try_tag<I, S>(tags: I) -> Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    try_on_task("tag", |t| t.try_tag(tags))
}

/// Links two values on the current task (`a` was produced from `b`).
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.task_span("t").run(|_| dn::link_objects("summary", "the long text", &[]));
/// ```
pub fn link_objects(a: impl Serialize, b: impl Serialize, attributes: &[(&str, AttrValue)]) {
    on_task("link_objects", |t| t.link_objects(a, b, attributes))
}
/// [`link_objects`], returning the error.
pub fn try_link_objects(a: impl Serialize, b: impl Serialize, attributes: &[(&str, AttrValue)]) -> Result<()> {
    try_on_task("link_objects", |t| t.try_link_objects(a, b, attributes))
}

/// Writes an update span with what the current run logged since the last
/// update, and flushes (bounded by the shutdown timeout). With no current
/// run it only flushes, and warns.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _ = dn::configure(dn::Config::new().local_dir(dir.path()).isolated());
/// dn::run("long").run(|_| {
///     dn::log_metric("progress", 0.5);
///     assert!(dn::push_update().is_clean());
/// });
/// ```
pub fn push_update() -> ExportReport {
    let timeout = flush_timeout();
    match dn_core::current_run() {
        Some(run) => run.push_update(timeout),
        None => {
            crate::instance().tracer().logging_fault(&dn_core::Error::NoActiveRun("push_update"));
            crate::instance().flush()
        }
    }
}

/// [`push_update`], returning [`Error`](crate::Error) when there is no current
/// run or it has ended.
///
/// ```
/// assert!(dn::try_push_update().is_err());
/// ```
pub fn try_push_update() -> Result<ExportReport> {
    let run = dn_core::current_run().ok_or(dn_core::Error::NoActiveRun("push_update"))?;
    Ok(run.try_push_update(flush_timeout())?)
}

fn flush_timeout() -> std::time::Duration {
    crate::instance().settings().map_or(std::time::Duration::from_secs(1), |s| s.shutdown_timeout)
}

//! Free functions acting on the current task, as in the documentation.

use serde::Serialize;

use dn_core::{AttrValue, ExportReport, Hash16, Metric, RefOptions, TaskSpan};

use crate::error::Result;

fn with_task<R>(what: &'static str, f: impl FnOnce(&TaskSpan) -> dn_core::Result<R>) -> Result<R> {
    match dn_core::current_task() {
        Some(t) => Ok(f(&t)?),
        None => {
            warn_no_task(what);
            Err(dn_core::Error::NoActiveTask(what).into())
        }
    }
}

fn warn_no_task(what: &'static str) {
    static WARNED: dn_core::WarnLimit = dn_core::WarnLimit::new(20);
    WARNED.warn(format_args!("dn::{what} called with no current task; nothing was logged"));
}

/// The current run (the root task), if any.
pub fn current_run() -> Option<TaskSpan> {
    dn_core::current_run()
}
/// The innermost current task, if any.
pub fn current_task() -> Option<TaskSpan> {
    dn_core::current_task()
}

/// Logs a param on the current task.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// dn.run("r").run(|_| {
///     dn::log_param("learning_rate", &0.001).unwrap();
/// }).unwrap();
/// assert!(dn::log_param("outside", &1).is_err());
/// ```
pub fn log_param<T: Serialize + ?Sized>(name: &str, value: &T) -> Result<()> {
    with_task("log_param", |t| t.log_param(name, value))
}
/// Logs every entry of a map-like value as a param on the current task.
pub fn log_params<T: Serialize + ?Sized>(params: &T) -> Result<()> {
    with_task("log_params", |t| t.log_params(params))
}
/// Logs an input on the current task; returns its object hash.
pub fn log_input<T: Serialize + ?Sized>(name: &str, value: &T) -> Result<Hash16> {
    with_task("log_input", |t| t.log_input(name, value))
}
/// Logs an input with label/attributes on the current task.
pub fn log_input_with<T: Serialize + ?Sized>(name: &str, value: &T, meta: RefOptions) -> Result<Hash16> {
    with_task("log_input", |t| t.log_input_with(name, value, meta))
}
/// Logs every entry of a map-like value as an input on the current task.
pub fn log_inputs<T: Serialize + ?Sized>(inputs: &T) -> Result<Vec<Hash16>> {
    with_task("log_inputs", |t| t.log_inputs(inputs))
}
/// Logs an output on the current task; returns its object hash.
pub fn log_output<T: Serialize + ?Sized>(name: &str, value: &T) -> Result<Hash16> {
    with_task("log_output", |t| t.log_output(name, value))
}
/// Logs an output with label/attributes on the current task.
pub fn log_output_with<T: Serialize + ?Sized>(name: &str, value: &T, meta: RefOptions) -> Result<Hash16> {
    with_task("log_output", |t| t.log_output_with(name, value, meta))
}
/// Logs every entry of a map-like value as an output on the current task.
pub fn log_outputs<T: Serialize + ?Sized>(outputs: &T) -> Result<Vec<Hash16>> {
    with_task("log_outputs", |t| t.log_outputs(outputs))
}
/// Logs a metric on the current task; returns the stored value.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// use dn::{Aggregation, Metric};
/// dn.run("r").run(|_| {
///     dn::log_metric("loss", Metric::new(0.4).step(1)).unwrap();
///     let best = dn::log_metric("loss", Metric::new(0.6).step(2).aggregation(Aggregation::Min)).unwrap();
///     assert_eq!(best, 0.4);
/// }).unwrap();
/// ```
pub fn log_metric(name: &str, metric: impl Into<Metric>) -> Result<f64> {
    with_task("log_metric", |t| t.log_metric(name, metric))
}
/// Logs several metrics with one step and aggregation on the current task.
pub fn log_metrics<I, K, V>(metrics: I, step: i64, aggregation: dn_core::Aggregation) -> Result<()>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: Into<Metric>,
{
    with_task("log_metrics", |t| t.log_metrics(metrics, step, aggregation))
}
/// Logs a sample (a child task with input, output, link and metrics).
pub fn log_sample<I, O, M, K>(label: &str, input: &I, output: &O, metrics: M, step: i64) -> Result<()>
where
    I: Serialize + ?Sized,
    O: Serialize + ?Sized,
    M: IntoIterator<Item = (K, f64)>,
    K: AsRef<str>,
{
    with_task("log_sample", |t| t.log_sample(label, input, output, metrics, step))
}
/// Logs several samples under one name.
pub fn log_samples<I, O, M>(name: &str, samples: impl IntoIterator<Item = (I, O, M)>) -> Result<()>
where
    I: Serialize,
    O: Serialize,
    M: IntoIterator<Item = (String, f64)>,
{
    with_task("log_samples", |t| t.log_samples(name, samples))
}
/// Adds tags to the current task.
pub fn tag<I, S>(tags: I) -> Result<()>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    with_task("tag", |t| t.tag(tags))
}
/// Links two values on the current task (`a` was produced from `b`).
pub fn link_objects<A, B>(a: &A, b: &B, attributes: &[(&str, AttrValue)]) -> Result<()>
where
    A: Serialize + ?Sized,
    B: Serialize + ?Sized,
{
    with_task("link_objects", |t| t.link_objects(a, b, attributes))
}
/// Writes an update span with what the current run logged since the last
/// update, and flushes (bounded by the shutdown timeout).
pub fn push_update() -> Result<ExportReport> {
    match dn_core::current_run() {
        Some(run) => {
            let timeout =
                crate::instance().settings().map_or(std::time::Duration::from_secs(1), |s| s.shutdown_timeout);
            Ok(run.push_update(timeout)?)
        }
        None => {
            warn_no_task("push_update");
            Err(dn_core::Error::NoActiveRun("push_update").into())
        }
    }
}

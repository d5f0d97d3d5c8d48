//! # dn — experiment tracing for Rust
//!
//! Record every run, task, param, input, output, metric and artifact of your
//! evaluations, agents and training loops: always as JSONL on local disk, in
//! the format of the Dreadnode Python SDK.
//!
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! # unsafe { std::env::set_var("DREADNODE_LOCAL_DIR", dir.path()) };
//! let run = dn::run("experiment-1").tags(["baseline"]).enter();
//! dn::log_param("learning_rate", 0.001);
//! dn::task_span("data-prep").run(|task| {
//!     task.log_input("rows", 250);
//!     task.log_metric("latency_ms", dn::Metric::new(112).step(1));
//!     task.log_output("status", "ok");
//! });
//! drop(run);
//! dn::shutdown();
//! ```
//!
//! Spans come in three forms: a guard (`enter()`, ends on drop), a closure
//! (`run(|task| ..)`) and a future wrapper (`instrument(fut)`), so the
//! current task is found from sync code, across `.await`, and — with
//! [`ContextExt::in_current_context`] or [`TaskSpan::context`] — across
//! `tokio::spawn` and threads.

#[cfg(feature = "artifacts")]
mod artifacts;
mod config;
#[cfg(feature = "otlp")]
mod destinations;
mod error;
mod free;
mod instance;
#[cfg(all(feature = "otlp", feature = "artifacts"))]
pub use destinations::start_uploader;
#[cfg(feature = "otlp")]
pub use destinations::{Destinations, resolve as destinations};
#[cfg(feature = "otlp")]
pub use dn_export::platform::PlatformScope;
#[doc(hidden)]
pub mod __private {
    //! Runtime support of `#[dn::task]`; not public API.
    pub use crate::private::*;
}
mod private;
mod spawn;
#[cfg(feature = "tracing")]
mod tracing_layer;
pub use spawn::thread;
#[cfg(feature = "tokio")]
pub use spawn::{spawn, spawn_blocking};
#[cfg(feature = "tracing")]
pub use tracing_layer::{TracingLayer, tracing_layer};

#[cfg(feature = "artifacts")]
pub use artifacts::{Artifact, ArtifactRecord, log_artifact, log_artifact_named};
pub use config::{ApiKey, Config, OtlpDestination, Settings, TraceBackend};
#[cfg(all(feature = "otlp", feature = "artifacts"))]
pub use dn_artifacts::{UploadEvent, UploadReport, UploaderConfig};
pub use dn_core::Secret;
pub use error::{Error, Result};
pub use free::*;
pub use instance::{Dreadnode, configure, flush, instance, shutdown};

pub use dn_core::{
    Aggregation, AttrValue, BigInt, Context, ContextExt, DestinationReport, ExportReport, Extractor, Hash16, Injector,
    LightSpan, Metric, MetricSeries, RefOptions, RemoteParent, RunBuilder, SharedStr, SpanBuilder, SpanGuard, SpanId,
    SpanType, Status, TaskAndRunBuilder, TaskContext, TaskGuard, TaskSpan, TaskSpanBuilder, Timestamp, TraceContext,
    TraceId, TraceParent, clean_str, current_session_id, extract, inject,
};
pub use dn_core::{
    ContextGuard, Generation, ScrubMatch, Scrubbing, SpanFuture, Step, TaskFuture, TaskInputs, WithContext,
};

#[allow(deprecated)]
pub use dn_core::{ExporterReport, ObjectMeta};

/// Runs a function inside a task span, logging its arguments as inputs and
/// its return value as output.
///
/// Options: `name = ".."`, `label = ".."`, `type = "tool"` (or `Tool`),
/// `tags = [".."]`, `scorers = [f, g]`, `log_inputs = true | false | [a, b]`,
/// `log_output = true | false`, `entrypoint` (open a run when there is no
/// current task), `crate = ::path::to::dn`. Works on `async fn`, `fn`,
/// methods, generic functions and functions returning `impl Future`. A
/// function returning `Result` logs its `Ok` value; an `Err` fails the span
/// and is returned unchanged. A panic marks the span failed and continues.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _ = dn::configure(dn::Config::new().local_dir(dir.path()).isolated());
/// fn length(output: &str) -> f64 {
///     output.len() as f64 / 10.0
/// }
///
/// #[dn::task(scorers = [length])]
/// fn classify(text: &str) -> String {
///     text.to_uppercase()
/// }
///
/// dn::run("r").run(|_| assert_eq!(classify("hello"), "HELLO"));
/// ```
#[cfg(feature = "macros")]
pub use dn_macros::task;

/// The span model crate, for lower-level use (custom sinks, records).
pub use dn_core as core;
/// The export crate (pipeline, JSONL, OTel conversion).
pub use dn_export as export;

/// Starts building a run (a root task span with a fresh run id). Use it as
/// a guard (`enter`, ends when dropped), a closure (`run`) or a future
/// (`instrument`); each returns what its body returns.
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _ = dn::configure(dn::Config::new().local_dir(dir.path()).isolated());
/// let run = dn::run("experiment-1").tags(["baseline"]).param("learning_rate", 0.001).enter();
/// dn::log_metric("accuracy", 0.91);
/// assert_eq!(run.params()["learning_rate"], 0.001);
/// drop(run); // the run ends here
/// let tasks = dn::run("experiment-2").run(|run| {
///     dn::task_span("step").run(|_| ());
///     run.tasks().len()
/// });
/// assert_eq!(tasks, 1);
/// ```
pub fn run(name: impl Into<SharedStr>) -> RunBuilder {
    instance().run(name)
}
/// Starts building a task span under the current task (or as its own root).
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _ = dn::configure(dn::Config::new().local_dir(dir.path()).isolated());
/// dn::run("r").run(|_| {
///     let label = dn::task_span("classify").span_type(dn::SpanType::Tool).run(|task| {
///         task.log_input("text", "refund please");
///         task.log_output("label", "billing");
///         "billing"
///     });
///     assert_eq!(label, "billing");
/// });
/// ```
pub fn task_span(name: impl Into<SharedStr>) -> TaskSpanBuilder {
    instance().task_span(name)
}
/// Starts building a light span: timing, tags and attributes only.
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _ = dn::configure(dn::Config::new().local_dir(dir.path()).isolated());
/// dn::run("r").run(|_| {
///     let rows = dn::span("cache-warmup").attribute("cache.size", 128).run(|| 42);
///     assert_eq!(rows, 42);
/// });
/// ```
pub fn span(name: impl Into<SharedStr>) -> SpanBuilder {
    instance().span(name)
}
/// A run named `name` when none is current, with a task span inside it
/// (inside a current run, only the task span).
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _ = dn::configure(dn::Config::new().local_dir(dir.path()).isolated());
/// let run_name = dn::task_and_run("score-batch").run(|task| task.parent_task().map(|r| r.name().to_string()));
/// assert_eq!(run_name.as_deref(), Some("score-batch"), "a run was opened for the task");
/// ```
pub fn task_and_run(name: impl Into<SharedStr>) -> TaskAndRunBuilder {
    instance().task_and_run(name)
}
/// The current context, to carry into `tokio::spawn` or another thread
/// by hand (`dn::spawn` and `dn::thread::spawn` do it for you).
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _ = dn::configure(dn::Config::new().local_dir(dir.path()).isolated());
/// dn::task_span("parent").run(|task| {
///     let ctx = dn::current_context();
///     std::thread::spawn(move || ctx.in_scope(|| dn::log_metric("from_thread", 1))).join().unwrap();
///     assert!(task.metrics().contains_key("from_thread"));
/// });
/// ```
pub fn current_context() -> Context {
    Context::current()
}

/// The context of the current task, to hand to another process (serialize
/// it with serde; the JSON matches the Python SDK's dict, plus `run_id`).
/// An error outside a task.
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let _ = dn::configure(dn::Config::new().local_dir(dir.path()).isolated());
/// assert!(dn::task_context().is_err());
/// dn::task_span("parent").run(|task| {
///     let ctx = dn::task_context().unwrap();
///     assert_eq!(ctx.task_id, task.task_id());
///     assert!(ctx.to_json().contains("traceparent"));
/// });
/// ```
pub fn task_context() -> Result<TaskContext> {
    Ok(dn_core::task_context()?)
}

/// Continues a task of another process: returns a builder for its
/// `task_fragment` span (use `enter`, `run` or `instrument`). A malformed
/// context is an error.
///
/// ```no_run
/// # fn main() -> Result<(), dn::Error> {
/// let ctx = dn::TaskContext::from_json(&std::env::var("DN_TASK_CONTEXT").unwrap_or_default())?;
/// dn::continue_task(&ctx)?.run(|fragment| fragment.log_metric("remote_score", 0.88));
/// # Ok(())
/// # }
/// ```
pub fn continue_task(ctx: &TaskContext) -> Result<TaskSpanBuilder> {
    Ok(instance().tracer().continue_task(ctx)?)
}

/// Binds a session id until the guard drops: every span created meanwhile
/// carries `dreadnode.session.id` and is written to the session's file. An
/// id that could leave the local directory binds nothing and warns.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// let _session = dn::bind_session_id("session_123");
/// dn.task_span("chat:turn-1").run(|turn| assert_eq!(turn.session_id(), Some("session_123")));
/// ```
pub fn bind_session_id(id: &str) -> ContextGuard {
    dn_core::bind_session_id(id)
}

/// [`bind_session_id`], returning the error for an id that cannot be used.
///
/// ```
/// assert!(dn::try_bind_session_id("../escape").is_err());
/// ```
pub fn try_bind_session_id(id: &str) -> Result<ContextGuard> {
    Ok(dn_core::try_bind_session_id(id)?)
}

/// Wraps a future so that session `id` is bound on every poll.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// dn::with_session_id("session_123", async {
///     assert_eq!(dn::current_session_id().as_deref(), Some("session_123"));
/// }).await;
/// # });
/// ```
pub fn with_session_id<F: std::future::Future>(id: &str, fut: F) -> WithContext<F> {
    dn_core::with_session_id(id, fut)
}

/// The user guide (the pages of `docs/`), readable here and compiled as
/// doctests so its code blocks cannot go stale.
#[cfg(any(doc, doctest))]
pub mod guide {
    #[doc = include_str!("../../../docs/getting-started.md")]
    pub mod getting_started {}
    #[doc = include_str!("../../../docs/spans.md")]
    pub mod spans {}
    #[doc = include_str!("../../../docs/logging.md")]
    pub mod logging {}
    #[doc = include_str!("../../../docs/context.md")]
    pub mod context {}
    #[doc = include_str!("../../../docs/configuration.md")]
    pub mod configuration {}
    #[cfg(feature = "macros")]
    #[doc = include_str!("../../../docs/task-macro.md")]
    pub mod task_macro {}
    #[cfg(all(feature = "otlp", feature = "artifacts"))]
    #[doc = include_str!("../../../docs/artifacts.md")]
    pub mod artifacts {}
    #[doc = include_str!("../../../docs/distributed.md")]
    pub mod distributed {}
    #[doc = include_str!("../../../docs/scrubbing.md")]
    pub mod scrubbing {}
    #[cfg(feature = "tracing")]
    #[doc = include_str!("../../../docs/tracing.md")]
    pub mod tracing_bridge {}
    #[doc = include_str!("../../../docs/remote.md")]
    pub mod remote {}
    #[doc = include_str!("../../../docs/local-files.md")]
    pub mod local_files {}
    #[doc = include_str!("../../../docs/reliability.md")]
    pub mod reliability {}
    #[doc = include_str!("../../../docs/performance.md")]
    pub mod performance {}
    #[doc = include_str!("../../../docs/performance-log.md")]
    pub mod performance_log {}
    #[doc = include_str!("../../../docs/format.md")]
    pub mod format {}
}

/// The README, compiled so its code blocks are tested.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
mod readme {}

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
mod error;
mod free;
mod instance;
#[cfg(feature = "otlp")]
pub use dn_export::platform::PlatformScope;
#[doc(hidden)]
pub mod __private {
    //! Runtime support of `#[dn::task]`; not public API.
    pub use crate::private::*;
}
mod private;
mod spawn;
pub use spawn::thread;
#[cfg(feature = "tokio")]
pub use spawn::{spawn, spawn_blocking};

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
    Aggregation, AttrValue, Context, ContextExt, DestinationReport, ExportReport, Extractor, Hash16, Injector,
    LightSpan, Metric, MetricSeries, RefOptions, RemoteParent, RunBuilder, SharedStr, SpanBuilder, SpanGuard, SpanId,
    SpanType, Status, TaskAndRunBuilder, TaskContext, TaskGuard, TaskSpan, TaskSpanBuilder, Timestamp, TraceContext,
    TraceId, TraceParent, clean_str, current_session_id, extract, inject,
};
pub use dn_core::{ContextGuard, SpanFuture, Step, TaskFuture, TaskInputs, WithContext};

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

/// Starts building a run (a root task span with a fresh run id).
pub fn run(name: impl Into<SharedStr>) -> RunBuilder {
    instance().run(name)
}
/// Starts building a task span under the current task (or as its own root).
pub fn task_span(name: impl Into<SharedStr>) -> TaskSpanBuilder {
    instance().task_span(name)
}
/// Starts building a light span: timing, tags and attributes only.
pub fn span(name: impl Into<SharedStr>) -> SpanBuilder {
    instance().span(name)
}
/// A run named `name` when none is current, with a task span inside it.
pub fn task_and_run(name: impl Into<SharedStr>) -> TaskAndRunBuilder {
    instance().task_and_run(name)
}
/// The current context, to carry into `tokio::spawn` or another thread.
pub fn current_context() -> Context {
    Context::current()
}

/// The context of the current task, to hand to another process (serialize
/// it with serde; the JSON matches the Python SDK's dict, plus `run_id`).
/// An error outside a task.
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

/// The user guide in `docs/`, compiled here so its code blocks are tested.
#[cfg(doctest)]
mod user_guide {
    #[doc = include_str!("../../../docs/getting-started.md")]
    mod getting_started {}
    #[doc = include_str!("../../../docs/spans.md")]
    mod spans {}
    #[doc = include_str!("../../../docs/logging.md")]
    mod logging {}
    #[doc = include_str!("../../../docs/context.md")]
    mod context {}
    #[doc = include_str!("../../../docs/configuration.md")]
    mod configuration {}
    #[cfg(feature = "macros")]
    #[doc = include_str!("../../../docs/task-macro.md")]
    mod task_macro {}
    #[cfg(all(feature = "otlp", feature = "artifacts"))]
    #[doc = include_str!("../../../docs/artifacts.md")]
    mod artifacts_guide {}
    #[doc = include_str!("../../../docs/distributed.md")]
    mod distributed {}
    #[doc = include_str!("../../../docs/remote.md")]
    mod remote {}
    #[doc = include_str!("../../../docs/local-files.md")]
    mod local_files {}
    #[doc = include_str!("../../../docs/reliability.md")]
    mod reliability {}
    #[doc = include_str!("../../../docs/performance.md")]
    mod performance {}
    #[doc = include_str!("../../../README.md")]
    mod readme {}
}

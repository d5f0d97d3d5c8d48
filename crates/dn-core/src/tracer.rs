//! The tracer: creates spans and hands finished records to a sink.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::Error;
use crate::clean::validate_component;
use crate::record::SpanRecord;
use crate::sink::{ExportReport, NullSink, SpanSink};
use crate::span::SpanBuilder;
use crate::task::{RunBuilder, TaskAndRunBuilder, TaskInner, TaskSpanBuilder};
use crate::text::SharedStr;

/// The SDK version written as `dreadnode.version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Creates spans and sends finished ones to its sink. Cheap to clone.
///
/// ```
/// use dn_core::{MemorySink, Tracer};
/// let sink = MemorySink::new();
/// let tracer = Tracer::new(sink.clone(), "default").unwrap();
/// tracer.run("experiment").run(|run| {
///     run.log_metric("accuracy", 0.9).unwrap();
/// }).unwrap();
/// assert_eq!(sink.take().len(), 1);
/// ```
#[derive(Clone)]
pub struct Tracer {
    pub(crate) inner: Arc<TracerInner>,
}

pub(crate) struct TracerInner {
    pub(crate) sink: Arc<dyn SpanSink>,
    pub(crate) default_project: Arc<str>,
    /// Route of light spans outside any run and session.
    pub(crate) default_route: Arc<crate::record::Route>,
    open_roots: Mutex<HashMap<u64, Weak<TaskInner>>>,
    pub(crate) shut_down: AtomicBool,
    pub(crate) warnings: AtomicU64,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").field("default_project", &self.inner.default_project).finish()
    }
}

impl Tracer {
    /// A tracer writing to `sink`, with `default_project` for runs that name none.
    pub fn new(sink: impl SpanSink, default_project: &str) -> Result<Tracer, Error> {
        Self::with_sink(Arc::new(sink), default_project)
    }

    /// Like [`Tracer::new`] with a shared sink.
    pub fn with_sink(sink: Arc<dyn SpanSink>, default_project: &str) -> Result<Tracer, Error> {
        validate_component("project", default_project)?;
        Ok(Self::build(sink, default_project))
    }

    fn build(sink: Arc<dyn SpanSink>, default_project: &str) -> Tracer {
        Tracer {
            inner: Arc::new(TracerInner {
                sink,
                default_project: default_project.into(),
                default_route: Arc::new(crate::record::Route {
                    project: default_project.into(),
                    run_id: SharedStr::default(),
                    session_id: None,
                }),
                open_roots: Mutex::new(HashMap::new()),
                shut_down: AtomicBool::new(false),
                warnings: AtomicU64::new(0),
            }),
        }
    }

    /// A tracer that discards (and counts) everything.
    pub fn disabled() -> Tracer {
        Self::build(Arc::new(NullSink::default()), "default")
    }

    /// The project used by runs that do not name one.
    pub fn default_project(&self) -> &str {
        &self.inner.default_project
    }

    /// Starts building a run (a root task span with a fresh run id).
    pub fn run(&self, name: impl Into<SharedStr>) -> RunBuilder {
        RunBuilder::new(self.clone(), Some(name.into()))
    }
    /// A run with a generated `<adjective>-<noun>-<n>` name.
    pub fn run_unnamed(&self) -> RunBuilder {
        RunBuilder::new(self.clone(), None)
    }
    /// Starts building a task span under the current task (or as its own root).
    pub fn task_span(&self, name: impl Into<SharedStr>) -> TaskSpanBuilder {
        TaskSpanBuilder::new(self.clone(), name.into())
    }
    /// Starts building a light span (timing, tags, attributes only).
    pub fn span(&self, name: impl Into<SharedStr>) -> SpanBuilder {
        SpanBuilder::new(self.clone(), name.into())
    }
    /// A run named `name` when none is current, with a task span inside it.
    pub fn task_and_run(&self, name: impl Into<SharedStr>) -> TaskAndRunBuilder {
        TaskAndRunBuilder::new(self.clone(), name.into())
    }

    pub(crate) fn export(&self, record: SpanRecord) {
        self.inner.sink.export(record);
    }

    pub(crate) fn register_root(&self, task: &Arc<TaskInner>) {
        self.inner.open_roots.lock().insert(task.span_id.to_u64(), Arc::downgrade(task));
    }
    pub(crate) fn unregister_root(&self, span_id: u64) {
        self.inner.open_roots.lock().remove(&span_id);
    }

    /// Ends every task span still open (children before parents), keeping
    /// all their data. Called at shutdown so nothing logged is lost.
    pub fn end_open_spans(&self) -> usize {
        let roots: Vec<Weak<TaskInner>> = self.inner.open_roots.lock().values().cloned().collect();
        let mut ended = 0;
        for r in roots {
            if let Some(inner) = r.upgrade() {
                ended += crate::task::TaskSpan::from_inner(inner).end_tree();
            }
        }
        ended
    }

    /// Exports a run-update span (SPEC §14) for every open run that logged
    /// something since its last update; returns how many it exported. The
    /// facade calls this every few seconds so long runs are visible while
    /// they run.
    pub fn push_pending_updates(&self) -> usize {
        let roots: Vec<Weak<TaskInner>> = self.inner.open_roots.lock().values().cloned().collect();
        let mut n = 0;
        for r in roots {
            if let Some(inner) = r.upgrade() {
                let task = crate::task::TaskSpan::from_inner(inner);
                if task.is_run() {
                    if let Ok(Some(rec)) = task.take_update() {
                        self.export(rec);
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Writes everything handed over so far, waiting at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> ExportReport {
        self.inner.sink.flush(timeout)
    }

    /// Ends open spans, flushes and stops the sink.
    pub fn shutdown(&self, timeout: Duration) -> ExportReport {
        self.end_open_spans();
        self.inner.shut_down.store(true, Ordering::SeqCst);
        self.inner.sink.shutdown(timeout)
    }

    /// Emits a warning at most a few times per tracer, so a hot loop with a
    /// bad call cannot flood the log.
    pub(crate) fn warn(&self, msg: std::fmt::Arguments<'_>) {
        warn_limited(&self.inner.warnings, msg);
    }
}

/// Warns at most 20 times per counter, then once more to say it stops, so
/// a hot loop with a bad call cannot flood the log.
pub fn warn_limited(counter: &AtomicU64, msg: std::fmt::Arguments<'_>) {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    if n < 20 {
        tracing::warn!(target: "dn", "{msg}");
    } else if n == 20 {
        tracing::warn!(target: "dn", "{msg} (further dn warnings suppressed)");
    }
}

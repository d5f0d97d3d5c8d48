//! Runtime support for `#[dn::task]`. Not public API: the macro's generated
//! code calls these through `::dn::__private`.

use std::future::Future;

use serde::Serialize;

use dn_core::{AttrValue, Metric, SpanType, TaskFuture, TaskScope, TaskSpan};

pub use dn_core::Context;

/// A started `#[dn::task]` call: its task, and the run opened for it when
/// the task is an entrypoint with no current task.
pub struct Call {
    task: TaskSpan,
    run: Option<TaskSpan>,
    /// False once a future owns ending the task.
    armed: bool,
}

/// Static description of a decorated function.
pub struct Meta {
    /// Span name.
    pub name: &'static str,
    /// Label (default: the name).
    pub label: Option<&'static str>,
    /// Span type.
    pub span_type: SpanType,
    /// Tags.
    pub tags: &'static [&'static str],
    /// Open a run when there is no current task.
    pub entrypoint: bool,
    /// `code.function`.
    pub function: &'static str,
    /// `code.filepath`.
    pub file: &'static str,
    /// `code.lineno`.
    pub line: u32,
}

/// `path` with `.` and `..` components resolved lexically (`/` separators;
/// `\` read as one too): what `code.filepath` records. Leaked once per call
/// site when it changes anything, so the result is `'static`.
pub fn normalize_file(path: &'static str) -> &'static str {
    match dn_core::normalize_path(path) {
        std::borrow::Cow::Borrowed(p) => p,
        std::borrow::Cow::Owned(p) => Box::leak(p.into_boxed_str()),
    }
}

/// Starts the task (and its run, for an entrypoint with no current task).
pub fn start(meta: &Meta) -> Call {
    let tracer = crate::instance().tracer();
    let run = if meta.entrypoint { tracer.run(meta.name).start_unless_current() } else { None };
    let mut b = tracer
        .task_span(meta.name)
        .span_type(meta.span_type)
        .tags(meta.tags.iter().copied())
        .attribute_value(dn_core::keys::CODE_FUNCTION, AttrValue::Static(meta.function))
        .attribute_value(dn_core::keys::CODE_LINENO, AttrValue::Int(i64::from(meta.line)))
        .attribute_value(dn_core::keys::CODE_FILEPATH, AttrValue::Static(meta.file));
    if let Some(l) = meta.label {
        b = b.label(l);
    }
    if let Some(r) = &run {
        b = b.parent(r);
    }
    Call { task: b.start(), run, armed: true }
}

/// Values `#[dn::task]` can log as inputs and outputs.
#[diagnostic::on_unimplemented(
    message = "`#[dn::task]` cannot log `{Self}`: it does not implement `serde::Serialize`",
    label = "this argument is logged as an input",
    note = "derive or implement `serde::Serialize`, or skip the argument with `log_inputs = [..]` (or `log_inputs = false`; `log_output = false` for the return value)"
)]
pub trait Loggable {
    #[doc(hidden)]
    fn __dn_logged(&self, task: &TaskSpan, name: &str) -> dn_core::LoggedValue;
}

impl<T: Serialize + ?Sized> Loggable for T {
    fn __dn_logged(&self, task: &TaskSpan, name: &str) -> dn_core::LoggedValue {
        task.tracer().logged(self, name)
    }
}

impl Call {
    /// The task span.
    pub fn task(&self) -> &TaskSpan {
        &self.task
    }
    /// The context to enter while the body runs.
    pub fn context(&self) -> Context {
        self.task.context()
    }
    /// Logs a captured argument (`{"auto": true}`).
    pub fn input<T: Loggable + ?Sized>(&self, name: &str, value: &T) {
        let _ = self.task.log_auto_value(dn_core::Side::Input, name, value.__dn_logged(&self.task, name));
    }
    /// Ends the task (and its run) now; dropping the call does the same.
    pub fn finish(self) {}
    /// A panic in the body: mark failed, end, and let the panic continue.
    pub fn panicked(&self, message: &str) {
        let _ = self.task.record_exception("panic", message, true);
        if let Some(r) = &self.run {
            let _ = r.record_exception("panic", message, true);
        }
    }
    /// Runs an async body as the task's future: current on every poll,
    /// ended when it completes, panics or is dropped.
    pub fn instrument<F: Future>(mut self, fut: F) -> TaskFuture<F> {
        let ctx = self.task.context();
        let run = self.run.take();
        self.armed = false;
        dn_core::Instrumented::new(fut, ctx, TaskScope::new(self.task.clone(), run), None)
    }
}

impl Drop for Call {
    /// Ends the task and its run — also while a panic unwinds, which
    /// `run_sync` has already recorded on them.
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let _ = self.task.try_end();
        if let Some(r) = self.run.take() {
            let _ = r.try_end();
        }
    }
}

/// The task's inputs, for a scorer written `f(output, inputs)`.
pub fn inputs(task: &TaskSpan) -> dn_core::TaskInputs {
    task.inputs().into_iter().collect()
}

/// Logs the return value as `output` (`{"auto": true}`).
pub fn output<T: Loggable + ?Sized>(task: &TaskSpan, value: &T) {
    let _ = task.log_auto_value(dn_core::Side::Output, "output", value.__dn_logged(task, "output"));
}

/// Marks the task failed with the body's `Err`.
pub fn fail<E: std::fmt::Display + ?Sized>(task: &TaskSpan, error: &E) {
    let _ = task.record_exception(std::any::type_name::<E>(), &error.to_string(), true);
}

/// Logs a scorer's result as a metric named after it, with the output as
/// origin; a failed scorer logs 0.0 with the error and warns.
pub fn score<O: Loggable + ?Sized>(task: &TaskSpan, scorer: &str, output: &O, result: ScoreResult) {
    let origin = output.__dn_logged(task, "output").into_hashed();
    let name = dn_core::clean_str(scorer);
    match result {
        Ok(m) => {
            let _ = task.log_metric_with_origin(&name, m, origin);
        }
        Err(msg) => {
            tracing::warn!(target: "dn", "scorer {scorer} failed: {msg}; logged 0.0");
            let _ = task.log_metric_with_origin(&name, Metric::new(0.0), origin);
            let _ = task.add_event(
                dn_core::keys::EVENT_SCORER_ERROR,
                vec![
                    (dn_core::keys::SCORER_NAME.into(), AttrValue::Str(scorer.to_string())),
                    (dn_core::keys::SCORER_ERROR.into(), AttrValue::Str(msg)),
                ],
            );
        }
    }
}

/// Runs a sync body inside the call; a panic marks the task failed and
/// continues to the caller.
pub fn run_sync<R>(call: &Call, body: impl FnOnce() -> R) -> R {
    let _g = call.task().enter_context();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(p) => {
            call.panicked(&dn_core::panic_message(&*p));
            std::panic::resume_unwind(p)
        }
    }
}

/// What a scorer returned, as a metric or an error message.
pub type ScoreResult = Result<Metric, String>;

/// Values a scorer may return: numbers, bools, metrics, or a `Result` of
/// those (an `Err` logs 0.0 and a warning).
#[diagnostic::on_unimplemented(
    message = "a scorer must return a number, a bool, a `dn::Metric` or a `Result` of those, not `{Self}`"
)]
pub trait IntoScore {
    #[doc(hidden)]
    fn __dn_score(self) -> ScoreResult;
}

macro_rules! into_score {
    ($($t:ty),*) => {$(
        impl IntoScore for $t {
            fn __dn_score(self) -> ScoreResult {
                Ok(Metric::from(self))
            }
        }
    )*};
}
into_score!(f64, f32, i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, bool);

impl IntoScore for Metric {
    fn __dn_score(self) -> ScoreResult {
        Ok(self)
    }
}

impl<T: IntoScore, E: std::fmt::Display> IntoScore for Result<T, E> {
    fn __dn_score(self) -> ScoreResult {
        self.map_err(|e| e.to_string()).and_then(IntoScore::__dn_score)
    }
}

/// Wraps a scorer's return value for the sync/async dispatch below.
pub struct ScoreWrap<T>(pub T);

/// Picked (by auto-ref) when the scorer returned a future: await it.
pub trait ScoreViaFuture {
    /// The kind marker.
    fn __dn_kind(&self) -> FutureScore {
        FutureScore
    }
}
impl<F: Future> ScoreViaFuture for ScoreWrap<F> where F::Output: IntoScore {}

/// Picked when the scorer returned a value directly.
pub trait ScoreViaValue {
    /// The kind marker.
    fn __dn_kind(&self) -> ValueScore {
        ValueScore
    }
}
impl<T: IntoScore> ScoreViaValue for &ScoreWrap<T> {}

/// Marker: the scorer returned a future.
pub struct FutureScore;
/// Marker: the scorer returned a value.
pub struct ValueScore;

impl FutureScore {
    /// Awaits the scorer's future.
    pub async fn resolve<F>(self, w: ScoreWrap<F>) -> ScoreResult
    where
        F: Future,
        F::Output: IntoScore,
    {
        w.0.await.__dn_score()
    }
}

impl ValueScore {
    /// The scorer's value.
    pub async fn resolve<T: IntoScore>(self, w: ScoreWrap<T>) -> ScoreResult {
        w.0.__dn_score()
    }
    /// The scorer's value (sync tasks).
    pub fn resolve_sync<T: IntoScore>(self, w: ScoreWrap<T>) -> ScoreResult {
        w.0.__dn_score()
    }
}

/// Pins the output type of an async body block.
pub fn typed_future<T, F: Future<Output = T>>(f: F) -> F {
    f
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_paths_are_normalised_lexically() {
        use super::normalize_file as n;
        assert_eq!(n("crates/dn/../../examples/task_decorator.rs"), "examples/task_decorator.rs");
        assert_eq!(n("src/./lib.rs"), "src/lib.rs");
        assert_eq!(n("src/lib.rs"), "src/lib.rs");
        assert_eq!(n("../up/x.rs"), "../up/x.rs");
        assert_eq!(n("/abs/a/../b.rs"), "/abs/b.rs");
        assert_eq!(n("/../x.rs"), "/x.rs");
        assert_eq!(n("a\\..\\b.rs"), "b.rs");
    }
}

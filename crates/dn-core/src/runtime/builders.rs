//! The builders of task spans, runs and `task_and_run`, the guard and scope
//! that end them, and the one set of span forms (`enter`, `run`, `try_run`,
//! `instrument`, `try_instrument`) they share.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;

use crate::Error;
use crate::attrs::{AttrValue, SpanType};
use crate::capture::unknown_param_json;
use crate::clean::validate_component;
use crate::context::{ContextGuard, SpanLink};
use crate::ids::generated_run_name;
use crate::object::{CapturedValue, LoggedValue, unknown_object};
use crate::record::Key;
use crate::runtime::recycle::push_attribute;
use crate::scope::{Instrumented, OutcomeCheck, Scope, result_check, run_in_scope};
use crate::task::{NewTask, Parent, TaskSpan};
use crate::task_data::Side;
use crate::text::SharedStr;
use crate::tracer::Tracer;

/// Ends its task (and the run opened with it, for `task_and_run`) when
/// closed. Used by the closure and future forms.
#[doc(hidden)]
pub struct TaskScope {
    task: TaskSpan,
    outer: Option<TaskSpan>,
}

impl TaskScope {
    /// A scope ending `task`, then `outer` (a run opened for it, if any).
    pub fn new(task: TaskSpan, outer: Option<TaskSpan>) -> Self {
        TaskScope { task, outer }
    }
}

impl Scope for TaskScope {
    fn fail(&mut self, type_name: &str, message: &str, escaped: bool) {
        let _ = self.task.record_exception(type_name, message, escaped);
        if let Some(o) = &self.outer {
            let _ = o.record_exception(type_name, message, escaped);
        }
    }
    fn close(self) {
        let _ = self.task.try_end();
        if let Some(o) = &self.outer {
            let _ = o.try_end();
        }
    }
}

/// The future form of a task span: see [`TaskSpanBuilder::instrument`].
pub type TaskFuture<F> = Instrumented<F, TaskScope>;

/// Keeps a task current on this thread and ends it on drop. Dereferences to
/// the [`TaskSpan`]. A panic while the guard is alive marks the task failed.
/// Like [`ContextGuard`] it cannot move to another thread:
///
/// ```compile_fail,E0277
/// # let tracer = dn_core::Tracer::disabled();
/// let guard = tracer.task_span("t").enter();
/// std::thread::spawn(move || drop(guard));
/// ```
#[must_use = "the task ends as soon as the guard is dropped"]
pub struct TaskGuard {
    task: TaskSpan,
    outer: Option<TaskSpan>,
    _ctx: ContextGuard,
}

impl TaskGuard {
    fn new(task: TaskSpan, outer: Option<TaskSpan>) -> Self {
        let ctx = crate::context::enter_task(&task);
        TaskGuard { task, outer, _ctx: ctx }
    }
    /// The task span (also reachable through `Deref`).
    pub fn task(&self) -> &TaskSpan {
        &self.task
    }
}

impl std::ops::Deref for TaskGuard {
    type Target = TaskSpan;
    fn deref(&self) -> &TaskSpan {
        &self.task
    }
}

impl std::fmt::Debug for TaskGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TaskGuard").field(&self.task).finish()
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let mut scope = TaskScope::new(self.task.clone(), self.outer.take());
        if std::thread::panicking() {
            scope.fail("panic", "the thread panicked while the task was open", true);
        }
        scope.close();
    }
}

/// The span forms, written once for the three task builders. Each builder
/// has a `begin(self) -> (task, run opened for it)`; these methods start it
/// and close it the way their name says. Every form returns what its body
/// returns (or the future): starting cannot fail — a bad option was already
/// warned about and replaced by its default (see the builders' `try_start`).
macro_rules! task_forms {
    () => {
        /// Starts the span and makes it current until the guard drops.
        pub fn enter(self) -> TaskGuard {
            let (task, outer) = self.begin();
            TaskGuard::new(task, outer)
        }
        /// Runs `f` inside the span; a panic marks it failed and continues.
        pub fn run<R>(self, f: impl FnOnce(&TaskSpan) -> R) -> R {
            let (task, outer) = self.begin();
            run_form(task, outer, None, f)
        }
        /// Like `run` for a body returning `Result`: `Err` fails the span
        /// and is returned unchanged.
        pub fn try_run<T, E: std::fmt::Display>(self, f: impl FnOnce(&TaskSpan) -> Result<T, E>) -> Result<T, E> {
            let (task, outer) = self.begin();
            run_form(task, outer, Some(result_check::<T, E>), f)
        }
        /// Runs a future inside the span: current on every poll, ended when
        /// the future completes, panics or is dropped.
        pub fn instrument<F: Future>(self, fut: F) -> TaskFuture<F> {
            let (task, outer) = self.begin();
            Instrumented::new(fut, task.context(), TaskScope::new(task, outer), None)
        }
        /// Like `instrument` for a future returning `Result`: `Err` fails the span.
        pub fn try_instrument<F, T, E>(self, fut: F) -> TaskFuture<F>
        where
            F: Future<Output = Result<T, E>>,
            E: std::fmt::Display,
        {
            let (task, outer) = self.begin();
            Instrumented::new(fut, task.context(), TaskScope::new(task, outer), Some(result_check::<T, E>))
        }
    };
}

fn run_form<R>(
    task: TaskSpan,
    outer: Option<TaskSpan>,
    check: Option<OutcomeCheck<R>>,
    f: impl FnOnce(&TaskSpan) -> R,
) -> R {
    let _ctx = crate::context::enter_task(&task);
    run_in_scope(TaskScope::new(task, outer), check, |scope| f(&scope.task))
}

/// Builds a task span: `dn::task_span("name")`.
#[must_use = "a builder does nothing until started: call .enter(), .run(..) or .instrument(..)"]
pub struct TaskSpanBuilder {
    tracer: Tracer,
    new: NewTask,
}

impl TaskSpanBuilder {
    pub(crate) fn new(tracer: Tracer, name: SharedStr) -> Self {
        TaskSpanBuilder { tracer, new: NewTask::task(name) }
    }
    /// A label (default: the name); cleaned with `clean_str`.
    #[inline]
    pub fn label(mut self, label: impl Into<SharedStr>) -> Self {
        self.new.label = Some(label.into());
        self
    }
    /// The span type (default `task`).
    #[inline]
    pub fn span_type(mut self, t: SpanType) -> Self {
        self.new.span_type = t;
        self
    }
    /// Tags (cleaned, de-duplicated).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.new.tags.extend(tags.into_iter().map(Into::into));
        self
    }
    /// An attribute set at start.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        push_attribute(&mut self.new.attributes, Key::from(key.into()), AttrValue::from_serialize(&value));
        self
    }
    /// An attribute set at start, given as a ready value with a static key.
    #[inline]
    pub fn attribute_value(mut self, key: &'static str, value: AttrValue) -> Self {
        push_attribute(&mut self.new.attributes, Key::Borrowed(key), value);
        self
    }
    /// Attaches under `parent` instead of the current task.
    #[inline]
    pub fn parent(mut self, parent: &TaskSpan) -> Self {
        self.new.parent = Parent::Task(parent.clone());
        self
    }
    /// Attaches under a span of another process, in run `run_id` of
    /// `project` (used to continue a task).
    pub fn remote_parent(mut self, link: SpanLink, run_id: &str, project: &str) -> Result<Self, Error> {
        validate_component("run id", run_id)?;
        validate_component("project", project)?;
        self.new.parent = Parent::Remote { link, run_id: run_id.to_string().into(), project: project.into() };
        Ok(self)
    }
    /// Starts the span without making it current.
    pub fn start(self) -> TaskSpan {
        TaskSpan::create(&self.tracer, self.new)
    }
    fn begin(self) -> (TaskSpan, Option<TaskSpan>) {
        (self.start(), None)
    }
    task_forms!();
}

/// Params and inputs given to a builder, logged when the span starts.
/// A value captured when the builder was given it, or the type name of one
/// that failed to serialize.
type Captured = Result<CapturedValue, &'static str>;

fn capture<T: Serialize>(value: &T) -> Captured {
    CapturedValue::capture(value).map_err(|_| std::any::type_name::<T>())
}

#[derive(Default)]
struct Initial {
    params: Vec<(String, Captured)>,
    inputs: Vec<(String, Captured)>,
}

impl Initial {
    fn param(&mut self, name: String, value: impl Serialize) {
        self.params.push((name, capture(&value)));
    }
    fn input(&mut self, name: String, value: impl Serialize) {
        self.inputs.push((name, capture(&value)));
    }
    /// Logs them on `task`, which has just started (so cannot have ended),
    /// scrubbed by its tracer's scrubber.
    fn apply(self, task: &TaskSpan) {
        let tracer = task.tracer();
        let params: Vec<(String, String)> = self
            .params
            .into_iter()
            .map(|(k, v)| {
                let json = match v {
                    Ok(mut v) => {
                        tracer.scrub_value(&k, &mut v);
                        v.to_json()
                    }
                    Err(type_name) => unknown_param_json(type_name),
                };
                (k, json)
            })
            .collect();
        let r = task.with_open(|st| {
            let data = &mut st.data;
            let keys: Vec<String> = params.iter().map(|(k, _)| k.clone()).collect();
            for (k, v) in params {
                data.params.insert(k, v);
            }
            st.mark().dirty_params.extend(keys);
        });
        task.or_fault(r);
        for (k, v) in self.inputs {
            let value = match v {
                Ok(mut v) => {
                    tracer.scrub_value(&k, &mut v);
                    v.into_logged()
                }
                Err(type_name) => LoggedValue::Hashed(unknown_object(type_name)),
            };
            task.or_fault(task.log_value_as(Side::Input, &k, value, None, None));
        }
    }
}

/// Builds a run: `dn::run("name")`.
#[must_use = "a builder does nothing until started: call .enter(), .run(..) or .instrument(..)"]
pub struct RunBuilder {
    tracer: Tracer,
    name: Option<SharedStr>,
    /// The project, or why the one given cannot be used.
    project: Option<Result<Arc<str>, Error>>,
    tags: Vec<String>,
    attributes: Vec<(Key, AttrValue)>,
    initial: Initial,
}

impl RunBuilder {
    pub(crate) fn new(tracer: Tracer, name: Option<SharedStr>) -> Self {
        RunBuilder { tracer, name, project: None, tags: vec![], attributes: vec![], initial: Initial::default() }
    }
    /// The project key (default: the configured project). A key that could
    /// leave the local directory is refused when the run starts: `try_start`
    /// returns the error, the other forms warn and use the configured project.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        let p: String = project.into();
        self.project = Some(validate_component("project", &p).map(|()| Arc::from(p)));
        self
    }
    /// Tags (cleaned, de-duplicated).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }
    /// A param logged at start (any `Serialize` value, by value or reference).
    pub fn param(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        self.initial.param(name.into(), value);
        self
    }
    /// An input logged at start.
    pub fn input(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        self.initial.input(name.into(), value);
        self
    }
    /// An attribute set at start.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        push_attribute(&mut self.attributes, Key::from(key.into()), AttrValue::from_serialize(&value));
        self
    }
    /// Starts the run without making it current; a project that cannot be
    /// used is [`Error::InvalidInput`] and nothing starts.
    pub fn try_start(self) -> Result<TaskSpan, Error> {
        if let Some(Err(e)) = &self.project {
            return Err(e.clone());
        }
        Ok(self.start())
    }
    /// Starts the run without making it current. A project that cannot be
    /// used is warned about (and counted as a logging fault); the run goes to
    /// the configured project.
    pub fn start(self) -> TaskSpan {
        let project = match self.project {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                self.tracer.logging_fault(&e);
                None
            }
            None => None,
        };
        let name = self.name.unwrap_or_else(|| generated_run_name().into());
        let run = TaskSpan::create(
            &self.tracer,
            NewTask { tags: self.tags, attributes: self.attributes, is_run: true, project, ..NewTask::task(name) },
        );
        self.initial.apply(&run);
        run
    }
    /// The one rule of the forms that open a run of their own
    /// (`task_and_run`, an entrypoint `#[dn::task]`): starts this run only
    /// when no run is current, and returns it; `None` when one is current.
    /// (`continue_task` never opens one: its fragment belongs to the remote
    /// task's run.)
    pub fn start_unless_current(self) -> Option<TaskSpan> {
        if crate::context::current_run().is_some() {
            return None;
        }
        if crate::context::pick_current(|c| c.span).is_none() {
            self.tracer.check_lost_context("run", self.name.as_deref().unwrap_or(""));
        }
        Some(self.start())
    }
    fn begin(self) -> (TaskSpan, Option<TaskSpan>) {
        (self.start(), None)
    }
    task_forms!();
}

/// Builds `task_and_run`: a run named `name` when none is current, with a
/// task span inside it (or just the task span inside the current run).
#[must_use = "a builder does nothing until started: call .enter(), .run(..) or .instrument(..)"]
pub struct TaskAndRunBuilder {
    run: RunBuilder,
    task_name: Option<SharedStr>,
    task_type: SpanType,
    task_tags: Vec<String>,
    initial: Initial,
}

impl TaskAndRunBuilder {
    pub(crate) fn new(tracer: Tracer, name: SharedStr) -> Self {
        TaskAndRunBuilder {
            run: RunBuilder::new(tracer, Some(name)),
            task_name: None,
            task_type: SpanType::Task,
            task_tags: vec![],
            initial: Initial::default(),
        }
    }
    /// The task's name (default: the run name).
    pub fn task_name(mut self, name: impl Into<SharedStr>) -> Self {
        self.task_name = Some(name.into());
        self
    }
    /// The task's type.
    pub fn task_type(mut self, t: SpanType) -> Self {
        self.task_type = t;
        self
    }
    /// The run's project (see [`RunBuilder::project`]).
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.run = self.run.project(project);
        self
    }
    /// Tags of the task.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.task_tags.extend(tags.into_iter().map(Into::into));
        self
    }
    /// A param logged on the task.
    pub fn param(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        self.initial.param(name.into(), value);
        self
    }
    /// An input logged on the task.
    pub fn input(mut self, name: impl Into<String>, value: impl Serialize) -> Self {
        self.initial.input(name.into(), value);
        self
    }
    /// Starts both (or only the task) without making them current; returns
    /// `(task, run opened here)`. A project that cannot be used is an error.
    pub fn try_start(self) -> Result<(TaskSpan, Option<TaskSpan>), Error> {
        if let Some(Err(e)) = &self.run.project {
            return Err(e.clone());
        }
        Ok(self.start())
    }
    /// Starts both (or only the task) without making them current; returns
    /// `(task, run opened here)`.
    pub fn start(self) -> (TaskSpan, Option<TaskSpan>) {
        let tracer = self.run.tracer.clone();
        let name = self.task_name.unwrap_or_else(|| self.run.name.clone().unwrap_or_default());
        let run = self.run.start_unless_current();
        let mut b = TaskSpanBuilder::new(tracer, name).span_type(self.task_type).tags(self.task_tags);
        if let Some(r) = &run {
            b = b.parent(r);
        }
        let task = b.start();
        self.initial.apply(&task);
        (task, run)
    }
    fn begin(self) -> (TaskSpan, Option<TaskSpan>) {
        self.start()
    }
    task_forms!();
}

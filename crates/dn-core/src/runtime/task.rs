//! The task span handle: its identity, its state while open, what can be
//! read back from it, and how it ends. Logging lives in `logging.rs`, the
//! builders and guards in `builders.rs`.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use indexmap::IndexMap;
use parking_lot::Mutex;

use crate::Error;
use crate::attrs::{AttrValue, SpanType};
use crate::builders::TaskScope;
use crate::clean::{clean_shared, normalize_name};
use crate::context::{Context, ContextGuard, SpanLink};
use crate::ids::{SpanId, TraceId, new_run_id_shared, new_task_id_shared, task_id_bytes_for};
use crate::metric::MetricSeries;
use crate::readback::TaskView;
use crate::record::{Event, Key, RecordKind, Route, SpanRecord, Status, TaskGroups};
use crate::runtime::recycle;
use crate::scope::Instrumented;
use crate::sink::ExportReport;
use crate::task_data::TaskData;
use crate::text::SharedStr;
use crate::time::Timestamp;
use crate::tracer::Tracer;
use crate::update::UpdateMark;

/// A task span (runs are task spans too). A cheap, clonable, `Send + Sync`
/// handle: clones refer to the same span.
///
/// ```
/// # mod dn { pub use dn_core::*; pub fn run(n: &'static str) -> RunBuilder { Tracer::disabled().run(n) } pub fn task_span(n: &'static str) -> TaskSpanBuilder { Tracer::disabled().task_span(n) } }
/// # use dn_core::{MemorySink, Tracer, Metric, Aggregation};
/// let run = dn::run("training").start();
/// run.log_param("lr", 0.001);
/// run.log_metric("loss", Metric::new(0.5).step(1).aggregation(Aggregation::Min));
/// assert!(run.active());
/// run.end();
/// assert!(!run.active());
/// ```
#[derive(Clone)]
pub struct TaskSpan(pub(crate) Arc<TaskInner>);

pub(crate) struct TaskInner {
    pub(crate) tracer: Tracer,
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) parent_span: Option<SpanId>,
    pub(crate) parent_remote: bool,
    /// A run's or a root task's id, set as it starts; a task under a parent
    /// derives its own from its trace and span ids (`task_id_bytes_for`)
    /// when first asked: most are never asked, and making the dashed uuid
    /// was about 230 instructions of every task span's start.
    pub(crate) task_id: OnceLock<TaskId>,
    pub(crate) name: SharedStr,
    pub(crate) label: SharedStr,
    pub(crate) span_type: SpanType,
    /// Project, run id and session: shared with every child in the same
    /// session and with every record, by one reference count.
    pub(crate) route: Arc<Route>,
    pub(crate) parent_task: Option<Weak<TaskInner>>,
    pub(crate) parent_task_span: Option<SpanId>,
    /// The run this task belongs to (None for roots, which are their own run).
    pub(crate) run: Option<Weak<TaskInner>>,
    pub(crate) is_root: bool,
    /// Registered with the tracer because its parent ended while it was
    /// still open (so shutdown still finds and writes it).
    pub(crate) orphan: std::sync::atomic::AtomicBool,
    pub(crate) is_run: bool,
    /// This task's index in its parent's `children`.
    pub(crate) slot: u32,
    /// Set for a task read back from its line (see `ended.rs`): where the
    /// line is, to read its data and children when asked.
    pub(crate) line: Option<Box<LineAt>>,
    pub(crate) start: Timestamp,
    pub(crate) state: Mutex<TaskState>,
}

#[derive(Default)]
pub(crate) struct TaskState {
    pub(crate) end: Option<Timestamp>,
    pub(crate) status: Status,
    /// What it logged so far: held here, not behind a shared pointer (that
    /// was one more allocation and an atomic check per logging call); a
    /// view of an open task copies it.
    pub(crate) data: TaskData,
    /// Set at end: the groups its record carries, rendered or the data to
    /// render (shared with the record; `data` is emptied).
    pub(crate) finished: Option<TaskGroups>,
    pub(crate) tags: Vec<String>,
    /// User attributes (a `#[dn::task]` call's `code.*` among them: held
    /// here, not boxed with the rarer extras, which cost an allocation).
    pub(crate) attributes: Vec<(Key, AttrValue)>,
    /// Attribute keys set after start, and events: rare, so boxed.
    pub(crate) extras: Option<Box<Extras>>,
    pub(crate) children: Vec<Child>,
    pub(crate) mark: Option<Box<UpdateMark>>,
}

/// A child task as its parent keeps it: whole while open; once it has ended
/// and its record has gone to a sink with a local root, only its span id —
/// and its route (which file its line is in) when that is not its
/// parent's — for `TaskSpan::tasks` to read it back. 16 bytes: a run of
/// 1 000 000 tasks keeps 16 MB of them, where an id and a route were 24 MB.
#[derive(Clone)]
pub(crate) enum Child {
    Open(TaskSpan),
    /// Ended, its line in its parent's file.
    Ended(SpanId),
    /// Ended, its line elsewhere (a child under another session).
    EndedElsewhere(Box<(SpanId, Arc<Route>)>),
}

#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) late_keys: Vec<String>,
    pub(crate) events: Vec<Event>,
}

impl TaskState {
    pub(crate) fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Default::default)
    }
    pub(crate) fn mark(&mut self) -> &mut UpdateMark {
        self.mark.get_or_insert_with(Default::default)
    }
}

/// Where a task read back from its line was written (see `ended.rs`).
pub(crate) struct LineAt {
    pub(crate) file: Arc<std::path::Path>,
    pub(crate) offset: u64,
}

/// Where a new task span attaches.
#[derive(Clone)]
pub(crate) enum Parent {
    /// Under whatever is current.
    Current,
    /// Under a given task.
    Task(TaskSpan),
    /// Under a span in another process (continued task).
    Remote { link: SpanLink, run_id: SharedStr, project: Arc<str> },
}

pub(crate) struct NewTask {
    pub name: SharedStr,
    pub label: Option<SharedStr>,
    pub span_type: SpanType,
    pub tags: Vec<String>,
    pub attributes: Vec<(Key, AttrValue)>,
    pub is_run: bool,
    pub project: Option<Arc<str>>,
    pub parent: Parent,
    pub session: Option<Option<Arc<str>>>,
}

impl NewTask {
    /// A task span named `name` under whatever is current, with no options.
    pub(crate) fn task(name: SharedStr) -> NewTask {
        NewTask {
            name,
            label: None,
            span_type: SpanType::Task,
            tags: vec![],
            attributes: vec![],
            is_run: false,
            project: None,
            parent: Parent::Current,
            session: None,
        }
    }
}

impl TaskSpan {
    /// The task's route, or a copy of it with another session.
    pub(crate) fn route_with_session(&self, session: Option<Arc<str>>) -> Arc<Route> {
        if self.0.route.session_id == session {
            self.0.route.clone()
        } else {
            recycle::route(Route { session_id: session, ..Route::clone(&self.0.route) })
        }
    }

    pub(crate) fn from_inner(inner: Arc<TaskInner>) -> Self {
        TaskSpan(inner)
    }

    pub(crate) fn create(tracer: &Tracer, mut n: NewTask) -> TaskSpan {
        if normalize_name(&mut n.name) {
            tracer.warn(format_args!("span name was empty or over {} bytes; it was normalised", crate::MAX_NAME_LEN));
        }
        // Only what a new task needs from the current context (not the run).
        let (cur_task, cur_span, cur_session) =
            crate::context::pick_current(|c| Some((c.task.cloned(), c.span, c.session.cloned()))).unwrap_or_default();
        let session = n.session.take().unwrap_or(cur_session);
        let (parent_task, link): (Option<TaskSpan>, Option<SpanLink>) = match (&n.parent, n.is_run) {
            (_, true) => (None, None),
            (Parent::Current, false) => {
                if cur_task.is_none() && cur_span.is_none() {
                    tracer.check_lost_context("task span", &n.name);
                }
                (cur_task, cur_span)
            }
            (Parent::Task(t), false) => (Some(t.clone()), Some(t.link())),
            (Parent::Remote { link, .. }, false) => (None, Some(*link)),
        };
        let span_id = SpanId::random();
        let trace_id = link.map_or_else(TraceId::random, |l| l.trace_id);
        let new_route = |project: Arc<str>, run_id: SharedStr| {
            recycle::route(Route { project, run_id, session_id: session.clone() })
        };
        let (task_id, route, run, is_root): (OnceLock<TaskId>, Arc<Route>, Option<Weak<TaskInner>>, bool) = if n.is_run
        {
            let id = new_run_id_shared();
            let project = n.project.clone().unwrap_or_else(|| tracer.inner.default_project.clone());
            (OnceLock::from(TaskId::new(&id)), new_route(project, id), None, true)
        } else if let Some(p) = &parent_task {
            let run = p.0.run.clone().or_else(|| Some(Arc::downgrade(&p.0)));
            let route = if p.0.route.session_id == session {
                p.0.route.clone()
            } else {
                new_route(p.0.route.project.clone(), p.0.route.run_id.clone())
            };
            (OnceLock::new(), route, run, false)
        } else if let Parent::Remote { run_id, project, .. } = &n.parent {
            (OnceLock::new(), new_route(project.clone(), run_id.clone()), None, true)
        } else {
            let id = new_task_id_shared();
            let project = n.project.clone().unwrap_or_else(|| tracer.inner.default_project.clone());
            (OnceLock::from(TaskId::new(&id)), new_route(project, id), None, true)
        };
        let label = if n.is_run {
            SharedStr::default()
        } else {
            let source = n.label.as_ref().unwrap_or(&n.name);
            match tracer.scrubbed(source) {
                std::borrow::Cow::Borrowed(_) => clean_shared(source),
                std::borrow::Cow::Owned(s) => clean_shared(&SharedStr::from(s)),
            }
        };
        let mut tags = Vec::new();
        tracer.clean_tags(&mut tags, &n.tags);
        // The parent's lock is held across the push so the slot is this
        // task's index in its children.
        let mut parent_state = parent_task.as_ref().map(|p| p.0.state.lock());
        let slot = parent_state.as_ref().map_or(0, |st| u32::try_from(st.children.len()).unwrap_or(u32::MAX));
        let inner = Arc::new(TaskInner {
            tracer: tracer.clone(),
            trace_id,
            span_id,
            parent_span: link.map(|l| l.span_id),
            parent_remote: link.is_some_and(|l| l.remote),
            task_id,
            name: n.name,
            label,
            span_type: n.span_type,
            route,
            parent_task: parent_task.as_ref().map(|p| Arc::downgrade(&p.0)),
            parent_task_span: parent_task.as_ref().map(|p| p.0.span_id),
            run,
            is_root,
            orphan: std::sync::atomic::AtomicBool::new(false),
            is_run: n.is_run,
            slot,
            line: None,
            start: Timestamp::now(),
            state: Mutex::new(TaskState { tags, attributes: n.attributes, ..Default::default() }),
        });
        let task = TaskSpan(inner);
        if let Some(st) = parent_state.as_mut() {
            st.children.push(Child::Open(task.clone()));
        }
        drop(parent_state);
        if is_root {
            tracer.register_root(&task.0);
        }
        task
    }

    pub(crate) fn link(&self) -> SpanLink {
        SpanLink { trace_id: self.0.trace_id, span_id: self.0.span_id, remote: false }
    }

    /// A context in which this task is the current task (and its run the
    /// current run). Enter it on another thread to log there.
    pub fn context(&self) -> Context {
        let run = match self.0.run.as_ref().and_then(Weak::upgrade) {
            Some(r) => Some(TaskSpan(r)),
            None => Some(self.clone()),
        };
        Context {
            span: Some(self.link()),
            task: Some(self.clone()),
            run,
            session: self.0.route.session_id.clone(),
            frame: crate::context::Frame::Full,
        }
    }

    /// The run's shared state this task belongs to (`None` for a run):
    /// compared by address with [`TaskSpan::inner_ptr`], never dereferenced.
    pub(crate) fn run_ptr(&self) -> Option<*const TaskInner> {
        self.0.run.as_ref().map(Weak::as_ptr)
    }
    /// This task's shared state, by address.
    pub(crate) fn inner_ptr(&self) -> *const TaskInner {
        Arc::as_ptr(&self.0)
    }

    /// Makes this task current until the guard drops; the guard does not end
    /// the task (use [`TaskSpanBuilder::enter`](crate::TaskSpanBuilder::enter) for that).
    pub fn enter_context(&self) -> ContextGuard {
        crate::context::enter_task(self)
    }

    /// Runs this already-started task's body as a future: current on every
    /// poll, ended when the future completes or is dropped.
    pub fn instrument<F: Future>(self, fut: F) -> Instrumented<F, TaskScope> {
        let ctx = self.context();
        Instrumented::new(fut, ctx, TaskScope::new(self, None), None)
    }

    // ----- identity -------------------------------------------------------

    /// The tracer that made this task (its spans go to the same sink).
    pub fn tracer(&self) -> &Tracer {
        &self.0.tracer
    }
    /// Task id (the run id for runs; a dashed uuid for other tasks).
    pub fn task_id(&self) -> &str {
        let inner = &*self.0;
        inner.task_id.get_or_init(|| TaskId::from_bytes(task_id_bytes_for(inner.trace_id, inner.span_id))).as_str()
    }
    /// The run id (`root_id` in the Python SDK).
    pub fn run_id(&self) -> &str {
        &self.0.route.run_id
    }
    /// Same as [`TaskSpan::run_id`].
    pub fn root_id(&self) -> &str {
        &self.0.route.run_id
    }
    /// Span id.
    pub fn span_id(&self) -> SpanId {
        self.0.span_id
    }
    /// Trace id.
    pub fn trace_id(&self) -> TraceId {
        self.0.trace_id
    }
    /// Parent span id (OTel parent), if any.
    pub fn parent_span_id(&self) -> Option<SpanId> {
        self.0.parent_span
    }
    /// Span name.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    /// Cleaned label (`""` for runs).
    pub fn label(&self) -> &str {
        &self.0.label
    }
    /// Span type.
    pub fn span_type(&self) -> SpanType {
        self.0.span_type
    }
    /// Project key.
    pub fn project(&self) -> &str {
        &self.0.route.project
    }
    /// Session id the task was created under.
    pub fn session_id(&self) -> Option<&str> {
        self.0.route.session_id.as_deref()
    }
    /// Where this task's records are written (project, run id, session).
    pub fn route(&self) -> Arc<Route> {
        self.0.route.clone()
    }
    /// Whether this is a run (made by `run()`).
    pub fn is_run(&self) -> bool {
        self.0.is_run
    }
    /// Span id of the parent task, if any.
    pub fn parent_task_id(&self) -> Option<SpanId> {
        self.0.parent_task_span
    }
    /// The parent task, while it is alive.
    pub fn parent_task(&self) -> Option<TaskSpan> {
        self.0.parent_task.as_ref().and_then(Weak::upgrade).map(TaskSpan)
    }
    /// Start time.
    pub fn start_time(&self) -> std::time::SystemTime {
        self.0.start.to_system_time()
    }

    // ----- live properties ------------------------------------------------

    /// Whether the task has not ended yet.
    pub fn active(&self) -> bool {
        self.0.state.lock().end.is_none()
    }
    /// Whether the task failed (error or panic).
    pub fn failed(&self) -> bool {
        matches!(self.0.state.lock().status, Status::Error(_))
    }
    /// The current status.
    pub fn status(&self) -> Status {
        self.0.state.lock().status.clone()
    }
    /// Time since start while open; fixed once ended.
    pub fn duration(&self) -> Duration {
        let end = self.0.state.lock().end.unwrap_or_else(Timestamp::now);
        end.since(self.0.start)
    }
    /// End time, once ended.
    pub fn end_time(&self) -> Option<std::time::SystemTime> {
        self.0.state.lock().end.map(Timestamp::to_system_time)
    }
    /// Tags.
    pub fn tags(&self) -> Vec<String> {
        self.0.state.lock().tags.clone()
    }
    /// What the task logged, as it stands (see [`TaskView`]).
    pub fn view(&self) -> TaskView {
        if let Some(line) = &self.0.line {
            return TaskView::Rendered(line.rendered());
        }
        let st = self.0.state.lock();
        match &st.finished {
            Some(TaskGroups::Rendered(r)) => TaskView::Rendered(r.clone()),
            Some(TaskGroups::Data(d)) => TaskView::Data(d.clone()),
            None => TaskView::Data(Arc::new(st.data.clone())),
        }
    }
    /// Params as JSON values.
    pub fn params(&self) -> IndexMap<String, serde_json::Value> {
        self.view().params()
    }
    /// Inputs by name (the last value logged under each name).
    pub fn inputs(&self) -> IndexMap<String, serde_json::Value> {
        self.view().inputs()
    }
    /// Outputs by name.
    pub fn outputs(&self) -> IndexMap<String, serde_json::Value> {
        self.view().outputs()
    }
    /// Metric series by name.
    pub fn metrics(&self) -> IndexMap<String, MetricSeries> {
        self.view().metrics()
    }
    // ----- ending -----------------------------------------------------------

    /// Ends the task and hands its record to the sink.
    ///
    /// A task also ends when its guard, closure or future finishes, and —
    /// written with everything logged — when its last handle is dropped or
    /// the SDK shuts down. Ending twice writes nothing more: `end` warns and
    /// counts it as a logging fault, [`TaskSpan::try_end`] returns the error.
    pub fn end(&self) {
        self.or_fault(self.try_end())
    }

    /// [`TaskSpan::end`], returning [`Error::SpanEnded`] when it had ended.
    pub fn try_end(&self) -> Result<(), Error> {
        let rec = {
            let mut st = self.0.state.lock();
            if st.end.is_some() {
                return Err(Error::SpanEnded(self.0.name.to_string()));
            }
            let now = Timestamp::now();
            st.end = Some(now);
            let open_children = open_children(&st);
            (self.0.build_record(&mut st, now), open_children)
        };
        let (rec, children) = rec;
        self.0.unregister();
        // Children still open when their parent ends (a worker thread still
        // inside a task when the run ends, a leaked handle): the tracer
        // tracks them now, so shutdown writes them with their data.
        for c in children {
            if c.active() && !c.0.orphan.swap(true, std::sync::atomic::Ordering::Relaxed) {
                self.0.tracer.register_root(&c.0);
                if !c.active() {
                    // It ended meanwhile (and may have missed the registration).
                    self.0.tracer.unregister_root(c.0.span_id.to_u64(), c.0.is_run);
                }
            }
        }
        self.0.tracer.export(rec);
        // Only now (the record is with the sink) may the parent forget it.
        self.0.release_from_parent();
        Ok(())
    }

    /// Ends this task and every open descendant (children first). Returns how
    /// many spans it ended.
    pub fn end_tree(&self) -> usize {
        let mut n = 0;
        let children = open_children(&self.0.state.lock());
        for c in children {
            n += c.end_tree();
        }
        n + usize::from(self.try_end().is_ok())
    }

    /// `push_update` for a run: writes an update span with what was logged
    /// since the last update (if anything) and flushes the sink, waiting at
    /// most `timeout`. On an ended run it only flushes (and counts a fault).
    pub fn push_update(&self, timeout: Duration) -> ExportReport {
        if let Some(rec) = self.or_fault(self.take_update()) {
            self.0.tracer.export(rec);
        }
        self.0.tracer.flush(timeout)
    }

    /// [`TaskSpan::push_update`], returning [`Error::SpanEnded`] (and
    /// flushing nothing) when the run has ended.
    pub fn try_push_update(&self, timeout: Duration) -> Result<ExportReport, Error> {
        if let Some(rec) = self.take_update()? {
            self.0.tracer.export(rec);
        }
        Ok(self.0.tracer.flush(timeout))
    }

    /// The run-update record of `docs/format.md` ("Run updates"), or `None` when nothing is pending.
    pub fn take_update(&self) -> Result<Option<SpanRecord>, Error> {
        self.with_open(|st| {
            let mark = st.mark.get_or_insert_with(Default::default);
            let delta = mark.take_delta(&st.data);
            if delta.is_empty() {
                return None;
            }
            let now = Timestamp::now();
            Some(SpanRecord {
                trace_id: self.0.trace_id,
                span_id: SpanId::random(),
                parent_id: Some(self.0.span_id),
                parent_is_remote: false,
                name: format!("run.{}.update", self.0.route.run_id).into(),
                span_type: SpanType::RunUpdate,
                label: "".into(),
                status: Status::Unset,
                start: now,
                end: now,
                route: self.0.route.clone(),
                tags: vec![],
                attributes: vec![],
                late_attribute_keys: vec![],
                events: vec![],
                kind: RecordKind::RunUpdate { data: Box::new(delta) },
            })
        })
    }
}

impl TaskInner {
    /// Forgets this task in the tracer's registry of open spans (roots, and
    /// children whose parent ended first).
    fn unregister(&self) {
        if self.is_root || self.orphan.load(std::sync::atomic::Ordering::Relaxed) {
            self.tracer.unregister_root(self.span_id.to_u64(), self.is_run);
        }
    }

    fn build_record(&self, st: &mut TaskState, end: Timestamp) -> SpanRecord {
        // A sink that renders (the export pipeline's writer) gets the data
        // as it asks, moved into a box the writer gave back; otherwise it is
        // rendered here, in a buffer the writer gave back (see `recycle`).
        // Either way what the task held before is dropped on this thread.
        let groups = if self.tracer.inner.sink.renders_task_groups(&st.data) {
            TaskGroups::Data(recycle::data_from(&mut st.data))
        } else {
            let rendered = recycle::rendered_for(&st.data);
            st.data = TaskData::default(); // dropped in place, not moved out first
            TaskGroups::Rendered(rendered)
        };
        st.finished = Some(groups.clone());
        st.mark = None;
        let extras = st.extras.take().map(|b| *b).unwrap_or_default();
        SpanRecord {
            trace_id: self.trace_id,
            span_id: self.span_id,
            parent_id: self.parent_span,
            parent_is_remote: self.parent_remote,
            name: self.name.clone(),
            span_type: self.span_type,
            label: self.label.clone(),
            status: st.status.clone(),
            start: self.start,
            end,
            route: self.route.clone(),
            tags: st.tags.clone(),
            attributes: std::mem::take(&mut st.attributes),
            late_attribute_keys: extras.late_keys,
            events: extras.events,
            kind: RecordKind::Task { parent_task: self.parent_task_span, groups },
        }
    }
}

impl Drop for TaskInner {
    /// A task whose every handle is gone without `end()` is still written.
    fn drop(&mut self) {
        if self.state.get_mut().end.is_none() {
            let now = Timestamp::now();
            let rec = {
                let st = self.state.get_mut();
                st.end = Some(now);
                let mut st = std::mem::take(st);
                self.build_record(&mut st, now)
            };
            self.unregister();
            self.tracer.export(rec);
        }
    }
}

impl std::fmt::Debug for TaskSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSpan")
            .field("name", &self.0.name)
            .field("task_id", &self.task_id())
            .field("run_id", &self.0.route.run_id)
            .field("span_id", &self.0.span_id)
            .field("active", &self.active())
            .finish()
    }
}

/// Handles are equal when they are the same span (a task read back by
/// [`TaskSpan::tasks`] equals the handle it was logged through).
impl PartialEq for TaskSpan {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || (self.0.span_id == other.0.span_id && self.0.trace_id == other.0.trace_id)
    }
}
impl Eq for TaskSpan {}

/// A task or run id kept inline (a dashed uuid is 36 ASCII bytes).
#[derive(Clone, Copy)]
pub(crate) struct TaskId {
    len: u8,
    buf: [u8; 36],
}

impl TaskId {
    fn new(id: &str) -> TaskId {
        let mut buf = [0u8; 36];
        let n = id.len().min(36);
        buf[..n].copy_from_slice(&id.as_bytes()[..n]);
        TaskId { len: n as u8, buf }
    }
    fn from_bytes(buf: [u8; 36]) -> TaskId {
        TaskId { len: 36, buf }
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
}

/// The children still held whole (open ones, and all of them when the sink
/// cannot read records back).
fn open_children(st: &TaskState) -> Vec<TaskSpan> {
    st.children
        .iter()
        .filter_map(|c| match c {
            Child::Open(t) => Some(t.clone()),
            Child::Ended(_) | Child::EndedElsewhere(_) => None,
        })
        .collect()
}

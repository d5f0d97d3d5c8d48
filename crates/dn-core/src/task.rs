//! Task spans and runs: the spans that carry params, inputs, outputs,
//! metrics, objects and artifacts.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use indexmap::IndexMap;
use parking_lot::Mutex;
use serde::Serialize;

use crate::Error;
use crate::attrs::{AttrValue, SpanType, keys};
use crate::clean::{clean_shared, clean_str, clean_tags, normalize_name, validate_component};
use crate::context::{Context, ContextGuard, SpanLink};
use crate::ids::{SpanId, TraceId, generated_run_name, new_run_id, new_task_id, new_task_id_bytes};
use crate::metric::{Aggregation, MetricSeries};
use crate::object::{Hash16, ObjValue, SerializedObject, serialize};
use crate::record::{
    Event, Key, ObjectRef, ObjectValue, RecordKind, RenderedTask, Route, SpanRecord, Status, StoredObject, TaskData,
};
use crate::scope::{Instrumented, OutcomeCheck, Scope, result_check, run_in_scope};
use crate::sink::ExportReport;
use crate::text::SharedStr;
use crate::time::Timestamp;
use crate::tracer::Tracer;

/// A task span (runs are task spans too). A cheap, clonable, `Send + Sync`
/// handle: clones refer to the same span.
///
/// ```
/// # use dn_core::{MemorySink, Tracer, Metric, Aggregation};
/// # let tracer = Tracer::new(MemorySink::new(), "default").unwrap();
/// let run = tracer.run("training").start().unwrap();
/// run.log_param("lr", &0.001).unwrap();
/// run.log_metric("loss", Metric::new(0.5).step(1).aggregation(Aggregation::Min)).unwrap();
/// assert!(run.active());
/// run.end().unwrap();
/// assert!(!run.active());
/// ```
#[derive(Clone)]
pub struct TaskSpan(pub(crate) Arc<TaskInner>);

pub(crate) struct TaskInner {
    tracer: Tracer,
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    parent_span: Option<SpanId>,
    parent_remote: bool,
    task_id: TaskId,
    name: SharedStr,
    label: SharedStr,
    span_type: SpanType,
    /// Project, run id and session: shared with every child in the same
    /// session and with every record, by one reference count.
    route: Arc<Route>,
    parent_task: Option<Weak<TaskInner>>,
    parent_task_span: Option<SpanId>,
    /// The run this task belongs to (None for roots, which are their own run).
    run: Option<Weak<TaskInner>>,
    is_root: bool,
    is_run: bool,
    start: Timestamp,
    state: Mutex<TaskState>,
}

#[derive(Default)]
struct TaskState {
    end: Option<Timestamp>,
    status: Status,
    data: Arc<TaskData>,
    /// Set at end: the rendered data (the structured data is dropped).
    finished: Option<Arc<RenderedTask>>,
    tags: Vec<String>,
    /// User attributes, late keys and events: rare, so boxed.
    extras: Option<Box<Extras>>,
    children: Vec<TaskSpan>,
    mark: Option<Box<UpdateMark>>,
}

#[derive(Default)]
struct Extras {
    attributes: Vec<(Key, AttrValue)>,
    late_keys: Vec<String>,
    events: Vec<Event>,
}

impl TaskState {
    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Default::default)
    }
    fn mark(&mut self) -> &mut UpdateMark {
        self.mark.get_or_insert_with(Default::default)
    }
}

/// How much of the task's data the last run update already carried.
#[derive(Default)]
struct UpdateMark {
    inputs: usize,
    outputs: usize,
    objects: usize,
    schemas: usize,
    artifacts: usize,
    metrics: Vec<usize>,
    dirty_params: Vec<String>,
}

/// A metric value with its options. Plain numbers and bools convert into it.
///
/// ```
/// use dn_core::{Metric, Aggregation};
/// let m = Metric::new(0.91).step(3).aggregation(Aggregation::Max);
/// let b: Metric = true.into(); // 1.0
/// # let _ = (m, b);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Metric {
    value: f64,
    step: i64,
    aggregation: Aggregation,
    timestamp: Option<Timestamp>,
    origin: Option<SerializedObject>,
    prefix: Option<String>,
}

impl Metric {
    /// A metric with `value`, step 0, direct aggregation.
    pub fn new(value: impl Into<Metric>) -> Metric {
        value.into()
    }
    /// The step (kept as given).
    pub fn step(mut self, step: i64) -> Self {
        self.step = step;
        self
    }
    /// The aggregation mode.
    pub fn aggregation(mut self, aggregation: Aggregation) -> Self {
        self.aggregation = aggregation;
        self
    }
    /// An explicit timestamp (default: now).
    pub fn timestamp(mut self, ts: std::time::SystemTime) -> Self {
        self.timestamp = Some(Timestamp::from_system_time(ts));
        self
    }
    /// The object this metric measures; it is stored with the task's objects.
    pub fn origin<T: Serialize + ?Sized>(mut self, origin: &T) -> Self {
        self.origin = Some(serialize(origin));
        self
    }
    /// A prefix: the metric is named `<prefix>.<name>`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }
    /// The raw value.
    pub fn value(&self) -> f64 {
        self.value
    }
}

macro_rules! metric_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Metric {
            fn from(v: $t) -> Metric {
                Metric { value: v as f64, ..Default::default() }
            }
        }
    )*};
}
metric_from!(f64, f32, i8, i16, i32, i64, u8, u16, u32, u64, usize, isize);

impl From<bool> for Metric {
    fn from(v: bool) -> Metric {
        Metric { value: if v { 1.0 } else { 0.0 }, ..Default::default() }
    }
}

/// Label and attributes for a logged input or output.
#[derive(Clone, Debug, Default)]
pub struct ObjectMeta {
    label: Option<String>,
    attributes: Vec<(String, ObjValue)>,
}

impl ObjectMeta {
    /// No label, no attributes.
    pub fn new() -> Self {
        Self::default()
    }
    /// A label (cleaned with `clean_str`).
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
    /// An attribute stored with the reference.
    pub fn attribute<T: Serialize + ?Sized>(mut self, key: impl Into<String>, value: &T) -> Self {
        let v = ObjValue::capture(value).unwrap_or_else(|_| ObjValue::Str(std::any::type_name::<T>().into()));
        self.attributes.push((key.into(), v));
        self
    }
    fn attributes_json(&self) -> Option<String> {
        (!self.attributes.is_empty()).then(|| ObjValue::Map(self.attributes.clone()).to_json())
    }
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

impl TaskSpan {
    /// The task's route, or a copy of it with another session.
    pub(crate) fn route_with_session(&self, session: Option<Arc<str>>) -> Arc<Route> {
        if self.0.route.session_id == session {
            self.0.route.clone()
        } else {
            Arc::new(Route { session_id: session, ..Route::clone(&self.0.route) })
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
            crate::context::pick_current(|c| Some((c.task.clone(), c.span, c.session.clone()))).unwrap_or_default();
        let session = n.session.take().unwrap_or(cur_session);
        let (parent_task, link): (Option<TaskSpan>, Option<SpanLink>) = match (&n.parent, n.is_run) {
            (_, true) => (None, None),
            (Parent::Current, false) => (cur_task, cur_span),
            (Parent::Task(t), false) => (Some(t.clone()), Some(t.link())),
            (Parent::Remote { link, .. }, false) => (None, Some(*link)),
        };
        let span_id = SpanId::random();
        let trace_id = link.map_or_else(TraceId::random, |l| l.trace_id);
        let new_route =
            |project: Arc<str>, run_id: SharedStr| Arc::new(Route { project, run_id, session_id: session.clone() });
        let (task_id, route, run, is_root): (TaskId, Arc<Route>, Option<Weak<TaskInner>>, bool) = if n.is_run {
            let id = new_run_id();
            let project = n.project.clone().unwrap_or_else(|| tracer.inner.default_project.clone());
            (TaskId::new(&id), new_route(project, id.into()), None, true)
        } else if let Some(p) = &parent_task {
            let run = p.0.run.clone().or_else(|| Some(Arc::downgrade(&p.0)));
            let route = if p.0.route.session_id == session {
                p.0.route.clone()
            } else {
                new_route(p.0.route.project.clone(), p.0.route.run_id.clone())
            };
            (TaskId::from_bytes(new_task_id_bytes()), route, run, false)
        } else if let Parent::Remote { run_id, project, .. } = &n.parent {
            (TaskId::from_bytes(new_task_id_bytes()), new_route(project.clone(), run_id.clone()), None, true)
        } else {
            let id = new_task_id();
            let project = n.project.clone().unwrap_or_else(|| tracer.inner.default_project.clone());
            (TaskId::new(&id), new_route(project, id.into()), None, true)
        };
        let label = if n.is_run { SharedStr::default() } else { clean_shared(n.label.as_ref().unwrap_or(&n.name)) };
        let mut tags = Vec::new();
        clean_tags(&mut tags, &n.tags);
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
            is_run: n.is_run,
            start: Timestamp::now(),
            state: Mutex::new(TaskState {
                tags,
                extras: (!n.attributes.is_empty())
                    .then(|| Box::new(Extras { attributes: n.attributes, ..Default::default() })),
                ..Default::default()
            }),
        });
        let task = TaskSpan(inner);
        if let Some(p) = &parent_task {
            p.0.state.lock().children.push(task.clone());
        }
        if is_root {
            tracer.register_root(&task.0);
        }
        task
    }

    fn link(&self) -> SpanLink {
        SpanLink { trace_id: self.0.trace_id, span_id: self.0.span_id, remote: false }
    }

    /// A context in which this task is the current task (and its run the
    /// current run). Enter it on another thread to log there.
    pub fn context(&self) -> Context {
        let run = match self.0.run.as_ref().and_then(Weak::upgrade) {
            Some(r) => Some(TaskSpan(r)),
            None => Some(self.clone()),
        };
        Context { span: Some(self.link()), task: Some(self.clone()), run, session: self.0.route.session_id.clone() }
    }

    /// Makes this task current until the guard drops; the guard does not end
    /// the task (use [`TaskSpanBuilder::enter`] for that).
    pub fn enter_context(&self) -> ContextGuard {
        self.context().enter()
    }

    /// Runs this already-started task's body as a future: current on every
    /// poll, ended when the future completes or is dropped.
    pub fn instrument<F: Future>(self, fut: F) -> Instrumented<F, TaskScope> {
        let ctx = self.context();
        Instrumented::new(fut, ctx, TaskScope::new(self, None), None)
    }

    // ----- identity -------------------------------------------------------

    /// Task id (the run id for runs; a dashed uuid for other tasks).
    pub fn task_id(&self) -> &str {
        self.0.task_id.as_str()
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
    fn snapshot(&self) -> Snapshot {
        let st = self.0.state.lock();
        match &st.finished {
            Some(r) => Snapshot::Rendered(r.clone()),
            None => Snapshot::Data(st.data.clone()),
        }
    }
    /// Params as JSON values.
    pub fn params(&self) -> IndexMap<String, serde_json::Value> {
        match self.snapshot() {
            Snapshot::Data(d) => {
                d.params.iter().map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap_or_default())).collect()
            }
            Snapshot::Rendered(r) => parse_map(r.params()),
        }
    }
    /// Inputs by name (the last value logged under each name).
    pub fn inputs(&self) -> IndexMap<String, serde_json::Value> {
        match self.snapshot() {
            Snapshot::Data(d) => refs_to_values(&d, &d.inputs),
            Snapshot::Rendered(r) => rendered_refs(r.inputs(), r.objects()),
        }
    }
    /// Outputs by name.
    pub fn outputs(&self) -> IndexMap<String, serde_json::Value> {
        match self.snapshot() {
            Snapshot::Data(d) => refs_to_values(&d, &d.outputs),
            Snapshot::Rendered(r) => rendered_refs(r.outputs(), r.objects()),
        }
    }
    /// Metric series by name.
    pub fn metrics(&self) -> IndexMap<String, MetricSeries> {
        match self.snapshot() {
            Snapshot::Data(d) => d.metrics.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Snapshot::Rendered(r) => rendered_metrics(r.metrics()),
        }
    }
    /// Direct child tasks, in creation order.
    pub fn tasks(&self) -> Vec<TaskSpan> {
        self.0.state.lock().children.clone()
    }
    /// All descendant tasks, depth-first pre-order.
    pub fn all_tasks(&self) -> Vec<TaskSpan> {
        let mut out = Vec::new();
        for c in self.tasks() {
            out.push(c.clone());
            out.extend(c.all_tasks());
        }
        out
    }

    // ----- logging ----------------------------------------------------------

    fn with_open<R>(&self, f: impl FnOnce(&mut TaskState) -> R) -> Result<R, Error> {
        let mut st = self.0.state.lock();
        if st.end.is_some() {
            return Err(Error::SpanEnded(self.0.name.to_string()));
        }
        Ok(f(&mut st))
    }

    /// Logs a param (a JSON-serializable value); a later value under the same
    /// name replaces it and keeps its position.
    pub fn log_param<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<(), Error> {
        let json = param_json(value);
        self.with_open(|st| {
            Arc::make_mut(&mut st.data).params.insert(name.to_string(), json);
            st.mark().dirty_params.push(name.to_string());
        })
    }

    /// Logs every entry of a value that serializes to a map (a struct,
    /// `HashMap`, `serde_json::json!({...})`, ...) as a param.
    pub fn log_params<T: Serialize + ?Sized>(&self, params: &T) -> Result<(), Error> {
        let entries = map_entries(params, "log_params")?;
        self.with_open(|st| {
            let data = Arc::make_mut(&mut st.data);
            let mut keys = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                data.params.insert(k.clone(), v.to_json());
                keys.push(k);
            }
            st.mark().dirty_params.extend(keys);
        })
    }

    /// Logs an input; returns its object hash.
    pub fn log_input<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<Hash16, Error> {
        self.log_object_ref(Side::Input, name, serialize(value), &ObjectMeta::default())
    }
    /// Logs an input with a label and attributes.
    pub fn log_input_with<T: Serialize + ?Sized>(
        &self,
        name: &str,
        value: &T,
        meta: ObjectMeta,
    ) -> Result<Hash16, Error> {
        self.log_object_ref(Side::Input, name, serialize(value), &meta)
    }
    /// Logs an output; returns its object hash.
    pub fn log_output<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<Hash16, Error> {
        self.log_object_ref(Side::Output, name, serialize(value), &ObjectMeta::default())
    }
    /// Logs an output with a label and attributes.
    pub fn log_output_with<T: Serialize + ?Sized>(
        &self,
        name: &str,
        value: &T,
        meta: ObjectMeta,
    ) -> Result<Hash16, Error> {
        self.log_object_ref(Side::Output, name, serialize(value), &meta)
    }
    /// Logs an input that `#[dn::task]` captured (attributes `{"auto":true}`).
    pub fn log_auto_input<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<Hash16, Error> {
        self.log_object_ref(Side::Input, name, serialize(value), &ObjectMeta::new().attribute("auto", &true))
    }
    /// Logs an output that `#[dn::task]` captured (attributes `{"auto":true}`).
    pub fn log_auto_output<T: Serialize + ?Sized>(&self, name: &str, value: &T) -> Result<Hash16, Error> {
        self.log_object_ref(Side::Output, name, serialize(value), &ObjectMeta::new().attribute("auto", &true))
    }
    /// Logs an already-serialized value captured by `#[dn::task]`
    /// (attributes `{"auto":true}`).
    pub fn log_auto_serialized(&self, side: Side, name: &str, obj: SerializedObject) -> Result<Hash16, Error> {
        self.log_object_ref(side, name, obj, &ObjectMeta::new().attribute("auto", &true))
    }

    /// Logs a metric whose origin object is already serialized.
    pub fn log_metric_with_origin(
        &self,
        name: &str,
        metric: impl Into<Metric>,
        origin: SerializedObject,
    ) -> Result<f64, Error> {
        self.log_metric(name, Metric { origin: Some(origin), ..metric.into() })
    }

    /// Adds an event with the given attributes.
    pub fn add_event(&self, name: &str, attributes: Vec<(Key, AttrValue)>) -> Result<(), Error> {
        let ev = Event { name: Key::from(name.to_string()), timestamp: Timestamp::now(), attributes };
        self.with_open(|st| st.extras().events.push(ev))
    }

    /// Logs every entry of a map-like value as an input, in order.
    pub fn log_inputs<T: Serialize + ?Sized>(&self, inputs: &T) -> Result<Vec<Hash16>, Error> {
        map_entries(inputs, "log_inputs")?
            .into_iter()
            .map(|(k, v)| self.log_object_ref(Side::Input, &k, v.serialize_object(), &ObjectMeta::default()))
            .collect()
    }
    /// Logs every entry of a map-like value as an output, in order.
    pub fn log_outputs<T: Serialize + ?Sized>(&self, outputs: &T) -> Result<Vec<Hash16>, Error> {
        map_entries(outputs, "log_outputs")?
            .into_iter()
            .map(|(k, v)| self.log_object_ref(Side::Output, &k, v.serialize_object(), &ObjectMeta::default()))
            .collect()
    }

    fn log_object_ref(
        &self,
        side: Side,
        name: &str,
        obj: SerializedObject,
        meta: &ObjectMeta,
    ) -> Result<Hash16, Error> {
        let hash = obj.hash;
        let label = crate::clean::clean_cow(meta.label.as_deref().unwrap_or(name));
        let r = ObjectRef {
            label: (label != name).then(|| label.into_owned()),
            name: name.to_string(),
            hash,
            attributes: meta.attributes_json(),
        };
        let obj = self.0.tracer.stored_value(obj);
        self.with_open(|st| {
            let data = Arc::make_mut(&mut st.data);
            add_object(data, obj);
            match side {
                Side::Input => data.inputs.push(r),
                Side::Output => data.outputs.push(r),
            }
        })?;
        Ok(hash)
    }

    /// Logs a metric point; returns the stored (aggregated) value. The name
    /// is cleaned with `clean_str`; non-finite values are kept (written as
    /// `null`).
    pub fn log_metric(&self, name: &str, metric: impl Into<Metric>) -> Result<f64, Error> {
        let m: Metric = metric.into();
        let key: std::borrow::Cow<'_, str> = match &m.prefix {
            Some(p) => clean_str(&format!("{p}.{name}")).into(),
            None => crate::clean::clean_cow(name),
        };
        if key.is_empty() {
            return Err(Error::InvalidInput(format!("metric name {name:?} is empty after cleaning")));
        }
        let ts = m.timestamp.unwrap_or_else(Timestamp::now);
        let origin = m.origin.map(|o| self.0.tracer.stored_value(o));
        self.with_open(|st| {
            let data = Arc::make_mut(&mut st.data);
            if let Some(o) = origin {
                add_object(data, o);
            }
            data.metrics.get_or_insert_by(&*key, || key.to_string(), MetricSeries::default).push(
                m.value,
                m.step,
                ts,
                m.aggregation,
            )
        })
    }

    /// Logs several metrics with the same step and aggregation.
    pub fn log_metrics<I, K, V>(&self, metrics: I, step: i64, aggregation: Aggregation) -> Result<(), Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<Metric>,
    {
        for (k, v) in metrics {
            self.log_metric(k.as_ref(), v.into().step(step).aggregation(aggregation))?;
        }
        Ok(())
    }

    /// Logs a sample: a child task span named `label` with input `input`,
    /// output `output`, a link output → input, and `metrics` logged with the
    /// output as origin (SPEC §8).
    pub fn log_sample<I, O, M, K>(&self, label: &str, input: &I, output: &O, metrics: M, step: i64) -> Result<(), Error>
    where
        I: Serialize + ?Sized,
        O: Serialize + ?Sized,
        M: IntoIterator<Item = (K, f64)>,
        K: AsRef<str>,
    {
        if !self.active() {
            return Err(Error::SpanEnded(self.0.name.to_string()));
        }
        let sample = TaskSpan::create(
            &self.0.tracer,
            NewTask {
                name: SharedStr::from(label.to_string()),
                label: None,
                span_type: SpanType::Task,
                tags: vec![],
                attributes: vec![],
                is_run: false,
                project: None,
                parent: Parent::Task(self.clone()),
                session: None,
            },
        );
        let i = sample.log_input("input", input)?;
        let out = serialize(output);
        let o = sample.log_object_ref(Side::Output, "output", out.clone(), &ObjectMeta::default())?;
        sample.add_link_event(o, i, vec![])?;
        for (k, v) in metrics {
            sample.log_metric(k.as_ref(), Metric { origin: Some(out.clone()), ..Metric::new(v).step(step) })?;
        }
        sample.end()
    }

    /// Logs several samples under one name: `(input, output, metrics)` each.
    pub fn log_samples<I, O, M>(&self, name: &str, samples: impl IntoIterator<Item = (I, O, M)>) -> Result<(), Error>
    where
        I: Serialize,
        O: Serialize,
        M: IntoIterator<Item = (String, f64)>,
    {
        for (i, o, m) in samples {
            self.log_sample(name, &i, &o, m, 0)?;
        }
        Ok(())
    }

    /// Links two values: both are stored as objects on this task and a
    /// `dreadnode.object.link` event records `a → b` with `attributes`.
    pub fn link_objects<A, B>(&self, a: &A, b: &B, attributes: &[(&str, AttrValue)]) -> Result<(), Error>
    where
        A: Serialize + ?Sized,
        B: Serialize + ?Sized,
    {
        let (oa, ob) = (serialize(a), serialize(b));
        let (ha, hb) = (oa.hash, ob.hash);
        let (oa, ob) = (self.0.tracer.stored_value(oa), self.0.tracer.stored_value(ob));
        self.with_open(|st| {
            let data = Arc::make_mut(&mut st.data);
            add_object(data, oa);
            add_object(data, ob);
        })?;
        self.add_link_event(ha, hb, attributes.iter().map(|(k, v)| (Key::from(k.to_string()), v.clone())).collect())
    }

    fn add_link_event(&self, a: Hash16, b: Hash16, mut attributes: Vec<(Key, AttrValue)>) -> Result<(), Error> {
        attributes.push((keys::OBJECT_HASH.into(), AttrValue::Str(a.to_string())));
        attributes.push((keys::LINK_HASH.into(), AttrValue::Str(b.to_string())));
        attributes.push((keys::ORIGIN_SPAN_ID.into(), AttrValue::Str(self.0.span_id.to_string())));
        let ev = Event { name: keys::EVENT_OBJECT_LINK.into(), timestamp: Timestamp::now(), attributes };
        self.with_open(|st| st.extras().events.push(ev))
    }

    /// Adds tags (cleaned, de-duplicated).
    pub fn tag<I, S>(&self, tags: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let tags: Vec<S> = tags.into_iter().collect();
        self.with_open(|st| clean_tags(&mut st.tags, tags))
    }

    /// Sets a user attribute; primitives stay primitive, anything else is
    /// stored as compact JSON.
    pub fn set_attribute<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), Error> {
        let v = AttrValue::from_serialize(value);
        self.with_open(|st| {
            let x = st.extras();
            set_attr(&mut x.attributes, &mut x.late_keys, key, v)
        })
    }

    /// Adds an artifact record (a compact JSON object) to this task.
    pub fn add_artifact_record(&self, record_json: String) -> Result<(), Error> {
        self.with_open(|st| Arc::make_mut(&mut st.data).artifacts.push(record_json))
    }

    /// Marks the task failed with `error` (status ERROR, an `exception`
    /// event, `failed() == true`) without ending it.
    pub fn record_error<E: std::fmt::Display + ?Sized>(&self, error: &E) -> Result<(), Error> {
        let name = std::any::type_name::<E>();
        self.record_exception(name, &error.to_string(), false)
    }

    /// Records an exception event and sets the ERROR status.
    pub fn record_exception(&self, type_name: &str, message: &str, escaped: bool) -> Result<(), Error> {
        self.with_open(|st| {
            let mut status = std::mem::take(&mut st.status);
            fail_state(&mut status, &mut st.extras().events, type_name, message, escaped);
            st.status = status;
        })
    }

    /// Sets the status to OK (unless it already failed).
    pub fn set_ok(&self) -> Result<(), Error> {
        self.with_open(|st| {
            if st.status == Status::Unset {
                st.status = Status::Ok;
            }
        })
    }

    // ----- ending -----------------------------------------------------------

    /// Ends the task and hands its record to the sink. Ending twice is an
    /// error and writes nothing more.
    pub fn end(&self) -> Result<(), Error> {
        let rec = {
            let mut st = self.0.state.lock();
            if st.end.is_some() {
                return Err(Error::SpanEnded(self.0.name.to_string()));
            }
            let now = Timestamp::now();
            st.end = Some(now);
            self.0.build_record(&mut st, now)
        };
        if self.0.is_root {
            self.0.tracer.unregister_root(self.0.span_id.to_u64());
        }
        self.0.tracer.export(rec);
        Ok(())
    }

    /// Ends this task and every open descendant (children first). Returns how
    /// many spans it ended.
    pub fn end_tree(&self) -> usize {
        let mut n = 0;
        for c in self.tasks() {
            n += c.end_tree();
        }
        n + usize::from(self.end().is_ok())
    }

    /// `push_update` for a run: writes an update span with what was logged
    /// since the last update (if anything) and flushes the sink.
    pub fn push_update(&self, timeout: Duration) -> Result<ExportReport, Error> {
        if let Some(rec) = self.take_update()? {
            self.0.tracer.export(rec);
        }
        Ok(self.0.tracer.flush(timeout))
    }

    /// The run-update record of SPEC §14, or `None` when nothing is pending.
    pub fn take_update(&self) -> Result<Option<SpanRecord>, Error> {
        self.with_open(|st| {
            let data = st.data.clone();
            let m = st.mark();
            let mut delta = TaskData::default();
            m.dirty_params.sort();
            m.dirty_params.dedup();
            for k in m.dirty_params.drain(..) {
                if let Some(v) = data.params.get(&k) {
                    delta.params.insert(k, v.clone());
                }
            }
            delta.inputs = data.inputs[m.inputs..].to_vec();
            delta.outputs = data.outputs[m.outputs..].to_vec();
            delta.objects = data.objects.iter().skip(m.objects).map(|(k, v)| (*k, v.clone())).collect();
            delta.schemas = data.schemas.iter().skip(m.schemas).map(|(k, v)| (*k, v.clone())).collect();
            delta.artifacts = data.artifacts[m.artifacts..].to_vec();
            m.metrics.resize(data.metrics.len(), 0);
            for (i, (k, series)) in data.metrics.iter().enumerate() {
                if series.len() > m.metrics[i] {
                    delta.metrics.insert(k.clone(), series.tail(m.metrics[i]));
                    m.metrics[i] = series.len();
                }
            }
            m.inputs = data.inputs.len();
            m.outputs = data.outputs.len();
            m.objects = data.objects.len();
            m.schemas = data.schemas.len();
            m.artifacts = data.artifacts.len();
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
    fn build_record(&self, st: &mut TaskState, end: Timestamp) -> SpanRecord {
        // Rendered here, on the caller (see `RenderedTask`); the structured
        // data is dropped right after, on this thread.
        let data = std::mem::replace(&mut st.data, empty_data());
        let rendered = Arc::new(RenderedTask::render(&data));
        drop(data);
        st.finished = Some(rendered.clone());
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
            attributes: extras.attributes,
            late_attribute_keys: extras.late_keys,
            events: extras.events,
            kind: RecordKind::Task { parent_task: self.parent_task_span, rendered },
        }
    }
}

impl Drop for TaskInner {
    /// A task whose every handle is gone without `end()` is still written.
    fn drop(&mut self) {
        let mut st = std::mem::take(self.state.get_mut());
        if st.end.is_none() {
            let rec = self.build_record(&mut st, Timestamp::now());
            if self.is_root {
                self.tracer.unregister_root(self.span_id.to_u64());
            }
            self.tracer.export(rec);
        }
    }
}

impl std::fmt::Debug for TaskSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskSpan")
            .field("name", &self.0.name)
            .field("task_id", &self.0.task_id.as_str())
            .field("run_id", &self.0.route.run_id)
            .field("span_id", &self.0.span_id)
            .field("active", &self.active())
            .finish()
    }
}

impl PartialEq for TaskSpan {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for TaskSpan {}

/// A task or run id kept inline (a dashed uuid is 36 ASCII bytes).
#[derive(Clone, Copy)]
struct TaskId {
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

enum Snapshot {
    Data(Arc<TaskData>),
    Rendered(Arc<RenderedTask>),
}

fn empty_data() -> Arc<TaskData> {
    static EMPTY: std::sync::OnceLock<Arc<TaskData>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Arc::new(TaskData::default())).clone()
}

fn parse_map(json: &str) -> IndexMap<String, serde_json::Value> {
    match serde_json::from_str::<serde_json::Value>(json) {
        Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
        _ => IndexMap::new(),
    }
}

fn rendered_refs(refs_json: &str, objects_json: &str) -> IndexMap<String, serde_json::Value> {
    let objects = parse_map(objects_json);
    let refs: Vec<serde_json::Value> = serde_json::from_str(refs_json).unwrap_or_default();
    refs.iter()
        .map(|r| {
            let o = r["hash"].as_str().and_then(|h| objects.get(h));
            let v = o.map(|o| if o["type"] == "uri" { o["uri"].clone() } else { o["value"].clone() });
            (r["name"].as_str().unwrap_or_default().to_string(), v.unwrap_or_default())
        })
        .collect()
}

fn rendered_metrics(json: &str) -> IndexMap<String, MetricSeries> {
    parse_map(json)
        .into_iter()
        .map(|(k, v)| {
            let values = v["values"].as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect());
            let steps = v["steps"].as_array().map(|a| a.iter().map(|x| x.as_i64().unwrap_or(0)).collect());
            let ts = v["timestamps"]
                .as_array()
                .map(|a| a.iter().map(|x| x.as_str().and_then(Timestamp::parse_iso).unwrap_or_default()).collect());
            (k, MetricSeries::from_parts(values.unwrap_or_default(), steps.unwrap_or_default(), ts.unwrap_or_default()))
        })
        .collect()
}

/// Which list a logged object goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `dreadnode.inputs`.
    Input,
    /// `dreadnode.outputs`.
    Output,
}

fn add_object(data: &mut TaskData, (o, value): (SerializedObject, ObjectValue)) {
    data.schemas.get_or_insert_with(o.schema_hash, || o.schema_json.into());
    data.objects.get_or_insert_with(o.hash, || StoredObject { hash: o.hash, schema_hash: o.schema_hash, value });
}

fn refs_to_values(data: &TaskData, refs: &[ObjectRef]) -> IndexMap<String, serde_json::Value> {
    refs.iter()
        .map(|r| {
            let v = match data.objects.get(&r.hash).map(|o| &o.value) {
                Some(ObjectValue::Inline(j)) => serde_json::from_str(j).unwrap_or_default(),
                Some(ObjectValue::Uri { uri, .. }) => serde_json::Value::String(uri.clone()),
                None => serde_json::Value::Null,
            };
            (r.name.clone(), v)
        })
        .collect()
}

fn param_json<T: Serialize + ?Sized>(value: &T) -> String {
    match ObjValue::capture(value) {
        Ok(v) => v.to_json(),
        Err(_) => ObjValue::Str(std::any::type_name::<T>().to_string()).to_json(),
    }
}

fn map_entries<T: Serialize + ?Sized>(value: &T, what: &str) -> Result<Vec<(String, ObjValue)>, Error> {
    match ObjValue::capture(value) {
        Ok(ObjValue::Map(e)) => Ok(e),
        Ok(_) => Err(Error::InvalidInput(format!(
            "{what} takes a value that serializes to a map (a struct, a map or json!({{..}}))"
        ))),
        Err(e) => Err(Error::InvalidInput(format!("{what}: value failed to serialize: {e}"))),
    }
}

pub(crate) fn set_attr(attrs: &mut Vec<(Key, AttrValue)>, late: &mut Vec<String>, key: &str, v: AttrValue) {
    match attrs.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = v,
        None => attrs.push((Key::from(key.to_string()), v)),
    }
    if !late.iter().any(|k| k == key) {
        late.push(key.to_string());
    }
}

pub(crate) fn fail_state(status: &mut Status, events: &mut Vec<Event>, type_name: &str, message: &str, escaped: bool) {
    *status = Status::Error(message.to_string());
    events.push(Event {
        name: keys::EVENT_EXCEPTION.into(),
        timestamp: Timestamp::now(),
        attributes: vec![
            (keys::EXCEPTION_TYPE.into(), AttrValue::Str(type_name.to_string())),
            (keys::EXCEPTION_MESSAGE.into(), AttrValue::Str(message.to_string())),
            (keys::EXCEPTION_ESCAPED.into(), AttrValue::Str(if escaped { "True" } else { "False" }.into())),
        ],
    });
}

// ---------------------------------------------------------------------------
// Guards, scopes and builders
// ---------------------------------------------------------------------------

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
        let _ = self.task.end();
        if let Some(o) = &self.outer {
            let _ = o.end();
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
        let ctx = task.context().enter();
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

macro_rules! span_forms {
    () => {
        /// Starts the span and makes it current until the guard drops.
        pub fn enter(self) -> TaskGuard {
            TaskGuard::new(self.start(), None)
        }
        /// Runs `f` inside the span; a panic marks it failed and continues.
        pub fn run<R>(self, f: impl FnOnce(&TaskSpan) -> R) -> R {
            let task = self.start();
            let _ctx = task.context().enter();
            let t2 = task.clone();
            run_in_scope(TaskScope::new(task, None), None, move || f(&t2))
        }
        /// Like `run` for a body returning `Result`: `Err` fails the span
        /// and is returned unchanged.
        pub fn try_run<T, E: std::fmt::Display>(self, f: impl FnOnce(&TaskSpan) -> Result<T, E>) -> Result<T, E> {
            let task = self.start();
            let _ctx = task.context().enter();
            let t2 = task.clone();
            let check: OutcomeCheck<Result<T, E>> = result_check::<T, E>;
            run_in_scope(TaskScope::new(task, None), Some(check), move || f(&t2))
        }
        /// Runs a future inside the span: current on every poll, ended when
        /// the future completes, panics or is dropped.
        pub fn instrument<F: Future>(self, fut: F) -> TaskFuture<F> {
            let task = self.start();
            Instrumented::new(fut, task.context(), TaskScope::new(task, None), None)
        }
        /// Like `instrument` for a future returning `Result`: `Err` fails the span.
        pub fn try_instrument<F, T, E>(self, fut: F) -> TaskFuture<F>
        where
            F: Future<Output = Result<T, E>>,
            E: std::fmt::Display,
        {
            let task = self.start();
            Instrumented::new(fut, task.context(), TaskScope::new(task, None), Some(result_check::<T, E>))
        }
    };
}

/// Builds a task span: `tracer.task_span("name")`.
#[must_use = "a builder does nothing until started"]
pub struct TaskSpanBuilder {
    tracer: Tracer,
    new: NewTask,
}

impl TaskSpanBuilder {
    pub(crate) fn new(tracer: Tracer, name: SharedStr) -> Self {
        TaskSpanBuilder {
            tracer,
            new: NewTask {
                name,
                label: None,
                span_type: SpanType::Task,
                tags: vec![],
                attributes: vec![],
                is_run: false,
                project: None,
                parent: Parent::Current,
                session: None,
            },
        }
    }
    /// A label (default: the name); cleaned with `clean_str`.
    pub fn label(mut self, label: impl Into<SharedStr>) -> Self {
        self.new.label = Some(label.into());
        self
    }
    /// The span type (default `task`).
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
    pub fn attribute<T: Serialize + ?Sized>(mut self, key: impl Into<String>, value: &T) -> Self {
        self.new.attributes.push((Key::from(key.into()), AttrValue::from_serialize(value)));
        self
    }
    /// An attribute set at start, given as a ready value with a static key.
    pub fn attribute_value(mut self, key: &'static str, value: AttrValue) -> Self {
        self.new.attributes.push((Key::Borrowed(key), value));
        self
    }
    /// Attaches under `parent` instead of the current task.
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
    span_forms!();
}

/// Params and inputs given to a builder, logged when the span starts.
#[derive(Default)]
struct Initial {
    params: Vec<(String, String)>,
    inputs: Vec<(String, SerializedObject)>,
}

impl Initial {
    fn param<T: Serialize + ?Sized>(&mut self, name: String, value: &T) {
        self.params.push((name, param_json(value)));
    }
    fn input<T: Serialize + ?Sized>(&mut self, name: String, value: &T) {
        self.inputs.push((name, serialize(value)));
    }
    fn apply(self, task: &TaskSpan) -> Result<(), Error> {
        task.with_open(|st| {
            let data = Arc::make_mut(&mut st.data);
            let keys: Vec<String> = self.params.iter().map(|(k, _)| k.clone()).collect();
            for (k, v) in self.params {
                data.params.insert(k, v);
            }
            st.mark().dirty_params.extend(keys);
        })?;
        for (k, o) in self.inputs {
            task.log_object_ref(Side::Input, &k, o, &ObjectMeta::default())?;
        }
        Ok(())
    }
}

/// Builds a run: `tracer.run("name")`. Starting validates the project.
#[must_use = "a builder does nothing until started"]
pub struct RunBuilder {
    tracer: Tracer,
    name: Option<SharedStr>,
    project: Option<String>,
    tags: Vec<String>,
    attributes: Vec<(Key, AttrValue)>,
    initial: Initial,
}

impl RunBuilder {
    pub(crate) fn new(tracer: Tracer, name: Option<SharedStr>) -> Self {
        RunBuilder { tracer, name, project: None, tags: vec![], attributes: vec![], initial: Initial::default() }
    }
    /// The project key (default: the configured project).
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
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
    /// A param logged at start.
    pub fn param<T: Serialize + ?Sized>(mut self, name: impl Into<String>, value: &T) -> Self {
        self.initial.param(name.into(), value);
        self
    }
    /// An input logged at start.
    pub fn input<T: Serialize + ?Sized>(mut self, name: impl Into<String>, value: &T) -> Self {
        self.initial.input(name.into(), value);
        self
    }
    /// An attribute set at start.
    pub fn attribute<T: Serialize + ?Sized>(mut self, key: impl Into<String>, value: &T) -> Self {
        self.attributes.push((Key::from(key.into()), AttrValue::from_serialize(value)));
        self
    }
    /// Starts the run without making it current.
    pub fn start(self) -> Result<TaskSpan, Error> {
        let project: Option<Arc<str>> = match &self.project {
            Some(p) => {
                validate_component("project", p)?;
                Some(p.as_str().into())
            }
            None => None,
        };
        let run = TaskSpan::create(
            &self.tracer,
            NewTask {
                name: self.name.unwrap_or_else(|| generated_run_name().into()),
                label: None,
                span_type: SpanType::Task,
                tags: self.tags,
                attributes: self.attributes,
                is_run: true,
                project,
                parent: Parent::Current,
                session: None,
            },
        );
        self.initial.apply(&run)?;
        Ok(run)
    }
    /// Starts the run and makes it current until the guard drops.
    pub fn enter(self) -> Result<TaskGuard, Error> {
        Ok(TaskGuard::new(self.start()?, None))
    }
    /// Runs `f` inside the run; a panic marks it failed and continues.
    pub fn run<R>(self, f: impl FnOnce(&TaskSpan) -> R) -> Result<R, Error> {
        let task = self.start()?;
        let _ctx = task.context().enter();
        let t2 = task.clone();
        Ok(run_in_scope(TaskScope::new(task, None), None, move || f(&t2)))
    }
    /// Like `run` for a body returning `Result`: `Err` fails the run.
    pub fn try_run<T, E: std::fmt::Display>(
        self,
        f: impl FnOnce(&TaskSpan) -> Result<T, E>,
    ) -> Result<Result<T, E>, Error> {
        let task = self.start()?;
        let _ctx = task.context().enter();
        let t2 = task.clone();
        let check: OutcomeCheck<Result<T, E>> = result_check::<T, E>;
        Ok(run_in_scope(TaskScope::new(task, None), Some(check), move || f(&t2)))
    }
    /// Runs a future inside the run.
    pub fn instrument<F: Future>(self, fut: F) -> Result<TaskFuture<F>, Error> {
        let task = self.start()?;
        Ok(Instrumented::new(fut, task.context(), TaskScope::new(task, None), None))
    }
}

/// Builds `task_and_run`: a run named `name` when none is current, with a
/// task span inside it (or just the task span inside the current run).
#[must_use = "a builder does nothing until started"]
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
    /// The run's project.
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
    pub fn param<T: Serialize + ?Sized>(mut self, name: impl Into<String>, value: &T) -> Self {
        self.initial.param(name.into(), value);
        self
    }
    /// An input logged on the task.
    pub fn input<T: Serialize + ?Sized>(mut self, name: impl Into<String>, value: &T) -> Self {
        self.initial.input(name.into(), value);
        self
    }
    /// Starts both (or only the task) without making them current.
    /// Returns `(task, run opened here)`.
    pub fn start(self) -> Result<(TaskSpan, Option<TaskSpan>), Error> {
        let tracer = self.run.tracer.clone();
        let name = self.task_name.unwrap_or_else(|| self.run.name.clone().unwrap_or_default());
        let run = if crate::context::current_run().is_some() { None } else { Some(self.run.start()?) };
        let mut b = TaskSpanBuilder::new(tracer, name).span_type(self.task_type).tags(self.task_tags);
        if let Some(r) = &run {
            b = b.parent(r);
        }
        let task = b.start();
        self.initial.apply(&task)?;
        Ok((task, run))
    }
    /// Starts and makes the task current until the guard drops.
    pub fn enter(self) -> Result<TaskGuard, Error> {
        let (task, run) = self.start()?;
        Ok(TaskGuard::new(task, run))
    }
    /// Runs `f` inside the task.
    pub fn run<R>(self, f: impl FnOnce(&TaskSpan) -> R) -> Result<R, Error> {
        let (task, run) = self.start()?;
        let _ctx = task.context().enter();
        let t2 = task.clone();
        Ok(run_in_scope(TaskScope::new(task, run), None, move || f(&t2)))
    }
    /// Runs a future inside the task.
    pub fn instrument<F: Future>(self, fut: F) -> Result<TaskFuture<F>, Error> {
        let (task, run) = self.start()?;
        Ok(Instrumented::new(fut, task.context(), TaskScope::new(task, run), None))
    }
}

//! The finished span as plain data, and the one function that turns it into
//! its ordered attribute list (`docs/format.md`, "Attributes"). Both the JSONL and the OTLP
//! exporters use [`SpanRecord::attributes`], so they cannot disagree.

use std::borrow::Cow;
use std::sync::Arc;

use crate::attrs::{AttrValue, LEVEL_NUM_ERROR, SpanType, keys};
use crate::ids::{SpanId, TraceId};
use crate::json::{JsonOut, Lit, lit};
use crate::task_data::{RenderedTask, TaskData, nested};
use crate::text::SharedStr;
use crate::time::Timestamp;

/// Attribute key type: static for the SDK's own keys, owned for user keys.
pub type Key = Cow<'static, str>;

/// The status of a finished span.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Status {
    /// No status set.
    #[default]
    Unset,
    /// Explicitly OK.
    Ok,
    /// Failed, with a description.
    Error(String),
}

impl Status {
    /// `UNSET`, `OK` or `ERROR`.
    pub fn code(&self) -> &'static str {
        match self {
            Status::Unset => "UNSET",
            Status::Ok => "OK",
            Status::Error(_) => "ERROR",
        }
    }
}

/// A span event (exception, object link, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// Event name.
    pub name: Key,
    /// When it happened.
    pub timestamp: Timestamp,
    /// Its attributes, in order.
    pub attributes: Vec<(Key, AttrValue)>,
}

/// Where the exporter writes a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Project key (path component).
    pub project: Arc<str>,
    /// Run id (path component); empty for a light span outside any run,
    /// whose run id is its trace id (see [`SpanRecord::run_id`]).
    pub run_id: SharedStr,
    /// Session id; when set, the record goes to the session file.
    pub session_id: Option<Arc<str>>,
}

/// What kind of span a record is, with the data that kind carries.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordKind {
    /// A light span: timing, tags and attributes only.
    Light,
    /// A task span (runs included).
    Task {
        /// Span id of the parent task, skipping light spans.
        parent_task: Option<SpanId>,
        /// Everything logged on it: rendered, or the data still to render.
        groups: TaskGroups,
    },
    /// A `push_update` span carrying what the run logged since the last one.
    RunUpdate {
        /// The new data only (boxed: updates are rare, records are moved often).
        data: Box<TaskData>,
    },
}

/// A task's seven groups as its record carries them.
///
/// A sink that asks for it ([`crate::SpanSink::renders_task_groups`]) gets a
/// task whose data is small ([`TaskData::render_estimate`] at most
/// [`crate::runtime::recycle::DEFER_AT_MOST`]) as [`TaskGroups::Data`] and renders it itself,
/// on its writer thread, before any exporter sees the record
/// ([`crate::render_task_groups`]): the caller then pays for the data's
/// move, not its rendering (fastrace's rule: plain data on the caller, the
/// work on the background thread). Every other sink gets it rendered.
/// [`SpanRecord::visit_attributes`] renders a `Data` for itself, so a
/// record is written the same either way.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskGroups {
    /// Rendered, escaped as the line carries the groups.
    Rendered(Arc<RenderedTask>),
    /// The data as the task ended, shared with the ended task's handles
    /// (what [`crate::TaskSpan::view`] reads until they are gone).
    Data(Arc<TaskData>),
}

impl TaskGroups {
    /// The rendered groups, unless they are still data.
    pub fn rendered(&self) -> Option<&Arc<RenderedTask>> {
        match self {
            TaskGroups::Rendered(r) => Some(r),
            TaskGroups::Data(_) => None,
        }
    }
    /// About how many bytes the groups hold: the rendered buffer's
    /// capacity, or the data's size and its render estimate.
    pub fn weight(&self) -> usize {
        match self {
            TaskGroups::Rendered(r) => r.capacity(),
            TaskGroups::Data(d) => std::mem::size_of::<TaskData>() + d.render_estimate(),
        }
    }
}

/// A finished span as plain data: what a [`crate::SpanSink`] receives.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRecord {
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// Parent span id (OTel parent: the innermost enclosing span).
    pub parent_id: Option<SpanId>,
    /// Whether the parent lives in another process.
    pub parent_is_remote: bool,
    /// Span name.
    pub name: SharedStr,
    /// Span type.
    pub span_type: SpanType,
    /// Cleaned label (`""` for runs and light spans).
    pub label: SharedStr,
    /// Final status.
    pub status: Status,
    /// Start time.
    pub start: Timestamp,
    /// End time.
    pub end: Timestamp,
    /// Where it is written (shared with the task and its other records).
    pub route: Arc<Route>,
    /// Cleaned, de-duplicated tags.
    pub tags: Vec<String>,
    /// Extra attributes: `code.*` from `#[dn::task]` and user attributes.
    pub attributes: Vec<(Key, AttrValue)>,
    /// Keys of user attributes set after the span started (for `dreadnode.schema`).
    pub late_attribute_keys: Vec<String>,
    /// Events in order.
    pub events: Vec<Event>,
    /// Kind-specific data.
    pub kind: RecordKind,
}

/// The keys of a task's seven groups, in the order of
/// [`RenderedTask::escaped_parts`](crate::RenderedTask::escaped_parts) and of
/// the line.
pub const TASK_GROUP_KEYS: [&str; 7] =
    [keys::PARAMS, keys::INPUTS, keys::OUTPUTS, keys::METRICS, keys::OBJECTS, keys::OBJECT_SCHEMAS, keys::ARTIFACTS];

impl SpanRecord {
    /// About how many bytes this record holds (itself and what it owns):
    /// what bounds an export queue in bytes.
    #[inline]
    pub fn weight(&self) -> usize {
        let rendered = match &self.kind {
            RecordKind::Task { groups, .. } => groups.weight(),
            RecordKind::RunUpdate { .. } => 1024,
            RecordKind::Light => 0,
        };
        std::mem::size_of::<Self>()
            + rendered
            + self.tags.iter().map(String::len).sum::<usize>()
            + self.attributes.len() * 64
            + self.events.len() * 128
    }

    /// A task's group `i` (in the order of [`TASK_GROUP_KEYS`]) as
    /// [`SpanRecord::visit_attributes`] passes it, escaped, borrowed for as
    /// long as the record: the JSONL writer hands a large one (a run's
    /// metric series) to the file straight from here instead of copying it
    /// into its lines. `None` for other kinds of record, and for a task whose
    /// groups are not rendered yet.
    pub fn task_group(&self, i: usize) -> Option<&str> {
        match &self.kind {
            RecordKind::Task { groups: TaskGroups::Rendered(rendered), .. } => rendered.escaped_parts().get(i).copied(),
            _ => None,
        }
    }

    /// The run id the record belongs to: the route's, or for a light span
    /// outside any run, its trace id.
    pub fn run_id(&self) -> std::borrow::Cow<'_, str> {
        if self.route.run_id.is_empty() {
            std::borrow::Cow::Owned(self.trace_id.to_string())
        } else {
            std::borrow::Cow::Borrowed(&self.route.run_id)
        }
    }

    /// Visits the ordered attribute list of `docs/format.md` ("Attributes") by reference, with the
    /// task groups as compact JSON strings; nothing is copied. The JSONL
    /// writer uses this; [`SpanRecord::attributes`] collects it.
    pub fn visit_attributes(&self, f: &mut dyn FnMut(AttrKey<'_>, AttrRef<'_>)) {
        use AttrKey::{Given, Own};
        use AttrRef::{Escaped as E, Str as S};
        // dn's own plain ASCII strings (the version, a span type, hex ids)
        // are passed as escaped already: nothing in them to escape, and the
        // writer copies them without a scan (~150 instructions each).
        f(Own(keys::VERSION), E(crate::attrs::VERSION));
        f(Own(keys::TYPE), E(self.span_type.as_str()));
        f(Own(keys::LABEL), S(&self.label));
        if !matches!(self.kind, RecordKind::Light) {
            f(Own(keys::PROJECT), S(&self.route.project));
        }
        if let Some(session) = &self.route.session_id {
            f(Own(keys::SESSION_ID), S(session));
        }
        for (k, v) in self.attributes.iter().filter(|(k, _)| k.starts_with(keys::CODE_PREFIX)) {
            f(Given(k), v.as_ref());
        }
        f(Own(keys::LOGFIRE_SPAN_TYPE), E("span"));
        f(Own(keys::LOGFIRE_MSG), S(&self.name));
        // Inline: a task in a run has one key here, and the writer formats
        // every line through this (a `Vec` was its one allocation per line).
        let mut schema_props: smallvec::SmallVec<[&str; 4]> = smallvec::SmallVec::new();
        if let RecordKind::Task { parent_task: Some(p), .. } = &self.kind {
            let hex = p.hex_digits();
            f(Own(keys::TASK_PARENT_ID), E(crate::json::ascii_str(&hex)));
            schema_props.push(keys::TASK_PARENT_ID);
        }
        f(Own(keys::RUN_ID), S(&self.run_id()));
        for (k, v) in self.attributes.iter().filter(|(k, _)| !k.starts_with(keys::CODE_PREFIX)) {
            f(Given(k), v.as_ref());
        }
        schema_props.extend(self.late_attribute_keys.iter().map(String::as_str));
        const LARGE: &[&str] = &[keys::OBJECTS, keys::OBJECT_SCHEMAS];
        match &self.kind {
            RecordKind::Light => {}
            RecordKind::Task { groups, .. } => {
                if visit_groups(groups, f) {
                    f(Own(keys::LARGE_ATTRIBUTES), AttrRef::StaticArray(LARGE));
                }
            }
            RecordKind::RunUpdate { data } => {
                let hashes = data.object_hashes();
                if !data.params.is_empty() {
                    f(Own(keys::PARAMS), E(&nested(|o| data.write_params(o))));
                }
                if !data.inputs.is_empty() {
                    f(Own(keys::INPUTS), E(&nested(|o| TaskData::write_refs(&data.inputs, &hashes, o))));
                }
                if !data.outputs.is_empty() {
                    f(Own(keys::OUTPUTS), E(&nested(|o| TaskData::write_refs(&data.outputs, &hashes, o))));
                }
                if !data.metrics.is_empty() {
                    f(Own(keys::METRICS), E(&nested(|o| data.write_metrics(o))));
                }
                if !data.objects.is_empty() {
                    f(Own(keys::OBJECTS), E(&nested(|o| data.write_objects(&hashes, o))));
                    f(Own(keys::OBJECT_SCHEMAS), E(&nested(|o| data.write_schemas(o))));
                    f(Own(keys::LARGE_ATTRIBUTES), AttrRef::StaticArray(LARGE));
                }
                if !data.artifacts.is_empty() {
                    f(Own(keys::ARTIFACTS), E(&nested(|o| data.write_artifacts(o))));
                }
            }
        }
        f(Own(keys::SCHEMA), E(&schema_escaped(&schema_props)));
        f(Own(keys::TAGS), AttrRef::StrArray(&self.tags));
        if matches!(self.status, Status::Error(_)) {
            f(Own(keys::LOGFIRE_LEVEL_NUM), AttrRef::Int(LEVEL_NUM_ERROR));
        }
    }

    /// A task's seven group entries alone, as [`SpanRecord::visit_attributes`]
    /// visits them (consecutive there, under [`TASK_GROUP_KEYS`]); nothing
    /// for any other record. What a line writer that kept the rest of a
    /// task's line ([`TaskLineKey`]) writes between its head and tail,
    /// without visiting the entries it copies (the writer visited them all
    /// and wrote these: a fifth of its samples in the `#[dn::task]` loop).
    pub fn visit_task_groups(&self, f: &mut dyn FnMut(AttrKey<'_>, AttrRef<'_>)) {
        if let RecordKind::Task { groups, .. } = &self.kind {
            visit_groups(groups, f);
        }
    }

    /// Whether this record is in a run and carries no tags, late
    /// attributes or events of its own: what both line keys ask first.
    #[inline]
    fn plain_in_run(&self) -> bool {
        !self.route.run_id.is_empty()
            && self.tags.is_empty()
            && self.late_attribute_keys.is_empty()
            && self.events.is_empty()
    }

    /// Whether this record's line end is one a [`LightLineKey`] fixes: a
    /// light span in a run with no tags, attributes or events of its own.
    fn has_keyed_line_end(&self) -> bool {
        matches!(self.kind, RecordKind::Light) && self.plain_in_run() && self.attributes.is_empty()
    }

    /// For a task whose line around its groups a [`TaskLineKey`] fixes, its
    /// parent task and whether it stored objects; `None` for any other.
    #[inline]
    fn keyed_task_line(&self) -> Option<(Option<SpanId>, bool)> {
        let RecordKind::Task { parent_task, groups: TaskGroups::Rendered(r) } = &self.kind else { return None };
        (self.plain_in_run() && self.attributes.iter().all(|(k, _)| k.starts_with(keys::CODE_PREFIX)))
            .then_some((*parent_task, r.has_objects()))
    }

    /// The ordered attribute list of `docs/format.md` ("Attributes") as owned values (for the OTel
    /// conversion and tests).
    pub fn attributes(&self) -> Vec<(Key, AttrValue)> {
        let mut a: Vec<(Key, AttrValue)> = Vec::with_capacity(24 + self.attributes.len());
        self.visit_attributes(&mut |k, v| a.push((Key::Owned(k.as_str().to_string()), v.to_owned())));
        a
    }
}

/// What a light span's line holds from its attribute list on (the list,
/// its events, the resource) depends on, when the span carries nothing of
/// its own — no tags, attributes or events, in a run: its type, label,
/// name, route (run id and session) and whether it failed. Every other
/// value [`SpanRecord::visit_attributes`] gives a light record is a
/// constant. A loop of light spans repeats that end, about 560 of a line's
/// 790 bytes, so a line writer keeps it (the JSONL exporter's
/// `LineFormatter`) rather than rendering it again for each span.
///
/// Kept beside `visit_attributes`: a field that starts to shape a light
/// record's attributes belongs in this key too (a debug build's line writer
/// checks every line it writes from a kept end against a fresh one).
#[derive(Clone, Debug)]
pub struct LightLineKey {
    span_type: SpanType,
    label: SharedStr,
    name: SharedStr,
    /// Held, not only compared by address: a route freed and another made
    /// at the same address must not match.
    route: Arc<Route>,
    failed: bool,
}

impl LightLineKey {
    /// The key of `rec`'s line end, or `None` when its end is its own: not
    /// a light span, one with tags, attributes or events, or one outside a
    /// run (whose run id is its trace id).
    pub fn of(rec: &SpanRecord) -> Option<LightLineKey> {
        rec.has_keyed_line_end().then(|| LightLineKey {
            span_type: rec.span_type,
            label: rec.label.clone(),
            name: rec.name.clone(),
            route: rec.route.clone(),
            failed: matches!(rec.status, Status::Error(_)),
        })
    }

    /// Whether `rec`'s line ends as the line this key was taken from.
    #[inline]
    pub fn matches(&self, rec: &SpanRecord) -> bool {
        Arc::ptr_eq(&self.route, &rec.route)
            && rec.has_keyed_line_end()
            && self.span_type == rec.span_type
            && self.failed == matches!(rec.status, Status::Error(_))
            && same_text(&self.name, &rec.name)
            && same_text(&self.label, &rec.label)
    }
}

/// What a task span's line holds around its groups depends on, when the
/// task carries no tags, events, late attributes or attributes of its own
/// other than a `#[dn::task]` function's `code.*` ones, in a run, with its
/// groups rendered: before them (the attribute list from its start to the
/// run id) its type, label, name, route (project, session and run id), the
/// parent task's id and the `code.*` attributes; after them (`dreadnode.large_attributes`,
/// the schema, the tags, the error level, the events and the resource)
/// whether it stored objects and whether it failed. A loop of tasks
/// repeats both, about 590 of a 1.7 KB line's bytes and most of the
/// entries its writer formats; a line writer keeps them (the JSONL
/// exporter's `LineFormatter`) and formats only the groups between.
///
/// Kept beside `visit_attributes`, as [`LightLineKey`] is, for the same
/// reason: a field that starts to shape a task's attributes outside its
/// groups belongs in this key too (a debug build's line writer checks every
/// line it writes from a kept head and tail against a fresh one).
#[derive(Clone, Debug)]
pub struct TaskLineKey {
    span_type: SpanType,
    label: SharedStr,
    name: SharedStr,
    /// Held, not only compared by address (see [`LightLineKey`]).
    route: Arc<Route>,
    parent_task: Option<SpanId>,
    /// The `code.*` attributes: the record's whole list (the key is taken
    /// only where it holds no other).
    code: Vec<(Key, AttrValue)>,
    has_objects: bool,
    failed: bool,
}

impl TaskLineKey {
    /// The key of `rec`'s line around its groups, or `None` when that is
    /// its own: not a task, or one with tags, events, late attributes or
    /// attributes other than `code.*`, one outside a run, or one whose
    /// groups are not rendered yet.
    pub fn of(rec: &SpanRecord) -> Option<TaskLineKey> {
        let (parent_task, has_objects) = rec.keyed_task_line()?;
        Some(TaskLineKey {
            span_type: rec.span_type,
            label: rec.label.clone(),
            name: rec.name.clone(),
            route: rec.route.clone(),
            parent_task,
            code: rec.attributes.clone(),
            has_objects,
            failed: matches!(rec.status, Status::Error(_)),
        })
    }

    /// Whether `rec`'s line holds around its groups what the line this key
    /// was taken from does.
    #[inline]
    pub fn matches(&self, rec: &SpanRecord) -> bool {
        Arc::ptr_eq(&self.route, &rec.route)
            && rec.keyed_task_line() == Some((self.parent_task, self.has_objects))
            && self.span_type == rec.span_type
            && self.failed == matches!(rec.status, Status::Error(_))
            && same_text(&self.name, &rec.name)
            && same_text(&self.label, &rec.label)
            && self.code == rec.attributes
    }
}

/// `a == b`, without `memcmp` where it can: a label is mostly empty and a
/// name mostly the same `'static` text each time. Two empty strings (whose
/// address is a dangling 1) compared by glibc's AVX-512 `memcmp` cost 131 ns
/// on this machine kind (it loads a masked vector from the address, and the
/// CPU assists a masked load of an unmapped page); that compare was about
/// two thirds of a light line written from a kept end.
fn same_text(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a.as_ptr() == b.as_ptr() || a == b)
}

/// A task's groups as its line's entries, in their order: the one home of
/// that order for [`SpanRecord::visit_attributes`] and
/// [`SpanRecord::visit_task_groups`]. Data no sink rendered (one that
/// renders them does so before its exporters) is rendered here, for this
/// visit only. Whether the task stored objects.
fn visit_groups(groups: &TaskGroups, f: &mut dyn FnMut(AttrKey<'_>, AttrRef<'_>)) -> bool {
    use AttrKey::Own;
    use AttrRef::Escaped as E;
    let here;
    let r: &RenderedTask = match groups {
        TaskGroups::Rendered(r) => r,
        TaskGroups::Data(d) => {
            here = RenderedTask::render(d);
            &here
        }
    };
    let [params, inputs, outputs, metrics, objects, schemas, artifacts] = r.escaped_parts();
    let [k_params, k_inputs, k_outputs, k_metrics, k_objects, k_schemas, k_artifacts] = TASK_GROUP_KEYS;
    f(Own(k_params), E(params));
    f(Own(k_inputs), E(inputs));
    f(Own(k_outputs), E(outputs));
    f(Own(k_metrics), E(metrics));
    f(Own(k_objects), E(objects));
    f(Own(k_schemas), E(schemas));
    f(Own(k_artifacts), E(artifacts));
    r.has_objects()
}

/// An attribute key, as [`SpanRecord::visit_attributes`] passes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrKey<'a> {
    /// One of dn's own keys ([`keys`]): plain ASCII, so a JSON writer
    /// copies it between quotes without looking at it (checked for every
    /// kind of record by a test, and on every line a debug build writes).
    /// Escaping the keys was a quarter of writing a light span's line.
    Own(&'static str),
    /// A key given at run time (span attributes, the bridge's `code.*`),
    /// escaped as any string is.
    Given(&'a str),
}

impl<'a> AttrKey<'a> {
    /// The key.
    pub fn as_str(self) -> &'a str {
        match self {
            AttrKey::Own(k) => k,
            AttrKey::Given(k) => k,
        }
    }
}

impl PartialEq<&str> for AttrKey<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A borrowed attribute value, as [`SpanRecord::visit_attributes`] passes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttrRef<'a> {
    /// A string.
    Str(&'a str),
    /// A string given escaped, as the content of a JSON string (what goes
    /// between its quotes): the task groups, rendered so on the caller
    /// (see [`RenderedTask`]).
    Escaped(&'a str),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// An array of strings.
    StrArray(&'a [String]),
    /// An array of static strings.
    StaticArray(&'static [&'static str]),
}

impl AttrRef<'_> {
    /// The owned value.
    pub fn to_owned(self) -> AttrValue {
        match self {
            AttrRef::Str(s) => AttrValue::Str(s.to_string()),
            AttrRef::Escaped(s) => AttrValue::Str(crate::json::unescape(s).unwrap_or_default().into_owned()),
            AttrRef::Int(i) => AttrValue::Int(i),
            AttrRef::Float(x) => AttrValue::Float(x),
            AttrRef::Bool(b) => AttrValue::Bool(b),
            AttrRef::StrArray(a) => AttrValue::StrArray(a.to_vec()),
            AttrRef::StaticArray(a) => AttrValue::StrArray(a.iter().map(|s| s.to_string()).collect()),
        }
    }
}

impl AttrValue {
    /// The borrowed view.
    pub fn as_ref(&self) -> AttrRef<'_> {
        match self {
            AttrValue::Str(s) => AttrRef::Str(s),
            AttrValue::Int(i) => AttrRef::Int(*i),
            AttrValue::Float(x) => AttrRef::Float(*x),
            AttrValue::Bool(b) => AttrRef::Bool(*b),
            AttrValue::StrArray(a) => AttrRef::StrArray(a),
            AttrValue::Static(s) => AttrRef::Str(s),
        }
    }
}

/// `dreadnode.schema` for the keys set after start (and a task's parent
/// id), escaped as the content of its JSON string ([`AttrRef::Escaped`]):
/// the two forms nearly every span has are made at compile time.
fn schema_escaped(props: &[&str]) -> Cow<'static, str> {
    const PARENT_ONLY: Lit = lit!(r#"{"type":"object","properties":{"dreadnode.task.parent_id":{}}}"#);
    match props {
        [] => Cow::Borrowed("{}"),
        [keys::TASK_PARENT_ID] => Cow::Borrowed(PARENT_ONLY.nested),
        _ => Cow::Owned(nested(|o| write_schema(props, o))),
    }
}

fn write_schema<O: JsonOut>(props: &[&str], o: &mut O) {
    if props.is_empty() {
        return o.lit(lit!("{}"));
    }
    o.lit(lit!(r#"{"type":"object","properties":{"#));
    for (i, p) in props.iter().enumerate() {
        if i > 0 {
            o.lit(lit!(","));
        }
        o.string(p);
        o.lit(lit!(":{}"));
    }
    o.lit(lit!("}}"));
}

/// Sets `key` (replacing an earlier value in place) and remembers it as set
/// after start.
pub fn set_attr(attrs: &mut Vec<(Key, AttrValue)>, late: &mut Vec<String>, key: &str, v: AttrValue) {
    match attrs.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = v,
        None => attrs.push((Key::from(key.to_string()), v)),
    }
    if !late.iter().any(|k| k == key) {
        late.push(key.to_string());
    }
}

/// Marks a span failed: ERROR status with `message` and an `exception` event.
pub fn fail_state(status: &mut Status, events: &mut Vec<Event>, type_name: &str, message: &str, escaped: bool) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_strings_passed_as_escaped_need_no_escaping() {
        use SpanType as T;
        let types = [
            T::Task,
            T::Evaluation,
            T::Agent,
            T::Study,
            T::Tool,
            T::Trial,
            T::Sample,
            T::Generation,
            T::Scorer,
            T::Transform,
            T::Span,
            T::TaskFragment,
            T::RunUpdate,
        ];
        let hex = SpanId::random().hex_digits();
        let parent = std::str::from_utf8(&hex).unwrap();
        for s in types.iter().map(|t| t.as_str()).chain([crate::attrs::VERSION, "span", parent]) {
            let mut escaped = String::new();
            crate::json::write_escaped(&mut escaped, s);
            assert_eq!(escaped, s);
        }
    }

    #[test]
    fn the_schema_made_at_compile_time_is_the_one_rendered() {
        for props in [&[][..], &[keys::TASK_PARENT_ID], &[keys::TASK_PARENT_ID, "user \"key\""], &["a"]] {
            let mut plain = String::new();
            write_schema(props, &mut crate::json::PlainJson(&mut plain));
            let mut escaped = String::new();
            crate::json::write_escaped(&mut escaped, &plain);
            assert_eq!(schema_escaped(props), escaped, "{props:?}");
        }
        let mut plain = String::new();
        write_schema(&[keys::TASK_PARENT_ID], &mut crate::json::PlainJson(&mut plain));
        assert_eq!(plain, r#"{"type":"object","properties":{"dreadnode.task.parent_id":{}}}"#);
    }
}

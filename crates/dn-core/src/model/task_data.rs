//! What a task logged, as plain data: the references of its inputs and
//! outputs, its stored objects, params, metric series and artifacts
//! ([`TaskData`]), and the compact JSON they are rendered to when the task
//! ends ([`RenderedTask`]). The attribute groups are described in
//! `docs/format.md`.

use std::borrow::Cow;

use compact_str::CompactString;
use serde::Serialize;

#[cfg(test)]
use crate::json::PlainJson;
use crate::json::{JsonOut, NestedJson, lit};
use crate::metric::MetricSeries;
pub use crate::object::StoredValue;
use crate::object::{CapturedValue, Hash16, SerializedValue};
use crate::smallmap::SmallMap;

/// A reference from a task's inputs or outputs to an object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectRef {
    /// Name given by the caller (held inline up to 24 bytes: no allocation
    /// for the usual short names).
    pub name: CompactString,
    /// Cleaned label; `None` when it equals the name.
    pub label: Option<String>,
    /// Object hash.
    pub hash: Hash16,
    /// Compact JSON object of user attributes, if any (borrowed for the
    /// attributes every `#[dn::task]` argument carries: no allocation).
    pub attributes: Option<Cow<'static, str>>,
}

impl ObjectRef {
    /// The reference a logged input or output keeps: `label` cleaned
    /// (`clean_str`; the name when none is given) and kept only when it
    /// differs from the name.
    pub fn new(name: &str, label: Option<&str>, hash: Hash16, attributes: Option<Cow<'static, str>>) -> ObjectRef {
        let label = crate::clean::clean_cow(label.unwrap_or(name));
        ObjectRef { label: (label != name).then(|| label.into_owned()), name: name.into(), hash, attributes }
    }
}

/// A task's inputs or outputs: the first inline, so a task logging one of
/// each allocates no list for them.
pub type ObjectRefs = smallvec::SmallVec<[ObjectRef; 1]>;

/// One stored object of a task.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredObject {
    /// Object hash.
    pub hash: Hash16,
    /// Schema hash.
    pub schema_hash: Hash16,
    /// The value.
    pub value: StoredValue,
}

/// Everything logged on a task span. Kept in insertion order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskData {
    /// Param name → compact JSON value (overwrites keep the first position).
    pub params: SmallMap<String, String, 1>,
    /// Inputs in call order (the first held inline: most tasks log one).
    pub inputs: ObjectRefs,
    /// Outputs in call order (the first held inline).
    pub outputs: ObjectRefs,
    /// Objects by hash.
    pub objects: SmallMap<Hash16, StoredObject, 2>,
    /// Schemas by schema hash (compact JSON).
    pub schemas: SmallMap<Hash16, std::borrow::Cow<'static, str>, 2>,
    /// Metric series by name (names held inline up to 24 bytes).
    pub metrics: SmallMap<CompactString, MetricSeries, 1>,
    /// Artifact records as compact JSON objects.
    pub artifacts: Vec<String>,
}

impl TaskData {
    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
            && self.inputs.is_empty()
            && self.outputs.is_empty()
            && self.objects.is_empty()
            && self.metrics.is_empty()
            && self.artifacts.is_empty()
    }

    /// About how many bytes its seven groups take rendered: about a fifth
    /// more than the JSON, for the escapes of its quotes (what a rendered
    /// buffer is sized to, see [`RenderedTask::render_from`]).
    pub fn render_estimate(&self) -> usize {
        192 + 112 * (self.inputs.len() + self.outputs.len())
            + self.objects.values().map(|o| 112 + o.value.len()).sum::<usize>()
            + self.schemas.values().map(|v| 24 + v.len()).sum::<usize>()
            + self.metrics.iter().map(|(k, v)| 56 + k.len() + 72 * v.len()).sum::<usize>()
            + self.params.iter().map(|(k, v)| 6 + k.len() + v.len()).sum::<usize>()
    }

    /// Group `i` of the seven a task line carries, in their order
    /// (params, inputs, outputs, metrics, objects, schemas, artifacts: the
    /// order of [`RenderedTask::from_parts`]); nothing for any other `i`.
    pub fn write_group<O: JsonOut>(&self, i: usize, o: &mut O) {
        let hashes = if matches!(i, 1 | 2 | 4) { self.object_hashes() } else { ObjectHashes::default() };
        self.write_group_hashed(i, &hashes, o);
    }

    /// [`TaskData::write_group`] with this data's [`TaskData::object_hashes`]
    /// worked out already (once for all seven groups).
    pub fn write_group_hashed<O: JsonOut>(&self, i: usize, hashes: &ObjectHashes, o: &mut O) {
        match i {
            0 => self.write_params(o),
            1 => Self::write_refs(&self.inputs, hashes, o),
            2 => Self::write_refs(&self.outputs, hashes, o),
            3 => self.write_metrics(o),
            4 => self.write_objects(hashes, o),
            5 => self.write_schemas(o),
            6 => self.write_artifacts(o),
            _ => {}
        }
    }

    /// The hashes of the objects stored under a [`Hash16::placeholder`]
    /// (values logged unhashed, see [`crate::LoggedValue`]), worked out
    /// now: what the groups are rendered with. Empty, and no work, when
    /// there are none.
    pub fn object_hashes(&self) -> ObjectHashes {
        let mut worked_out = smallvec::SmallVec::new();
        for o in self.objects.values().filter(|o| o.hash.is_placeholder()) {
            worked_out.push((o.hash, crate::object::unhashed_value_hash(&o.value)));
        }
        ObjectHashes { worked_out }
    }

    /// Adds `r` to the inputs or the outputs.
    pub fn push_ref(&mut self, side: Side, r: ObjectRef) {
        match side {
            Side::Input => self.inputs.push(r),
            Side::Output => self.outputs.push(r),
        }
    }

    /// Stores a value logged unhashed ([`crate::LoggedValue::Unhashed`])
    /// under a placeholder of its own, which it returns for the reference to
    /// it: two such values that hash the same are one object once rendered
    /// ([`TaskData::write_objects`]), as they are when hashed as logged.
    pub fn add_unhashed(&mut self, value: StoredValue) -> Hash16 {
        let hash = Hash16::placeholder(self.objects.len());
        self.schemas.get_or_insert_with(Hash16::ZERO, || Cow::Borrowed("{}"));
        self.objects.push_new(hash, StoredObject { hash, schema_hash: Hash16::ZERO, value });
        hash
    }

    /// `dreadnode.params`: `{"name":value,..}`.
    pub fn write_params<O: JsonOut>(&self, o: &mut O) {
        o.lit(lit!("{"));
        for (i, (k, v)) in self.params.iter().enumerate() {
            if i > 0 {
                o.lit(lit!(","));
            }
            o.string(k);
            o.lit(lit!(":"));
            o.json(v);
        }
        o.lit(lit!("}"));
    }

    /// `dreadnode.inputs` / `dreadnode.outputs`: `[{"name":..,"label":..,"hash":..,"attributes":..},..]`.
    pub fn write_refs<O: JsonOut>(refs: &[ObjectRef], hashes: &ObjectHashes, o: &mut O) {
        o.lit(lit!("["));
        for (i, r) in refs.iter().enumerate() {
            if i > 0 {
                o.lit(lit!(","));
            }
            o.lit(lit!("{\"name\":"));
            let at = o.raw().len();
            o.string(&r.name);
            let name = at..o.raw().len();
            o.lit(lit!(",\"label\":"));
            match r.label.as_deref() {
                Some(label) => o.string(label),
                // The label is the name: its bytes as just written, copied
                // rather than escaped a second time (one copy within the
                // buffer, where a copy through the stack and back was two
                // `memcpy` calls and a UTF-8 check; `String::extend_from_within`
                // is newer than dn's MSRV).
                None => {
                    // SAFETY: `name` is the range `o.string` just appended, a
                    // whole JSON string (quote to quote) of valid UTF-8 that
                    // starts and ends on character boundaries; appending a
                    // copy of it keeps the buffer valid UTF-8.
                    #[allow(unsafe_code)]
                    unsafe {
                        o.raw().as_mut_vec().extend_from_within(name);
                    }
                }
            }
            o.lit(lit!(",\"hash\":\""));
            o.raw().push_str(hashes.of(r.hash).as_str());
            o.lit(lit!("\",\"attributes\":"));
            match r.attributes.as_deref() {
                // What every `#[dn::task]` argument and return value carries.
                Some(AUTO_ATTRIBUTES) => o.lit(lit!(AUTO_ATTRIBUTES)),
                Some(a) => o.json(a),
                None => o.lit(lit!("null")),
            }
            o.lit(lit!("}"));
        }
        o.lit(lit!("]"));
    }

    /// `dreadnode.objects`: `{"hash":{"hash":..,"schema_hash":..,"value":..,"type":"val"},..}`.
    /// An object stored under a placeholder is written under its hash
    /// from `hashes`, unless an object stored before it has that hash: the
    /// first stored is kept, as when each was hashed as it was logged.
    pub fn write_objects<O: JsonOut>(&self, hashes: &ObjectHashes, o: &mut O) {
        o.lit(lit!("{"));
        let mut written = WrittenHashes::for_(hashes, self.objects.len());
        for ob in self.objects.values() {
            let hash = hashes.of(ob.hash);
            if !written.first_time(hash) {
                continue;
            }
            if written.count > 1 {
                o.lit(lit!(","));
            }
            o.lit(lit!("\""));
            o.raw().push_str(hash.as_str());
            o.lit(lit!("\":{\"hash\":\""));
            o.raw().push_str(hash.as_str());
            o.lit(lit!("\",\"schema_hash\":\""));
            o.raw().push_str(ob.schema_hash.as_str());
            match &ob.value {
                StoredValue::Inline(v) => {
                    o.lit(lit!("\",\"value\":"));
                    o.json(v);
                    o.lit(lit!(",\"type\":\"val\"}"));
                }
                StoredValue::Text(s) => {
                    o.lit(lit!("\",\"value\":"));
                    o.string(s);
                    o.lit(lit!(",\"type\":\"val\"}"));
                }
                StoredValue::Uri { uri, size } => {
                    o.lit(lit!("\",\"uri\":"));
                    o.string(uri);
                    o.lit(lit!(",\"size\":"));
                    crate::json::write_int(o.raw(), i128::from(*size));
                    o.lit(lit!(",\"type\":\"uri\"}"));
                }
            }
        }
        o.lit(lit!("}"));
    }

    /// `dreadnode.object_schemas`: `{"schema_hash":schema,..}`.
    pub fn write_schemas<O: JsonOut>(&self, o: &mut O) {
        o.lit(lit!("{"));
        for (i, (h, v)) in self.schemas.iter().enumerate() {
            if i > 0 {
                o.lit(lit!(","));
            }
            o.lit(lit!("\""));
            o.raw().push_str(h.as_str());
            o.lit(lit!("\":"));
            match v.as_ref() {
                // The schema of every number, bool and null.
                "{}" => o.lit(lit!("{}")),
                v => o.json(v),
            }
        }
        o.lit(lit!("}"));
    }

    /// `dreadnode.metrics`: `{"name":{"values":..,"steps":..,"timestamps":..},..}`.
    pub fn write_metrics<O: JsonOut>(&self, o: &mut O) {
        o.lit(lit!("{"));
        for (i, (k, v)) in self.metrics.iter().enumerate() {
            if i > 0 {
                o.lit(lit!(","));
            }
            o.string(k);
            o.lit(lit!(":"));
            v.write_json(o);
        }
        o.lit(lit!("}"));
    }

    /// `dreadnode.artifacts`: `[artifact,..]`.
    pub fn write_artifacts<O: JsonOut>(&self, o: &mut O) {
        o.lit(lit!("["));
        for (i, a) in self.artifacts.iter().enumerate() {
            if i > 0 {
                o.lit(lit!(","));
            }
            o.json(a);
        }
        o.lit(lit!("]"));
    }
}

/// The hashes a task's data renders its objects under: each placeholder's
/// worked out by [`TaskData::object_hashes`].
#[derive(Clone, Debug, Default)]
pub struct ObjectHashes {
    /// (placeholder, hash), in the order the objects were stored: by placeholder.
    worked_out: smallvec::SmallVec<[(Hash16, Hash16); 2]>,
}

impl ObjectHashes {
    /// The hash `h` is written as: `h` itself, or the hash worked out for
    /// the placeholder `h`.
    pub fn of(&self, h: Hash16) -> Hash16 {
        if !h.is_placeholder() {
            return h;
        }
        match self.worked_out.binary_search_by(|(p, _)| p.cmp(&h)) {
            Ok(i) => self.worked_out[i].1,
            Err(_) => {
                // A reference is stored with its object, in the same data.
                debug_assert!(false, "no object for the placeholder {h}");
                h
            }
        }
    }
    /// Whether no object was stored under a placeholder.
    pub fn is_empty(&self) -> bool {
        self.worked_out.is_empty()
    }
}

/// The object hashes [`TaskData::write_objects`] has written, kept only
/// when placeholders could repeat one (otherwise every key is distinct):
/// searched in place up to [`WrittenHashes::SEARCHED`], hashed beyond (no
/// allocation for a task of a few objects).
struct WrittenHashes {
    seen: Option<smallvec::SmallVec<[Hash16; WrittenHashes::SEARCHED]>>,
    indexed: Option<std::collections::HashSet<Hash16>>,
    count: usize,
}

impl WrittenHashes {
    const SEARCHED: usize = 8;

    fn for_(hashes: &ObjectHashes, objects: usize) -> Self {
        let (seen, indexed) = match (hashes.is_empty(), objects > Self::SEARCHED) {
            (true, _) => (None, None),
            (false, false) => (Some(smallvec::SmallVec::new()), None),
            (false, true) => (None, Some(std::collections::HashSet::with_capacity(objects))),
        };
        WrittenHashes { seen, indexed, count: 0 }
    }
    /// Whether `hash` was not written before (and is about to be).
    fn first_time(&mut self, hash: Hash16) -> bool {
        let new = match (&mut self.seen, &mut self.indexed) {
            (Some(seen), _) if seen.contains(&hash) => false,
            (Some(seen), _) => {
                seen.push(hash);
                true
            }
            (None, Some(indexed)) => indexed.insert(hash),
            (None, None) => true,
        };
        self.count += usize::from(new);
        new
    }
}

/// Renders with `write` into a new string, escaped as the content of a JSON
/// string (a group of a run's update, see `record.rs`).
pub(crate) fn nested(write: impl FnOnce(&mut NestedJson<'_>)) -> String {
    let mut s = String::new();
    write(&mut NestedJson(&mut s));
    s
}

/// The task attribute groups as compact JSON, in one buffer: what an ended
/// task's record carries to its line. It is rendered once: when the task
/// ends, on the caller's thread, or — for a small task, while the export
/// pipeline's writer has time to spare — on the writer, before any exporter
/// reads the record (see [`crate::TaskGroups`]). Either way into a buffer
/// given back after an earlier line (see `runtime/recycle.rs`): rendering on
/// the writer was measured slower once, when the writer freed the caller's
/// allocations and the allocator's lock was contended; neither side frees
/// the other's now. A run holding thousands of finished tasks stays small.
///
/// Each group is held escaped as the content of a JSON string
/// ([`NestedJson`]), as the JSONL line carries it: the writer copies it
/// between quotes. The named accessors give the JSON itself.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedTask {
    buf: String,
    ends: [u32; 7],
    has_objects: bool,
}

/// Each of a task's seven groups when it holds nothing, in the order of
/// [`crate::TASK_GROUP_KEYS`] (the same text escaped or not).
pub const EMPTY_TASK_GROUPS: [&str; 7] = ["{}", "[]", "[]", "{}", "{}", "{}", "[]"];

/// What a rendered buffer's size is rounded up to (see
/// [`RenderedTask::render_from`]).
const RESERVE_STEP: usize = 256;

/// The end of group `i`, written from `start` on: its offset in the buffer.
/// Offsets are 32-bit, so a group that would end past 4 GiB (a run's metric
/// series of some 65 million points) is written as empty rather than
/// leaving offsets that wrapped, which slicing the groups would panic on.
fn end_group(buf: &mut String, start: usize, i: usize) -> u32 {
    end_group_within(buf, start, i, u32::MAX as usize)
}

/// [`end_group`] with the largest offset `limit` (`u32::MAX` but in tests,
/// which cannot fill 4 GiB).
fn end_group_within(buf: &mut String, start: usize, i: usize, limit: usize) -> u32 {
    if buf.len() > limit {
        buf.truncate(start);
        buf.push_str(EMPTY_TASK_GROUPS[i]);
    }
    u32::try_from(buf.len().min(limit)).unwrap_or(u32::MAX)
}

impl RenderedTask {
    /// Renders every group of `d` (the buffer fitted to the JSON: what a
    /// task read back keeps).
    pub fn render(d: &TaskData) -> RenderedTask {
        let mut r = RenderedTask::unrendered();
        r.render_from(d);
        r.buf.shrink_to_fit();
        r
    }
    /// A buffer with nothing rendered yet, for [`RenderedTask::render_from`]
    /// (its groups read as empty until then).
    pub fn unrendered() -> RenderedTask {
        RenderedTask { buf: String::new(), ends: [0; 7], has_objects: false }
    }
    /// Renders every group of `d` into this buffer, replacing what it held
    /// and keeping its capacity (how a recycled buffer is reused, see
    /// `runtime/recycle.rs`).
    pub fn render_from(&mut self, d: &TaskData) {
        // One buffer, written group by group (one allocation, not eight).
        let estimate = d.render_estimate();
        // Rounded up to a step: a recycled buffer is reused as it is for a
        // task a few bytes larger than its last (a logged number that gained
        // a digit), where `reserve` had doubled it, into memory never touched.
        self.buf.clear();
        self.buf.reserve_exact(estimate.next_multiple_of(RESERVE_STEP));
        let hashes = d.object_hashes();
        for (i, end) in self.ends.iter_mut().enumerate() {
            let start = self.buf.len();
            d.write_group_hashed(i, &hashes, &mut NestedJson(&mut self.buf));
            *end = end_group(&mut self.buf, start, i);
        }
        self.has_objects = !d.objects.is_empty();
    }
    /// From the seven groups' JSON, in the order of [`RenderedTask::render`]
    /// (params, inputs, outputs, metrics, objects, schemas, artifacts), as a
    /// line read back holds them.
    pub fn from_parts(parts: [&str; 7]) -> RenderedTask {
        let capacity = parts.iter().map(|p| p.len() + p.len() / 4).sum();
        Self::from_groups(parts, capacity, crate::json::write_escaped)
    }
    /// From the seven groups each escaped as the content of a JSON string,
    /// as a line holds them between the quotes of its attributes (by any
    /// JSON writer: dn's escapes or Python's), copied as they are: what a
    /// line read back keeps, with no unescaping and escaping again (for a
    /// run's metric series, tens of MB twice). The caller passes valid
    /// string content (a parsed line's), which every accessor unescapes.
    pub fn from_escaped_parts(parts: [&str; 7]) -> RenderedTask {
        let capacity = parts.iter().map(|p| p.len()).sum();
        Self::from_groups(parts, capacity, String::push_str)
    }
    /// The groups written one after another by `write`.
    fn from_groups(parts: [&str; 7], capacity: usize, write: impl Fn(&mut String, &str)) -> RenderedTask {
        let mut buf = String::with_capacity(capacity);
        let mut ends = [0u32; 7];
        for (i, p) in parts.iter().enumerate() {
            let start = buf.len();
            write(&mut buf, p);
            ends[i] = end_group(&mut buf, start, i);
        }
        let has_objects = parts[4] != EMPTY_TASK_GROUPS[4];
        RenderedTask { buf, ends, has_objects }
    }
    /// The seven groups, each escaped as the content of a JSON string, in
    /// the order of [`RenderedTask::from_parts`] (what the JSONL writer
    /// copies).
    ///
    /// Written out rather than by `std::array::from_fn`, whose closure the
    /// compiler at times left as a call of its own: seven calls and about
    /// 140 instructions more for every task line the writer formats.
    #[inline]
    pub fn escaped_parts(&self) -> [&str; 7] {
        let [a, b, c, d, e, f, g] = self.ends.map(|end| end as usize);
        let s = self.buf.as_str();
        [&s[..a], &s[a..b], &s[b..c], &s[c..d], &s[d..e], &s[e..f], &s[f..g]]
    }
    fn part(&self, i: usize) -> Cow<'_, str> {
        let escaped = self.escaped_parts()[i];
        // Rendered by `NestedJson`, or escaped by `from_parts`: it unescapes.
        crate::json::unescape(escaped).unwrap_or(Cow::Borrowed(""))
    }
    /// `dreadnode.params`.
    pub fn params(&self) -> Cow<'_, str> {
        self.part(0)
    }
    /// `dreadnode.inputs`.
    pub fn inputs(&self) -> Cow<'_, str> {
        self.part(1)
    }
    /// `dreadnode.outputs`.
    pub fn outputs(&self) -> Cow<'_, str> {
        self.part(2)
    }
    /// `dreadnode.metrics`.
    pub fn metrics(&self) -> Cow<'_, str> {
        self.part(3)
    }
    /// `dreadnode.objects`.
    pub fn objects(&self) -> Cow<'_, str> {
        self.part(4)
    }
    /// `dreadnode.object_schemas`.
    pub fn schemas(&self) -> Cow<'_, str> {
        self.part(5)
    }
    /// `dreadnode.artifacts`.
    pub fn artifacts(&self) -> Cow<'_, str> {
        self.part(6)
    }
    /// Bytes of rendered (escaped) JSON held.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Bytes the buffer holds, spare capacity included (what bounds a queue).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
    /// Where the buffer's bytes start (for [`crate::prefetch_for_write`]).
    pub(crate) fn buffer_ptr(&self) -> *const u8 {
        self.buf.as_ptr()
    }
    /// Whether nothing is rendered (never true for a rendered task: its groups are at least `{}`/`[]`).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    /// Whether any object exists.
    pub fn has_objects(&self) -> bool {
        self.has_objects
    }
}

impl TaskData {
    /// Adds an object and its schema, once per hash.
    pub fn add_object(&mut self, (o, value): (SerializedValue, StoredValue)) {
        self.schemas.get_or_insert_with(o.schema_hash, || o.schema_json);
        self.objects.get_or_insert_with(o.hash, || StoredObject { hash: o.hash, schema_hash: o.schema_hash, value });
    }
}

/// The attributes of a value `#[dn::task]` logs for an argument or the
/// return value, as `RefOptions::new().attribute("auto", true)` renders them.
pub(crate) const AUTO_ATTRIBUTES: &str = r#"{"auto":true}"#;

/// Which list a logged object goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `dreadnode.inputs`.
    Input,
    /// `dreadnode.outputs`.
    Output,
}

/// Label and attributes for a logged input or output.
#[derive(Clone, Debug, Default)]
pub struct RefOptions {
    pub(crate) label: Option<String>,
    pub(crate) attributes: Vec<(String, CapturedValue)>,
}

impl RefOptions {
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
    pub fn attribute<T: Serialize>(mut self, key: impl Into<String>, value: T) -> Self {
        let v =
            CapturedValue::capture(&value).unwrap_or_else(|_| CapturedValue::Str(std::any::type_name::<T>().into()));
        self.attributes.push((key.into(), v));
        self
    }
    pub(crate) fn attributes_json(&self) -> Option<String> {
        (!self.attributes.is_empty()).then(|| {
            let mut s = String::new();
            CapturedValue::write_map_json(&self.attributes, &mut s);
            s
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group that would end past the offsets' limit (4 GiB; 20 bytes
    /// here) is written as empty, and the groups before it are kept whole.
    #[test]
    fn a_group_past_the_offset_limit_is_written_empty_and_the_others_kept() {
        let mut buf = String::new();
        let mut ends = Vec::new();
        for (i, group) in ["{\"a\":1}", "[1,2,3]", "[\"a long output group\"]", "{}"].iter().enumerate() {
            let start = buf.len();
            buf.push_str(group);
            ends.push(end_group_within(&mut buf, start, i, 20));
        }
        assert_eq!(buf, "{\"a\":1}[1,2,3][]{}");
        assert_eq!(ends, [7, 14, 16, 18]);
    }

    #[test]
    fn empty_groups_are_what_a_task_that_logged_nothing_renders() {
        assert_eq!(RenderedTask::render(&TaskData::default()).escaped_parts(), EMPTY_TASK_GROUPS);
        let back = RenderedTask::from_escaped_parts(EMPTY_TASK_GROUPS);
        assert_eq!(back.escaped_parts(), EMPTY_TASK_GROUPS);
        assert!(!back.has_objects());
    }

    /// Task data whose every string is `text`, in every group and form a
    /// value takes (inline and offloaded objects, params, labels, metric
    /// names, ref attributes, artifacts).
    fn data_of(text: &str) -> TaskData {
        let mut d = TaskData::default();
        let value = crate::object::serialize(&text);
        d.params.insert(text.to_string(), CapturedValue::Str(text.into()).to_json());
        d.params.insert("n".into(), "1.5".into());
        let opts = RefOptions::new().attribute(text, text).label(text);
        let hash = value.hash;
        d.add_object((value, StoredValue::Inline(CapturedValue::Str(text.into()).to_json().into())));
        d.inputs.push(ObjectRef {
            name: text.into(),
            label: opts.label.clone(),
            hash,
            attributes: opts.attributes_json().map(Cow::Owned),
        });
        d.outputs.push(ObjectRef { name: "y".into(), label: None, hash, attributes: Some(AUTO_ATTRIBUTES.into()) });
        // A number: its schema is the empty one, `{}`.
        let n = crate::object::serialize(&7);
        let n_hash = n.hash;
        d.add_object((n, StoredValue::Inline("7".into())));
        d.outputs.push(ObjectRef { name: "n".into(), label: None, hash: n_hash, attributes: None });
        // Labels equal to their names (`None`), the name's escaped bytes
        // copied for the label: a short name and a long one (past the
        // 64 bytes the copy once went through on the stack), both carrying
        // `text`'s escapes.
        d.inputs.push(ObjectRef { name: text.into(), label: None, hash: n_hash, attributes: None });
        d.inputs.push(ObjectRef {
            name: format!("{text}{}", "x".repeat(70)).into(),
            label: None,
            hash,
            attributes: None,
        });
        let uri = Hash16::sha1_prefix(text.as_bytes());
        d.objects.insert(
            uri,
            StoredObject {
                hash: uri,
                schema_hash: uri,
                value: StoredValue::Uri { uri: format!("s3://b/{text}"), size: 5 },
            },
        );
        let mut m = MetricSeries::default();
        m.push(
            f64::NAN,
            1,
            crate::time::Timestamp::from_nanos(1_700_000_000_123_456_789),
            crate::metric::Aggregation::Direct,
        );
        m.push(0.25, -3, crate::time::Timestamp::from_nanos(0), crate::metric::Aggregation::Direct);
        d.metrics.insert(text.into(), m);
        d.artifacts.push(CapturedValue::Str(text.into()).to_json());
        d
    }

    proptest::proptest! {
        /// The form the JSONL line carries, rendered in one pass on the
        /// caller, is exactly the plain JSON escaped as a string's content.
        #[test]
        fn each_group_rendered_nested_is_its_plain_json_escaped(
            text in proptest::string::string_regex("([a-z \"\\\\{}:,]|[\\x00-\\x1f]|[é€😀\u{2028}\u{2029}]){0,12}").unwrap()
        ) {
            let d = data_of(&text);
            let r = RenderedTask::render(&d);
            for i in 0..7 {
                let mut json = String::new();
                d.write_group(i, &mut PlainJson(&mut json));
                serde_json::from_str::<serde_json::Value>(&json.replace("NaN", "null")).expect("plain JSON");
                let mut escaped = String::new();
                crate::json::write_escaped(&mut escaped, &json);
                proptest::prop_assert_eq!(r.escaped_parts()[i], escaped.as_str(), "group {}", i);
                proptest::prop_assert_eq!(&*[r.params(), r.inputs(), r.outputs(), r.metrics(), r.objects(), r.schemas(), r.artifacts()][i], json.as_str());
            }
            let parts = [r.params(), r.inputs(), r.outputs(), r.metrics(), r.objects(), r.schemas(), r.artifacts()];
            let back = RenderedTask::from_parts(std::array::from_fn(|i| &*parts[i]));
            proptest::prop_assert_eq!(back.escaped_parts(), r.escaped_parts());
            proptest::prop_assert!(back.has_objects());
        }

        /// A string kept as its text renders, plain and nested, exactly as
        /// its compact JSON held inline did (`StoredValue::Text`).
        #[test]
        fn a_string_held_as_text_renders_as_its_inline_json(
            text in proptest::string::string_regex("([a-z \"\\\\{}:,/]|[\\x00-\\x1f\\x7f]|[é€😀\u{2028}\u{2029}]){0,40}").unwrap()
        ) {
            let logged = crate::object::serialize(&text);
            proptest::prop_assert_eq!(&logged.value, &StoredValue::Text(text.clone()));
            let inline = StoredValue::Inline(CapturedValue::Str(text.clone()).to_json().into());
            proptest::prop_assert_eq!(logged.value.to_json(), inline.to_json());
            let [as_text, as_inline] = [logged.value.clone(), inline].map(|value| {
                let mut d = TaskData::default();
                d.add_object((logged.clone(), value));
                let mut plain = String::new();
                d.write_objects(&ObjectHashes::default(), &mut PlainJson(&mut plain));
                (plain, RenderedTask::render(&d).escaped_parts()[4].to_string())
            });
            proptest::prop_assert_eq!(as_text, as_inline);
        }
    }

    #[test]
    fn the_auto_attributes_are_what_ref_options_render() {
        assert_eq!(RefOptions::new().attribute("auto", true).attributes_json().as_deref(), Some(AUTO_ATTRIBUTES));
        let opts = RefOptions::new().attribute("k\"ey", vec![1.5, f64::NAN]).attribute("n", "é");
        assert_eq!(
            opts.attributes_json(),
            Some(CapturedValue::Map(opts.attributes.clone()).to_json()),
            "rendered without a copy, the same JSON"
        );
        assert_eq!(RefOptions::new().attributes_json(), None);
    }
}

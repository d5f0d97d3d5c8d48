//! What a task logged, as plain data: the references of its inputs and
//! outputs, its stored objects, params, metric series and artifacts
//! ([`TaskData`]), and the compact JSON they are rendered to when the task
//! ends ([`RenderedTask`]). The attribute groups are described in
//! `docs/format.md`.

use serde::Serialize;

use crate::json::write_str;
use crate::metric::MetricSeries;
use crate::object::{CapturedValue, Hash16, SerializedValue};
use crate::smallmap::SmallMap;

/// A reference from a task's inputs or outputs to an object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectRef {
    /// Name given by the caller.
    pub name: String,
    /// Cleaned label; `None` when it equals the name.
    pub label: Option<String>,
    /// Object hash.
    pub hash: Hash16,
    /// Compact JSON object of user attributes, if any.
    pub attributes: Option<String>,
}

/// How an object's value is held.
#[derive(Clone, Debug, PartialEq)]
pub enum StoredValue {
    /// Inline compact JSON (`type: "val"`).
    Inline(String),
    /// Offloaded to the store (`type: "uri"`).
    Uri {
        /// `s3://...` location.
        uri: String,
        /// Data size in bytes.
        size: u64,
    },
}

impl StoredValue {
    /// Bytes of text it renders to, about.
    pub fn len(&self) -> usize {
        match self {
            StoredValue::Inline(v) => v.len(),
            StoredValue::Uri { uri, .. } => uri.len() + 24,
        }
    }
    /// Whether it renders to nothing (never: a value is at least `null`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

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
    pub params: SmallMap<String, String>,
    /// Inputs in call order.
    pub inputs: Vec<ObjectRef>,
    /// Outputs in call order.
    pub outputs: Vec<ObjectRef>,
    /// Objects by hash.
    pub objects: SmallMap<Hash16, StoredObject>,
    /// Schemas by schema hash (compact JSON).
    pub schemas: SmallMap<Hash16, std::borrow::Cow<'static, str>>,
    /// Metric series by name.
    pub metrics: SmallMap<String, MetricSeries>,
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

    pub(crate) fn params_json(&self) -> String {
        let mut s = String::new();
        self.write_params_json(&mut s);
        s
    }

    pub(crate) fn write_params_json(&self, s: &mut String) {
        s.push('{');
        for (i, (k, v)) in self.params.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            write_str(s, k, false);
            s.push(':');
            s.push_str(v);
        }
        s.push('}');
    }

    pub(crate) fn refs_json(refs: &[ObjectRef]) -> String {
        let mut s = String::new();
        Self::write_refs_json(refs, &mut s);
        s
    }

    pub(crate) fn write_refs_json(refs: &[ObjectRef], s: &mut String) {
        s.push('[');
        for (i, r) in refs.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"name\":");
            write_str(s, &r.name, false);
            s.push_str(",\"label\":");
            write_str(s, r.label.as_deref().unwrap_or(&r.name), false);
            s.push_str(",\"hash\":\"");
            s.push_str(r.hash.as_str());
            s.push_str("\",\"attributes\":");
            s.push_str(r.attributes.as_deref().unwrap_or("null"));
            s.push('}');
        }
        s.push(']');
    }

    pub(crate) fn objects_json(&self) -> String {
        let mut s = String::new();
        self.write_objects_json(&mut s);
        s
    }

    pub(crate) fn write_objects_json(&self, s: &mut String) {
        s.push('{');
        for (i, o) in self.objects.values().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('"');
            s.push_str(o.hash.as_str());
            s.push_str("\":{\"hash\":\"");
            s.push_str(o.hash.as_str());
            s.push_str("\",\"schema_hash\":\"");
            s.push_str(o.schema_hash.as_str());
            match &o.value {
                StoredValue::Inline(v) => {
                    s.push_str("\",\"value\":");
                    s.push_str(v);
                    s.push_str(",\"type\":\"val\"}");
                }
                StoredValue::Uri { uri, size } => {
                    s.push_str("\",\"uri\":");
                    write_str(s, uri, false);
                    s.push_str(",\"size\":");
                    s.push_str(&size.to_string());
                    s.push_str(",\"type\":\"uri\"}");
                }
            }
        }
        s.push('}');
    }

    pub(crate) fn schemas_json(&self) -> String {
        let mut s = String::new();
        self.write_schemas_json(&mut s);
        s
    }

    pub(crate) fn write_schemas_json(&self, s: &mut String) {
        s.push('{');
        for (i, (h, v)) in self.schemas.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('"');
            s.push_str(h.as_str());
            s.push_str("\":");
            s.push_str(v);
        }
        s.push('}');
    }

    pub(crate) fn metrics_json(&self) -> String {
        let mut s = String::new();
        self.write_metrics_json(&mut s);
        s
    }

    pub(crate) fn write_metrics_json(&self, s: &mut String) {
        s.push('{');
        for (i, (k, v)) in self.metrics.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            write_str(s, k, false);
            s.push(':');
            v.write_json(s);
        }
        s.push('}');
    }

    pub(crate) fn artifacts_json(&self) -> String {
        let mut s = String::new();
        self.write_artifacts_json(&mut s);
        s
    }

    pub(crate) fn write_artifacts_json(&self, s: &mut String) {
        s.push('[');
        for (i, a) in self.artifacts.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(a);
        }
        s.push(']');
    }
}

/// The task attribute groups as compact JSON, in one buffer: what an ended
/// task keeps and what its record carries. It is rendered once, when the
/// task ends, on the caller's thread (measured: rendering on the writer
/// thread was slower, its frees of the caller's allocations contending for
/// the allocator, and kept twice the memory in flight). Once its line is
/// written the buffer goes back for the next task to reuse (see
/// `runtime/recycle.rs`). A run holding thousands of finished tasks stays
/// small.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedTask {
    buf: String,
    ends: [u32; 7],
    has_objects: bool,
}

impl RenderedTask {
    /// Renders every group of `d` (the buffer fitted to the JSON: what a
    /// task read back keeps).
    pub fn render(d: &TaskData) -> RenderedTask {
        let mut r = RenderedTask { buf: String::new(), ends: [0; 7], has_objects: false };
        r.render_from(d);
        r.buf.shrink_to_fit();
        r
    }
    /// Renders every group of `d` into this buffer, replacing what it held
    /// and keeping its capacity (how a recycled buffer is reused, see
    /// `runtime/recycle.rs`).
    pub fn render_from(&mut self, d: &TaskData) {
        // One buffer, written group by group (one allocation, not eight).
        self.buf.clear();
        self.buf.reserve(
            160 + 96 * (d.inputs.len() + d.outputs.len())
                + d.objects.values().map(|o| 96 + o.value.len()).sum::<usize>()
                + d.schemas.values().map(|v| 20 + v.len()).sum::<usize>()
                + d.metrics.iter().map(|(k, v)| 48 + k.len() + 64 * v.len()).sum::<usize>()
                + d.params.iter().map(|(k, v)| 4 + k.len() + v.len()).sum::<usize>(),
        );
        let writers: [&dyn Fn(&mut String); 7] = [
            &|s| d.write_params_json(s),
            &|s| TaskData::write_refs_json(&d.inputs, s),
            &|s| TaskData::write_refs_json(&d.outputs, s),
            &|s| d.write_metrics_json(s),
            &|s| d.write_objects_json(s),
            &|s| d.write_schemas_json(s),
            &|s| d.write_artifacts_json(s),
        ];
        for (i, w) in writers.iter().enumerate() {
            w(&mut self.buf);
            self.ends[i] = self.buf.len() as u32;
        }
        self.has_objects = !d.objects.is_empty();
    }
    /// From the seven rendered groups, in the order of [`RenderedTask::render`]
    /// (params, inputs, outputs, metrics, objects, schemas, artifacts), as a
    /// line read back holds them.
    pub fn from_parts(parts: [&str; 7]) -> RenderedTask {
        let mut buf = String::with_capacity(parts.iter().map(|p| p.len()).sum());
        let mut ends = [0u32; 7];
        for (i, p) in parts.iter().enumerate() {
            buf.push_str(p);
            ends[i] = buf.len() as u32;
        }
        let has_objects = parts[4] != "{}";
        RenderedTask { buf, ends, has_objects }
    }
    fn part(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.buf[start..self.ends[i] as usize]
    }
    /// `dreadnode.params`.
    pub fn params(&self) -> &str {
        self.part(0)
    }
    /// `dreadnode.inputs`.
    pub fn inputs(&self) -> &str {
        self.part(1)
    }
    /// `dreadnode.outputs`.
    pub fn outputs(&self) -> &str {
        self.part(2)
    }
    /// `dreadnode.metrics`.
    pub fn metrics(&self) -> &str {
        self.part(3)
    }
    /// `dreadnode.objects`.
    pub fn objects(&self) -> &str {
        self.part(4)
    }
    /// `dreadnode.object_schemas`.
    pub fn schemas(&self) -> &str {
        self.part(5)
    }
    /// `dreadnode.artifacts`.
    pub fn artifacts(&self) -> &str {
        self.part(6)
    }
    /// Bytes of rendered JSON held.
    pub fn len(&self) -> usize {
        self.buf.len()
    }
    /// Bytes the buffer holds, spare capacity included (what bounds a queue).
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
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

//! Reading a span back from the JSONL line it was written as — by dn or by
//! the Python SDK (`docs/format.md`, "The JSONL line"): what
//! `TaskSpan::tasks()` returns for children that ended (a parent keeps only
//! their span ids), and what the `dn` command shows.

use crate::attrs::{SpanType, keys};
use crate::ids::{SpanId, TraceId};
use crate::record::{Status, TASK_GROUP_KEYS};
use crate::task_data::{EMPTY_TASK_GROUPS, RenderedTask};
use crate::text::SharedStr;
use crate::time::Timestamp;

/// A span as read back from its line: identity and outcome, and (when asked
/// for) the rendered data of a task span.
#[derive(Clone, Debug)]
pub struct SpanLine {
    /// Trace id.
    pub trace_id: TraceId,
    /// Span id.
    pub span_id: SpanId,
    /// OTel parent span id.
    pub parent_id: Option<SpanId>,
    /// Span id of the parent task (`dreadnode.task.parent_id`).
    pub parent_task: Option<SpanId>,
    /// Span name.
    pub name: SharedStr,
    /// `dreadnode.type`.
    pub span_type: SpanType,
    /// `dreadnode.label`.
    pub label: SharedStr,
    /// Status; an error's message is that of its exception event.
    pub status: Status,
    /// Start time.
    pub start: Timestamp,
    /// End time.
    pub end: Timestamp,
    /// `dreadnode.tags`.
    pub tags: Vec<String>,
    /// `dreadnode.run.id`.
    pub run_id: Option<SharedStr>,
    /// `dreadnode.project`.
    pub project: Option<SharedStr>,
    /// `dreadnode.session.id`.
    pub session_id: Option<SharedStr>,
    /// The task groups, when parsed with data and the line has them (task
    /// spans, fragments and run updates; a missing group reads as empty).
    /// Shared: a view of them ([`crate::TaskView::Rendered`]) is no copy.
    pub rendered: Option<std::sync::Arc<RenderedTask>>,
    /// The user's attributes (every key but `dreadnode.*`, `logfire.*` and
    /// `code.*`) in line order, when parsed with data: what a light span,
    /// a bridged `tracing` span or `set_attribute` recorded.
    pub attributes: Vec<(String, serde_json::Value)>,
    /// The events other than exceptions (the status says those) and object
    /// links, as (name, attributes), when parsed with data.
    pub events: Vec<(String, serde_json::Map<String, serde_json::Value>)>,
}

#[derive(serde::Deserialize)]
struct Line<'a> {
    trace_id: &'a str,
    span_id: &'a str,
    #[serde(default)]
    parent_id: Option<&'a str>,
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(default)]
    status: Option<&'a str>,
    start_time: &'a str,
    end_time: &'a str,
    #[serde(default, borrow)]
    attributes: Attributes<'a>,
    #[serde(default)]
    events: Vec<serde_json::Value>,
}

/// A line's attributes in line order, each value its JSON text as the line
/// holds it (borrowed: a group — a run's metric series, tens of MB — is
/// neither unescaped nor copied to be read).
#[derive(Default)]
struct Attributes<'a>(Vec<(std::borrow::Cow<'a, str>, &'a serde_json::value::RawValue)>);

/// An attribute key, borrowed unless it holds an escape.
#[derive(serde::Deserialize)]
struct AttrKey<'a>(#[serde(borrow)] std::borrow::Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Attributes<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Attributes<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of attributes")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut all = Vec::with_capacity(m.size_hint().unwrap_or(24));
                while let Some((AttrKey(k), v)) = m.next_entry::<AttrKey<'de>, &'de serde_json::value::RawValue>()? {
                    all.push((k, v));
                }
                Ok(Attributes(all))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

impl<'a> Attributes<'a> {
    /// The value of `key` as JSON text (the last, when a key repeats: as a
    /// JSON object reads).
    fn raw(&self, key: &str) -> Option<&'a str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.get())
    }
    /// Whether the line has `key`.
    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
    /// The value of `key` when it is a string, unescaped.
    fn str(&self, key: &str) -> Option<std::borrow::Cow<'a, str>> {
        crate::json::unescape(self.escaped(key)?)
    }
    /// The value of `key` when it is a string, still escaped: the text
    /// between its quotes.
    fn escaped(&self, key: &str) -> Option<&'a str> {
        self.raw(key)?.strip_prefix('"')?.strip_suffix('"')
    }
}

/// Strings lines share (see [`SpanLine::parse_sharing`]): each text once,
/// up to [`LineStrings::MAX`] texts (past that, new texts are not kept: a
/// file of distinct names costs what it did without sharing).
#[derive(Debug, Default)]
pub struct LineStrings {
    seen: std::collections::HashSet<SharedStr>,
}

impl LineStrings {
    /// Most distinct texts kept.
    pub const MAX: usize = 4096;

    /// `text`, shared with an earlier equal one when there was one.
    pub fn get(&mut self, text: &str) -> SharedStr {
        if text.is_empty() {
            return SharedStr::default();
        }
        if let Some(s) = self.seen.get(text) {
            return s.clone();
        }
        let s = SharedStr::Shared(std::sync::Arc::from(text));
        if self.seen.len() < Self::MAX {
            self.seen.insert(s.clone());
        }
        s
    }
}

/// The span id of a line written by dn, read from its fixed prefix
/// (`{"trace_id":"<32 hex>","span_id":"<16 hex>"`) without parsing it; `None`
/// for any other shape (then parse the line).
pub fn span_id_prefix(line: &[u8]) -> Option<SpanId> {
    const AT: usize = r#"{"trace_id":""#.len() + 32 + r#"","span_id":""#.len();
    let hex = line.get(AT..AT + 16)?;
    if !line.starts_with(br#"{"trace_id":""#) || line.get(AT + 16) != Some(&b'"') {
        return None;
    }
    SpanId::from_hex(std::str::from_utf8(hex).ok()?)
}

impl SpanLine {
    /// Whether this is a task span (runs included; not a light span, a
    /// fragment or a run update).
    pub fn is_task(&self) -> bool {
        !matches!(self.span_type, SpanType::Span | SpanType::TaskFragment | SpanType::RunUpdate)
    }

    /// Parses a task span's line: `None` for any other span (light spans,
    /// fragments, run updates) and for anything unreadable. With
    /// `with_data`, the task groups are kept as [`RenderedTask`].
    pub fn parse_task(line: &str, with_data: bool) -> Option<SpanLine> {
        Self::parse(line, with_data).filter(SpanLine::is_task)
    }

    /// Parses any span's line (`None` when it is not a span line dn or the
    /// Python SDK writes: not JSON, no ids, an unknown type, a bad time).
    /// With `with_data`, the task groups are kept as [`RenderedTask`].
    pub fn parse(line: &str, with_data: bool) -> Option<SpanLine> {
        Self::parse_sharing(line, with_data, &mut LineStrings::default())
    }

    /// [`SpanLine::parse`], its name, label, run id, project and session id
    /// shared with the lines read before through `strings` (a run's lines
    /// repeat them: a reader of a million spans held each as a string of
    /// its own, about a quarter of what it held).
    pub fn parse_sharing(line: &str, with_data: bool, strings: &mut LineStrings) -> Option<SpanLine> {
        let l: Line<'_> = serde_json::from_str(line).ok()?;
        let a = &l.attributes;
        let span_type: SpanType = a.str(keys::TYPE)?.parse().ok()?;
        let has_groups = a.has(keys::INPUTS) || a.has(keys::METRICS) || a.has(keys::PARAMS);
        let status = match l.status.unwrap_or("UNSET") {
            "OK" => Status::Ok,
            "ERROR" => Status::Error(exception_message(&l.events).unwrap_or_default()),
            _ => Status::Unset,
        };
        let rendered = (with_data && has_groups).then(|| {
            let part = |i: usize| a.escaped(TASK_GROUP_KEYS[i]).unwrap_or(EMPTY_TASK_GROUPS[i]);
            std::sync::Arc::new(RenderedTask::from_escaped_parts(std::array::from_fn(part)))
        });
        let mut own = |k: &str| a.str(k).map(|v| strings.get(&v));
        let (attributes, events) = if with_data {
            let user = |k: &str| {
                !(k.starts_with("dreadnode.") || k.starts_with("logfire.") || k.starts_with(keys::CODE_PREFIX))
            };
            // Each key once, where it first appears, with its last value
            // (as a JSON object reads).
            let mut attributes: Vec<(String, serde_json::Value)> = Vec::new();
            for (k, raw) in a.0.iter().filter(|(k, _)| user(k)) {
                let v = serde_json::from_str(raw.get()).unwrap_or_default();
                match attributes.iter_mut().find(|(have, _)| have == k) {
                    Some(seen) => seen.1 = v,
                    None => attributes.push((k.to_string(), v)),
                }
            }
            let events = l
                .events
                .iter()
                .filter_map(|e| {
                    let name = e.get("name")?.as_str()?;
                    if name == keys::EVENT_EXCEPTION || name == keys::EVENT_OBJECT_LINK {
                        return None;
                    }
                    let attrs = e.get("attributes").and_then(serde_json::Value::as_object).cloned().unwrap_or_default();
                    Some((name.to_string(), attrs))
                })
                .collect();
            (attributes, events)
        } else {
            (Vec::new(), Vec::new())
        };
        let tags = a
            .raw(keys::TAGS)
            .and_then(|raw| serde_json::from_str::<Vec<serde_json::Value>>(raw).ok())
            .map(|t| t.into_iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let (label, run_id, project, session_id) =
            (own(keys::LABEL).unwrap_or_default(), own(keys::RUN_ID), own(keys::PROJECT), own(keys::SESSION_ID));
        Some(SpanLine {
            trace_id: TraceId::from_hex(l.trace_id)?,
            span_id: SpanId::from_hex(l.span_id)?,
            parent_id: l.parent_id.and_then(SpanId::from_hex),
            parent_task: a.str(keys::TASK_PARENT_ID).and_then(|p| SpanId::from_hex(&p)),
            name: strings.get(&l.name),
            span_type,
            label,
            status,
            start: Timestamp::parse_iso(l.start_time)?,
            end: Timestamp::parse_iso(l.end_time)?,
            tags,
            run_id,
            project,
            session_id,
            rendered,
            attributes,
            events,
        })
    }
}

fn exception_message(events: &[serde_json::Value]) -> Option<String> {
    events
        .iter()
        .find(|e| e.get("name").and_then(serde_json::Value::as_str) == Some(keys::EVENT_EXCEPTION))
        .and_then(|e| e.get("attributes")?.get(keys::EXCEPTION_MESSAGE)?.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"trace_id":"0123456789abcdef0123456789abcdef","span_id":"00000000000000aa","parent_id":"00000000000000bb","name":"t","kind":"INTERNAL","status":"ERROR","start_time":"2026-12-01T10:00:00.000001Z","end_time":"2026-12-01T10:00:01Z","attributes":{"dreadnode.type":"task","dreadnode.label":"t","dreadnode.task.parent_id":"00000000000000bb","dreadnode.params":"{}","dreadnode.inputs":"[{\"name\":\"x\",\"hash\":\"h\"}]","dreadnode.outputs":"[]","dreadnode.metrics":"{}","dreadnode.objects":"{\"h\":1}","dreadnode.object_schemas":"{}","dreadnode.artifacts":"[]","dreadnode.tags":["a"]},"events":[{"name":"exception","attributes":{"exception.message":"boom"}}]}"#;

    #[test]
    fn a_task_line_reads_back_with_its_identity_status_and_groups() {
        assert_eq!(span_id_prefix(LINE.as_bytes()), SpanId::from_hex("00000000000000aa"));
        let t = SpanLine::parse_task(LINE, true).unwrap();
        assert_eq!(t.name, "t");
        assert_eq!(t.parent_task, SpanId::from_hex("00000000000000bb"));
        assert_eq!(t.status, Status::Error("boom".into()));
        assert_eq!(t.tags, vec!["a".to_string()]);
        let r = t.rendered.unwrap();
        assert_eq!(r.inputs(), r#"[{"name":"x","hash":"h"}]"#);
        assert!(r.has_objects());
        assert!(SpanLine::parse_task(&LINE.replace("\"task\"", "\"span\""), false).is_none());
        let light = SpanLine::parse(&LINE.replace("\"task\"", "\"span\""), true).unwrap();
        assert!(!light.is_task());
        assert!(SpanLine::parse(&LINE[..LINE.len() - 3], false).is_none(), "a cut line is no span");
        assert_eq!(span_id_prefix(b"{\"trace_id\": \"x\"}"), None);
    }

    #[test]
    fn python_spacing_and_escapes_read_as_dn_s_do() {
        // Python's `json.dumps`: a space after each separator, `\uXXXX` for
        // non-ASCII, `\/` allowed; a repeated key reads as its last value.
        let py = r#"{"trace_id": "0123456789abcdef0123456789abcdef", "span_id": "00000000000000aa", "parent_id": null, "name": "caf\u00e9", "status": "OK", "start_time": "2026-12-01T10:00:00Z", "end_time": "2026-12-01T10:00:01Z", "attributes": {"dreadnode.type": "task", "dreadnode.label": "caf\u00e9", "dreadnode.params": "{\"lr\": 0.1, \"who\": \"\\u00e9\/x\"}", "dreadnode.metrics": "{\"m\": {\"values\": [1.5], \"steps\": [0], \"timestamps\": [\"2026-12-01T10:00:00.5Z\"]}}", "dreadnode.inputs": 7, "user.k": 1, "user.k": {"a": [1]}, "dreadnode.tags": ["x", 3, "y"]}, "events": []}"#;
        let t = SpanLine::parse_task(py, true).unwrap();
        assert_eq!((t.name.as_str(), t.label.as_str(), t.status.clone()), ("caf\u{e9}", "caf\u{e9}", Status::Ok));
        assert_eq!(t.tags, vec!["x".to_string(), "y".to_string()]);
        assert_eq!(t.attributes, vec![("user.k".to_string(), serde_json::json!({"a": [1]}))]);
        let view = crate::TaskView::Rendered(t.rendered.unwrap());
        assert_eq!(view.params()["who"], serde_json::json!("\u{e9}/x"));
        assert_eq!(view.params()["lr"], serde_json::json!(0.1));
        assert_eq!(view.metrics()["m"].values(), vec![1.5]);
        assert!(view.inputs().is_empty(), "a group that is not a string reads as empty");
    }

    #[test]
    fn lines_read_through_one_line_strings_share_their_texts_up_to_its_limit() {
        let mut strings = LineStrings::default();
        let a = SpanLine::parse_sharing(LINE, false, &mut strings).unwrap();
        let b = SpanLine::parse_sharing(LINE, false, &mut strings).unwrap();
        let shared = |x: &SharedStr, y: &SharedStr| match (x, y) {
            (SharedStr::Shared(x), SharedStr::Shared(y)) => std::sync::Arc::ptr_eq(x, y),
            _ => false,
        };
        assert!(shared(&a.name, &b.name) && shared(&a.label, &b.label), "one text for both lines");
        assert_eq!(a.name, "t");
        for i in 0..LineStrings::MAX + 10 {
            strings.get(&format!("name-{i}"));
        }
        let (x, y) = (strings.get("one-more"), strings.get("one-more"));
        assert!(x == y && !shared(&x, &y), "past the limit, texts are not kept");
        assert!(shared(&strings.get("t"), &a.name), "those kept before still are");
    }
}

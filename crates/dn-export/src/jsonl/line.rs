//! One JSONL line: the format of `docs/format.md` ("The JSONL line"),
//! written from a record's fields and its ordered attribute list
//! (`SpanRecord::visit_attributes`), and the [`LineFormatter`] that keeps
//! what repeats from one line to the next (a light span's line end, a task
//! line's head and tail) and copies it instead of writing it again. The
//! exporter (`jsonl.rs`) decides where each line goes; this decides what
//! it says.

use std::sync::Arc;

use dn_core::json::{write_int, write_json_float, write_str};
use dn_core::{AttrKey, AttrRef, LightLineKey, SpanRecord, TASK_GROUP_KEYS, TaskLineKey};

use super::COPIED_GROUP_MAX;
use crate::resource::Resource;

/// The `"resource"` object of every line this process writes, rendered
/// once: what [`write_line`] appends as it is.
pub fn resource_json(resource: &Resource) -> String {
    let mut s = String::new();
    write_attrs(&mut s, resource.attributes().iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
    s
}

fn write_attr_ref(out: &mut String, v: AttrRef<'_>) {
    match v {
        AttrRef::Str(s) => write_str(out, s, false),
        AttrRef::Escaped(s) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        AttrRef::Int(i) => write_int(out, i128::from(i)),
        AttrRef::Float(f) => write_json_float(out, f),
        AttrRef::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        AttrRef::StrArray(items) => write_str_array(out, items.iter().map(String::as_str)),
        AttrRef::StaticArray(items) => write_str_array(out, items.iter().copied()),
    }
}

fn write_str_array<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    out.push('[');
    for (i, it) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, it, false);
    }
    out.push(']');
}

/// Appends `"key":value` to a JSON object being written (a comma first
/// unless it is the first entry). dn's own keys are copied as they are.
fn write_entry(out: &mut String, first: &mut bool, k: AttrKey<'_>, v: AttrRef<'_>) {
    write_key(out, first, k);
    write_attr_ref(out, v);
}

/// Which of the record's task groups `v` is (under its key `k`), or `None`
/// (a run update's groups are rendered for its line alone: copied).
#[cold]
#[inline(never)]
fn large_task_group(rec: &SpanRecord, k: AttrKey<'_>, v: AttrRef<'_>) -> Option<usize> {
    let (AttrKey::Own(key), AttrRef::Escaped(text)) = (k, v) else { return None };
    let group = TASK_GROUP_KEYS.iter().position(|g| *g == key)?;
    (rec.task_group(group).map(str::len) == Some(text.len())).then_some(group)
}

/// Appends `"key":` (a comma first unless it is the first entry).
#[inline(always)]
fn write_key(out: &mut String, first: &mut bool, k: AttrKey<'_>) {
    if !std::mem::take(first) {
        out.push(',');
    }
    match k {
        AttrKey::Own(k) => {
            // Checked in every debug build's lines, and for every kind of
            // record by a dn-core test.
            debug_assert!(
                {
                    let mut e = String::new();
                    write_str(&mut e, k, true);
                    e.len() == k.len() + 2
                },
                "dn's own key {k:?} needs escaping"
            );
            out.push('"');
            out.push_str(k);
            out.push('"');
        }
        AttrKey::Given(k) => write_str(out, k, false),
    }
    out.push(':');
}

/// Appends a JSON object of attributes.
fn write_attrs<'a>(out: &mut String, attrs: impl IntoIterator<Item = (&'a str, AttrRef<'a>)>) {
    out.push('{');
    let mut first = true;
    for (k, v) in attrs {
        write_entry(out, &mut first, AttrKey::Given(k), v);
    }
    out.push('}');
}

/// Appends one JSONL line (with the trailing newline) for `rec`, keys in
/// the order of `docs/format.md` ("The JSONL line").
pub fn write_line(out: &mut String, rec: &SpanRecord, resource_json: &str) {
    write_line_leaving::<false>(out, rec, resource_json, &mut |_, _| {});
}

/// [`write_line`], leaving out of `out` (with `LEAVE`) each task group of
/// more than [`COPIED_GROUP_MAX`] bytes, the quotes around it written:
/// `left_out(at, group)` is told where in `out` it goes and which of
/// [`TASK_GROUP_KEYS`] it is. Without `LEAVE` the check is compiled out.
#[inline(always)]
pub(super) fn write_line_leaving<const LEAVE: bool>(
    out: &mut String,
    rec: &SpanRecord,
    resource_json: &str,
    left_out: &mut dyn FnMut(usize, usize),
) {
    write_line_head(out, rec, None);
    write_line_end::<LEAVE>(out, rec, resource_json, left_out, |_, _| {});
}

/// A line up to its attribute list: ids, name, kind, status and times;
/// returns where in `out` the name's JSON string is. `name`, when given,
/// is that string as an earlier line of the same name wrote it (a kept
/// line's, whose key holds the name), copied rather than escaped again:
/// a third of formatting a light line.
#[inline(always)]
fn write_line_head(out: &mut String, rec: &SpanRecord, name: Option<&str>) -> std::ops::Range<usize> {
    out.push_str("{\"trace_id\":\"");
    rec.trace_id.write_hex(out);
    out.push_str("\",\"span_id\":\"");
    rec.span_id.write_hex(out);
    out.push_str("\",\"parent_id\":");
    match rec.parent_id {
        Some(p) => {
            out.push('"');
            p.write_hex(out);
            out.push('"');
        }
        None => out.push_str("null"),
    }
    out.push_str(",\"name\":");
    let name_at = out.len();
    match name {
        Some(json) => out.push_str(json),
        None => write_str(out, &rec.name, false),
    }
    let name_range = name_at..out.len();
    out.push_str(",\"kind\":\"INTERNAL\",\"status\":\"");
    out.push_str(rec.status.code());
    out.push_str("\",\"start_time\":\"");
    // Start, end and events mostly share their second (and this line's
    // with the last line's): `write_iso` renders it once.
    rec.start.write_iso(out);
    out.push_str("\",\"end_time\":\"");
    rec.end.write_iso(out);
    out.push_str("\",");
    name_range
}

/// A line from its attribute list on: attributes, events and resource, and
/// the newline. `written(k, at)` is told, after each attribute entry, where
/// in `out` the entry (its comma included) went: what a [`LineFormatter`]
/// keeps a task line's head and tail by (a no-op closure elsewhere,
/// compiled away).
#[inline(always)]
fn write_line_end<const LEAVE: bool>(
    out: &mut String,
    rec: &SpanRecord,
    resource_json: &str,
    left_out: &mut dyn FnMut(usize, usize),
    mut written: impl FnMut(AttrKey<'_>, std::ops::Range<usize>),
) {
    out.push_str("\"attributes\":{");
    let mut first = true;
    rec.visit_attributes(&mut |k, v| {
        let at = out.len();
        if LEAVE && matches!(v, AttrRef::Escaped(text) if text.len() > COPIED_GROUP_MAX) {
            if let Some(group) = large_task_group(rec, k, v) {
                write_key(out, &mut first, k);
                out.push('"');
                left_out(out.len(), group);
                out.push('"');
                written(k, at..out.len());
                return;
            }
        }
        write_entry(out, &mut first, k, v);
        written(k, at..out.len());
    });
    out.push('}');
    out.push_str(",\"events\":[");
    for (i, ev) in rec.events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"name\":");
        write_str(out, &ev.name, false);
        out.push_str(",\"timestamp\":\"");
        ev.timestamp.write_iso(out);
        out.push_str("\",\"attributes\":");
        write_attrs(out, ev.attributes.iter().map(|(k, v)| (k.as_ref(), v.as_ref())));
        out.push('}');
    }
    out.push_str("],\"resource\":");
    out.push_str(resource_json);
    out.push_str("}\n");
}

/// Writes lines as [`write_line`] does, for one resource, keeping the end
/// of the last light span's line (its attribute list, events and resource:
/// about 560 of its 790 bytes) and copying it into the next line whose
/// [`LightLineKey`] matches — a loop of light spans repeats it — instead of
/// rendering it again. What its caller pays for a light span's line once
/// the writer is behind (`dn_light_span_in_run_formatting_its_line`), and
/// the writer for each light line it formats.
///
/// It keeps a task's line around its groups too (see [`TaskLineKey`]): the
/// attribute list from its start to the run id, and everything after the
/// groups (about 590 of a 1.7 KB line's bytes), copied into the next task's
/// line whose key matches, with only its groups formatted between them.
/// Both keys hold the span's name, so a line written from a kept one
/// copies the name's JSON string too rather than escaping it again.
#[derive(Clone, Debug)]
pub struct LineFormatter {
    resource_json: Arc<str>,
    light_end: Option<KeptLightEnd>,
    task_line: Option<KeptTaskLine>,
    /// Task lines written from a kept head and tail.
    #[cfg(test)]
    task_lines_kept: usize,
}

/// A light span's line end, kept by a [`LineFormatter`], and its name as
/// the line's JSON string.
#[derive(Clone, Debug)]
struct KeptLightEnd {
    key: LightLineKey,
    name: String,
    end: String,
}

/// A task's line around its groups, kept by a [`LineFormatter`]: its name
/// as the line's JSON string, its attribute list up to the groups (from
/// `"attributes":{`), and the line from the end of the groups on. The
/// groups between them are the record's own
/// ([`SpanRecord::visit_task_groups`]).
#[derive(Clone, Debug)]
struct KeptTaskLine {
    key: TaskLineKey,
    name: String,
    head: String,
    tail: String,
}

impl LineFormatter {
    /// A formatter of lines with the resource `resource_json` (from
    /// [`resource_json`]).
    pub fn new(resource_json: Arc<str>) -> Self {
        LineFormatter {
            resource_json,
            light_end: None,
            task_line: None,
            #[cfg(test)]
            task_lines_kept: 0,
        }
    }

    /// The resource its lines carry.
    pub fn resource_json(&self) -> &Arc<str> {
        &self.resource_json
    }

    /// Appends `rec`'s line, byte for byte [`write_line`]'s.
    #[inline]
    pub fn write_line(&mut self, out: &mut String, rec: &SpanRecord) {
        let start = out.len();
        match (&self.light_end, &self.task_line) {
            (Some(kept), _) if kept.key.matches(rec) => {
                write_line_head(out, rec, Some(&kept.name));
                out.push_str(&kept.end);
            }
            (_, Some(kept)) if kept.key.matches(rec) => {
                write_line_head(out, rec, Some(&kept.name));
                out.push_str(&kept.head);
                let mut first = false;
                rec.visit_task_groups(&mut |k, v| write_entry(out, &mut first, k, v));
                out.push_str(&kept.tail);
                #[cfg(test)]
                {
                    self.task_lines_kept += 1;
                }
            }
            _ => {
                let name = write_line_head(out, rec, None);
                let at = out.len();
                if let Some(key) = TaskLineKey::of(rec) {
                    self.write_task_line_end(out, rec, key, name);
                    return;
                }
                write_line_end::<false>(out, rec, &self.resource_json, &mut |_, _| {}, |_, _| {});
                // A task's line leaves the kept end alone: light spans
                // between tasks still find it.
                if let Some(key) = LightLineKey::of(rec) {
                    let mut kept = self.light_end.take().unwrap_or_else(|| KeptLightEnd {
                        key: key.clone(),
                        name: String::new(),
                        end: String::new(),
                    });
                    kept.key = key;
                    kept.name.clear();
                    kept.name.push_str(&out[name]);
                    kept.end.clear();
                    kept.end.push_str(&out[at..]);
                    self.light_end = Some(kept);
                }
                return;
            }
        }
        debug_assert!(
            {
                let mut fresh = String::new();
                write_line(&mut fresh, rec, &self.resource_json);
                fresh == out[start..]
            },
            "a kept line end differs from the record's own: {}",
            &out[start..]
        );
    }

    /// The end of a task's line whose [`TaskLineKey`] no kept one matched:
    /// written by [`write_line_end`], and kept around its groups (the
    /// entries of [`TASK_GROUP_KEYS`], consecutive) for the next.
    #[cold]
    #[inline(never)]
    fn write_task_line_end(
        &mut self,
        out: &mut String,
        rec: &SpanRecord,
        key: TaskLineKey,
        name: std::ops::Range<usize>,
    ) {
        let at = out.len();
        let (mut head_end, mut tail_at) = (None, None);
        write_line_end::<false>(out, rec, &self.resource_json, &mut |_, _| {}, |k, written| {
            if k == AttrKey::Own(TASK_GROUP_KEYS[0]) && head_end.is_none() {
                head_end = Some(written.start);
            }
            if k == AttrKey::Own(TASK_GROUP_KEYS[TASK_GROUP_KEYS.len() - 1]) && tail_at.is_none() {
                tail_at = Some(written.end);
            }
        });
        let (Some(head_end), Some(tail_at)) = (head_end, tail_at) else { return };
        let mut kept = self.task_line.take().unwrap_or_else(|| KeptTaskLine {
            key: key.clone(),
            name: String::new(),
            head: String::new(),
            tail: String::new(),
        });
        kept.key = key;
        kept.name.clear();
        kept.name.push_str(&out[name]);
        kept.head.clear();
        kept.head.push_str(&out[at..head_end]);
        kept.tail.clear();
        kept.tail.push_str(&out[tail_at..]);
        self.task_line = Some(kept);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dn_core::{MemorySink, RecordKind, Route, Tracer};

    #[test]
    fn a_formatter_keeping_light_line_ends_writes_the_lines_write_line_writes() {
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        tracer.run("run").run(|_| {
            for i in 0..3 {
                drop(tracer.span("s").enter());
                drop(tracer.span("s").enter());
                // Each of these ends differently from the plain one before.
                drop(tracer.span("other").enter());
                drop(tracer.span("s").tags(["t"]).enter());
                drop(tracer.span("s").attribute("k", i).enter());
                let _ = tracer.span("s").try_run(|| Err::<(), _>("boom"));
                tracer.task_span("task").label("lab").run(|t| t.log_metric("m", i));
                drop(tracer.span("s").enter());
            }
            {
                let _session = dn_core::bind_session_id("sess");
                drop(tracer.span("s").enter());
            }
            drop(tracer.span("s").enter());
            // A name that escapes: the second line copies it as the first wrote it.
            drop(tracer.span("a \"quoted\"\u{2028}name ✓").enter());
            drop(tracer.span("a \"quoted\"\u{2028}name ✓").enter());
        });
        drop(tracer.span("outside").enter());
        drop(tracer.span("outside").enter());
        let mut records = sink.take();
        // Four plain light spans a round, the one in the session, the last
        // in the run and the two escaped ones: the others' line ends are
        // their own.
        assert_eq!(records.iter().filter(|r| LightLineKey::of(r).is_some()).count(), 3 * 4 + 2 + 2);
        // A record is plain data, built by anyone: one that differs from a
        // plain span only in a field the API always changes with another
        // (a failed span gets an exception event) still gets its own end,
        // each right after the plain one whose end is kept.
        let plain = records[0].clone();
        let mut failed = plain.clone();
        failed.status = dn_core::Status::Error("boom".into());
        let mut labelled = plain.clone();
        labelled.label = "lab".into();
        let mut typed = plain.clone();
        typed.span_type = dn_core::SpanType::Tool;
        for variant in [failed, labelled, typed] {
            records.extend([plain.clone(), variant]);
        }
        let resource = resource_json(&Resource::detect("svc"));
        let mut kept = LineFormatter::new(resource.as_str().into());
        writes_what_write_line_writes(&mut kept, &records, &resource);
    }

    /// Formats each record with `formatter` and checks its line is
    /// [`write_line`]'s, byte for byte.
    fn writes_what_write_line_writes<'a>(
        formatter: &mut LineFormatter,
        records: impl IntoIterator<Item = &'a SpanRecord>,
        resource: &str,
    ) {
        for rec in records {
            let (mut want, mut got) = (String::new(), String::new());
            write_line(&mut want, rec, resource);
            formatter.write_line(&mut got, rec);
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_formatter_keeping_task_line_heads_and_tails_writes_the_lines_write_line_writes() {
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        tracer.run("run").run(|run| {
            for i in 0..3 {
                // Two alike: the second is written from the first's head and tail.
                for _ in 0..2 {
                    tracer.task_span("t").run(|t| {
                        t.log_input("x", i);
                        t.log_output("y", i * 2);
                    });
                }
                // No objects (no `dreadnode.large_attributes`), then objects again.
                tracer.task_span("t").run(|t| t.log_metric("m", i));
                tracer.task_span("t").run(|t| t.log_input("x", "a \"quoted\" value"));
                // Each of these differs from the one before outside its groups.
                tracer.task_span("t").label("other label").run(|t| t.log_input("x", i));
                tracer.task_span("u").run(|t| t.log_input("x", i));
                tracer.task_span("t").tags(["tag"]).run(|t| t.log_input("x", i));
                let _ = tracer.task_span("t").try_run(|t| {
                    t.log_input("x", i);
                    Err::<(), _>("boom")
                });
                tracer.task_span("t").run(|t| t.set_attribute("late", i));
                tracer.task_span("t").run(|t| t.add_event("e", vec![]).unwrap());
                tracer.task_span("t").attribute("code.function", "f").run(|t| t.log_input("x", i));
                tracer.task_span("t").attribute("code.function", "g").run(|t| t.log_input("x", i));
                tracer.task_span("t").attribute("user", "v").run(|t| t.log_input("x", i));
                tracer.task_span("outer").run(|_| {
                    tracer.task_span("t").run(|t| t.log_input("x", i));
                    tracer.task_span("t").run(|t| t.log_input("x", i));
                });
                {
                    let _session = dn_core::bind_session_id("sess");
                    tracer.task_span("t").run(|t| t.log_input("x", i));
                }
                run.log_metric("run_metric", i);
            }
        });
        tracer.run("escaped").run(|_| {
            // A name that escapes: the second line copies it as the first wrote it.
            for _ in 0..2 {
                tracer.task_span("a \"quoted\"\u{2028}name ✓").run(|t| t.log_input("x", 1));
            }
        });
        tracer.task_span("standalone").run(|t| t.log_input("x", 1));
        let records = sink.take();
        let resource = resource_json(&Resource::detect("svc"));
        let mut kept = LineFormatter::new(resource.as_str().into());
        writes_what_write_line_writes(&mut kept, &records, &resource);
        // The second of each pair of alike tasks, the second child of
        // `outer` in each round, the second of the escaped name, and
        // nothing else.
        assert_eq!(kept.task_lines_kept, 3 * 2 + 1);
        // A record's key is everything around its groups: changing any one
        // field gets the record its own line, written whole.
        let plain = records.iter().find(|r| &*r.name == "t" && dn_core::TaskLineKey::of(r).is_some()).unwrap();
        let mut variants = Vec::new();
        let mut v = plain.clone();
        v.label = "changed".into();
        variants.push(v);
        let mut v = plain.clone();
        v.name = "changed".into();
        variants.push(v);
        let mut v = plain.clone();
        v.span_type = dn_core::SpanType::Tool;
        variants.push(v);
        let mut v = plain.clone();
        v.status = dn_core::Status::Error("boom".into());
        variants.push(v);
        let mut v = plain.clone();
        v.route = Arc::new(Route { project: "q".into(), ..Route::clone(&plain.route) });
        variants.push(v);
        let mut v = plain.clone();
        if let RecordKind::Task { parent_task, .. } = &mut v.kind {
            *parent_task = None;
        }
        variants.push(v);
        let mut v = plain.clone();
        v.attributes.push(("code.lineno".into(), dn_core::AttrValue::Int(7)));
        variants.push(v);
        let mut formatter = LineFormatter::new(resource.as_str().into());
        for v in &variants {
            writes_what_write_line_writes(&mut formatter, [plain, v, v], &resource);
        }
        // Each variant's second line, from its own kept head and tail.
        assert_eq!(formatter.task_lines_kept, variants.len());
    }
}

//! Reading a local directory's span lines, normalising what differs from run
//! to run (ids, times, versions) and comparing with a reference.

use std::path::Path;

use serde_json::{Map, Value, json};

/// Every span line of every `.jsonl` file under `dir` (artifact records
/// in `artifacts.jsonl` are not spans), with its relative path. A last line
/// without its newline is not a line yet, as delivery and `dn` read files:
/// a process killed while it appended can leave one (the kernel stops a
/// write at a page boundary).
pub fn read_all(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl")
                && p.file_name().is_some_and(|n| n != dn::core::layout::ARTIFACTS_FILE)
            {
                files.push(p);
            }
        }
    }
    files.sort();
    for f in files {
        let rel = f.strip_prefix(dir).expect("prefix").display().to_string();
        let bytes = std::fs::read(&f).expect("read");
        // Whole lines only, as delivery reads them (its one rule for it).
        let complete = dn::export::delivery::acks::complete_len(&f).expect("read") as usize;
        for line in std::str::from_utf8(&bytes[..complete.min(bytes.len())]).expect("UTF-8 lines").lines() {
            out.push((rel.clone(), serde_json::from_str(line).expect("valid JSON line")));
        }
    }
    out
}

/// Every span line under `dir`, in file order.
pub fn spans(dir: &Path) -> Vec<Value> {
    read_all(dir).into_iter().map(|(_, v)| v).collect()
}

/// A JSON-string attribute decoded (anything else unchanged).
fn decode(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if s.starts_with('{') || s.starts_with('[') => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        _ => v.clone(),
    }
}

/// A span with ids and times replaced by names, JSON-string attributes
/// decoded, and what is Python-only or per-process removed.
pub fn normalize(spans: &[Value]) -> Vec<Value> {
    let name_of = |id: &str| -> Value {
        spans.iter().find(|s| s["span_id"] == id).map_or(json!("<unknown>"), |s| s["name"].clone())
    };
    let mut out: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut attrs = Map::new();
            for (k, v) in s["attributes"].as_object().expect("attributes") {
                match k.as_str() {
                    "dreadnode.version" | "logfire.exception.fingerprint" => {}
                    "dreadnode.run.id" => {
                        attrs.insert(k.clone(), json!("<run>"));
                    }
                    "dreadnode.task.parent_id" => {
                        attrs.insert(k.clone(), name_of(v.as_str().unwrap_or_default()));
                    }
                    "dreadnode.metrics" => {
                        let mut m = decode(v);
                        for series in m.as_object_mut().expect("metrics").values_mut() {
                            let n = series["timestamps"].as_array().map_or(0, Vec::len);
                            series["timestamps"] = json!(n);
                        }
                        attrs.insert(k.clone(), m);
                    }
                    _ => {
                        attrs.insert(k.clone(), decode(v));
                    }
                }
            }
            let mut events: Vec<Value> = s["events"]
                .as_array()
                .expect("events")
                .iter()
                .map(|e| {
                    let mut a = e["attributes"].as_object().cloned().unwrap_or_default();
                    a.remove("exception.stacktrace");
                    if let Some(id) = a.get("dreadnode.origin.span_id").and_then(Value::as_str).map(str::to_string) {
                        a.insert("dreadnode.origin.span_id".into(), name_of(&id));
                    }
                    if let Some(t) = a.get("exception.type").and_then(Value::as_str) {
                        // Rust type paths vs Python class names: compare the last segment.
                        let last = t.rsplit("::").next().unwrap_or(t).to_string();
                        a.insert("exception.type".into(), json!(last));
                    }
                    json!({"name": e["name"], "attributes": a})
                })
                .collect();
            // Python records an exception twice (escaped False, then True);
            // `docs/format.md` ("Errors on spans") wants one event: keep the last of each identical pair.
            let mut dedup: Vec<Value> = Vec::new();
            for e in events.drain(..) {
                if let Some(prev) = dedup.last_mut() {
                    if prev["name"] == "exception"
                        && e["name"] == "exception"
                        && prev["attributes"]["exception.message"] == e["attributes"]["exception.message"]
                    {
                        *prev = e;
                        continue;
                    }
                }
                dedup.push(e);
            }
            let parent = s["parent_id"].as_str().map_or(Value::Null, name_of);
            json!({
                "name": s["name"],
                "kind": s["kind"],
                "status": s["status"],
                "parent": parent,
                "attributes": attrs,
                "events": dedup,
            })
        })
        .collect();
    out.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    out
}

/// Keys of a JSON object in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

/// Asserts two normalized span lists are equal, printing the first
/// difference readably.
pub fn assert_same(ours: &[Value], reference: &[Value]) {
    assert_eq!(
        ours.iter().map(|s| s["name"].clone()).collect::<Vec<_>>(),
        reference.iter().map(|s| s["name"].clone()).collect::<Vec<_>>(),
        "span names differ"
    );
    for (o, r) in ours.iter().zip(reference) {
        assert_eq!(keys(&o["attributes"]), keys(&r["attributes"]), "attribute keys/order of span {}", o["name"]);
        for k in keys(&r["attributes"]) {
            assert_eq!(o["attributes"][&k], r["attributes"][&k], "attribute {k} of span {}", o["name"]);
        }
        assert_eq!(o, r, "span {}", o["name"]);
    }
}

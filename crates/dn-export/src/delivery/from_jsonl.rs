//! JSONL lines (ours, or the Python SDK's) back into OTLP spans: what
//! delivery sends is read from the local files, so the wire carries exactly
//! what the log holds (`docs/format.md`, "Remote OTLP").

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use serde_json::Value;

/// Spans parsed from lines, grouped by the resource each line carries.
#[derive(Default)]
pub struct SpanBatch {
    groups: Vec<(String, Resource, Vec<Span>)>,
    spans: usize,
}

/// Why a line could not be turned into a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine(pub String);

impl SpanBatch {
    /// How many spans it holds.
    pub fn len(&self) -> usize {
        self.spans
    }
    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.spans == 0
    }

    /// Adds one JSONL line; `project_override` replaces `dreadnode.project`.
    pub fn push_line(&mut self, line: &[u8], project_override: Option<&str>) -> Result<(), BadLine> {
        let v: Value = serde_json::from_slice(line).map_err(|e| BadLine(format!("not JSON: {e}")))?;
        let span = to_span(&v, project_override)?;
        let resource_key = v.get("resource").map(Value::to_string).unwrap_or_default();
        match self.groups.iter_mut().find(|(k, _, _)| *k == resource_key) {
            Some((_, _, spans)) => spans.push(span),
            None => {
                let resource = Resource { attributes: object_attrs(v.get("resource")), ..Default::default() };
                self.groups.push((resource_key, resource, vec![span]));
            }
        }
        self.spans += 1;
        Ok(())
    }

    /// The OTLP request for everything added.
    pub fn into_request(self) -> ExportTraceServiceRequest {
        let scope =
            InstrumentationScope { name: "dreadnode".into(), version: dn_core::VERSION.into(), ..Default::default() };
        ExportTraceServiceRequest {
            resource_spans: self
                .groups
                .into_iter()
                .map(|(_, resource, spans)| ResourceSpans {
                    resource: Some(resource),
                    scope_spans: vec![ScopeSpans { scope: Some(scope.clone()), spans, ..Default::default() }],
                    ..Default::default()
                })
                .collect(),
        }
    }
}

fn hex(v: Option<&Value>, len: usize, what: &str) -> Result<Vec<u8>, BadLine> {
    let s = v.and_then(Value::as_str).ok_or_else(|| BadLine(format!("no {what}")))?;
    if s.len() != len * 2 {
        return Err(BadLine(format!("{what} is not {} hex digits", len * 2)));
    }
    (0..len)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| BadLine(format!("{what} is not hex"))))
        .collect()
}

fn nanos(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_str)
        .and_then(dn_core::Timestamp::parse_iso)
        .and_then(|t| t.to_system_time().duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn to_span(v: &Value, project_override: Option<&str>) -> Result<Span, BadLine> {
    let trace_id = hex(v.get("trace_id"), 16, "trace_id")?;
    let span_id = hex(v.get("span_id"), 8, "span_id")?;
    let parent_span_id = match v.get("parent_id") {
        Some(Value::Null) | None => vec![],
        p => hex(p, 8, "parent_id")?,
    };
    let mut attributes = object_attrs(v.get("attributes"));
    if let Some(p) = project_override {
        for kv in attributes.iter_mut().filter(|kv| kv.key == dn_core::keys::PROJECT) {
            kv.value = Some(string(p));
        }
    }
    let attr_str = |key: &str| v["attributes"].get(key).and_then(Value::as_str);
    let events: Vec<span::Event> = v
        .get("events")
        .and_then(Value::as_array)
        .map(|evs| {
            evs.iter()
                .map(|e| span::Event {
                    time_unix_nano: nanos(e.get("timestamp")),
                    name: e.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
                    attributes: object_attrs(e.get("attributes")),
                    ..Default::default()
                })
                .collect()
        })
        .unwrap_or_default();
    let status = match v.get("status").and_then(Value::as_str) {
        Some("ERROR") => {
            // The line keeps the error message in its last exception event.
            let message = v["events"]
                .as_array()
                .and_then(|evs| evs.iter().rev().find(|e| e["name"] == "exception"))
                .and_then(|e| e["attributes"]["exception.message"].as_str())
                .unwrap_or_default()
                .to_string();
            Some(Status { code: 2, message })
        }
        Some("OK") => Some(Status { code: 1, message: String::new() }),
        _ => Some(Status::default()),
    };
    // A continued task's parent lives in another process.
    let remote_parent = attr_str(dn_core::keys::TYPE) == Some("task_fragment");
    let flags = 0x100 | if remote_parent { 0x200 } else { 0 };
    Ok(Span {
        trace_id,
        span_id,
        parent_span_id,
        flags: flags | 1,
        name: v.get("name").and_then(Value::as_str).unwrap_or_default().to_string(),
        kind: 1, // INTERNAL
        start_time_unix_nano: nanos(v.get("start_time")),
        end_time_unix_nano: nanos(v.get("end_time")),
        attributes,
        events,
        status,
        ..Default::default()
    })
}

fn string(s: &str) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(s.to_string())) }
}

fn any(v: &Value) -> Option<AnyValue> {
    let value = match v {
        Value::String(s) => any_value::Value::StringValue(s.clone()),
        Value::Bool(b) => any_value::Value::BoolValue(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) if !n.is_f64() => any_value::Value::IntValue(i),
            _ => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::Array(items) => {
            any_value::Value::ArrayValue(ArrayValue { values: items.iter().filter_map(any).collect() })
        }
        Value::Object(_) => any_value::Value::StringValue(v.to_string()),
        Value::Null => return None,
    };
    Some(AnyValue { value: Some(value) })
}

fn object_attrs(v: Option<&Value>) -> Vec<KeyValue> {
    v.and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| KeyValue { key: k.clone(), value: any(v), ..Default::default() }).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LINE: &str = r#"{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"1112131415161718","parent_id":null,"name":"t","kind":"INTERNAL","status":"ERROR","start_time":"2026-11-24T11:54:08.446823+00:00","end_time":"2026-11-24T11:54:08.447469+00:00","attributes":{"dreadnode.project":"p","n":3,"f":2.0,"tags":["a","b"],"ok":true},"events":[{"name":"exception","timestamp":"2026-11-24T11:54:08.447061+00:00","attributes":{"exception.message":"bad"}}],"resource":{"service.name":"dn"}}"#;

    #[test]
    fn a_line_becomes_the_span_it_describes() {
        let mut b = SpanBatch::default();
        b.push_line(LINE.as_bytes(), Some("uuid-1")).unwrap();
        b.push_line(LINE.as_bytes(), None).unwrap();
        let req = b.into_request();
        assert_eq!(req.resource_spans.len(), 1, "same resource, one group");
        let spans = &req.resource_spans[0].scope_spans[0].spans;
        let s = &spans[0];
        assert_eq!(s.trace_id, (1..=16).collect::<Vec<u8>>());
        assert!(s.parent_span_id.is_empty());
        assert_eq!(s.status.as_ref().unwrap().message, "bad");
        assert_eq!(s.end_time_unix_nano - s.start_time_unix_nano, 646_000);
        let attr = |s: &Span, k: &str| s.attributes.iter().find(|kv| kv.key == k).unwrap().value.clone().unwrap();
        assert_eq!(attr(s, "dreadnode.project"), string("uuid-1"));
        assert_eq!(attr(&spans[1], "dreadnode.project"), string("p"));
        assert_eq!(attr(s, "n").value, Some(any_value::Value::IntValue(3)));
        assert_eq!(attr(s, "f").value, Some(any_value::Value::DoubleValue(2.0)));
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        let mut b = SpanBatch::default();
        assert!(b.push_line(b"{\"trace_id\":\"zz\"}", None).is_err());
        assert!(b.push_line(b"not json", None).is_err());
        assert!(b.push_line(&LINE.as_bytes()[..40], None).is_err());
        assert!(b.is_empty());
    }
}

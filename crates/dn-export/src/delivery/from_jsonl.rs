//! JSONL lines (ours, or the Python SDK's) back into OTLP spans: what
//! delivery sends is read from the local files, so the wire carries exactly
//! what the log holds (`docs/format.md`, "Remote OTLP").

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

use super::conventions;
use crate::otlp::Conventions;

/// Spans parsed from lines, grouped by the resource each line carries.
#[derive(Default)]
pub struct SpanBatch {
    groups: Vec<(String, Resource, Vec<Span>)>,
    spans: usize,
}

/// How one destination's lines become spans.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wire<'a> {
    /// Replaces `dreadnode.project` (the platform's project UUID).
    pub project_override: Option<&'a str>,
    /// What spans carry beyond the line's attributes.
    pub conventions: Conventions,
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

    /// Adds one JSONL line, as `wire` says.
    pub fn push_line(&mut self, line: &[u8], wire: Wire<'_>) -> Result<(), BadLine> {
        let parsed: Line<'_> = serde_json::from_slice(line).map_err(|e| BadLine(format!("not a span line: {e}")))?;
        let (mut span, resource) = parsed.into_span()?;
        if let Some(p) = wire.project_override {
            for kv in span.attributes.iter_mut().filter(|kv| kv.key == dn_core::keys::PROJECT) {
                kv.value = Some(string(p));
            }
        }
        let resource_text = resource.map_or("", |r| r.get());
        // Collectors: the project names the resource (Phoenix's project), so
        // spans of two projects with one resource go in two groups.
        let project = match wire.conventions {
            Conventions::Collector => {
                conventions::add(&mut span.attributes);
                conventions::project(&span.attributes).map(str::to_string)
            }
            Conventions::AsWritten => None,
        };
        let found = self
            .groups
            .iter_mut()
            .find(|(k, r, _)| k == resource_text && project.as_deref().is_none_or(|p| project_of(r) == Some(p)));
        match found {
            Some((_, _, spans)) => spans.push(span),
            None => {
                let mut attributes = match resource {
                    Some(r) => serde_json::from_str::<Attrs>(r.get()).map(|a| a.0).unwrap_or_default(),
                    None => Vec::new(),
                };
                if let Some(p) = &project {
                    attributes.retain(|kv| kv.key != dn_core::keys::OPENINFERENCE_PROJECT_NAME);
                    attributes.push(conventions::project_attribute(p));
                }
                self.groups.push((
                    resource_text.to_string(),
                    Resource { attributes, ..Default::default() },
                    vec![span],
                ));
            }
        }
        self.spans += 1;
        Ok(())
    }

    /// Adds every span of `other` (after this batch's own).
    pub fn append(&mut self, other: SpanBatch) {
        for (key, resource, spans) in other.groups {
            self.spans += spans.len();
            let project = project_of(&resource);
            match self.groups.iter_mut().find(|(k, r, _)| *k == key && project_of(r) == project) {
                Some((_, _, mine)) => mine.extend(spans),
                None => self.groups.push((key, resource, spans)),
            }
        }
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

/// The Phoenix project a resource group was made for.
fn project_of(r: &Resource) -> Option<&str> {
    r.attributes.iter().find(|kv| kv.key == dn_core::keys::OPENINFERENCE_PROJECT_NAME).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

/// One JSONL line, parsed straight into OTLP types (no JSON tree).
#[derive(serde::Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    trace_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    span_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    parent_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    name: String,
    #[serde(borrow, default)]
    status: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    start_time: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    end_time: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    attributes: Attrs,
    #[serde(borrow, default)]
    events: Vec<LineEvent<'a>>,
    #[serde(borrow, default)]
    resource: Option<&'a serde_json::value::RawValue>,
}

#[derive(serde::Deserialize)]
struct LineEvent<'a> {
    #[serde(default)]
    name: String,
    #[serde(borrow, default)]
    timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    attributes: Attrs,
}

impl<'a> Line<'a> {
    fn into_span(self) -> Result<(Span, Option<&'a serde_json::value::RawValue>), BadLine> {
        let trace_id = hex(self.trace_id.as_deref(), 16, "trace_id")?;
        let span_id = hex(self.span_id.as_deref(), 8, "span_id")?;
        let parent_span_id = match self.parent_id.as_deref() {
            None => vec![],
            p => hex(p, 8, "parent_id")?,
        };
        // A continued task's parent lives in another process.
        let remote_parent = self.attributes.str(dn_core::keys::TYPE) == Some("task_fragment");
        let status = match self.status.as_deref() {
            Some("ERROR") => {
                // The line keeps the error message in its last exception event.
                let message = self
                    .events
                    .iter()
                    .rev()
                    .find(|e| e.name == "exception")
                    .and_then(|e| e.attributes.str("exception.message"))
                    .unwrap_or_default()
                    .to_string();
                Status { code: 2, message }
            }
            Some("OK") => Status { code: 1, message: String::new() },
            _ => Status::default(),
        };
        let events = self
            .events
            .into_iter()
            .map(|e| span::Event {
                time_unix_nano: nanos(e.timestamp.as_deref()),
                name: e.name,
                attributes: e.attributes.0,
                ..Default::default()
            })
            .collect();
        let flags = 0x100 | if remote_parent { 0x200 } else { 0 };
        let span = Span {
            trace_id,
            span_id,
            parent_span_id,
            flags: flags | 1,
            name: self.name,
            kind: 1, // INTERNAL
            start_time_unix_nano: nanos(self.start_time.as_deref()),
            end_time_unix_nano: nanos(self.end_time.as_deref()),
            attributes: self.attributes.0,
            events,
            status: Some(status),
            ..Default::default()
        };
        Ok((span, self.resource))
    }
}

fn hex(s: Option<&str>, len: usize, what: &str) -> Result<Vec<u8>, BadLine> {
    let s = s.ok_or_else(|| BadLine(format!("no {what}")))?;
    if s.len() != len * 2 {
        return Err(BadLine(format!("{what} is not {} hex digits", len * 2)));
    }
    (0..len)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| BadLine(format!("{what} is not hex"))))
        .collect()
}

fn nanos(v: Option<&str>) -> u64 {
    v.and_then(dn_core::Timestamp::parse_iso)
        .and_then(|t| t.to_system_time().duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn string(s: &str) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(s.to_string())) }
}

/// A JSON object of attributes as OTLP key-values, in order.
#[derive(Default)]
struct Attrs(Vec<KeyValue>);

impl Attrs {
    fn str(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
    }
}

impl<'de> serde::Deserialize<'de> for Attrs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Attrs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of attributes")
            }
            fn visit_unit<E>(self) -> Result<Attrs, E> {
                Ok(Attrs::default())
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, mut m: M) -> Result<Attrs, M::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(16));
                while let Some((key, v)) = m.next_entry::<String, Any>()? {
                    out.push(KeyValue { key, value: v.0, ..Default::default() });
                }
                Ok(Attrs(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One attribute value (`null` is no value; an object becomes its JSON text).
struct Any(Option<AnyValue>);

impl<'de> serde::Deserialize<'de> for Any {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn some(v: any_value::Value) -> Any {
            Any(Some(AnyValue { value: Some(v) }))
        }
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Any;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an attribute value")
            }
            fn visit_unit<E>(self) -> Result<Any, E> {
                Ok(Any(None))
            }
            fn visit_bool<E>(self, b: bool) -> Result<Any, E> {
                Ok(some(any_value::Value::BoolValue(b)))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Any, E> {
                Ok(some(any_value::Value::IntValue(i)))
            }
            fn visit_u64<E>(self, u: u64) -> Result<Any, E> {
                Ok(some(match i64::try_from(u) {
                    Ok(i) => any_value::Value::IntValue(i),
                    Err(_) => any_value::Value::DoubleValue(u as f64),
                }))
            }
            fn visit_f64<E>(self, f: f64) -> Result<Any, E> {
                Ok(some(any_value::Value::DoubleValue(f)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Any, E> {
                Ok(some(any_value::Value::StringValue(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Any, E> {
                Ok(some(any_value::Value::StringValue(s)))
            }
            fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<Any, S::Error> {
                let mut values = Vec::new();
                while let Some(Any(v)) = seq.next_element::<Any>()? {
                    values.extend(v);
                }
                Ok(some(any_value::Value::ArrayValue(ArrayValue { values })))
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(self, m: M) -> Result<Any, M::Error> {
                let v: serde_json::Value =
                    serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                Ok(some(any_value::Value::StringValue(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const LINE: &str = r#"{"trace_id":"0102030405060708090a0b0c0d0e0f10","span_id":"1112131415161718","parent_id":null,"name":"t","kind":"INTERNAL","status":"ERROR","start_time":"2026-11-24T11:54:08.446823+00:00","end_time":"2026-11-24T11:54:08.447469+00:00","attributes":{"dreadnode.project":"p","n":3,"f":2.0,"tags":["a","b"],"ok":true},"events":[{"name":"exception","timestamp":"2026-11-24T11:54:08.447061+00:00","attributes":{"exception.message":"bad"}}],"resource":{"service.name":"dn"}}"#;

    #[test]
    fn a_line_becomes_the_span_it_describes() {
        let mut b = SpanBatch::default();
        let platform = Wire { project_override: Some("uuid-1"), conventions: Conventions::AsWritten };
        b.push_line(LINE.as_bytes(), platform).unwrap();
        b.push_line(LINE.as_bytes(), Wire { conventions: Conventions::AsWritten, ..Wire::default() }).unwrap();
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
    fn collectors_get_the_conventions_and_one_resource_per_project() {
        let mut b = SpanBatch::default();
        b.push_line(LINE.as_bytes(), Wire::default()).unwrap();
        b.push_line(
            LINE.replace("\"dreadnode.project\":\"p\"", "\"dreadnode.project\":\"q\"").as_bytes(),
            Wire::default(),
        )
        .unwrap();
        b.push_line(LINE.as_bytes(), Wire::default()).unwrap();
        let req = b.into_request();
        let projects: Vec<_> = req.resource_spans.iter().map(|rs| project_of(rs.resource.as_ref().unwrap())).collect();
        assert_eq!(projects, [Some("p"), Some("q")]);
        assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), 2);
        let resource = req.resource_spans[0].resource.as_ref().unwrap();
        assert!(resource.attributes.iter().any(|kv| kv.key == "service.name"), "the line's resource is kept");
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        let mut b = SpanBatch::default();
        assert!(b.push_line(b"{\"trace_id\":\"zz\"}", Wire::default()).is_err());
        assert!(b.push_line(b"not json", Wire::default()).is_err());
        assert!(b.push_line(&LINE.as_bytes()[..40], Wire::default()).is_err());
        assert!(b.is_empty());
    }
}

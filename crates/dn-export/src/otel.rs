//! Conversion of span records to OpenTelemetry SDK span data, at the export
//! edge, so any OTel exporter (OTLP included) can send them.

use std::borrow::Cow;

use dn_core::{AttrValue, SpanRecord, Status, VERSION};
use opentelemetry::trace::{SpanContext, SpanKind, TraceFlags, TraceState};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

/// The instrumentation scope of every span: `dreadnode` at the crate version.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope::builder("dreadnode").with_version(VERSION).build()
}

/// An attribute value as an OTel value.
pub fn to_otel_value(v: &AttrValue) -> Value {
    match v {
        AttrValue::Str(s) => Value::String(s.clone().into()),
        AttrValue::Int(i) => Value::I64(*i),
        AttrValue::Float(f) => Value::F64(*f),
        AttrValue::Bool(b) => Value::Bool(*b),
        AttrValue::StrArray(a) => Value::Array(Array::String(a.iter().cloned().map(StringValue::from).collect())),
        AttrValue::Static(s) => Value::String((*s).into()),
    }
}

/// The record as OTel span data, with the same attributes as its JSONL line.
/// `project_override` replaces `dreadnode.project` (the platform wants the
/// project UUID on the wire).
pub fn to_span_data(rec: &SpanRecord, scope: &InstrumentationScope, project_override: Option<&str>) -> SpanData {
    let attributes = rec
        .attributes()
        .into_iter()
        .map(|(k, v)| match (k.as_ref(), project_override) {
            (dn_core::keys::PROJECT, Some(p)) => KeyValue::new(k, p.to_string()),
            _ => KeyValue::new(k, to_otel_value(&v)),
        })
        .collect();
    let events = rec
        .events
        .iter()
        .map(|e| {
            opentelemetry::trace::Event::new(
                e.name.clone(),
                e.timestamp.to_system_time(),
                e.attributes.iter().map(|(k, v)| KeyValue::new(k.clone(), to_otel_value(v))).collect(),
                0,
            )
        })
        .collect();
    SpanData {
        span_context: SpanContext::new(
            opentelemetry::TraceId::from_bytes(rec.trace_id.to_bytes()),
            opentelemetry::SpanId::from_bytes(rec.span_id.to_bytes()),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: rec
            .parent_id
            .map_or(opentelemetry::SpanId::INVALID, |p| opentelemetry::SpanId::from_bytes(p.to_bytes())),
        parent_span_is_remote: rec.parent_is_remote,
        span_kind: SpanKind::Internal,
        name: Cow::Owned(rec.name.to_string()),
        start_time: rec.start.to_system_time(),
        end_time: rec.end.to_system_time(),
        attributes,
        dropped_attributes_count: 0,
        events: span_events(events),
        links: SpanLinks::default(),
        status: match &rec.status {
            Status::Unset => opentelemetry::trace::Status::Unset,
            Status::Ok => opentelemetry::trace::Status::Ok,
            Status::Error(d) => opentelemetry::trace::Status::Error { description: d.clone().into() },
        },
        instrumentation_scope: scope.clone(),
    }
}

fn span_events(events: Vec<opentelemetry::trace::Event>) -> SpanEvents {
    let mut e = SpanEvents::default();
    e.events = events;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use dn_core::{MemorySink, Tracer};
    use opentelemetry::Value;

    #[test]
    fn span_data_carries_the_jsonl_attributes_ids_and_status() {
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "proj").unwrap();
        let run = tracer.run("r").start();
        let child = tracer.task_span("c").parent(&run).start();
        child.log_input("x", 1);
        child.record_exception("ValueError", "bad", true).unwrap();
        child.end();
        run.end();
        let records = sink.take();
        let scope = scope();
        let c = to_span_data(&records[0], &scope, Some("uuid-of-project"));
        assert_eq!(c.name, "c");
        assert_eq!(c.span_context.trace_id().to_bytes(), records[0].trace_id.to_bytes());
        assert_eq!(c.span_context.span_id().to_bytes(), records[0].span_id.to_bytes());
        assert_eq!(c.parent_span_id.to_bytes(), run.span_id().to_bytes());
        assert_eq!(c.status, opentelemetry::trace::Status::Error { description: "bad".into() });
        assert_eq!(c.instrumentation_scope.name(), "dreadnode");
        let keys: Vec<String> = c.attributes.iter().map(|kv| kv.key.to_string()).collect();
        let want: Vec<String> = records[0].attributes().into_iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, want, "same attributes, same order as the JSONL line");
        let project = c.attributes.iter().find(|kv| kv.key.as_str() == "dreadnode.project").unwrap();
        assert_eq!(project.value, Value::from("uuid-of-project"), "the project UUID replaces the key on the wire");
        assert_eq!(c.events.events[0].name, "exception");
        let r = to_span_data(&records[1], &scope, None);
        assert_eq!(r.parent_span_id, opentelemetry::SpanId::INVALID);
    }
}

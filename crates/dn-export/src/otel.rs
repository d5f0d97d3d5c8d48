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

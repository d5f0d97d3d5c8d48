//! What generic trace backends read, added to spans bound for OpenTelemetry
//! collectors ([`Conventions::Collector`]): the OpenInference attributes
//! Arize Phoenix shows and MLflow translates (span kind, input and output
//! values, session, LLM model and token counts) and the project as
//! Phoenix's project name. Derived from the line's own attributes only; the
//! local files and the platform's wire never carry them.
//!
//! Choices (`docs/format.md`, "Collector conventions"): OpenInference over
//! the GenAI conventions for kinds and values because Phoenix reads only
//! OpenInference and MLflow reads both; the `gen_ai.*` attributes a
//! generation carries are sent as written, for MLflow and GenAI-aware
//! backends.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;

use dn_core::{SpanType, keys};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

#[cfg(doc)]
use crate::otlp::Conventions;

/// Longest `input.value` / `output.value` sent, in bytes; longer values are
/// cut at a character boundary, marked, and sent as `text/plain`.
pub const MAX_IO_VALUE_BYTES: usize = 64 * 1024;

const TEXT: &str = "text/plain";
const JSON: &str = "application/json";

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn get_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match get(attrs, key)? {
        any_value::Value::StringValue(s) => Some(s),
        _ => None,
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_string(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

/// The project a line names (`dreadnode.project`), for the resource.
pub(crate) fn project(attrs: &[KeyValue]) -> Option<&str> {
    get_str(attrs, keys::PROJECT)
}

/// The resource attribute naming the project for Phoenix.
pub(crate) fn project_attribute(project: &str) -> KeyValue {
    kv(keys::OPENINFERENCE_PROJECT_NAME, any_value::Value::StringValue(project.to_string()))
}

/// Appends the collector conventions a span's attributes imply (keys it
/// already has are left alone).
pub(crate) fn add(attrs: &mut Vec<KeyValue>) {
    let mut extra = Vec::new();
    let has = |attrs: &[KeyValue], k: &str| attrs.iter().any(|kv| kv.key == k);
    let span_type = get_str(attrs, keys::TYPE).and_then(|t| SpanType::from_str(t).ok());
    if let Some(t) = span_type {
        extra.push(kv(keys::OPENINFERENCE_SPAN_KIND, any_value::Value::StringValue(t.openinference_kind().into())));
    }
    if let Some(session) = get_str(attrs, keys::SESSION_ID) {
        extra.push(kv(keys::SESSION_ID_OPENINFERENCE, any_value::Value::StringValue(session.to_string())));
    }
    // Parsed once, and only when a group names a value.
    let mut objects: Option<Objects<'_>> = None;
    for (group, value_key, mime_key) in [
        (keys::INPUTS, keys::INPUT_VALUE, keys::INPUT_MIME_TYPE),
        (keys::OUTPUTS, keys::OUTPUT_VALUE, keys::OUTPUT_MIME_TYPE),
    ] {
        if has(attrs, value_key) {
            continue;
        }
        let refs = get_str(attrs, group).and_then(parse_refs).unwrap_or_default();
        let found = if refs.is_empty() {
            None
        } else {
            let objects = objects.get_or_insert_with(|| Objects::parse(get_str(attrs, keys::OBJECTS)));
            io_value(&refs, objects)
        };
        // With nothing logged, a generation's opted-in messages stand in.
        let messages_key =
            if group == keys::INPUTS { keys::GEN_AI_INPUT_MESSAGES } else { keys::GEN_AI_OUTPUT_MESSAGES };
        let found = found.or_else(|| get_str(attrs, messages_key).map(|m| cap(m.to_string(), JSON)));
        if let Some((text, mime)) = found {
            extra.push(kv(value_key, any_value::Value::StringValue(text)));
            extra.push(kv(mime_key, any_value::Value::StringValue(mime.into())));
        }
    }
    // A generation's GenAI attributes, as OpenInference's LLM fields too.
    for (from, to) in
        [(keys::GEN_AI_REQUEST_MODEL, keys::LLM_MODEL_NAME), (keys::GEN_AI_PROVIDER_NAME, keys::LLM_PROVIDER)]
    {
        if let (Some(v), false) = (get_str(attrs, from), has(attrs, to)) {
            extra.push(kv(to, any_value::Value::StringValue(v.to_string())));
        }
    }
    let tokens = |k| match get(attrs, k) {
        Some(any_value::Value::IntValue(n)) => Some(*n),
        _ => None,
    };
    let (prompt, completion) = (tokens(keys::GEN_AI_USAGE_INPUT_TOKENS), tokens(keys::GEN_AI_USAGE_OUTPUT_TOKENS));
    for (k, n) in [(keys::LLM_TOKEN_COUNT_PROMPT, prompt), (keys::LLM_TOKEN_COUNT_COMPLETION, completion)] {
        if let Some(n) = n {
            extra.push(kv(k, any_value::Value::IntValue(n)));
        }
    }
    if let (Some(p), Some(c)) = (prompt, completion) {
        extra.push(kv(keys::LLM_TOKEN_COUNT_TOTAL, any_value::Value::IntValue(p.saturating_add(c))));
    }
    extra.retain(|e| !has(attrs, &e.key));
    attrs.extend(extra);
}

/// One entry of `dreadnode.inputs` / `dreadnode.outputs` (other fields ignored).
#[derive(Deserialize)]
struct Ref<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    hash: Option<Cow<'a, str>>,
}

/// The (name, hash) pairs of a refs group; entries without both as strings
/// are skipped. Typed first (no `Value` tree per span); anything that shape
/// does not fit is read as a `Value`, as before.
fn parse_refs(text: &str) -> Option<Vec<(Cow<'_, str>, Cow<'_, str>)>> {
    if let Ok(refs) = serde_json::from_str::<Vec<Ref<'_>>>(text) {
        return Some(refs.into_iter().filter_map(|r| Some((r.name?, r.hash?))).collect());
    }
    let v: Value = serde_json::from_str(text).ok()?;
    let owned = |v: &Value| v.as_str().map(|s| Cow::Owned(s.to_string()));
    Some(v.as_array()?.iter().filter_map(|r| Some((owned(&r["name"])?, owned(&r["hash"])?))).collect())
}

/// `dreadnode.objects`, read only as far as a lookup needs.
enum Objects<'a> {
    /// Hash → the entry's JSON text, unparsed (the common case).
    Raw(HashMap<Cow<'a, str>, &'a RawValue>),
    /// The whole map, parsed (Python's `NaN` / `Infinity` literals, which
    /// strict JSON cannot skip over, read as `null`).
    Parsed(Value),
}

impl<'a> Objects<'a> {
    fn parse(text: Option<&'a str>) -> Objects<'a> {
        let Some(text) = text else { return Objects::Parsed(Value::Null) };
        match serde_json::from_str(text) {
            Ok(raw) => Objects::Raw(raw),
            Err(_) => Objects::Parsed(dn_core::json::parse_python_json(text).unwrap_or(Value::Null)),
        }
    }

    /// The value an entry holds (its `value`, or for a value kept elsewhere
    /// the entry itself); `null` when there is no such entry.
    fn value(&self, hash: &str) -> Value {
        /// An entry's `value`, other fields skipped.
        #[derive(Deserialize)]
        struct Entry<'a> {
            #[serde(borrow, default)]
            value: Option<&'a RawValue>,
        }
        let entry = match self {
            Objects::Raw(map) => match map.get(hash) {
                Some(raw) => match serde_json::from_str::<Entry<'_>>(raw.get()) {
                    Ok(Entry { value: Some(v) }) => return serde_json::from_str(v.get()).unwrap_or(Value::Null),
                    // No value (kept elsewhere): the entry itself.
                    _ => std::borrow::Cow::Owned(serde_json::from_str(raw.get()).unwrap_or(Value::Null)),
                },
                None => return Value::Null,
            },
            Objects::Parsed(v) => std::borrow::Cow::Borrowed(&v[hash]),
        };
        match entry.get("value") {
            Some(v) => v.clone(),
            None => entry.into_owned(),
        }
    }
}

/// The text of a span's inputs (or outputs): one string value as itself
/// (`text/plain`), anything else as a JSON object of name → value; values
/// kept elsewhere (offloaded) show as their object entry.
fn io_value(refs: &[(Cow<'_, str>, Cow<'_, str>)], objects: &Objects<'_>) -> Option<(String, &'static str)> {
    let mut named: Vec<(&str, Value)> = Vec::new();
    for (name, hash) in refs {
        let value = objects.value(hash);
        // A name logged twice keeps its last value.
        named.retain(|(n, _)| *n != name.as_ref());
        named.push((name, value));
    }
    let (text, mime) = match named.as_slice() {
        [] => return None,
        [(_, Value::String(s))] => (s.clone(), TEXT),
        _ => {
            let map: serde_json::Map<String, Value> = named.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
            (Value::Object(map).to_string(), JSON)
        }
    };
    Some(cap(text, mime))
}

fn cap(mut text: String, mime: &'static str) -> (String, &'static str) {
    if text.len() <= MAX_IO_VALUE_BYTES {
        return (text, mime);
    }
    let mut at = MAX_IO_VALUE_BYTES;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let total = text.len();
    text.truncate(at);
    text.push_str(&format!("… [{total} bytes, cut at {MAX_IO_VALUE_BYTES}]"));
    (text, TEXT)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
        pairs.iter().map(|(k, v)| kv(k, any_value::Value::StringValue((*v).into()))).collect()
    }
    fn s<'a>(a: &'a [KeyValue], k: &str) -> Option<&'a str> {
        get_str(a, k)
    }

    #[test]
    fn kinds_values_and_session_follow_the_line() {
        let objects = r#"{"h1":{"hash":"h1","value":"I want a refund"},"h2":{"hash":"h2","value":"billing"},"h3":{"hash":"h3","value":NaN}}"#;
        let mut a = attrs(&[
            ("dreadnode.type", "tool"),
            ("dreadnode.session.id", "session_123"),
            ("dreadnode.inputs", r#"[{"name":"text","hash":"h1"}]"#),
            ("dreadnode.outputs", r#"[{"name":"output","hash":"h2"},{"name":"score","hash":"h3"}]"#),
            ("dreadnode.objects", objects),
        ]);
        add(&mut a);
        assert_eq!(s(&a, "openinference.span.kind"), Some("TOOL"));
        assert_eq!(s(&a, "session.id"), Some("session_123"));
        assert_eq!(s(&a, "input.value"), Some("I want a refund"));
        assert_eq!(s(&a, "input.mime_type"), Some("text/plain"));
        assert_eq!(s(&a, "output.value"), Some(r#"{"output":"billing","score":null}"#));
        assert_eq!(s(&a, "output.mime_type"), Some("application/json"));
    }

    #[test]
    fn values_read_the_same_whichever_way_the_objects_map_is_parsed() {
        // Without a non-finite float the map is read lazily (raw entries);
        // a `NaN` anywhere makes it parsed whole. Both must give the same
        // values, and a refs entry that is not name + hash strings is skipped.
        let entries = r#""h1":{"hash":"h1","value":{"k":[1,2.5,"x"]}},"h2":{"hash":"h2","value":"two"},"h4":{"hash":"h4","data_hash":"d4","schema_hash":"s4"}"#;
        let lazy = format!("{{{entries}}}");
        let whole = format!(r#"{{{entries},"h3":{{"hash":"h3","value":NaN}}}}"#);
        let refs = r#"[{"name":"a","hash":"h1"},{"name":7,"hash":"h2"},{"name":"b","hash":"h2","label":"x"},{"name":"c","hash":"h4"},{"name":"d","hash":"missing"}]"#;
        let want =
            r#"{"a":{"k":[1,2.5,"x"]},"b":"two","c":{"hash":"h4","data_hash":"d4","schema_hash":"s4"},"d":null}"#;
        for objects in [&lazy, &whole] {
            let mut a = attrs(&[("dreadnode.inputs", refs), ("dreadnode.objects", objects)]);
            add(&mut a);
            assert_eq!(s(&a, "input.value"), Some(want), "{objects}");
        }
        let mut a = attrs(&[("dreadnode.outputs", r#"[{"name":"o","hash":"h2"}]"#), ("dreadnode.objects", &lazy)]);
        add(&mut a);
        assert_eq!((s(&a, "output.value"), s(&a, "output.mime_type")), (Some("two"), Some("text/plain")));
    }

    #[test]
    fn every_user_span_type_has_a_kind_and_generations_get_llm_fields() {
        for t in SpanType::USER {
            let mut a = attrs(&[("dreadnode.type", t.as_str())]);
            add(&mut a);
            assert!(s(&a, "openinference.span.kind").is_some_and(|k| k != "UNKNOWN"), "{t:?}");
        }
        let mut a = attrs(&[("dreadnode.type", "generation"), ("gen_ai.request.model", "gpt-4o")]);
        a.push(kv("gen_ai.usage.input_tokens", any_value::Value::IntValue(12)));
        a.push(kv("gen_ai.usage.output_tokens", any_value::Value::IntValue(30)));
        add(&mut a);
        assert_eq!(s(&a, "openinference.span.kind"), Some("LLM"));
        assert_eq!(s(&a, "llm.model_name"), Some("gpt-4o"));
        assert_eq!(get(&a, "llm.token_count.total"), Some(&any_value::Value::IntValue(42)));
        let mut a = attrs(&[("dreadnode.type", "generation"), ("gen_ai.input.messages", r#"[{"role":"user"}]"#)]);
        add(&mut a);
        assert_eq!(s(&a, "input.value"), Some(r#"[{"role":"user"}]"#), "messages stand in for absent inputs");
        assert_eq!(s(&a, "input.mime_type"), Some("application/json"));
        assert_eq!(s(&a, "output.value"), None);
    }

    #[test]
    fn long_values_are_cut_and_existing_keys_are_kept() {
        let big = "é".repeat(MAX_IO_VALUE_BYTES);
        let objects = serde_json::json!({"h": {"value": big}}).to_string();
        let mut a = attrs(&[
            ("dreadnode.inputs", r#"[{"name":"x","hash":"h"}]"#),
            ("dreadnode.objects", &objects),
            ("output.value", "mine"),
        ]);
        add(&mut a);
        let v = s(&a, "input.value").unwrap();
        assert!(v.len() < MAX_IO_VALUE_BYTES + 64 && v.ends_with(&format!("cut at {MAX_IO_VALUE_BYTES}]")));
        assert_eq!(a.iter().filter(|kv| kv.key == "output.value").count(), 1);
        assert_eq!(s(&a, "output.value"), Some("mine"));
    }
}

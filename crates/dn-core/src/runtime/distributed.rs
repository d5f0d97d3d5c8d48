//! Distributed continuation (`docs/format.md`, "Distributed context and sessions"): the task context a process hands to
//! another, W3C `traceparent` / `tracestate` on header maps, and the
//! `task_fragment` span that continues a task elsewhere.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::attrs::SpanType;
use crate::builders::TaskSpanBuilder;
use crate::clean::validate_component;
use crate::context::SpanLink;
use crate::ids::{SpanId, TraceId};
use crate::task::TaskSpan;
use crate::tracer::Tracer;

/// The `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header name.
pub const TRACESTATE: &str = "tracestate";

/// A parsed W3C `traceparent`: `00-<trace id>-<span id>-<flags>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    /// Trace id (never zero).
    pub trace_id: TraceId,
    /// Parent span id (never zero).
    pub span_id: SpanId,
    /// Trace flags (`01` = sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` value per W3C Trace Context: version `00`
    /// exactly four fields; later versions may add fields after the flags;
    /// version `ff`, upper-case hex, wrong lengths and all-zero ids are
    /// rejected.
    ///
    /// ```
    /// # use dn_core as dn;
    /// use dn::TraceParent;
    /// let tp = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
    /// assert_eq!(tp.to_string(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    /// assert!(TraceParent::parse("00-00000000000000000000000000000000-b7ad6b7169203331-01").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<TraceParent, Error> {
        let bad = |why: &str| Error::InvalidInput(format!("invalid traceparent {:?}: {why}", truncate(s)));
        let s = s.trim_matches(|c| c == ' ' || c == '\t');
        let mut parts = s.split('-');
        let (Some(version), Some(trace), Some(span), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected version-traceid-spanid-flags"));
        };
        let lower_hex = |x: &str| x.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if version.len() != 2 || !lower_hex(version) {
            return Err(bad("version must be 2 lowercase hex digits"));
        }
        if version == "ff" {
            return Err(bad("version ff is invalid"));
        }
        if version == "00" && parts.next().is_some() {
            return Err(bad("version 00 has exactly four fields"));
        }
        if trace.len() != 32 || !lower_hex(trace) {
            return Err(bad("trace id must be 32 lowercase hex digits"));
        }
        if span.len() != 16 || !lower_hex(span) {
            return Err(bad("parent id must be 16 lowercase hex digits"));
        }
        if flags.len() != 2 || !lower_hex(flags) {
            return Err(bad("flags must be 2 lowercase hex digits"));
        }
        let trace_id = TraceId::from_hex(trace).ok_or_else(|| bad("trace id is all zeros"))?;
        let span_id = SpanId::from_hex(span).ok_or_else(|| bad("parent id is all zeros"))?;
        let flags = u8::from_str_radix(flags, 16).map_err(|_| bad("flags"))?;
        Ok(TraceParent { trace_id, span_id, flags })
    }

    /// The parent as a remote span link.
    pub fn link(&self) -> SpanLink {
        SpanLink { trace_id: self.trace_id, span_id: self.span_id, remote: true }
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00-{}-{}-{:02x}", self.trace_id, self.span_id, self.flags)
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Checks a `tracestate` value: at most 32 comma-separated `key=value`
/// members, keys of `[a-z0-9_\-*/@]` starting with a letter or digit, values
/// of printable ASCII without `,` or `=`, at most 512 bytes in all.
pub fn validate_tracestate(s: &str) -> Result<(), Error> {
    let bad = |why: &str| Error::InvalidInput(format!("invalid tracestate {:?}: {why}", truncate(s)));
    if s.len() > 512 {
        return Err(bad("longer than 512 bytes"));
    }
    let members: Vec<&str> =
        s.split(',').map(|m| m.trim_matches(|c| c == ' ' || c == '\t')).filter(|m| !m.is_empty()).collect();
    if members.len() > 32 {
        return Err(bad("more than 32 members"));
    }
    for m in members {
        let (k, v) = m.split_once('=').ok_or_else(|| bad("member without '='"))?;
        let key_ok = !k.is_empty()
            && k.len() <= 256
            && k.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && k.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/' | b'@'));
        let value_ok = !v.is_empty()
            && v.len() <= 256
            && v.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=')
            && !v.ends_with(' ');
        if !key_ok || !value_ok {
            return Err(bad("malformed member"));
        }
    }
    Ok(())
}

/// Where `traceparent` / `tracestate` are written (HTTP headers, a map).
pub trait Injector {
    /// Sets a header.
    fn set(&mut self, key: &str, value: String);
}

/// Where `traceparent` / `tracestate` are read from.
pub trait Extractor {
    /// Reads a header (case-insensitively for HTTP).
    fn get(&self, key: &str) -> Option<&str>;
}

impl Injector for HashMap<String, String> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_string(), value);
    }
}
impl Extractor for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
}
#[cfg(feature = "http")]
impl Injector for http::HeaderMap {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(v)) = (http::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::from_str(&value)) {
            self.insert(name, v);
        }
    }
}
#[cfg(feature = "http")]
impl Extractor for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        http::HeaderMap::get(self, key).and_then(|v| v.to_str().ok())
    }
}

/// A remote parent read from a carrier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteParent {
    /// The parsed `traceparent`.
    pub traceparent: TraceParent,
    /// The `tracestate`, if present and valid.
    pub tracestate: Option<String>,
}

/// Writes `traceparent` (and `tracestate`) for `task` into `carrier`.
pub fn inject(task: &TaskSpan, tracestate: Option<&str>, carrier: &mut dyn Injector) {
    let tp = TraceParent { trace_id: task.trace_id(), span_id: task.span_id(), flags: 1 };
    carrier.set(TRACEPARENT, tp.to_string());
    if let Some(ts) = tracestate.filter(|t| validate_tracestate(t).is_ok()) {
        carrier.set(TRACESTATE, ts.to_string());
    }
}

/// Reads and validates `traceparent` / `tracestate` from `carrier`.
pub fn extract(carrier: &dyn Extractor) -> Result<RemoteParent, Error> {
    let tp =
        carrier.get(TRACEPARENT).ok_or_else(|| Error::InvalidInput("no traceparent header in the carrier".into()))?;
    let traceparent = TraceParent::parse(tp)?;
    let tracestate = carrier.get(TRACESTATE).filter(|t| validate_tracestate(t).is_ok()).map(str::to_string);
    Ok(RemoteParent { traceparent, tracestate })
}

/// The W3C trace context inside a [`TaskContext`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// `00-<trace>-<span>-<flags>`.
    pub traceparent: String,
    /// Optional vendor state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

/// What one process hands another to continue a task: the Python SDK's dict
/// (`task_id`, `task_name`, `project`, `trace_context`) plus our optional
/// `run_id`, which Python ignores.
///
/// ```
/// # use dn_core as dn;
/// let json = r#"{"task_id":"74659e05f5cf463bb37190f9d6bb6ca7","task_name":"parent","project":"default",
///   "trace_context":{"traceparent":"00-01a20d67fea7f3768f393500a3fe1cd0-3bd65d94e34b3893-01"}}"#;
/// let ctx = dn::TaskContext::from_json(json).unwrap();
/// assert_eq!(ctx.run_id(), "74659e05f5cf463bb37190f9d6bb6ca7");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskContext {
    /// Id of the task being continued.
    pub task_id: String,
    /// Its name.
    pub task_name: String,
    /// Its project key.
    pub project: String,
    /// The W3C trace context of its span.
    pub trace_context: TraceContext,
    /// The run it belongs to (absent in contexts made by the Python SDK).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl TaskContext {
    /// The context of `task`.
    pub fn of(task: &TaskSpan) -> TaskContext {
        TaskContext {
            task_id: task.task_id().to_string(),
            task_name: task.name().to_string(),
            project: task.project().to_string(),
            trace_context: TraceContext {
                traceparent: TraceParent { trace_id: task.trace_id(), span_id: task.span_id(), flags: 1 }.to_string(),
                tracestate: None,
            },
            run_id: Some(task.run_id().to_string()),
        }
    }
    /// Parses and validates a context serialized as JSON (by dn or Python).
    pub fn from_json(json: &str) -> Result<TaskContext, Error> {
        let ctx: TaskContext =
            serde_json::from_str(json).map_err(|e| Error::InvalidInput(format!("invalid task context JSON: {e}")))?;
        ctx.validate()?;
        Ok(ctx)
    }
    /// The context as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    /// Checks every field that reaches a span or a path.
    pub fn validate(&self) -> Result<(), Error> {
        TraceParent::parse(&self.trace_context.traceparent)?;
        if let Some(ts) = &self.trace_context.tracestate {
            validate_tracestate(ts)?;
        }
        validate_component("task id", &self.task_id)?;
        validate_component("project", &self.project)?;
        if let Some(r) = &self.run_id {
            validate_component("run id", r)?;
        }
        Ok(())
    }
    /// The run the continued task belongs to: `run_id`, else `task_id`.
    pub fn run_id(&self) -> &str {
        self.run_id.as_deref().unwrap_or(&self.task_id)
    }
}

impl Tracer {
    /// Continues a task of another process: a `task_fragment` span named
    /// `task.<task_id>.fragment` in the context's trace, parented to the
    /// traceparent's span, in run `ctx.run_id()` of `ctx.project`. Spans opened
    /// inside it are its children. Start it with `enter`, `run` or
    /// `instrument` like any task span.
    pub fn continue_task(&self, ctx: &TaskContext) -> Result<TaskSpanBuilder, Error> {
        ctx.validate()?;
        let tp = TraceParent::parse(&ctx.trace_context.traceparent)?;
        self.task_span(format!("task.{}.fragment", ctx.task_id))
            .span_type(SpanType::TaskFragment)
            .label("")
            .remote_parent(tp.link(), ctx.run_id(), &ctx.project)
    }
}

/// The context of the current task, to hand to another process.
pub fn task_context() -> Result<TaskContext, Error> {
    crate::context::current_task().map(|t| TaskContext::of(&t)).ok_or(Error::NoActiveTask("task_context"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn traceparent_validation_follows_w3c() {
        let ok = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert!(TraceParent::parse(ok).is_ok());
        assert!(TraceParent::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra").is_ok());
        for bad in [
            "",
            "00",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "0x-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-zz",
        ] {
            assert!(TraceParent::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tracestate_validation() {
        assert!(validate_tracestate("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").is_ok());
        assert!(validate_tracestate("tenant@vendor=x").is_ok());
        assert!(validate_tracestate("novalue").is_err());
        assert!(validate_tracestate("UPPER=x").is_err());
        assert!(validate_tracestate(&"a=b,".repeat(40)).is_err());
    }

    #[test]
    fn contexts_reject_path_escapes() {
        let mut ctx = TaskContext {
            task_id: "t".into(),
            task_name: "n".into(),
            project: "default".into(),
            trace_context: TraceContext {
                traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
                tracestate: None,
            },
            run_id: Some("../../etc".into()),
        };
        assert!(ctx.validate().is_err());
        ctx.run_id = None;
        ctx.project = "a/b".into();
        assert!(ctx.validate().is_err());
    }

    proptest! {
        #[test]
        fn traceparent_parser_never_panics(s in ".{0,80}") {
            let _ = TraceParent::parse(&s);
            let _ = validate_tracestate(&s);
        }

        #[test]
        fn valid_traceparents_round_trip(t in 1u128.., sp in 1u64.., f in 0u8..) {
            let tp = TraceParent {
                trace_id: TraceId::from_u128(t).unwrap(),
                span_id: SpanId::from_u64(sp).unwrap(),
                flags: f,
            };
            prop_assert_eq!(TraceParent::parse(&tp.to_string()).unwrap(), tp);
        }

        #[test]
        fn context_parser_never_panics(s in ".{0,200}") {
            let _ = TaskContext::from_json(&s);
        }

        #[test]
        fn context_parser_never_panics_on_json_shaped_input(
            task in ".{0,20}", project in ".{0,20}", tp in "[0-9a-f-]{0,60}", run in proptest::option::of(".{0,20}"),
        ) {
            let v = serde_json::json!({"task_id": task, "task_name": "x", "project": project,
                "trace_context": {"traceparent": tp}, "run_id": run});
            let _ = TaskContext::from_json(&v.to_string());
        }
    }
}

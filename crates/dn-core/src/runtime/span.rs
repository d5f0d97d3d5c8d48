//! Light spans: timing, tags and attributes, no task bookkeeping.

use std::future::Future;

use serde::Serialize;

use crate::attrs::{AttrValue, SpanType};
use crate::clean::normalize_name;
use crate::context::{Context, ContextGuard, SpanLink, View, enter_span};
use crate::ids::{SpanId, TraceId};
use crate::record::{Event, Key, RecordKind, Route, SpanRecord, Status};
use crate::record::{fail_state, set_attr};
use crate::runtime::recycle::push_attribute;
use crate::scope::{Instrumented, OutcomeCheck, Scope, result_check, run_in_scope};
use crate::text::SharedStr;
use crate::time::Timestamp;
use crate::tracer::Tracer;

/// An open light span. Owned by its guard, closure or future; ends once.
///
/// It holds its finished record from the start, so ending it moves that
/// record to the sink without copying fields or touching reference counts.
pub struct LightSpan {
    tracer: Tracer,
    trace_id: TraceId,
    span_id: SpanId,
    /// `None` once ended.
    record: Option<SpanRecord>,
}

impl LightSpan {
    /// Where a light span under `parent` is written.
    fn route_for(tracer: &Tracer, parent: View<'_>) -> std::sync::Arc<Route> {
        match parent.task {
            Some(t) => t.route_with_session(parent.session.cloned()),
            None if parent.session.is_none() => tracer.inner.default_route.clone(),
            None => std::sync::Arc::new(Route {
                project: tracer.inner.default_project.clone(),
                run_id: SharedStr::default(),
                session_id: parent.session.cloned(),
            }),
        }
    }

    fn start(b: SpanBuilder, parent_span: Option<SpanLink>, route: std::sync::Arc<Route>) -> LightSpan {
        let mut name = b.name;
        if normalize_name(&mut name) {
            b.tracer.warn(format_args!("span name was empty or over {} bytes; it was normalised", crate::MAX_NAME_LEN));
        }
        let mut tags = Vec::new();
        b.tracer.clean_tags(&mut tags, &b.tags);
        let start = Timestamp::now();
        let trace_id = parent_span.map_or_else(TraceId::random, |l| l.trace_id);
        let span_id = SpanId::random();
        LightSpan {
            tracer: b.tracer,
            trace_id,
            span_id,
            record: Some(SpanRecord {
                trace_id,
                span_id,
                parent_id: parent_span.map(|p| p.span_id),
                parent_is_remote: parent_span.is_some_and(|p| p.remote),
                name,
                span_type: SpanType::Span,
                label: SharedStr::default(),
                status: Status::Unset,
                start,
                end: start,
                route,
                tags,
                attributes: b.attributes,
                late_attribute_keys: Vec::new(),
                events: Vec::new(),
                kind: RecordKind::Light,
            }),
        }
    }

    fn rec_mut(&mut self) -> Option<&mut SpanRecord> {
        self.record.as_mut()
    }

    /// Span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }
    /// Trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }
    /// Name (empty once ended).
    pub fn name(&self) -> &str {
        self.record.as_ref().map_or("", |r| &r.name)
    }
    /// Tags (empty once ended).
    pub fn tags(&self) -> &[String] {
        self.record.as_ref().map_or(&[], |r| &r.tags)
    }
    /// Adds tags (cleaned, de-duplicated).
    pub fn tag<I, S>(&mut self, tags: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        if let Some(r) = self.record.as_mut() {
            self.tracer.clean_tags(&mut r.tags, tags);
        }
    }
    /// Sets an attribute.
    pub fn set_attribute(&mut self, key: &str, value: impl Serialize) {
        if let Some(r) = self.rec_mut() {
            set_attr(&mut r.attributes, &mut r.late_attribute_keys, key, AttrValue::from_serialize(&value));
        }
    }
    /// Sets an attribute to a value already converted.
    pub fn set_attribute_value(&mut self, key: &str, value: AttrValue) {
        if let Some(r) = self.rec_mut() {
            set_attr(&mut r.attributes, &mut r.late_attribute_keys, key, value);
        }
    }
    /// Adds an event with the given attributes.
    pub fn add_event(&mut self, name: impl Into<Key>, attributes: Vec<(Key, AttrValue)>) {
        if let Some(r) = self.rec_mut() {
            r.events.push(Event { name: name.into(), timestamp: Timestamp::now(), attributes });
        }
    }
    /// Marks the span failed.
    pub fn record_error<E: std::fmt::Display + ?Sized>(&mut self, error: &E) {
        if let Some(r) = self.rec_mut() {
            fail_state(&mut r.status, &mut r.events, std::any::type_name::<E>(), &error.to_string(), false);
        }
    }
    fn link(&self) -> SpanLink {
        SpanLink { trace_id: self.trace_id, span_id: self.span_id, remote: false }
    }
    fn finish(&mut self) {
        if let Some(rec) = self.record.as_mut() {
            rec.end = Timestamp::now();
            self.tracer.export_from(&mut self.record);
        }
    }
}

impl Drop for LightSpan {
    fn drop(&mut self) {
        self.finish();
    }
}

impl std::fmt::Debug for LightSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.record {
            Some(r) => f.debug_struct("LightSpan").field("name", &r.name).field("span_id", &r.span_id).finish(),
            None => f.write_str("LightSpan(ended)"),
        }
    }
}

impl Scope for LightSpan {
    fn fail(&mut self, type_name: &str, message: &str, escaped: bool) {
        if let Some(r) = self.rec_mut() {
            fail_state(&mut r.status, &mut r.events, type_name, message, escaped);
        }
    }
    fn close(mut self) {
        self.finish();
    }
}

/// The future form of a light span.
pub type SpanFuture<F> = Instrumented<F, LightSpan>;

/// Keeps a light span current and ends it on drop; dereferences to
/// [`LightSpan`].
#[must_use = "the span ends as soon as the guard is dropped"]
pub struct SpanGuard {
    span: LightSpan,
    _ctx: ContextGuard,
}

impl std::ops::Deref for SpanGuard {
    type Target = LightSpan;
    fn deref(&self) -> &LightSpan {
        &self.span
    }
}
impl std::ops::DerefMut for SpanGuard {
    fn deref_mut(&mut self) -> &mut LightSpan {
        &mut self.span
    }
}
impl std::fmt::Debug for SpanGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SpanGuard").field(&self.span).finish()
    }
}
impl Drop for SpanGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.span.fail("panic", "the thread panicked while the span was open", true);
        }
        self.span.finish();
    }
}

/// Builds a light span: `dn::span("name")`.
#[must_use = "a builder does nothing until started: call .enter(), .run(..) or .instrument(..)"]
pub struct SpanBuilder {
    tracer: Tracer,
    name: SharedStr,
    tags: Vec<String>,
    attributes: Vec<(Key, AttrValue)>,
}

impl SpanBuilder {
    pub(crate) fn new(tracer: Tracer, name: SharedStr) -> Self {
        SpanBuilder { tracer, name, tags: vec![], attributes: vec![] }
    }
    /// Tags (cleaned, de-duplicated).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }
    /// An attribute set at start.
    pub fn attribute(mut self, key: impl Into<String>, value: impl Serialize) -> Self {
        push_attribute(&mut self.attributes, Key::from(key.into()), AttrValue::from_serialize(&value));
        self
    }

    /// An attribute set at start, already converted (no serialisation).
    pub fn attribute_value(mut self, key: &'static str, value: AttrValue) -> Self {
        push_attribute(&mut self.attributes, Key::Borrowed(key), value);
        self
    }

    /// Starts the span under what is current, cloning no context handle
    /// (only the route the record carries).
    fn start_here(self) -> LightSpan {
        let tracer = &self.tracer;
        let (parent, route) = crate::context::pick_current(|v| Some((v.span, LightSpan::route_for(tracer, v))))
            .unwrap_or_else(|| (None, LightSpan::route_for(tracer, View::default())));
        LightSpan::start(self, parent, route)
    }

    /// Starts the span and returns the context that has it innermost, for a
    /// future that is polled where the current stack is not.
    fn begin(self) -> (LightSpan, Context) {
        let parent = Context::current();
        let route = LightSpan::route_for(&self.tracer, parent.view());
        let span = LightSpan::start(self, parent.span, route);
        let ctx = Context { span: Some(span.link()), ..parent };
        (span, ctx)
    }

    /// Starts the span as a child of `parent` without making it current,
    /// returning it with the context that has it innermost. For bridges
    /// from other instrumentation (the `tracing` layer of `dn`), which end
    /// the span by dropping it and enter the context themselves.
    pub fn start_under(self, parent: &Context) -> (LightSpan, Context) {
        let route = LightSpan::route_for(&self.tracer, parent.view());
        let span = LightSpan::start(self, parent.span, route);
        let ctx = Context { span: Some(span.link()), ..parent.clone() };
        (span, ctx)
    }

    /// Starts the span and makes it current until the guard drops.
    pub fn enter(self) -> SpanGuard {
        let span = self.start_here();
        let ctx = enter_span(span.link());
        SpanGuard { span, _ctx: ctx }
    }
    /// Runs `f` inside the span; a panic marks it failed and continues.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        let span = self.start_here();
        let _g = enter_span(span.link());
        run_in_scope(span, None, f)
    }
    /// Like `run` for a body returning `Result`: `Err` fails the span.
    pub fn try_run<T, E: std::fmt::Display>(self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let span = self.start_here();
        let _g = enter_span(span.link());
        let check: OutcomeCheck<Result<T, E>> = result_check::<T, E>;
        run_in_scope(span, Some(check), f)
    }
    /// Runs a future inside the span.
    pub fn instrument<F: Future>(self, fut: F) -> SpanFuture<F> {
        let (span, ctx) = self.begin();
        Instrumented::new(fut, ctx, span, None)
    }
    /// Like `instrument` for a future returning `Result`: `Err` fails the span.
    pub fn try_instrument<F, T, E>(self, fut: F) -> SpanFuture<F>
    where
        F: Future<Output = Result<T, E>>,
        E: std::fmt::Display,
    {
        let (span, ctx) = self.begin();
        Instrumented::new(fut, ctx, span, Some(result_check::<T, E>))
    }
}

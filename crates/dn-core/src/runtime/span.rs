//! Light spans: timing, tags and attributes, no task bookkeeping.

use std::future::Future;

use serde::Serialize;

use crate::attrs::{AttrValue, SpanType};
use crate::clean::normalize_name;
use crate::context::{Context, ContextGuard, SpanLink, View, enter_light};
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
    #[inline]
    fn route_for(tracer: &Tracer, parent: View<'_>) -> std::sync::Arc<Route> {
        match parent.task {
            Some(t) => t.route_with_session(parent.session.cloned()),
            None if parent.session.is_none() => tracer.inner.default_route.clone(),
            None => crate::runtime::recycle::route(Route {
                project: tracer.inner.default_project.clone(),
                run_id: SharedStr::default(),
                session_id: parent.session.cloned(),
            }),
        }
    }

    /// A new span's link under `parent`: the parent's trace (a new one at
    /// the root) and a new span id.
    #[inline]
    fn new_link(parent: Option<SpanLink>) -> SpanLink {
        SpanLink {
            trace_id: parent.map_or_else(TraceId::random, |l| l.trace_id),
            span_id: SpanId::random(),
            remote: false,
        }
    }

    // Inlined so that `SpanBuilder::enter` builds the record straight in
    // the guard it returns: as a call, the record was built and then
    // copied into the guard (callgrind: 485 -> 345 instructions to enter).
    #[inline(always)]
    fn start(b: SpanBuilder, parent_span: Option<SpanLink>, link: SpanLink, route: std::sync::Arc<Route>) -> LightSpan {
        let mut name = b.name;
        if normalize_name(&mut name) {
            b.tracer.warn(format_args!("span name was empty or over {} bytes; it was normalised", crate::MAX_NAME_LEN));
        }
        let mut tags = Vec::new();
        // Most spans have none: no call to clean nothing.
        if !b.tags.is_empty() {
            b.tracer.clean_tags(&mut tags, &b.tags);
        }
        let start = Timestamp::now();
        let SpanLink { trace_id, span_id, .. } = link;
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

    /// Enters the frame of a span about to start under what is current, in
    /// one visit to the context stack, cloning no context handle: the guard,
    /// the parent, the new span's link and the route its record carries.
    /// The record is built after, straight where it is kept.
    fn enter_here(&self) -> (ContextGuard, (Option<SpanLink>, SpanLink, std::sync::Arc<Route>)) {
        let tracer = &self.tracer;
        enter_light(|v| {
            let link = LightSpan::new_link(v.span);
            (link, (v.span, link, LightSpan::route_for(tracer, v)))
        })
    }

    /// Starts the span and returns the context that has it innermost, for a
    /// future that is polled where the current stack is not.
    fn begin(self) -> (LightSpan, Context) {
        let parent = Context::current();
        let route = LightSpan::route_for(&self.tracer, parent.view());
        let link = LightSpan::new_link(parent.span);
        let span = LightSpan::start(self, parent.span, link, route);
        let ctx = Context { span: Some(link), ..parent };
        (span, ctx)
    }

    /// Starts the span as a child of `parent` without making it current,
    /// returning it with the context that has it innermost (`parent`, its
    /// span replaced: no handle cloned). For bridges from other
    /// instrumentation (the `tracing` layer of `dn`), which end the span by
    /// dropping it and enter the context themselves.
    pub fn start_under(self, parent: Context) -> (LightSpan, Context) {
        let route = LightSpan::route_for(&self.tracer, parent.view());
        let link = LightSpan::new_link(parent.span);
        let span = LightSpan::start(self, parent.span, link, route);
        let ctx = Context { span: Some(link), ..parent };
        (span, ctx)
    }

    /// Starts the span and makes it current until the guard drops.
    pub fn enter(self) -> SpanGuard {
        let (_ctx, (parent, link, route)) = self.enter_here();
        SpanGuard { span: LightSpan::start(self, parent, link, route), _ctx }
    }
    /// Runs `f` inside the span; a panic marks it failed and continues.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        let (_g, (parent, link, route)) = self.enter_here();
        run_in_scope(LightSpan::start(self, parent, link, route), None, |_| f())
    }
    /// Like `run` for a body returning `Result`: `Err` fails the span.
    pub fn try_run<T, E: std::fmt::Display>(self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let (_g, (parent, link, route)) = self.enter_here();
        let span = LightSpan::start(self, parent, link, route);
        let check: OutcomeCheck<Result<T, E>> = result_check::<T, E>;
        run_in_scope(span, Some(check), |_| f())
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

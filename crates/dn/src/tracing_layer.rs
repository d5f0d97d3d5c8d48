//! The `tracing` bridge: a `tracing_subscriber::Layer` that records the
//! `tracing` spans and events of libraries inside dn spans.
//!
//! A `tracing` span opened while a dn span is current (on this thread, or
//! through an explicit `parent:` that was itself bridged) becomes a dn light
//! span nested under it: its name is the span's name, its fields are
//! attributes (recorded later with `Span::record` too), and
//! `code.filepath` / `code.lineno` / `code.namespace` say where it was
//! declared. While the `tracing` span is entered — including every poll of a
//! future wrapped with `tracing::Instrument` on any thread — its dn span is
//! the current one, so dn spans and further `tracing` spans inside nest under
//! it. A `tracing` event becomes a span event on the innermost span the
//! bridge can reach: a bridged span, else the current dn task (an event
//! inside a dn light span lands on that span's task). Its name is the
//! message; its attributes are `level`, `target` and the fields.
//!
//! Outside any dn span nothing is recorded unless
//! [`TracingLayer::record_outside_dn`] asks for it. dn's own diagnostics
//! (target `dn`) are never recorded, so they cannot loop back.

use std::cell::RefCell;
use std::fmt;

use dn_core::{AttrValue, Context, ContextGuard, Key, LightSpan, keys};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The bridge from `tracing` to dn: add it to a `tracing_subscriber`
/// registry. See [`tracing_layer`].
#[derive(Clone, Debug, Default)]
pub struct TracingLayer {
    outside_dn: bool,
}

/// The `tracing` layer of the global instance (and of whichever dn tasks are
/// current when `tracing` spans open).
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// # let dir = tempfile::tempdir().unwrap();
/// # let _ = dn::configure(dn::Config::new().local_dir(dir.path()).isolated());
///
/// #[tracing::instrument]
/// fn tokenize(text: &str) -> usize {
///     tracing::info!(chars = text.len(), "tokenizing");
///     text.split_whitespace().count()
/// }
///
/// let subscriber = tracing_subscriber::registry().with(dn::tracing_layer());
/// tracing::subscriber::with_default(subscriber, || {
///     dn::run("r").run(|_| dn::task_span("t").run(|_| tokenize("to be or not")));
/// });
/// ```
pub fn tracing_layer() -> TracingLayer {
    TracingLayer::default()
}

impl TracingLayer {
    /// Also record `tracing` spans opened outside any dn span, as light spans
    /// of their own traces (default: off — only what happens inside dn spans
    /// is recorded).
    pub fn record_outside_dn(mut self, yes: bool) -> Self {
        self.outside_dn = yes;
        self
    }
}

/// What the bridge keeps in a bridged `tracing` span's extensions.
struct Bridged {
    span: LightSpan,
    /// The context that has `span` innermost, entered with the span.
    ctx: Context,
}

thread_local! {
    /// dn contexts entered for bridged `tracing` spans on this thread.
    static ENTERED: RefCell<Vec<(Id, ContextGuard)>> = const { RefCell::new(Vec::new()) };
}

/// dn's own diagnostics use target `dn`; the crates' module paths too.
fn is_dn_target(target: &str) -> bool {
    target == "dn"
        || target.starts_with("dn::")
        || ["dn_core", "dn_export", "dn_artifacts"]
            .iter()
            .any(|c| target.strip_prefix(c).is_some_and(|rest| rest.is_empty() || rest.starts_with("::")))
}

/// Collects `tracing` fields as dn attributes; `message` kept apart.
#[derive(Default)]
struct Fields {
    attributes: Vec<(&'static str, AttrValue)>,
    message: Option<String>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: AttrValue) {
        if field.name() == "message" {
            self.message = Some(match value {
                AttrValue::Str(s) => s,
                other => format!("{other:?}"),
            });
        } else {
            self.attributes.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, AttrValue::Str(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, AttrValue::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, i64::try_from(value).map_or_else(|_| AttrValue::Str(value.to_string()), AttrValue::Int));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, AttrValue::Float(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, AttrValue::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, AttrValue::Str(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, AttrValue::Str(format!("{value:?}")));
    }
}

impl<S> Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let meta = attrs.metadata();
        if is_dn_target(meta.target()) {
            return;
        }
        // An explicit parent that was bridged is the dn parent; otherwise
        // whatever dn span is current here (entered bridged spans included).
        let parent = attrs
            .parent()
            .and_then(|p| ctx.span(p))
            .and_then(|p| p.extensions().get::<Bridged>().map(|b| b.ctx.clone()))
            .unwrap_or_else(Context::current);
        if parent.span().is_none() && !self.outside_dn {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let tracer = match parent.task() {
            Some(task) => task.tracer().clone(),
            None => crate::instance().tracer().clone(),
        };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let mut b = tracer.span(meta.name());
        if let Some(file) = meta.file() {
            let file = match dn_core::normalize_path(file) {
                std::borrow::Cow::Borrowed(f) => AttrValue::Static(f),
                std::borrow::Cow::Owned(f) => AttrValue::Str(f),
            };
            b = b.attribute_value(keys::CODE_FILEPATH, file);
        }
        if let Some(line) = meta.line() {
            b = b.attribute_value(keys::CODE_LINENO, AttrValue::Int(i64::from(line)));
        }
        if let Some(module) = meta.module_path() {
            b = b.attribute_value(keys::CODE_NAMESPACE, AttrValue::Static(module));
        }
        for (k, v) in fields.attributes {
            b = b.attribute_value(k, v);
        }
        if let Some(message) = fields.message {
            b = b.attribute_value("message", AttrValue::Str(message));
        }
        let (light, ctx) = b.start_under(parent);
        span.extensions_mut().insert(Bridged { span: light, ctx });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(bridged) = ext.get_mut::<Bridged>() else { return };
        let mut fields = Fields::default();
        values.record(&mut fields);
        for (k, v) in fields.attributes {
            bridged.span.set_attribute_value(k, v);
        }
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(guard) = span.extensions().get::<Bridged>().map(|b| b.ctx.enter_ref()) else { return };
        let _ = ENTERED.try_with(|e| e.borrow_mut().push((id.clone(), guard)));
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        let _ = ENTERED.try_with(|e| {
            let mut e = e.borrow_mut();
            if let Some(at) = e.iter().rposition(|(entered, _)| entered == id) {
                // Dropping the guard leaves the dn context (and, for an
                // out-of-order exit, what was entered after it).
                let _ = e.remove(at);
            }
        });
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        // Dropping the light span ends it and hands its record to the sink.
        let bridged = span.extensions_mut().remove::<Bridged>();
        drop(bridged);
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let meta = event.metadata();
        if is_dn_target(meta.target()) {
            return;
        }
        let current = Context::current();
        let event_span = ctx.event_span(event);
        let mut bridged_ext = event_span.as_ref().map(|s| s.extensions_mut());
        let bridged = bridged_ext.as_mut().and_then(|e| e.get_mut::<Bridged>());
        let Some(innermost) = current.span().or_else(|| bridged.as_ref().and_then(|b| b.ctx.span())) else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut attributes = Vec::with_capacity(fields.attributes.len() + 2);
        attributes.push((Key::Borrowed(keys::EVENT_LEVEL), AttrValue::Static(meta.level().as_str())));
        attributes.push((Key::Borrowed(keys::EVENT_TARGET), AttrValue::Str(meta.target().to_string())));
        attributes.extend(fields.attributes.into_iter().map(|(k, v)| (Key::Borrowed(k), v)));
        let name: Key = match fields.message {
            Some(m) => Key::Owned(m),
            None => Key::Borrowed(meta.name()),
        };
        match (bridged, current.task()) {
            (Some(b), _) if b.span.span_id() == innermost.span_id => b.span.add_event(name, attributes),
            (_, Some(task)) => {
                let _ = task.add_event(&name, attributes);
            }
            (Some(b), None) => b.span.add_event(name, attributes),
            (None, None) => {}
        }
    }
}

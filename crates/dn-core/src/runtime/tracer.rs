//! The tracer: creates spans and hands finished records to a sink.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::Error;
use crate::builders::{RunBuilder, TaskAndRunBuilder, TaskSpanBuilder};
use crate::clean::validate_component;
use crate::object::{CapturedValue, LoggedValue, SerializedValue, ValueOffload, logged_with, serialize_with};
use crate::record::SpanRecord;
use crate::scrub::Scrubber;
use crate::sink::{ExportReport, NullSink, SpanSink};
use crate::span::SpanBuilder;
use crate::task::TaskInner;
use crate::task_data::StoredValue;
use crate::text::SharedStr;
use crate::warn::WarnLimit;

/// Creates spans and sends finished ones to its sink. Cheap to clone.
///
/// ```
/// use dn_core::{MemorySink, Tracer};
/// let sink = MemorySink::new();
/// let tracer = Tracer::new(sink.clone(), "default").unwrap();
/// tracer.run("experiment").run(|run| {
///     run.log_metric("accuracy", 0.9);
/// });
/// assert_eq!(sink.take().len(), 1);
/// ```
#[derive(Clone)]
pub struct Tracer {
    pub(crate) inner: TracerRef,
}

/// How a [`Tracer`] holds its state: counted, or kept for the rest of the
/// process ([`Tracer::into_static`]), where a clone and a drop are a copy
/// of a pointer and nothing else.
#[derive(Clone)]
pub(crate) enum TracerRef {
    Counted(Arc<TracerInner>),
    Static(&'static TracerInner),
}

impl std::ops::Deref for TracerRef {
    type Target = TracerInner;
    #[inline]
    fn deref(&self) -> &TracerInner {
        match self {
            TracerRef::Counted(inner) => inner,
            TracerRef::Static(inner) => inner,
        }
    }
}

pub(crate) struct TracerInner {
    pub(crate) sink: Arc<dyn SpanSink>,
    pub(crate) default_project: Arc<str>,
    /// Route of light spans outside any run and session.
    pub(crate) default_route: Arc<crate::record::Route>,
    open_roots: Mutex<HashMap<u64, Weak<TaskInner>>>,
    pub(crate) warnings: WarnLimit,
    /// Logging calls that logged nothing, and their warnings.
    faults: AtomicU64,
    fault_warnings: WarnLimit,
    /// Runs open right now, and the one warning about work that lost its context.
    open_runs: AtomicUsize,
    lost_context: WarnLimit,
    /// Where values over [`crate::OFFLOAD_THRESHOLD`] go, when remote storage is configured.
    offload: std::sync::OnceLock<Arc<dyn ValueOffload>>,
    /// Replaces secrets in what is logged; unset: nothing to scrub.
    scrubber: std::sync::OnceLock<Arc<Scrubber>>,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").field("default_project", &self.inner.default_project).finish()
    }
}

impl Tracer {
    /// A tracer writing to `sink`, with `default_project` for runs that name none.
    pub fn new(sink: impl SpanSink, default_project: &str) -> Result<Tracer, Error> {
        Self::with_sink(Arc::new(sink), default_project)
    }

    /// Like [`Tracer::new`] with a shared sink.
    pub fn with_sink(sink: Arc<dyn SpanSink>, default_project: &str) -> Result<Tracer, Error> {
        validate_component("project", default_project)?;
        Ok(Self::build(sink, default_project))
    }

    fn build(sink: Arc<dyn SpanSink>, default_project: &str) -> Tracer {
        Tracer {
            inner: TracerRef::Counted(Arc::new(TracerInner {
                sink,
                default_project: default_project.into(),
                default_route: Arc::new(crate::record::Route {
                    project: default_project.into(),
                    run_id: SharedStr::default(),
                    session_id: None,
                }),
                open_roots: Mutex::new(HashMap::new()),
                warnings: WarnLimit::default(),
                faults: AtomicU64::new(0),
                fault_warnings: WarnLimit::default(),
                open_runs: AtomicUsize::new(0),
                lost_context: WarnLimit::once(),
                offload: std::sync::OnceLock::new(),
                scrubber: std::sync::OnceLock::new(),
            })),
        }
    }

    /// This tracer, kept for the rest of the process: it and its clones
    /// no longer count references, so a span they start and end touches no
    /// counter shared with other threads (two locked instructions fewer a
    /// light span). For a tracer that lives as long as the process, as the
    /// global instance's does (`dn::configure`); its state, and the sink
    /// it holds, are never freed — shut the sink down to stop its work.
    ///
    /// ```
    /// use dn_core::{MemorySink, Tracer};
    /// let sink = MemorySink::new();
    /// let tracer = Tracer::new(sink.clone(), "default").unwrap().into_static();
    /// tracer.span("step").run(|| ());
    /// assert_eq!(sink.take().len(), 1);
    /// ```
    pub fn into_static(self) -> Tracer {
        match self.inner {
            TracerRef::Static(_) => self,
            TracerRef::Counted(inner) => {
                let kept: &'static Arc<TracerInner> = Box::leak(Box::new(inner));
                Tracer { inner: TracerRef::Static(kept) }
            }
        }
    }

    /// A tracer that discards (and counts) everything.
    pub fn disabled() -> Tracer {
        Self::build(Arc::new(NullSink::default()), "default")
    }

    /// The project used by runs that do not name one.
    pub fn default_project(&self) -> &str {
        &self.inner.default_project
    }

    /// Starts building a run (a root task span with a fresh run id).
    pub fn run(&self, name: impl Into<SharedStr>) -> RunBuilder {
        RunBuilder::new(self.clone(), Some(name.into()))
    }
    /// A run with a generated `<adjective>-<noun>-<n>` name.
    pub fn run_unnamed(&self) -> RunBuilder {
        RunBuilder::new(self.clone(), None)
    }
    /// Starts building a task span under the current task (or as its own root).
    pub fn task_span(&self, name: impl Into<SharedStr>) -> TaskSpanBuilder {
        TaskSpanBuilder::new(self.clone(), name.into())
    }
    /// Starts building a light span (timing, tags, attributes only).
    pub fn span(&self, name: impl Into<SharedStr>) -> SpanBuilder {
        SpanBuilder::new(self.clone(), name.into())
    }
    /// A run named `name` when none is current, with a task span inside it.
    pub fn task_and_run(&self, name: impl Into<SharedStr>) -> TaskAndRunBuilder {
        TaskAndRunBuilder::new(self.clone(), name.into())
    }

    /// Sends values over [`crate::OFFLOAD_THRESHOLD`] to `offload` instead of
    /// inlining them (`docs/format.md`, "Artifacts and large values"). Set once, before spans log values; returns
    /// `false` when one was already set.
    pub fn set_value_offload(&self, offload: Arc<dyn ValueOffload>) -> bool {
        self.inner.offload.set(offload).is_ok()
    }

    /// How `obj` will be stored, decided before any span lock is taken
    /// (offloading queues an upload): `StoredValue::Uri` when it is over
    /// the threshold and the offload accepts it, inline otherwise.
    pub(crate) fn stored_value(&self, mut obj: SerializedValue) -> (SerializedValue, StoredValue) {
        // Data bytes are only copied out when an offload is configured.
        let uri = self.inner.offload.get().and_then(|off| {
            let data = obj.offload_data()?;
            let size = data.len() as u64;
            off.offload(obj.data_hash, data).map(|uri| StoredValue::Uri { uri, size })
        });
        let value = uri.unwrap_or_else(|| std::mem::replace(&mut obj.value, StoredValue::Inline(Default::default())));
        (obj, value)
    }

    /// Scrubs what a record holds as text (values were scrubbed when
    /// captured), then hands it to the sink.
    pub(crate) fn export(&self, record: SpanRecord) {
        self.export_from(&mut Some(record));
    }

    /// [`Tracer::export`] for a record held in place (a light span's):
    /// scrubbed there, then moved once, into the sink's buffer.
    pub(crate) fn export_from(&self, slot: &mut Option<SpanRecord>) {
        if let (Some(s), Some(r)) = (self.inner.scrubber.get(), slot.as_mut()) {
            s.scrub_record(r);
        }
        self.inner.sink.export_from(slot);
    }

    /// Sets the scrubber (once; `false` if one was set already).
    pub fn set_scrubber(&self, scrubber: Arc<Scrubber>) -> bool {
        self.inner.scrubber.set(scrubber).is_ok()
    }
    /// The scrubber, when one is set.
    pub fn scrubber(&self) -> Option<&Arc<Scrubber>> {
        self.inner.scrubber.get()
    }

    /// Serialises a value logged under `name`, scrubbed before it is hashed.
    pub fn serialize<T: serde::Serialize + ?Sized>(&self, value: &T, name: &str) -> SerializedValue {
        serialize_with(value, |v| self.scrub_value(name, v))
    }
    /// [`Tracer::serialize`] for a value whose hash nobody reads: an
    /// number, boolean or string is kept unhashed (see [`LoggedValue`]).
    pub fn logged<T: serde::Serialize + ?Sized>(&self, value: &T, name: &str) -> LoggedValue {
        logged_with(value, |v| self.scrub_value(name, v))
    }
    /// A param's compact JSON, scrubbed.
    pub(crate) fn param_json<T: serde::Serialize + ?Sized>(&self, value: &T, name: &str) -> String {
        crate::capture::param_json(value, |v| self.scrub_value(name, v))
    }
    /// Scrubs a captured value logged under `name`, when a scrubber is set.
    pub(crate) fn scrub_value(&self, name: &str, value: &mut CapturedValue) {
        if let Some(s) = self.inner.scrubber.get() {
            s.scrub_value(Some(name), value);
        }
    }
    /// `text` scrubbed (borrowed when nothing matched or nothing is set).
    pub(crate) fn scrubbed<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let Some(s) = self.inner.scrubber.get() else { return std::borrow::Cow::Borrowed(text) };
        if !s.text_hit(text) {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut owned = text.to_string();
        if s.scrub_text(None, &mut owned) { std::borrow::Cow::Owned(owned) } else { std::borrow::Cow::Borrowed(text) }
    }

    /// Cleans `tags` into `existing`, scrubbing each before it is cleaned
    /// (cleaning lowercases, which would hide a secret from its pattern).
    pub(crate) fn clean_tags<I, S>(&self, existing: &mut Vec<String>, tags: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match self.inner.scrubber.get() {
            None => crate::clean::clean_tags(existing, tags),
            Some(s) => crate::clean::clean_tags(
                existing,
                tags.into_iter().map(|t| {
                    let mut t = t.as_ref().to_string();
                    s.scrub_text(None, &mut t);
                    t
                }),
            ),
        }
    }

    /// Scrubs captured map entries (`log_params`, `log_inputs`, ..).
    pub(crate) fn scrub_entries(&self, entries: &mut [(String, CapturedValue)]) {
        for (k, v) in entries {
            self.scrub_value(k, v);
        }
    }

    /// Where the sink's JSONL files are, if it writes them (see [`SpanSink::local_root`]).
    pub(crate) fn local_root(&self) -> Option<&std::path::Path> {
        self.inner.sink.local_root()
    }

    /// Writes what the sink holds to its local files (see [`SpanSink::write_local`]).
    pub(crate) fn write_local(&self, timeout: Duration) -> bool {
        self.inner.sink.write_local(timeout)
    }

    pub(crate) fn register_root(&self, task: &Arc<TaskInner>) {
        if task.is_run {
            self.inner.open_runs.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.open_roots.lock().insert(task.span_id.to_u64(), Arc::downgrade(task));
    }
    pub(crate) fn unregister_root(&self, span_id: u64, is_run: bool) {
        if is_run {
            self.inner.open_runs.fetch_sub(1, Ordering::Relaxed);
        }
        self.inner.open_roots.lock().remove(&span_id);
    }

    /// Counts a logging call that logged nothing and warns about it
    /// (rate-limited); `flush` and `shutdown` report the count.
    pub fn logging_fault(&self, error: &Error) {
        self.inner.faults.fetch_add(1, Ordering::Relaxed);
        self.inner.fault_warnings.warn(format_args!("{error}; nothing was logged"));
    }

    /// Called when a task or an implicit run starts with no current context:
    /// if a run is open elsewhere in the process, the work most likely lost
    /// its context crossing `tokio::spawn` or a thread, and becomes a run of
    /// its own. Says so once, naming the fix.
    pub(crate) fn check_lost_context(&self, what: &str, name: &str) {
        if self.inner.open_runs.load(Ordering::Relaxed) > 0 {
            self.inner.lost_context.warn(format_args!(
                "{what} {name:?} started with no current dn context while a run is open in this process, so it becomes \
                 a run of its own; carry the context across tokio::spawn and threads with dn::spawn, \
                 dn::spawn_blocking, dn::thread::spawn or .in_current_context() (docs/context.md)"
            ));
        }
    }

    /// Ends every task span still open (children before parents), keeping
    /// all their data. Called at shutdown so nothing logged is lost.
    pub fn end_open_spans(&self) -> usize {
        let roots: Vec<Weak<TaskInner>> = self.inner.open_roots.lock().values().cloned().collect();
        let mut ended = 0;
        for r in roots {
            if let Some(inner) = r.upgrade() {
                ended += crate::task::TaskSpan::from_inner(inner).end_tree();
            }
        }
        ended
    }

    /// Exports a run-update span (`docs/format.md`, "Run updates") for every open run that logged
    /// something since its last update; returns how many it exported. The
    /// facade calls this every few seconds so long runs are visible while
    /// they run.
    pub fn push_pending_updates(&self) -> usize {
        let roots: Vec<Weak<TaskInner>> = self.inner.open_roots.lock().values().cloned().collect();
        let mut n = 0;
        for r in roots {
            if let Some(inner) = r.upgrade() {
                let task = crate::task::TaskSpan::from_inner(inner);
                if task.is_run() {
                    if let Ok(Some(rec)) = task.take_update() {
                        self.export(rec);
                        n += 1;
                    }
                }
            }
        }
        n
    }

    /// Writes everything handed over so far, waiting at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> ExportReport {
        self.with_faults(self.inner.sink.flush(timeout))
    }

    /// Ends open spans, flushes and stops the sink.
    pub fn shutdown(&self, timeout: Duration) -> ExportReport {
        self.end_open_spans();
        self.with_faults(self.inner.sink.shutdown(timeout))
    }

    fn with_faults(&self, mut report: ExportReport) -> ExportReport {
        report.logging_faults = self.inner.faults.load(Ordering::Relaxed);
        report.scrubbed = self.inner.scrubber.get().map(|s| s.counts()).unwrap_or_default();
        report
    }

    /// Emits a warning at most a few times per tracer, so a hot loop with a
    /// bad call cannot flood the log.
    pub(crate) fn warn(&self, msg: std::fmt::Arguments<'_>) {
        self.inner.warnings.warn(msg);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::object::Hash16;
    use crate::record::RecordKind;
    use crate::sink::MemorySink;

    /// Takes every value, or none, and remembers what it was given.
    struct FakeStore {
        accept: bool,
        got: Mutex<Vec<(Hash16, usize)>>,
    }

    impl ValueOffload for FakeStore {
        fn offload(&self, data_hash: Hash16, data: Vec<u8>) -> Option<String> {
            self.got.lock().push((data_hash, data.len()));
            self.accept.then(|| format!("s3://bucket/cas/objects/{data_hash}"))
        }
    }

    fn objects_of(accept: bool, values: &[&str]) -> (serde_json::Value, Vec<(Hash16, usize)>) {
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        let store = Arc::new(FakeStore { accept, got: Mutex::new(vec![]) });
        assert!(tracer.set_value_offload(store.clone()));
        assert!(!tracer.set_value_offload(store.clone()), "set once");
        tracer.run("r").run(|run| {
            for (i, v) in values.iter().enumerate() {
                run.log_input(&format!("v{i}"), v);
            }
        });
        let rec = sink.take().pop().unwrap();
        let RecordKind::Task { groups: crate::record::TaskGroups::Rendered(rendered), .. } = &rec.kind else {
            panic!("a rendered task record")
        };
        let got = store.got.lock().clone();
        (serde_json::from_str(&rendered.objects()).unwrap(), got)
    }

    #[test]
    fn values_over_10_kib_are_offloaded_and_referenced_by_uri() {
        let big = "b".repeat(crate::OFFLOAD_THRESHOLD + 1);
        let edge = "e".repeat(crate::OFFLOAD_THRESHOLD);
        let (objects, got) = objects_of(true, &[&big, &edge, "small"]);
        let data_hash = Hash16::sha1_prefix(big.as_bytes());
        assert_eq!(got, vec![(data_hash, big.len())], "only the value over the threshold is offered");
        let objs: Vec<&serde_json::Value> = objects.as_object().unwrap().values().collect();
        let uri: Vec<_> = objs.iter().filter(|o| o["type"] == "uri").collect();
        assert_eq!(uri.len(), 1);
        assert_eq!(uri[0]["uri"], format!("s3://bucket/cas/objects/{data_hash}"));
        assert_eq!(uri[0]["size"], big.len());
        assert!(uri[0].get("value").is_none());
        assert_eq!(objs.iter().filter(|o| o["type"] == "val").count(), 2, "exactly 10 KiB stays inline");
    }

    #[test]
    fn a_store_that_declines_keeps_the_value_inline() {
        let big = "b".repeat(20_000);
        let (objects, got) = objects_of(false, &[&big]);
        assert_eq!(got.len(), 1);
        let o = objects.as_object().unwrap().values().next().unwrap().clone();
        assert_eq!((o["type"].as_str(), o["value"].as_str()), (Some("val"), Some(big.as_str())));
    }
}

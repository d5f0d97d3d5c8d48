//! Where finished span records go. `dn-core` only knows this trait; the
//! queue, files and network live in `dn-export`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::record::SpanRecord;

/// Receives finished span records. Implementations must return quickly and
/// never block the caller on I/O.
pub trait SpanSink: Send + Sync + 'static {
    /// Hands one finished record over. Must not block; when it cannot take
    /// the record it counts the drop.
    fn export(&self, record: SpanRecord);
    /// Hands over the record in `slot` (leaving `None`), for a caller that
    /// holds it in place: a sink may move it straight into its buffer, one
    /// copy of the record instead of one per call it passes through.
    fn export_from(&self, slot: &mut Option<SpanRecord>) {
        if let Some(r) = slot.take() {
            self.export(r);
        }
    }
    /// Writes everything handed over so far, waiting at most `timeout`.
    fn flush(&self, timeout: Duration) -> ExportReport;

    /// Flushes and stops; later records are counted as dropped.
    fn shutdown(&self, timeout: Duration) -> ExportReport;

    /// Whether this sink renders the groups of the task that ends with
    /// `data` itself (`true`: that task's record comes with its groups as
    /// [`crate::TaskGroups::Data`], which the sink renders with
    /// [`crate::render_task_groups`] before anything reads them, on a
    /// thread of its own while it has time to spare); a sink may decide by
    /// size ([`crate::TaskData::render_estimate`]). Asked once per task,
    /// so it must be cheap. The default, `false`: every task record comes
    /// rendered.
    fn renders_task_groups(&self, data: &crate::TaskData) -> bool {
        let _ = data;
        false
    }

    /// The local directory this sink writes the JSONL files of
    /// [`crate::layout`] to, once flushed. When a sink has one, a task keeps
    /// only the span ids of its ended children and
    /// [`TaskSpan::tasks`](crate::TaskSpan::tasks) reads them back from
    /// there; without one (the default) ended children are kept whole.
    fn local_root(&self) -> Option<&std::path::Path> {
        None
    }

    /// Writes everything handed over so far to the local files only (not
    /// waiting for remote destinations), at most `timeout`; `false` when it
    /// gave up. Reading ended tasks back calls this first.
    fn write_local(&self, timeout: Duration) -> bool {
        !self.flush(timeout).timed_out
    }
}

/// What happened to the records handed to a sink, as counted so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExportReport {
    /// Records accepted into the queue.
    pub accepted: u64,
    /// Records dropped because the queue was full.
    pub dropped_queue_full: u64,
    /// Records dropped because the sink had shut down.
    pub dropped_after_shutdown: u64,
    /// One entry per exporter (local JSONL, OTLP, ...).
    pub exporters: Vec<DestinationReport>,
    /// Whether the flush or shutdown gave up waiting.
    pub timed_out: bool,
    /// Logging calls that logged nothing (no current task, the span had
    /// ended, a value of the wrong shape), each warned about (rate-limited).
    pub logging_faults: u64,
    /// Values and matches scrubbing replaced, per pattern name
    /// (`configured-secret` for the always-on part); never the matched text.
    pub scrubbed: Vec<(String, u64)>,
}

impl ExportReport {
    /// Total records lost anywhere (queue or exporters).
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full + self.dropped_after_shutdown + self.exporters.iter().map(|e| e.failed).sum::<u64>()
    }
    /// Whether nothing was lost and nothing timed out.
    pub fn is_clean(&self) -> bool {
        self.dropped() == 0 && !self.timed_out
    }
}

/// Counts of one exporter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestinationReport {
    /// Exporter name (`jsonl`, `otlp`, ...).
    pub name: String,
    /// Records written or delivered.
    pub exported: u64,
    /// Records that could not be written or delivered.
    pub failed: u64,
    /// Delivery attempts repeated after a transient failure.
    pub retried: u64,
    /// Records written locally and not yet delivered (a remote destination
    /// whose receiver is slow, down or refused the credentials): they stay
    /// on disk and `dn sync` delivers them.
    pub pending: u64,
    /// Bytes of buffer the exporter keeps between batches for reuse: bounded
    /// (a few MiB at most), not data of any span, and what a measurement of
    /// the memory a run holds sets apart.
    pub buffer_bytes: u64,
    /// The last error, already free of secrets.
    pub last_error: Option<String>,
}

/// A sink that discards everything and counts it, used when the SDK could
/// not be configured.
#[derive(Debug, Default)]
pub struct NullSink {
    dropped: AtomicU64,
}

impl SpanSink for NullSink {
    fn export(&self, _record: SpanRecord) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }
    fn flush(&self, _timeout: Duration) -> ExportReport {
        ExportReport { dropped_after_shutdown: self.dropped.load(Ordering::Relaxed), ..Default::default() }
    }
    fn shutdown(&self, timeout: Duration) -> ExportReport {
        self.flush(timeout)
    }
}

/// A sink that keeps every record in memory; for tests and tools.
#[derive(Debug, Default, Clone)]
pub struct MemorySink {
    records: Arc<parking_lot::Mutex<Vec<SpanRecord>>>,
}

impl MemorySink {
    /// A new, empty sink.
    pub fn new() -> Self {
        Self::default()
    }
    /// Takes the records received so far.
    pub fn take(&self) -> Vec<SpanRecord> {
        std::mem::take(&mut *self.records.lock())
    }
}

impl SpanSink for MemorySink {
    fn export(&self, record: SpanRecord) {
        self.records.lock().push(record);
    }
    fn flush(&self, _timeout: Duration) -> ExportReport {
        ExportReport::default()
    }
    fn shutdown(&self, _timeout: Duration) -> ExportReport {
        ExportReport::default()
    }
}

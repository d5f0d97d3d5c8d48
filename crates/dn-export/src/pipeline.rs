//! The bounded queue and the background writer thread. The caller's thread
//! only does a non-blocking `try_send`; batching, formatting and I/O happen
//! on the writer thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, select, unbounded};
use dn_core::{ExportReport, ExporterReport, SpanRecord, SpanSink};
use parking_lot::Mutex;

use crate::Exporter;

/// Default queue capacity in records: enough for a 100 000-span burst.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1 << 17;
/// Most records handed to the exporters in one batch.
pub const MAX_BATCH: usize = 256;

enum Control {
    Flush(Sender<()>),
    Shutdown(Sender<()>),
}

struct Shared {
    /// Records in the queue now; the bound is enforced on this count, so the
    /// queue allocates only for what it holds.
    queued: AtomicUsize,
    capacity: usize,
    accepted: AtomicU64,
    dropped_full: AtomicU64,
    dropped_closed: AtomicU64,
    warnings: AtomicU64,
    closed: AtomicBool,
    reports: Mutex<Vec<ExporterReport>>,
}

/// A [`SpanSink`] that queues records and exports them on a background
/// thread to every configured [`Exporter`].
pub struct ExportPipeline {
    tx: Sender<Box<SpanRecord>>,
    ctl: Sender<Control>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for ExportPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportPipeline").field("queued", &self.tx.len()).finish()
    }
}

/// Builds an [`ExportPipeline`].
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use dn_export::{ExportPipeline, JsonlExporter, Resource};
/// let jsonl = JsonlExporter::new(dir.path(), &Resource::detect("demo")).unwrap();
/// let pipeline = ExportPipeline::builder().exporter(jsonl).queue_capacity(1024).build().unwrap();
/// # drop(pipeline);
/// ```
#[derive(Default)]
pub struct ExportPipelineBuilder {
    exporters: Vec<Box<dyn Exporter>>,
    capacity: Option<usize>,
}

impl std::fmt::Debug for ExportPipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportPipelineBuilder").field("exporters", &self.exporters.len()).finish()
    }
}

impl ExportPipelineBuilder {
    /// Adds an exporter.
    pub fn exporter(mut self, e: impl Exporter) -> Self {
        self.exporters.push(Box::new(e));
        self
    }
    /// Queue capacity in records (default [`DEFAULT_QUEUE_CAPACITY`]).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.capacity = Some(n.max(1));
        self
    }
    /// Starts the writer thread.
    pub fn build(self) -> Result<ExportPipeline, crate::Error> {
        let (tx, rx) = unbounded();
        let (ctl, ctl_rx) = unbounded();
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            capacity: self.capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY),
            accepted: AtomicU64::new(0),
            dropped_full: AtomicU64::new(0),
            dropped_closed: AtomicU64::new(0),
            warnings: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            reports: Mutex::new(self.exporters.iter().map(|e| e.report()).collect()),
        });
        let s2 = shared.clone();
        let exporters = self.exporters;
        let thread = std::thread::Builder::new()
            .name("dn-export".into())
            .spawn(move || writer_loop(rx, ctl_rx, exporters, s2))
            .map_err(crate::Error::ThreadSpawn)?;
        Ok(ExportPipeline { tx, ctl, shared, thread: Mutex::new(Some(thread)) })
    }
}

impl ExportPipeline {
    /// A builder.
    pub fn builder() -> ExportPipelineBuilder {
        ExportPipelineBuilder::default()
    }
    /// Records waiting in the queue now.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    fn report(&self, timed_out: bool) -> ExportReport {
        ExportReport {
            accepted: self.shared.accepted.load(Ordering::Relaxed),
            dropped_queue_full: self.shared.dropped_full.load(Ordering::Relaxed),
            dropped_after_shutdown: self.shared.dropped_closed.load(Ordering::Relaxed),
            exporters: self.shared.reports.lock().clone(),
            timed_out,
        }
    }

    fn control(&self, make: impl FnOnce(Sender<()>) -> Control, timeout: Duration) -> bool {
        let (ack_tx, ack_rx) = bounded(1);
        if self.ctl.send(make(ack_tx)).is_err() {
            return true; // writer already gone: nothing left to wait for
        }
        ack_rx.recv_timeout(timeout).is_ok()
    }
}

impl SpanSink for ExportPipeline {
    fn export(&self, record: Box<SpanRecord>) {
        if self.shared.closed.load(Ordering::Relaxed) {
            self.shared.dropped_closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.shared.queued.fetch_add(1, Ordering::AcqRel) >= self.shared.capacity {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            let n = self.shared.dropped_full.fetch_add(1, Ordering::Relaxed);
            if self.shared.warnings.fetch_add(1, Ordering::Relaxed) < 5 {
                tracing::warn!(target: "dn", "export queue full ({} records): span dropped ({} so far); the flush/shutdown report counts every drop", self.shared.capacity, n + 1);
            }
            return;
        }
        match self.tx.send(record) {
            Ok(()) => {
                self.shared.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                self.shared.dropped_closed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn backlog(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    fn flush(&self, timeout: Duration) -> ExportReport {
        let ok = self.control(Control::Flush, timeout);
        self.report(!ok)
    }

    fn shutdown(&self, timeout: Duration) -> ExportReport {
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return self.report(false);
        }
        let ok = self.control(Control::Shutdown, timeout);
        if ok {
            if let Some(t) = self.thread.lock().take() {
                let _ = t.join();
            }
        }
        self.report(!ok)
    }
}

impl Drop for ExportPipeline {
    fn drop(&mut self) {
        let _ = SpanSink::shutdown(self, Duration::from_secs(5));
    }
}

fn writer_loop(
    rx: Receiver<Box<SpanRecord>>,
    ctl: Receiver<Control>,
    mut exporters: Vec<Box<dyn Exporter>>,
    shared: Arc<Shared>,
) {
    let mut batch: Vec<Box<SpanRecord>> = Vec::with_capacity(MAX_BATCH);
    let export = |batch: &mut Vec<Box<SpanRecord>>, exporters: &mut Vec<Box<dyn Exporter>>| {
        if batch.is_empty() {
            return;
        }
        shared.queued.fetch_sub(batch.len(), Ordering::AcqRel);
        for e in exporters.iter_mut() {
            e.export(batch);
        }
        batch.clear();
        *shared.reports.lock() = exporters.iter().map(|e| e.report()).collect();
    };
    let drain_all = |batch: &mut Vec<Box<SpanRecord>>, exporters: &mut Vec<Box<dyn Exporter>>| {
        while let Ok(r) = rx.try_recv() {
            batch.push(r);
            if batch.len() >= MAX_BATCH {
                export(batch, exporters);
            }
        }
        export(batch, exporters);
    };
    loop {
        select! {
            recv(rx) -> msg => match msg {
                Ok(r) => {
                    batch.push(r);
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    export(&mut batch, &mut exporters);
                }
                Err(_) => break,
            },
            recv(ctl) -> msg => match msg {
                Ok(Control::Flush(ack)) => {
                    drain_all(&mut batch, &mut exporters);
                    for e in exporters.iter_mut() {
                        e.flush();
                    }
                    *shared.reports.lock() = exporters.iter().map(|e| e.report()).collect();
                    let _ = ack.send(());
                }
                Ok(Control::Shutdown(ack)) => {
                    drain_all(&mut batch, &mut exporters);
                    for e in exporters.iter_mut() {
                        e.shutdown();
                    }
                    *shared.reports.lock() = exporters.iter().map(|e| e.report()).collect();
                    let _ = ack.send(());
                    return;
                }
                Err(_) => break,
            },
        }
    }
    drain_all(&mut batch, &mut exporters);
    for e in exporters.iter_mut() {
        e.shutdown();
    }
}

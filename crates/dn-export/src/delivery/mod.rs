//! Delivery to remote destinations, from the local JSONL.
//!
//! The JSONL is the write-ahead log. After each write the JSONL exporter
//! tells every [`Destination`] which byte range of which file it appended
//! ([`Destination::written`]: a few integers, never the records). Each OTLP
//! destination ([`OtlpExporter`]) keeps those ranges — coalesced, so memory
//! stays bounded however long its receiver is away — and a thread of its own
//! reads them back from disk, converts the lines ([`from_jsonl`]), posts them
//! and, on a 2xx, appends the range to the file's delivery log ([`acks`]).
//! Nothing here can slow or stop the local file: the writer only records a
//! range. What is still pending at shutdown stays on disk and is counted;
//! `dn sync` ([`sync`]) delivers it later from the same logs.

pub mod acks;
pub mod conventions;
pub mod from_jsonl;
pub mod sync;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dn_core::{DestinationReport, WarnLimit};
use parking_lot::{Condvar, Mutex};

use crate::Destination;
use crate::otlp::{OtlpConfig, Outcome, Poster};
use acks::{Settled, SettledRange};

/// A byte range of one file waiting for delivery.
#[derive(Clone, Copy, Debug)]
struct Pending {
    start: u64,
    end: u64,
    spans: u64,
}

#[derive(Default)]
struct State {
    /// Ranges waiting, per file (relative path), in write order.
    pending: BTreeMap<PathBuf, Vec<Pending>>,
    pending_spans: u64,
    /// A batch is being delivered right now (its spans are still pending).
    busy: bool,
    stop: bool,
}

struct Shared {
    root: PathBuf,
    state: Mutex<State>,
    wake: Condvar,
    idle: Condvar,
    written: AtomicU64,
    delivered: AtomicU64,
    rejected: AtomicU64,
    retried: AtomicU64,
    /// 401/403: the destination stopped sending (ranges stay pending).
    refused: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Give up retrying once this passes (set by shutdown).
    deadline: Mutex<Option<Instant>>,
    rejections: WarnLimit,
}

/// An OTLP destination (the platform or a collector) delivering from the
/// local JSONL on its own thread.
pub struct OtlpExporter {
    shared: Arc<Shared>,
    config: OtlpConfig,
    id: String,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter").field("config", &self.config).field("id", &self.id).finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Starts the delivery thread of `config`, reading files under `root`
    /// (the local directory). A header HTTP would refuse is a configuration
    /// error naming the setting.
    pub fn new(config: OtlpConfig, root: impl Into<PathBuf>) -> Result<Arc<OtlpExporter>, crate::Error> {
        config.validate()?;
        let shared = Arc::new(Shared {
            root: root.into(),
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            idle: Condvar::new(),
            written: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            refused: AtomicBool::new(false),
            last_error: Mutex::new(None),
            deadline: Mutex::new(None),
            rejections: WarnLimit::once(),
        });
        let id = config.destination_id();
        let worker = Worker { shared: shared.clone(), poster: Poster::new(config.clone()), id: id.clone() };
        let thread = std::thread::Builder::new()
            .name("dn-otlp".into())
            .spawn(move || worker.run())
            .map_err(crate::Error::ThreadSpawn)?;
        Ok(Arc::new(OtlpExporter { shared, config, id, thread: Mutex::new(Some(thread)) }))
    }

    /// The id naming this destination's delivery logs.
    pub fn destination_id(&self) -> &str {
        &self.id
    }
}

impl Destination for OtlpExporter {
    fn written(&self, file: &Path, start: u64, end: u64, spans: u64) {
        self.shared.written.fetch_add(spans, Ordering::Relaxed);
        let mut st = self.shared.state.lock();
        let list = st.pending.entry(file.to_path_buf()).or_default();
        match list.last_mut() {
            Some(last) if last.end == start => {
                last.end = end;
                last.spans += spans;
            }
            _ => list.push(Pending { start, end, spans }),
        }
        st.pending_spans += spans;
        drop(st);
        self.shared.wake.notify_one();
    }

    fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.shared.state.lock();
        loop {
            if (st.pending.is_empty() && !st.busy) || self.shared.refused.load(Ordering::Relaxed) || st.stop {
                return st.pending.is_empty() && !st.busy;
            }
            if self.shared.idle.wait_until(&mut st, deadline).timed_out() {
                return st.pending.is_empty() && !st.busy;
            }
        }
    }

    fn shutdown(&self, timeout: Duration) {
        *self.shared.deadline.lock() = Some(Instant::now() + timeout);
        let idle = self.wait_idle(timeout);
        self.shared.state.lock().stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.lock().take() {
            if idle {
                let _ = t.join();
            }
            // Otherwise a request may still be in flight (a slow receiver):
            // the worker stops when it returns, settling what it delivered;
            // shutdown does not wait past its timeout for it.
        }
        let pending = self.shared.state.lock().pending_spans;
        if !idle && pending > 0 {
            let mut last = self.shared.last_error.lock();
            let why = last.as_deref().map(|w| format!(" (last: {w})")).unwrap_or_default();
            *last = Some(format!(
                "{pending} spans not delivered to {} before shutdown{why}; they are on disk and `dn sync` delivers them",
                self.config.endpoint
            ));
        }
    }

    fn report(&self) -> DestinationReport {
        DestinationReport {
            name: self.config.name.to_string(),
            exported: self.shared.delivered.load(Ordering::Relaxed),
            failed: self.shared.rejected.load(Ordering::Relaxed),
            retried: self.shared.retried.load(Ordering::Relaxed),
            pending: self.shared.state.lock().pending_spans,
            // Handed byte ranges of the JSONL, not lines: nothing kept here.
            buffer_bytes: 0,
            last_error: self.shared.last_error.lock().clone(),
        }
    }
}

/// The delivery thread.
struct Worker {
    shared: Arc<Shared>,
    poster: Poster,
    id: String,
}

impl Worker {
    fn run(self) {
        loop {
            // The next range: the oldest file with something pending.
            let job = {
                let mut st = self.shared.state.lock();
                loop {
                    if st.stop {
                        return;
                    }
                    if self.shared.refused.load(Ordering::Relaxed) {
                        // Keep counting what is written, send nothing.
                        self.shared.idle.notify_all();
                        self.shared.wake.wait(&mut st);
                        continue;
                    }
                    let next = st.pending.iter().next().map(|(f, l)| (f.clone(), l[0]));
                    match next {
                        Some(job) => {
                            st.busy = true;
                            break job;
                        }
                        None => {
                            self.shared.idle.notify_all();
                            self.shared.wake.wait(&mut st);
                        }
                    }
                }
            };
            let (file, range) = job;
            let settled = self.deliver(&file, range.start, range.end);
            let mut st = self.shared.state.lock();
            st.busy = false;
            if let Some(done) = settled {
                settle(&mut st, &file, done);
            }
            drop(st);
            self.shared.idle.notify_all();
        }
    }

    /// Delivers the first batch of `[start, end)` of `file`, retrying
    /// transient failures until delivered, refused or past the shutdown
    /// deadline. Returns how far it settled (`None`: nothing settled).
    fn deliver(&self, file: &Path, start: u64, end: u64) -> Option<(u64, u64)> {
        let path = self.shared.root.join(file);
        let log = self.shared.root.join(dn_core::layout::delivery_log(file, &self.id));
        let mut attempt = 0u32;
        loop {
            match send_batch(&self.poster, &path, start, end, 1) {
                Ok(BatchOutcome::Settled { end: settled_end, spans, how, reason }) => {
                    if let Some(why) = reason {
                        self.shared
                            .rejections
                            .warn(format_args!("{why} ({spans} spans rejected; later batches are still sent)"));
                        *self.shared.last_error.lock() = Some(why);
                    }
                    match how {
                        Settled::Delivered => self.shared.delivered.fetch_add(spans, Ordering::Relaxed),
                        Settled::Rejected(_) => self.shared.rejected.fetch_add(spans, Ordering::Relaxed),
                    };
                    if let Err(e) = acks::append(&log, SettledRange { start, end: settled_end, spans, how }) {
                        *self.shared.last_error.lock() =
                            Some(format!("cannot write the delivery log {}: {e}", log.display()));
                    }
                    return Some((settled_end, spans));
                }
                Ok(BatchOutcome::Refused(code)) => {
                    if !self.shared.refused.swap(true, Ordering::Relaxed) {
                        tracing::error!(target: "dn", "{} rejected the credentials (HTTP {code}): delivery stopped; spans stay in the local files and `dn sync` delivers them once the credentials are fixed", self.poster.config().endpoint);
                    }
                    *self.shared.last_error.lock() = Some(format!(
                        "{} rejected the credentials (HTTP {code}); delivery stopped",
                        self.poster.config().endpoint
                    ));
                    return None;
                }
                Err(Transient(why, retry_after)) => {
                    attempt += 1;
                    let backoff =
                        Duration::from_millis(100u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(5));
                    let delay = retry_after.unwrap_or(backoff).min(Duration::from_secs(30));
                    *self.shared.last_error.lock() = Some(why);
                    let deadline = *self.shared.deadline.lock();
                    if deadline.is_some_and(|d| Instant::now() + delay > d) || self.shared.state.lock().stop {
                        return None;
                    }
                    self.shared.retried.fetch_add(1, Ordering::Relaxed);
                    self.sleep(delay);
                }
            }
        }
    }

    /// Sleeps `d`, waking early for shutdown.
    fn sleep(&self, d: Duration) {
        let mut st = self.shared.state.lock();
        if !st.stop {
            let _ = self.shared.wake.wait_for(&mut st, d);
        }
    }
}

/// Removes `[start, settled_end)` from the front of `file`'s pending ranges.
fn settle(st: &mut State, file: &Path, (settled_end, spans): (u64, u64)) {
    if let Some(list) = st.pending.get_mut(file) {
        if let Some(first) = list.first_mut() {
            first.start = settled_end;
            first.spans = first.spans.saturating_sub(spans);
            if first.start >= first.end {
                list.remove(0);
            }
        }
        if list.is_empty() {
            st.pending.remove(file);
        }
    }
    st.pending_spans = st.pending_spans.saturating_sub(spans);
}

/// What one batch came to.
pub(crate) enum BatchOutcome {
    /// The receiver answered for good: `[start, end)` holding `spans`
    /// lines; for a rejection, the receiver's reason.
    Settled { end: u64, spans: u64, how: Settled, reason: Option<String> },
    /// 401/403: stop sending.
    Refused(u16),
}

/// A failure worth retrying.
pub(crate) struct Transient(pub String, pub Option<Duration>);

/// A batch read from a spans file, converted, encoded and gzipped: ready
/// to post.
pub(crate) struct Prepared {
    /// One past its last byte.
    pub end: u64,
    /// Its lines.
    pub spans: u64,
    /// The request body, or why none of its lines could be read.
    pub body: Result<Vec<u8>, String>,
}

/// Reads the first batch of `[start, end)` of `path` (at most `max_spans`
/// lines) and prepares its request.
pub(crate) fn prepare(
    cfg: &OtlpConfig,
    path: &Path,
    start: u64,
    end: u64,
    max_spans: usize,
    threads: usize,
) -> Result<Prepared, Transient> {
    let bytes = read_range(path, start, end, cfg.max_batch_bytes as u64)
        .map_err(|e| Transient(format!("reading {}: {e}", path.display()), None))?;
    // Split only as far as the batch goes (a 4 MiB read of short lines
    // holds several batches; scanning all of it each time was a tenth of
    // `dn sync`).
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').take(max_spans.max(1)).collect();
    let wire = from_jsonl::Wire { project_override: cfg.project_override.as_deref(), conventions: cfg.conventions };
    let (batch, first_bad) = convert(&lines, wire, threads);
    let len: u64 = lines.iter().map(|l| l.len() as u64).sum();
    let body = if batch.is_empty() {
        Err(format!("{}: unreadable line: {}", path.display(), first_bad.unwrap_or_default()))
    } else {
        crate::otlp::encode(&batch.into_request()).map_err(|e| format!("gzip failed: {e}"))
    };
    Ok(Prepared { end: start + len, spans: lines.len() as u64, body })
}

/// Posts a prepared batch and says how it ended (`None`: 413, split it).
pub(crate) fn post_prepared(poster: &Poster, p: &Prepared) -> Option<Result<BatchOutcome, Transient>> {
    let settled = |how, reason| Some(Ok(BatchOutcome::Settled { end: p.end, spans: p.spans, how, reason }));
    let body = match &p.body {
        Ok(b) => b,
        // Only unreadable lines: settle them as rejected so they are not retried forever.
        Err(why) => return settled(Settled::Rejected(0), Some(why.clone())),
    };
    match poster.post_body(body) {
        Outcome::Delivered => settled(Settled::Delivered, None),
        Outcome::TooLarge if p.spans > 1 => None,
        Outcome::TooLarge => {
            let why =
                format!("{}: a single span is larger than the receiver accepts (HTTP 413)", poster.config().endpoint);
            settled(Settled::Rejected(413), Some(why))
        }
        Outcome::Unauthorized(code) => Some(Ok(BatchOutcome::Refused(code))),
        Outcome::Rejected(code, why) => settled(Settled::Rejected(code), Some(why)),
        Outcome::Transient(why, after) => Some(Err(Transient(why, after))),
    }
}

/// Reads the first batch of `[start, end)` of `path`, posts it, splitting on
/// 413, and says how far it got.
pub(crate) fn send_batch(
    poster: &Poster,
    path: &Path,
    start: u64,
    end: u64,
    threads: usize,
) -> Result<BatchOutcome, Transient> {
    let mut max = poster.config().max_batch_spans.max(1);
    loop {
        let p = prepare(poster.config(), path, start, end, max, threads)?;
        match post_prepared(poster, &p) {
            Some(outcome) => return outcome,
            None => max = (p.spans as usize / 2).max(1),
        }
    }
}

/// Converts `lines` to spans, on `threads` threads (in order); the first
/// unreadable line's reason, if any.
fn convert(lines: &[&[u8]], wire: from_jsonl::Wire<'_>, threads: usize) -> (from_jsonl::SpanBatch, Option<String>) {
    let one = |part: &[&[u8]]| {
        let mut batch = from_jsonl::SpanBatch::default();
        let mut first_bad = None;
        for l in part {
            let trimmed = l.strip_suffix(b"\n").unwrap_or(l);
            if let Err(e) = batch.push_line(trimmed, wire) {
                first_bad.get_or_insert(e.0);
            }
        }
        (batch, first_bad)
    };
    if threads <= 1 || lines.len() < 64 {
        return one(lines);
    }
    let per = lines.len().div_ceil(threads);
    let parts: Vec<(from_jsonl::SpanBatch, Option<String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = lines.chunks(per).map(|part| scope.spawn(move || one(part))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
    });
    let mut out = from_jsonl::SpanBatch::default();
    let mut bad = None;
    for (b, why) in parts {
        out.append(b);
        bad = bad.or(why);
    }
    (out, bad)
}

/// Reads at most `limit` bytes of `[start, end)`, cut after the last whole
/// line (a single longer line is read whole).
fn read_range(path: &Path, start: u64, end: u64, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::Start(start))?;
    let want = (end - start).min(limit.max(1));
    let mut buf = vec![0u8; want as usize];
    f.read_exact(&mut buf)?;
    if start + want < end {
        match buf.iter().rposition(|b| *b == b'\n') {
            Some(i) => buf.truncate(i + 1),
            None => {
                // One line longer than the limit: read on to its end.
                let mut rest = vec![0u8; (end - start - want) as usize];
                f.read_exact(&mut rest)?;
                let cut = rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |i| i + 1);
                buf.extend_from_slice(&rest[..cut]);
            }
        }
    }
    Ok(buf)
}

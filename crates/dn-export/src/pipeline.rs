//! The bounded queue and the background writer thread (its loop in
//! `pipeline/writer.rs`).
//!
//! The caller's thread pushes each finished record, by value, onto its own
//! buffer (an uncontended lock and a `Vec` push: no allocation, no I/O, no
//! wake-up); the writer thread goes round again at once while rounds find
//! [`GO_AGAIN_AT`] records or more, wakes every [`ACTIVE_INTERVAL`] while
//! fewer keep coming and every [`WRITE_INTERVAL`] when idle, backing off to
//! [`IDLE_INTERVAL_MAX`] as a quiet spell goes on (or when a buffer
//! reaches [`WAKE_AT`] records, on the first span after it went idle, or on
//! flush), swaps every thread's buffer for an empty one and hands the
//! records to the exporters. Records
//! are therefore also freed on the writer thread in large batches rather
//! than one by one against the caller's allocations.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use crossbeam_channel::{Sender, bounded, unbounded};
use dn_core::{DestinationReport, ExportReport, SpanRecord, SpanSink};
use parking_lot::Mutex;

mod writer;

use writer::writer_loop;

use crate::handoff::HandoffLock;
use crate::jsonl::{LineFormatter, LineMark};
use crate::{Destination, Exporter};

/// Default queue capacity in records: enough for a 100 000-span burst.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1 << 17;
/// Default bound on the bytes one producer thread may have waiting (see
/// [`SpanRecord::weight`]): large values fill it before the record count does.
pub const DEFAULT_QUEUE_BYTES: usize = 32 << 20;
/// Default bound on the bytes all producer threads together may have
/// waiting, or in the writer's hands until it has written them: one
/// thread's [`DEFAULT_QUEUE_BYTES`], so that what waits does not grow with
/// the threads. Before it, 16 threads each ending task spans that log a
/// 2 KB input peaked at 105 MiB of RSS over 100 000 tasks and 518 MiB over
/// 400 000 (the local log on disk: each thread filled its own 32 MiB while
/// the writer, one thread against 16, fell behind); with it, 47 and
/// 54 MiB, in about the same time (`workload dn thread-burst`). A bound of
/// twice this held 80 MiB there.
pub const DEFAULT_QUEUE_TOTAL_BYTES: usize = 32 << 20;
/// Most bytes a producer takes from the shared bound
/// ([`DEFAULT_QUEUE_TOTAL_BYTES`]) ahead of what its record needs: one
/// atomic operation on the shared count for some 800 light spans or 150
/// tasks, not one a span (a task loop's caller: the same instructions,
/// callgrind). A sixteenth of the bound at most, so that
/// threads holding what they took ahead leave most of it to the others
/// (the writer takes back what a thread holds at each of its rounds).
const LEASE_BYTES: usize = 256 << 10;

// dn-core's recycling pools take back, while the writer is busy, one
// default queue's worth (dn-core cannot name these): kept equal here.
const _: () = assert!(
    dn_core::runtime::recycle::BUSY_POOL_MAX == DEFAULT_QUEUE_CAPACITY
        && dn_core::runtime::recycle::BUSY_POOL_BYTES == DEFAULT_QUEUE_BYTES
);
/// Default longest a producer waits for the writer when its buffer is full,
/// before it drops the span and counts it.
pub const DEFAULT_FULL_WAIT: Duration = Duration::from_secs(5);
/// How many slots past the next one a push fetches for writing: far enough
/// ahead that the fetch completes before the slot is written even where the
/// writer's core is far from the caller's (a cache line's round trip of
/// 360–410 ns in this machine kind's slow mode, against 40–65 ns: see
/// xtask's `machine`). One slot ahead, `dn_light_span_in_run` read
/// 108–112 ns in the slow mode; four ahead 85–90 ns (eight: the same), and
/// the same 61–67 ns in the fast mode.
const PREFETCH_AHEAD: usize = 4;
/// Most bytes of lines a producer formats ahead of the writer (about 1 300
/// light spans' lines): past them it waits for the writer to take them, as
/// for a full buffer, and where it cannot wait its records go on unformatted
/// (never dropped for this). A producer formatting from a kept line end
/// (`LineFormatter`) outruns a writer appending to a file about threefold;
/// unpaced, the writer's batches grew to 8 000–16 000 lines, 13–20 MB of
/// text touched for the first time each, and a 100 000-span light loop
/// took 1.04× as long with a peak RSS of 34 MiB. Paced, 0.83–0.90× as long
/// as before the kept end (`bench ab light 100000`), 8.7 MiB (25 before);
/// on one core 0.64×. 256 KiB: 1.01–1.02× this; 4 MiB: 1.01–1.07×, 17 MiB.
const FORMATTED_AHEAD_MAX: usize = 1 << 20;
/// How long a producer waiting for room yields to the writer before it
/// sleeps (see `wait_for_room`).
const YIELD_BEFORE_SLEEP: Duration = Duration::from_micros(20);
/// Most records handed to the exporters in one batch.
pub const MAX_BATCH: usize = 256;
/// A producer wakes the writer when its buffer reaches this many records.
pub const WAKE_AT: u64 = 2048;
/// A producer with this many records waiting wakes a writer napping
/// between two rounds that found a few ([`ACTIVE_INTERVAL`]); one
/// gathering a burst's first spans it wakes from [`GO_AGAIN_AT`], as a
/// round that found that many goes again at once. From 64 in the nap too,
/// a program whose spans come slower than its writer takes them woke it
/// every 64 spans, a system call and the writer's work beside each share
/// of them (the spans benchmark, alternated builds: a bridged `tracing`
/// span 345–366 → 406–441 ns, a run of 100 tasks 44–48 → 51–58 µs); from
/// 512, 345–373 ns and 42–49 µs, while a loop of 10 000 tasks to disk
/// keeps most of what waking the writer early gained it (1.03× of waking
/// at 64, against 1.13× not waking it in the nap at all).
pub const ACTIVE_WAKE_AT: usize = 512;
/// How long the idle writer first sleeps before looking at the queue
/// again. The first span after the writer went idle wakes it at once;
/// while nothing comes, each sleep is twice the last, up to
/// [`IDLE_INTERVAL_MAX`] (once the recycling pools are back within their
/// idle bounds, which the idle writer trims a step every 100 ms).
pub const WRITE_INTERVAL: Duration = Duration::from_millis(20);
/// The longest the idle writer sleeps: a process idle for an hour wakes it
/// about 3 600 times, not 180 000 (every 20 ms, as it did).
pub const IDLE_INTERVAL_MAX: Duration = Duration::from_secs(1);
/// How long the writer sleeps after a round that found spans, before the
/// next: it formats and writes beside the producers rather than after them.
/// A producer with [`GO_AGAIN_AT`] records waiting ends the sleep (and the
/// gathering of a burst's first spans, as long).
/// With only [`WAKE_AT`] and the idle interval, a burst shorter than 20 ms
/// (1 000 task spans, say) was formatted and written whole at shutdown,
/// after the caller's loop: a fifth of such a program's time, on one core.
pub const ACTIVE_INTERVAL: Duration = Duration::from_millis(1);
/// A round that found at least this many records is followed by the next at
/// once, not after [`ACTIVE_INTERVAL`]: while spans come faster than that,
/// the writer keeps writing. Sleeping 1 ms after every round let about
/// 2 500 task records pile up at the task workload's pace (the writer's
/// line costs most of the caller's span, so a backlog shrinks slowly), each
/// holding its rendered buffer: memory touched for the first time while a
/// run warms up. A 10 000-task process: page faults 1 625 → 899, peak RSS
/// 11.1 → 8.3 MiB, 0.80× the time (medians of eight alternated).
pub const GO_AGAIN_AT: usize = 64;

/// Default backlog, in records waiting on a producer thread, from which
/// that thread formats its light spans' JSONL lines itself (see
/// [`ExportPipelineBuilder::producer_format_at`]).
pub const DEFAULT_PRODUCER_FORMAT_AT: usize = 256;

/// Default backlog, in records waiting on a producer thread, from which
/// that thread renders its tasks' groups itself rather than leave them to
/// the writer (see [`ExportPipelineBuilder::producer_render_at`]): the
/// backlog at which a producer wakes the writer (2 048). A smaller one is
/// crossed in every millisecond the writer naps after it caught up (about a
/// thousand tasks): with 256, two in five tasks of a loop the writer kept
/// up with were rendered on their caller.
pub const DEFAULT_PRODUCER_RENDER_AT: usize = WAKE_AT as usize;

/// What the writer tells producers, on a cache line of its own: read by
/// every push (and `renders` by every task that ends), written only when it
/// changes — not beside the counters the writer bumps every round.
#[derive(Default)]
#[repr(align(64))]
struct WriterFlags {
    /// Set while the writer sleeps for lack of spans, so that the next span
    /// wakes it; written as the writer goes idle and wakes.
    idle: AtomicBool,
    /// Whether the writer has time to render tasks' groups for the
    /// producers (see `writer::WriterLoad`).
    renders: AtomicBool,
    /// While the writer gathers a burst's first spans, [`GO_AGAIN_AT`]; while
    /// it naps between rounds that found a few, [`ACTIVE_WAKE_AT`]; else 0.
    /// A producer with that many records or more waiting wakes it.
    napping: AtomicUsize,
}

/// A large task's groups (over [`dn_core::DEFER_AT_MOST`] to render, such
/// as a 5 KB input, whose hash alone is some 2.5 µs) are left to the
/// writer only while fewer records than this wait on its thread, and
/// fewer than [`LARGE_BYTES_AT`] bytes: the first few after each of the
/// writer's swaps. Where the caller is the busier thread (a loop of such
/// tasks) the writer so takes a share of the hashing that grows until
/// the two keep pace; where the writer is behind, its swaps are far apart
/// and it takes few. The payload workload, alternated processes against
/// rendering every large task on its caller: 0.92×. Of the threshold, 64
/// took 1.03× the time of 16, and 256 1.17× that of 64; 32 was kept.
const LARGE_RENDER_AT: usize = 32;
/// See [`LARGE_RENDER_AT`]: bounds what large tasks left as data hold.
const LARGE_BYTES_AT: usize = 1 << 20;
/// The weight ([`SpanRecord::weight`]) of a task record whose data renders
/// to [`dn_core::DEFER_AT_MOST`]: a large one weighs more.
const DEFER_AT_MOST_WEIGHT: usize =
    dn_core::DEFER_AT_MOST + std::mem::size_of::<SpanRecord>() + std::mem::size_of::<dn_core::TaskData>();

/// One producer thread's pending records.
#[derive(Default)]
struct LocalBuffer {
    /// Taken by its thread for each push and by the writer for each swap:
    /// a lock released by a plain store (see `handoff`), 65–69 ns against
    /// 68–74 ns a light span with `parking_lot`'s.
    records: HandoffLock<Pending>,
    /// Set when the pipeline shuts down, so threads drop their handle.
    closed: AtomicBool,
}

/// Records waiting on one thread, and how many it has accepted in all
/// (counted under the same lock, so the hot path has no extra atomic).
#[derive(Default)]
struct Pending {
    records: Vec<SpanRecord>,
    /// Lines this thread formatted for some of `records` while the writer
    /// was behind, and whose they are.
    lines: String,
    marks: Vec<LineMark>,
    /// Formats them, keeping a light span's line end for the next (stays
    /// with this thread: the writer swaps the lines, not this).
    formatter: Option<LineFormatter>,
    /// Sum of the waiting records' weights (and of the formatted lines).
    bytes: usize,
    /// Bytes this thread has taken from the pipeline's shared bound
    /// ([`Budget`]) since the writer last took its records: what they
    /// weigh and some ahead. Given back by the writer: what is ahead when
    /// it takes the records, the rest once it has written them.
    held: usize,
    accepted: u64,
}

impl Pending {
    /// Whether a large task's groups are rendered on its caller rather than
    /// left to the writer (see [`LARGE_RENDER_AT`]).
    fn renders_large_here(&self) -> bool {
        self.records.len() >= LARGE_RENDER_AT || self.bytes >= LARGE_BYTES_AT
    }
}

/// Formats `rec`'s line into `p`'s lines, for a writer behind. A function
/// of its own, as a task's rendering is (`RenderedTask::render_from`), so
/// that a profile tells the writer's work its callers do from their own
/// (`cargo xtask bench instructions`).
#[inline(never)]
fn format_line_here(p: &mut Pending, rec: &SpanRecord, resource: &Arc<str>) {
    let start = p.lines.len();
    p.formatter.get_or_insert_with(|| LineFormatter::new(resource.clone())).write_line(&mut p.lines, rec);
    let end = p.lines.len();
    p.marks.push(LineMark { record: p.records.len() as u32, start: start as u32, end: end as u32 });
    p.bytes += end - start;
    // Counted by the writer as it takes the lines: a locked add here,
    // right after the line's bytes were written into a buffer the
    // writer's `writev` read last, waited for those stores to complete
    // (7% of a light loop's samples sat on it).
}

/// A task record whose groups came as data and are large to render.
fn is_large_data(r: &SpanRecord) -> bool {
    matches!(&r.kind, dn_core::RecordKind::Task { groups: dn_core::TaskGroups::Data(d), .. }
        if d.render_estimate() > dn_core::DEFER_AT_MOST)
}

/// This thread's handle on one pipeline's buffer.
struct LocalEntry {
    pipeline: u64,
    buffer: Arc<LocalBuffer>,
}

static NEXT_PIPELINE_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's buffer for each live pipeline it has exported to.
    static LOCAL: RefCell<Vec<LocalEntry>> = const { RefCell::new(Vec::new()) };
}

enum Control {
    Flush(Sender<()>),
    Shutdown(Sender<()>),
}

/// The bytes all producer threads may still take for records waiting on
/// them or in the writer's hands (see [`ExportPipelineBuilder::queue_total_bytes`]),
/// on a cache line of its own: producers take from it once per
/// [`LEASE_BYTES`] and the writer gives back once per buffer a round, so
/// it must not share a line with what every push reads.
#[repr(align(64))]
struct Budget {
    left: AtomicIsize,
    /// Bytes a thread takes ahead of what its record needs.
    lease: usize,
}

impl Budget {
    fn new(total: usize) -> Budget {
        Budget {
            left: AtomicIsize::new(isize::try_from(total).unwrap_or(isize::MAX)),
            lease: LEASE_BYTES.min(total / 16),
        }
    }

    /// Takes from the bound what `p` needs beyond what it holds to add a
    /// record of `weight` bytes, and [`Budget::lease`] ahead where there is
    /// that much; false (nothing taken) where there is not what it needs.
    /// A thread with no records waiting takes what its record needs
    /// whatever is left, so that a record larger than what the others
    /// leave is not refused for ever: the total goes over by at most one
    /// record a thread.
    #[cold]
    #[inline(never)]
    fn take(&self, p: &mut Pending, weight: usize) -> bool {
        let need = (p.bytes + weight).saturating_sub(p.held);
        let ahead = need + self.lease;
        let mut left = self.left.load(Ordering::Relaxed);
        loop {
            let take = if left >= ahead as isize {
                ahead
            } else if left >= need as isize || p.records.is_empty() {
                need
            } else {
                return false;
            };
            match self.left.compare_exchange_weak(left, left - take as isize, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {
                    p.held += take;
                    return true;
                }
                Err(now) => left = now,
            }
        }
    }

    fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.left.fetch_add(bytes as isize, Ordering::Relaxed);
        }
    }
}

struct Shared {
    /// Most records one producer thread may have waiting; beyond it spans
    /// are dropped and counted. The buffers allocate only for what they hold.
    capacity: u64,
    /// Most bytes one producer thread may have waiting.
    max_bytes: usize,
    /// Bytes all producer threads together may have waiting or in the
    /// writer's hands.
    budget: Budget,
    /// Longest a producer waits for room (the local writer behind a slow disk).
    full_wait: Duration,
    /// Records the writer has taken so far: a producer that gave up waiting
    /// does not wait again until this moves (a stuck writer costs one wait).
    taken: AtomicU64,
    /// `taken` when a producer last gave up waiting (`u64::MAX`: never).
    stalled_at: AtomicU64,
    dropped_full: AtomicU64,
    dropped_closed: AtomicU64,
    /// Accepted counts of buffers whose thread has exited.
    retired_accepted: AtomicU64,
    warnings: dn_core::WarnLimit,
    closed: AtomicBool,
    reports: Mutex<Vec<DestinationReport>>,
    writer: OnceLock<Thread>,
    writer_flags: WriterFlags,
    /// More than one core (`available_parallelism`, read once: a dozen
    /// system calls): the writer may render tasks for the producers.
    multi_core: bool,
    /// How long the writer woken by a burst's first span sleeps to gather
    /// more before writing ([`ACTIVE_INTERVAL`]; tests lengthen it).
    gather: Duration,
    /// How long the writer naps between rounds that found a few records
    /// ([`ACTIVE_INTERVAL`]; tests lengthen it).
    active_nap: Duration,
    /// The resource JSON of the exporter that takes producer-formatted
    /// lines, and the backlog from which producers format them.
    line_resource: Option<Arc<str>>,
    producer_format_at: usize,
    /// The backlog from which producers render their tasks' groups.
    producer_render_at: usize,
    /// The smaller of the two.
    producer_work_at: usize,
    /// Lines formatted, and tasks' groups rendered, on producer threads so far.
    producer_formatted: AtomicU64,
    producer_rendered: AtomicU64,
    /// Tasks' groups the writer rendered.
    writer_rendered: AtomicU64,
    /// Every producer thread's buffer.
    buffers: Mutex<Vec<Arc<LocalBuffer>>>,
}

impl Shared {
    fn accepted(&self) -> u64 {
        self.retired_accepted.load(Ordering::Relaxed)
            + self.buffers.lock().iter().map(|b| b.records.lock().accepted).sum::<u64>()
    }
    fn queued(&self) -> u64 {
        self.buffers.lock().iter().map(|b| b.records.lock().records.len() as u64).sum()
    }
    fn queued_bytes(&self) -> usize {
        self.buffers.lock().iter().map(|b| b.records.lock().bytes).sum()
    }
    fn wake_writer(&self) {
        if let Some(t) = self.writer.get() {
            t.unpark();
        }
    }
}

/// A [`SpanSink`] that queues records and exports them on a background
/// thread to every configured [`Exporter`].
pub struct ExportPipeline {
    id: u64,
    local_root: Option<std::path::PathBuf>,
    destinations: Vec<Arc<dyn Destination>>,
    ctl: Sender<Control>,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for ExportPipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportPipeline").field("queued", &self.queued()).finish()
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
    destinations: Vec<Arc<dyn Destination>>,
    capacity: Option<usize>,
    max_bytes: Option<usize>,
    total_bytes: Option<usize>,
    full_wait: Option<Duration>,
    producer_format_at: Option<usize>,
    producer_render_at: Option<usize>,
    /// How long the writer gathers a burst's first spans (tests lengthen it).
    gather: Option<Duration>,
    /// How long the writer naps between rounds (tests lengthen it).
    active_nap: Option<Duration>,
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
    /// Adds a remote destination (fed by a [`crate::JsonlExporter`] with
    /// [`crate::JsonlExporter::notify`]): `flush` and `shutdown` wait for it
    /// on the calling thread and report its counts.
    pub fn destination(mut self, d: Arc<dyn Destination>) -> Self {
        self.destinations.push(d);
        self
    }
    /// The writer gathers a burst's first spans for `d` (tests: long enough
    /// that a flush waiting it out would time out).
    #[cfg(test)]
    fn gather(mut self, d: Duration) -> Self {
        self.gather = Some(d);
        self
    }
    /// The writer naps `d` between rounds that found a few records (tests:
    /// long enough that only a wake-up ends the nap).
    #[cfg(test)]
    fn active_nap(mut self, d: Duration) -> Self {
        self.active_nap = Some(d);
        self
    }
    /// Queue capacity in records (default [`DEFAULT_QUEUE_CAPACITY`]).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.capacity = Some(n.max(1));
        self
    }
    /// Most bytes of records one producer thread may have waiting (default
    /// [`DEFAULT_QUEUE_BYTES`]).
    pub fn queue_bytes(mut self, n: usize) -> Self {
        self.max_bytes = Some(n.max(1));
        self
    }
    /// Most bytes of records all producer threads together may have
    /// waiting, or in the writer's hands until they are written (default
    /// [`DEFAULT_QUEUE_TOTAL_BYTES`], or [`ExportPipelineBuilder::queue_bytes`]
    /// where that is larger): a producer that would go over waits
    /// for the writer as for a full buffer of its own. Each thread may go
    /// over by one record, so that a record larger than what the other
    /// threads leave still goes through.
    pub fn queue_total_bytes(mut self, n: usize) -> Self {
        self.total_bytes = Some(n.max(1));
        self
    }
    /// Longest a producer waits for the writer when its buffer is full
    /// (default [`DEFAULT_FULL_WAIT`]); then the span is dropped and counted.
    /// `Duration::ZERO` drops at once. A writer that stays stuck costs one
    /// wait, not one per span.
    pub fn full_wait(mut self, d: Duration) -> Self {
        self.full_wait = Some(d);
        self
    }
    /// The backlog, in records waiting on one producer thread, from which
    /// that thread formats the JSONL lines of its light spans itself
    /// (default [`DEFAULT_PRODUCER_FORMAT_AT`]; `usize::MAX`: never, `0`:
    /// always). A light span's line costs the writer more than the span
    /// costs its caller, so a loop of light spans outruns the writer: from
    /// then on each such span costs its caller the formatting too, and the
    /// writer only appends its line (from the producer's text). Used when an exporter gives
    /// [`Exporter::line_resource`] (the JSONL exporter); the lines are
    /// byte-identical either way. Tasks' groups have a threshold of their
    /// own, [`ExportPipelineBuilder::producer_render_at`].
    pub fn producer_format_at(mut self, records: usize) -> Self {
        self.producer_format_at = Some(records);
        self
    }
    /// The backlog, in records waiting on one producer thread, from which
    /// that thread renders the groups of its tasks that came as data itself
    /// (see [`dn_core::TaskGroups`]; default [`DEFAULT_PRODUCER_RENDER_AT`],
    /// `usize::MAX`: never, `0`: always), rather than leave them to the
    /// writer. The lines are byte-identical either way.
    pub fn producer_render_at(mut self, records: usize) -> Self {
        self.producer_render_at = Some(records);
        self
    }
    /// Starts the writer thread.
    pub fn build(self) -> Result<ExportPipeline, crate::Error> {
        let producer_format_at = self.producer_format_at.unwrap_or(DEFAULT_PRODUCER_FORMAT_AT);
        let producer_render_at = self.producer_render_at.unwrap_or(DEFAULT_PRODUCER_RENDER_AT);
        let line_exporter = self.exporters.iter().position(|e| e.line_resource().is_some());
        let line_resource = line_exporter.and_then(|i| self.exporters[i].line_resource());
        let (ctl, ctl_rx) = unbounded();
        let shared = Arc::new(Shared {
            capacity: self.capacity.unwrap_or(DEFAULT_QUEUE_CAPACITY) as u64,
            max_bytes: self.max_bytes.unwrap_or(DEFAULT_QUEUE_BYTES),
            // A thread's own bound raised past the shared default raises
            // the shared one with it (else it could never be reached).
            budget: Budget::new(
                self.total_bytes
                    .unwrap_or_else(|| DEFAULT_QUEUE_TOTAL_BYTES.max(self.max_bytes.unwrap_or(DEFAULT_QUEUE_BYTES))),
            ),
            full_wait: self.full_wait.unwrap_or(DEFAULT_FULL_WAIT),
            taken: AtomicU64::new(0),
            stalled_at: AtomicU64::new(u64::MAX),
            dropped_full: AtomicU64::new(0),
            dropped_closed: AtomicU64::new(0),
            retired_accepted: AtomicU64::new(0),
            warnings: dn_core::WarnLimit::new(5),
            closed: AtomicBool::new(false),
            reports: Mutex::new(self.exporters.iter().map(|e| e.report()).collect()),
            writer: OnceLock::new(),
            // `renders` from the first quiet window on: a short burst
            // (10 000 tasks take about 12 ms) ends before a window has
            // measured the load, and rendering its backlog at shutdown made
            // it 1.2x slower.
            writer_flags: WriterFlags::default(),
            multi_core: std::thread::available_parallelism().map_or(1, |n| n.get()) > 1,
            gather: self.gather.unwrap_or(ACTIVE_INTERVAL),
            active_nap: self.active_nap.unwrap_or(ACTIVE_INTERVAL),
            line_resource,
            producer_format_at,
            producer_render_at,
            producer_work_at: producer_format_at.min(producer_render_at),
            producer_formatted: AtomicU64::new(0),
            producer_rendered: AtomicU64::new(0),
            writer_rendered: AtomicU64::new(0),
            buffers: Mutex::new(Vec::new()),
        });
        let s2 = shared.clone();
        let local_root = self.exporters.iter().find_map(|e| e.local_root().map(std::path::Path::to_path_buf));
        let exporters = self.exporters;
        let thread = std::thread::Builder::new()
            .name("dn-export".into())
            .spawn(move || writer_loop(ctl_rx, exporters, line_exporter, s2))
            .map_err(crate::Error::ThreadSpawn)?;
        let _ = shared.writer.set(thread.thread().clone());
        let id = NEXT_PIPELINE_ID.fetch_add(1, Ordering::Relaxed);
        Ok(ExportPipeline {
            id,
            local_root,
            destinations: self.destinations,
            ctl,
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }
}

impl ExportPipeline {
    /// A builder.
    pub fn builder() -> ExportPipelineBuilder {
        ExportPipelineBuilder::default()
    }
    /// Records waiting in the queue now.
    pub fn queued(&self) -> usize {
        self.shared.queued() as usize
    }
    /// Bytes of records (their [`SpanRecord::weight`]) and formatted lines
    /// waiting in the queue now, on every thread.
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued_bytes()
    }
    /// Lines formatted on producer threads so far, because the writer was
    /// behind (see [`ExportPipelineBuilder::producer_format_at`]), counted
    /// as the writer takes them: all of them once a flush returns.
    pub fn producer_formatted(&self) -> u64 {
        self.shared.producer_formatted.load(Ordering::Relaxed)
    }
    /// Tasks whose groups were rendered on producer threads so far, because
    /// the writer was behind (see [`ExportPipelineBuilder::producer_render_at`]).
    pub fn producer_rendered(&self) -> u64 {
        self.shared.producer_rendered.load(Ordering::Relaxed)
    }
    /// Tasks whose groups the writer rendered so far, because it had time
    /// to spare when they ended (see [`dn_core::TaskGroups`]).
    pub fn writer_rendered(&self) -> u64 {
        self.shared.writer_rendered.load(Ordering::Relaxed)
    }

    fn report(&self, timed_out: bool) -> ExportReport {
        ExportReport {
            accepted: self.shared.accepted(),
            dropped_queue_full: self.shared.dropped_full.load(Ordering::Relaxed),
            dropped_after_shutdown: self.shared.dropped_closed.load(Ordering::Relaxed),
            exporters: {
                let mut r = self.shared.reports.lock().clone();
                r.extend(self.destinations.iter().map(|d| d.report()));
                r
            },
            timed_out,
            logging_faults: 0,    // the tracer adds its count
            scrubbed: Vec::new(), // and its scrubber's
        }
    }

    fn control(&self, make: impl FnOnce(Sender<()>) -> Control, timeout: Duration) -> bool {
        let (ack_tx, ack_rx) = bounded(1);
        if self.ctl.send(make(ack_tx)).is_err() {
            return true; // writer already gone: nothing left to wait for
        }
        self.shared.wake_writer();
        ack_rx.recv_timeout(timeout).is_ok()
    }
}

impl ExportPipeline {
    /// Moves the record in `slot` into this thread's buffer for this
    /// pipeline (registered on first use) and returns the buffer's length;
    /// `None` when the buffer is full, the record left in `slot`.
    ///
    /// The record stays where the caller holds it until the move into the
    /// buffer: taking it out first, and giving it back by value when the
    /// buffer was full, copied its 272 bytes three times more (callgrind:
    /// about 270 of the 1 183 instructions a light span took before).
    ///
    /// `paced`: also `None` while this thread's formatted lines are
    /// [`FORMATTED_AHEAD_MAX`] or more (the writer is behind; wait for it).
    #[inline]
    fn push_local_from(&self, slot: &mut Option<SpanRecord>, paced: bool) -> Option<usize> {
        // A large task left as data: the writer renders it only while few
        // records wait on this thread; else it is rendered here, before the
        // buffer is locked (a long render must not hold up the writer's swap).
        // (A record's weight counts its data's render estimate: a lighter
        // one is not large, and is not looked at again.)
        let mut weight = slot.as_ref().map_or(0, SpanRecord::weight);
        if weight > DEFER_AT_MOST_WEIGHT
            && slot.as_ref().is_some_and(is_large_data)
            && self.with_local(|p| p.renders_large_here()).unwrap_or(true)
        {
            if let Some(rec) = slot {
                dn_core::render_task_groups(std::slice::from_mut(rec));
                self.shared.producer_rendered.fetch_add(1, Ordering::Relaxed);
                weight = rec.weight();
            }
        }
        let cap = self.shared.capacity as usize;
        let max_bytes = self.shared.max_bytes;
        let pushed = self.with_local(|p| {
            if p.records.len() >= cap
                || (p.bytes + weight > max_bytes && !p.records.is_empty())
                || (paced && p.lines.len() >= FORMATTED_AHEAD_MAX)
                || (p.bytes + weight > p.held && !self.shared.budget.take(p, weight))
            {
                return None;
            }
            if p.records.len() >= self.shared.producer_work_at {
                self.work_here(p, slot);
            }
            // `extend` reserves before it reads the slot: one copy fewer
            // than taking the record out first.
            p.records.extend(slot.take());
            p.bytes += weight;
            p.accepted += 1;
            // A slot ahead, fetched for writing now: its lines were last
            // the writer's (the buffers are swapped), and copying into them
            // cold made the lock's release (or the next locked instruction)
            // wait for the copy — a third of a light span's time on its
            // caller (`dn_light_span_in_run` 88–92 → 68–74 ns, alternated
            // binaries; 206–223 → 115–120 ns in the machine's slow mode).
            // The first push into a buffer fetches the first slots.
            let n = p.records.len();
            let size = std::mem::size_of::<SpanRecord>();
            let (from, to) =
                if n == 1 { (1, PREFETCH_AHEAD + 2) } else { (n + PREFETCH_AHEAD, n + PREFETCH_AHEAD + 1) };
            let to = to.min(p.records.capacity());
            if from < to {
                dn_core::prefetch_for_write(p.records.as_ptr().wrapping_add(from), (to - from) * size);
            }
            Some(n)
        });
        match pushed {
            Ok(n) => n,
            Err(_) => {
                // Thread-local storage is being torn down (a span ending in a
                // thread-local destructor): use a one-off registered buffer.
                let b = Arc::new(LocalBuffer::default());
                {
                    let mut p = b.records.lock();
                    p.records.extend(slot.take());
                    p.accepted = 1;
                }
                self.shared.buffers.lock().push(b);
                Some(1)
            }
        }
    }

    /// Runs `f` on this thread's buffer for this pipeline, locked (made and
    /// registered on first use); an error while thread-local storage is
    /// being torn down.
    fn with_local<R>(&self, f: impl FnOnce(&mut Pending) -> R) -> Result<R, std::thread::AccessError> {
        LOCAL.try_with(|l| {
            let mut l = l.borrow_mut();
            let i = match l.iter().position(|e| e.pipeline == self.id) {
                Some(i) => i,
                None => {
                    // Forget buffers of pipelines that have shut down, then register.
                    l.retain(|e| !e.buffer.closed.load(Ordering::Relaxed));
                    let b = Arc::new(LocalBuffer::default());
                    self.shared.buffers.lock().push(b.clone());
                    l.push(LocalEntry { pipeline: self.id, buffer: b });
                    l.len() - 1
                }
            };
            let mut p = l[i].buffer.records.lock();
            f(&mut p)
        })
    }

    /// The writer is behind this thread: does here, beside the records
    /// waiting, the work it would have done for the record in `slot` —
    /// renders a task's groups left as data, or formats a light span's line
    /// (a task's line is cheaper for the writer than the task for its
    /// caller: those lines stay with it).
    #[cold]
    #[inline(never)]
    fn work_here(&self, p: &mut Pending, slot: &mut Option<SpanRecord>) {
        let Some(rec) = slot else { return };
        let waiting = p.records.len();
        if matches!(rec.kind, dn_core::RecordKind::Task { groups: dn_core::TaskGroups::Data(_), .. }) {
            if waiting >= self.shared.producer_render_at {
                dn_core::render_task_groups(std::slice::from_mut(rec));
                self.shared.producer_rendered.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        let Some(resource) = &self.shared.line_resource else { return };
        if waiting < self.shared.producer_format_at
            || !matches!(rec.kind, dn_core::RecordKind::Light)
            || p.lines.len() >= FORMATTED_AHEAD_MAX
        {
            return;
        }
        format_line_here(p, rec, resource);
    }

    /// Whether `n` records waiting on a thread wake the writer, napping
    /// with `napping`'s threshold (0: not napping).
    #[inline]
    fn wakes_napping(napping: &AtomicUsize, n: usize) -> bool {
        let at = napping.load(Ordering::Relaxed);
        at != 0 && n >= at
    }

    /// This thread's buffer is full: the writer is behind (a disk slower
    /// than the producer). Waits for room — the local log is the source of
    /// truth, so a slow disk slows the producer rather than losing lines —
    /// at most `full_wait`, and not at all while a writer that already made
    /// a producer give up has taken nothing since. `None` leaves the record
    /// in `slot`.
    fn wait_for_room(&self, slot: &mut Option<SpanRecord>) -> Option<usize> {
        let shared = &self.shared;
        let taken = shared.taken.load(Ordering::Acquire);
        if shared.full_wait.is_zero() || shared.stalled_at.load(Ordering::Relaxed) == taken {
            return None;
        }
        let deadline = std::time::Instant::now() + shared.full_wait;
        // A writer just woken mostly takes the buffer within microseconds
        // (a producer paced at `FORMATTED_AHEAD_MAX` meets a writer napping
        // between rounds): yield to it for a moment before sleeping, which
        // takes 50 µs and more.
        shared.wake_writer();
        let spin_until = std::time::Instant::now() + YIELD_BEFORE_SLEEP;
        while std::time::Instant::now() < spin_until {
            std::thread::yield_now();
            if shared.taken.load(Ordering::Acquire) != taken {
                if let Some(n) = self.push_local_from(slot, true) {
                    return Some(n);
                }
            }
        }
        let mut pause = Duration::from_micros(50);
        loop {
            shared.wake_writer();
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
            if let Some(n) = self.push_local_from(slot, true) {
                return Some(n);
            }
            if shared.closed.load(Ordering::Relaxed) || std::time::Instant::now() >= deadline {
                shared.stalled_at.store(shared.taken.load(Ordering::Acquire), Ordering::Relaxed);
                return None;
            }
        }
    }
}

impl SpanSink for ExportPipeline {
    fn export(&self, record: SpanRecord) {
        self.export_from(&mut Some(record));
    }

    /// While the writer has time to spare (from a 10 ms window in which it
    /// was busy less than half the time, until one in which it was busy
    /// more than 80%) it renders a small task's groups before its
    /// exporters see the record; a producer renders them itself when the
    /// writer has fallen behind it anyway (see
    /// [`ExportPipelineBuilder::producer_render_at`]). A large task's
    /// (over [`dn_core::DEFER_AT_MOST`]) are asked for whatever the load,
    /// and rendered by the writer only while few records wait on their
    /// thread (32 records, or 1 MiB). Never in a one-core process.
    fn renders_task_groups(&self, data: &dn_core::TaskData) -> bool {
        self.shared.multi_core
            && (self.shared.writer_flags.renders.load(Ordering::Relaxed)
                || data.render_estimate() > dn_core::DEFER_AT_MOST)
    }

    fn export_from(&self, slot: &mut Option<SpanRecord>) {
        if slot.is_none() {
            return;
        }
        if self.shared.closed.load(Ordering::Relaxed) {
            *slot = None;
            self.shared.dropped_closed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Where waiting did not make room, a buffer that was only paced
        // still takes the record (unformatted).
        let pushed = self
            .push_local_from(slot, true)
            .or_else(|| self.wait_for_room(slot))
            .or_else(|| self.push_local_from(slot, false));
        match pushed {
            Some(n) if n == WAKE_AT as usize => self.shared.wake_writer(),
            // The writer went idle: this span starts a burst, which it
            // writes beside the caller from now on (one wake per burst).
            Some(_) if self.shared.writer_flags.idle.load(Ordering::Relaxed) => {
                if self.shared.writer_flags.idle.swap(false, Ordering::Relaxed) {
                    self.shared.wake_writer();
                }
            }
            // The writer naps with enough waiting here: it need not wait out
            // the nap (a burst's first 1 ms, while this thread faults in its
            // buffers' fresh pages).
            Some(n) if n >= GO_AGAIN_AT && Self::wakes_napping(&self.shared.writer_flags.napping, n) => {
                if self.shared.writer_flags.napping.swap(0, Ordering::Relaxed) != 0 {
                    self.shared.wake_writer();
                }
            }
            Some(_) => {}
            None => {
                *slot = None;
                let n = self.shared.dropped_full.fetch_add(1, Ordering::Relaxed);
                self.shared.warnings.warn(format_args!(
                    "export queue full ({} records or {} MiB on this thread) and the writer did not catch up within \
                     {:?}: span dropped ({} so far); the flush/shutdown report counts every drop",
                    self.shared.capacity,
                    self.shared.max_bytes >> 20,
                    self.shared.full_wait,
                    n + 1
                ));
            }
        }
    }

    fn flush(&self, timeout: Duration) -> ExportReport {
        let deadline = std::time::Instant::now() + timeout;
        let mut ok = self.control(Control::Flush, timeout);
        for d in &self.destinations {
            ok &= d.wait_idle(deadline.saturating_duration_since(std::time::Instant::now()));
        }
        self.report(!ok)
    }

    fn local_root(&self) -> Option<&std::path::Path> {
        self.local_root.as_deref()
    }

    fn write_local(&self, timeout: Duration) -> bool {
        self.shared.closed.load(Ordering::Relaxed) || self.control(Control::Flush, timeout)
    }

    fn shutdown(&self, timeout: Duration) -> ExportReport {
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return self.report(false);
        }
        let deadline = std::time::Instant::now() + timeout;
        let mut ok = self.control(Control::Shutdown, timeout);
        if ok {
            if let Some(t) = self.thread.lock().take() {
                let _ = t.join();
            }
        }
        // Every line is on disk now; give the destinations what is left of the time.
        for d in &self.destinations {
            d.shutdown(deadline.saturating_duration_since(std::time::Instant::now()));
            ok &= d.report().pending == 0;
        }
        self.report(!ok)
    }
}

impl Drop for ExportPipeline {
    fn drop(&mut self) {
        let _ = SpanSink::shutdown(self, Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{FormattedLines, JsonlExporter, Resource, write_line};
    use dn_core::{DestinationReport, ExportReport, MemorySink, RecordKind, Tracer};
    use std::time::Instant;
    use writer::LOAD_WINDOW;

    /// Light spans and tasks of one run, in the order they ended.
    fn records() -> Vec<SpanRecord> {
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        tracer.run("r").run(|_| {
            for i in 0..2_000 {
                drop(tracer.span("s").enter());
                if i % 10 == 0 {
                    tracer.task_span("t").run(|t| t.log_output("y", i));
                }
            }
        });
        sink.take()
    }

    #[test]
    fn a_thread_takes_from_the_shared_bound_ahead_then_what_it_needs_then_nothing_unless_it_has_nothing_waiting() {
        let budget = Budget::new(1 << 20);
        assert_eq!(budget.lease, 64 << 10, "a sixteenth of a small bound");
        let mut p = Pending::default();
        // Room for the record and the lease ahead: both taken.
        assert!(budget.take(&mut p, 1000));
        assert_eq!(p.held, 1000 + (64 << 10));
        assert_eq!(budget.left.load(Ordering::Relaxed), (1 << 20) - p.held as isize);
        // Another thread leaves 500 bytes: a record of 400 takes just that.
        budget.left.store(500, Ordering::Relaxed);
        p.bytes = p.held;
        p.records.push(records().swap_remove(0));
        let held = p.held;
        assert!(budget.take(&mut p, 400));
        assert_eq!((p.held - held, budget.left.load(Ordering::Relaxed)), (400, 100));
        // Not enough for the next, and records wait here: refused, nothing taken.
        p.bytes = p.held;
        assert!(!budget.take(&mut p, 400));
        assert_eq!(budget.left.load(Ordering::Relaxed), 100);
        // With nothing waiting, a thread takes its one record anyway.
        let mut q = Pending::default();
        assert!(budget.take(&mut q, 5000));
        assert_eq!((q.held, budget.left.load(Ordering::Relaxed)), (5000, -4900));
        budget.give_back(5000);
        assert_eq!(budget.left.load(Ordering::Relaxed), 100);
    }

    #[test]
    fn a_thread_bound_raised_past_the_shared_default_raises_the_shared_bound() {
        let left = |b: ExportPipelineBuilder| b.build().unwrap().shared.budget.left.load(Ordering::Relaxed) as usize;
        assert_eq!(left(ExportPipeline::builder()), DEFAULT_QUEUE_TOTAL_BYTES);
        assert_eq!(left(ExportPipeline::builder().queue_bytes(1 << 20)), DEFAULT_QUEUE_TOTAL_BYTES);
        assert_eq!(
            left(ExportPipeline::builder().queue_bytes(DEFAULT_QUEUE_TOTAL_BYTES * 2)),
            DEFAULT_QUEUE_TOTAL_BYTES * 2
        );
        assert_eq!(left(ExportPipeline::builder().queue_bytes(64 << 20).queue_total_bytes(1 << 20)), 1 << 20);
    }

    #[test]
    fn a_producer_formats_its_light_spans_lines_from_the_backlog_on_and_the_file_is_the_same() {
        let records = records();
        let light = records.iter().filter(|r| matches!(r.kind, RecordKind::Light)).count() as u64;
        let resource = Resource::detect("test");
        let mut expected = String::new();
        for r in &records {
            write_line(&mut expected, r, &crate::resource_json(&resource));
        }
        let rel = JsonlExporter::relative_path(&records[0]).unwrap();
        for (format_at, formatted) in [(0, light), (usize::MAX, 0)] {
            let dir = tempfile::tempdir().unwrap();
            let jsonl = JsonlExporter::new(dir.path(), &resource).unwrap();
            let pipeline = ExportPipeline::builder().exporter(jsonl).producer_format_at(format_at).build().unwrap();
            for r in &records {
                pipeline.export(r.clone());
            }
            let report = SpanSink::shutdown(&pipeline, Duration::from_secs(30));
            assert!(report.is_clean(), "{report:?}");
            assert_eq!(pipeline.producer_formatted(), formatted, "lines formatted by the producer (from {format_at})");
            let written = std::fs::read_to_string(dir.path().join(&rel)).unwrap();
            assert_eq!(written.len(), expected.len());
            assert!(written == expected, "from {format_at}: the file differs from the lines write_line makes");
        }
    }

    #[test]
    fn a_flush_or_shutdown_after_a_burst_began_does_not_wait_for_the_burst_to_gather() {
        // A span wakes the idle writer, which then sleeps to gather the
        // burst's next spans (60 s here, 1 ms in use). A flush asked for at
        // once wakes the writer too; the two wake-ups can end the idle sleep
        // as one, and the flush then waited out the gathering: 1 ms more of
        // `shutdown` in about half of all processes. 20 times each, a flush
        // and a shutdown right after a span, each given 10 s.
        let record = records().remove(0);
        for shutdown in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let jsonl = JsonlExporter::new(dir.path(), &Resource::detect("test")).unwrap();
            let pipeline = ExportPipeline::builder().exporter(jsonl).gather(Duration::from_secs(60)).build().unwrap();
            let rounds = if shutdown { 1 } else { 20 };
            for round in 0..rounds {
                // Long enough for the writer to go idle (it does within a
                // round of 20 ms at most).
                std::thread::sleep(Duration::from_millis(50));
                pipeline.export(record.clone());
                let report = if shutdown {
                    SpanSink::shutdown(&pipeline, Duration::from_secs(10))
                } else {
                    SpanSink::flush(&pipeline, Duration::from_secs(10))
                };
                assert!(!report.timed_out, "round {round} (shutdown: {shutdown}) waited for the burst to gather");
                assert_eq!(report.accepted, round + 1);
            }
        }
    }

    /// A writer gathering a burst's first spans is woken from a round's
    /// worth of records waiting; one napping between rounds only from
    /// `ACTIVE_WAKE_AT` (a steady program's spans would wake it every 64);
    /// one not napping (running, or asleep for lack of spans: the idle flag
    /// wakes that one) never by this rule.
    #[test]
    fn a_nap_ends_at_its_own_threshold() {
        let napping = AtomicUsize::new(GO_AGAIN_AT);
        assert!(!ExportPipeline::wakes_napping(&napping, GO_AGAIN_AT - 1));
        assert!(ExportPipeline::wakes_napping(&napping, GO_AGAIN_AT));
        napping.store(ACTIVE_WAKE_AT, Ordering::Relaxed);
        assert!(!ExportPipeline::wakes_napping(&napping, GO_AGAIN_AT));
        assert!(!ExportPipeline::wakes_napping(&napping, ACTIVE_WAKE_AT - 1));
        assert!(ExportPipeline::wakes_napping(&napping, ACTIVE_WAKE_AT));
        napping.store(0, Ordering::Relaxed);
        assert!(!ExportPipeline::wakes_napping(&napping, usize::MAX));
    }

    /// A record, a JSONL exporter writing under a fresh directory (kept
    /// while the second item lives), and the file the record goes to.
    fn record_and_its_file() -> (SpanRecord, tempfile::TempDir, JsonlExporter, std::path::PathBuf) {
        let record = records().remove(0);
        let dir = tempfile::tempdir().unwrap();
        let jsonl = JsonlExporter::new(dir.path(), &Resource::detect("test")).unwrap();
        let file = dir.path().join(JsonlExporter::relative_path(&record).unwrap());
        (record, dir, jsonl, file)
    }

    /// A writer given back more than the recycling pools keep when idle
    /// (here 14 MiB of rendered buffers, over `POOL_BYTES`' 8 MiB) trims
    /// them while it is idle, a step at a time, with no flush; and a flush
    /// trims them wholly before it returns. The pools are the process's, so
    /// other tests' buffers may come and go meanwhile: bounds, with a
    /// batch's worth of margin, not exact counts.
    #[test]
    fn an_idle_writer_trims_the_pools_to_their_idle_bounds_and_a_flush_wholly() {
        use dn_core::runtime::recycle::{KEEP_CAPACITY, POOL_BYTES};
        let (record, _dir, jsonl, _file) = record_and_its_file();
        let pipeline = ExportPipeline::builder().exporter(jsonl).build().unwrap();
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        tracer.run("r").run(|_| tracer.task_span("t").run(|t| t.log_output("y", "x".repeat(6 << 10))));
        let big = sink.take().into_iter().find(|r| &*r.name == "t").unwrap();
        let RecordKind::Task { groups: dn_core::TaskGroups::Rendered(rendered), .. } = &big.kind else {
            panic!("a rendered task")
        };
        assert!(rendered.capacity() > 4 << 10 && rendered.capacity() <= KEEP_CAPACITY, "{}", rendered.capacity());
        let give_back = || {
            // Each record its own buffer, held by nothing else: what the
            // writer gives back after writing a burst of them.
            let mut batch: Vec<SpanRecord> = (0..(14 << 20) / rendered.capacity())
                .map(|_| {
                    let mut r = big.clone();
                    if let RecordKind::Task { groups, .. } = &mut r.kind {
                        *groups = dn_core::TaskGroups::Rendered(Arc::new(dn_core::RenderedTask::clone(rendered)));
                    }
                    r
                })
                .collect();
            dn_core::recycle_records(&mut batch);
            assert!(dn_core::recycled_bytes() > POOL_BYTES, "{} bytes kept", dn_core::recycled_bytes());
        };
        let margin = 256 * KEEP_CAPACITY;
        give_back();
        let start = Instant::now();
        while dn_core::recycled_bytes() > POOL_BYTES + margin {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{} bytes kept after 20 s idle",
                dn_core::recycled_bytes()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        give_back();
        SpanSink::flush(&pipeline, Duration::from_secs(10));
        assert!(
            dn_core::recycled_bytes() <= POOL_BYTES + margin,
            "{} bytes kept after a flush",
            dn_core::recycled_bytes()
        );
        pipeline.export(record);
        let report = SpanSink::shutdown(&pipeline, Duration::from_secs(10));
        assert_eq!(report.accepted, 1);
    }

    /// Between rounds (here a nap of 60 s, 1 ms in use) the writer is not
    /// woken by `GO_AGAIN_AT` records — a program whose spans come slower
    /// than its writer takes them would wake it every 64 — but is by
    /// `ACTIVE_WAKE_AT`: the lines are on disk long before the nap ends.
    #[test]
    fn a_writer_napping_between_rounds_is_woken_from_active_wake_at_records() {
        let (record, _dir, jsonl, file) = record_and_its_file();
        let pipeline = ExportPipeline::builder()
            .exporter(jsonl)
            .gather(Duration::ZERO)
            .active_nap(Duration::from_secs(60))
            .build()
            .unwrap();
        let lines = || std::fs::read_to_string(&file).map_or(0, |t| t.lines().count());
        let wait_for = |n: usize| {
            let start = Instant::now();
            while lines() < n {
                assert!(start.elapsed() < Duration::from_secs(10), "{} of {n} lines after 10 s", lines());
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        std::thread::sleep(Duration::from_millis(50)); // the writer goes idle
        // The first span wakes the idle writer; its round finds one record,
        // and it naps between rounds.
        pipeline.export(record.clone());
        wait_for(1);
        for _ in 0..GO_AGAIN_AT {
            pipeline.export(record.clone());
        }
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(lines(), 1, "{GO_AGAIN_AT} records woke the writer napping between rounds");
        for _ in GO_AGAIN_AT..ACTIVE_WAKE_AT {
            pipeline.export(record.clone());
        }
        wait_for(1 + ACTIVE_WAKE_AT);
        let report = SpanSink::shutdown(&pipeline, Duration::from_secs(10));
        assert_eq!(report.accepted, 1 + ACTIVE_WAKE_AT as u64);
        assert_eq!(lines(), 1 + ACTIVE_WAKE_AT);
    }

    #[test]
    fn a_napping_writer_is_woken_by_a_round_s_worth_of_records() {
        // The writer gathers a burst's first spans for 60 s here (1 ms in
        // use). A producer with `GO_AGAIN_AT` records waiting wakes it: the
        // lines are on disk long before the gathering would have ended.
        // One record every 5 ms after the first round's worth, since the
        // writer may start its nap after them.
        let (record, _dir, jsonl, file) = record_and_its_file();
        let pipeline = ExportPipeline::builder().exporter(jsonl).gather(Duration::from_secs(60)).build().unwrap();
        std::thread::sleep(Duration::from_millis(50)); // the writer goes idle
        let lines = || std::fs::read_to_string(&file).map_or(0, |t| t.lines().count());
        let start = Instant::now();
        let mut sent = 0;
        while lines() < GO_AGAIN_AT {
            assert!(start.elapsed() < Duration::from_secs(10), "{} of {sent} written after 10 s", lines());
            let burst = if sent == 0 { GO_AGAIN_AT } else { 1 };
            for _ in 0..burst {
                pipeline.export(record.clone());
            }
            sent += burst;
            std::thread::sleep(Duration::from_millis(5));
        }
        // Without the wake-up, the writer slept until this thread, formatting
        // light lines from 256 records waiting, had 1 MiB of them (about
        // 1 580 records, 8 s here).
        assert!(sent < DEFAULT_PRODUCER_FORMAT_AT, "{sent} records sent before the writer wrote");
        let report = SpanSink::shutdown(&pipeline, Duration::from_secs(10));
        assert_eq!(report.accepted, sent as u64);
        assert_eq!(lines(), sent);
    }

    /// The JSONL exporter with `before` run ahead of each batch it writes
    /// (a slow disk, a writer held inside a batch).
    struct Hooked {
        jsonl: JsonlExporter,
        before: Box<dyn FnMut() + Send>,
    }
    impl Exporter for Hooked {
        fn name(&self) -> &'static str {
            "hooked-jsonl"
        }
        fn export(&mut self, batch: &[SpanRecord]) {
            self.export_formatted(batch, FormattedLines::NONE);
        }
        fn export_formatted(&mut self, batch: &[SpanRecord], lines: FormattedLines<'_>) {
            (self.before)();
            self.jsonl.export_formatted(batch, lines);
        }
        fn line_resource(&self) -> Option<Arc<str>> {
            self.jsonl.line_resource()
        }
        fn flush(&mut self) {
            self.jsonl.flush();
        }
        fn shutdown(&mut self) {
            self.jsonl.shutdown();
        }
        fn report(&self) -> DestinationReport {
            self.jsonl.report()
        }
    }

    /// The JSONL exporter on a slow disk: each batch takes 20 ms more.
    fn slow_lines(jsonl: JsonlExporter) -> Hooked {
        Hooked { jsonl, before: Box::new(|| std::thread::sleep(Duration::from_millis(20))) }
    }

    #[test]
    fn a_producer_formats_no_more_than_a_bounded_text_ahead_and_drops_nothing_for_it() {
        // 6 000 light spans, about 4.7 MB of lines, against a writer that
        // takes 20 ms more a batch: the producer formats from the first and
        // runs ahead of it.
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        tracer.run("r").run(|_| (0..6_000).for_each(|_| drop(tracer.span("s").enter())));
        let records = sink.take();
        let light = records.iter().filter(|r| matches!(r.kind, RecordKind::Light)).count() as u64;
        let resource = Resource::detect("test");
        let mut expected = String::new();
        let longest = records.iter().fold(0, |longest, r| {
            let at = expected.len();
            write_line(&mut expected, r, &crate::resource_json(&resource));
            longest.max(expected.len() - at)
        });
        let rel = JsonlExporter::relative_path(&records[0]).unwrap();
        // Waiting for the writer as long as it takes, then not at all.
        for full_wait in [DEFAULT_FULL_WAIT, Duration::ZERO] {
            let dir = tempfile::tempdir().unwrap();
            let slow = slow_lines(JsonlExporter::new(dir.path(), &resource).unwrap());
            let pipeline =
                ExportPipeline::builder().exporter(slow).producer_format_at(0).full_wait(full_wait).build().unwrap();
            let mut most_ahead = 0;
            for r in &records {
                pipeline.export(r.clone());
                let buffers = pipeline.shared.buffers.lock().clone();
                most_ahead = buffers.iter().map(|b| b.records.lock().lines.len()).fold(most_ahead, usize::max);
            }
            assert!(most_ahead > FORMATTED_AHEAD_MAX / 2, "{full_wait:?}: the producer ran ahead ({most_ahead} bytes)");
            assert!(
                most_ahead < FORMATTED_AHEAD_MAX + longest,
                "{full_wait:?}: {most_ahead} bytes formatted ahead of the writer"
            );
            let report = SpanSink::shutdown(&pipeline, Duration::from_secs(30));
            assert!(report.is_clean(), "{full_wait:?}: {report:?}");
            let formatted = pipeline.producer_formatted();
            if full_wait.is_zero() {
                assert!(formatted < light, "not waiting, the producer left lines to the writer ({formatted})");
            } else {
                assert_eq!(formatted, light, "waiting, the producer formatted every light line");
            }
            let written = std::fs::read_to_string(dir.path().join(&rel)).unwrap();
            assert!(written == expected, "{full_wait:?}: the file differs from the lines write_line makes");
        }
    }

    /// A memory sink that asks for tasks' groups as data, as the pipeline
    /// does while its writer has time to spare.
    struct RendersLater(MemorySink);

    impl SpanSink for RendersLater {
        fn export(&self, record: SpanRecord) {
            self.0.export(record);
        }
        fn flush(&self, timeout: Duration) -> ExportReport {
            self.0.flush(timeout)
        }
        fn shutdown(&self, timeout: Duration) -> ExportReport {
            self.0.shutdown(timeout)
        }
        fn renders_task_groups(&self, _: &dn_core::TaskData) -> bool {
            true
        }
    }

    /// Counts the task records an exporter got with their groups still data.
    struct CountsUnrendered(Arc<AtomicU64>);

    impl Exporter for CountsUnrendered {
        fn name(&self) -> &'static str {
            "counts-unrendered"
        }
        fn export(&mut self, batch: &[SpanRecord]) {
            let n = batch
                .iter()
                .filter(|r| matches!(&r.kind, RecordKind::Task { groups, .. } if groups.rendered().is_none()));
            self.0.fetch_add(n.count() as u64, Ordering::Relaxed);
        }
        fn flush(&mut self) {}
        fn shutdown(&mut self) {}
        fn report(&self) -> DestinationReport {
            DestinationReport { name: "counts-unrendered".into(), ..Default::default() }
        }
    }

    #[test]
    fn tasks_rendered_by_the_writer_or_by_their_producer_are_the_lines_write_line_makes() {
        let sink = MemorySink::new();
        let tracer = Tracer::new(RendersLater(sink.clone()), "p").unwrap();
        tracer.run("r").run(|run| {
            run.log_param("lr", 0.001);
            for i in 0..3_000 {
                tracer.task_span("t").run(|t| {
                    t.log_input("x", i);
                    t.log_metric("m", i as f64 * 0.5);
                    t.log_output("y", format!("out \"{i}\"\n"));
                });
            }
        });
        let records = sink.take();
        let data = |rs: &[SpanRecord]| {
            rs.iter()
                .filter(|r| matches!(&r.kind, RecordKind::Task { groups: dn_core::TaskGroups::Data(_), .. }))
                .count()
        };
        // Every task and the run (whose metric series is small too, so it
        // goes as data as well).
        assert_eq!(data(&records), 3_001);
        let resource = Resource::detect("test");
        let mut expected = String::new();
        for r in &records {
            write_line(&mut expected, r, &crate::resource_json(&resource));
        }
        let rel = JsonlExporter::relative_path(&records[0]).unwrap();
        for (render_at, on_producer) in [(0, 3_001), (usize::MAX, 0)] {
            let dir = tempfile::tempdir().unwrap();
            let jsonl = JsonlExporter::new(dir.path(), &resource).unwrap();
            let unrendered = Arc::new(AtomicU64::new(0));
            let pipeline = ExportPipeline::builder()
                .exporter(CountsUnrendered(unrendered.clone()))
                .exporter(jsonl)
                .producer_render_at(render_at)
                .build()
                .unwrap();
            for r in &records {
                pipeline.export(r.clone());
            }
            let report = SpanSink::shutdown(&pipeline, Duration::from_secs(30));
            assert!(report.is_clean(), "{report:?}");
            assert_eq!(pipeline.producer_rendered(), on_producer, "groups rendered by the producer (from {render_at})");
            assert_eq!(pipeline.writer_rendered(), 3_001 - on_producer, "groups rendered by the writer");
            assert_eq!(unrendered.load(Ordering::Relaxed), 0, "an exporter saw a task's groups unrendered");
            let written = std::fs::read_to_string(dir.path().join(&rel)).unwrap();
            assert_eq!(written.len(), expected.len());
            assert!(written == expected, "from {render_at}: the file differs from the lines write_line makes");
        }
    }

    #[test]
    fn large_tasks_are_left_to_the_writer_only_while_few_records_wait_and_their_lines_match() {
        // Tasks logging a large input each (over `DEFER_AT_MOST`), their
        // groups left as data, pushed while the writer is held inside an
        // earlier batch: the first wait for the writer to render them — 32
        // of 4 KiB ones (`LARGE_RENDER_AT`), and of 64 KiB ones those
        // before 1 MiB waits (`LARGE_BYTES_AT`) — and the producer renders
        // the rest before it pushes them.
        for (input, tasks) in [(4 << 10, 100), (64 << 10, 40)] {
            let sink = MemorySink::new();
            let tracer = Tracer::new(RendersLater(sink.clone()), "p").unwrap();
            tracer.run("r").run(|_| {
                for i in 0..tasks {
                    tracer.task_span("big").run(|t| t.log_input("x", format!("{i}{}", "x".repeat(input))));
                }
            });
            let records = sink.take();
            assert_eq!(records.iter().filter(|r| is_large_data(r)).count(), tasks);
            let resource = Resource::detect("test");
            let mut expected = String::new();
            for r in &records {
                write_line(&mut expected, r, &crate::resource_json(&resource));
            }
            // The tasks come before their run: the first is the plug. The
            // ones left: while fewer than 32, and less than 1 MiB, wait.
            let (plug, rest) = records.split_first().unwrap();
            let (mut waiting, mut left) = (0, 0);
            for r in rest.iter().filter(|r| is_large_data(r)) {
                if left >= LARGE_RENDER_AT || waiting >= LARGE_BYTES_AT {
                    break;
                }
                waiting += r.weight();
                left += 1;
            }
            if input > 32 << 10 {
                assert!(left < LARGE_RENDER_AT, "the byte bound is the one crossed ({left})");
            }
            let dir = tempfile::tempdir().unwrap();
            let (entered_tx, entered) = std::sync::mpsc::channel();
            let (release, release_rx) = std::sync::mpsc::channel();
            // The writer is held inside its first batch until released, and
            // says when it got there.
            let mut gate = Some((entered_tx, release_rx));
            let gated = Hooked {
                jsonl: JsonlExporter::new(dir.path(), &resource).unwrap(),
                before: Box::new(move || {
                    if let Some((entered, release)) = gate.take() {
                        entered.send(()).unwrap();
                        release.recv_timeout(Duration::from_secs(30)).unwrap();
                    }
                }),
            };
            let unrendered = Arc::new(AtomicU64::new(0));
            let pipeline = ExportPipeline::builder()
                .exporter(CountsUnrendered(unrendered.clone()))
                .exporter(gated)
                .build()
                .unwrap();
            let multi_core = std::thread::available_parallelism().map_or(1, |n| n.get()) > 1;
            let large = match &plug.kind {
                RecordKind::Task { groups: dn_core::TaskGroups::Data(d), .. } => d.clone(),
                other => panic!("{other:?}"),
            };
            assert_eq!(pipeline.renders_task_groups(&large), multi_core, "large: whatever the load");
            pipeline.export(plug.clone());
            entered.recv_timeout(Duration::from_secs(30)).unwrap();
            for r in rest {
                pipeline.export(r.clone());
            }
            // The large tasks after the plug, then the run (small).
            let after_plug = (tasks - 1) as u64;
            assert_eq!(pipeline.producer_rendered(), after_plug - left as u64, "{input} bytes: {left} left");
            release.send(()).unwrap();
            let report = SpanSink::shutdown(&pipeline, Duration::from_secs(30));
            assert!(report.is_clean(), "{report:?}");
            assert_eq!(pipeline.writer_rendered(), 1 + left as u64 + 1, "the plug, {left} and the run");
            assert_eq!(unrendered.load(Ordering::Relaxed), 0, "an exporter saw a task's groups unrendered");
            let rel = JsonlExporter::relative_path(&records[0]).unwrap();
            let written = std::fs::read_to_string(dir.path().join(&rel)).unwrap();
            assert!(written == expected, "{input} bytes: the file differs from the lines write_line makes");
        }
    }

    #[test]
    fn an_idle_pipeline_asks_for_tasks_as_data_and_its_file_matches() {
        let (dir, resource, pipeline) = jsonl_pipeline();
        if !wait_until_the_writer_renders(&pipeline) {
            return;
        }
        let tracer = Tracer::with_sink(pipeline.clone(), "p").unwrap();
        let sink = MemorySink::new();
        let expected_tracer = Tracer::new(sink.clone(), "p").unwrap();
        for tr in [&tracer, &expected_tracer] {
            tr.run("r").run(|_| {
                for i in 0..50 {
                    tr.task_span("t").run(|t| {
                        t.log_input("x", i);
                        t.log_output("y", i * 2);
                    });
                    std::thread::sleep(Duration::from_micros(200));
                }
            });
        }
        assert!(SpanSink::flush(&*pipeline, Duration::from_secs(30)).is_clean());
        // The writer stayed quiet: it rendered most of them (the run too).
        assert!(pipeline.writer_rendered() >= 25, "{}", pipeline.writer_rendered());
        let reference = sink.take();
        let files: Vec<_> =
            walkdir(dir.path()).into_iter().filter(|p| p.extension() == Some("jsonl".as_ref())).collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let written = std::fs::read_to_string(&files[0]).unwrap();
        // Same data, other ids and times: compare the task groups.
        let groups = |line: &str| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let a = &v["attributes"];
            (a["dreadnode.inputs"].clone(), a["dreadnode.outputs"].clone(), a["dreadnode.objects"].clone())
        };
        let mut want = String::new();
        for r in &reference {
            write_line(&mut want, r, &crate::resource_json(&resource));
        }
        let got: Vec<_> = written.lines().map(groups).collect();
        let want: Vec<_> = want.lines().map(groups).collect();
        assert_eq!(got.len(), 51);
        assert_eq!(got, want);
    }

    /// A pipeline writing JSONL into a new temporary directory.
    fn jsonl_pipeline() -> (tempfile::TempDir, Resource, Arc<ExportPipeline>) {
        let dir = tempfile::tempdir().unwrap();
        let resource = Resource::detect("test");
        let jsonl = JsonlExporter::new(dir.path(), &resource).unwrap();
        (dir, resource, Arc::new(ExportPipeline::builder().exporter(jsonl).build().unwrap()))
    }

    /// Waits until `pipeline`'s idle writer takes tasks' rendering (off
    /// until it has measured a quiet window); `false` on a one-core
    /// machine, where it never does (checked over a few windows).
    fn wait_until_the_writer_renders(pipeline: &ExportPipeline) -> bool {
        assert!(!pipeline.renders_task_groups(&dn_core::TaskData::default()));
        if std::thread::available_parallelism().map_or(1, |n| n.get()) == 1 {
            std::thread::sleep(LOAD_WINDOW * 5);
            assert!(
                !pipeline.renders_task_groups(&dn_core::TaskData::default()),
                "one core: the writer never renders for the producers"
            );
            return false;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pipeline.renders_task_groups(&dn_core::TaskData::default()) {
            assert!(Instant::now() < deadline, "an idle writer never took tasks' rendering");
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    #[test]
    fn tasks_of_many_threads_keep_their_own_data_whoever_renders_it() {
        let (dir, _, pipeline) = jsonl_pipeline();
        let renders = wait_until_the_writer_renders(&pipeline);
        let tracer = Tracer::with_sink(pipeline.clone(), "p").unwrap();
        // Four threads of 3 000 tasks each: the writer renders while it has
        // time, the producers while it is behind or busy, and data boxes go
        // round between the threads through the pool. Every task keeps its
        // own values, once each.
        const THREADS: i64 = 4;
        const TASKS: i64 = 3_000;
        std::thread::scope(|scope| {
            for th in 0..THREADS {
                let tracer = tracer.clone();
                scope.spawn(move || {
                    tracer.run(format!("r{th}")).run(|_| {
                        for k in 0..TASKS {
                            let x = th * 1_000_000 + k;
                            tracer.task_span("t").run(|t| {
                                t.log_input("x", x);
                                if k % 3 == 0 {
                                    t.log_param("third", true);
                                }
                                t.log_output("y", format!("y{}", x * 2));
                            });
                        }
                    });
                });
            }
        });
        let report = SpanSink::shutdown(&*pipeline, Duration::from_secs(30));
        assert!(report.is_clean(), "{report:?}");
        // The writer took some (it started with time to spare; about 8 000
        // to 10 000 of the 12 004 in three runs, the producers up to 1 700).
        assert!(!renders || pipeline.writer_rendered() > 0);
        let mut seen = std::collections::BTreeSet::new();
        let json = |v: &serde_json::Value| serde_json::from_str::<serde_json::Value>(v.as_str().unwrap()).unwrap();
        for file in walkdir(dir.path()).into_iter().filter(|p| p.extension() == Some("jsonl".as_ref())) {
            for line in std::fs::read_to_string(&file).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                if v["name"] != "t" {
                    continue;
                }
                let a = &v["attributes"];
                let (inputs, outputs, objects) =
                    (json(&a["dreadnode.inputs"]), json(&a["dreadnode.outputs"]), json(&a["dreadnode.objects"]));
                assert_eq!(inputs.as_array().unwrap().len(), 1, "{line}");
                assert_eq!(outputs.as_array().unwrap().len(), 1, "{line}");
                let value = |refs: &serde_json::Value| objects[refs[0]["hash"].as_str().unwrap()]["value"].clone();
                let x = value(&inputs).as_i64().unwrap();
                assert_eq!(value(&outputs), serde_json::json!(format!("y{}", x * 2)), "{line}");
                let params = json(&a["dreadnode.params"]);
                let want =
                    if (x % 1_000_000) % 3 == 0 { serde_json::json!({"third": true}) } else { serde_json::json!({}) };
                assert_eq!(params, want, "{line}");
                assert!(seen.insert(x), "task {x} written twice");
            }
        }
        assert_eq!(seen.len() as i64, THREADS * TASKS);
    }

    /// Every file under `dir`.
    fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() { out.extend(walkdir(&p)) } else { out.push(p) }
        }
        out
    }

    #[test]
    fn formatted_lines_slice_by_record_index() {
        let marks = [
            LineMark { record: 1, start: 0, end: 2 },
            LineMark { record: 4, start: 2, end: 5 },
            LineMark { record: 5, start: 5, end: 6 },
        ];
        let all = FormattedLines::new("aabbbc", &marks);
        assert_eq!(all.iter().collect::<Vec<_>>(), [(1, "aa"), (4, "bbb"), (5, "c")]);
        let second = all.slice(3, 6);
        assert_eq!(second.iter().collect::<Vec<_>>(), [(1, "bbb"), (2, "c")]);
        assert_eq!(second.slice(2, 3).iter().collect::<Vec<_>>(), [(0, "c")]);
        assert!(all.slice(2, 4).is_empty());
        assert!(FormattedLines::NONE.is_empty());
    }
}

//! The writer thread: each round it swaps every producer thread's buffer
//! for an empty one, renders the groups of the tasks that came as data,
//! hands the records (and the lines producers formatted) to the exporters,
//! and gives the buffers back; between rounds it goes again at once, naps
//! [`ACTIVE_INTERVAL`](super::ACTIVE_INTERVAL) or sleeps
//! [`WRITE_INTERVAL`], longer as a quiet spell goes on (see `writer_loop`). Its load decides whether it
//! renders tasks for the producers ([`WriterLoad`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, TryRecvError};
use dn_core::SpanRecord;

use super::{ACTIVE_WAKE_AT, Control, GO_AGAIN_AT, IDLE_INTERVAL_MAX, LocalBuffer, MAX_BATCH, Shared, WRITE_INTERVAL};
use crate::Exporter;
use crate::jsonl::{FormattedLines, LineMark};

/// How busy the writer is, and so whether it renders tasks' groups for the
/// producers ([`dn_core::SpanSink::renders_task_groups`]): the share of each
/// [`LOAD_WINDOW`] it spent in rounds that found records. Rendering a task
/// costs its caller about a sixth of the task (`dn_task_span_io`, alternated: 1.20–1.27 µs
/// rendered on the caller, 0.99–1.08 µs left to the writer), but where the
/// writer is the busier thread already (a loop of tasks, each line writing
/// a file) it made the whole loop slower (1.08× at 100 000 tasks): it
/// renders only while it was busy less than [`RENDER_BELOW`] of the last
/// window, and stops once it was busy more than [`RENDER_UNTIL`] of one.
/// Never where the process has one core (`available_parallelism`): the
/// writer would render on the caller's core, between its spans, with a
/// switch of threads more (pinned to one core, `dn_task_span_io`'s mean
/// was 1.49–1.61 µs against 1.35–1.41 µs rendering on the caller).
struct WriterLoad {
    window: Instant,
    busy: Duration,
}

/// The window over which the writer's load is measured.
pub(super) const LOAD_WINDOW: Duration = Duration::from_millis(10);
/// The writer takes tasks' rendering back below this share of busy time.
const RENDER_BELOW: f64 = 0.5;
/// The writer leaves tasks' rendering to their callers above this share.
const RENDER_UNTIL: f64 = 0.8;
/// The idle writer trims the recycling pools a step
/// (`dn_core::trim_recycled`) at most this often.
const TRIM_EVERY: Duration = Duration::from_millis(100);

impl WriterLoad {
    /// The writer's load measure; `None` (it never renders for the
    /// producers) in a process with one core.
    fn on_cores(multi_core: bool) -> Option<WriterLoad> {
        multi_core.then(|| WriterLoad { window: Instant::now(), busy: Duration::ZERO })
    }
    /// Counts a round from `started` to `now` that found `n` records.
    fn round(&mut self, started: Instant, now: Instant, n: usize, renders: &AtomicBool) {
        if n > 0 {
            self.busy += now - started;
        }
        let elapsed = now - self.window;
        if elapsed < LOAD_WINDOW {
            return;
        }
        let share = self.busy.as_secs_f64() / elapsed.as_secs_f64();
        let was = renders.load(Ordering::Relaxed);
        let now_renders = if was { share <= RENDER_UNTIL } else { share < RENDER_BELOW };
        if now_renders != was {
            renders.store(now_renders, Ordering::Relaxed);
        }
        self.window = now;
        self.busy = Duration::ZERO;
    }
}

/// The writer thread's state.
struct Writer {
    rounds: u64,
    exporters: Vec<Box<dyn Exporter>>,
    /// The exporter that takes producer-formatted lines.
    line_exporter: Option<usize>,
    shared: Arc<Shared>,
    spare: Vec<SpanRecord>,
    spare_lines: String,
    spare_marks: Vec<LineMark>,
    /// When the pools were last trimmed.
    trimmed: Instant,
    /// Whether the last trim left a pool over its idle bound.
    pools_over: bool,
    /// How long the next idle sleep lasts: [`WRITE_INTERVAL`], doubled
    /// after each quiet one up to [`IDLE_INTERVAL_MAX`].
    idle_sleep: Duration,
}

impl Writer {
    /// Takes every thread's buffered records and exports them; returns how
    /// many there were.
    fn drain(&mut self) -> usize {
        self.rounds += 1;
        let prune = self.rounds % 64 == 0;
        let buffers: Vec<Arc<LocalBuffer>> = {
            let mut all = self.shared.buffers.lock();
            if !prune {
                let list = all.clone();
                drop(all);
                return self.export_from(list);
            }
            // A buffer only the registry holds belongs to a thread that has
            // exited; fold its count into `retired` and drop it once empty.
            let mut retired = 0;
            all.retain(|b| {
                let p = b.records.lock();
                let keep = Arc::strong_count(b) > 1 || !p.records.is_empty();
                if !keep {
                    retired += p.accepted;
                }
                keep
            });
            self.shared.retired_accepted.fetch_add(retired, Ordering::Relaxed);
            all.clone()
        };
        self.export_from(buffers)
    }

    fn export_from(&mut self, buffers: Vec<Arc<LocalBuffer>>) -> usize {
        let mut n = 0;
        for b in buffers {
            let mut batch = std::mem::take(&mut self.spare);
            let (mut lines, mut marks) = (std::mem::take(&mut self.spare_lines), std::mem::take(&mut self.spare_marks));
            // What the thread took of the shared bound: what it held ahead
            // goes back now, what its records weigh once they are written.
            let in_hand = {
                let mut p = b.records.lock();
                std::mem::swap(&mut p.records, &mut batch);
                if !p.marks.is_empty() {
                    std::mem::swap(&mut p.lines, &mut lines);
                    std::mem::swap(&mut p.marks, &mut marks);
                }
                let (bytes, held) = (std::mem::take(&mut p.bytes), std::mem::take(&mut p.held));
                self.shared.budget.give_back(held.saturating_sub(bytes));
                held.min(bytes)
            };
            if !marks.is_empty() {
                self.shared.producer_formatted.fetch_add(marks.len() as u64, Ordering::Relaxed);
            }
            self.shared.taken.fetch_add(batch.len() as u64, Ordering::Release);
            if batch.is_empty() {
                self.shared.budget.give_back(in_hand);
                self.spare = batch;
                (self.spare_lines, self.spare_marks) = (lines, marks);
                continue;
            }
            // Tasks whose groups came as data: rendered here, off the
            // callers' threads, before any exporter reads them.
            let rendered = dn_core::render_task_groups(&mut batch);
            if rendered > 0 {
                self.shared.writer_rendered.fetch_add(rendered as u64, Ordering::Relaxed);
            }
            let formatted = FormattedLines::new(&lines, &marks);
            for (at, chunk) in batch.chunks(MAX_BATCH).enumerate() {
                let lo = at * MAX_BATCH;
                for (i, e) in self.exporters.iter_mut().enumerate() {
                    if Some(i) == self.line_exporter && !formatted.is_empty() {
                        e.export_formatted(chunk, formatted.slice(lo, lo + chunk.len()));
                    } else {
                        e.export(chunk);
                    }
                }
            }
            n += batch.len();
            lines.clear();
            marks.clear();
            // A burst's text is not kept past a few batches' worth.
            lines.shrink_to(4 << 20);
            (self.spare_lines, self.spare_marks) = (lines, marks);
            // Dropped here, but each rendered buffer goes back for reuse
            // rather than being freed on this thread (see dn-core's `recycle`).
            dn_core::recycle_records(&mut batch);
            self.shared.budget.give_back(in_hand);
            self.spare = batch;
        }
        if n > 0 {
            self.publish_reports();
        }
        n
    }

    /// Sleeps `d` between rounds or gathering a burst's first spans, or
    /// until a producer has `wake_at` records waiting (or a flush, a
    /// shutdown).
    fn nap(&self, d: Duration, wake_at: usize) {
        let flags = &self.shared.writer_flags;
        flags.napping.store(wake_at, Ordering::Relaxed);
        std::thread::park_timeout(d);
        flags.napping.store(0, Ordering::Relaxed);
    }

    fn each_exporter(&mut self, f: impl Fn(&mut Box<dyn Exporter>)) {
        for e in self.exporters.iter_mut() {
            f(e);
        }
        self.publish_reports();
    }

    fn publish_reports(&self) {
        *self.shared.reports.lock() = self.exporters.iter().map(|e| e.report()).collect();
    }
}

pub(super) fn writer_loop(
    ctl: Receiver<Control>,
    exporters: Vec<Box<dyn Exporter>>,
    line_exporter: Option<usize>,
    shared: Arc<Shared>,
) {
    let mut w = Writer {
        rounds: 0,
        exporters,
        line_exporter,
        shared,
        spare: Vec::new(),
        spare_lines: String::new(),
        spare_marks: Vec::new(),
        trimmed: Instant::now(),
        pools_over: true,
        idle_sleep: WRITE_INTERVAL,
    };
    let mut load = WriterLoad::on_cores(w.shared.multi_core);
    loop {
        let started = Instant::now();
        let n = w.drain();
        if n > 0 {
            // Spans came: the next quiet spell starts again at the shortest
            // sleep, which trims what they left in the pools every 100 ms.
            w.idle_sleep = WRITE_INTERVAL;
        }
        if let Some(load) = &mut load {
            load.round(started, Instant::now(), n, &w.shared.writer_flags.renders);
        }
        match ctl.try_recv() {
            Ok(Control::Flush(ack)) => {
                w.drain();
                w.each_exporter(|e| e.flush());
                // What a busy writer gave back past the pools' idle bounds
                // is freed now, not held through a quiet spell.
                while dn_core::trim_recycled() {}
                let _ = ack.send(());
            }
            Ok(Control::Shutdown(ack)) => {
                w.drain();
                w.each_exporter(|e| e.shutdown());
                for b in w.shared.buffers.lock().iter() {
                    b.closed.store(true, Ordering::Relaxed);
                }
                let _ = ack.send(());
                return;
            }
            Err(TryRecvError::Disconnected) => {
                w.drain();
                w.each_exporter(|e| e.shutdown());
                return;
            }
            Err(TryRecvError::Empty) => {
                // Go again at once after a round that found many spans;
                // otherwise sleep until the interval ends or a producer's
                // buffer fills up, so the writer does not compete with
                // producers for their buffers: briefly while spans trickle
                // in, longer when none came. Idle is announced before one
                // more look at every buffer, so no span is missed: one
                // pushed before the writer locked its buffer in that look is
                // taken there, and the producer of one pushed after it sees
                // the announcement (the buffer's lock orders the two) and
                // wakes the writer. The idle sleep's end is a safety net.
                if n >= GO_AGAIN_AT {
                    continue;
                }
                if n > 0 {
                    w.nap(w.shared.active_nap, ACTIVE_WAKE_AT);
                    continue;
                }
                w.shared.writer_flags.idle.store(true, Ordering::Relaxed);
                if w.drain() == 0 {
                    // Idle: the pools go back towards their idle bounds, a
                    // step at most every TRIM_EVERY (10 steps of 256 items a
                    // second). Trimmed wholly at the first idle round, a
                    // loop the writer keeps up with had it freeing the
                    // loop's allocations between its spans; trimmed only
                    // when no span came for a whole interval, a trickle of
                    // spans would keep what a backlog left.
                    if w.trimmed.elapsed() >= TRIM_EVERY {
                        w.trimmed = Instant::now();
                        w.pools_over = dn_core::trim_recycled();
                    }
                    std::thread::park_timeout(w.idle_sleep);
                    // Once the pools are within their idle bounds, each
                    // quiet sleep is twice the last, up to IDLE_INTERVAL_MAX:
                    // a program waiting on a model for minutes no longer
                    // wakes the writer 50 times a second.
                    w.idle_sleep =
                        if w.pools_over { WRITE_INTERVAL } else { (w.idle_sleep * 2).min(IDLE_INTERVAL_MAX) };
                } else {
                    w.idle_sleep = WRITE_INTERVAL;
                }
                // A producer cleared the flag: a burst has begun. Gather
                // its first spans for a moment rather than writing the first
                // one alone (delivery would send it as a request of its own)
                // — unless a flush or shutdown is waiting: its wake-up may
                // have ended the sleep above together with the producer's
                // (a thread keeps one wake-up, not two), and it would wait
                // out this sleep too (1 ms of `shutdown` in about half the
                // processes that logged anything).
                if !w.shared.writer_flags.idle.swap(false, Ordering::Relaxed) && ctl.is_empty() {
                    w.nap(w.shared.gather, GO_AGAIN_AT);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_writer_takes_tasks_rendering_only_while_it_has_time_to_spare() {
        let renders = AtomicBool::new(false);
        let start = Instant::now();
        assert!(WriterLoad::on_cores(false).is_none(), "one core: the writer never renders for the producers");
        let mut load = WriterLoad::on_cores(true).unwrap();
        load.window = start;
        let ms = Duration::from_millis;
        // Rounds that found records count as busy, empty ones do not.
        // A window busy for 6 of 12 ms: not below RENDER_BELOW, still off.
        load.round(start, start + ms(6), 10, &renders);
        load.round(start + ms(6), start + ms(12), 0, &renders);
        assert!(!renders.load(Ordering::Relaxed));
        assert_eq!(load.window, start + ms(12), "a window ends once LOAD_WINDOW has passed");
        // Busy for 2 of 12 ms: on.
        load.round(start + ms(12), start + ms(14), 3, &renders);
        // Not a whole window yet: nothing changes.
        assert!(!renders.load(Ordering::Relaxed));
        load.round(start + ms(14), start + ms(24), 0, &renders);
        assert!(renders.load(Ordering::Relaxed));
        // Busy 9 of 12 ms while rendering (from 0.5 up to 0.8 it keeps on).
        load.round(start + ms(24), start + ms(33), 64, &renders);
        load.round(start + ms(33), start + ms(36), 0, &renders);
        assert!(renders.load(Ordering::Relaxed));
        // Busy 11 of 12 ms: off.
        load.round(start + ms(36), start + ms(47), 64, &renders);
        load.round(start + ms(47), start + ms(48), 0, &renders);
        assert!(!renders.load(Ordering::Relaxed));
        // Off again, busy 7 of 12 ms: not quiet enough to take it back.
        load.round(start + ms(48), start + ms(55), 64, &renders);
        load.round(start + ms(55), start + ms(60), 0, &renders);
        assert!(!renders.load(Ordering::Relaxed));
    }
}

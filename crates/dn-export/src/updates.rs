//! The run-update thread: every `update_interval` it asks the tracer for a
//! run-update span of each open run that logged something since its last
//! update (`docs/format.md`, "Run updates"), so long runs are visible while
//! they run. It sits beside the pipeline: what it produces are records.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dn_core::Tracer;

/// The thread that sends run updates every `update_interval`.
#[derive(Debug)]
pub struct RunUpdater {
    stop: std::sync::Arc<AtomicBool>,
    thread: std::thread::Thread,
}

impl RunUpdater {
    /// Starts the thread (`dn-updates`); `None` when `every` is zero or the
    /// thread cannot start.
    pub fn start(tracer: Tracer, every: Duration) -> Option<RunUpdater> {
        if every.is_zero() {
            return None;
        }
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("dn-updates".into())
            .spawn(move || {
                while !s2.load(Ordering::Relaxed) {
                    std::thread::park_timeout(every);
                    if s2.load(Ordering::Relaxed) {
                        break;
                    }
                    tracer.push_pending_updates();
                }
            })
            .ok()?;
        Some(RunUpdater { stop, thread: handle.thread().clone() })
    }
    /// Stops the thread (it ends at its next wake-up, at once).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.unpark();
    }
}

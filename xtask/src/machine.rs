//! What the machine is doing, measured beside each benchmark: the round
//! trip of one cache line between two threads (two busy threads on a
//! 2-core machine run on different cores).
//!
//! The 2-core machines this project runs on alternate, within seconds,
//! between a fast and a slow mode: a cache line goes from one core to the
//! other and back in 40–65 ns in the fast one and in 357–409 ns in the slow
//! one (2026-12-05, measured beside `dn_light_span_in_run`, which read
//! 60 and 108 ns in them). dn hands every span from the caller's thread to
//! its writer's, so its figures move with that mode far more than a
//! single-threaded program's; a benchmark's figures come with the round
//! trip measured before them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Round trips measured for one reading, after as many again unmeasured
/// (the other thread starting, the cores waking).
const ROUND_TRIPS: u64 = 200_000;

/// The mean round trip of a cache line between this thread and another,
/// in ns: about 20 ms in the fast mode, 160 ms in the slow.
pub fn core_round_trip_ns() -> f64 {
    let flag = Arc::new(AtomicU64::new(0));
    let other = flag.clone();
    let echo = std::thread::spawn(move || {
        for i in 0..2 * ROUND_TRIPS {
            while other.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            other.store(2 * i + 2, Ordering::Release);
        }
    });
    let mut start = Instant::now();
    for i in 0..2 * ROUND_TRIPS {
        if i == ROUND_TRIPS {
            start = Instant::now();
        }
        flag.store(2 * i + 1, Ordering::Release);
        while flag.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let elapsed = start.elapsed();
    let _ = echo.join();
    elapsed.as_nanos() as f64 / ROUND_TRIPS as f64
}

/// A round trip from this many ns on is the slow mode's: the two modes'
/// readings (40–90 ns and 357–481 ns so far) never came near it.
pub const SLOW_MODE_FROM_NS: f64 = 200.0;

/// The machine's mode, from a round trip of [`core_round_trip_ns`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The two cores close: a round trip under [`SLOW_MODE_FROM_NS`].
    Fast,
    /// The two cores far apart.
    Slow,
}

impl Mode {
    /// The mode a round trip of `ns` says.
    pub fn of(ns: f64) -> Mode {
        if ns < SLOW_MODE_FROM_NS { Mode::Fast } else { Mode::Slow }
    }
    /// How reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Fast => "fast",
            Mode::Slow => "slow",
        }
    }
}

/// The round trip as a benchmark's table shows it.
pub fn round_trip_text() -> String {
    round_trip_shown(core_round_trip_ns())
}

/// A round trip of `ns` as the benchmarks show it.
pub fn round_trip_shown(ns: f64) -> String {
    format!("{ns:.0} ns")
}

/// The load averages (1, 5 and 15 minutes) as `/proc/loadavg` gives them,
/// for a benchmark's header: what else the machine was doing as it began.
pub fn load_averages() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

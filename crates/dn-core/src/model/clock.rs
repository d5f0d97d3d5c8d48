//! The process's clock behind `Timestamp::now`, in nanoseconds since the
//! Unix epoch: the wall clock until the
//! CPU's counter is calibrated, the counter anchored to the wall clock from
//! then on (about 10 ns a reading instead of 35 ns for `SystemTime::now`).
//!
//! Calibration runs once, on a thread of its own (`dn-clock`)
//! that the first reading starts, so no span waits for it. On x86_64 with
//! an invariant TSC it spins nowhere: it reads the TSC beside the OS
//! monotonic clock, sleeps [`CALIBRATION_WINDOW`], and reads them again
//! (about 1 ppm against the wall clock over the next seconds, as quanta's
//! calibration, measured on this machine kind). quanta's own calibration,
//! used before, spins at least 500 rounds of 1 µs and up to 200 ms: on the
//! first span's thread that was the first span's cost (0.6 ms alone, 1.7 ms
//! beside a starting writer thread, against 0.4 ms for all of `configure`
//! and `shutdown`), and on a thread of its own a core taken from the
//! program and the writer (37 ms in a loaded sitting). Elsewhere quanta
//! still calibrates, on the `dn-clock` thread. Without a usable counter, or
//! where no thread can be started, the clock stays on the wall clock:
//! correct, about 25 ns a reading slower.
//!
//! On x86_64 the anchored clock follows the wall clock (fastrace's anchor
//! does not): the `dn-clock` thread stays, reads the pair again every
//! [`FOLLOW_EVERY`], and moves the anchor when the two are more than
//! [`FOLLOW_OFF`] apart — the wall clock was set, or the counter stopped or
//! started again from zero across a suspend, which left every later
//! timestamp hours off or stuck at the anchor. The rate stays: about
//! 0.1–0.5 ppm from the wall clock on this machine kind (three processes
//! over 60 s), so without a step the anchor moves every half hour or less
//! often, by [`FOLLOW_OFF`]. A move keeps the rate and changes one word,
//! the time the anchor gives counter zero: a reading is two plain loads,
//! as before.

#[cfg(not(target_arch = "x86_64"))]
use std::sync::OnceLock;
#[cfg(target_arch = "x86_64")]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// How long the TSC is compared with the monotonic clock: long enough that
/// the two reads' jitter (tens of nanoseconds) is about a part in a million.
pub const CALIBRATION_WINDOW: std::time::Duration = std::time::Duration::from_millis(2);

/// How often the `dn-clock` thread compares the anchored clock with the
/// wall clock (x86_64).
pub const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How far apart the anchored clock and the wall clock may be before the
/// anchor is moved to the wall clock (x86_64): a step of about this much in
/// the timestamps, within NTP's own accuracy.
pub const FOLLOW_OFF: std::time::Duration = std::time::Duration::from_millis(1);

/// The counter read beside the wall clock, and how to turn its ticks into
/// nanoseconds.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Anchor {
    tsc0: u64,
    unix0: u64,
    /// Nanoseconds a tick, times 2^[`SHIFT`].
    mult: u64,
}

/// The fixed point of [`Anchor::mult`]: a tick's nanoseconds to a few
/// parts in 10^12 (a day's ticks to a fraction of a microsecond; the
/// calibration itself is good to about a part in 10^6).
#[cfg(target_arch = "x86_64")]
const SHIFT: u32 = 40;

#[cfg(target_arch = "x86_64")]
impl Anchor {
    /// Calibrates and anchors, or `None` when the TSC is not a clock here
    /// (not invariant, or a calibration that makes no sense).
    fn new() -> Option<Anchor> {
        let cpuid = raw_cpuid::CpuId::new();
        let invariant = cpuid.get_advanced_power_mgmt_info().is_some_and(|a| a.has_invariant_tsc());
        let rdtscp = cpuid.get_extended_processor_and_feature_identifiers().is_some_and(|f| f.has_rdtscp());
        if !(invariant && rdtscp) {
            return None;
        }
        let base = std::time::Instant::now();
        let mono = || u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let (tsc_a, mono_a) = tight_pair(mono);
        std::thread::sleep(CALIBRATION_WINDOW);
        let (tsc_b, mono_b) = tight_pair(mono);
        let mult = Self::mult(tsc_b.checked_sub(tsc_a)?, mono_b.checked_sub(mono_a)?)?;
        // The TSC is read before the wall clock, so the anchored clock reads
        // at or a few tens of nanoseconds ahead of the wall clock at that
        // instant, never behind it: a span started on the wall clock before
        // the switch and ended on the TSC after it does not end before it
        // started.
        let (tsc0, unix0) = tight_pair(wall_nanos);
        Some(Anchor { tsc0, unix0, mult })
    }

    /// Nanoseconds a tick times 2^[`SHIFT`], from `ticks` counted over `nanos`;
    /// `None` for a rate outside 50 MHz to 50 GHz.
    fn mult(ticks: u64, nanos: u64) -> Option<u64> {
        let ghz = ticks as f64 / nanos.max(1) as f64;
        if !(0.05..=50.0).contains(&ghz) {
            return None;
        }
        u64::try_from((u128::from(nanos) << SHIFT) / u128::from(ticks)).ok()
    }

    /// The wall-clock time this anchor gives the counter reading `tsc`
    /// (one before the anchor's too: that many ticks earlier).
    fn at(&self, tsc: u64) -> u64 {
        let ticks = i128::from(tsc) - i128::from(self.tsc0);
        let nanos = i128::from(self.unix0) + ((ticks * i128::from(self.mult)) >> SHIFT);
        u64::try_from(nanos.max(0)).unwrap_or(u64::MAX)
    }

    /// This anchor moved to `(tsc, wall)`, a pair read together, when it
    /// reads more than [`FOLLOW_OFF`] away from the wall clock there;
    /// `None` while it keeps time. The rate stays.
    fn followed(&self, tsc: u64, wall: u64) -> Option<Anchor> {
        let off = u64::try_from(FOLLOW_OFF.as_nanos()).unwrap_or(u64::MAX);
        (self.at(tsc).abs_diff(wall) > off).then_some(Anchor { tsc0: tsc, unix0: wall, mult: self.mult })
    }
}

/// The anchor, which the `dn-clock` thread may move while spans read it,
/// kept as the rate and the time it gives counter zero (`mult` 0: none
/// yet). A move keeps the rate, so it changes one word: a reading is two
/// plain loads on x86_64, as `OnceLock::get` and the anchor's fields were.
#[cfg(target_arch = "x86_64")]
struct AnchorCell {
    mult: AtomicU64,
    zero: AtomicU64,
}

#[cfg(target_arch = "x86_64")]
impl AnchorCell {
    const fn new() -> AnchorCell {
        AnchorCell { mult: AtomicU64::new(0), zero: AtomicU64::new(0) }
    }

    #[inline]
    fn now(&self) -> Option<u64> {
        let mult = self.mult.load(Ordering::Acquire);
        if mult == 0 {
            return None;
        }
        let zero = self.zero.load(Ordering::Relaxed);
        let ticks = u128::from(read_tsc());
        Some(zero.wrapping_add(((ticks * u128::from(mult)) >> SHIFT) as u64))
    }

    /// The anchor readings use, at counter zero.
    fn get(&self) -> Option<Anchor> {
        let mult = self.mult.load(Ordering::Acquire);
        (mult != 0).then(|| Anchor { tsc0: 0, unix0: self.zero.load(Ordering::Relaxed), mult })
    }

    /// Sets the anchor (its zero first: a reading that sees the rate sees
    /// it). One thread sets it (`dn-clock`).
    fn set(&self, a: Anchor) {
        self.zero.store(a.at(0), Ordering::Relaxed);
        self.mult.store(a.mult, Ordering::Release);
    }
}

/// The TSC and `other()` read together: of five tries, the one whose two
/// TSC reads around `other()` came closest, with the TSC read before it (a
/// thread preempted between the reads would otherwise skew the pair by as
/// long as it waited).
#[cfg(target_arch = "x86_64")]
fn tight_pair(other: impl Fn() -> u64) -> (u64, u64) {
    let (mut spread, mut pair) = (u64::MAX, (0, 0));
    for _ in 0..5 {
        let before = read_tsc();
        let value = other();
        let after = read_tsc();
        if after.wrapping_sub(before) < spread {
            (spread, pair) = (after.wrapping_sub(before), (before, value));
        }
    }
    pair
}

#[cfg(target_arch = "x86_64")]
#[inline]
#[allow(unsafe_code)]
fn read_tsc() -> u64 {
    // SAFETY: `rdtsc` reads a counter; it has no preconditions on x86_64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Elsewhere: quanta's counter (calibrated by quanta, on the `dn-clock`
/// thread) anchored to the wall clock.
#[cfg(not(target_arch = "x86_64"))]
struct Anchor {
    clock: quanta::Clock,
    raw0: u64,
    unix0: u64,
}

#[cfg(not(target_arch = "x86_64"))]
impl Anchor {
    fn new() -> Option<Anchor> {
        let clock = quanta::Clock::new();
        let raw0 = clock.raw();
        let unix0 = wall_nanos();
        Some(Anchor { clock, raw0, unix0 })
    }

    #[inline]
    fn now(&self) -> u64 {
        self.unix0 + self.clock.delta_as_nanos(self.raw0, self.clock.raw())
    }
}

/// Elsewhere the anchor is set once.
#[cfg(not(target_arch = "x86_64"))]
struct AnchorCell(OnceLock<Anchor>);

#[cfg(not(target_arch = "x86_64"))]
impl AnchorCell {
    const fn new() -> AnchorCell {
        AnchorCell(OnceLock::new())
    }
    #[inline]
    fn now(&self) -> Option<u64> {
        self.0.get().map(Anchor::now)
    }
    fn set(&self, a: Anchor) {
        let _ = self.0.set(a);
    }
    #[cfg(test)]
    fn get(&self) -> Option<&Anchor> {
        self.0.get()
    }
}

/// The wall clock until `anchor` is set, the anchored counter from then on.
struct Clock {
    anchor: AnchorCell,
    calibrating: AtomicBool,
}

impl Clock {
    const fn new() -> Clock {
        Clock { anchor: AnchorCell::new(), calibrating: AtomicBool::new(false) }
    }

    #[inline]
    fn now(&'static self) -> u64 {
        match self.anchor.now() {
            Some(t) => t,
            None => self.now_uncalibrated(),
        }
    }

    /// The wall clock, having started the calibration if no reading had.
    #[cold]
    #[inline(never)]
    fn now_uncalibrated(&'static self) -> u64 {
        if !self.calibrating.swap(true, Ordering::Relaxed) {
            let spawned = std::thread::Builder::new()
                .name("dn-clock".into())
                .stack_size(64 * 1024)
                .spawn(move || self.calibrate());
            drop(spawned);
        }
        wall_nanos()
    }

    /// Calibrates and sets the anchor; on x86_64 then follows the wall
    /// clock for the rest of the process.
    fn calibrate(&self) {
        let Some(a) = Anchor::new() else { return };
        self.anchor.set(a);
        #[cfg(target_arch = "x86_64")]
        loop {
            std::thread::sleep(FOLLOW_EVERY);
            let Some(a) = self.anchor.get() else { return };
            let (tsc, wall) = tight_pair(wall_nanos);
            if let Some(moved) = a.followed(tsc, wall) {
                self.anchor.set(moved);
            }
        }
    }

    #[cfg(test)]
    fn calibrated(&self) -> bool {
        self.anchor.get().is_some()
    }
}

static CLOCK: Clock = Clock::new();

/// The current time (see the module docs).
#[inline]
pub(crate) fn now_nanos() -> u64 {
    CLOCK.now()
}

/// The OS wall clock (times before the epoch read as 0).
pub(crate) fn wall_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_stay_in_order_across_the_switch_to_the_calibrated_clock() {
        // A clock of its own, so that no other test has calibrated it.
        let clock: &'static Clock = Box::leak(Box::new(Clock::new()));
        let mut last = clock.now();
        assert!(clock.calibrating.load(Ordering::Relaxed), "the first reading starts the calibration");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let (mut on_wall_clock, mut on_counter) = (1u64, 0u64);
        while on_counter < 100_000 && std::time::Instant::now() < deadline {
            let was_calibrated = clock.calibrated();
            let t = clock.now();
            assert!(t >= last, "reading {} went back {} ns", on_wall_clock + on_counter, last - t);
            last = t;
            if was_calibrated { on_counter += 1 } else { on_wall_clock += 1 }
        }
        assert!(on_wall_clock > 1, "readings were taken on the wall clock while calibrating: {on_wall_clock}");
        assert_eq!(on_counter, 100_000, "the clock was calibrated within 30 s");
        let diff = clock.now().abs_diff(wall_nanos());
        assert!(diff < 50_000_000, "the calibrated clock is {diff} ns away from the system clock");
    }

    #[test]
    fn the_calibrated_clock_keeps_time_with_the_wall_clock() {
        // Over a quarter of a second, within 100 ppm (measured: about 1 ppm)
        // and the jitter of two wall-clock reads.
        let clock: &'static Clock = Box::leak(Box::new(Clock::new()));
        clock.now();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !clock.calibrated() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(clock.calibrated());
        let (c0, w0) = (clock.now(), wall_nanos());
        std::thread::sleep(std::time::Duration::from_millis(250));
        let (c1, w1) = (clock.now(), wall_nanos());
        let (counted, walled) = ((c1 - c0) as f64, (w1 - w0) as f64);
        assert!(
            (counted - walled).abs() < walled * 1e-4 + 200_000.0,
            "{counted} ns counted, {walled} ns on the wall clock"
        );
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn ticks_become_nanoseconds_at_the_calibrated_rate() {
        // 2.5961 GHz, as this machine kind's TSC: a day of ticks to the nanosecond.
        let mult = Anchor::mult(5_192_200, 2_000_000).unwrap();
        let a = Anchor { tsc0: 1_000, unix0: 1_795_521_015_000_000_000, mult };
        assert_eq!(a.at(1_000), a.unix0);
        assert_eq!(a.unix0 - a.at(0), 386, "1 000 ticks before the anchor, 385.2 ns before it (rounded down)");
        let day = 86_400_000_000_000u64;
        let ticks = (day as u128 * 25_961 / 10_000) as u64;
        let read = a.at(1_000 + ticks) - a.unix0;
        assert!(read.abs_diff(day) <= 1_000, "a day of ticks read as {read} ns");
        assert_eq!(Anchor::mult(10, 1_000_000), None, "10 Hz is no clock");
        assert_eq!(Anchor::mult(0, 1_000_000), None);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_anchor_follows_the_wall_clock_when_it_is_set_or_the_counter_restarts() {
        let mult = Anchor::mult(5_192_200, 2_000_000).unwrap(); // 2.5961 GHz
        let a = Anchor { tsc0: 1_000_000, unix0: 1_795_521_015_000_000_000, mult };
        let second = 2_596_100_000u64; // ticks
        let off = u64::try_from(FOLLOW_OFF.as_nanos()).unwrap();
        // Keeping time, or off by less than FOLLOW_OFF: left alone.
        let t = a.tsc0 + 60 * second;
        assert_eq!(a.followed(t, a.at(t)), None);
        assert_eq!(a.followed(t, a.at(t) + off / 2), None);
        assert_eq!(a.followed(t, a.at(t) - off / 2), None);
        // The wall clock set an hour on, or 10 s back: moved there, same rate.
        for wall in [a.at(t) + 3_600_000_000_000, a.at(t) - 10_000_000_000] {
            let moved = a.followed(t, wall).expect("moved");
            assert_eq!((moved.at(t), moved.mult), (wall, mult));
            // (The fixed-point rate reads a second of ticks to within 1 ns.)
            assert!((moved.at(t + second) - wall).abs_diff(1_000_000_000) <= 1, "a second on, a second later");
        }
        // The counter started again from zero (a suspend), eight hours on:
        // readings went back before the anchor until it moved.
        let wall = a.unix0 + 8 * 3_600_000_000_000;
        let restarted = a.tsc0 / 2;
        assert!(a.at(restarted) < a.unix0);
        let moved = a.followed(restarted, wall).expect("moved");
        assert!(moved.at(restarted + second).abs_diff(wall + 1_000_000_000) <= 1);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn readings_through_the_cell_are_the_anchor_s_own() {
        let mult = Anchor::mult(5_192_200, 2_000_000).unwrap();
        let a = Anchor { tsc0: 123_456_789_012, unix0: 1_795_521_015_000_000_000, mult };
        let cell = AnchorCell::new();
        assert_eq!(cell.get(), None);
        cell.set(a);
        let kept = cell.get().unwrap();
        for tsc in [a.tsc0, a.tsc0 + 1, a.tsc0 + 2_596_100_000 * 86_400, a.tsc0 / 2] {
            assert!(kept.at(tsc).abs_diff(a.at(tsc)) <= 1, "at {tsc}: {} against {}", kept.at(tsc), a.at(tsc));
        }
        let (before, now, after) = (kept.at(read_tsc()), cell.now().unwrap(), kept.at(read_tsc()));
        assert!(before <= now && now <= after);
    }
}

//! Timestamps: nanoseconds since the Unix epoch, formatted as the JSONL expects.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC wall-clock instant with nanosecond resolution.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The current time: the wall clock read once, when the CPU's counter
    /// has been calibrated, plus the time elapsed since on that counter
    /// (about 10 ns a read instead of 35 ns for `SystemTime::now`). The
    /// first reading starts the calibration on a thread of its own
    /// (`dn-clock`, a few milliseconds, sleeping); until it is done,
    /// readings come from the wall clock (see `model::clock`). On x86_64
    /// it follows the wall clock: checked every second, the anchor moves
    /// when the two are over 1 ms apart (the wall clock was set; the
    /// counter stopped across a suspend).
    #[inline]
    pub fn now() -> Self {
        Self(crate::model::clock::now_nanos())
    }

    /// The current wall-clock time from the OS (slower; for tests and anchors).
    pub fn now_system() -> Self {
        Self(crate::model::clock::wall_nanos())
    }
    /// From nanoseconds since the epoch.
    pub const fn from_nanos(n: u64) -> Self {
        Self(n)
    }
    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// As a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.0)
    }
    /// From a `SystemTime` (times before the epoch clamp to it).
    pub fn from_system_time(t: SystemTime) -> Self {
        Self(t.duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0))
    }
    /// Time elapsed from `earlier` to `self` (zero if negative).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Appends the ISO-8601 form with microseconds and `+00:00`,
    /// e.g. `2026-11-24T11:50:15.469723+00:00` (always 32 characters: a
    /// `u64` of nanoseconds reaches the year 2554 at most). The date and time of day
    /// are rendered again only when the second differs from the last one
    /// this thread wrote: a span's start and end, the writer's consecutive
    /// lines and a metric series' points mostly share it.
    pub fn write_iso(self, out: &mut String) {
        let cached = LAST_ISO.try_with(|last| {
            let mut w = last.get();
            if w.write(self, out) {
                last.set(w);
            }
        });
        if cached.is_err() {
            IsoWriter::new().write(self, out); // a thread being torn down
        }
    }

    /// The ISO-8601 form as a new string.
    pub fn to_iso(self) -> String {
        let mut s = String::with_capacity(32);
        self.write_iso(&mut s);
        s
    }
}

thread_local! {
    /// The writer behind [`Timestamp::write_iso`] on this thread.
    static LAST_ISO: std::cell::Cell<IsoWriter> = const { std::cell::Cell::new(IsoWriter::new()) };
}

/// Runs `f` with this thread's [`IsoWriter`] (the second it last rendered)
/// and keeps the one `f` leaves: a metric series' timestamps take it once
/// rather than once a point, and a series of one point still finds its
/// second rendered (a writer of its own rendered the date again for every
/// task's metric).
pub(crate) fn with_iso_writer<R>(f: impl FnOnce(&mut IsoWriter) -> R) -> R {
    // A thread being torn down has none: a new one, not kept.
    let mut w = LAST_ISO.try_with(std::cell::Cell::get).unwrap_or(IsoWriter::new());
    let r = f(&mut w);
    let _ = LAST_ISO.try_with(|last| last.set(w));
    r
}

/// Writes timestamps in the ISO-8601 form of [`Timestamp::write_iso`],
/// rendering the date and time of day again only when the second changes:
/// a metric series' timestamps mostly share their second, and rendering
/// each whole was a third of a point's rendering. One per thread, behind
/// `write_iso` (a `Cell` of 28 bytes: no borrow flag, nothing allocated).
#[derive(Clone, Copy, Debug)]
pub(crate) struct IsoWriter {
    secs: u64,
    /// `YYYY-MM-DDTHH:MM:SS.` of `secs`.
    second: [u8; 20],
}

/// `v`'s last `N` decimal digits, zero-padded.
fn digits<const N: usize>(mut v: u64) -> [u8; N] {
    let mut b = [b'0'; N];
    for i in (0..N).rev() {
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    b
}

/// `"00"` to `"99"`, two bytes each.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// `v`'s last 6 decimal digits, zero-padded: three pairs from [`PAIRS`]
/// (about a third of [`digits`]' work, which a metric point's timestamp
/// paid for its microseconds).
#[inline]
fn six_digits(v: u64) -> [u8; 6] {
    let v = (v % 1_000_000) as usize;
    let (a, b, c) = (v / 10_000, v / 100 % 100, v % 100);
    [PAIRS[2 * a], PAIRS[2 * a + 1], PAIRS[2 * b], PAIRS[2 * b + 1], PAIRS[2 * c], PAIRS[2 * c + 1]]
}

/// The length of [`Timestamp::write_iso`]'s text.
pub(crate) const ISO_LEN: usize = "2026-11-24T11:50:15.469723+00:00".len();

impl IsoWriter {
    /// A writer with nothing rendered yet.
    pub(crate) const fn new() -> Self {
        IsoWriter { secs: u64::MAX, second: *b"0000-00-00T00:00:00." }
    }

    /// Appends `ts` in the ISO-8601 form with microseconds and `+00:00`;
    /// true when it rendered a new second (to be kept for the next call).
    pub(crate) fn write(&mut self, ts: Timestamp, out: &mut String) -> bool {
        let secs = ts.0 / 1_000_000_000;
        let micros = (ts.0 % 1_000_000_000) / 1_000;
        let renewed = if secs != self.secs {
            let days = (secs / 86_400) as i64;
            let sod = secs % 86_400;
            let (y, m, d) = civil_from_days(days);
            if !(0..=9999).contains(&y) {
                let _ = write!(
                    out,
                    "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
                    sod / 3600,
                    (sod / 60) % 60,
                    sod % 60
                );
                return false;
            }
            // Fixed-width digits written directly: `write!` was a
            // measurable share of every span end and metric point.
            let mut t = *b"0000-00-00T00:00:00.";
            t[0..4].copy_from_slice(&digits::<4>(y as u64));
            t[5..7].copy_from_slice(&digits::<2>(u64::from(m)));
            t[8..10].copy_from_slice(&digits::<2>(u64::from(d)));
            t[11..13].copy_from_slice(&digits::<2>(sod / 3600));
            t[14..16].copy_from_slice(&digits::<2>((sod / 60) % 60));
            t[17..19].copy_from_slice(&digits::<2>(sod % 60));
            self.second = t;
            self.secs = secs;
            true
        } else {
            false
        };
        // The whole stamp assembled on the stack and appended at once: one
        // copy, where pushing its parts was a third of formatting a light
        // span's line.
        let mut b = *b"0000-00-00T00:00:00.000000+00:00";
        b[..20].copy_from_slice(&self.second);
        b[20..26].copy_from_slice(&six_digits(micros));
        debug_assert!(b.is_ascii());
        // SAFETY: every byte of `b` is ASCII: the template's, `PAIRS`'
        // (decimal digits), or `self.second`'s, which holds only the
        // template's and `digits`' (`b'0'` plus a remainder of 10; above
        // and in `new`).
        // Checking them here (`json::ascii_str`) was about 68 instructions,
        // a tenth of rendering a metric point.
        #[allow(unsafe_code)]
        out.push_str(unsafe { std::str::from_utf8_unchecked(&b) });
        renewed
    }
}

impl Timestamp {
    /// Parses the form written by [`Timestamp::write_iso`]: ISO 8601 with
    /// optional fraction and a `Z` or `±HH:MM` offset (none means UTC).
    pub fn parse_iso(s: &str) -> Option<Timestamp> {
        let b = s.as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let mut nanos = 0i64;
        let rest = &s[19..];
        let tz = if let Some(frac) = rest.strip_prefix('.') {
            let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
            let mut padded = digits.clone();
            padded.truncate(9);
            while padded.len() < 9 {
                padded.push('0');
            }
            nanos = padded.parse().ok()?;
            &frac[digits.len()..]
        } else {
            rest
        };
        let offset = match tz {
            "" | "Z" | "z" => 0,
            _ => {
                let t = tz.as_bytes();
                if t.len() != 6 || !(t[0] == b'+' || t[0] == b'-') || t[3] != b':' {
                    return None;
                }
                let (oh, om) = (tz.get(1..3)?.parse::<i64>().ok()?, tz.get(4..6)?.parse::<i64>().ok()?);
                let o = oh * 3600 + om * 60;
                if t[0] == b'-' { -o } else { o }
            }
        };
        let days = days_from_civil(y, mo as u32, d as u32);
        let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset;
        // Before 1970 or past what 64-bit nanoseconds hold (2554): not a
        // time dn reads (a damaged line's year, `9026`, once overflowed here).
        let secs = u64::try_from(secs).ok()?;
        secs.checked_mul(1_000_000_000)?.checked_add(nanos as u64).map(Timestamp)
    }
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The microseconds' digits from pairs are `digits`' for every value of
    /// a second, and for values past it (their last six digits).
    #[test]
    fn six_digits_are_the_last_six_decimal_digits() {
        for v in (0..1_000_000u64).chain([1_000_000, 1_234_567_891, u64::MAX]) {
            assert_eq!(six_digits(v), digits::<6>(v), "{v}");
        }
    }

    /// The writer a series takes once (`with_iso_writer`) writes what
    /// `write_iso` writes, whatever second it last rendered, and the text
    /// parses back (by `parse_iso`, code of its own) to the time to the
    /// microsecond: across second, day and year boundaries, to the last
    /// microsecond a `u64` of nanoseconds holds.
    #[test]
    fn the_series_iso_writer_writes_what_write_iso_writes_and_parses_back() {
        let mut iso = IsoWriter::new();
        // The epoch, a second's end, 2025-12-05's last microsecond, 2025's
        // last half microsecond, and the end of the range.
        let starts = [0, 999_999_999, 1_764_979_199_999_999_000, 1_767_225_599_999_999_500, u64::MAX - 5_000_000];
        for start in starts {
            for step in [0u64, 1, 999, 1_000, 250_000_000, 1_000_000_000] {
                for k in 0..8u64 {
                    let ts = Timestamp(start.saturating_add(k.saturating_mul(step)));
                    let (mut got, mut want) = (String::new(), String::new());
                    with_iso_writer(|w| w.write(ts, &mut got));
                    iso.write(ts, &mut want);
                    assert_eq!(got, want, "{}", ts.0);
                    assert_eq!(got.len(), ISO_LEN);
                    assert_eq!(Timestamp::parse_iso(&got), Some(Timestamp(ts.0 / 1_000 * 1_000)), "{got}");
                }
            }
        }
    }

    #[test]
    fn times_past_what_nanoseconds_hold_or_before_1970_do_not_parse() {
        assert_eq!(
            Timestamp::parse_iso("2554-07-21T23:34:33.709551+00:00").map(Timestamp::as_nanos),
            Some(18_446_744_073_709_551_000)
        );
        for t in [
            "2554-07-21T23:34:34+00:00",
            "9026-12-01T10:00:00Z",
            "9999-12-31T23:59:59.999999+00:00",
            "1969-12-31T23:59:59Z",
            "-001-01-01T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse_iso(t), None, "{t}");
        }
    }

    #[test]
    fn the_tsc_clock_tracks_the_system_clock() {
        let a = Timestamp::now();
        let s = Timestamp::now_system();
        let diff = a.as_nanos().abs_diff(s.as_nanos());
        assert!(diff < 50_000_000, "TSC clock is {diff} ns away from the system clock");
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = Timestamp::now();
        let d = b.since(a).as_millis();
        assert!((15..500).contains(&d), "20 ms sleep measured as {d} ms");
    }

    #[test]
    fn iso_format_matches_python_isoformat() {
        // 2026-11-24T11:50:15.469723+00:00
        let t = Timestamp::from_nanos(1_795_521_015_469_723_999);
        assert_eq!(t.to_iso(), "2026-11-24T11:50:15.469723+00:00");
        assert_eq!(Timestamp::from_nanos(0).to_iso(), "1970-01-01T00:00:00.000000+00:00");
        for t in [0u64, 1_795_521_015_469_723_000, 1_709_164_800_000_000_000, 951_782_400_123_456_000] {
            let ts = Timestamp::from_nanos(t);
            assert_eq!(Timestamp::parse_iso(&ts.to_iso()), Some(ts));
        }
        assert_eq!(Timestamp::parse_iso("garbage"), None);
        // Offsets (storage credentials may carry any): the same instant.
        let utc = Timestamp::parse_iso("2026-11-24T11:00:00Z").unwrap();
        assert_eq!(Timestamp::parse_iso("2026-11-24T12:30:00+01:30"), Some(utc));
        assert_eq!(Timestamp::parse_iso("2026-11-24T06:00:00.000-05:00"), Some(utc));
        assert_eq!(Timestamp::parse_iso("2026-11-24T11:00:00+0100"), None);
        // leap day
        assert_eq!(Timestamp::from_nanos(1_709_164_800_000_000_000).to_iso(), "2024-02-29T00:00:00.000000+00:00");
    }

    #[test]
    fn an_iso_writer_reusing_its_second_writes_what_a_fresh_one_does() {
        // Within a second, across seconds, days and years, backwards, the
        // last instant a u64 holds (year 2554), then back.
        let base = 1_795_521_015_000_000_000u64;
        let mut times: Vec<u64> = (0..2000).map(|i| base + i * 999_999).collect();
        times.extend([base - 1, 1_767_225_599_999_999_999, 1_767_225_600_000_000_000, 0, 999]);
        times.extend([u64::MAX, base, base + 1_000]);
        let mut w = IsoWriter::new();
        let (mut reused, mut fresh) = (String::new(), String::new());
        for &t in &times {
            let ts = Timestamp::from_nanos(t);
            reused.clear();
            w.write(ts, &mut reused);
            fresh.clear();
            IsoWriter::new().write(ts, &mut fresh);
            assert_eq!(reused, fresh, "{t}");
            assert_eq!(reused, ts.to_iso(), "{t} (this thread's writer)");
            assert_eq!(Timestamp::parse_iso(&reused).map(|p| p.as_nanos() / 1000), Some(t / 1000), "{reused}");
        }
        assert_eq!(Timestamp::from_nanos(1_767_225_600_000_000_000).to_iso(), "2026-01-01T00:00:00.000000+00:00");
    }
}

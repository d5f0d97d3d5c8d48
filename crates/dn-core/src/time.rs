//! Timestamps: nanoseconds since the Unix epoch, formatted as the JSONL expects.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC wall-clock instant with nanosecond resolution.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Self(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0))
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
    /// e.g. `2026-11-24T11:50:15.469723+00:00`.
    pub fn write_iso(self, out: &mut String) {
        let secs = self.0 / 1_000_000_000;
        let micros = (self.0 % 1_000_000_000) / 1_000;
        let days = (secs / 86_400) as i64;
        let sod = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let _ = write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        );
    }

    /// The ISO-8601 form as a new string.
    pub fn to_iso(self) -> String {
        let mut s = String::with_capacity(32);
        self.write_iso(&mut s);
        s
    }
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

    #[test]
    fn iso_format_matches_python_isoformat() {
        // 2026-11-24T11:50:15.469723+00:00
        let t = Timestamp::from_nanos(1_795_521_015_469_723_999);
        assert_eq!(t.to_iso(), "2026-11-24T11:50:15.469723+00:00");
        assert_eq!(Timestamp::from_nanos(0).to_iso(), "1970-01-01T00:00:00.000000+00:00");
        // leap day
        assert_eq!(Timestamp::from_nanos(1_709_164_800_000_000_000).to_iso(), "2024-02-29T00:00:00.000000+00:00");
    }
}

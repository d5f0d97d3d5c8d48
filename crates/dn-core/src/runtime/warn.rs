//! The one rate limit for the SDK's own warnings, so a hot loop with a bad
//! call cannot flood the log.

use std::sync::atomic::{AtomicU64, Ordering};

/// At most `max` warnings through this limit, then one more saying the rest
/// are suppressed; every call is counted.
///
/// ```
/// # use dn_core as dn;
/// static LIMIT: dn::WarnLimit = dn::WarnLimit::new(2);
/// for _ in 0..5 {
///     LIMIT.warn(format_args!("something is off"));
/// }
/// assert_eq!(LIMIT.count(), 5);
/// ```
#[derive(Debug)]
pub struct WarnLimit {
    count: AtomicU64,
    max: u64,
    /// Whether the message past the limit says the rest are suppressed.
    say_suppressed: bool,
}

impl WarnLimit {
    /// A limit of `max` warnings.
    pub const fn new(max: u64) -> WarnLimit {
        WarnLimit { count: AtomicU64::new(0), max, say_suppressed: true }
    }
    /// A warning said once and never again.
    pub const fn once() -> WarnLimit {
        WarnLimit { count: AtomicU64::new(0), max: 1, say_suppressed: false }
    }
    /// Logs `msg` at WARN (target `dn`) unless the limit is reached; returns
    /// whether it was logged.
    pub fn warn(&self, msg: std::fmt::Arguments<'_>) -> bool {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        if n < self.max {
            tracing::warn!(target: "dn", "{msg}");
            true
        } else {
            if n == self.max && self.say_suppressed {
                tracing::warn!(target: "dn", "{msg} (further warnings of this kind suppressed)");
            }
            false
        }
    }
    /// How many warnings were asked for (logged or not).
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Default for WarnLimit {
    /// 20 warnings.
    fn default() -> Self {
        WarnLimit::new(20)
    }
}

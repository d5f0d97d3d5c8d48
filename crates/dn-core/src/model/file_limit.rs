//! The process's file-size limit (`RLIMIT_FSIZE`, `ulimit -f`), which every
//! writer of dn's local files keeps under.
//!
//! A write that reaches the limit is cut short by the kernel, and the next
//! one sends `SIGXFSZ`, whose default action ends the process: a batch
//! scheduler's `ulimit -f` would have the telemetry kill its host once a
//! run's file grew that large. (CPython ignores the signal at start-up, so
//! the Python SDK sees an error there; a Rust program does not.) So dn's
//! writers never write at or past a limit that is set: they count what does
//! not fit as failed, with [`limit_reached`]'s error.

use std::sync::atomic::{AtomicU64, Ordering};

/// The limit as last read: `u64::MAX` none, [`UNREAD`] not read yet.
static LIMIT: AtomicU64 = AtomicU64::new(UNREAD);
const UNREAD: u64 = u64::MAX - 1;

/// The file-size limit in bytes (`None`: none, nearly always), as last
/// read, or read again with `fresh` (one `getrlimit`). Writers read it
/// afresh where the last reading would stop them, and after a write that
/// fell short, so a limit raised or set while the program runs is seen.
pub fn file_size_limit(fresh: bool) -> Option<u64> {
    let mut v = LIMIT.load(Ordering::Relaxed);
    if fresh || v == UNREAD {
        v = read();
        LIMIT.store(v, Ordering::Relaxed);
    }
    (v != u64::MAX).then_some(v)
}

/// Whether `bytes` more after `size` bytes would reach the limit; read
/// afresh before saying yes.
pub fn would_reach_limit(size: u64, bytes: u64) -> Option<u64> {
    let over = |l: u64| size.saturating_add(bytes) > l || size >= l;
    file_size_limit(false).filter(|l| over(*l)).and_then(|_| file_size_limit(true).filter(|l| over(*l)))
}

/// The error of a write refused at the limit.
pub fn limit_reached(limit: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!(
            "the file-size limit (RLIMIT_FSIZE, ulimit -f) of {limit} bytes is reached; writing past it would end the process"
        ),
    )
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn read() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: a valid pointer to an `rlimit` of ours.
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) } != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
        return u64::MAX;
    }
    #[allow(clippy::useless_conversion)] // `rlim_t` is not `u64` on every unix
    u64::try_from(lim.rlim_cur).map_or(u64::MAX, |v| v.min(UNREAD - 1))
}

#[cfg(not(unix))]
fn read() -> u64 {
    u64::MAX
}

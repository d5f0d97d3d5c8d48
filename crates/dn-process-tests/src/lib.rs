//! Programs the durability tests run as child processes: they configure
//! `dn` from `DREADNODE_LOCAL_DIR` and end in ways a test cannot survive
//! in-process (a panic in `main`, returning without `shutdown`, a write
//! past a file-size limit).

/// Resident and peak memory of this process in KiB, from `/proc/self/status`.
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Sets this process's soft file-size limit (`RLIMIT_FSIZE`; `None`: as
/// high as the hard limit). `SIGXFSZ` keeps its default action: a write
/// past the limit ends the process, which is what the full-disk tests
/// check dn never does.
pub fn set_file_size_limit(bytes: Option<u64>) {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: both calls get a valid pointer to an `rlimit` of ours.
    #[allow(unsafe_code)]
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
        lim.rlim_cur = bytes.map_or(lim.rlim_max, |b| b.min(lim.rlim_max));
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

/// A file-size limit on this process until dropped — also when a test
/// panics, so that the test harness can still print its report to a log
/// file larger than the limit (CI's is), which a write past the limit
/// would end the process on.
#[derive(Debug)]
pub struct FileSizeLimit(());

impl FileSizeLimit {
    /// Sets the limit to `bytes`.
    pub fn set(bytes: u64) -> FileSizeLimit {
        set_file_size_limit(Some(bytes));
        FileSizeLimit(())
    }
}

impl Drop for FileSizeLimit {
    fn drop(&mut self) {
        set_file_size_limit(None);
    }
}

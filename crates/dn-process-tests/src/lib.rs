//! Programs the durability tests run as child processes: they configure
//! `dn` from `DREADNODE_LOCAL_DIR` and end in ways a test cannot survive
//! in-process (a panic in `main`, returning without `shutdown`).

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

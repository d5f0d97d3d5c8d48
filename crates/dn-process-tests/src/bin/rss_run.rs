//! A run holding 10 000 finished task spans (a distinct 5 120-character
//! input, a metric and an output each): prints, as JSON, the heap bytes the run holds — counted by a
//! counting allocator, live bytes after the tasks minus live bytes before
//! them — beside the bytes of rendered buffers kept for reuse at that moment
//! (`dn::core::recycled_bytes`, a bounded pool, not data of any task) and
//! of the exporters' line buffers (`DestinationReport::buffer_bytes`,
//! bounded, sized by the largest batch so far), and the process RSS for information. Bytes held do not depend on
//! how loaded the machine is; RSS at one moment does (the writer's backlog,
//! allocator caches). It flushes every 1 000 tasks so the figure is what the
//! run holds, not how far the writer thread fell behind.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE: AtomicI64 = AtomicI64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter is only arithmetic on the sizes it was given.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as i64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as i64 - layout.size() as i64, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Bytes the exporters keep between batches for reuse (the JSONL writer's
/// line buffers grow with the largest batch it was handed, which depends on
/// how far it fell behind, so on the machine's load).
fn writer_buffer_bytes(report: &dn::ExportReport) -> i64 {
    report.exporters.iter().map(|e| e.buffer_bytes as i64).sum()
}

fn main() {
    dn::configure(dn::Config::new()).expect("configure");
    let run = dn::run("rss-run").enter();
    dn::flush();
    let before = LIVE.load(Ordering::Relaxed);
    let n: usize = std::env::var("DN_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let mut payload = "x".repeat(5120);
    let mut held_half = 0;
    let mut pooled_half = 0;
    let mut buffers_half = 0;
    for i in 0..n {
        if i == n / 2 {
            buffers_half = writer_buffer_bytes(&dn::flush());
            held_half = LIVE.load(Ordering::Relaxed) - before;
            pooled_half = dn::core::recycled_bytes();
        }
        let digits = i.to_string();
        payload.replace_range(..digits.len(), &digits);
        dn::task_span("task").run(|t| {
            t.log_input("i", payload.as_str());
            t.log_metric("score", 0.5);
            t.log_output("o", "ok");
        });
        if i % 1000 == 999 {
            dn::flush();
        }
    }
    let buffers = writer_buffer_bytes(&dn::flush());
    let held = LIVE.load(Ordering::Relaxed) - before;
    let pooled = dn::core::recycled_bytes();
    let (rss, peak) = dn_process_tests::rss_kib();
    println!(
        "{}",
        serde_json::json!({"held_bytes": held, "held_half_bytes": held_half,
            "pooled_bytes": pooled, "pooled_half_bytes": pooled_half,
            "writer_buffer_bytes": buffers, "writer_buffer_half_bytes": buffers_half, "rss_kib": rss, "peak_kib": peak, "tasks": run.tasks().len()})
    );
    drop(run);
    dn::shutdown();
}

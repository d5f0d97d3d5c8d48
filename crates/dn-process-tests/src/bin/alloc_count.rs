//! Allocations the caller's thread makes per span, counted by a counting
//! allocator that counts only the thread that sets its flag: the task
//! span (`log_input`, `log_metric` with a step, `log_output`) in a run, and a
//! `#[dn::task] async fn` awaited under tokio in a run. Ten rounds of 1 000
//! each; every round ends with a flush, so the writer has given the rendered
//! buffers back before the next round and the count does not depend on how
//! far it fell behind. The first round is left out (the pool fills). Prints,
//! as JSON, the allocations per span of each, and the lines on disk.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// The system allocator, counting allocations (and reallocations) made on
/// threads whose `COUNTING` flag is set.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// counter reads a const-initialised thread-local flag (no allocation) and
// adds to an atomic.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const ROUNDS: u64 = 10;
const PER_ROUND: u64 = 1_000;

#[dn::task]
async fn f(x: i64) -> i64 {
    x * 2
}

/// Allocations per span over rounds 2.. of `round(first_index)`.
fn per_span(mut round: impl FnMut(u64)) -> f64 {
    let mut counted = 0;
    for r in 0..ROUNDS {
        COUNTING.with(|c| c.set(r > 0));
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        round(r * PER_ROUND);
        counted += ALLOCATIONS.load(Ordering::Relaxed) - before;
        COUNTING.with(|c| c.set(false));
        dn::flush();
    }
    counted as f64 / ((ROUNDS - 1) * PER_ROUND) as f64
}

fn main() {
    dn::configure(dn::Config::new()).expect("configure");
    let task = dn::run("alloc-task").run(|_| {
        per_span(|from| {
            for i in from..from + PER_ROUND {
                dn::task_span("t").run(|t| {
                    t.log_input("x", i);
                    t.log_metric("m", dn::Metric::new(i as f64 * 0.5).step(i));
                    t.log_output("y", i * 2);
                });
            }
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let run = dn::run("alloc-decorated").start();
    let decorated = rt.block_on(run.clone().instrument(async {
        let mut total = 0;
        let mut rounds = Vec::new();
        for r in 0..ROUNDS {
            COUNTING.with(|c| c.set(r > 0));
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            for i in 0..PER_ROUND as i64 {
                total += f(i).await;
            }
            rounds.push(ALLOCATIONS.load(Ordering::Relaxed) - before);
            COUNTING.with(|c| c.set(false));
            dn::flush();
        }
        std::hint::black_box(total);
        rounds[1..].iter().sum::<u64>() as f64 / ((ROUNDS - 1) * PER_ROUND) as f64
    }));
    run.end();
    let report = dn::shutdown();
    println!(
        "{}",
        serde_json::json!({
            "task_allocations_per_span": task,
            "decorated_allocations_per_call": decorated,
            "spans_per_kind": ROUNDS * PER_ROUND,
            "dropped": report.dropped_queue_full + report.dropped_after_shutdown,
        })
    );
}

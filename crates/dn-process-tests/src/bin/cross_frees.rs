//! Which thread frees what the caller's thread allocated (issue #13: "the
//! writer never frees the caller's allocations"): `cross_frees [ROUND]`.
//! Every allocation carries a header with the thread that made it, set
//! only while the main thread — the caller — runs a workload's loop; every
//! free of such an allocation on another thread while the loop runs is
//! counted against that thread (a free after it, in a flush's trim of the
//! pools or at exit, is off the hot path). Each workload of
//! `cargo xtask bench workloads` (issue #13's loop bodies) runs 20 000
//! times, in rounds of ROUND spans (1 000 unless given), each round
//! flushed; the counts are read before shutdown. Prints, as JSON, each
//! workload's frees on other threads by thread name and by block size, and
//! its allocations on the caller.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The system allocator, each block behind a header holding the thread id
/// of a counted allocation (0 otherwise).
struct Tagging;

/// Counts by key in fixed slots, each claimed by a compare-and-swap:
/// nothing allocated, so the allocator itself can count.
struct Tally {
    /// Each slot's key plus one (0: a free slot).
    keys: [AtomicU64; SLOTS],
    counts: [AtomicU64; SLOTS],
}

const SLOTS: usize = 64;

impl Tally {
    const fn new() -> Tally {
        Tally { keys: [const { AtomicU64::new(0) }; SLOTS], counts: [const { AtomicU64::new(0) }; SLOTS] }
    }
    /// Counts one for `key` (nothing, once every slot is another key's).
    fn add(&self, key: u64) {
        let key = key + 1;
        for (k, n) in self.keys.iter().zip(&self.counts) {
            match k.compare_exchange(0, key, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => {}
                Err(held) if held == key => {}
                Err(_) => continue,
            }
            n.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    /// The counts so far, by key.
    fn now(&self) -> BTreeMap<u64, u64> {
        self.keys
            .iter()
            .zip(&self.counts)
            .filter_map(|(k, n)| {
                let k = k.load(Ordering::Relaxed);
                (k != 0).then(|| (k - 1, n.load(Ordering::Relaxed)))
            })
            .collect()
    }
    /// The counts since `before` (a [`Tally::now`]), those above 0.
    fn since(&self, before: &BTreeMap<u64, u64>) -> BTreeMap<u64, u64> {
        self.now()
            .into_iter()
            .map(|(k, n)| (k, n - before.get(&k).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Frees of counted allocations on other threads, by the freeing thread's
/// id, and by block size.
static BY_THREAD: Tally = Tally::new();
static BY_SIZE: Tally = Tally::new();
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Whether the caller's loop runs: frees are counted only then (a free
/// after it, in a flush's trim of the pools or at exit, is off the hot
/// path).
static HOT: AtomicBool = AtomicBool::new(false);
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static TID: Cell<u32> = const { Cell::new(0) };
}

fn tid() -> u32 {
    TID.try_with(|t| {
        if t.get() == 0 {
            // SAFETY: gettid has no preconditions.
            #[allow(unsafe_code)]
            t.set(unsafe { libc::gettid() } as u32);
        }
        t.get()
    })
    .unwrap_or_else(|_| {
        // SAFETY: as above.
        #[allow(unsafe_code)]
        unsafe {
            libc::gettid() as u32
        }
    })
}

/// The header's size: the alignment, at least 16, so the block stays aligned.
fn offset(layout: Layout) -> usize {
    layout.align().max(16)
}

// SAFETY: each block is the system allocator's, `offset` bytes larger, with
// the caller's pointer that many bytes in (a multiple of the alignment, so
// aligned); the tag is the 4 bytes before the caller's pointer, inside the
// header. Dealloc and realloc undo the offset with the same layout.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Tagging {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let off = offset(layout);
        let Ok(outer) = Layout::from_size_align(layout.size() + off, layout.align()) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `outer` has a non-zero size.
        let base = unsafe { System.alloc(outer) };
        if base.is_null() {
            return base;
        }
        let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
        if counting {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        let tag = if counting { tid() } else { 0 };
        // SAFETY: `base + off` is within the block; the tag's 4 bytes end there.
        unsafe {
            let user = base.add(off);
            user.sub(4).cast::<u32>().write_unaligned(tag);
            user
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let off = offset(layout);
        // SAFETY: `ptr` came from `alloc` or `realloc` with `layout`.
        unsafe {
            let tag = ptr.sub(4).cast::<u32>().read_unaligned();
            if tag != 0 && HOT.load(Ordering::Relaxed) {
                let by = tid();
                if by != tag {
                    BY_THREAD.add(u64::from(by));
                    BY_SIZE.add(layout.size() as u64);
                }
            }
            System.dealloc(ptr.sub(off), Layout::from_size_align_unchecked(layout.size() + off, layout.align()));
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let off = offset(layout);
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the block moves whole, header and tag with it (the tag
        // stays that of the allocation it was made as).
        unsafe {
            let base = System.realloc(
                ptr.sub(off),
                Layout::from_size_align_unchecked(layout.size() + off, layout.align()),
                new_size + off,
            );
            if base.is_null() { base } else { base.add(off) }
        }
    }
}

#[global_allocator]
static ALLOC: Tagging = Tagging;

const N: u64 = 20_000;

/// The task workload's body (issue #13's).
fn task(i: u64) {
    dn::task_span("t").run(|t| {
        t.log_input("x", i);
        t.log_metric("m", dn::Metric::new(i as f64 * 0.5).step(i));
        t.log_output("y", i * 2);
    });
}

#[dn::task]
async fn f(x: i64) -> i64 {
    x * 2
}

/// Runs `body` on rounds of `round` spans from 0 to [`N`], counting, each
/// round flushed: in rounds of 1 000 the writer keeps up; in one round of
/// `N` it falls behind, and how far the pools' bounds decide.
fn counted(round: u64, mut body: impl FnMut(std::ops::Range<u64>)) -> Counted {
    let (by_thread, by_size) = (BY_THREAD.now(), BY_SIZE.now());
    let mut allocations = 0;
    for from in (0..N).step_by(round as usize) {
        let a = ALLOCATIONS.load(Ordering::Relaxed);
        COUNTING.with(|c| c.set(true));
        HOT.store(true, Ordering::Relaxed);
        body(from..(from + round).min(N));
        HOT.store(false, Ordering::Relaxed);
        COUNTING.with(|c| c.set(false));
        allocations += ALLOCATIONS.load(Ordering::Relaxed) - a;
        dn::flush();
    }
    // The writer gives back and frees after a batch is written: a second
    // flush waits for the batch after it.
    dn::flush();
    Counted { by_thread: BY_THREAD.since(&by_thread), by_size: BY_SIZE.since(&by_size), allocations }
}

/// What one workload's rounds caused.
struct Counted {
    /// Frees of the caller's allocations, by the freeing thread's id.
    by_thread: BTreeMap<u64, u64>,
    /// The same frees by block size (what they were, when a test fails).
    by_size: BTreeMap<u64, u64>,
    /// Allocations on the caller.
    allocations: u64,
}

fn main() {
    // Spans a round: 1 000, or `N` (one round: the writer falls behind).
    let round: u64 = std::env::args().nth(1).map_or(1_000, |a| a.parse().expect("spans a round")).clamp(1, N);
    dn::configure(dn::Config::new()).expect("configure");
    // Warm up every pool and thread first, as a long-running process has.
    let warm = || {
        dn::run("warm").run(|_| {
            for i in 0..N {
                task(i);
                drop(dn::span("s").enter());
            }
        });
    };
    warm();
    dn::flush();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut results: Vec<(&str, Counted)> = Vec::new();
    let run = dn::run("task").start();
    let ctx = run.context();
    let c = counted(round, |range| {
        let _in = ctx.clone().enter();
        range.for_each(task);
    });
    results.push(("task", c));
    let c = counted(round, |range| {
        let _in = ctx.clone().enter();
        for _ in range {
            drop(dn::span("s").enter());
        }
    });
    results.push(("light", c));
    let c = counted(round, |range| {
        let _in = ctx.clone().enter();
        for i in range {
            dn::log_metric("loss", dn::Metric::new(1.0 / (i as f64 + 1.0)).step(i));
        }
    });
    results.push(("metric", c));
    let c = counted(round, |range| {
        rt.block_on(run.clone().instrument(async {
            let mut acc = 0i64;
            for i in range.start as i64..range.end as i64 {
                acc = acc.wrapping_add(f(i).await);
            }
            std::hint::black_box(acc);
        }));
    });
    results.push(("decorated", c));
    run.end();
    let c = counted(round, |range| {
        for i in range {
            dn::run("r").run(|r| {
                r.log_param("p", i);
                r.log_metric("m", dn::Metric::new(i as f64).step(0));
            });
        }
    });
    results.push(("runs", c));
    // Thread names while the threads are alive.
    let name = |t: u64| {
        std::fs::read_to_string(format!("/proc/self/task/{t}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| format!("exited thread {t}"))
    };
    let out: serde_json::Map<String, serde_json::Value> = results
        .into_iter()
        .map(|(w, c)| {
            // Threads of one name (scoped helpers) summed.
            let mut by: BTreeMap<String, u64> = BTreeMap::new();
            for (t, n) in c.by_thread {
                *by.entry(name(t)).or_default() += n;
            }
            let sizes: BTreeMap<String, u64> = c.by_size.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
            (
                w.to_string(),
                serde_json::json!({"frees_by_thread": by, "frees_by_size": sizes, "caller_allocations": c.allocations}),
            )
        })
        .collect();
    let report = dn::shutdown();
    println!(
        "{}",
        serde_json::json!({"per_workload": N, "round": round, "workloads": out,
            "dropped": report.dropped_queue_full + report.dropped_after_shutdown})
    );
}

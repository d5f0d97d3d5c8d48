//! Rendered-task buffers and attribute lists given back once their line is
//! written, so the next span reuses one instead of allocating.
//!
//! A task's groups are rendered on the caller's thread when it ends, or on
//! the writer's before its line ([`RenderedTask`]); the record carrying them
//! is dropped by the writer thread after the line is on disk. Freeing there meant the writer freed
//! the caller's allocations: with glibc, every such free takes the caller's
//! arena lock, and the caller's own `malloc` then waited on it (measured:
//! `futex` calls in a tenth of a task span's samples). Instead the writer
//! gives each rendered buffer it holds alone back to a shared pool
//! ([`recycle_records`]); a caller takes a handful at a time into its
//! thread's stash ([`rendered_for`]). Neither side allocates or frees for
//! it in the steady state, and the pool lock is taken once per batch, not
//! per span.
//!
//! A span's start attributes (the `code.*` of every `#[dn::task]` call, a
//! bridged `tracing` span's fields) are a list the caller allocates and the
//! record carries to the writer in the same way: emptied lists with room for
//! at most [`KEEP_ATTRIBUTES`] entries go back to a pool of their own
//! (`push_attribute` takes one for a span's first attribute).
//!
//! A small task's data goes to the writer as it is when the sink renders
//! ([`crate::TaskGroups::Data`]): the writer renders it
//! ([`render_task_groups`]) and gives the data's box back, its contents
//! untouched, to a pool of its own (`data_from` takes one); the caller
//! that reuses it drops the old contents, on its own thread.
//!
//! A run's route (where its records go: project, run id, session) is the
//! caller's allocation, and the run's own record is mostly its last holder:
//! the writer gives each route it holds alone back to a pool of its own,
//! and the next run or root task takes one
//! (`route`), dropping the old contents — the old run id's text among
//! them — on its own thread. Before, the writer freed two of the caller's
//! allocations for every run, the route and its run id.
//!
//! Bounds: buffers over [`KEEP_CAPACITY`] are freed, not kept; a thread's
//! stash holds at most [`STASH_MAX`] of each. While the writer is busy, a
//! pool takes what it is given back up to [`BUSY_POOL_MAX`] items and
//! [`BUSY_POOL_BYTES`] — about what one thread's export queue may hold in
//! flight, so a writer far behind its callers (a loop of runs outruns it
//! four to one) gives back what it wrote rather than freeing it: with the
//! idle bounds below as the only ones, it freed a run's route, run id and
//! rendered buffer, and a task's rendered buffer, for most of them. When it
//! is idle it trims each pool, [`TRIM_STEP`] items at a time (a step at
//! most every 100 ms), to [`POOL_MAX`] items and [`POOL_BYTES`] (all at
//! once on a flush, [`trim_recycled`]): what stays held once a run goes
//! quiet ([`recycled_bytes`] tells how much: 5.8 MiB after 10 000 tasks
//! logging a 5 KiB input each). What a pool holds is memory the records in
//! flight held a moment before, so it does not add to a process's peak.
//! Past the busy bounds, and in a trim, what is not kept is freed on the
//! writer.

use std::cell::RefCell;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::attrs::AttrValue;
use crate::record::{Key, RecordKind, Route, SpanRecord, TaskGroups};
use crate::task_data::{RenderedTask, TaskData};

/// Largest buffer kept for reuse (bytes of capacity).
pub const KEEP_CAPACITY: usize = 8 << 10;
/// Largest task data, by [`TaskData::render_estimate`], that goes to a sink
/// that renders as it is ([`crate::TaskGroups::Data`]) on the sink's
/// measure of its own load alone; larger (a task logging a 5 KB string)
/// is a large task, which the sink asks for by how much waits on the
/// caller's thread (`dn-export`'s `LARGE_RENDER_AT`). Rendering every
/// large task on the writer while it had time to spare held 5 MiB more in
/// the pool for no gain in time (3.90 against 3.96 µs a task); sharing
/// them by the backlog, 0.92× (see `docs/performance-log.md`).
pub const DEFER_AT_MOST: usize = 1 << 10;
/// Most items each shared pool keeps once the writer is idle (about one
/// writer batch of one thread).
pub const POOL_MAX: usize = 4096;
/// Most bytes of capacity the buffer and data pools keep once the writer is
/// idle.
pub const POOL_BYTES: usize = 8 << 20;
/// Most items each shared pool takes while the writer is busy: one
/// thread's export queue in records (dn-export's default capacity).
pub const BUSY_POOL_MAX: usize = 1 << 17;
/// Most bytes of capacity the buffer and data pools take while the writer
/// is busy: one thread's export queue in bytes (dn-export's default).
pub const BUSY_POOL_BYTES: usize = 32 << 20;
/// Most buffers a thread takes from the pool at once and keeps.
pub const STASH_MAX: usize = 32;

/// The shared pool: buffers and the sum of their capacities.
struct Pool {
    buffers: Vec<Arc<RenderedTask>>,
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool { buffers: Vec::new(), bytes: 0 });

/// The shared pool of task data boxes given back by the writer, their
/// contents not yet dropped, each with its [`data_weight`] (worked out once,
/// by the writer, not again by the caller that takes it), and the sum of
/// those (within the bounds of the rendered buffers' pool).
struct DataPool {
    boxes: Vec<(Arc<TaskData>, usize)>,
    bytes: usize,
}

static DATA_POOL: Mutex<DataPool> = Mutex::new(DataPool { boxes: Vec::new(), bytes: 0 });

/// What a pooled data box holds: itself and about what its contents take.
fn data_weight(d: &TaskData) -> usize {
    std::mem::size_of::<TaskData>() + d.render_estimate()
}

/// Most entries an attribute list kept for reuse may have room for.
pub const KEEP_ATTRIBUTES: usize = 8;

/// An attribute list, as a record carries it.
type Attributes = Vec<(Key, AttrValue)>;

/// Emptied attribute lists given back by the writer.
static ATTRIBUTE_POOL: Mutex<Vec<Attributes>> = Mutex::new(Vec::new());

/// Routes given back by the writer, each held by nothing else.
static ROUTE_POOL: Mutex<Vec<Arc<Route>>> = Mutex::new(Vec::new());

thread_local! {
    static ROUTE_STASH: RefCell<Vec<Arc<Route>>> = const { RefCell::new(Vec::new()) };
    static STASH: RefCell<Vec<Arc<RenderedTask>>> = const { RefCell::new(Vec::new()) };
    static ATTRIBUTE_STASH: RefCell<Vec<Attributes>> = const { RefCell::new(Vec::new()) };
    static DATA_STASH: RefCell<Vec<Arc<TaskData>>> = const { RefCell::new(Vec::new()) };
}

/// Moves `data` into a box to share with a record: a box the writer gave
/// back when one is free, whose old contents (an earlier task's) are left
/// in `data` in exchange, to be dropped with the task's state on the
/// caller's thread; otherwise a new box, `data` left empty. An ended
/// task's `data` is never read again (its handles read `finished`).
pub(crate) fn data_from(data: &mut TaskData) -> Arc<TaskData> {
    let pooled = from_stash(
        &DATA_STASH,
        |stash| {
            let mut pool = DATA_POOL.lock();
            let from = pool.boxes.len().saturating_sub(STASH_MAX);
            let taken: usize = pool.boxes[from..].iter().map(|b| b.1).sum();
            pool.bytes -= taken;
            stash.extend(pool.boxes.drain(from..).map(|b| b.0));
        },
        |next| prefetch_for_write(Arc::as_ptr(next), std::mem::size_of::<TaskData>()),
    );
    match pooled {
        Some(mut b) => match Arc::get_mut(&mut b) {
            Some(slot) => {
                std::mem::swap(slot, data);
                b
            }
            // Unreachable (only boxes held alone are pooled).
            None => Arc::new(std::mem::take(data)),
        },
        None => Arc::new(std::mem::take(data)),
    }
}

/// Renders the groups of every task record in `records` that carries them
/// as data ([`crate::TaskGroups::Data`]), each into a recycled buffer, and
/// gives back each data box nothing else holds (see `data_from`). What a
/// sink that renders ([`crate::SpanSink::renders_task_groups`]) calls
/// before anything reads the records: on its writer thread, or on the
/// caller's when the writer is behind. Returns how many it rendered.
pub fn render_task_groups(records: &mut [SpanRecord]) -> usize {
    let mut kept: Vec<Arc<TaskData>> = Vec::new();
    let mut rendered_n = 0;
    for rec in records {
        let RecordKind::Task { groups, .. } = &mut rec.kind else { continue };
        let TaskGroups::Data(d) = groups else { continue };
        rendered_n += 1;
        let rendered = rendered_for(d);
        if let TaskGroups::Data(mut d) = std::mem::replace(groups, TaskGroups::Rendered(rendered)) {
            if Arc::get_mut(&mut d).is_some() {
                kept.push(d);
            }
        }
    }
    if kept.is_empty() {
        return rendered_n;
    }
    let mut pool = DATA_POOL.lock();
    for d in kept {
        let w = data_weight(&d);
        if pool.boxes.len() >= BUSY_POOL_MAX || pool.bytes + w > BUSY_POOL_BYTES {
            // Dropped past the bound: freed on this thread, as before pools.
            break;
        }
        pool.bytes += w;
        pool.boxes.push((d, w));
    }
    rendered_n
}

/// `r`, shared: in a route the writer gave back when one is free (its old
/// contents dropped here, on the caller's thread), else a new one.
pub(crate) fn route(r: Route) -> Arc<Route> {
    let pooled = from_stash(
        &ROUTE_STASH,
        |stash| {
            let mut pool = ROUTE_POOL.lock();
            let from = pool.len().saturating_sub(STASH_MAX);
            stash.extend(pool.drain(from..));
        },
        |_| {},
    );
    match pooled {
        Some(mut shared) => match Arc::get_mut(&mut shared) {
            Some(slot) => {
                *slot = r;
                shared
            }
            // Unreachable (only routes held alone are pooled).
            None => Arc::new(r),
        },
        None => Arc::new(r),
    }
}

/// What stands in a record for a route given back, until the record is
/// dropped: one shared route, only ever cloned and dropped by the writer.
fn route_placeholder() -> Arc<Route> {
    static PLACEHOLDER: std::sync::OnceLock<Arc<Route>> = std::sync::OnceLock::new();
    PLACEHOLDER
        .get_or_init(|| Arc::new(Route { project: Arc::from(""), run_id: Default::default(), session_id: None }))
        .clone()
}

/// Appends to a span's start attributes; the first takes a recycled list.
pub(crate) fn push_attribute(list: &mut Attributes, key: Key, value: AttrValue) {
    if list.capacity() == 0 {
        *list = attribute_list();
    }
    list.push((key, value));
}

/// An empty attribute list for a span about to get its first attribute: a
/// recycled one (room for a few entries already) when one is free.
fn attribute_list() -> Attributes {
    from_stash(
        &ATTRIBUTE_STASH,
        |stash| {
            let mut pool = ATTRIBUTE_POOL.lock();
            let from = pool.len().saturating_sub(STASH_MAX);
            stash.extend(pool.drain(from..));
        },
        |next| prefetch_for_write(next.as_ptr(), next.capacity() * std::mem::size_of::<(Key, AttrValue)>()),
    )
    .unwrap_or_default()
}

/// One item of this thread's `stash`, which `refill` tops up from a shared
/// pool (at most [`STASH_MAX`] items) when it is empty; `None` when both
/// are, or while the thread's storage is being torn down. The item after
/// it is `warm`ed: its memory was last the writer's, and fetching it for
/// writing now, a span ahead, spares the next span the wait (see
/// [`prefetch_for_write`]).
fn from_stash<T: 'static>(
    stash: &'static std::thread::LocalKey<RefCell<Vec<T>>>,
    refill: impl FnOnce(&mut Vec<T>),
    warm: impl FnOnce(&T),
) -> Option<T> {
    stash
        .try_with(|s| {
            let mut s = s.borrow_mut();
            if s.is_empty() {
                refill(&mut s);
            }
            let item = s.pop();
            if let Some(next) = s.last() {
                warm(next);
            }
            item
        })
        .ok()
        .flatten()
}

/// Asks the core for the cache lines of the `len` bytes at `ptr` in a state
/// it may write (x86's `prefetchw`; nothing elsewhere). Memory handed over
/// by the writer thread — a buffer slot, a recycled list — is in that
/// thread's cache: writing it costs a transfer per cache line, and on x86
/// the next locked instruction, or a full store buffer, waits for all of
/// them. Fetched ahead, the transfers overlap the caller's other work
/// (`dn_light_span_in_run` 88–92 → 68–74 ns with the buffer's next slot
/// fetched so, docs/performance-log.md). A hint: it reads and writes nothing
/// the program sees, and faults on no address.
#[inline(always)]
pub fn prefetch_for_write<T>(ptr: *const T, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut at = ptr.cast::<u8>();
        let end = at.wrapping_add(len);
        while at < end {
            // SAFETY: a prefetch is a hint: it reads and writes nothing the
            // program sees and does not fault on any address.
            #[allow(unsafe_code)]
            unsafe {
                std::arch::asm!("prefetchw [{0}]", in(reg) at, options(nostack, preserves_flags, readonly));
            }
            at = at.wrapping_add(64);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ptr, len);
}

/// `d` rendered, in a recycled buffer when one is free.
pub fn rendered_for(d: &TaskData) -> Arc<RenderedTask> {
    let mut r = take().unwrap_or_else(|| Arc::new(RenderedTask::unrendered()));
    match Arc::get_mut(&mut r) {
        Some(buf) => {
            buf.render_from(d);
            r
        }
        // Unreachable (only buffers held alone are pooled); render afresh.
        None => Arc::new(RenderedTask::render(d)),
    }
}

fn take() -> Option<Arc<RenderedTask>> {
    from_stash(
        &STASH,
        |stash| {
            let mut pool = POOL.lock();
            let from = pool.buffers.len().saturating_sub(STASH_MAX);
            let taken: usize = pool.buffers[from..].iter().map(|b| b.capacity()).sum();
            pool.bytes -= taken;
            stash.extend(pool.buffers.drain(from..));
        },
        |next| prefetch_for_write(next.buffer_ptr(), next.capacity().min(1 << 10)),
    )
}

/// Bytes the shared pools hold now (at most [`POOL_BYTES`] each once
/// trimmed, [`BUSY_POOL_BYTES`] while the writer is busy: the
/// rendered buffers' capacity, and the task data boxes with about what
/// their old contents take), kept for reuse rather than data of any span:
/// what a measurement of the memory a run holds sets apart. Threads'
/// stashes add at most [`STASH_MAX`] buffers of [`KEEP_CAPACITY`] and
/// [`STASH_MAX`] data boxes each.
pub fn recycled_bytes() -> usize {
    POOL.lock().bytes + DATA_POOL.lock().bytes
}

/// Most items [`trim_recycled`] frees from each pool at a time.
pub const TRIM_STEP: usize = 256;

/// Trims each shared pool towards what it keeps once the writer is idle
/// ([`POOL_MAX`] items, [`POOL_BYTES`]), freeing the oldest first and at
/// most [`TRIM_STEP`] items from each (a burst that begins meanwhile waits
/// for no more than that). `true` while a pool is still over its bound.
/// What an exporting thread calls now and then while it is idle, and
/// until it returns `false` on a flush.
pub fn trim_recycled() -> bool {
    // Each pool's excess is taken under its lock and dropped after it.
    let mut over = false;
    let buffers: Vec<Arc<RenderedTask>> = {
        let mut pool = POOL.lock();
        let (cut, bytes, more) = trim_cut(&pool.buffers, pool.bytes, |b| b.capacity());
        over |= more;
        pool.bytes = bytes;
        pool.buffers.drain(..cut).collect()
    };
    let boxes: Vec<(Arc<TaskData>, usize)> = {
        let mut pool = DATA_POOL.lock();
        let (cut, bytes, more) = trim_cut(&pool.boxes, pool.bytes, |b| b.1);
        over |= more;
        pool.bytes = bytes;
        pool.boxes.drain(..cut).collect()
    };
    let lists: Vec<Attributes> = {
        let mut pool = ATTRIBUTE_POOL.lock();
        let (cut, more) = count_cut(pool.len());
        over |= more;
        pool.drain(..cut).collect()
    };
    let routes: Vec<Arc<Route>> = {
        let mut pool = ROUTE_POOL.lock();
        let (cut, more) = count_cut(pool.len());
        over |= more;
        pool.drain(..cut).collect()
    };
    drop((buffers, boxes, lists, routes));
    over
}

/// How many of `len` items bounded by count alone a trim step takes from
/// the front to bring them within [`POOL_MAX`], at most [`TRIM_STEP`];
/// whether more would still be over.
fn count_cut(len: usize) -> (usize, bool) {
    let excess = len.saturating_sub(POOL_MAX);
    (excess.min(TRIM_STEP), excess > TRIM_STEP)
}

/// How many of `items` (holding `bytes`, each `weight`) a trim step takes
/// from the front to bring them within [`POOL_MAX`] and [`POOL_BYTES`], at
/// most [`TRIM_STEP`]; the bytes left; whether more would still be over.
fn trim_cut<T>(items: &[T], mut bytes: usize, weight: impl Fn(&T) -> usize) -> (usize, usize, bool) {
    let mut cut = 0;
    while cut < items.len() && (items.len() - cut > POOL_MAX || bytes > POOL_BYTES) {
        if cut == TRIM_STEP {
            return (cut, bytes, true);
        }
        bytes -= weight(&items[cut]);
        cut += 1;
    }
    (cut, bytes, false)
}

/// Drops `records` (leaving the vector empty, its capacity kept), keeping
/// for reuse each rendered buffer that nothing else holds and that is at most
/// [`KEEP_CAPACITY`], each emptied attribute list and each route nothing
/// else holds, while their pools have room. What an exporting thread calls
/// on a batch once it is written.
pub fn recycle_records(records: &mut Vec<SpanRecord>) {
    let (room, mut room_bytes) = {
        let pool = POOL.lock();
        (BUSY_POOL_MAX.saturating_sub(pool.buffers.len()), BUSY_POOL_BYTES.saturating_sub(pool.bytes))
    };
    let attribute_room = BUSY_POOL_MAX.saturating_sub(ATTRIBUTE_POOL.lock().len());
    let route_room = BUSY_POOL_MAX.saturating_sub(ROUTE_POOL.lock().len());
    if (room == 0 || room_bytes == 0) && attribute_room == 0 && route_room == 0 {
        records.clear();
        return;
    }
    let mut kept = Vec::with_capacity(room.min(records.len()));
    let mut lists: Vec<Attributes> = Vec::new();
    let mut routes: Vec<Arc<Route>> = Vec::new();
    // By reference, then dropped in place: moving each record out (a
    // light span's is 272 bytes) was a copy per line on the writer.
    for rec in records.iter_mut() {
        // A route held by this record alone: a run's, or a root task's,
        // whose handles are gone (the tasks under a run share its route).
        // The count is read first: `get_mut` is a locked instruction on the
        // route's counts, which a run's spans share.
        if routes.len() < route_room && Arc::strong_count(&rec.route) == 1 && Arc::get_mut(&mut rec.route).is_some() {
            routes.push(std::mem::replace(&mut rec.route, route_placeholder()));
        }
        let list = &mut rec.attributes;
        if lists.len() < attribute_room && list.capacity() > 0 && list.capacity() <= KEEP_ATTRIBUTES {
            list.clear();
            lists.push(std::mem::take(list));
        }
        if kept.len() < room && matches!(rec.kind, RecordKind::Task { groups: TaskGroups::Rendered(_), .. }) {
            // Only the kind moves out (a few words), not the record.
            if let RecordKind::Task { groups: TaskGroups::Rendered(mut rendered), .. } =
                std::mem::replace(&mut rec.kind, RecordKind::Light)
            {
                let cap = rendered.capacity();
                if cap <= KEEP_CAPACITY && cap <= room_bytes && Arc::get_mut(&mut rendered).is_some() {
                    room_bytes -= cap;
                    kept.push(rendered);
                }
            }
        }
    }
    records.clear();
    if !routes.is_empty() {
        let mut pool = ROUTE_POOL.lock();
        routes.truncate(BUSY_POOL_MAX.saturating_sub(pool.len()));
        pool.append(&mut routes);
    }
    if !lists.is_empty() {
        let mut pool = ATTRIBUTE_POOL.lock();
        lists.truncate(BUSY_POOL_MAX.saturating_sub(pool.len()));
        pool.append(&mut lists);
    }
    if !kept.is_empty() {
        let mut pool = POOL.lock();
        // Another thread may have given some back meanwhile: bound again.
        while let Some(b) = kept.pop() {
            if pool.buffers.len() >= BUSY_POOL_MAX || pool.bytes + b.capacity() > BUSY_POOL_BYTES {
                break;
            }
            pool.bytes += b.capacity();
            pool.buffers.push(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::SpanType;
    use crate::ids::{SpanId, TraceId};
    use crate::record::{Route, Status};
    use crate::time::Timestamp;

    fn task_record(rendered: Arc<RenderedTask>) -> SpanRecord {
        task_record_with(TaskGroups::Rendered(rendered))
    }

    fn task_record_with(groups: TaskGroups) -> SpanRecord {
        SpanRecord {
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            parent_id: None,
            parent_is_remote: false,
            name: "t".into(),
            span_type: SpanType::Task,
            label: "t".into(),
            status: Status::Unset,
            start: Timestamp::now(),
            end: Timestamp::now(),
            route: Arc::new(Route { project: "p".into(), run_id: "r".into(), session_id: None }),
            tags: vec![],
            attributes: vec![],
            late_attribute_keys: vec![],
            events: vec![],
            kind: RecordKind::Task { parent_task: None, groups },
        }
    }

    /// Task data with one parameter whose stored JSON is `value` quoted.
    fn data_with_param(key: &str, value: &str) -> TaskData {
        let mut d = TaskData::default();
        d.params.insert(key.to_string(), format!("\"{value}\""));
        d
    }

    /// A prefetch is only a hint: no address faults, none is written
    /// (a `prefetchw` turned into a real access would crash on the first).
    #[test]
    fn prefetching_any_address_is_harmless() {
        prefetch_for_write(std::ptr::null::<u64>(), 256);
        prefetch_for_write(usize::MAX as *const u8, 64);
        let v = [1u8; 300];
        prefetch_for_write(v.as_ptr(), v.len());
        assert_eq!(v[299], 1);
    }

    #[test]
    fn a_recycled_buffer_renders_exactly_what_a_fresh_one_does() {
        let big = data_with_param("learning_rate", "0.001");
        let small = TaskData::default();
        // Render the bigger one and give it back; the small one then renders
        // in a pooled buffer (this thread's stash refills from the pool, which
        // holds at least that one): nothing of the first may remain.
        for _ in 0..3 {
            let first = rendered_for(&big);
            assert_eq!(*first, RenderedTask::render(&big));
            let mut batch = vec![task_record(first)];
            recycle_records(&mut batch);
            assert!(batch.is_empty());
            let second = rendered_for(&small);
            let fresh = RenderedTask::render(&small);
            for (got, want) in [
                (second.params(), fresh.params()),
                (second.inputs(), fresh.inputs()),
                (second.outputs(), fresh.outputs()),
                (second.metrics(), fresh.metrics()),
                (second.objects(), fresh.objects()),
                (second.schemas(), fresh.schemas()),
                (second.artifacts(), fresh.artifacts()),
            ] {
                assert_eq!(got, want);
            }
            assert_eq!(second.has_objects(), fresh.has_objects());
            assert_eq!(second.len(), fresh.len());
        }
    }

    #[test]
    fn a_buffer_still_held_elsewhere_or_too_big_is_not_pooled() {
        let held = rendered_for(&TaskData::default());
        let elsewhere = held.clone();
        let big = rendered_for(&data_with_param("blob", &"x".repeat(KEEP_CAPACITY * 2)));
        assert!(big.capacity() > KEEP_CAPACITY);
        let mut batch = vec![task_record(held), task_record(big)];
        recycle_records(&mut batch);
        // The shared one lives on with its other holder only; no pooled buffer
        // is over the bound (the big one was freed).
        assert_eq!(Arc::strong_count(&elsewhere), 1);
        assert!(POOL.lock().buffers.iter().all(|r| r.capacity() <= KEEP_CAPACITY));
    }

    #[test]
    fn a_route_given_back_is_reused_with_the_new_contents_and_one_held_elsewhere_is_not() {
        for i in 0..3 {
            // Held by the record alone: given back. Shared with a handle:
            // left with it.
            let alone = task_record(rendered_for(&TaskData::default()));
            let shared = task_record(rendered_for(&TaskData::default()));
            let handle = shared.route.clone();
            recycle_records(&mut vec![alone, shared]);
            assert_eq!(Arc::strong_count(&handle), 1, "the shared route lives on with its handle only");
            assert!(ROUTE_POOL.lock().iter().all(|r| Arc::strong_count(r) == 1 && !Arc::ptr_eq(r, &handle)));
            // Whatever route the next run gets (a pooled one or a new one),
            // it holds only what that run gave it.
            let run_id = crate::ids::new_run_id_shared();
            let next = route(Route { project: "q".into(), run_id: run_id.clone(), session_id: Some("s".into()) });
            assert_eq!(*next, Route { project: "q".into(), run_id, session_id: Some("s".into()) }, "round {i}");
            assert_eq!(Arc::strong_count(&next), 1);
        }
        assert!(ROUTE_POOL.lock().iter().all(|r| !Arc::ptr_eq(r, &route_placeholder())));
    }

    #[test]
    fn a_recycled_attribute_list_comes_back_empty() {
        for _ in 0..3 {
            let mut rec = task_record(rendered_for(&TaskData::default()));
            push_attribute(&mut rec.attributes, Key::Borrowed("code.function"), AttrValue::Static("f"));
            push_attribute(&mut rec.attributes, Key::Borrowed("code.lineno"), AttrValue::Int(7));
            assert_eq!(rec.attributes.len(), 2);
            recycle_records(&mut vec![rec]);
            // Whatever list the next span gets (this one or another test's),
            // it holds only what that span sets.
            let mut next = Vec::new();
            push_attribute(&mut next, Key::Borrowed("code.filepath"), AttrValue::Static("src/lib.rs"));
            assert_eq!(next, vec![(Key::Borrowed("code.filepath"), AttrValue::Static("src/lib.rs"))]);
        }
        assert!(ATTRIBUTE_POOL.lock().iter().all(|l| l.is_empty() && l.capacity() <= KEEP_ATTRIBUTES));
    }

    #[test]
    fn a_data_box_given_back_is_reused_with_its_old_contents_dropped() {
        for _ in 0..3 {
            // A box held by the record alone is given back as it is; one a
            // handle still shares is not.
            let alone = Arc::new(data_with_param("old", "x"));
            let shared = Arc::new(data_with_param("shared", "y"));
            let elsewhere = shared.clone();
            let mut batch = vec![task_record_with(TaskGroups::Data(alone)), task_record_with(TaskGroups::Data(shared))];
            assert_eq!(render_task_groups(&mut batch), 2);
            for (rec, key) in batch.iter().zip(["old", "shared"]) {
                let RecordKind::Task { groups: TaskGroups::Rendered(r), .. } = &rec.kind else { panic!() };
                assert_eq!(**r, RenderedTask::render(&data_with_param(key, if key == "old" { "x" } else { "y" })));
            }
            assert!(DATA_POOL.lock().boxes.iter().all(|b| !Arc::ptr_eq(&b.0, &elsewhere)));
            // Whatever box the next task gets (this one or another test's),
            // it holds that task's data alone; the task is left what the box
            // held before (dropped with its state), or nothing.
            let mut next = data_with_param("new", "z");
            let moved = data_from(&mut next);
            assert_eq!(*moved, data_with_param("new", "z"));
            assert!(next.params.get("new").is_none(), "{next:?}");
            assert_eq!(Arc::strong_count(&moved), 1);
            recycle_records(&mut batch);
        }
        let pool = DATA_POOL.lock();
        assert!(pool.boxes.len() <= BUSY_POOL_MAX);
        assert!(pool.boxes.iter().all(|(b, w)| *w == data_weight(b)));
        assert_eq!(pool.bytes, pool.boxes.iter().map(|b| b.1).sum::<usize>());
        assert!(pool.bytes <= BUSY_POOL_BYTES);
    }

    /// The pools' bounds: what they take while the writer is busy, and what
    /// a trim leaves. The tests share the pools, and a trim or a take by
    /// another test may come between, so each test checks bounds, not
    /// counts. The trim test takes a lock of its own against that.
    static TRIMS: Mutex<()> = Mutex::new(());

    #[test]
    fn the_data_pool_stays_within_its_bounds_in_boxes_and_bytes() {
        let _one = TRIMS.lock();
        // More boxes than POOL_MAX, then boxes of about 4.8 KB each: more
        // than POOL_BYTES in all (8 MiB is about 1 750 of them), and more
        // than BUSY_POOL_BYTES (32 MiB is about 7 000).
        for (n, value) in [(POOL_MAX + 100, "x".to_string()), (7_500, "y".repeat(4 << 10))] {
            let mut batch: Vec<SpanRecord> = (0..n)
                .map(|i| task_record_with(TaskGroups::Data(Arc::new(data_with_param(&format!("k{i}"), &value)))))
                .collect();
            // An export queue's byte bound counts the data a record carries.
            assert!(batch[0].weight() >= std::mem::size_of::<TaskData>() + value.len());
            assert_eq!(render_task_groups(&mut batch), n);
            {
                let pool = DATA_POOL.lock();
                assert!(pool.boxes.len() <= BUSY_POOL_MAX, "{} boxes", pool.boxes.len());
                assert!(pool.bytes <= BUSY_POOL_BYTES, "{} bytes", pool.bytes);
                assert_eq!(pool.bytes, pool.boxes.iter().map(|b| b.1).sum::<usize>());
            }
            while trim_recycled() {}
            let pool = DATA_POOL.lock();
            assert!(pool.boxes.len() <= POOL_MAX, "{} boxes after a trim", pool.boxes.len());
            assert!(pool.bytes <= POOL_BYTES, "{} bytes after a trim", pool.bytes);
            assert_eq!(pool.bytes, pool.boxes.iter().map(|b| b.1).sum::<usize>());
        }
    }

    #[test]
    fn a_trim_step_takes_at_most_its_step_of_what_is_over_the_count() {
        assert_eq!(count_cut(0), (0, false));
        assert_eq!(count_cut(POOL_MAX), (0, false));
        assert_eq!(count_cut(POOL_MAX + 10), (10, false));
        assert_eq!(count_cut(POOL_MAX + TRIM_STEP), (TRIM_STEP, false));
        assert_eq!(count_cut(POOL_MAX + TRIM_STEP + 1), (TRIM_STEP, true));
        assert_eq!(count_cut(BUSY_POOL_MAX), (TRIM_STEP, true));
    }

    #[test]
    fn the_pools_take_a_busy_writers_batch_and_a_trim_leaves_their_idle_bounds() {
        let _one = TRIMS.lock();
        let mut batch: Vec<SpanRecord> = (0..2 * POOL_MAX)
            .map(|_| {
                let mut rec = task_record(Arc::new(RenderedTask::render(&TaskData::default())));
                push_attribute(&mut rec.attributes, Key::Borrowed("code.lineno"), AttrValue::Int(1));
                rec
            })
            .collect();
        let routes: Vec<*const Route> = batch.iter().map(|r| Arc::as_ptr(&r.route)).collect();
        recycle_records(&mut batch);
        {
            // Kept, not freed: more than the idle bound (another test's
            // take may have come between, so not every one).
            let pool = ROUTE_POOL.lock();
            let ours: std::collections::HashSet<*const Route> = routes.iter().copied().collect();
            let kept = pool.iter().filter(|r| ours.contains(&Arc::as_ptr(r))).count();
            assert!(kept > POOL_MAX, "{kept} of {} routes kept", routes.len());
            assert!(pool.len() <= BUSY_POOL_MAX);
            let pool = POOL.lock();
            assert!(pool.buffers.len() <= BUSY_POOL_MAX);
            assert_eq!(pool.bytes, pool.buffers.iter().map(|b| b.capacity()).sum::<usize>());
            assert!(pool.bytes <= BUSY_POOL_BYTES);
        }
        // A step frees at most TRIM_STEP of each (`count_cut`, tested
        // alone: other tests' runs take routes from this pool meanwhile, so
        // its length here cannot tell the step's share); steps until none
        // is over.
        let more = trim_recycled();
        let after = ROUTE_POOL.lock().len();
        assert!(more || after <= POOL_MAX, "{after} routes left, and no more to trim");
        while trim_recycled() {}
        assert!(ATTRIBUTE_POOL.lock().len() <= POOL_MAX);
        assert!(ROUTE_POOL.lock().len() <= POOL_MAX);
        let pool = POOL.lock();
        assert!(pool.buffers.len() <= POOL_MAX);
        assert_eq!(pool.bytes, pool.buffers.iter().map(|b| b.capacity()).sum::<usize>());
        assert!(pool.bytes <= POOL_BYTES);
    }
}

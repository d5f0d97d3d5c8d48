//! Unit tests of the runtime against `MemorySink`: task handles, records,
//! context and light spans.
#![allow(clippy::unwrap_used)]

use crate::{
    Context, Error, MemorySink, Metric, RecordKind, SpanRecord, SpanType, Status, TaskSpan, Tracer, current_run,
    current_task,
};

fn tracer() -> (Tracer, MemorySink) {
    let sink = MemorySink::new();
    (Tracer::new(sink.clone(), "proj").unwrap(), sink)
}

fn by_name<'a>(recs: &'a [SpanRecord], name: &str) -> &'a SpanRecord {
    recs.iter().find(|r| &*r.name == name).unwrap()
}

fn attr(r: &SpanRecord, key: &str) -> Option<String> {
    let mut out = None;
    r.visit_attributes(&mut |k, v| {
        if k == key {
            out = Some(format!("{:?}", v.to_owned()));
        }
    });
    out
}

#[test]
fn a_child_task_id_is_a_dashed_uuid4_of_its_span_and_trace_the_same_whenever_asked() {
    let (t, _sink) = tracer();
    let run = t.run("r").start();
    let a = t.task_span("a").parent(&run).start();
    let b = t.task_span("b").parent(&run).start();
    let id = a.task_id().to_string();
    let u = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(u.hyphenated().to_string(), id, "dashed, lowercase");
    assert_eq!(u.get_version_num(), 4);
    // Its span id, then the second half of its trace id (uuid4's version
    // and variant bits set), as a task read back from its line derives it.
    let mut want = [0u8; 16];
    want[..8].copy_from_slice(&a.span_id().to_bytes());
    want[8..].copy_from_slice(&a.trace_id().to_bytes()[8..]);
    assert_eq!(u, uuid::Builder::from_random_bytes(want).into_uuid());
    a.end();
    assert_eq!(a.task_id(), id, "the same after its end");
    assert_eq!(format!("{a:?}").matches(&id).count(), 1, "Debug shows it");
    assert_ne!(b.task_id(), id);
    assert_eq!(run.task_id(), run.run_id(), "a run's id is its run id");
    b.end();
    run.end();
}

#[test]
fn a_task_in_a_run_links_to_its_parent_and_shares_its_route() {
    let (t, sink) = tracer();
    let run = t.run("r").start();
    let child = t.task_span("c").parent(&run).start();
    assert_eq!(child.run_id(), run.run_id());
    assert_eq!(child.parent_task_id(), Some(run.span_id()));
    assert_eq!(child.trace_id(), run.trace_id());
    assert_eq!(run.tasks(), vec![child.clone()]);
    child.end();
    run.end();
    let recs = sink.take();
    let (c, r) = (by_name(&recs, "c"), by_name(&recs, "r"));
    assert_eq!(c.parent_id, Some(r.span_id));
    assert_eq!(c.route, r.route);
    assert_eq!(&*r.route.project, "proj");
}

#[test]
fn ending_twice_and_logging_after_end_are_errors_that_write_nothing_more() {
    let (t, sink) = tracer();
    let task = t.task_span("t").start();
    task.end();
    assert!(matches!(task.try_end(), Err(Error::SpanEnded(_))));
    assert!(matches!(task.try_log_param("k", 1), Err(Error::SpanEnded(_))));
    assert!(matches!(task.try_log_metric("m", 1.0), Err(Error::SpanEnded(_))));
    assert_eq!(sink.take().len(), 1);
}

#[test]
fn a_task_dropped_without_end_is_still_written_with_its_data() {
    let (t, sink) = tracer();
    {
        let task = t.task_span("leaked").start();
        task.log_input("x", 7);
    }
    let recs = sink.take();
    assert_eq!(recs.len(), 1);
    assert!(attr(&recs[0], "dreadnode.inputs").unwrap().contains("\\\"x\\\""));
}

#[test]
fn properties_read_the_same_while_open_and_after_end() {
    let (t, _sink) = tracer();
    let task = t.task_span("t").start();
    task.log_param("lr", 0.5);
    task.log_input("q", "hi");
    task.log_output("a", [1, 2]);
    task.log_metric("m", Metric::new(2).step(3usize));
    let read = |t: &TaskSpan| {
        let m = t.metrics();
        (t.params(), t.inputs(), t.outputs(), m["m"].values().to_vec(), m["m"].steps().to_vec())
    };
    let open = read(&task);
    task.end();
    // Times are kept to the microsecond once rendered, so compare the rest.
    assert_eq!(open, read(&task));
    assert_eq!(open.4, vec![3]);
}

#[test]
fn a_run_update_carries_only_what_is_new() {
    let (t, _sink) = tracer();
    let run = t.run("r").start();
    run.log_param("a", 1);
    let first = run.take_update().unwrap().unwrap();
    assert_eq!(first.span_type, SpanType::RunUpdate);
    assert!(run.take_update().unwrap().is_none(), "nothing new");
    run.log_metric("m", 1.0);
    let RecordKind::RunUpdate { data } = run.take_update().unwrap().unwrap().kind else { panic!("an update") };
    assert!(data.params.is_empty());
    assert_eq!(data.metrics.len(), 1);
}

#[test]
fn an_error_in_a_try_run_body_fails_the_span_and_reaches_the_caller() {
    let (t, sink) = tracer();
    let r: Result<(), String> = t.task_span("t").try_run(|_| Err("bad".to_string()));
    assert_eq!(r, Err("bad".to_string()));
    let recs = sink.take();
    assert_eq!(recs[0].status, Status::Error("bad".into()));
    assert_eq!(&*recs[0].events[0].name, "exception");
    assert!(attr(&recs[0], "logfire.level_num").is_some());
}

#[test]
fn the_context_nests_and_restores_even_when_guards_drop_out_of_order() {
    let (t, _sink) = tracer();
    assert!(current_task().is_none());
    let run = t.run("r").enter();
    let outer = t.task_span("outer").enter();
    assert_eq!(current_task().as_ref().map(TaskSpan::name), Some("outer"));
    assert_eq!(current_run().as_ref().map(TaskSpan::name), Some("r"));
    let inner = t.task_span("inner").enter();
    assert_eq!(current_task().unwrap().parent_task().unwrap().name(), "outer");
    drop(outer); // out of order: pops inner's context too
    assert_eq!(current_task().as_ref().map(TaskSpan::name), Some("r"));
    drop(inner);
    drop(run);
    assert!(current_task().is_none() && current_run().is_none());
}

#[test]
fn a_task_body_reads_the_run_and_session_it_was_entered_under() {
    let (t, sink) = tracer();
    let run = t.run("r").start();
    let _in_run = run.enter_context();
    // Under the run: the body's frame holds only the task.
    t.task_span("a").run(|a| {
        assert_eq!(current_task().as_ref(), Some(a));
        assert_eq!(current_run().as_ref(), Some(&run));
        assert_eq!(Context::current().session_id(), None);
        let light = t.span("s").enter();
        assert_eq!(current_task().as_ref(), Some(a));
        t.task_span("b").run(|b| {
            assert_eq!(current_task().as_ref(), Some(b));
            assert_eq!(b.parent_task().as_ref(), Some(a));
            assert_eq!(current_run().as_ref(), Some(&run));
        });
        drop(light);
        assert_eq!(current_task().as_ref(), Some(a));
    });
    // Under a bound session: the task's session is current in its body.
    let _session = Context::current().with_session(Some("s-1".into())).enter();
    t.task_span("c").run(|c| {
        assert_eq!(c.session_id(), Some("s-1"));
        assert_eq!(Context::current().session_id(), Some("s-1"));
        assert_eq!(current_run().as_ref(), Some(&run));
    });
    // A task of another run, entered here: its own run is current.
    let other = t.run("other").start();
    let d = t.task_span("d").parent(&other).start();
    {
        let _d = d.enter_context();
        assert_eq!(current_task().as_ref(), Some(&d));
        assert_eq!(current_run().as_ref(), Some(&other));
        assert_eq!(Context::current().session_id(), d.session_id());
    }
    assert_eq!(current_task().as_ref(), Some(&run));
    assert_eq!(Context::current().session_id(), Some("s-1"));
    d.end();
    other.end();
    drop(_session);
    drop(_in_run);
    run.end();
    assert_eq!(sink.take().len(), 7); // r, a, s, b, c, other, d
}

#[test]
fn a_context_entered_on_another_thread_makes_its_task_current_there() {
    let (t, sink) = tracer();
    let task = t.task_span("t").start();
    let ctx = task.context();
    std::thread::spawn(move || {
        let _g = ctx.enter();
        current_task().unwrap().log_metric("from_thread", 1.0);
    })
    .join()
    .unwrap();
    assert!(task.metrics().contains_key("from_thread"));
    assert!(Context::current().task().is_none());
    task.end();
    assert_eq!(sink.take().len(), 1);
}

/// `enter_ref` where the context's task, run and session are current (a
/// bridged span entered where it was opened: a span-only frame) and where
/// they are not (another task current, another thread): either way what is
/// current inside is the context entered, and what was current comes back.
#[test]
fn a_context_entered_by_reference_is_current_inside_whatever_was_current_before() {
    let (t, sink) = tracer();
    let run = t.run("r").start();
    let _in_run = run.enter_context();
    let (span, ctx) = t.span("bridged").start_under(Context::current());
    let same = |a: &Context, b: &Context| {
        a.span() == b.span()
            && a.task().map(TaskSpan::span_id) == b.task().map(TaskSpan::span_id)
            && a.run().map(TaskSpan::span_id) == b.run().map(TaskSpan::span_id)
            && a.session_id() == b.session_id()
    };
    let before = Context::current();
    {
        let _g = ctx.enter_ref();
        assert!(same(&Context::current(), &ctx), "in the run it was opened in");
        // A light span inside it nests under it.
        let inner = t.span("inner").enter();
        assert_eq!(Context::current().span().map(|l| l.span_id), Some(inner.span_id()));
    }
    assert!(same(&Context::current(), &before));
    // Entered under another task, and with a session bound: the frame is a
    // whole one, and the bridged span's own run and task are current.
    t.task_span("other").run(|_| {
        let _s = crate::context::Context::current().with_session(Some("s1".into())).enter();
        let outer = Context::current();
        {
            let _g = ctx.enter_ref();
            assert!(same(&Context::current(), &ctx), "under another task and a session");
        }
        assert!(same(&Context::current(), &outer));
    });
    let on_thread = ctx.clone();
    std::thread::spawn(move || {
        let _g = on_thread.enter_ref();
        assert!(same(&Context::current(), &on_thread), "on a thread with nothing current");
    })
    .join()
    .unwrap();
    drop(span);
    drop(_in_run);
    run.end();
    assert_eq!(sink.take().len(), 4); // bridged, inner, other, r
}

#[test]
fn a_light_span_in_a_task_gets_its_parent_and_route_and_can_fail() {
    let (t, sink) = tracer();
    t.task_span("t").run(|task| {
        let mut s = t.span("light").tags(["A b"]).enter();
        s.record_error("oops");
        assert_eq!(s.tags(), &["a_b".to_string()]);
        drop(s);
        task.log_metric("m", 1.0);
    });
    let recs = sink.take();
    let (l, task) = (by_name(&recs, "light"), by_name(&recs, "t"));
    assert_eq!(l.parent_id, Some(task.span_id));
    assert_eq!(l.route, task.route);
    assert!(matches!(l.kind, RecordKind::Light));
    assert_eq!(l.status, Status::Error("oops".into()));
}

#[test]
fn a_panic_in_a_run_body_marks_the_span_failed_and_keeps_unwinding() {
    let (t, sink) = tracer();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.task_span("p").run(|_| panic!("boom"));
    }));
    assert!(caught.is_err());
    let recs = sink.take();
    assert_eq!(recs[0].status, Status::Error("boom".into()));
}

#[test]
fn every_key_passed_as_dn_s_own_needs_no_json_escaping() {
    // Records of every kind, each attribute group filled: light, task with a
    // parent and objects, failed, run update with all data. (The session
    // key, which needs a bound session, is checked by the debug assertion in
    // the JSONL writer on every line the session tests write.)
    let (t, sink) = tracer();
    let run = t.run("r").start();
    run.log_param("p", 1);
    run.log_input("i", "x");
    run.log_output("o", 2);
    run.log_metric("m", 1.0);
    run.add_artifact_record("{}".into()).unwrap();
    let update = run.take_update().unwrap().unwrap();
    drop(t.span("light").enter());
    let _ = t.task_span("failed").parent(&run).try_run(|_| Err::<(), _>("bad"));
    t.task_span("child").parent(&run).run(|c| c.log_input("x", vec![1, 2]));
    run.end();
    let mut records = sink.take();
    records.push(update);
    let mut own = std::collections::BTreeSet::new();
    for r in &records {
        r.visit_attributes(&mut |k, _| {
            if let crate::AttrKey::Own(k) = k {
                own.insert(k);
            }
        });
    }
    for k in &own {
        let mut escaped = String::new();
        crate::json::write_str(&mut escaped, k, true);
        assert_eq!(escaped, format!("\"{k}\""), "{k} needs escaping");
    }
    for k in [
        crate::keys::RUN_ID,
        crate::keys::PARAMS,
        crate::keys::OBJECTS,
        crate::keys::LOGFIRE_LEVEL_NUM,
        crate::keys::ARTIFACTS,
        crate::keys::LARGE_ATTRIBUTES,
        crate::keys::TASK_PARENT_ID,
    ] {
        assert!(own.contains(k), "{k} was visited");
    }
}

#[test]
fn metric_names_that_clean_to_one_name_share_one_series() {
    let (t, _sink) = tracer();
    let task = t.task_span("t").start();
    task.log_metric("Train Loss", 3.0);
    task.log_metric("train_loss", 2.0); // found as given
    task.log_metric("train loss!", 1.0); // cleaned, then found
    assert!(task.try_log_metric("!!!", 0.0).is_err(), "a name empty after cleaning is refused");
    let m = task.metrics();
    assert_eq!(m.keys().collect::<Vec<_>>(), ["train_loss"]);
    assert_eq!(m["train_loss"].values(), [3.0, 2.0, 1.0]);
}

/// A light span and a task that start and end in a thread-local
/// destructor, after the context stack of its thread is gone: they enter
/// nothing, still have their records written, and the thread exits without
/// a panic (it aborted the process before). Linux only: it relies on
/// thread-local destructors running in reverse order of registration.
#[cfg(target_os = "linux")]
#[test]
fn spans_in_a_thread_local_destructor_are_written_without_a_context() {
    struct EndsASpan(Tracer);
    impl Drop for EndsASpan {
        fn drop(&mut self) {
            let g = self.0.span("in-destructor").enter();
            assert!(crate::context::pick_current(|v| v.span).is_none(), "no context to enter");
            drop(g);
            self.0.task_span("task-in-destructor").run(|_| ());
        }
    }
    thread_local! {
        static LATE: std::cell::RefCell<Option<EndsASpan>> = const { std::cell::RefCell::new(None) };
    }
    let (t, sink) = tracer();
    let t2 = t.clone();
    std::thread::spawn(move || {
        // Registered first, so destroyed after the context stack (Linux
        // runs thread-local destructors in reverse order of registration).
        LATE.with(|l| *l.borrow_mut() = Some(EndsASpan(t2.clone())));
        // Touches the context stack, registering its destructor.
        drop(t2.span("before").enter());
    })
    .join()
    .expect("the thread exits cleanly");
    let recs = sink.take();
    let names: Vec<&str> = recs.iter().map(|r| &*r.name).collect();
    assert_eq!(names, ["before", "in-destructor", "task-in-destructor"]);
    assert_eq!(by_name(&recs, "in-destructor").parent_id, None);
}

/// A memory sink that asks for tasks' groups as data (as the export
/// pipeline does while its writer has time to spare).
struct RendersLater(MemorySink);

impl crate::SpanSink for RendersLater {
    fn export(&self, record: SpanRecord) {
        self.0.export(record);
    }
    fn flush(&self, timeout: std::time::Duration) -> crate::ExportReport {
        self.0.flush(timeout)
    }
    fn shutdown(&self, timeout: std::time::Duration) -> crate::ExportReport {
        self.0.shutdown(timeout)
    }
    fn renders_task_groups(&self, _: &crate::TaskData) -> bool {
        true
    }
}

#[test]
fn an_ended_task_whose_groups_went_as_data_reads_back_what_it_logged() {
    let sink = MemorySink::new();
    let t = Tracer::new(RendersLater(sink.clone()), "proj").unwrap();
    let (rt, rendered_sink) = tracer();
    let mut views = Vec::new();
    for tr in [&t, &rt] {
        let task = tr.task_span("t").start();
        task.log_param("lr", 0.5);
        task.log_input("x", 7);
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_764_000_000_123_456);
        task.log_metric("m", Metric::new(1.5).step(2).timestamp(at));
        task.log_output("y", "out");
        task.end();
        views.push((task.params(), task.inputs(), task.outputs(), task.metrics()));
    }
    // What the handle reads after the end is the same either way.
    assert_eq!(views[0], views[1]);
    assert_eq!(views[0].1["x"], serde_json::json!(7));
    // The record carries the data, which renders to the same groups.
    let (data, rendered) = (sink.take(), rendered_sink.take());
    let RecordKind::Task { groups: crate::TaskGroups::Data(d), .. } = &data[0].kind else {
        panic!("groups as data: {:?}", data[0].kind)
    };
    let RecordKind::Task { groups: crate::TaskGroups::Rendered(r), .. } = &rendered[0].kind else { panic!() };
    assert_eq!(crate::RenderedTask::render(d).escaped_parts(), r.escaped_parts());
    for key in crate::TASK_GROUP_KEYS {
        assert_eq!(attr(&data[0], key), attr(&rendered[0], key), "{key}");
    }
    // Rendered by the sink's call, in place, the data box given up.
    let mut data = data;
    assert_eq!(crate::render_task_groups(&mut data), 1);
    let RecordKind::Task { groups: crate::TaskGroups::Rendered(again), .. } = &data[0].kind else { panic!() };
    assert_eq!(again.escaped_parts(), r.escaped_parts());
    assert_eq!(crate::render_task_groups(&mut data), 0, "nothing left to render");
}

/// A value of any kind the object model hashes (serialized as itself).
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Logged {
    Int(i128),
    Str(String),
    Bool(bool),
    Float(f64),
    List(Vec<i32>),
    Big(crate::BigInt),
}

/// Values whose hashes repeat across kinds (`5` and `"5"`, `true` and
/// `"True"`, `NaN` and `"nan"` hash alike, as in Python), values kept
/// unhashed (numbers of every form, booleans, strings) and values hashed as
/// logged whatever the call (a list, a string over `OFFLOAD_THRESHOLD`).
fn logged_value(i: usize) -> Logged {
    match i {
        0 => Logged::Int(5),
        1 => Logged::Str("5".into()),
        2 => Logged::Bool(true),
        3 => Logged::Str("True".into()),
        4 => Logged::Str(String::new()),
        5 => Logged::Int(i128::MIN),
        6 => Logged::Str("é\"\n\u{2028}".into()),
        7 => Logged::Float(5.0),
        8 => Logged::List(vec![1, 2]),
        9 => Logged::Bool(false),
        10 => Logged::Int(u64::MAX.into()),
        11 => Logged::Str("s".repeat(crate::OFFLOAD_THRESHOLD + 1)),
        12 => Logged::Float(f64::NAN),
        13 => Logged::Str("nan".into()),
        14 => Logged::Float(f64::NEG_INFINITY),
        15 => Logged::Float(1e16),
        16 => Logged::Float(-0.0),
        17 => Logged::Float(1.5e-5),
        18 => Logged::Float(0.1 + 0.2),
        19 => Logged::Float(f64::INFINITY),
        20 => Logged::Str("5.0".into()),
        _ => Logged::Big("2".repeat(60).parse().unwrap()),
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// A task whose values were kept unhashed (`log_input`, `log_output`,
    /// with or without options) renders every group byte for byte as one
    /// whose values were all hashed as logged (`try_log_*`), repeats and
    /// all, and reads the same values back while open; a run hashes as it
    /// logs, so its updates carry no placeholder.
    #[test]
    fn values_kept_unhashed_render_as_values_hashed_when_logged(
        ops in proptest::collection::vec((0usize..22, 0u8..4, proptest::bool::ANY), 1..24)
    ) {
        let (t, sink) = tracer();
        let (hashed, kept) = (t.task_span("hashed").start(), t.task_span("kept").start());
        for (n, (value, how, output)) in ops.iter().enumerate() {
            let (name, v) = (format!("v{}", n % 4), logged_value(*value));
            let options = || crate::RefOptions::new().label("A label").attribute("k", n);
            match (how, output) {
                (0, false) => kept.log_input(&name, &v),
                (0, true) => kept.log_output(&name, &v),
                (1, false) => kept.log_input_with(&name, &v, options()),
                (1, true) => kept.log_output_with(&name, &v, options()),
                // Some hashed as logged on the task that keeps others unhashed.
                (_, false) => drop(kept.try_log_input(&name, &v).unwrap()),
                (_, true) => drop(kept.try_log_output(&name, &v).unwrap()),
            }
            match (how, output) {
                (1, false) => drop(hashed.try_log_input_with(&name, &v, options()).unwrap()),
                (1, true) => drop(hashed.try_log_output_with(&name, &v, options()).unwrap()),
                (_, false) => drop(hashed.try_log_input(&name, &v).unwrap()),
                (_, true) => drop(hashed.try_log_output(&name, &v).unwrap()),
            }
        }
        proptest::prop_assert_eq!(kept.inputs(), hashed.inputs());
        proptest::prop_assert_eq!(kept.outputs(), hashed.outputs());
        kept.end();
        hashed.end();
        let recs = sink.take();
        for key in crate::TASK_GROUP_KEYS {
            let (a, b) = (attr(by_name(&recs, "kept"), key), attr(by_name(&recs, "hashed"), key));
            proptest::prop_assert!(!a.as_deref().unwrap_or_default().contains("~~~~"), "a placeholder written: {:?}", a);
            proptest::prop_assert_eq!(a, b, "{}", key);
        }
    }
}

#[test]
fn a_runs_values_are_hashed_as_logged_and_a_tasks_are_kept_until_rendered() {
    let (t, _sink) = tracer();
    let run = t.run("r").start();
    let task = t.task_span("t").parent(&run).start();
    for span in [&run, &task] {
        span.log_input("x", 7);
        span.log_output("y", "out");
    }
    let placeholders = |s: &TaskSpan| {
        let st = s.0.state.lock();
        (st.data.objects.keys().filter(|h| h.is_placeholder()).count(), st.data.objects.len())
    };
    assert_eq!(placeholders(&run), (0, 2), "a run's updates carry objects hashed as logged");
    assert_eq!(placeholders(&task), (2, 2));
    assert_eq!(task.inputs()["x"], serde_json::json!(7), "an open task reads its unhashed values back");
    task.end();
    run.end();
}

#[test]
fn a_parent_keeps_each_ended_child_in_16_bytes() {
    // A run of 1 000 000 tasks keeps 16 MB of these (its route was in each before: 24 MB).
    assert_eq!(std::mem::size_of::<crate::task::Child>(), 16);
}

#[test]
fn a_task_handle_fits_the_allocators_per_thread_cache_and_a_record_four_cache_lines() {
    // glibc serves requests of up to 1 032 bytes from a per-thread cache
    // with no lock; larger ones take the arena's lock and sort its bins
    // (`_int_malloc`, `malloc_consolidate`). A task's `Arc<TaskInner>`
    // (its counts and the state) was 1 040 bytes: one id's `Option` was
    // 16 bytes and the trace id's alignment rounded the rest up. Ids are
    // non-zero by type now (`SpanId`, `TraceId`), so their `Option` costs
    // nothing.
    assert_eq!(std::mem::size_of::<Option<crate::SpanId>>(), 8);
    assert_eq!(std::mem::size_of::<Option<crate::TraceId>>(), 16);
    let arc_inner = 2 * std::mem::size_of::<usize>() + std::mem::size_of::<crate::task::TaskInner>();
    assert!(arc_inner <= 1032, "a task's Arc<TaskInner> takes {arc_inner} bytes");
    // A record is copied by value into the thread's buffer: four lines.
    assert!(std::mem::size_of::<crate::SpanRecord>() <= 256, "{}", std::mem::size_of::<crate::SpanRecord>());
}

//! Bad input never panics: it is a clear error or a counted, reported drop.
#![allow(clippy::unwrap_used)] // tests and benches fail loudly by design

mod common;

use common::{instance, spans};
use dn::Metric;
use serde_json::{Value, json};

#[test]
fn non_finite_metrics_are_kept_and_written_as_null() {
    let (dn, dir) = instance();
    dn.run("nan-run").run(|run| {
        run.log_metric("loss", f64::NAN);
        run.log_metric("loss", f64::INFINITY);
        run.log_metric("loss", Metric::new(f64::NEG_INFINITY).aggregation(dn::Aggregation::Avg));
        assert_eq!(run.metrics()["loss"].len(), 3);
    });
    dn.shutdown();
    let s = spans(dir.path());
    let m: Value = serde_json::from_str(s[0]["attributes"]["dreadnode.metrics"].as_str().unwrap()).unwrap();
    assert_eq!(m["loss"]["values"], json!([null, null, null]));
    assert_eq!(m["loss"]["steps"].as_array().unwrap().len(), 3, "series stay equal length");
}

#[test]
fn empty_and_huge_names_are_normalised() {
    let (dn, dir) = instance();
    dn.run("").run(|_| dn.task_span("x".repeat(100_000)).run(|t| assert!(t.name().len() <= dn::core::MAX_NAME_LEN)));
    dn.span("").run(|| ());
    dn.shutdown();
    let names: Vec<String> = spans(dir.path()).iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    assert!(names.contains(&"unnamed".to_string()), "{names:?}");
    assert!(names.iter().all(|n| n.len() <= dn::core::MAX_NAME_LEN));
    assert!(
        dn.run("r").run(|r| r.try_log_metric("!!!", 1.0)).is_err(),
        "a metric name that cleans to nothing is an error"
    );
}

#[test]
fn values_that_fail_to_serialize_are_recorded_by_type_name() {
    struct Opaque;
    impl serde::Serialize for Opaque {
        fn serialize<S: serde::Serializer>(&self, _s: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("cannot serialize"))
        }
    }
    let (dn, dir) = instance();
    dn.run("r").run(|r| r.try_log_input("opaque", &Opaque)).unwrap();
    dn.shutdown();
    let s = spans(dir.path());
    let schemas = s[0]["attributes"]["dreadnode.object_schemas"].as_str().unwrap();
    assert!(schemas.contains("x-rust-datatype"), "{schemas}");
    assert!(s[0]["attributes"]["dreadnode.objects"].as_str().unwrap().contains("Opaque"));
}

#[test]
fn path_escaping_projects_are_rejected() {
    let (dn, _dir) = instance();
    for bad in ["../evil", "a/b", "a\0b", "..", ""] {
        let e = dn.run("r").project(bad).try_start().expect_err(bad);
        assert!(e.to_string().contains("path component"), "{e}");
    }
    let dir = tempfile::tempdir().unwrap();
    let e = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).project("../x").isolated()).unwrap_err();
    assert!(matches!(e, dn::Error::Core(_)), "{e}");
}

#[test]
fn an_unwritable_local_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let e = dn::Dreadnode::new(dn::Config::new().local_dir(file.join("sub")).isolated()).unwrap_err();
    assert!(e.to_string().contains("not writable"), "{e}");
}

#[test]
fn logging_without_a_task_is_an_error_not_a_panic() {
    assert!(dn::current_task().is_none());
    assert!(dn::try_log_metric("m", 1.0).is_err());
    assert!(dn::try_log_input("i", 1).is_err());
    assert!(dn::try_log_output("o", 1).is_err());
    assert!(dn::try_log_param("p", 1).is_err());
    assert!(dn::try_tag(["t"]).is_err());
    assert!(dn::try_link_objects(1, 2, &[]).is_err());
    assert!(dn::try_log_sample("s", 1, 2, Vec::<(&str, f64)>::new(), 0).is_err());
    assert!(matches!(dn::try_push_update(), Err(dn::Error::Core(dn::core::Error::NoActiveRun(_)))));
}

#[test]
fn a_span_ended_twice_writes_once_and_errors() {
    let (dn, dir) = instance();
    let run = dn.run("twice").start();
    run.end();
    assert!(matches!(run.try_end(), Err(dn::core::Error::SpanEnded(_))));
    assert!(run.try_log_metric("late", 1.0).is_err(), "nothing can be logged after end");
    dn.shutdown();
    assert_eq!(spans(dir.path()).len(), 1);
}

#[test]
fn guards_dropped_out_of_order_leave_a_consistent_context() {
    let (dn, _dir) = instance();
    let run = dn.run("r").enter();
    let a = dn.task_span("a").enter();
    let b = dn.task_span("b").enter();
    drop(a); // out of order: pops b's context too
    assert_eq!(dn::current_task().map(|t| t.name().to_string()).as_deref(), Some("r"));
    drop(b);
    assert_eq!(dn::current_task().map(|t| t.name().to_string()).as_deref(), Some("r"));
    drop(run);
    assert!(dn::current_task().is_none());
}

#[test]
fn a_panic_in_a_task_marks_it_failed_and_continues() {
    let (dn, dir) = instance();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dn.run("panicking-run").run(|_| dn.task_span("boom").run(|_| panic!("kaboom")))
    }));
    assert!(caught.is_err(), "the panic reaches the caller");
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _g = dn.run("guard-run").enter();
        panic!("in a guard");
    }));
    assert!(caught.is_err());
    dn.shutdown();
    let s = spans(dir.path());
    assert_eq!(s.len(), 3);
    for span in &s {
        assert_eq!(span["status"], "ERROR", "{}", span["name"]);
        assert_eq!(span["attributes"]["logfire.level_num"], 17);
    }
    let boom = s.iter().find(|x| x["name"] == "boom").unwrap();
    assert_eq!(boom["events"][0]["attributes"]["exception.message"], "kaboom");
    assert_eq!(boom["events"][0]["attributes"]["exception.escaped"], "True");
}

#[test]
fn try_forms_fail_the_span_and_return_the_error_unchanged() {
    let (dn, dir) = instance();
    let r: Result<(), String> = dn.task_span("t").try_run(|_| Err("nope".to_string()));
    assert_eq!(r, Err("nope".to_string()));
    let r: Result<u8, std::io::Error> = dn.span("light").try_run(|| Err(std::io::Error::other("io")));
    assert!(r.is_err());
    dn.shutdown();
    let s = spans(dir.path());
    assert!(s.iter().all(|x| x["status"] == "ERROR"));
}

#[test]
fn a_dropped_unended_task_is_still_written() {
    let (dn, dir) = instance();
    let t = dn.task_span("forgotten").start();
    t.log_metric("m", 1.0);
    drop(t);
    dn.shutdown();
    let s = spans(dir.path());
    assert_eq!(s[0]["name"], "forgotten");
    assert!(s[0]["attributes"]["dreadnode.metrics"].as_str().unwrap().contains("\"m\""));
}

#[test]
fn shutdown_ends_open_spans_with_their_data() {
    let (dn, dir) = instance();
    let run = dn.run("open-run").start();
    let child = dn.task_span("open-child").parent(&run).start();
    child.log_input("kept", "yes");
    let report = dn.shutdown();
    assert!(report.is_clean(), "{report:?}");
    assert!(!run.active() && !child.active());
    let s = spans(dir.path());
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["name"], "open-child", "children end before parents");
    assert!(s[0]["attributes"]["dreadnode.inputs"].as_str().unwrap().contains("kept"));
    assert!(dn.run("after").run(|_| true), "using the API after shutdown does not panic");
    assert!(dn.shutdown().dropped_after_shutdown >= 1, "spans after shutdown are counted");
}

#[test]
fn the_api_key_never_appears_in_debug_output() {
    let c = dn::Config::new().api_key("sk-secret-123").server("https://example.invalid").organization("org");
    assert!(!format!("{c:?}").contains("sk-secret-123"));
    let s = c.resolve().unwrap();
    assert!(!format!("{s:?}").contains("sk-secret-123"));
    assert!(s.streaming, "auto backend streams when server, key and org are known");
}

#[test]
fn remote_backend_without_credentials_is_a_configuration_error() {
    let e = dn::Config::new().isolated().trace_backend(Some(dn::TraceBackend::Remote)).resolve().unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("server") && msg.contains("api key") && msg.contains("organization"), "{msg}");
    let local = dn::Config::new()
        .isolated()
        .api_key("k")
        .server("s")
        .organization("o")
        .trace_backend(Some(dn::TraceBackend::Local));
    assert!(!local.resolve().unwrap().streaming);
}

#[test]
fn a_malformed_profile_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("config.yaml");
    std::fs::write(&p, "active: [unclosed").unwrap();
    let e = dn::Config::new().profile_path(&p).local_dir(dir.path()).resolve().unwrap_err();
    assert!(e.to_string().contains("config.yaml"), "{e}");
    std::fs::write(&p, "active: main\nservers:\n  main:\n    url: https://x\n    api_key: k\n    default_organization: acme\n    default_project: proj-1\n").unwrap();
    let s = dn::Config::new().profile_path(&p).local_dir(dir.path()).resolve().unwrap();
    if std::env::var("DREADNODE_PROJECT").is_err() {
        assert_eq!(s.project, "proj-1");
    }
}

#[test]
fn finished_task_properties_survive_rendering() {
    let (dn, _dir) = instance();
    let run = dn.run("r").start();
    let child = dn.task_span("c").parent(&run).start();
    child.log_param("p", json!({"deep": [1, 2]}));
    child.log_input("question", "q?");
    child.log_output("answer", json!({"a": 1.5}));
    child.log_metric("loss", Metric::new(0.5).step(3));
    child.log_metric("loss", Metric::new(f64::NAN).step(4));
    let before = (child.params(), child.inputs(), child.outputs(), child.metrics());
    child.end();
    dn.flush(); // the writer renders the task and frees its structured data
    let after = (child.params(), child.inputs(), child.outputs(), child.metrics());
    assert_eq!(before.0, after.0);
    assert_eq!(before.1, after.1);
    assert_eq!(before.2, after.2);
    let (b, a) = (&before.3["loss"], &after.3["loss"]);
    assert_eq!(b.steps(), a.steps());
    assert_eq!(
        b.timestamps().iter().map(|t| t.as_nanos() / 1000).collect::<Vec<_>>(),
        a.timestamps().iter().map(|t| t.as_nanos() / 1000).collect::<Vec<_>>()
    );
    assert_eq!(a.values()[0], 0.5);
    assert!(a.values()[1].is_nan(), "a non-finite value reads back as NaN");
    assert_eq!(run.tasks(), vec![child]);
}

#[test]
fn open_runs_send_automatic_updates_with_only_their_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let dn = dn::Dreadnode::new(
        dn::Config::new().isolated().local_dir(dir.path()).update_interval(std::time::Duration::from_millis(50)),
    )
    .unwrap();
    let run = dn.run("long-run").start();
    run.log_metric("loss", 0.5);
    let updates = |dir: &std::path::Path| -> Vec<Value> {
        dn.flush();
        common::spans(dir).into_iter().filter(|s| s["attributes"]["dreadnode.type"] == "run_update").collect()
    };
    let t0 = std::time::Instant::now();
    while updates(dir.path()).is_empty() {
        assert!(t0.elapsed() < std::time::Duration::from_secs(10), "no automatic update");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    run.log_metric("loss", 0.25);
    while updates(dir.path()).len() < 2 {
        assert!(t0.elapsed() < std::time::Duration::from_secs(10), "no second update");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let u = updates(dir.path());
    assert_eq!(u.len(), 2, "no update while nothing new was logged");
    let m =
        |s: &Value| -> Value { serde_json::from_str(s["attributes"]["dreadnode.metrics"].as_str().unwrap()).unwrap() };
    assert_eq!(m(&u[0])["loss"]["values"], json!([0.5]));
    assert_eq!(m(&u[1])["loss"]["values"], json!([0.25]), "only the new point");
    assert_eq!(u[0]["name"], format!("run.{}.update", run.run_id()));
    assert_eq!(u[0]["parent_id"], run.span_id().to_string().as_str());
    run.end();
    dn.shutdown();
}

#[test]
fn attributes_set_after_start_are_listed_in_the_schema() {
    let (dn, dir) = instance();
    dn.run("r").attribute("at_start", 1).run(|run| {
        run.set_attribute("late_number", 3);
        run.set_attribute("late_object", json!({"a": [1, 2]}));
    });
    dn.shutdown();
    let s = &spans(dir.path())[0];
    let schema: Value = serde_json::from_str(s["attributes"]["dreadnode.schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema, json!({"type": "object", "properties": {"late_number": {}, "late_object": {}}}));
    assert_eq!(s["attributes"]["at_start"], 1, "primitives stay primitive");
    assert_eq!(s["attributes"]["late_object"], "{\"a\":[1,2]}", "anything else is compact JSON");
}

#[test]
fn push_update_returns_once_the_update_is_written() {
    let (dn, dir) = instance();
    let run = dn.run("r").start();
    run.log_metric("m", 1.0);
    let report = run.push_update(std::time::Duration::from_secs(10));
    assert!(!report.timed_out);
    // No flush here: push_update already waited for the writer.
    let s = spans(dir.path());
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["attributes"]["dreadnode.type"], "run_update");
    assert!(run.try_push_update(std::time::Duration::from_secs(10)).is_ok());
    assert_eq!(spans(dir.path()).len(), 1, "nothing new: no second update");
    run.end();
    dn.shutdown();
}

/// A parent keeps an ended child as its span id only; `tasks()` and
/// `all_tasks()` read ended children back from the files, with their
/// identity, outcome, tree and data, in creation order — also a child that
/// went to a session file, a failed one and grandchildren.
#[test]
fn ended_children_are_read_back_from_disk_with_their_tree_and_data() {
    let (dn, _dir) = instance();
    let run = dn.run("r").start();
    let (a_id, a_task_id) = {
        let a = dn.task_span("a").parent(&run).tags(["x"]).start();
        a.log_input("q", "what?");
        let g = dn.task_span("g").parent(&a).start();
        g.log_output("o", 7);
        g.end();
        a.log_output("answer", json!({"v": 1.5}));
        a.end();
        (a.span_id(), a.task_id().to_string())
    };
    let open = dn.task_span("still-open").parent(&run).start();
    {
        let _s = dn::bind_session_id("sess-1");
        let b = dn.task_span("b").parent(&run).start();
        b.log_metric("m", Metric::new(2.0).step(1));
        b.end();
    }
    let failed = dn.task_span("c").parent(&run).try_run(|_| -> Result<(), String> { Err("boom".into()) });
    assert!(failed.is_err());

    let tasks = run.tasks();
    let names: Vec<&str> = tasks.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["a", "still-open", "b", "c"]);
    let a = &tasks[0];
    assert_eq!((a.span_id(), a.task_id()), (a_id, a_task_id.as_str()), "the same identity as while open");
    assert!(!a.active());
    assert_eq!(a.tags(), ["x"]);
    assert_eq!(a.inputs()["q"], "what?");
    assert_eq!(a.outputs()["answer"], json!({"v": 1.5}));
    assert_eq!(a.parent_task_id(), Some(run.span_id()));
    assert_eq!(a.run_id(), run.run_id());
    assert!(a.end_time().is_some() && a.duration() > std::time::Duration::ZERO);
    assert_eq!(tasks[1], open, "open children are the live handle");
    assert!(tasks[1].active());
    assert_eq!(tasks[2].session_id(), Some("sess-1"));
    assert_eq!(tasks[2].metrics()["m"].values(), [2.0]);
    assert!(tasks[3].failed());
    assert!(matches!(tasks[3].status(), dn::Status::Error(m) if m.contains("boom")));
    assert!(a.try_end().is_err(), "a task read back has ended");

    let all: Vec<String> = run.all_tasks().iter().map(|t| t.name().to_string()).collect();
    assert_eq!(all, ["a", "g", "still-open", "b", "c"]);
    assert_eq!(a.tasks()[0].outputs()["o"], 7);
    open.end();
    dn.flush();
    let spans_before = spans(_dir.path()).len();
    drop(tasks);
    dn.flush();
    assert_eq!(spans(_dir.path()).len(), spans_before, "dropping read-back handles writes nothing");
}

/// A run's directory is made by the time its line is written (by the JSONL
/// exporter's side thread or its writer). When it is gone by then — here the
/// whole `projects` tree, removed while runs are open — the writer makes it
/// again: no line is lost for it.
#[test]
fn a_run_directory_removed_while_the_run_is_open_is_made_again() {
    let (dn, dir) = instance();
    dn.run("before").run(|r| r.log_metric("loss", 0.1));
    dn.flush();
    let runs: Vec<_> = (0..20).map(|i| dn.run(format!("removed-{i}")).start()).collect();
    std::fs::remove_dir_all(dir.path().join("projects")).unwrap();
    for r in &runs {
        r.log_metric("loss", 0.5);
        r.end();
    }
    dn.shutdown();
    let mut names: Vec<String> = spans(dir.path()).iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    names.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("removed-{i}")).collect();
    want.sort();
    assert_eq!(names, want, "every run's line, the directories made again; the removed run's with them");
}

/// New runs are made in their project directory, held open by the writer
/// while it makes them; a project directory renamed, or removed, between
/// two batches is not followed: the next runs are made where the layout
/// says, in a new directory at the project's path.
#[test]
fn new_runs_go_to_the_project_s_path_after_its_directory_was_renamed_or_removed() {
    let (dn, dir) = instance();
    let project = dir.path().join("projects").join("default");
    let batch = |tag: &str| {
        for i in 0..20 {
            dn.run(format!("{tag}-{i}")).run(|r| r.log_metric("m", 1.0));
        }
        dn.flush();
    };
    let runs_in = |p: &std::path::Path| std::fs::read_dir(p).map_or(0, |d| d.count());
    // The first batch makes the project's directory; the second is made in
    // it, held open.
    batch("first");
    batch("second");
    assert_eq!(runs_in(&project), 40);
    let moved = dir.path().join("projects").join("moved");
    std::fs::rename(&project, &moved).unwrap();
    batch("after-rename");
    assert_eq!(runs_in(&moved), 40, "no run followed the renamed directory");
    assert_eq!(runs_in(&project), 20, "the runs after the rename, at the project's path");
    std::fs::remove_dir_all(&project).unwrap();
    batch("after-removal");
    assert_eq!(runs_in(&project), 20, "the runs after the removal, in a directory made again");
    dn.shutdown();
    let names: std::collections::BTreeSet<String> =
        spans(dir.path()).iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names.len(), 80 - 20, "every line but those removed with their directory");
}

/// Runs whose directories cannot be made — the project's path is a file —
/// are counted as failed with the reason, whichever of the writer and its
/// side thread tried first; nothing hangs, and a project whose directory
/// can be made beside them keeps every line.
#[test]
fn runs_whose_directories_cannot_be_made_are_reported_and_the_rest_written() {
    let (dn, dir) = instance();
    std::fs::create_dir_all(dir.path().join("projects")).unwrap();
    std::fs::write(dir.path().join("projects").join("blocked"), b"a file, not a directory").unwrap();
    for i in 0..300 {
        dn.run(format!("blocked-{i}")).project("blocked").run(|r| r.log_metric("m", 1.0));
        dn.run(format!("kept-{i}")).project("kept").run(|r| r.log_metric("m", 1.0));
    }
    let report = dn.shutdown();
    let jsonl = report.exporters.iter().find(|e| e.name == "jsonl").unwrap();
    assert_eq!(jsonl.failed, 300, "{report:?}");
    assert!(jsonl.last_error.as_deref().is_some_and(|e| e.contains("blocked")), "{report:?}");
    assert_eq!(std::fs::read_dir(dir.path().join("projects/kept")).unwrap().count(), 300);
    assert_eq!(spans(dir.path()).len(), 300);
}

//! Snapshots of every reading command's text and `--json` output on the
//! Python SDK 2.0.52's reference directory (fixed ids and times) and on a
//! directory this SDK writes (ids and times filtered out).
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::Command;

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dn-testing/fixtures/python-2.0.52")
}

fn dn(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dn"))
        .args(args)
        .arg("--local-dir")
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("DREADNODE_SERVER")
        .env_remove("DREADNODE_API_KEY")
        .output()
        .unwrap();
    assert!(out.status.success(), "dn {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn dn_fails(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_dn")).args(args).arg("--local-dir").arg(dir).output().unwrap();
    assert!(!out.status.success(), "dn {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

macro_rules! snap {
    ($name:expr, $text:expr) => {
        insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

#[test]
fn runs_lists_the_python_reference_runs_newest_first() {
    let d = python_dir();
    snap!("runs_python", dn(&d, &["runs"]));
    snap!("runs_python_json_limit_3", dn(&d, &["runs", "--json", "--limit", "3"]));
    snap!("runs_python_project", dn(&d, &["runs", "--project", "support-bots"]));
}

#[test]
fn show_gives_the_tree_values_metrics_and_failures() {
    let d = python_dir();
    snap!("show_decorator_run", dn(&d, &["show", "decorator-run"]));
    snap!("show_failing_run", dn(&d, &["show", "0a772d87"]));
    snap!("show_remote_experiment", dn(&d, &["show", "remote-experiment"]));
    snap!("show_artifacts", dn(&d, &["show", "artifact-run"]));
    snap!("show_session", dn(&d, &["show", "--session", "session_123"]));
    snap!("show_nested_json", dn(&d, &["show", "nested-run", "--json"]));
}

#[test]
fn metrics_diff_and_export() {
    let d = python_dir();
    snap!("metrics_log_metrics_run", dn(&d, &["metrics", "log-metrics-run"]));
    snap!("metrics_json", dn(&d, &["metrics", "metrics-run", "agg_avg", "--json"]));
    snap!("diff_runs", dn(&d, &["diff", "log-metrics-run", "metrics-run"]));
    snap!("diff_json", dn(&d, &["diff", "decorator-run", "nested-run", "--json"]));
    snap!("export_tasks_csv", dn(&d, &["export", "decorator-run", "--table", "tasks"]));
    snap!("export_inputs_jsonl", dn(&d, &["export", "decorator-run", "--table", "inputs", "--format", "jsonl"]));
    snap!("export_metrics_csv", dn(&d, &["export", "metrics-run", "--table", "metrics"]));
    snap!("export_params_csv", dn(&d, &["export", "params-run", "--table", "params"]));
    snap!("export_samples_jsonl", dn(&d, &["export", "samples-run", "--table", "samples", "--format", "jsonl"]));
}

#[test]
fn unknown_and_ambiguous_runs_are_clear_errors() {
    let d = python_dir();
    assert!(dn_fails(&d, &["show", "no-such-run"]).contains("no run with id, id prefix or name \"no-such-run\""));
    assert!(dn_fails(&d, &["show", "3"]).contains("runs have ids starting with \"3\""));
}

/// Broken files are reported with file and line, and the rest still shows.
#[test]
fn a_corrupt_line_and_a_half_written_last_line_are_reported_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let src = python_dir().join("projects/default/1a172c81b1da48308746d24cacfd25e4");
    let dst = tmp.path().join("projects/default/1a172c81b1da48308746d24cacfd25e4");
    std::fs::create_dir_all(&dst).unwrap();
    let mut text = std::fs::read_to_string(src.join("spans.jsonl")).unwrap();
    text.insert_str(0, "{not json\n");
    text.push_str("{\"trace_id\": \"01a2");
    std::fs::write(dst.join("spans.jsonl"), text).unwrap();
    let out = dn(tmp.path(), &["show", "decorator-run"]);
    assert!(out.contains("plain_task"), "{out}");
    assert!(out.contains("2 line(s) could not be read"), "{out}");
    assert!(out.contains("spans.jsonl:1: not a span line"), "{out}");
    assert!(out.contains("incomplete last line"), "{out}");
    let runs = dn(tmp.path(), &["runs", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(v["problems"].as_array().unwrap().len(), 2);
    assert_eq!(
        dn(&tmp.path().join("nothing-here"), &["runs"]),
        "PROJECT  NAME  ID  START  DURATION  STATUS  TASKS  METRICS\n(no runs)\n"
    );
}

/// What this SDK writes: an evaluation-like run made here, shown with ids
/// and times filtered out.
#[test]
fn the_commands_read_what_this_sdk_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(tmp.path())).unwrap();
    for (name, lr) in [("exp-a", 0.1), ("exp-b", 0.01)] {
        d.run(name).run(|run| {
            run.log_param("lr", lr);
            for step in 0..20 {
                run.log_metric("loss", dn::Metric::new(1.0 / (step as f64 + 1.0) + lr).step(step));
            }
            d.task_span("train").tags(["gpu"]).run(|t| {
                t.log_input("epochs", 20);
                t.log_output("model", format!("weights-{name}"));
                d.span("forward").run(|| ());
            });
            if name == "exp-b" {
                let _ = d.task_span("eval").try_run(|_| -> Result<(), String> { Err("out of memory".into()) });
            }
        });
    }
    d.shutdown();
    let filters = vec![
        (r"[0-9a-f]{32}", "[id]"),
        (r"[0-9a-f]{16}", "[span]"),
        (r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(\+00:00)?", "[time]"),
        (r"\d+(\.\d+)? (ns|µs|ms|s)\b", "[dur]"),
        (r#""duration_ms": ?[0-9.e-]+"#, r#""duration_ms":[dur]"#),
        (r"\|[ █]+\|", "|[bar]|"),
        (r"(?m) +$", ""),
        (r" {2,}", "  "),
    ];
    insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false, filters => filters}, {
        insta::assert_snapshot!("ours_runs", dn(tmp.path(), &["runs"]));
        insta::assert_snapshot!("ours_show", dn(tmp.path(), &["show", "exp-b"]));
        insta::assert_snapshot!("ours_metrics", dn(tmp.path(), &["metrics", "exp-a", "loss"]));
        insta::assert_snapshot!("ours_diff", dn(tmp.path(), &["diff", "exp-a", "exp-b"]));
        insta::assert_snapshot!("ours_export_tasks", dn(tmp.path(), &["export", "exp-b", "--table", "tasks", "--format", "jsonl"]));
    });
}

/// `dn show RUN | head`: the reader stops early; dn stops writing, exits 0,
/// and says nothing (it panicked on the broken pipe).
#[test]
fn a_reader_that_stops_early_is_no_error() {
    use std::io::Read as _;
    let tmp = tempfile::tempdir().unwrap();
    let d = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(tmp.path())).unwrap();
    d.run("long").run(|run| {
        for i in 0..3_000 {
            d.task_span(format!("task-{i}")).parent(run).run(|_| ());
        }
    });
    d.shutdown();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dn"))
        .args(["show", "long", "--local-dir"])
        .arg(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap(); // then closed
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{:?}: {stderr}", out.status);
}

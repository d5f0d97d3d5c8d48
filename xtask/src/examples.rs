//! Runs every example against a fresh local directory and checks what it
//! wrote: JSONL key order, attribute sets, resolvable parents, expected
//! spans, object hashes, clean labels and tags, equal-length metric series.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use dn_testing::loopback::{Request, server};
use serde_json::{Value, json};

const LINE_KEYS: [&str; 11] = [
    "trace_id",
    "span_id",
    "parent_id",
    "name",
    "kind",
    "status",
    "start_time",
    "end_time",
    "attributes",
    "events",
    "resource",
];

pub(crate) struct Example {
    name: &'static str,
    spans: &'static [&'static str],
    /// What the documentation's version of the example shows, as
    /// `(span name or "*", fact)`; a fact is `type=T`, `tag=T`, `session=S`,
    /// `input.NAME=JSON`, `output.NAME=JSON`, `metric.NAME=VALUE` (last
    /// point), `param.NAME=JSON`, `attr.KEY=TEXT`, `status=CODE`, `parent=NAME` (the parent span's name) or
    /// `event=NAME`, and holds for at least one span of that name.
    facts: &'static [(&'static str, &'static str)],
}

const EXAMPLES: &[Example] = &[
    Example {
        name: "quickstart",
        spans: &["quickstart", "data-prep"],
        facts: &[
            ("data-prep", "type=task"),
            ("data-prep", "tag=etl"),
            ("data-prep", "input.rows=250"),
            ("data-prep", "metric.latency_ms=112"),
            ("data-prep", "output.status=\"ok\""),
        ],
    },
    Example {
        name: "spans",
        spans: &["spans-demo", "cache-warmup", "task-inside-light-span", "judge", "search"],
        facts: &[],
    },
    Example {
        name: "runs",
        spans: &["experiment-1", "eval-run", "scoring", "failed-run", "load-dataset"],
        facts: &[("failed-run", "status=ERROR"), ("load-dataset", "status=ERROR"), ("experiment-1", "status=UNSET")],
    },
    Example { name: "logging", spans: &["logging-demo", "qa-sample", "batch"], facts: &[] },
    Example { name: "current_spans", spans: &["props-run", "child-1", "grandchild"], facts: &[] },
    Example { name: "async_tasks", spans: &["async-demo", "worker-0", "worker-7", "inner"], facts: &[] },
    Example {
        name: "task_decorator",
        spans: &["ticket-classification", "classify", "classifier", "word_count", "route", "parse_priority", "triage"],
        facts: &[
            ("classify", "input.text=\"I want a refund\""),
            ("classify", "output.output=\"billing\""),
            ("classifier", "input.text=\"REFUND please\""),
            ("classifier", "output.output=\"billing\""),
            ("classifier", "metric.is_billing=1"),
            ("classifier", "tag=v2"),
            ("classify", "attr.code.filepath=examples/task_decorator.rs"),
        ],
    },
    Example { name: "artifacts", spans: &["artifact-run"], facts: &[] },
    Example { name: "backends", spans: &["backends-demo", "data-prep"], facts: &[] },
    Example {
        name: "distributed",
        spans: &["distributed-parent", "dispatch", "remote-work"],
        facts: &[("*", "metric.remote_score=0.88"), ("remote-work", "output.result=\"done\"")],
    },
    Example {
        name: "sessions",
        spans: &["chat:turn-1", "tool-call", "alice-turn-0", "bob-turn-2"],
        facts: &[
            ("chat:turn-1", "session=session_123"),
            ("chat:turn-1", "input.prompt=\"Hi\""),
            ("chat:turn-1", "output.response=\"Hello!\""),
            ("alice-turn-0", "session=alice"),
            ("bob-turn-2", "session=bob"),
        ],
    },
    Example {
        name: "scrubbing",
        spans: &["scrubbed-run", "triage"],
        facts: &[
            ("triage", "input.prompt=\"The deploy key is [REDACTED:aws_access_key_id], rotate it\""),
            ("triage", "output.verdict=\"rotate\""),
            ("scrubbed-run", "param.db={\"host\":\"db.internal\",\"password\":\"[REDACTED:password]\"}"),
        ],
    },
    Example {
        name: "generation",
        spans: &["support-bot", "answer", "follow-up"],
        facts: &[
            ("answer", "type=generation"),
            ("answer", "attr.gen_ai.request.model=gpt-4o-mini"),
            ("answer", "attr.gen_ai.provider.name=openai"),
            ("answer", "attr.gen_ai.operation.name=chat"),
            ("answer", "metric.input_tokens=14"),
            ("answer", "metric.output_tokens=9"),
            ("answer", "output.finish_reasons=[\"stop\"]"),
            ("answer", "output.reply=\"Refunds arrive within 5 business days.\""),
            (
                "follow-up",
                "attr.gen_ai.input.messages=[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"And if it does not?\"}]}]",
            ),
        ],
    },
    Example {
        name: "tracing_bridge",
        spans: &["trip-planning", "plan_trip", "fetch_forecast"],
        facts: &[
            ("fetch_forecast", "parent=plan_trip"),
            ("fetch_forecast", "attr.city=Lisbon"),
            ("fetch_forecast", "attr.http.request.method=GET"),
            ("fetch_forecast", "event=request sent"),
            ("fetch_forecast", "event=response received"),
            ("plan_trip", "metric.forecast_celsius=21.5"),
        ],
    },
    Example {
        name: "evaluation",
        spans: &["classifier-eval", "classify", "spot-check", "publish-report", "offline-audit", "chat:turn-1"],
        facts: &[],
    },
];

/// Whether `fact` (see [`Example::facts`]) holds for span `s`.
fn fact_holds(s: &Value, all: &[Value], fact: &str) -> bool {
    let attrs = &s["attributes"];
    let inner = |k: &str| attrs[k].as_str().and_then(|t| serde_json::from_str::<Value>(t).ok()).unwrap_or_default();
    let Some((key, want)) = fact.split_once('=') else { return false };
    let value_of = |group: &str, name: &str| -> Option<Value> {
        let hash = inner(group).as_array()?.iter().rev().find(|r| r["name"] == name)?["hash"].as_str()?.to_string();
        Some(inner("dreadnode.objects")[hash.as_str()]["value"].clone())
    };
    match key.split_once('.') {
        None if key == "type" => attrs["dreadnode.type"] == want,
        None if key == "tag" => attrs["dreadnode.tags"].as_array().is_some_and(|t| t.iter().any(|x| x == want)),
        None if key == "session" => attrs["dreadnode.session.id"] == want,
        None if key == "status" => s["status"] == want,
        None if key == "parent" => all.iter().any(|p| p["span_id"] == s["parent_id"] && p["name"] == want),
        None if key == "event" => s["events"].as_array().is_some_and(|e| e.iter().any(|e| e["name"] == want)),
        Some(("attr", name)) => attrs[name].as_str() == Some(want),
        Some(("input", name)) => value_of("dreadnode.inputs", name) == serde_json::from_str(want).ok(),
        Some(("param", name)) => {
            inner("dreadnode.params")[name] == serde_json::from_str::<Value>(want).unwrap_or_default()
        }
        Some(("output", name)) => value_of("dreadnode.outputs", name) == serde_json::from_str(want).ok(),
        Some(("metric", name)) => {
            let metrics = inner("dreadnode.metrics");
            let got = metrics[name]["values"].as_array().and_then(|v| v.last()).and_then(Value::as_f64);
            let want = want.parse::<f64>().ok();
            matches!((got, want), (Some(g), Some(w)) if (g - w).abs() < 1e-9)
        }
        _ => false,
    }
}

/// The `dn` command reads what the example wrote: `dn runs --json` lists
/// runs with no unreadable line, and `dn show --json` of each run, `dn
/// metrics --json` and `dn export --table tasks` succeed.
fn check_dn_reads(dn: &Path, ex: &Example, dir: &Path) -> Result<(), String> {
    let run =
        |args: &[&str]| crate::example_snapshots::dn(dn, dir, args).map_err(|e| format!("example {}: {e}", ex.name));
    let runs: Value = serde_json::from_str(&run(&["runs", "--json"])?).map_err(|e| e.to_string())?;
    if runs["problems"].as_array().is_some_and(|p| !p.is_empty()) {
        return Err(format!("example {}: dn runs found unreadable lines: {}", ex.name, runs["problems"]));
    }
    let ids: Vec<&str> = runs["runs"].as_array().into_iter().flatten().filter_map(|r| r["id"].as_str()).collect();
    if ids.is_empty() && !ex.spans.is_empty() && ex.name != "sessions" {
        return Err(format!("example {}: dn runs lists no run", ex.name));
    }
    for id in &ids {
        let shown: Value = serde_json::from_str(&run(&["show", id, "--json"])?).map_err(|e| e.to_string())?;
        if shown["spans"].as_array().is_none_or(|s| s.is_empty()) {
            return Err(format!("example {}: dn show {id} shows no span", ex.name));
        }
        run(&["metrics", id, "--json"])?;
        run(&["export", id, "--table", "tasks"])?;
    }
    eprintln!("xtask:    dn reads it ({} run(s) shown)", ids.len());
    Ok(())
}

/// Only the SDK's own folders may appear in a local directory.
fn check_local_dir(ex: &Example, dir: &Path) -> Result<(), String> {
    for e in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !["projects", "sessions", "artifacts", "cas"].contains(&name.as_str()) {
            return Err(format!("example {} wrote {name:?} into the local directory", ex.name));
        }
    }
    Ok(())
}

/// Runs every example of the dn workspace at `root` and checks its files;
/// with `s3s_fs` (the real S3 server's binary), runs the `artifacts` example
/// once more streaming to a stand-in platform whose storage is that server.
pub fn run_all(root: &std::path::Path, s3s_fs: Option<&std::path::Path>) -> Result<(), String> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let bin_dir = target.join("debug/examples");
    for ex in EXAMPLES {
        eprintln!("xtask: == example {}", ex.name);
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let stdout = run_checked(&bin_dir, ex, dir.path(), &[])?;
        if ex.name == "evaluation" {
            check_evaluation(&stdout, dir.path())?;
        }
        if ex.name == "scrubbing" {
            check_scrubbing(&stdout, dir.path())?;
        }
        check_dn_reads(&target.join("debug/dn"), ex, dir.path())?;
        crate::example_snapshots::check(root, &target.join("debug/dn"), ex.name, dir.path())?;
    }
    let mut passed = EXAMPLES.len();
    if let Some(bin) = s3s_fs {
        eprintln!("xtask: == example artifacts, uploading to s3s-fs through a stand-in platform");
        artifacts_uploading(&bin_dir, bin)?;
        passed += 1;
    }
    eprintln!("{passed} passed, 0 failed");
    Ok(())
}

/// The `evaluation` example: one run holds all 50 concurrent calls (no
/// call lost its context), the scorer read the expected labels (45 of 50
/// right), nothing was a logging fault, and only the SDK's own folders are
/// in the local directory.
fn check_evaluation(stdout: &str, dir: &Path) -> Result<(), String> {
    for want in ["holds 56 tasks; accuracy 0.90", "push_update clean: true", "logging faults: 0"] {
        if !stdout.contains(want) {
            return Err(format!("example evaluation: stdout lacks {want:?}:\n{stdout}"));
        }
    }
    let runs = std::fs::read_dir(dir.join("projects/ticket-eval")).map_err(|e| e.to_string())?.count();
    if runs != 1 {
        return Err(format!("example evaluation: {runs} run folders, want 1 (a call lost its context)"));
    }
    let file = stdout.lines().find_map(|l| l.strip_prefix("wrote: ")).unwrap_or_default();
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let scored = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["name"] == "classify")
        .filter(|v| v["attributes"]["dreadnode.metrics"].as_str().is_some_and(|m| m.contains("\"accuracy\"")))
        .count();
    if scored != 50 {
        return Err(format!("example evaluation: {scored} scored classify spans in the run's file, want 50"));
    }
    eprintln!("xtask:    ok (one run, 50 scored calls, accuracy 0.90, no logging fault)");
    Ok(())
}

/// The `scrubbing` example: the report counts one password and one AWS key
/// id, and neither secret is in any file it wrote.
fn check_scrubbing(stdout: &str, dir: &Path) -> Result<(), String> {
    for want in ["scrubbed password: 1", "scrubbed aws_access_key_id: 1"] {
        if !stdout.contains(want) {
            return Err(format!("example scrubbing: stdout lacks {want:?}:\n{stdout}"));
        }
    }
    for (_, line) in dn_testing::jsonl::read_all(dir) {
        let text = line.to_string();
        if text.contains("hunter2") || text.contains("AKIAZ7Q3ABCDEFGH1234") {
            return Err("example scrubbing: a planted secret is in a local file".into());
        }
    }
    eprintln!("xtask:    ok (2 values scrubbed, counted by pattern, in no file)");
    Ok(())
}

/// Runs one example with `DREADNODE_LOCAL_DIR` = `dir` (and `env`), checks
/// every file it says it wrote, and returns its stdout.
pub(crate) fn run_checked(
    bin_dir: &std::path::Path,
    ex: &Example,
    dir: &std::path::Path,
    env: &[(&str, String)],
) -> Result<String, String> {
    let mut cmd = Command::new(bin_dir.join(ex.name));
    cmd.env("DREADNODE_LOCAL_DIR", dir)
        .env_remove("DREADNODE_SERVER")
        .env_remove("DREADNODE_API_KEY")
        .env_remove("DREADNODE_TRACE_BACKEND")
        .env("HOME", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().map_err(|e| format!("example {}: {e}", ex.name))?;
    if !out.status.success() {
        return Err(format!(
            "example {} exited with {}: {}",
            ex.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let files: Vec<PathBuf> = stdout.lines().filter_map(|l| l.strip_prefix("wrote: ")).map(PathBuf::from).collect();
    if files.is_empty() {
        return Err(format!("example {} printed no 'wrote: <file>' line", ex.name));
    }
    check_local_dir(ex, dir)?;
    let mut names = HashSet::new();
    let (mut ids, mut parents) = (HashSet::new(), Vec::new());
    let mut all: Vec<Value> = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("example {}: {}: {e}", ex.name, f.display()))?;
        all.extend(text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()));
        if !f.starts_with(dir) {
            return Err(format!("example {} wrote outside DREADNODE_LOCAL_DIR: {}", ex.name, f.display()));
        }
        let spans = check_file(f).map_err(|e| format!("example {}: {}: {e}", ex.name, f.display()))?;
        names.extend(spans.names);
        ids.extend(spans.ids);
        parents.extend(spans.parents);
    }
    // A run's session spans live in the session's file: parents resolve
    // across the files the example wrote.
    if let Some(p) = parents.iter().find(|p| !ids.contains(*p)) {
        return Err(format!("example {}: parent_id {p} is not a span of the files it wrote {files:?}", ex.name));
    }
    for want in ex.spans {
        if !names.contains(*want) {
            return Err(format!("example {}: no span named {want:?} in {files:?}", ex.name));
        }
    }
    for (span, fact) in ex.facts {
        if !all.iter().filter(|s| *span == "*" || s["name"] == *span).any(|s| fact_holds(s, &all, fact)) {
            return Err(format!("example {}: no span {span:?} with {fact} in {files:?}", ex.name));
        }
    }
    eprintln!("xtask:    ok ({} file(s), {} distinct span names)", files.len(), names.len());
    Ok(stdout)
}

/// The example named `name`.
pub(crate) fn example(name: &str) -> Option<&'static Example> {
    EXAMPLES.iter().find(|e| e.name == name)
}

/// The `artifacts` example's entry.
pub(crate) fn artifacts_example() -> &'static Example {
    EXAMPLES.iter().find(|e| e.name == "artifacts").unwrap_or(&EXAMPLES[0])
}

/// What one file holds: span names, span ids, and the parent ids it names.
#[derive(Default)]
struct FileSpans {
    names: Vec<String>,
    ids: HashSet<String>,
    parents: Vec<String>,
}

fn check_file(path: &PathBuf) -> Result<FileSpans, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut out = FileSpans::default();
    let (ids, parents, names) = (&mut out.ids, &mut out.parents, &mut out.names);
    for (i, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {}: not JSON: {e}", i + 1))?;
        let obj = v.as_object().ok_or("line is not an object")?;
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        if keys != LINE_KEYS {
            return Err(format!("line {}: keys {keys:?}, want {LINE_KEYS:?}", i + 1));
        }
        let attrs = obj["attributes"].as_object().ok_or("attributes is not an object")?;
        for k in [
            "dreadnode.version",
            "dreadnode.type",
            "dreadnode.label",
            "dreadnode.tags",
            "dreadnode.schema",
            "logfire.msg",
            "dreadnode.run.id",
        ] {
            if !attrs.contains_key(k) {
                return Err(format!("line {}: attribute {k} missing", i + 1));
            }
        }
        if attrs["dreadnode.type"] != "span" {
            for k in ["dreadnode.project", "dreadnode.metrics"] {
                if !attrs.contains_key(k) {
                    return Err(format!("line {}: task attribute {k} missing", i + 1));
                }
            }
        }
        for (k, v) in attrs {
            if let Some(s) = v.as_str() {
                if (s.starts_with('{') || s.starts_with('['))
                    && serde_json::from_str::<Value>(s).is_ok()
                    && (s.contains("\": ") || s.contains(", \""))
                {
                    return Err(format!("line {}: attribute {k} is not compact JSON", i + 1));
                }
            }
        }
        check_task_groups(attrs).map_err(|e| format!("line {}: {e}", i + 1))?;
        ids.insert(obj["span_id"].as_str().unwrap_or_default().to_string());
        if let Some(p) = obj["parent_id"].as_str() {
            parents.push(p.to_string());
        }
        names.push(obj["name"].as_str().unwrap_or_default().to_string());
    }
    Ok(out)
}

/// Object hashes recomputed from the stored values, labels and tags cleaned,
/// metric series of equal length.
fn check_task_groups(attrs: &serde_json::Map<String, Value>) -> Result<(), String> {
    let decode = |k: &str| attrs.get(k).and_then(Value::as_str).and_then(|s| serde_json::from_str::<Value>(s).ok());
    if let Some(Value::Object(objects)) = decode("dreadnode.objects") {
        for (hash, o) in &objects {
            if o["type"] == "val" {
                let again = dn_core::serialize(&o["value"]).hash;
                if again.as_str() != hash {
                    return Err(format!("object {hash} does not hash to itself (recomputed {again})"));
                }
            }
        }
    }
    let label = attrs.get("dreadnode.label").and_then(Value::as_str).unwrap_or_default();
    if dn_core::clean_str(label) != label {
        return Err(format!("label {label:?} is not clean"));
    }
    for t in attrs.get("dreadnode.tags").and_then(Value::as_array).into_iter().flatten() {
        let t = t.as_str().unwrap_or_default();
        if dn_core::clean_str(t) != t {
            return Err(format!("tag {t:?} is not clean"));
        }
    }
    if let Some(Value::Object(metrics)) = decode("dreadnode.metrics") {
        for (name, m) in &metrics {
            let len = |k: &str| m[k].as_array().map_or(usize::MAX, Vec::len);
            if len("values") != len("steps") || len("values") != len("timestamps") {
                return Err(format!("metric {name}: series of unequal length"));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The `artifacts` example against real remote storage: `s3s-fs` on
// loopback as the bucket and a stand-in for the platform's API (scope,
// traces, storage credentials), so CI sees the example upload its files
// and send nothing the second time it logs the same directory.
// ---------------------------------------------------------------------------

const BUCKET: &str = "dn-artifacts";
const ACCESS_KEY: &str = "AKIAXTASK";
const SECRET: &str = "xtask-example-secret";

/// Runs the example streaming to a stand-in platform whose storage is a
/// fresh s3s-fs; checks what it printed and what the bucket holds.
pub fn artifacts_uploading(bin_dir: &Path, s3s_fs: &Path) -> Result<(), String> {
    let bucket_root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let s3 = dn_testing::stand_ins::start_s3s_fs(s3s_fs, bucket_root.path(), BUCKET, ACCESS_KEY, SECRET)?;
    let credentials = json!({
        "access_key_id": ACCESS_KEY, "secret_access_key": SECRET, "session_token": null,
        "expiration": "2099-01-01T00:00:00Z", "region": "us-east-1",
        "bucket": BUCKET, "prefix": "acme/main", "endpoint": s3.endpoint,
    });
    let platform = server(move |req: &Request| {
        dn_testing::stand_ins::platform_answer(req, "default", || (200, credentials.clone()))
    });
    let local = tempfile::tempdir().map_err(|e| e.to_string())?;
    let env = [
        ("DREADNODE_SERVER", platform.base.clone()),
        ("DREADNODE_API_KEY", "xtask-example-key".to_string()),
        ("DREADNODE_ORGANIZATION", "acme".to_string()),
    ];
    let stdout = run_checked(bin_dir, artifacts_example(), local.path(), &env)?;
    let line = stdout.lines().find(|l| l.starts_with("uploads: ")).unwrap_or_default();
    // report.txt and the directory's two files are sent once; logging the
    // directory again sends nothing.
    let want_prefix = "uploads: 3 sent (";
    let want_suffix = "), 2 already in the bucket, 0 failed";
    if !(line.starts_with(want_prefix) && line.ends_with(want_suffix)) {
        return Err(format!("example artifacts (uploading): expected '{want_prefix}..{want_suffix}', got {line:?}"));
    }
    let report = bucket_root
        .path()
        .join(BUCKET)
        .join("acme/main/artifacts/sha256/51/bc/51bc0fc1f19104fa6e89ce50be9aa1f57c3346c1ca51ab49f5f00e14ce8f8076");
    match std::fs::read(&report) {
        Ok(b) if b == b"hello artifact\n" => {}
        other => return Err(format!("example artifacts (uploading): {} holds {other:?}", report.display())),
    }
    eprintln!("xtask:    ok ({line})");
    Ok(())
}

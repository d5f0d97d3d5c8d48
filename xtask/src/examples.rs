//! Runs every example against a fresh local directory and checks what it
//! wrote: JSONL key order, attribute sets, resolvable parents, expected
//! spans, object hashes, clean labels and tags, equal-length metric series.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

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
}

const EXAMPLES: &[Example] = &[
    Example { name: "quickstart", spans: &["quickstart", "data-prep"] },
    Example { name: "spans", spans: &["spans-demo", "cache-warmup", "task-inside-light-span", "judge", "search"] },
    Example { name: "runs", spans: &["experiment-1", "eval-run", "scoring"] },
    Example { name: "logging", spans: &["logging-demo", "qa-sample", "batch"] },
    Example { name: "current_spans", spans: &["props-run", "child-1", "grandchild"] },
    Example { name: "async_tasks", spans: &["async-demo", "worker-0", "worker-7", "inner"] },
    Example {
        name: "task_decorator",
        spans: &["ticket-classification", "classify", "classify-v2", "word_count", "route", "parse_priority", "triage"],
    },
    Example { name: "artifacts", spans: &["artifact-run"] },
    Example { name: "backends", spans: &["backends-demo", "data-prep"] },
    Example { name: "distributed", spans: &["distributed-parent", "dispatch", "remote-work"] },
    Example { name: "sessions", spans: &["chat-turn", "tool-call", "alice-turn-0", "bob-turn-2"] },
];

/// Runs every example of the dn workspace at `root` and checks its files;
/// with `s3s_fs` (the real S3 server's binary), runs the `artifacts` example
/// once more streaming to a stand-in platform whose storage is that server.
pub fn run_all(root: &std::path::Path, s3s_fs: Option<&std::path::Path>) -> Result<(), String> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let bin_dir = target.join("debug/examples");
    for ex in EXAMPLES {
        eprintln!("xtask: == example {}", ex.name);
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        run_checked(&bin_dir, ex, dir.path(), &[])?;
    }
    let mut passed = EXAMPLES.len();
    if let Some(bin) = s3s_fs {
        eprintln!("xtask: == example artifacts, uploading to s3s-fs through a stand-in platform");
        crate::storage::artifacts_uploading(&bin_dir, bin)?;
        passed += 1;
    }
    eprintln!("{passed} passed, 0 failed");
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
    let mut names = HashSet::new();
    for f in &files {
        if !f.starts_with(dir) {
            return Err(format!("example {} wrote outside DREADNODE_LOCAL_DIR: {}", ex.name, f.display()));
        }
        for n in check_file(f).map_err(|e| format!("example {}: {}: {e}", ex.name, f.display()))? {
            names.insert(n);
        }
    }
    for want in ex.spans {
        if !names.contains(*want) {
            return Err(format!("example {}: no span named {want:?} in {files:?}", ex.name));
        }
    }
    eprintln!("xtask:    ok ({} file(s), {} distinct span names)", files.len(), names.len());
    Ok(stdout)
}

/// The `artifacts` example's entry.
pub(crate) fn artifacts_example() -> &'static Example {
    EXAMPLES.iter().find(|e| e.name == "artifacts").unwrap_or(&EXAMPLES[0])
}

fn check_file(path: &PathBuf) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut ids = HashSet::new();
    let mut parents = Vec::new();
    let mut names = Vec::new();
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
    for p in parents {
        if !ids.contains(&p) {
            return Err(format!("parent_id {p} is not a span of the same file"));
        }
    }
    Ok(names)
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

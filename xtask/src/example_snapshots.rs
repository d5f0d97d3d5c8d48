//! Snapshots of the `dn` reading commands on every example's output: for
//! each example, `dn runs` (text and `--json`), and for each of its runs
//! `dn show` (text and `--json`), `dn metrics --json` of the run's own
//! metrics and `dn export`, with
//! siblings ordered by name (`--order name`) so that concurrent examples
//! give the same text every time, and ids, times, durations, waterfall bars
//! and temporary paths filtered out. The snapshots live in
//! `xtask/snapshots/examples/<example>.snap`; `DN_BLESS=1` rewrites them.

use std::path::Path;
use std::process::Command;

use regex::Regex;
use serde_json::Value;

/// Runs `dn ARGS --local-dir DIR` without colour; its stdout, or the error.
pub(crate) fn dn(dn: &Path, dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(dn)
        .args(args)
        .arg("--local-dir")
        .arg(dir)
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| format!("{}: {e}", dn.display()))?;
    if !out.status.success() {
        return Err(format!("dn {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Replaces what changes from one run of an example to the next.
fn filter(text: &str) -> String {
    let rules: [(&str, &str); 10] = [
        (r#"/tmp/[^\s"]*"#, "[tmp]"),
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[uuid]"),
        (r"\b[0-9a-f]{32}\b", "[id]"),
        (r"\b[0-9a-f]{16}\b", "[span]"),
        (r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "[time]"),
        (r"\b\d+(\.\d+)? (ns|µs|ms|s)\b|\b\d+m \d\ds\b", "[dur]"),
        (r#""duration_ms": ?-?[0-9.e+-]+"#, r#""duration_ms": [dur]"#),
        (r"\|[ █]+\|", "|[bar]|"),
        (r"(?m)[ \t]+$", ""),
        (r"(\S) {2,}", "$1  "),
    ];
    let mut t = text.to_string();
    for (re, with) in rules {
        t = Regex::new(re).map(|r| r.replace_all(&t, with).into_owned()).unwrap_or(t);
    }
    t
}

/// The snapshot text of an example's local directory.
pub fn render(dn_bin: &Path, dir: &Path) -> Result<String, String> {
    let mut out = String::new();
    let mut section = |title: String, body: String| {
        out.push_str(&format!("$ dn {title}\n{}\n", filter(&body).trim_end()));
    };
    section("runs --order name".into(), dn(dn_bin, dir, &["runs", "--order", "name"])?);
    let runs_json = dn(dn_bin, dir, &["runs", "--order", "name", "--json"])?;
    let runs: Value = serde_json::from_str(&runs_json).map_err(|e| e.to_string())?;
    section("runs --order name --json".into(), runs_json);
    for (i, run) in runs["runs"].as_array().into_iter().flatten().enumerate() {
        let id = run["id"].as_str().unwrap_or_default();
        let name = format!("<run {}: {}>", i + 1, run["name"].as_str().unwrap_or("?"));
        section(format!("show {name} --order name"), dn(dn_bin, dir, &["show", id, "--order", "name"])?);
        section(
            format!("show {name} --order name --json"),
            dn(dn_bin, dir, &["show", id, "--order", "name", "--json"])?,
        );
        // The run's own metrics (series merged from concurrent tasks come
        // in the order they were logged, which changes from run to run).
        let names: Vec<&str> = run["metrics"].as_object().into_iter().flatten().map(|(k, _)| k.as_str()).collect();
        if !names.is_empty() {
            let mut args = vec!["metrics", id];
            args.extend(&names);
            args.push("--json");
            section(format!("metrics {name} {} --json", names.join(" ")), dn(dn_bin, dir, &args)?);
        }
        section(
            format!("export {name} --table tasks --format jsonl"),
            sorted_lines(&dn(dn_bin, dir, &["export", id, "--table", "tasks", "--format", "jsonl"])?),
        );
    }
    if let [a, b, ..] = runs["runs"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let (a, b) = (a["id"].as_str().unwrap_or_default(), b["id"].as_str().unwrap_or_default());
        section("diff <run 1> <run 2>".into(), dn(dn_bin, dir, &["diff", a, b])?);
    }
    Ok(out)
}

/// Export rows come in file order (the order spans ended): sorted for the snapshot.
fn sorted_lines(text: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(filter).collect();
    lines.sort();
    lines.join("\n")
}

/// Compares the example's snapshot with the stored one (or stores it with
/// `DN_BLESS=1`); a difference is an error showing the diff.
pub fn check(root: &Path, dn_bin: &Path, example: &str, dir: &Path) -> Result<(), String> {
    let got = render(dn_bin, dir).map_err(|e| format!("example {example}: {e}"))?;
    let path = root.join("xtask/snapshots/examples").join(format!("{example}.snap"));
    if std::env::var_os("DN_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap_or(root)).map_err(|e| e.to_string())?;
        std::fs::write(&path, &got).map_err(|e| e.to_string())?;
        eprintln!("xtask:    snapshot written: {}", path.display());
        return Ok(());
    }
    let want = std::fs::read_to_string(&path)
        .map_err(|e| format!("example {example}: no snapshot {} ({e}); run with DN_BLESS=1", path.display()))?;
    if want != got {
        let diff = similar::TextDiff::from_lines(&want, &got);
        return Err(format!(
            "example {example}: dn output differs from {} (DN_BLESS=1 rewrites it):\n{}",
            path.display(),
            diff.unified_diff().context_radius(2).header("snapshot", "now")
        ));
    }
    eprintln!("xtask:    dn output matches its snapshot");
    Ok(())
}

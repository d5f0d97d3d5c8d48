//! `cargo xtask bench cli`: the `dn` reading commands on large local
//! directories, as a user runs them (release builds, output to /dev/null):
//! `dn runs` over 10 000 runs, `dn show` of one of them and of a run with
//! 1 000 000 spans,
//! `dn metrics` of a run that logged 1 000 000 metric points, and the JSONL
//! read rate (bytes of spans files read and parsed per second by
//! `dn runs`). Wall time and peak RSS from `/usr/bin/time` when present.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::workspace::Workspace;

/// Runs the benchmark and prints its table.
pub fn run(ws: &Workspace) -> Result<(), String> {
    let bin = ws.build_release("the workload program and dn", &[("dn-process-tests", "workload"), ("dn-cli", "dn")])?;
    let target = ws.target();
    let scratch = tempfile::tempdir_in(&target).map_err(|e| e.to_string())?;
    let load = crate::machine::load_averages();

    let runs_dir = scratch.path().join("runs");
    produce(&bin, "runs", 10_000, &runs_dir)?;
    let big_dir = scratch.path().join("big");
    produce(&bin, "light", 1_000_000, &big_dir)?;
    let big_run = only_run(&big_dir)?;
    let bytes = dir_bytes(&big_dir);
    let metric_dir = scratch.path().join("metric");
    produce(&bin, "metric", 1_000_000, &metric_dir)?;
    let metric_run = only_run(&metric_dir)?;

    let (runs_s, runs_kib) = timed(&bin.join("dn"), &["runs", "--local-dir"], &runs_dir)?;
    let one_of_many = std::fs::read_dir(runs_dir.join("projects/default"))
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .min()
        .ok_or("no run written")?;
    let (one_s, one_kib) = timed(&bin.join("dn"), &["show", &one_of_many, "--local-dir"], &runs_dir)?;
    let (show_s, show_kib) = timed(&bin.join("dn"), &["show", &big_run, "--local-dir"], &big_dir)?;
    let (read_s, _) = timed(&bin.join("dn"), &["runs", "--local-dir"], &big_dir)?;
    let (metrics_s, metrics_kib) = timed(&bin.join("dn"), &["metrics", &metric_run, "--local-dir"], &metric_dir)?;
    let mib = |k: Option<u64>| k.map_or("n/a".to_string(), |k| format!("{:.0} MiB", k as f64 / 1024.0));
    println!("dn reading commands, release build, output to /dev/null ({}; load before: {})", ws.provenance(), load);
    println!("| command | data | wall | peak RSS | target |");
    println!("|---|---|---|---|---|");
    println!("| `dn runs` | 10 000 runs | {runs_s:.2} s | {} | ≤ 1 s |", mib(runs_kib));
    println!("| `dn show RUN` | one run among those 10 000 | {one_s:.2} s | {} | ≤ 0.1 s |", mib(one_kib));
    println!(
        "| `dn show RUN` | 1 000 000 spans, {:.0} MB | {show_s:.2} s | {} | ≤ 3 s, ≤ 1 GiB |",
        bytes as f64 / 1e6,
        mib(show_kib)
    );
    println!(
        "| `dn metrics RUN` | 1 000 000 points of one metric, {:.0} MB | {metrics_s:.2} s | {} | ≤ 1 s, ≤ 4× the line |",
        dir_bytes(&metric_dir) as f64 / 1e6,
        mib(metrics_kib)
    );
    println!(
        "| JSONL read (`dn runs` over that run) | {:.0} MB | {read_s:.2} s = {:.0} MB/s | | ≥ 200 MB/s |",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / read_s
    );
    Ok(())
}

/// The id of the one run under `dir`.
fn only_run(dir: &Path) -> Result<String, String> {
    std::fs::read_dir(dir.join("projects/default"))
        .map_err(|e| e.to_string())?
        .flatten()
        .next()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .ok_or_else(|| "no run written".to_string())
}

fn produce(bin: &Path, workload: &str, n: u64, dir: &Path) -> Result<(), String> {
    let out = Command::new(bin.join("workload"))
        .args(["dn", workload, &n.to_string()])
        .arg(dir)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) }
}

/// Runs `dn ARGS DIR` with stdout to /dev/null: wall seconds and peak RSS (KiB).
fn timed(dn: &Path, args: &[&str], dir: &Path) -> Result<(f64, Option<u64>), String> {
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.args(["-f", "%M"]).arg(dn);
        c
    } else {
        Command::new(dn)
    };
    cmd.args(args).arg(dir).env("NO_COLOR", "1").stdout(std::process::Stdio::null());
    let t0 = Instant::now();
    let out = cmd.output().map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("dn {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let kib = String::from_utf8_lossy(&out.stderr).lines().last().and_then(|l| l.trim().parse().ok());
    Ok((secs, kib))
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "jsonl") {
                n += e.metadata().map_or(0, |m| m.len());
            }
        }
    }
    n
}

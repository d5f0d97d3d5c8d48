//! `cargo xtask bench workloads`: what users pay, as whole processes. Each
//! workload of issue #13 runs in its own release process
//! (`dn-process-tests`' `workload` program) for dn, the raw
//! `opentelemetry_sdk` (batch processor, JSON-lines exporter) and fastrace
//! (JSON-lines reporter), with one more, `current`: dn's light loop
//! beside the baselines' spans made current while open, as dn's entered
//! span is (the light row leaves them out of the context), at
//! N = 10 000 and 100 000: the clock runs from
//! before configure to the return of shutdown, every span on disk (tmpfs
//! when there is one). Each cell is the median of five processes (of 11 at
//! N = 10 000 and 15 for start-up, which take milliseconds and less and are
//! noisier), the systems' processes
//! interleaved (each repetition runs all of them back to back); the
//! table gives µs per operation, the ratios to both baselines, peak RSS and
//! the lines each wrote. Beside them the file-system floor: the same
//! program writing dn's lines (their count and average size) with no SDK
//! at all — for runs a directory and a file each, as the local layout asks
//! — so a ratio near 1 says the disk, not the SDK, sets the time. Then the
//! memory figures of one 1 000 000-task run
//! logging a 5 KB input per task and of 100 000 tasks from 16 threads
//! logging a 2 KB input each (on disk, not tmpfs). Prints a Markdown
//! table and writes it to `target/bench/workloads.md`; each row says the
//! machine's mode while it ran (the core round trip of `machine`).
//!
//! `cargo xtask bench workloads --one-core` runs the same table with every
//! process pinned to one CPU (`taskset -c 0`): a machine whose other cores
//! a training job keeps busy, where dn's caller and writer share one core
//! and what counts is the CPU each call costs in all, not how much of it
//! runs beside the caller (dn sees one core and its writer never renders
//! for the callers). No memory run; written to
//! `target/bench/workloads-one-core.md`. `bench ab` takes the same flag
//! last.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::workspace::Workspace;

/// The systems each workload runs on: dn and its two baselines.
pub(crate) const SYSTEMS: [&str; 3] = ["dn", "otel", "fastrace"];
/// The workloads (the workload program's names) and their table titles.
pub(crate) const WORKLOADS: [(&str, &str); 9] = [
    ("task", "task span + 1 input, 1 metric (step), 1 output"),
    ("threads", "the same task span from 2 threads, N / 2 each"),
    ("light", "light span (enter + drop)"),
    ("current", "light span made current (baselines' too)"),
    ("metric", "metric point"),
    ("decorated", "`#[dn::task]` async call, 1 input + output"),
    ("runs", "run with 1 param + 1 metric"),
    ("payload", "task span with a 5 KB input"),
    ("startup", "configure + shutdown"),
];
/// Processes per cell at N = 100 000 (the median is shown).
const REPEAT: usize = 5;
/// Processes per cell at N = 10 000: each takes milliseconds, where one
/// slow moment of a shared machine is a large part, and a median of five
/// put the task cell at 2.47 µs against 1.46 µs over fifteen alternated
/// processes run right after (2026-12-05). More of them cost little.
const REPEAT_SHORT: usize = 11;
/// Start-up takes well under a millisecond, where a process start on a
/// shared machine varies by several times: its cell is the median of more.
const REPEAT_STARTUP: usize = 15;

/// Where the processes run: on every CPU, or pinned to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cpus {
    /// As the machine gives them.
    All,
    /// Pinned to CPU 0 with `taskset`.
    One,
}

impl Cpus {
    /// `--one-core` among `args` (which it takes out), or every CPU.
    pub fn from_args(args: &mut Vec<String>) -> Cpus {
        match args.iter().position(|a| a == "--one-core") {
            Some(i) => {
                args.remove(i);
                Cpus::One
            }
            None => Cpus::All,
        }
    }
}

/// Runs every workload and prints the table.
pub fn run(ws: &Workspace, cpus: Cpus) -> Result<(), String> {
    let bin = ws.build_release("the workload program", &[("dn-process-tests", "workload")])?.join("workload");
    let target = ws.target();
    let fast_fs = Path::new("/dev/shm");
    let scratch = if fast_fs.is_dir() { tempfile::tempdir_in(fast_fs) } else { tempfile::tempdir() }
        .map_err(|e| e.to_string())?;
    let mut out = String::new();
    out.push_str(&format!(
        "workloads, whole processes, every span on disk{}; median of {REPEAT} ({REPEAT_SHORT} at N = 10 000, {REPEAT_STARTUP} for start-up); {} UTC; load before: {}\n\n",
        if cpus == Cpus::One { ", each pinned to one CPU (taskset -c 0)" } else { "" },
        ws.provenance(),
        crate::machine::load_averages()
    ));
    out.push_str("| workload | N | dn | raw OTel | fastrace | dn / OTel | dn / fastrace | file-system floor | dn / floor | peak RSS dn / OTel / fastrace | lines dn / OTel / fastrace | core round trip |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (w, title) in WORKLOADS {
        for n in if w == "startup" { &[1u64][..] } else { &[10_000u64, 100_000][..] } {
            // The machine's mode for this row (see `machine`), before and after.
            let before = crate::machine::round_trip_text();
            let (cells, floor) = interleaved(&bin, w, *n, scratch.path(), cpus)?;
            let round_trip = format!("{before} / {}", crate::machine::round_trip_text());
            let per_op = |v: &Value| v["elapsed_ns"].as_f64().unwrap_or(f64::NAN) / *n as f64;
            let (d, o, f) = (per_op(&cells[0]), per_op(&cells[1]), per_op(&cells[2]));
            let mib = |v: &Value| v["peak_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0;
            let lines = |v: &Value| v["lines"].as_u64().unwrap_or(0);
            let ratio = |x: f64, base: &Value| {
                let mark = if lines(base) < lines(&cells[0]) { " †" } else { "" };
                format!("{:.2}×{mark}", d / x)
            };
            let (floor_time, floor_ratio) = match &floor {
                Some(v) => (time(per_op(v)), format!("{:.2}×", d / per_op(v))),
                None => ("—".to_string(), "—".to_string()),
            };
            out.push_str(&format!(
                "| {title} | {n} | {} | {} | {} | {} | {} | {floor_time} | {floor_ratio} | {:.0} / {:.0} / {:.0} MiB | {} / {} / {} | {round_trip} |\n",
                time(d),
                time(o),
                time(f),
                ratio(o, &cells[1]),
                ratio(f, &cells[2]),
                mib(&cells[0]),
                mib(&cells[1]),
                mib(&cells[2]),
                cells[0]["lines"],
                cells[1]["lines"],
                cells[2]["lines"]
            ));
        }
    }
    out.push_str(
        "\n† the baseline wrote fewer lines than dn: it dropped spans, so it did less work. For the metric \
         row, raw OTel also keeps only 128 events per span (its default limit) and drops the rest.\n\
         Core round trip: a cache line between two threads and back, before and after the row (40–65 ns in \
         this machine kind's fast mode, 360–410 ns in its slow one, where a process handing work between \
         two threads, as dn's caller and writer do, runs up to twice as long).\n",
    );
    if cpus == Cpus::All {
        let big = tempfile::tempdir_in(&target).map_err(|e| e.to_string())?;
        let m = one(&bin, "dn", "payload", 1_000_000, &big.path().join("m"), None, cpus)?;
        out.push_str(&format!(
            "\n1 000 000 task spans each logging a distinct 5 KB input (dn, on disk): peak RSS {:.1} MiB, {} lines, {:.2} µs per task\n",
            m["peak_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
            m["lines"],
            m["elapsed_ns"].as_f64().unwrap_or(f64::NAN) / 1e9
        ));
        let t = one(&bin, "dn", "thread-burst", 100_000, &big.path().join("t"), None, cpus)?;
        out.push_str(&format!(
            "100 000 task spans from 16 threads, each logging a 2 KB input (dn, on disk): peak RSS {:.1} MiB, {} lines\n",
            t["peak_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
            t["lines"],
        ));
    }
    println!("{out}");
    let dir = target.join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = if cpus == Cpus::One { "workloads-one-core.md" } else { "workloads.md" };
    std::fs::write(dir.join(file), &out).map_err(|e| e.to_string())?;
    Ok(())
}

fn time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Each system's median process for workload `w` at `n`, and the floor's
/// (when dn wrote lines). The processes of one repetition run back to back,
/// dn, raw OTel, fastrace, floor, then the next repetition: a machine that
/// drifts (these are shared) moves every column alike, so the ratios hold
/// better than with each column's processes run together.
fn interleaved(bin: &Path, w: &str, n: u64, scratch: &Path, cpus: Cpus) -> Result<(Vec<Value>, Option<Value>), String> {
    let repeat = match (w, n) {
        ("startup", _) => REPEAT_STARTUP,
        (_, n) if n <= 10_000 => REPEAT_SHORT,
        _ => REPEAT,
    };
    let mut runs: Vec<Vec<Value>> = vec![Vec::new(); SYSTEMS.len() + 1];
    let mut line_bytes = None;
    for i in 0..repeat {
        for (k, s) in SYSTEMS.iter().enumerate() {
            runs[k].push(one(bin, s, w, n, &scratch.join(format!("{s}-{w}-{n}-{i}")), None, cpus)?);
        }
        // The floor writes dn's lines: their count and average size, as
        // dn's first process of this cell wrote them.
        if i == 0 {
            let first = &runs[0][0];
            line_bytes = match first["lines"].as_u64().unwrap_or(0) {
                0 => None,
                l => Some(first["bytes"].as_u64().unwrap_or(0) / l),
            };
        }
        if let Some(avg) = line_bytes {
            let dir = scratch.join(format!("floor-{w}-{n}-{i}"));
            runs[SYSTEMS.len()].push(one(bin, "floor", w, n, &dir, Some(avg), cpus)?);
        }
    }
    let mut medians: Vec<Option<Value>> = runs
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a["elapsed_ns"].as_u64().cmp(&b["elapsed_ns"].as_u64()));
            let mid = r.len() / 2;
            (!r.is_empty()).then(|| r.swap_remove(mid))
        })
        .collect();
    let floor = medians.pop().flatten();
    Ok((medians.into_iter().map(|m| m.unwrap_or(Value::Null)).collect(), floor))
}

/// `cargo xtask bench ab <workload> <N> <processes> <binary A> <binary B>`:
/// two builds of the `workload` program (say, `main`'s and a change's,
/// copied aside after each `cargo build --release -p dn-process-tests --bin
/// workload`) run dn's `workload` in pairs, A then B, then B then A,
/// `processes` times each, with nothing else started beside them (each process's output is
/// read after it exits: a parser started beside it takes the second core).
/// Prints, for each, the median, lower quartile and fastest time and the
/// median peak RSS and CPU time per operation (the caller's thread, and
/// the others: the writer's and dn's side threads), then B / A. A caller's
/// CPU well below its time per operation says the other threads set the
/// pace. `--one-core` last pins every process to
/// one CPU, as `bench workloads --one-core` does.
///
/// The machine's mode (see `machine`) is read before the first pair and
/// after each: a pair whose two readings agree is that mode's, and B / A
/// is also given as the median of those pairs' own ratios, mode by mode,
/// with the pairs the mode changed within left out. One session's five
/// runs of a change read 0.91–1.12× with the mode changing during four of
/// them (2026-12-07): a ratio of two medians that mixes the modes says
/// more about when they changed than about the change.
pub fn ab(args: &[String]) -> Result<(), String> {
    let usage =
        || "usage: cargo xtask bench ab <workload> <N> <processes> <binary A> <binary B> [--one-core]".to_string();
    let mut args = args.to_vec();
    let cpus = Cpus::from_args(&mut args);
    let [workload, n, reps, a, b] = &args[..] else { return Err(usage()) };
    let n: u64 = n.parse().ok().filter(|n| *n > 0).ok_or_else(usage)?;
    let reps: usize = reps.parse().ok().filter(|r| *r > 0).ok_or_else(usage)?;
    let fast_fs = Path::new("/dev/shm");
    let scratch = if fast_fs.is_dir() { tempfile::tempdir_in(fast_fs) } else { tempfile::tempdir() }
        .map_err(|e| e.to_string())?;
    let bins = [Path::new(a), Path::new(b)];
    let mut round_trip = crate::machine::core_round_trip_ns();
    let before = round_trip;
    let mut runs: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
    let mut cpu: [Vec<(u64, u64)>; 2] = [Vec::new(), Vec::new()];
    let mut pairs = Vec::with_capacity(reps);
    for i in 0..reps {
        let mut elapsed = [0u64; 2];
        // A then B, then B then A: whatever the process before a pair's
        // first one (or the mode reading) leaves behind falls on each alike.
        for k in if i % 2 == 0 { [0, 1] } else { [1, 0] } {
            let bin = bins[k];
            let v = one(bin, "dn", workload, n, &scratch.path().join(format!("{k}-{i}")), None, cpus)?;
            elapsed[k] = v["elapsed_ns"].as_u64().unwrap_or(0);
            runs[k].push((elapsed[k], v["peak_kib"].as_u64().unwrap_or(0)));
            cpu[k].push((v["cpu_main_ns"].as_u64().unwrap_or(0), v["cpu_other_ns"].as_u64().unwrap_or(0)));
        }
        let after = crate::machine::core_round_trip_ns();
        pairs.push(Pair { a_ns: elapsed[0], b_ns: elapsed[1], round_trips: [round_trip, after] });
        round_trip = after;
    }
    let mut medians = [0f64; 2];
    for (k, r) in runs.iter_mut().enumerate() {
        r.sort_unstable();
        let mut rss: Vec<u64> = r.iter().map(|x| x.1).collect();
        rss.sort_unstable();
        medians[k] = r[r.len() / 2].0 as f64;
        let median_cpu = |pick: fn(&(u64, u64)) -> u64| {
            let mut v: Vec<u64> = cpu[k].iter().map(pick).collect();
            v.sort_unstable();
            time(v[v.len() / 2] as f64 / n as f64)
        };
        println!(
            "{}: median {}, lower quartile {}, fastest {} per operation; peak RSS {:.1} MiB ({} processes); \
             CPU per operation: caller {}, other threads {} (medians)",
            bins[k].display(),
            time(medians[k] / n as f64),
            time(r[r.len() / 4].0 as f64 / n as f64),
            time(r[0].0 as f64 / n as f64),
            rss[rss.len() / 2] as f64 / 1024.0,
            r.len(),
            median_cpu(|c| c.0),
            median_cpu(|c| c.1),
        );
    }
    let pinned = if cpus == Cpus::One { ", one CPU" } else { "" };
    println!("B / A: {:.3}× at the median ({workload}, N = {n}{pinned})", medians[1] / medians[0]);
    for line in pairs_by_mode(&pairs) {
        println!("{line}");
    }
    println!(
        "core round trip before / after: {} / {} (see xtask's `machine`)",
        crate::machine::round_trip_shown(before),
        crate::machine::round_trip_shown(round_trip)
    );
    Ok(())
}

/// One A, B pair of `bench ab`: their times and the round trips read
/// before and after them.
#[derive(Clone, Copy, Debug)]
struct Pair {
    a_ns: u64,
    b_ns: u64,
    round_trips: [f64; 2],
}

/// B / A as the median of the pairs' own ratios, for each mode that whole
/// pairs ran in, and how many pairs the mode changed within (and how many
/// had no time to compare: a process that reported none).
fn pairs_by_mode(pairs: &[Pair]) -> Vec<String> {
    use crate::machine::Mode;
    let mut lines = Vec::new();
    let (mut mixed, mut untimed) = (0, 0);
    let mut by_mode: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for p in pairs {
        let [before, after] = p.round_trips.map(Mode::of);
        if p.a_ns == 0 || p.b_ns == 0 {
            untimed += 1;
            continue;
        }
        if before != after {
            mixed += 1;
            continue;
        }
        by_mode[usize::from(before == Mode::Slow)].push(p.b_ns as f64 / p.a_ns as f64);
    }
    for (mode, mut ratios) in [Mode::Fast, Mode::Slow].into_iter().zip(by_mode) {
        if ratios.is_empty() {
            continue;
        }
        ratios.sort_by(f64::total_cmp);
        let (median, lowest, highest) = (ratios[ratios.len() / 2], ratios[0], ratios[ratios.len() - 1]);
        lines.push(match ratios.len() {
            1 => format!("B / A in the {} mode: {median:.3}× (one pair)", mode.name()),
            k => format!(
                "B / A in the {} mode: {median:.3}× (median of {k} pairs' own ratios, {lowest:.3}–{highest:.3}×)",
                mode.name()
            ),
        });
    }
    if mixed > 0 {
        lines.push(format!("the mode changed within {mixed} of {} pairs (left out above)", pairs.len()));
    }
    if untimed > 0 {
        lines.push(format!("{untimed} of {} pairs had a process that reported no time (left out above)", pairs.len()));
    }
    lines
}

fn one(
    bin: &Path,
    system: &str,
    workload: &str,
    n: u64,
    dir: &Path,
    line_bytes: Option<u64>,
    cpus: Cpus,
) -> Result<Value, String> {
    let mut command = match cpus {
        Cpus::All => Command::new(bin),
        Cpus::One => {
            let mut c = Command::new("taskset");
            c.args(["-c", "0"]).arg(bin);
            c
        }
    };
    let out = command
        .args([system, workload, &n.to_string()])
        .arg(dir)
        .args(line_bytes.map(|b| b.to_string()))
        .output()
        .map_err(|e| match cpus {
            Cpus::All => format!("{}: {e}", bin.display()),
            Cpus::One => format!("taskset (util-linux, which --one-core pins the processes with): {e}"),
        })?;
    let _ = std::fs::remove_dir_all(dir);
    if !out.status.success() {
        return Err(format!("workload {system} {workload} {n}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("workload {system} {workload}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::{Cpus, Pair, pairs_by_mode};

    #[test]
    fn ab_pairs_are_summed_up_by_the_mode_they_ran_in_whole() {
        let pair = |a_ns, b_ns, round_trips| Pair { a_ns, b_ns, round_trips };
        let pairs = [
            pair(100, 90, [50.0, 60.0]),
            pair(100, 110, [40.0, 45.0]),
            pair(100, 95, [55.0, 70.0]),
            pair(200, 150, [400.0, 420.0]),
            pair(100, 300, [60.0, 450.0]),
            pair(300, 100, [430.0, 80.0]),
            pair(0, 100, [50.0, 60.0]),
        ];
        assert_eq!(
            pairs_by_mode(&pairs),
            [
                "B / A in the fast mode: 0.950× (median of 3 pairs' own ratios, 0.900–1.100×)",
                "B / A in the slow mode: 0.750× (one pair)",
                "the mode changed within 2 of 7 pairs (left out above)",
                "1 of 7 pairs had a process that reported no time (left out above)",
            ]
        );
        assert!(pairs_by_mode(&[]).is_empty());
    }

    #[test]
    fn one_core_is_taken_out_of_the_arguments_wherever_it_is() {
        let mut args: Vec<String> = ["light", "1000", "--one-core", "3"].map(String::from).to_vec();
        assert_eq!(Cpus::from_args(&mut args), Cpus::One);
        assert_eq!(args, ["light", "1000", "3"]);
        let mut args: Vec<String> = ["light", "1000"].map(String::from).to_vec();
        assert_eq!(Cpus::from_args(&mut args), Cpus::All);
        assert_eq!(args, ["light", "1000"]);
    }
}

//! `cargo xtask bench instructions [A B]`: the instructions each workload of
//! `bench workloads` costs per operation, counted by callgrind
//! (`valgrind --tool=callgrind --separate-threads=yes`) for dn, the raw
//! `opentelemetry_sdk` and fastrace, on the caller's thread and on all
//! threads together.
//!
//! Why: the times of `bench workloads` and `bench spans` move with the
//! machine (see `machine`: its slow mode takes up to twice as long), so a
//! comparison between two sittings, or a goal judged against one, says as
//! much about the machine as about the code. An instruction count does not
//! depend on the machine's mode or load. It is not a time either: a cache
//! miss, a system call's kernel work, a page fault or a wait on the other
//! thread costs no instruction here, and two loops of the same count can
//! take very different times. Read it beside the timed tables, never
//! instead of them.
//!
//! Each workload runs at N = [`N_LOW`] and [`N_HIGH`] in its own process
//! under callgrind; the difference, divided by the difference of N, is the
//! cost of one operation with the process's start, configure and shutdown
//! taken out. (Start-up, a whole process, has no such difference and is
//! left out.) Told it runs under callgrind (`WORKLOAD_UNDER_CALLGRIND`),
//! the workload program leaves out its count of the lines on disk (the
//! lines are counted after each process, outside valgrind, by `workload
//! count`, and every row shows them) and lets dn's clock calibrate before
//! the loop.
//!
//! **The caller's loop** is counted alone: the workload program runs each
//! system's loop in `caller_loop`, and callgrind dumps the main thread's
//! counts as it enters and leaves it (`--dump-before` / `--dump-after`).
//! dn's writer takes work from its callers when it has time (its own
//! measure of how busy it is, so the timing): it renders a task's groups
//! (with the SHA-1 of its values) and formats light spans' lines. The
//! share the caller did varies between processes (the task row's caller
//! read 15 506 and 17 482 instructions a task in two runs), so the table
//! gives it on its own, "of which rendering and formatting"
//! (`RenderedTask::render_from` and `format_line_here`, read from the
//! loop's inclusive costs with `callgrind_annotate`), and compares the
//! rest, **the caller's own**, with fastrace's caller. Under valgrind the
//! threads take turns on one core, so dn's writer is behind more often
//! than with a core of its own, and the caller does more of that work than
//! natively. valgrind also hides the CPU's SHA extensions, so the `sha2`
//! crate hashes in software there: the rendering of the task and payload
//! rows counts several times the hashing it does natively.
//!
//! **How much they move** (2026-12-07). On an idle machine, six runs
//! gave the same caller's own for dn's task, light, metric and run loops,
//! and within 1.3% for the others; raw OTel's loops the same counts;
//! fastrace's within 2.5% (task 4 432 and 4 525, metric 2 538 and 2 603)
//! but its loop under tokio, 1 716–1 919 in seven runs (a tenth).
//! Before the workload program let dn's clock calibrate first, the clock
//! switched from the wall clock's path to the counter's at a point of the
//! loop that moved with the timing (the metric loop read 379 and 467). With
//! a CI run on the other core, dn's caller's own moved by up to 4% between
//! two runs of the same binary. **All threads** add the writers,
//! collectors and exporters, whose waits and hand-offs depend on timing:
//! within 6% between the idle runs, but by up to a fifth for dn's light
//! row, a half for its metric row and twice for raw OTel's (whose loop
//! drops nearly all of its points), and far more under load (read them
//! from an idle machine only). Raw OTel keeps 128
//! events a span and drops the rest, so its metric row counts a loop that
//! drops nearly every point: read no ratio to it there.
//!
//! With two builds of the workload program, `bench instructions A B`
//! counts dn's workloads in each and gives B / A ([`ab`]): the A/B of a
//! change in instructions, beside `bench ab`'s in time.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::workloads::{SYSTEMS, WORKLOADS};
use crate::workspace::Workspace;

/// The smaller N of each pair of processes.
pub const N_LOW: u64 = 2_000;
/// The larger N of each pair of processes.
pub const N_HIGH: u64 = 12_000;

/// The function the workload program runs each loop in.
pub const LOOP_FUNCTION: &str = "workload::caller_loop";
/// dn's functions for the work its writer takes from the caller when it
/// has time: rendering a task's groups (with the SHA-1 of its logged
/// values), on the caller as the task ends, while records wait, or for a
/// large task, and formatting a light span's line while records wait.
/// Neither calls the other.
pub const SHARED_FUNCTIONS: [&str; 2] =
    ["dn_core::model::task_data::RenderedTask::render_from", "dn_export::pipeline::format_line_here"];

/// One process's count: the caller's loop, every thread's, and the lines
/// it left on disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Instructions of the main thread inside [`LOOP_FUNCTION`].
    pub caller_loop: u64,
    /// Of those, inside [`SHARED_FUNCTIONS`].
    pub shared: u64,
    /// Instructions of every thread, the whole process.
    pub all: u64,
    /// Lines written under the workload's directory.
    pub lines: u64,
}

/// Per operation, between the two processes of a pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerOp {
    /// In the caller's loop.
    pub caller: f64,
    /// Of which inside [`SHARED_FUNCTIONS`].
    pub shared: f64,
    /// On all threads.
    pub all: f64,
}

impl PerOp {
    /// The cost of one operation from the counts at `n_low` and `n_high`.
    pub fn between(low: Count, high: Count, n_low: u64, n_high: u64) -> PerOp {
        let ops = n_high.saturating_sub(n_low).max(1) as f64;
        let per = |h: u64, l: u64| (h as f64 - l as f64) / ops;
        PerOp {
            caller: per(high.caller_loop, low.caller_loop),
            shared: per(high.shared, low.shared),
            all: per(high.all, low.all),
        }
    }
    /// The caller's own: its loop less the shared work.
    pub fn own(self) -> f64 {
        self.caller - self.shared
    }
}

/// The workloads counted, with their titles: `threads` is the task row's
/// body on two threads, and start-up a whole process with no loop to take
/// a difference of.
fn counted_workloads() -> impl Iterator<Item = (&'static str, &'static str)> {
    WORKLOADS.into_iter().filter(|(w, _)| *w != "threads" && *w != "startup")
}

/// Scratch directories for the processes, one each.
struct Scratch {
    root: tempfile::TempDir,
    next: usize,
}

impl Scratch {
    fn new() -> Result<Scratch, String> {
        Ok(Scratch { root: tempfile::tempdir().map_err(|e| e.to_string())?, next: 0 })
    }
    fn dir(&mut self) -> PathBuf {
        self.next += 1;
        self.root.path().join(self.next.to_string())
    }
}

/// One operation's cost of `workload` on `system` in `bin`: a process at
/// [`N_LOW`] and one at [`N_HIGH`]; with the lines each left.
fn per_op(bin: &Path, system: &str, workload: &str, scratch: &mut Scratch) -> Result<(PerOp, [u64; 2]), String> {
    let low = count(bin, system, workload, N_LOW, &scratch.dir())?;
    let high = count(bin, system, workload, N_HIGH, &scratch.dir())?;
    Ok((PerOp::between(low, high, N_LOW, N_HIGH), [low.lines, high.lines]))
}

/// One file callgrind wrote: its name, the header's `thread:` and
/// `summary:` (or older `totals:`), and whether it is the dump taken as
/// [`LOOP_FUNCTION`] was left.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dump {
    /// The file's name.
    pub name: String,
    /// The thread (1: the main thread).
    pub thread: u64,
    /// Its instructions.
    pub total: u64,
    /// Dumped as the loop was left: it holds the loop's instructions.
    pub loop_end: bool,
}

impl Dump {
    /// Reads the header of a callgrind file.
    pub fn parse(name: &str, text: &str) -> Result<Dump, String> {
        let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
        let total = field("summary:")
            .or_else(|| field("totals:"))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name}: no summary line"))?;
        Ok(Dump {
            name: name.to_string(),
            thread: field("thread:").and_then(|v| v.parse().ok()).unwrap_or(1),
            total,
            loop_end: text.lines().any(|l| l.trim_end() == format!("desc: Trigger: --dump-after={LOOP_FUNCTION}")),
        })
    }
}

/// The caller's loop (the main thread's dump as the loop was left) and
/// every dump's total.
pub fn loop_and_total(dumps: &[Dump]) -> Result<(&Dump, u64), String> {
    let mut ends = dumps.iter().filter(|d| d.loop_end && d.thread == 1);
    let the_loop = ends.next().ok_or_else(|| format!("no dump of thread 1 on leaving {LOOP_FUNCTION}"))?;
    if ends.next().is_some() {
        return Err(format!("{LOOP_FUNCTION} was left more than once"));
    }
    Ok((the_loop, dumps.iter().map(|d| d.total).sum()))
}

/// The inclusive cost of `function` in `callgrind_annotate --inclusive=yes`
/// output (its own line, which names the binary after it); 0 when it is
/// not there (it never ran).
pub fn inclusive_cost(annotated: &str, function: &str) -> u64 {
    let own = format!(":{function} [");
    annotated
        .lines()
        .find(|l| l.contains(&own))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or(0)
}

/// valgrind's version line, or what to install.
fn valgrind_version() -> Result<String, String> {
    let version = Command::new("valgrind")
        .arg("--version")
        .output()
        .map_err(|e| format!("valgrind (which counts the instructions; Debian's package valgrind): {e}"))?;
    Ok(String::from_utf8_lossy(&version.stdout).trim().to_string())
}

/// `cargo xtask bench instructions [A B]`: with no argument, every
/// workload for dn and both baselines ([`run`]); with two builds of the
/// workload program, dn's workloads in each and B / A ([`ab`]).
pub fn command(ws: &Workspace, args: &[String]) -> Result<(), String> {
    match args {
        [] => run(ws),
        [a, b] => ab(Path::new(a), Path::new(b)),
        _ => Err("usage: cargo xtask bench instructions [<workload binary A> <workload binary B>]".to_string()),
    }
}

/// Runs every workload under callgrind and prints the table; writes it to
/// `target/bench/instructions.md`.
pub fn run(ws: &Workspace) -> Result<(), String> {
    let version = valgrind_version()?;
    let bin = ws.build_release("the workload program", &[("dn-process-tests", "workload")])?.join("workload");
    let mut scratch = Scratch::new()?;
    let mut out = format!(
        "instructions per operation (callgrind, {version}), caller's thread and all threads; N = {N_LOW} and {N_HIGH}, \
         the difference; {}; load before: {}\n\n",
        ws.provenance(),
        crate::machine::load_averages()
    );
    out.push_str(
        "| workload | caller's loop: dn (of which rendering and formatting) / OTel / fastrace | dn / fastrace, caller's own | all threads: dn / OTel / fastrace | dn / OTel, all | dn / fastrace, all | lines dn / OTel / fastrace |\n",
    );
    out.push_str("|---|---|---|---|---|---|---|\n");
    for (w, title) in counted_workloads() {
        let mut costs = Vec::new();
        let mut lines = Vec::new();
        for s in SYSTEMS {
            let (cost, [low, high]) = per_op(&bin, s, w, &mut scratch)?;
            costs.push(cost);
            lines.push(format!("{low}+{high}"));
        }
        let n = |x: f64| format!("{x:.0}");
        let [d, o, f] = [costs[0], costs[1], costs[2]];
        out.push_str(&format!(
            "| {title} | {} ({}) / {} / {} | {:.2}× | {} / {} / {} | {:.2}× | {:.2}× | {} |\n",
            n(d.caller),
            n(d.shared),
            n(o.caller),
            n(f.caller),
            d.own() / f.caller,
            n(d.all),
            n(o.all),
            n(f.all),
            d.all / o.all,
            d.all / f.all,
            lines.join(" / "),
        ));
    }
    out.push_str(&format!(
        "\nEach cell: (count at N = {N_HIGH} − count at N = {N_LOW}) / {}, from one process each; the lines are \
         both processes' (N + 1 for dn and the baselines' workloads in a run: the run's own line). The caller's \
         loop less its rendering and formatting repeated within 1.3% in six runs on an idle machine, the \
         baselines' loops within 2.5% but fastrace's under tokio (a tenth); all threads within 6%, but dn's light row by up to a fifth and the metric \
         rows by up to twice, and far more on a loaded machine. Raw OTel keeps 128 events a span and drops the rest: its metric row is a loop that drops \
         nearly every point. \"Rendering and formatting\": a task's groups rendered \
         (SHA-1 of its values included) and light spans' lines formatted on dn's caller, work its writer \
         takes when it has time; \"caller's own\" leaves it out. Instructions, not time: see \
         `xtask/src/instructions.rs` for what they leave out (system calls' kernel work, cache misses, waits) \
         and what valgrind changes (SHA-1 in software).\n",
        N_HIGH - N_LOW
    ));
    println!("{out}");
    let dir = ws.target().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("instructions.md"), &out).map_err(|e| e.to_string())?;
    Ok(())
}

/// `cargo xtask bench instructions <binary A> <binary B>`: two builds of
/// the workload program (say, `main`'s and a change's, each copied aside
/// after `cargo build --release -p dn-process-tests --bin workload`), dn's
/// workloads counted in each as in [`run`], and B / A of the caller's own
/// instructions and of all threads'. The instruction counterpart of `bench
/// ab`: one process a build and N, since the caller's own moves by a few
/// percent at most between processes where a time moves by tens.
pub fn ab(a: &Path, b: &Path) -> Result<(), String> {
    let version = valgrind_version()?;
    let mut scratch = Scratch::new()?;
    println!("dn's instructions per operation (callgrind, {version}), A = {}, B = {}\n", a.display(), b.display());
    println!("| workload | caller's own A / B | B / A | rendering and formatting A / B | all threads A / B | B / A |");
    println!("|---|---|---|---|---|---|");
    for (w, title) in counted_workloads() {
        let (x, _) = per_op(a, "dn", w, &mut scratch)?;
        let (y, _) = per_op(b, "dn", w, &mut scratch)?;
        println!(
            "| {title} | {:.0} / {:.0} | {:.3}× | {:.0} / {:.0} | {:.0} / {:.0} | {:.3}× |",
            x.own(),
            y.own(),
            y.own() / x.own(),
            x.shared,
            y.shared,
            x.all,
            y.all,
            y.all / x.all
        );
    }
    println!(
        "\n(count at N = {N_HIGH} − count at N = {N_LOW}) / {}, one process each; see `xtask/src/instructions.rs` for what moves between processes.",
        N_HIGH - N_LOW
    );
    Ok(())
}

/// One process of `bin` under callgrind: its counts, and the lines it left
/// in `dir` (counted after it, outside valgrind).
fn count(bin: &Path, system: &str, workload: &str, n: u64, dir: &Path) -> Result<Count, String> {
    let cg: PathBuf = dir.with_extension("callgrind");
    std::fs::create_dir_all(&cg).map_err(|e| e.to_string())?;
    let out = Command::new("valgrind")
        .args(["--tool=callgrind", "--separate-threads=yes"])
        .arg(format!("--dump-before={LOOP_FUNCTION}"))
        .arg(format!("--dump-after={LOOP_FUNCTION}"))
        .arg(format!("--callgrind-out-file={}/cg.%p", cg.display()))
        .arg(bin)
        .args([system, workload, &n.to_string()])
        .arg(dir)
        .env("WORKLOAD_UNDER_CALLGRIND", "1")
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    if !out.status.success() {
        return Err(format!("callgrind of workload {system} {workload} {n}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let mut dumps = Vec::new();
    for e in std::fs::read_dir(&cg).map_err(|e| e.to_string())?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(e.path()).map_err(|e| format!("{name}: {e}"))?;
        // callgrind also writes an empty file of the process (no thread):
        // it has no summary and counts nothing.
        if text.lines().any(|l| l.starts_with("summary:") || l.starts_with("totals:")) {
            dumps.push(Dump::parse(&name, &text)?);
        }
    }
    let what = || format!("workload {system} {workload} {n}");
    let (the_loop, all) = loop_and_total(&dumps).map_err(|e| format!("{}: {e}", what()))?;
    let annotated = Command::new("callgrind_annotate")
        .arg("--inclusive=yes")
        .arg(cg.join(&the_loop.name))
        .output()
        .map_err(|e| format!("callgrind_annotate (valgrind's): {e}"))?;
    let annotated = String::from_utf8_lossy(&annotated.stdout);
    let shared = SHARED_FUNCTIONS.iter().map(|f| inclusive_cost(&annotated, f)).sum();
    // Under valgrind dn's caller always renders some of a task loop's
    // groups and formats some of a light loop's lines (its writer shares
    // the one core): none found means a function was renamed or inlined,
    // and the caller's own column would silently take the shared work in.
    if system == "dn" && matches!(workload, "task" | "light" | "current") && n >= N_HIGH && shared == 0 {
        return Err(format!(
            "{}: none of {SHARED_FUNCTIONS:?} ran in the caller's loop; renamed or inlined? (see `SHARED_FUNCTIONS`)",
            what()
        ));
    }
    let counted = Command::new(bin).arg("count").arg(dir).output().map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&counted.stdout).map_err(|e| format!("workload count: {e}"))?;
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(&cg);
    Ok(Count { caller_loop: the_loop.total, shared, all, lines: v["lines"].as_u64().unwrap_or(0) })
}

#[cfg(test)]
mod tests {
    use super::{Count, Dump, PerOp, counted_workloads, inclusive_cost, loop_and_total};

    #[test]
    fn every_workload_with_a_loop_of_one_thread_is_counted() {
        let counted: Vec<&str> = counted_workloads().map(|(w, _)| w).collect();
        assert_eq!(counted, ["task", "light", "current", "metric", "decorated", "runs", "payload"]);
    }

    fn file(part: u64, thread: u64, total: u64, trigger: &str) -> String {
        format!(
            "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 7\npart: {part}\nthread: {thread}\n\n\
             desc: I1 cache: \ndesc: Trigger: {trigger}\n\npositions: line\nevents: Ir\nsummary: {total}\n"
        )
    }

    #[test]
    fn the_loop_is_the_main_thread_s_dump_on_leaving_it_and_all_is_every_dump() {
        let texts = [
            ("cg.7.1-01", file(1, 1, 8_000, "--dump-before=workload::caller_loop")),
            ("cg.7.2-01", file(2, 1, 3_000, "--dump-after=workload::caller_loop")),
            ("cg.7-01", file(3, 1, 50, "Program termination")),
            ("cg.7-02", file(3, 2, 900, "Program termination")),
        ];
        let dumps: Vec<Dump> = texts.iter().map(|(n, t)| Dump::parse(n, t).unwrap()).collect();
        assert_eq!(dumps[1].thread, 1);
        assert_eq!(dumps[3].thread, 2);
        let (the_loop, all) = loop_and_total(&dumps).unwrap();
        assert_eq!((the_loop.name.as_str(), the_loop.total, all), ("cg.7.2-01", 3_000, 11_950));
        // No loop dump (the program did not run it), or two: an error.
        assert!(loop_and_total(&dumps[2..]).is_err());
        let twice = [dumps[1].clone(), dumps[1].clone()];
        assert!(loop_and_total(&twice).is_err());
        // Older callgrind writes `totals:`; a file with neither is an error.
        assert_eq!(Dump::parse("old", "thread: 1\ntotals: 42\n").unwrap().total, 42);
        assert!(Dump::parse("bad", "events: Ir\n").is_err());
    }

    #[test]
    fn a_function_s_cost_is_read_from_its_inclusive_line() {
        let annotated = "\
18,658,825 (100.0%)  ???:workload::caller_loop [/x/workload]
 7,396,191 (39.64%)  ???:dn_export::pipeline::ExportPipeline::work_here [/x/workload]
 5,743,947 ( 5.06%)  /x/line.rs:dn_export::pipeline::ExportPipeline::work_here
";
        assert_eq!(inclusive_cost(annotated, "dn_export::pipeline::ExportPipeline::work_here"), 7_396_191);
        assert_eq!(inclusive_cost(annotated, "workload::caller_loop"), 18_658_825);
        assert_eq!(inclusive_cost(annotated, "fastrace::collector::flush"), 0);
    }

    #[test]
    fn per_operation_is_the_difference_over_the_added_operations() {
        let low = Count { caller_loop: 1_000_000, shared: 100_000, all: 3_000_000, lines: 2_001 };
        let high = Count { caller_loop: 6_000_000, shared: 600_000, all: 13_000_000, lines: 12_001 };
        let per = PerOp::between(low, high, 2_000, 12_000);
        assert_eq!(per, PerOp { caller: 500.0, shared: 50.0, all: 1_000.0 });
        assert_eq!(per.own(), 450.0);
    }
}

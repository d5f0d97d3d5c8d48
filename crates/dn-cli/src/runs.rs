//! `dn runs`: a table of the runs in the local directory, newest first.

use clap::Args;
use serde_json::{Value, json};

use crate::local::{self, Local, LocalArgs, Run};
use crate::render;

/// Options of `dn runs`.
#[derive(Args, Debug)]
pub struct RunsArgs {
    /// Where to read.
    #[command(flatten)]
    pub local: LocalArgs,
    /// At most this many runs (the first in the order).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Newest first, or by name (then newest first).
    #[arg(long, value_enum, default_value = "start")]
    pub order: render::Order,
    /// Print JSON (`docs/cli.md` gives the shape).
    #[arg(long)]
    pub json: bool,
}

/// The last value of each run-level metric, in name order.
pub fn last_metrics(run: &Run) -> Vec<(String, f64)> {
    let mut m: Vec<(String, f64)> = run
        .data()
        .map(|v| v.metrics())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, s)| s.last_value().map(|v| (k, v)))
        .collect();
    m.sort_by(|a, b| a.0.cmp(&b.0));
    m
}

/// One run as `dn runs --json` gives it.
pub fn summary(run: &Run) -> Value {
    json!({
        "project": run.project,
        "name": run.name(),
        "id": run.id,
        "start": run.start().to_iso(),
        "duration_ms": run.duration_ns() as f64 / 1e6,
        "status": run.status().as_str(),
        "tasks": run.task_count(),
        "metrics": last_metrics(run).into_iter().map(|(k, v)| (k, json_f64(v))).collect::<serde_json::Map<_, _>>(),
    })
}

/// A float as JSON (`null` when not finite).
pub fn json_f64(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Runs `dn runs`; returns the exit status.
pub fn run(args: &RunsArgs) -> u8 {
    local::run_command_reading("runs", &args.local, local::read_runs, |_, l| {
        Ok(render_runs(l, args.limit, args.order, args.json, render::color()))
    })
}

/// The output of `dn runs` for what was read.
pub fn render_runs(local: &Local, limit: Option<usize>, order: render::Order, as_json: bool, color: bool) -> String {
    let mut runs: Vec<&Run> = local.runs.iter().collect();
    runs.sort_by(|a, b| b.start().cmp(&a.start()).then_with(|| a.id.cmp(&b.id)));
    if order == render::Order::Name {
        runs.sort_by(|a, b| a.name().cmp(b.name()));
    }
    runs.truncate(limit.unwrap_or(usize::MAX));
    if as_json {
        let v = json!({"runs": runs.iter().map(|r| summary(r)).collect::<Vec<_>>(), "problems": local.problems});
        return format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default());
    }
    let header = ["PROJECT", "NAME", "ID", "START", "DURATION", "STATUS", "TASKS", "METRICS"];
    let rows: Vec<[String; 8]> = runs
        .iter()
        .map(|r| {
            let metrics: Vec<String> =
                last_metrics(r).iter().map(|(k, v)| format!("{k}={}", render::short(*v))).collect();
            [
                r.project.clone(),
                render::cut(r.name(), 28),
                r.id.clone(),
                render::time(r.start()),
                render::duration(r.duration_ns()),
                r.status().as_str().to_string(),
                r.task_count().to_string(),
                render::cut(&metrics.join(" "), 48),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i] - c.chars().count();
            let cell = if i == 5 && c == "failed" { render::red(c, color) } else { c.clone() };
            l.push_str(&cell);
            if i + 1 < cells.len() {
                l.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&header.map(String::from), &mut out);
    for r in &rows {
        line(r, &mut out);
    }
    if runs.is_empty() {
        out.push_str("(no runs)\n");
    }
    out.push_str(&problems_text(local));
    out
}

/// The unreadable lines, one per line (at most 20), for the text outputs.
pub fn problems_text(local: &Local) -> String {
    let mut out = String::new();
    if local.problems.is_empty() {
        return out;
    }
    out.push_str(&format!("{} line(s) could not be read:\n", local.problems.len()));
    for p in local.problems.iter().take(20) {
        out.push_str(&format!("  {}:{}: {}\n", p.file, p.line, p.what));
    }
    out
}

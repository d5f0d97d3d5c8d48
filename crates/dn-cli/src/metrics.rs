//! `dn metrics RUN [NAME…]`: a run's metric curves over their steps, as
//! terminal charts; `--json` gives the series.

use clap::Args;
use serde_json::{Value, json};

use crate::local::{self, Local, LocalArgs};
use crate::render;
use crate::runs::json_f64;

/// Options of `dn metrics`.
#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// A run id, a unique id prefix, or a run name (the newest of that name).
    pub run: String,
    /// Only these metrics (default: all of the run's).
    pub names: Vec<String>,
    /// Where to read.
    #[command(flatten)]
    pub local: LocalArgs,
    /// Chart width in columns.
    #[arg(long, default_value_t = 60)]
    pub width: usize,
    /// Chart height in rows.
    #[arg(long, default_value_t = 8)]
    pub height: usize,
    /// Print the series as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `dn metrics`; returns the exit status.
pub fn run(args: &MetricsArgs) -> u8 {
    local::run_command_reading(
        "metrics",
        &args.local,
        |root, project| local::read_named(root, project, &[args.run.as_str()]),
        |_, l| render_metrics(l, args),
    )
}

/// The output of `dn metrics` for what was read. Run-level metrics, and
/// those of its tasks as `<task name>/<metric>` when no run-level metric
/// has the name.
pub fn render_metrics(local: &Local, args: &MetricsArgs) -> Result<String, String> {
    let run = local.find(&args.run)?;
    let mut series: Vec<(String, Vec<i64>, Vec<f64>)> = run
        .data()
        .map(|v| v.metrics())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, m)| (k, m.steps(), m.values()))
        .collect();
    let mut by_task: indexmap::IndexMap<String, (Vec<i64>, Vec<f64>)> = indexmap::IndexMap::new();
    for t in run.tasks() {
        for (k, m) in t.view().map(|v| v.metrics()).unwrap_or_default() {
            let e = by_task.entry(format!("{}/{k}", t.line.name)).or_default();
            e.0.extend(m.points().iter().map(|p| p.step));
            e.1.extend(m.points().iter().map(|p| p.value));
        }
    }
    series.extend(by_task.into_iter().map(|(k, (s, v))| (k, s, v)));
    if !args.names.is_empty() {
        series.retain(|(k, _, _)| args.names.iter().any(|n| n == k));
        if series.is_empty() {
            return Err(format!("run {} has no metric named {}", run.id, args.names.join(" or ")));
        }
    }
    if args.json {
        let v: serde_json::Map<String, Value> = series
            .iter()
            .map(|(k, s, v)| {
                (k.clone(), json!({"steps": s, "values": v.iter().map(|x| json_f64(*x)).collect::<Vec<_>>()}))
            })
            .collect();
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"run": run.id, "metrics": v})).unwrap_or_default()
        ));
    }
    let mut out = format!("run {}  {}\n", run.name(), run.id);
    if series.is_empty() {
        out.push_str("(no metrics)\n");
    }
    for (k, steps, values) in &series {
        let (first, last) = (steps.first().copied().unwrap_or(0), steps.last().copied().unwrap_or(0));
        out.push_str(&format!(
            "\n{k}  ({}, steps {first}..{last}, last {})\n",
            render::points(values.len()),
            values.last().map_or("-".into(), |v| render::short(*v))
        ));
        for row in render::chart(values, args.width, args.height.max(2)) {
            out.push_str(&row);
            out.push('\n');
        }
    }
    Ok(out)
}

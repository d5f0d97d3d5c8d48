//! `dn diff RUN_A RUN_B`: params, final metrics with deltas, outputs, and
//! the two task trees aligned by name; what one side lacks is marked.

use clap::Args;
use serde_json::{Value, json};
use std::collections::BTreeMap;

use crate::local::{self, Local, LocalArgs, Run};
use crate::render;
use crate::runs::{json_f64, last_metrics};

/// Options of `dn diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The first run (id, id prefix or name).
    pub a: String,
    /// The second run.
    pub b: String,
    /// Where to read.
    #[command(flatten)]
    pub local: LocalArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `dn diff`; returns the exit status.
pub fn run(args: &DiffArgs) -> u8 {
    local::run_command_reading(
        "diff",
        &args.local,
        |root, project| local::read_named(root, project, &[args.a.as_str(), args.b.as_str()]),
        |_, l| render_diff(l, args),
    )
}

/// Task paths (`parent/child` by name) and how many tasks each has.
fn task_paths(run: &Run) -> BTreeMap<String, usize> {
    let names: std::collections::HashMap<_, _> = run.spans.iter().map(|s| (s.line.span_id, s)).collect();
    let mut out = BTreeMap::new();
    for t in run.tasks() {
        let mut path = vec![t.line.name.clone()];
        let mut p = t.line.parent_task.or(t.line.parent_id);
        let mut guard = 0;
        while let Some(s) = p.and_then(|id| names.get(&id)) {
            if s.line.parent_id.is_none() || guard > 64 {
                break; // the run itself
            }
            path.push(s.line.name.clone());
            p = s.line.parent_task.or(s.line.parent_id);
            guard += 1;
        }
        path.reverse();
        *out.entry(path.join("/")).or_insert(0) += 1;
    }
    out
}

fn side<T: PartialEq>(a: Option<T>, b: Option<T>) -> &'static str {
    match (&a, &b) {
        (Some(_), None) => "only in A",
        (None, Some(_)) => "only in B",
        _ if a == b => "same",
        _ => "differs",
    }
}

/// The output of `dn diff` for what was read.
pub fn render_diff(local: &Local, args: &DiffArgs) -> Result<String, String> {
    let (a, b) = (local.find(&args.a)?, local.find(&args.b)?);
    let params = |r: &Run| r.data().map(|v| v.params()).unwrap_or_default();
    let outputs = |r: &Run| r.data().map(|v| v.outputs()).unwrap_or_default();
    let (pa, pb) = (params(a), params(b));
    let (oa, ob) = (outputs(a), outputs(b));
    let ma: BTreeMap<String, f64> = last_metrics(a).into_iter().collect();
    let mb: BTreeMap<String, f64> = last_metrics(b).into_iter().collect();
    let (ta, tb) = (task_paths(a), task_paths(b));
    let keys = |x: Vec<&String>, y: Vec<&String>| {
        let mut k: Vec<String> = x.into_iter().chain(y).cloned().collect();
        k.sort();
        k.dedup();
        k
    };
    let param_keys = keys(pa.keys().collect(), pb.keys().collect());
    let metric_keys = keys(ma.keys().collect(), mb.keys().collect());
    let output_keys = keys(oa.keys().collect(), ob.keys().collect());
    let task_keys = keys(ta.keys().collect(), tb.keys().collect());
    if args.json {
        let v = json!({
            "a": {"id": a.id, "name": a.name()},
            "b": {"id": b.id, "name": b.name()},
            "params": param_keys.iter().map(|k| json!({"name": k, "a": pa.get(k), "b": pb.get(k), "diff": side(pa.get(k), pb.get(k))})).collect::<Vec<_>>(),
            "metrics": metric_keys.iter().map(|k| {
                let (x, y) = (ma.get(k).copied(), mb.get(k).copied());
                json!({"name": k, "a": x.map(json_f64), "b": y.map(json_f64), "delta": x.zip(y).map(|(x, y)| json_f64(y - x)), "diff": side(x, y)})
            }).collect::<Vec<_>>(),
            "outputs": output_keys.iter().map(|k| json!({"name": k, "a": oa.get(k), "b": ob.get(k), "diff": side(oa.get(k), ob.get(k))})).collect::<Vec<_>>(),
            "tasks": task_keys.iter().map(|k| json!({"path": k, "a": ta.get(k), "b": tb.get(k), "diff": side(ta.get(k), tb.get(k))})).collect::<Vec<_>>(),
        });
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
    }
    let mut out = format!("A: {}  {}\nB: {}  {}\n", a.name(), a.id, b.name(), b.id);
    let show = |v: Option<&Value>| v.map_or("—".to_string(), |v| render::cut(&render::value(v), 32));
    let mut section = |title: &str, rows: Vec<[String; 4]>| {
        if rows.is_empty() {
            return;
        }
        out.push_str(&format!("\n{title}\n"));
        let w: Vec<usize> = (0..3).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
        for r in rows {
            let cell = |i: usize| format!("{}{}", r[i], " ".repeat(w[i] - r[i].chars().count()));
            out.push_str(format!("  {}  {}  {}  {}", cell(0), cell(1), cell(2), r[3]).trim_end());
            out.push('\n');
        }
    };
    section(
        "params",
        param_keys
            .iter()
            .map(|k| [k.clone(), show(pa.get(k)), show(pb.get(k)), mark(side(pa.get(k), pb.get(k)))])
            .collect(),
    );
    section(
        "metrics (last value)",
        metric_keys
            .iter()
            .map(|k| {
                let (x, y) = (ma.get(k).copied(), mb.get(k).copied());
                let delta = match (x, y) {
                    (Some(x), Some(y)) if y != x => {
                        format!("Δ {}{}", if y > x { "+" } else { "" }, render::short(y - x))
                    }
                    _ => mark(side(x, y)),
                };
                [k.clone(), x.map_or("—".into(), render::short), y.map_or("—".into(), render::short), delta]
            })
            .collect(),
    );
    section(
        "outputs",
        output_keys
            .iter()
            .map(|k| [k.clone(), show(oa.get(k)), show(ob.get(k)), mark(side(oa.get(k), ob.get(k)))])
            .collect(),
    );
    section(
        "tasks (count per path)",
        task_keys
            .iter()
            .map(|k| {
                let (x, y) = (ta.get(k), tb.get(k));
                [
                    k.clone(),
                    x.map_or("—".into(), usize::to_string),
                    y.map_or("—".into(), usize::to_string),
                    mark(side(x, y)),
                ]
            })
            .collect(),
    );
    Ok(out)
}

fn mark(side: &str) -> String {
    if side == "same" { String::new() } else { side.to_string() }
}

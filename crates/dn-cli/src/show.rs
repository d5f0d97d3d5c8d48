//! `dn show RUN`: a run's span tree with durations on a waterfall, its
//! params, each task's inputs, outputs and metrics, and its artifacts.

use std::collections::HashMap;
use std::path::Path;

use clap::Args;
use dn_core::{SpanId, Status};
use serde_json::{Value, json};

use crate::local::{self, Local, LocalArgs, Span};
use crate::render::{self, Order};
use crate::runs::{json_f64, problems_text, summary};

/// Options of `dn show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// A run id, a unique id prefix, or a run name (the newest of that name).
    pub run: Option<String>,
    /// Show a session file's spans instead of a run.
    #[arg(long)]
    pub session: Option<String>,
    /// Where to read.
    #[command(flatten)]
    pub local: LocalArgs,
    /// Values are cut to this many characters.
    #[arg(long, default_value_t = 60)]
    pub width: usize,
    /// Siblings in start order, or by name (then by their inputs), which
    /// does not change between runs of the same program.
    #[arg(long, value_enum, default_value = "start")]
    pub order: Order,
    /// Print JSON (`docs/cli.md` gives the shape).
    #[arg(long)]
    pub json: bool,
}

/// Runs `dn show`; returns the exit status.
pub fn run(args: &ShowArgs) -> u8 {
    let render = |root: &Path, l: &Local| render_show(root, l, args, render::color());
    match (&args.session, &args.run) {
        // A run: its spans only (see `local::read_named`).
        (None, Some(run)) => local::run_command_reading(
            "show",
            &args.local,
            |root, project| local::read_named(root, project, &[run.as_str()]),
            render,
        ),
        _ => local::run_command("show", &args.local, render),
    }
}

/// The output of `dn show` for what was read.
pub fn render_show(root: &Path, local: &Local, args: &ShowArgs, color: bool) -> Result<String, String> {
    let (title, spans, header, artifacts): (String, Vec<&Span>, Value, Vec<Value>) = match (&args.session, &args.run) {
        (Some(id), _) => {
            let run_spans =
                local.runs.iter().flat_map(|r| r.spans.iter()).filter(|s| s.line.session_id.as_deref() == Some(id));
            let spans: Vec<&Span> =
                local.sessions.get(id).into_iter().flatten().chain(run_spans).map(|s| &**s).collect();
            if spans.is_empty() {
                return Err(format!("no spans in session {id:?}"));
            }
            (format!("session {id}  ({} spans)", spans.len()), spans, json!({"session": id}), vec![])
        }
        (None, Some(run)) => {
            let r = local.find(run)?;
            let params = r.data().map(|v| v.params()).unwrap_or_default();
            let mut title = format!(
                "run {}  {}  project {}\n  started {}  duration {}  status {}  tasks {}",
                r.name(),
                r.id,
                r.project,
                render::time(r.start()),
                render::duration(r.duration_ns()),
                r.status().as_str(),
                r.task_count()
            );
            if !params.is_empty() {
                title.push_str("\nparams");
                for (k, v) in &params {
                    title.push_str(&format!("\n  {k} = {}", render::cut(&render::value(v), args.width)));
                }
            }
            let mut header = summary(r);
            header["params"] = Value::Object(params.into_iter().collect());
            let artifacts = dn_core::layout::artifacts_file(&r.project, &r.id)
                .map(|f| read_artifacts(&root.join(f)))
                .unwrap_or_default();
            (title, r.spans.iter().map(|s| &**s).collect(), header, artifacts)
        }
        (None, None) => return Err("name a run (id, id prefix or name) or --session ID".into()),
    };
    let tree = Tree::new(&spans, args.order);
    if args.json {
        let spans_json: Vec<Value> = tree.order.iter().map(|&(i, depth)| span_json(spans[i], depth)).collect();
        let v = json!({"run": header, "spans": spans_json, "artifacts": artifacts, "problems": local.problems});
        return Ok(format!("{}\n", serde_json::to_string_pretty(&v).unwrap_or_default()));
    }
    let mut out = format!("{title}\nspans\n");
    let (t0, t1) = (
        spans.iter().map(|s| s.line.start.as_nanos()).min().unwrap_or(0),
        spans.iter().map(|s| s.line.end.as_nanos()).max().unwrap_or(0),
    );
    let name_width =
        tree.order.iter().map(|&(i, d)| 2 * d + label(spans[i]).chars().count()).max().unwrap_or(0).min(48);
    for &(i, depth) in &tree.order {
        let s = spans[i];
        let indent = "  ".repeat(depth);
        let name = render::cut(&label(s), name_width.saturating_sub(2 * depth));
        let pad = name_width.saturating_sub(2 * depth + name.chars().count());
        let bar = waterfall(s.line.start.as_nanos(), s.line.end.as_nanos(), t0, t1, 24);
        let mut line = format!(
            "  {indent}{name}{}  {:<10} {:>9}  |{bar}|",
            " ".repeat(pad),
            s.line.span_type.as_str(),
            render::duration(s.duration_ns())
        );
        if let Status::Error(msg) = &s.line.status {
            let msg =
                if msg.is_empty() { "failed".to_string() } else { format!("failed: {}", render::cut(msg, args.width)) };
            line.push_str("  ");
            line.push_str(&render::red(&msg, color));
        }
        out.push_str(line.trim_end());
        out.push('\n');
        let detail = format!("  {indent}    ");
        for (k, v) in &s.line.attributes {
            out.push_str(&format!("{detail}attr   {k} = {}\n", render::cut(&render::value(v), args.width)));
        }
        for (name, attrs) in &s.line.events {
            let text = render::event_line(name, attrs);
            out.push_str(&format!("{detail}event  {}\n", render::cut(&text, args.width)));
        }
        if let Some(view) = s.view() {
            for (what, values) in [("input", view.inputs()), ("output", view.outputs())] {
                for (k, v) in values {
                    out.push_str(&format!("{detail}{what:<7} {k} = {}\n", render::cut(&render::value(&v), args.width)));
                }
            }
            if s.line.parent_id.is_some() || !s.line.is_task() {
                for (k, v) in view.params() {
                    out.push_str(&format!("{detail}param  {k} = {}\n", render::cut(&render::value(&v), args.width)));
                }
            }
            for (k, m) in view.metrics() {
                let vals = m.values();
                let finite: Vec<f64> = vals.iter().copied().filter(|v| v.is_finite()).collect();
                let (lo, hi) = (
                    finite.iter().copied().fold(f64::INFINITY, f64::min),
                    finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                );
                let last = vals.last().copied().unwrap_or(f64::NAN);
                let stats = if vals.len() > 1 {
                    format!(
                        "last {}  min {}  max {}  ({} points) {}",
                        render::short(last),
                        render::short(lo),
                        render::short(hi),
                        vals.len(),
                        render::sparkline(&vals, 24)
                    )
                } else {
                    render::short(last)
                };
                out.push_str(&format!("{detail}metric {k} = {stats}\n"));
            }
        }
    }
    if !artifacts.is_empty() {
        out.push_str("artifacts\n");
        for a in &artifacts {
            out.push_str(&format!(
                "  {}  {} bytes  {}\n",
                a["name"].as_str().unwrap_or("?"),
                a["size"],
                render::cut(a["oid"].as_str().unwrap_or(""), 24)
            ));
        }
    }
    out.push_str(&problems_text(local));
    Ok(out)
}

fn label(s: &Span) -> String {
    if s.line.tags.is_empty() {
        s.line.name.to_string()
    } else {
        format!("{} [{}]", s.line.name, s.line.tags.join(", "))
    }
}

/// `width` cells with the span's part of [t0, t1] filled.
fn waterfall(start: u64, end: u64, t0: u64, t1: u64, width: usize) -> String {
    let total = t1.saturating_sub(t0).max(1) as f64;
    let a = ((start.saturating_sub(t0)) as f64 / total * width as f64).floor() as usize;
    let b = (((end.saturating_sub(t0)) as f64 / total * width as f64).ceil() as usize).max(a + 1).min(width);
    (0..width).map(|i| if i >= a.min(width - 1) && i < b { '█' } else { ' ' }).collect()
}

/// The spans in tree order (depth-first, children by start time) with depths.
pub fn tree_order(spans: &[&Span]) -> Vec<(usize, usize)> {
    Tree::new(spans, Order::Start).order
}

struct Tree {
    order: Vec<(usize, usize)>,
}

impl Tree {
    fn new(spans: &[&Span], order: Order) -> Tree {
        let ids: HashMap<SpanId, usize> = spans.iter().enumerate().map(|(i, s)| (s.line.span_id, i)).collect();
        let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
        for (i, s) in spans.iter().enumerate() {
            let parent = s.line.parent_id.and_then(|p| ids.get(&p).copied()).filter(|&p| p != i);
            children.entry(parent).or_default().push(i);
        }
        for v in children.values_mut() {
            match order {
                Order::Start => v.sort_by_key(|&i| (spans[i].line.start, i)),
                Order::Name => v.sort_by(|&a, &b| {
                    let key = |i: usize| (&spans[i].line.name, spans[i].line.rendered.as_ref().map(|r| r.inputs()));
                    key(a).cmp(&key(b)).then_with(|| (spans[a].line.start, a).cmp(&(spans[b].line.start, b)))
                }),
            }
        }
        let mut order = Vec::with_capacity(spans.len());
        let mut stack: Vec<(usize, usize)> = children.get(&None).into_iter().flatten().rev().map(|&i| (i, 0)).collect();
        let mut seen = vec![false; spans.len()];
        while let Some((i, d)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            order.push((i, d));
            for &c in children.get(&Some(i)).into_iter().flatten().rev() {
                stack.push((c, d + 1));
            }
        }
        // Spans in a parent cycle (never written by dn or Python) still show.
        order.extend((0..spans.len()).filter(|&i| !seen[i]).map(|i| (i, 0)));
        Tree { order }
    }
}

fn span_json(s: &Span, depth: usize) -> Value {
    let view = s.view();
    let metrics: serde_json::Map<String, Value> = view
        .as_ref()
        .map(|v| v.metrics())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, m)| {
            let vals = m.values();
            let finite = vals.iter().copied().filter(|v| v.is_finite());
            (
                k,
                json!({
                    "last": vals.last().map_or(Value::Null, |v| json_f64(*v)),
                    "min": json_f64(finite.clone().fold(f64::INFINITY, f64::min)),
                    "max": json_f64(finite.fold(f64::NEG_INFINITY, f64::max)),
                    "steps": m.steps(),
                    "values": vals.iter().map(|v| json_f64(*v)).collect::<Vec<_>>(),
                }),
            )
        })
        .collect();
    let map = |m: indexmap::IndexMap<String, Value>| Value::Object(m.into_iter().collect());
    json!({
        "depth": depth,
        "span_id": s.line.span_id.to_string(),
        "parent_id": s.line.parent_id.map(|p| p.to_string()),
        "name": s.line.name,
        "type": s.line.span_type.as_str(),
        "tags": s.line.tags,
        "start": s.line.start.to_iso(),
        "duration_ms": s.duration_ns() as f64 / 1e6,
        "status": s.line.status.code(),
        "error": match &s.line.status { Status::Error(m) => Value::String(m.clone()), _ => Value::Null },
        "file": &*s.file,
        "params": view.as_ref().map(|v| map(v.params())).unwrap_or(Value::Null),
        "inputs": view.as_ref().map(|v| map(v.inputs())).unwrap_or(Value::Null),
        "outputs": view.as_ref().map(|v| map(v.outputs())).unwrap_or(Value::Null),
        "metrics": metrics,
        "attributes": Value::Object(s.line.attributes.iter().cloned().collect()),
        "events": s.line.events.iter().map(|(n, a)| json!({"name": n, "attributes": a})).collect::<Vec<_>>(),
    })
}

fn read_artifacts(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
        .unwrap_or_default()
}

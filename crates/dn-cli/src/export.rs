//! `dn export RUN --table T --format F`: one of a run's tables, flat, for
//! pandas, polars or a spreadsheet.

use clap::{Args, ValueEnum};
use dn_core::{SpanType, Status};
use serde_json::{Value, json};

use crate::local::{self, Local, LocalArgs, Span};

/// Which table.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Table {
    /// One row per task span: ids, name, type, status, times, tags.
    Tasks,
    /// One row per param of the run and of its tasks.
    Params,
    /// One row per metric point of the run and of its tasks.
    Metrics,
    /// One row per logged input.
    Inputs,
    /// One row per logged output.
    Outputs,
    /// One row per `sample` span, with its inputs and outputs as JSON.
    Samples,
}

/// Output format.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated, a header row, RFC 4180 quoting; values as JSON text.
    Csv,
    /// One JSON object per row.
    Jsonl,
}

/// Options of `dn export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A run id, a unique id prefix, or a run name (the newest of that name).
    pub run: String,
    /// The table to write.
    #[arg(long, value_enum)]
    pub table: Table,
    /// The format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Where to read.
    #[command(flatten)]
    pub local: LocalArgs,
}

/// Runs `dn export`; returns the exit status.
pub fn run(args: &ExportArgs) -> u8 {
    local::run_command_reading(
        "export",
        &args.local,
        |root, project| local::read_named(root, project, &[args.run.as_str()]),
        |_, l| render_export(l, args),
    )
}

fn base(run_id: &str, s: &Span) -> Vec<(&'static str, Value)> {
    vec![("run_id", json!(run_id)), ("span_id", json!(s.line.span_id.to_string())), ("task", json!(s.line.name))]
}

/// The rows of the table, as ordered (column, value) pairs.
pub fn rows(local: &Local, run: &str, table: Table) -> Result<Vec<Vec<(&'static str, Value)>>, String> {
    let r = local.find(run)?;
    let tasks: Vec<&Span> = r.spans.iter().map(|s| &**s).filter(|s| s.line.is_task()).collect();
    let mut out = Vec::new();
    for s in &tasks {
        let view = s.view();
        match table {
            Table::Tasks => out.push(vec![
                ("run_id", json!(r.id)),
                ("span_id", json!(s.line.span_id.to_string())),
                ("parent_id", json!(s.line.parent_id.map(|p| p.to_string()))),
                ("name", json!(s.line.name)),
                ("type", json!(s.line.span_type.as_str())),
                ("status", json!(s.line.status.code())),
                (
                    "error",
                    match &s.line.status {
                        Status::Error(m) => json!(m),
                        _ => Value::Null,
                    },
                ),
                ("start", json!(s.line.start.to_iso())),
                ("end", json!(s.line.end.to_iso())),
                ("duration_ms", json!(s.duration_ns() as f64 / 1e6)),
                ("tags", json!(s.line.tags.join(";"))),
            ]),
            Table::Params => {
                for (k, v) in view.map(|v| v.params()).unwrap_or_default() {
                    let mut row = base(&r.id, s);
                    row.extend([("name", json!(k)), ("value", v)]);
                    out.push(row);
                }
            }
            Table::Metrics => {
                for (k, m) in view.map(|v| v.metrics()).unwrap_or_default() {
                    for p in m.points() {
                        let mut row = base(&r.id, s);
                        row.extend([
                            ("metric", json!(k)),
                            ("step", json!(p.step)),
                            ("value", crate::runs::json_f64(p.value)),
                            ("timestamp", json!(p.timestamp.to_iso())),
                        ]);
                        out.push(row);
                    }
                }
            }
            Table::Inputs | Table::Outputs => {
                let values =
                    view.map(|v| if table == Table::Inputs { v.inputs() } else { v.outputs() }).unwrap_or_default();
                for (k, v) in values {
                    let mut row = base(&r.id, s);
                    row.extend([("name", json!(k)), ("value", v)]);
                    out.push(row);
                }
            }
            Table::Samples if s.line.span_type == SpanType::Sample => {
                let mut row = base(&r.id, s);
                let map = |m: indexmap::IndexMap<String, Value>| Value::Object(m.into_iter().collect());
                row.extend([
                    ("inputs", view.as_ref().map(|v| map(v.inputs())).unwrap_or(Value::Null)),
                    ("outputs", view.as_ref().map(|v| map(v.outputs())).unwrap_or(Value::Null)),
                    ("status", json!(s.line.status.code())),
                ]);
                out.push(row);
            }
            Table::Samples => {}
        }
    }
    Ok(out)
}

/// The output of `dn export` for what was read.
pub fn render_export(local: &Local, args: &ExportArgs) -> Result<String, String> {
    let rows = rows(local, &args.run, args.table)?;
    let mut out = String::new();
    match args.format {
        Format::Jsonl => {
            for r in rows {
                let obj: serde_json::Map<String, Value> = r.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
                out.push_str(&Value::Object(obj).to_string());
                out.push('\n');
            }
        }
        Format::Csv => {
            if let Some(first) = rows.first() {
                out.push_str(&first.iter().map(|(k, _)| csv(k)).collect::<Vec<_>>().join(","));
                out.push('\n');
            }
            for r in rows {
                let cells: Vec<String> = r
                    .iter()
                    .map(|(_, v)| match v {
                        Value::Null => String::new(),
                        Value::String(s) => csv(s),
                        other => csv(&other.to_string()),
                    })
                    .collect();
                out.push_str(&cells.join(","));
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
fn csv(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

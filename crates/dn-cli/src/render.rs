//! Text helpers shared by the listing commands: durations, times,
//! sparklines, charts, cutting values to a width, and colour (only on a
//! terminal, never with `NO_COLOR`).

use std::io::IsTerminal as _;

use dn_core::Timestamp;

/// Whether to colour: stdout is a terminal and `NO_COLOR` is unset or empty.
pub fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Red (failures), when colouring.
pub fn red(s: &str, color: bool) -> String {
    if color { format!("\x1b[31m{s}\x1b[0m") } else { s.to_string() }
}

/// A duration for people: `850 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`, `2m 05s`.
pub fn duration(ns: u64) -> String {
    let f = ns as f64;
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", f / 1e6),
        1_000_000_000..60_000_000_000 => format!("{:.2} s", f / 1e9),
        _ => format!("{}m {:02}s", ns / 60_000_000_000, (ns / 1_000_000_000) % 60),
    }
}

/// `2026-11-24 11:53:59` (UTC).
pub fn time(t: Timestamp) -> String {
    let iso = t.to_iso();
    format!("{} {}", &iso[..10], &iso[11..19])
}

/// `s` cut to `width` characters, ending in `…` when cut.
pub fn cut(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A JSON value as one line of text (strings without their quotes).
pub fn value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.replace('\n', "⏎"),
        other => other.to_string(),
    }
}

/// How siblings are ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Order {
    /// By start time (newest last; for `dn runs`, newest first).
    #[default]
    Start,
    /// By name, then by logged inputs, then by start time.
    Name,
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per value (at most `width`, averaging buckets), scaled
/// between the finite minimum and maximum; non-finite values are blank.
pub fn sparkline(values: &[f64], width: usize) -> String {
    let buckets = bucket(values, width);
    let (lo, hi) = range(&buckets);
    buckets
        .iter()
        .map(|v| {
            if !v.is_finite() {
                ' '
            } else if hi <= lo {
                BARS[3]
            } else {
                BARS[(((v - lo) / (hi - lo)) * 7.0).round() as usize]
            }
        })
        .collect()
}

/// A chart of `values` over `height` rows and at most `width` columns, with
/// the maximum and minimum written on its left.
pub fn chart(values: &[f64], width: usize, height: usize) -> Vec<String> {
    let buckets = bucket(values, width);
    let (lo, hi) = range(&buckets);
    let label = |v: f64| format!("{:>10}", short(v));
    let mut rows = Vec::with_capacity(height);
    for row in (0..height).rev() {
        let mut line = match row {
            r if r + 1 == height => label(hi),
            0 => label(lo),
            _ => " ".repeat(10),
        };
        line.push_str(" ┤");
        for v in &buckets {
            let eighths = if !v.is_finite() {
                0
            } else if hi <= lo {
                4
            } else {
                (((v - lo) / (hi - lo)) * (height * 8 - 1) as f64).round() as usize + 1
            };
            let here = eighths.saturating_sub(row * 8).min(8);
            line.push(if here == 0 { ' ' } else { BARS[here - 1] });
        }
        rows.push(line.trim_end().to_string());
    }
    rows
}

/// `n` points: "1 point", "2 points".
pub fn points(n: usize) -> String {
    if n == 1 { "1 point".into() } else { format!("{n} points") }
}

/// A number in at most about 8 characters.
pub fn short(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.2e}")
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn bucket(values: &[f64], width: usize) -> Vec<f64> {
    let width = width.max(1);
    if values.len() <= width {
        return values.to_vec();
    }
    (0..width)
        .map(|i| {
            let (a, b) = (i * values.len() / width, ((i + 1) * values.len() / width).max(i * values.len() / width + 1));
            let finite: Vec<f64> = values[a..b].iter().copied().filter(|v| v.is_finite()).collect();
            if finite.is_empty() { f64::NAN } else { finite.iter().sum::<f64>() / finite.len() as f64 }
        })
        .collect()
}

fn range(values: &[f64]) -> (f64, f64) {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let lo = finite.clone().fold(f64::INFINITY, f64::min);
    let hi = finite.fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// One span event as one line: a bridged `tracing` event's level first, its
/// target left out, then its fields as `key=value`.
pub fn event_line(name: &str, attrs: &serde_json::Map<String, serde_json::Value>) -> String {
    let head = match attrs.get("level").and_then(serde_json::Value::as_str) {
        Some(level) => format!("{level} {name}"),
        None => name.to_string(),
    };
    let fields: Vec<String> = attrs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "level" | "target"))
        .map(|(k, v)| format!("{k}={}", value(v)))
        .collect();
    if fields.is_empty() { head } else { format!("{head}  {}", fields.join(" ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_format_for_people() {
        assert_eq!(duration(850), "850 ns");
        assert_eq!(duration(12_300), "12.3 µs");
        assert_eq!(duration(125_000_000_000), "2m 05s");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(sparkline(&[0.0, 1.0, f64::NAN, 0.5], 10), "▁█ ▅");
        assert_eq!(short(0.25), "0.25");
        assert_eq!(short(1e-7), "1.00e-7");
        let c = chart(&[1.0, 2.0, 3.0], 10, 2);
        assert_eq!(c.len(), 2);
        assert!(c[0].starts_with("         3 ┤"), "{c:?}");
    }
}

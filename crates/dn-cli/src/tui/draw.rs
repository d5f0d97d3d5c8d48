//! Drawing the TUI's screens from its state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span as TextSpan};
use ratatui::widgets::{
    Axis, Block, Cell, Chart, Clear, Dataset, GraphType, List, ListItem, ListState, Paragraph, Row, Table, TableState,
    Wrap,
};

use super::{App, Screen};
use crate::render;

/// Draws the current screen.
pub fn draw(f: &mut Frame<'_>, app: &App) {
    let [main, status] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(f.area());
    match &app.screen {
        Screen::Runs => runs(f, app, main),
        Screen::Run(_) => run(f, app, main),
    }
    let hint = if app.editing {
        format!("/{}▏  (Enter: done, Esc: done)", app.filter)
    } else {
        let filter = if app.filter.is_empty() { String::new() } else { format!("filter: {}  ", app.filter) };
        let problems = match app.local.problems.len() {
            0 => String::new(),
            n => format!("{n} unreadable line(s)  "),
        };
        format!("{filter}{problems}↑↓ move  Enter open  Esc back  / filter  ? keys  q quit")
    };
    f.render_widget(Paragraph::new(hint).style(Style::new().add_modifier(Modifier::DIM)), status);
    if app.help {
        help(f);
    }
}

fn runs(f: &mut Frame<'_>, app: &App, area: Rect) {
    let runs = app.runs();
    // Only the rows on screen (as for the span tree, see `run`).
    let selected = app.run_row.min(runs.len().saturating_sub(1));
    let height = usize::from(area.height.saturating_sub(3)).max(1);
    let first = selected.saturating_sub(height - 1);
    let rows: Vec<Row<'_>> = runs[first.min(runs.len())..(first + height).min(runs.len())]
        .iter()
        .map(|r| {
            let status = r.status().as_str();
            let style = if status == "failed" { Style::new().fg(Color::Red) } else { Style::new() };
            let metrics: Vec<String> =
                app.last_metrics(r).iter().map(|(k, v)| format!("{k}={}", render::short(*v))).collect();
            Row::new(vec![
                Cell::from(r.project.clone()),
                Cell::from(r.name().to_string()),
                Cell::from(r.id.chars().take(12).collect::<String>()),
                Cell::from(render::time(r.start())),
                Cell::from(render::duration(r.duration_ns())),
                Cell::from(status).style(style),
                Cell::from(r.task_count().to_string()),
                Cell::from(metrics.join(" ")),
            ])
        })
        .collect();
    // The task count's column as wide as its largest count (100 000 tasks
    // showed as 10000 in a column of 5).
    let tasks_width = runs.iter().map(|r| r.task_count().to_string().len()).max().unwrap_or(0).max("TASKS".len());
    let widths = [
        Constraint::Length(14),
        Constraint::Length(24),
        Constraint::Length(12),
        Constraint::Length(19),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(u16::try_from(tasks_width).unwrap_or(u16::MAX)),
        Constraint::Min(10),
    ];
    let header = Row::new(["PROJECT", "NAME", "ID", "START", "DURATION", "STATUS", "TASKS", "METRICS"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    let title = format!(" dn — {} runs in {} ", runs.len(), app_root(app));
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(selected - first));
    f.render_stateful_widget(table, area, &mut state);
}

fn app_root(app: &App) -> String {
    app.root.display().to_string()
}

fn run(f: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(r) = app.selected_run() else {
        f.render_widget(Paragraph::new("this run is gone").block(Block::bordered()), area);
        return;
    };
    let spans = app.run_spans();
    let tree = app.tree();
    let [left, right] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    // Only the rows on screen become items: where the list, starting at its
    // top, would have scrolled to show the selected row at its bottom.
    let selected = app.span_row.min(tree.len().saturating_sub(1));
    let rows = usize::from(left.height.saturating_sub(2)).max(1);
    let first = selected.saturating_sub(rows - 1);
    let items: Vec<ListItem<'_>> = tree[first.min(tree.len())..(first + rows).min(tree.len())]
        .iter()
        .map(|&(i, depth)| {
            let s = spans[i];
            let failed = matches!(s.line.status, dn_core::Status::Error(_));
            let text = format!(
                "{}{}  {}  {}",
                "  ".repeat(depth),
                s.line.name,
                s.line.span_type.as_str(),
                render::duration(s.duration_ns())
            );
            ListItem::new(text).style(if failed { Style::new().fg(Color::Red) } else { Style::new() })
        })
        .collect();
    let title = format!(" {} {} — {} — {} spans ", r.name(), r.id, r.status().as_str(), spans.len());
    let list = List::new(items)
        .block(Block::bordered().title(title))
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default().with_selected(Some(selected - first));
    f.render_stateful_widget(list, left, &mut state);

    let Some(&(i, _)) = tree.get(app.span_row) else { return };
    let s = spans[i];
    let view = s.view();
    let series = app.detail(s);
    let metrics = &series.metrics;
    let chart_height = if series.chart.is_some() { 12 } else { 0 };
    let [detail, chart_area] = Layout::vertical([Constraint::Min(4), Constraint::Length(chart_height)]).areas(right);
    let mut lines: Vec<Line<'_>> = vec![
        Line::from(vec![TextSpan::styled(s.line.name.to_string(), Style::new().add_modifier(Modifier::BOLD))]),
        Line::from(format!(
            "{}  {}  {}",
            s.line.span_type.as_str(),
            render::duration(s.duration_ns()),
            if s.line.tags.is_empty() { String::new() } else { format!("[{}]", s.line.tags.join(", ")) }
        )),
    ];
    if let dn_core::Status::Error(msg) = &s.line.status {
        lines.push(Line::styled(format!("failed: {msg}"), Style::new().fg(Color::Red)));
    }
    if let Some(v) = &view {
        for (what, values) in [("params", v.params()), ("inputs", v.inputs()), ("outputs", v.outputs())] {
            if values.is_empty() {
                continue;
            }
            lines.push(Line::styled(what, Style::new().add_modifier(Modifier::BOLD)));
            for (k, val) in values {
                lines.push(Line::from(format!("  {k} = {}", render::cut(&render::value(&val), 200))));
            }
        }
        if !metrics.is_empty() {
            lines.push(Line::styled("metrics", Style::new().add_modifier(Modifier::BOLD)));
            for (k, m) in metrics {
                let last = m.last_value().unwrap_or(f64::NAN);
                lines.push(Line::from(format!("  {k} = {} ({})", render::short(last), render::points(m.len()))));
            }
        }
    }
    if !s.line.attributes.is_empty() {
        lines.push(Line::styled("attributes", Style::new().add_modifier(Modifier::BOLD)));
        for (k, v) in &s.line.attributes {
            lines.push(Line::from(format!("  {k} = {}", render::cut(&render::value(v), 200))));
        }
    }
    if !s.line.events.is_empty() {
        lines.push(Line::styled("events", Style::new().add_modifier(Modifier::BOLD)));
        for (name, attrs) in &s.line.events {
            lines.push(Line::from(format!("  {}", render::cut(&render::event_line(name, attrs), 200))));
        }
    }
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(Block::bordered().title(" detail ")),
        detail,
    );

    if let Some((name, points)) = &series.chart {
        let (x0, x1) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (y0, y1) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let pad = if y1 > y0 { 0.0 } else { 0.5 };
        let data = Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).data(points);
        let chart = Chart::new(vec![data])
            .block(Block::bordered().title(format!(" {name} ")))
            .x_axis(Axis::default().bounds([x0, x1.max(x0 + 1.0)]).labels([render::short(x0), render::short(x1)]))
            .y_axis(Axis::default().bounds([y0 - pad, y1 + pad]).labels([render::short(y0), render::short(y1)]));
        f.render_widget(chart, chart_area);
    }
}

fn help(f: &mut Frame<'_>) {
    let text = [
        "↑ ↓ j k     move",
        "PgUp PgDn   move by 10",
        "g G         first, last",
        "Enter → l   open the run",
        "Esc ← h     back to the runs",
        "/           filter (names, ids)",
        "r           read the files again",
        "?           these keys",
        "q           quit",
        "",
        "New lines appear by themselves: files are read again when they grow.",
    ];
    let area = f.area();
    let w = 60.min(area.width);
    let h = (text.len() as u16 + 2).min(area.height);
    let r = Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h };
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(text.join("\n")).block(Block::bordered().title(" keys ")), r);
}

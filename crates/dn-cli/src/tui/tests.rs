//! The TUI driven through its keys and drawn on ratatui's test backend.

use std::path::Path;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::{App, Screen, draw};

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(140, 40)).unwrap();
    t.draw(|f| draw::draw(f, app)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn keys(app: &mut App, keys: &str) {
    for c in keys.chars() {
        app.on_key(KeyEvent::from(match c {
            '\n' => KeyCode::Enter,
            '\u{1b}' => KeyCode::Esc,
            '↓' => KeyCode::Down,
            c => KeyCode::Char(c),
        }));
    }
}

fn python_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dn-testing/fixtures/python-2.0.52")
}

#[test]
fn open_a_run_move_to_a_task_see_its_inputs_and_metric_chart_and_quit() {
    let mut app = App::new(python_dir(), None);
    let s = screen(&app);
    assert!(s.contains("PROJECT") && s.contains("remote-experiment"), "{s}");
    keys(&mut app, "/ff14eaa6\n");
    assert!(screen(&app).contains("filter: ff14eaa6"));
    keys(&mut app, "\n");
    assert!(matches!(app.screen, Screen::Run(_)));
    let s = screen(&app);
    assert!(s.contains("metrics-run") && s.contains("detail"), "{s}");
    // The run span's metrics: a chart of the first series with points.
    let braille = s.chars().filter(|c| ('\u{2801}'..='\u{28ff}').contains(c)).count();
    assert!(s.contains(" agg_none ") && braille > 3, "a chart of agg_none: {s}");
    keys(&mut app, "\u{1b}/decorator-run\n\n");
    keys(&mut app, "↓↓↓↓↓");
    let s = screen(&app);
    assert!(s.contains("scored") && s.contains("text = hello world") && s.contains("length_score = 1.1"), "{s}");
    keys(&mut app, "?");
    assert!(screen(&app).contains("these keys"));
    keys(&mut app, "xq");
    assert!(app.quit);
}

#[test]
fn follow_mode_shows_a_span_appended_while_it_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(tmp.path())).unwrap();
    let run = d.run("live-run").start();
    d.task_span("first").parent(&run).run(|t| t.log_input("x", 1));
    d.flush();
    let mut app = App::new(tmp.path().to_path_buf(), None);
    keys(&mut app, "\n");
    let s = screen(&app);
    assert!(s.contains("first") && !s.contains("second"), "{s}");
    assert!(!app.tick(), "nothing changed yet");
    d.task_span("second").parent(&run).run(|t| t.log_output("y", 2));
    d.flush();
    assert!(app.tick(), "the file grew");
    let s = screen(&app);
    assert!(s.contains("second"), "{s}");
    assert!(s.contains("open"), "the run is still open: {s}");
    run.end();
    d.shutdown();
}

#[test]
fn a_light_span_shows_its_attributes_and_events_in_the_detail_pane() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(tmp.path())).unwrap();
    d.run("attr-run").run(|_| {
        let mut s = d.span("fetch").attribute("http.method", "GET").enter();
        s.add_event(
            "request sent",
            vec![("level".into(), dn::AttrValue::Str("INFO".into())), ("status".into(), 200.into())],
        );
    });
    d.shutdown();
    let mut app = App::new(tmp.path().to_path_buf(), None);
    keys(&mut app, "\n↓");
    let s = screen(&app);
    assert!(s.contains("attributes") && s.contains("http.method = GET"), "{s}");
    assert!(s.contains("events") && s.contains("INFO request sent  status=200"), "{s}");
}

#[test]
fn a_long_run_scrolls_to_its_last_span_and_a_new_read_shows_new_values() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(tmp.path())).unwrap();
    let run = d.run("long-run").start();
    run.log_metric("loss", 1.0);
    for i in 0..3_000 {
        d.task_span(format!("task-{i:04}")).parent(&run).run(|_| ());
    }
    d.flush();
    let mut app = App::new(tmp.path().to_path_buf(), None);
    keys(&mut app, "\nG");
    let s = screen(&app);
    assert!(s.contains("task-2999") && !s.contains("task-0000"), "the last rows on screen: {s}");
    keys(&mut app, "kkk");
    assert!(screen(&app).contains("task-2996"), "moving up stays in the window");
    // A tick that read more: the tree and the selection follow.
    d.task_span("task-3000").parent(&run).run(|_| ());
    d.flush();
    assert!(app.tick());
    assert_eq!(app.tree().len(), 3_001, "3 001 tasks (the run span comes with its end)");
    let spans = app.run_spans();
    assert_eq!(spans[app.tree()[app.span_row].0].line.name, "task-2996", "the same span stays selected");
    keys(&mut app, "G");
    assert!(screen(&app).contains("task-3000"));
    // The runs table's metric column, read again with the run's end.
    keys(&mut app, "\u{1b}");
    run.log_metric("loss", 0.25);
    run.end();
    d.flush();
    assert!(app.tick());
    assert!(screen(&app).contains("loss=0.25"), "{}", screen(&app));
    d.shutdown();
}

#[test]
fn a_long_series_is_charted_from_its_lowest_and_highest_points() {
    let mut m = dn_core::MetricSeries::default();
    let n = 1_000_000;
    for i in 0..n {
        let v = if i == 777_777 {
            -5.0
        } else if i == 123_456 {
            9.0
        } else {
            (i as f64).sin()
        };
        m.push(v, i, dn_core::Timestamp::from_nanos(0), dn_core::Aggregation::Direct);
    }
    let p = super::chart_points(&m);
    assert!(p.len() <= super::CHART_POINTS && p.len() > super::CHART_POINTS / 2, "{}", p.len());
    assert!(p.windows(2).all(|w| w[0].0 <= w[1].0), "in step order");
    assert!(p.contains(&(777_777.0, -5.0)) && p.contains(&(123_456.0, 9.0)), "extremes kept");
    let mut short = dn_core::MetricSeries::default();
    for i in 0..10 {
        short.push(i as f64, 7, dn_core::Timestamp::from_nanos(0), dn_core::Aggregation::Direct);
    }
    assert_eq!(
        super::chart_points(&short),
        (0..10).map(|i| (i as f64, i as f64)).collect::<Vec<_>>(),
        "one step: by index"
    );
}

#[test]
fn the_runs_table_scrolls_to_the_selected_run() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(tmp.path())).unwrap();
    for i in 0..300 {
        d.run(format!("sweep-{i:03}")).run(|r| r.log_param("i", i));
    }
    d.shutdown();
    let mut app = App::new(tmp.path().to_path_buf(), None);
    let s = screen(&app);
    assert!(s.contains("300 runs") && s.contains("sweep-299") && !s.contains("sweep-000"), "newest first: {s}");
    keys(&mut app, "G");
    let s = screen(&app);
    assert!(s.contains("sweep-000") && !s.contains("sweep-299"), "the oldest, at the bottom: {s}");
    keys(&mut app, "\n");
    assert!(screen(&app).contains("sweep-000"), "opens the selected run");
    keys(&mut app, "\u{1b}/sweep-15\n");
    let s = screen(&app);
    assert!(s.contains("sweep-159") && s.contains("sweep-150") && !s.contains("sweep-149"), "filtered: {s}");
}

#[test]
fn the_runs_table_shows_a_task_count_of_six_digits_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (trace, run_span, run_id) = ("0123456789abcdef0123456789abcdef", "00000000000000aa", "ab".repeat(16));
    let dir = tmp.path().join("projects/default").join(&run_id);
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = String::new();
    let times = r#""start_time":"2026-12-01T10:00:00Z","end_time":"2026-12-01T10:00:01Z""#;
    for i in 0..100_000u32 {
        text.push_str(&format!(
            r#"{{"trace_id":"{trace}","span_id":"{:016x}","parent_id":"{run_span}","name":"t",{times},"attributes":{{"dreadnode.type":"task","dreadnode.run.id":"{run_id}"}}}}"#,
            u64::from(i) + 0x1000
        ));
        text.push('\n');
    }
    text.push_str(&format!(
        r#"{{"trace_id":"{trace}","span_id":"{run_span}","parent_id":null,"name":"big-run",{times},"attributes":{{"dreadnode.type":"task","dreadnode.run.id":"{run_id}"}}}}"#
    ));
    text.push('\n');
    std::fs::write(dir.join("spans.jsonl"), text).unwrap();
    let app = App::new(tmp.path().to_path_buf(), None);
    let s = screen(&app);
    assert!(s.contains("big-run") && s.contains(" 100000 "), "{s}");
}

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

//! What `dn tui` pays to follow a run being written: a tick after 1 000 new
//! lines, reading on from where it stopped (`LocalReader::refresh` and
//! `local`), beside reading the whole directory again (`local::read`, what
//! every tick cost before the reader kept its place); a frame of that run's
//! screen (its span tree and the selected span's detail), and a frame of
//! the runs table of a directory of 10 000 runs, each drawn on ratatui's
//! test backend after the selection moved one row.
//!
//! `cargo xtask bench follow` (or `cargo bench -p dn-cli --bench follow`).
//! The directory is written by dn itself: one run of 100 000 task spans,
//! each with one input, one metric and one output (issue #13's task
//! workload; about 173 MB), on tmpfs (`/dev/shm`) where there is one. The
//! figures are in `docs/cli.md` ("How much reading costs").
#![allow(clippy::unwrap_used, missing_docs)] // a benchmark fails loudly

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use divan::Bencher;
use dn_cli::local::{self, LocalReader};
use ratatui::crossterm::event::{KeyCode, KeyEvent};

/// Tasks in the followed run.
const TASKS: u64 = 100_000;
/// Lines appended before each tick.
const APPENDED: usize = 1_000;

fn main() {
    divan::main();
}

/// The directory, its run's spans file, and 1 000 of its lines to append.
struct Followed {
    _dir: tempfile::TempDir,
    root: PathBuf,
    file: PathBuf,
    more: Vec<u8>,
}

/// A scratch directory on tmpfs (`/dev/shm`) where there is one.
fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.unwrap()
}

fn followed() -> &'static Followed {
    static F: OnceLock<Followed> = OnceLock::new();
    F.get_or_init(|| {
        let dir = fast_tempdir();
        let root = dir.path().to_path_buf();
        dn::configure(dn::Config::new().isolated().local_dir(&root)).unwrap();
        dn::run("followed").run(|_| {
            for i in 0..TASKS {
                dn::task_span("t").run(|t| {
                    t.log_input("x", i);
                    t.log_metric("m", dn::Metric::new(i as f64 * 0.5).step(i));
                    t.log_output("y", i * 2);
                });
            }
        });
        assert!(dn::shutdown().is_clean());
        let project = root.join("projects/default");
        let run = std::fs::read_dir(&project).unwrap().flatten().next().unwrap().path();
        let file = run.join("spans.jsonl");
        let text = std::fs::read(&file).unwrap();
        let more: Vec<u8> = text.split_inclusive(|b| *b == b'\n').take(APPENDED).flatten().copied().collect();
        Followed { _dir: dir, root, file, more }
    })
}

/// Reading the whole directory: what a tick cost when every tick read again.
#[divan::bench(sample_count = 10, sample_size = 1)]
fn read_whole_directory(b: Bencher<'_, '_>) {
    let f = followed();
    b.bench_local(|| local::read(&f.root, None));
}

/// A tick after 1 000 lines were appended: the new lines parsed, the runs
/// assembled from what was read (the file grows by 1 000 lines a sample).
#[divan::bench(sample_count = 20, sample_size = 1)]
fn tick_after_1000_appended_lines(b: Bencher<'_, '_>) {
    let f = followed();
    let mut reader = LocalReader::new(&f.root, None);
    reader.refresh();
    b.with_inputs(|| {
        let mut file = std::fs::OpenOptions::new().append(true).open(&f.file).unwrap();
        file.write_all(&f.more).unwrap();
    })
    .bench_local_values(|()| {
        assert!(reader.refresh());
        reader.local()
    });
}

/// A frame of the run's screen, a 140×40 terminal, after a key moved the
/// selection: what each key press and each tick costs to show.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn frame_of_the_run_screen(b: Bencher<'_, '_>) {
    let mut app = dn_cli::tui::App::new(followed().root.clone(), None);
    app.on_key(KeyEvent::from(KeyCode::Enter));
    bench_frames(b, app);
}

/// Each iteration: a key moving the selection (down, then up), and a frame
/// drawn on a 140×40 test terminal.
fn bench_frames(b: Bencher<'_, '_>, mut app: dn_cli::tui::App) {
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(140, 40)).unwrap();
    let mut down = true;
    b.bench_local(|| {
        app.on_key(KeyEvent::from(if down { KeyCode::Down } else { KeyCode::Up }));
        down = !down;
        terminal.draw(|frame| dn_cli::tui::draw(frame, &app)).unwrap();
    });
}

/// A directory of 10 000 runs, each with a param and a metric.
fn many_runs() -> &'static tempfile::TempDir {
    static D: OnceLock<tempfile::TempDir> = OnceLock::new();
    D.get_or_init(|| {
        let dir = fast_tempdir();
        let d = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(dir.path())).unwrap();
        for i in 0..10_000 {
            d.run("sweep").run(|r| {
                r.log_param("i", i);
                r.log_metric("loss", 1.0 / f64::from(i + 1));
            });
        }
        assert!(d.shutdown().is_clean());
        dir
    })
}

/// A frame of the runs table of 10 000 runs after a key moved the selection.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn frame_of_the_runs_table_of_10000_runs(b: Bencher<'_, '_>) {
    bench_frames(b, dn_cli::tui::App::new(many_runs().path().to_path_buf(), None));
}

//! `dn tui`: an interactive terminal UI over the local directory (ratatui).
//! Runs list → a run's span tree → the selected span's detail (inputs,
//! outputs, params, its metric as a chart, its error). `/` filters, `?`
//! shows the keys, and it follows files still being written: every half
//! second it reads the lines appended to the spans files since.
//!
//! What drawing needs again at every frame — a run's span tree, the runs'
//! last metrics, the selected span's series and chart — is worked out once
//! per read that changed something (`App::generation`) and kept (`Memo`),
//! and the tree's list is drawn from the rows on screen only: a run of a
//! million spans costs its reading, not a pass over every span per frame.

mod draw;

pub use draw::draw;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Args;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::local::{self, Local, Run};

/// Options of `dn tui`.
#[derive(Args, Debug)]
pub struct TuiArgs {
    /// Where to read.
    #[command(flatten)]
    pub local: local::LocalArgs,
}

/// How often the directory is looked at for new lines.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// Which screen is shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    /// The runs table.
    Runs,
    /// One run's tree and detail.
    Run(String),
}

/// The UI's state: everything drawing needs, changed only by keys and ticks.
pub struct App {
    root: PathBuf,
    project: Option<String>,
    /// What was read last.
    pub local: Local,
    /// The screen shown.
    pub screen: Screen,
    /// Selected row of the (filtered) runs table.
    pub run_row: usize,
    /// Selected row of the run's span tree.
    pub span_row: usize,
    /// The filter (`/`), applied to run names and ids, or span names.
    pub filter: String,
    /// Whether keys go to the filter.
    pub editing: bool,
    /// Whether the key help is shown.
    pub help: bool,
    /// Set by `q`.
    pub quit: bool,
    /// Keeps what was read: a tick parses only the lines appended since.
    reader: local::LocalReader,
    /// Counts the reads that changed `local`: what `memo` is valid for.
    generation: u64,
    memo: RefCell<Memo>,
}

/// What drawing reads at every frame, kept for one `generation` of what was
/// read (see the module docs).
#[derive(Default)]
struct Memo {
    generation: u64,
    /// The tree, for (run id, filter).
    tree: Option<(TreeKey, Rc<Tree>)>,
    /// The runs table's order (indices into `local.runs`), for a filter.
    run_order: Option<(String, Rc<Vec<usize>>)>,
    /// Each run's last metric values, by run id.
    last_metrics: HashMap<String, Rc<Vec<(String, f64)>>>,
    /// The selected span's series and its chart's points.
    detail: Option<(dn_core::SpanId, Rc<Detail>)>,
}

/// What a span tree is of: the run shown (its id) and the filter.
type TreeKey = (Option<String>, String);

/// A run's spans in tree order: (index into [`App::run_spans`], depth).
pub type Tree = Vec<(usize, usize)>;

/// A span's metric series, and the points of its chart (the first series
/// with more than one point, at most [`CHART_POINTS`] of them).
pub struct Detail {
    /// The span's series by name.
    pub metrics: indexmap::IndexMap<String, dn_core::MetricSeries>,
    /// The charted series' name and its (x, y) points.
    pub chart: Option<(String, Vec<(f64, f64)>)>,
}

/// Most points a chart is drawn with: a longer series is drawn from the
/// lowest and highest value of each of this many / 2 equal runs of points
/// (a braille chart is at most a few hundred dots wide).
pub const CHART_POINTS: usize = 4096;

impl App {
    /// Reads `root` (only `project`'s runs when given).
    pub fn new(root: PathBuf, project: Option<String>) -> App {
        let mut reader = local::LocalReader::new(&root, project.as_deref());
        reader.refresh();
        let local = reader.local();
        App {
            root,
            project,
            local,
            screen: Screen::Runs,
            run_row: 0,
            span_row: 0,
            filter: String::new(),
            editing: false,
            help: false,
            quit: false,
            reader,
            generation: 0,
            memo: RefCell::default(),
        }
    }

    /// Follow mode: reads the lines appended to the spans files since the
    /// last tick (a file that appeared, whole; one rewritten, again); keeps
    /// the selection on the same run and span. Returns whether anything
    /// changed.
    pub fn tick(&mut self) -> bool {
        if !self.reader.refresh() {
            return false;
        }
        let (run, span) = (self.selected_run().map(|r| r.id.clone()), self.selected_span_id());
        self.local = self.reader.local();
        self.generation += 1;
        if let Some(id) = run {
            if let Some(i) = self.runs().iter().position(|r| r.id == id) {
                self.run_row = i;
            }
        }
        if let Some(id) = span {
            let spans = self.run_spans();
            let row = self.tree().iter().position(|&(i, _)| spans[i].line.span_id == id);
            if let Some(i) = row {
                self.span_row = i;
            }
        }
        true
    }

    /// The runs the table shows: newest first, filtered (in that order
    /// once per read and filter).
    pub fn runs(&self) -> Vec<&Run> {
        let filter = if self.screen == Screen::Runs { self.filter.to_lowercase() } else { String::new() };
        let known = match &self.memo().run_order {
            Some((f, order)) if *f == filter => Some(order.clone()),
            _ => None,
        };
        let order = known.unwrap_or_else(|| {
            let mut order: Vec<usize> = (0..self.local.runs.len())
                .filter(|&i| {
                    let r = &self.local.runs[i];
                    filter.is_empty() || r.name().to_lowercase().contains(&filter) || r.id.starts_with(&filter)
                })
                .collect();
            let runs = &self.local.runs;
            order.sort_by(|&a, &b| runs[b].start().cmp(&runs[a].start()).then_with(|| runs[a].id.cmp(&runs[b].id)));
            let order = Rc::new(order);
            self.memo().run_order = Some((filter, order.clone()));
            order
        });
        order.iter().map(|&i| &self.local.runs[i]).collect()
    }

    /// The run shown (on the run screen) or selected (on the runs table).
    pub fn selected_run(&self) -> Option<&Run> {
        match &self.screen {
            Screen::Run(id) => self.local.runs.iter().find(|r| &r.id == id),
            Screen::Runs => self.runs().get(self.run_row).copied(),
        }
    }

    /// The shown run's spans.
    pub fn run_spans(&self) -> Vec<&local::Span> {
        self.selected_run().map(|r| r.spans.iter().map(|s| &**s).collect()).unwrap_or_default()
    }

    /// The shown run's spans in tree order with depths, filtered by name
    /// (indices into [`App::run_spans`]); worked out once per read and filter.
    pub fn tree(&self) -> Rc<Tree> {
        let key = (self.selected_run().map(|r| r.id.clone()), self.filter.to_lowercase());
        if let Some((k, tree)) = &self.memo().tree {
            if *k == key {
                return tree.clone();
            }
        }
        let spans = self.run_spans();
        let f = &key.1;
        let tree: Rc<Tree> = Rc::new(
            crate::show::tree_order(&spans)
                .into_iter()
                .filter(|&(i, _)| f.is_empty() || spans[i].line.name.to_lowercase().contains(f))
                .collect(),
        );
        self.memo().tree = Some((key, tree.clone()));
        tree
    }

    /// The memo, emptied first when it is of an earlier read.
    fn memo(&self) -> std::cell::RefMut<'_, Memo> {
        let mut m = self.memo.borrow_mut();
        if m.generation != self.generation {
            *m = Memo { generation: self.generation, ..Memo::default() };
        }
        m
    }

    /// A run's last metric values (the runs table's column), once per read.
    pub fn last_metrics(&self, run: &Run) -> Rc<Vec<(String, f64)>> {
        if let Some(m) = self.memo().last_metrics.get(&run.id) {
            return m.clone();
        }
        let m = Rc::new(crate::runs::last_metrics(run));
        self.memo().last_metrics.insert(run.id.clone(), m.clone());
        m
    }

    /// A span's series and chart points (see [`Detail`]), once per read.
    pub fn detail(&self, span: &local::Span) -> Rc<Detail> {
        let id = span.line.span_id;
        if let Some((at, d)) = &self.memo().detail {
            if *at == id {
                return d.clone();
            }
        }
        let metrics = span.view().map(|v| v.metrics()).unwrap_or_default();
        let chart = metrics.iter().find(|(_, m)| m.len() > 1).map(|(name, m)| (name.clone(), chart_points(m)));
        let d = Rc::new(Detail { metrics, chart });
        self.memo().detail = Some((id, d.clone()));
        d
    }

    fn selected_span_id(&self) -> Option<dn_core::SpanId> {
        let spans = self.run_spans();
        self.tree().get(self.span_row).map(|&(i, _)| spans[i].line.span_id)
    }

    /// Handles one key.
    pub fn on_key(&mut self, key: KeyEvent) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        if self.editing {
            match key.code {
                KeyCode::Enter | KeyCode::Esc => self.editing = false,
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Char(c) => self.filter.push(c),
                _ => {}
            }
            self.run_row = 0;
            self.span_row = 0;
            return;
        }
        if self.help {
            self.help = false;
            return;
        }
        let len = match self.screen {
            Screen::Runs => self.runs().len(),
            Screen::Run(_) => self.tree().len(),
        };
        let row = match self.screen {
            Screen::Runs => &mut self.run_row,
            Screen::Run(_) => &mut self.span_row,
        };
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('/') => {
                self.editing = true;
                self.filter.clear();
            }
            KeyCode::Down | KeyCode::Char('j') => *row = (*row + 1).min(len.saturating_sub(1)),
            KeyCode::Up | KeyCode::Char('k') => *row = row.saturating_sub(1),
            KeyCode::PageDown => *row = (*row + 10).min(len.saturating_sub(1)),
            KeyCode::PageUp => *row = row.saturating_sub(10),
            KeyCode::Home | KeyCode::Char('g') => *row = 0,
            KeyCode::End | KeyCode::Char('G') => *row = len.saturating_sub(1),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') if self.screen == Screen::Runs => {
                if let Some(id) = self.selected_run().map(|r| r.id.clone()) {
                    self.screen = Screen::Run(id);
                    self.span_row = 0;
                    self.filter.clear();
                }
            }
            KeyCode::Esc | KeyCode::Left | KeyCode::Char('h') | KeyCode::Backspace if self.screen != Screen::Runs => {
                self.screen = Screen::Runs;
                self.filter.clear();
            }
            KeyCode::Char('r') => {
                // Everything again, from the start of every file.
                self.reader = local::LocalReader::new(&self.root, self.project.as_deref());
                self.tick();
            }
            _ => {}
        }
    }
}

/// A series as a chart's (x, y) points: x the step, or the index when every
/// point has the same step (none given); non-finite values left out; past
/// [`CHART_POINTS`], each of `CHART_POINTS / 2` equal runs of points drawn
/// as its lowest and highest value, in their order.
pub fn chart_points(m: &dn_core::MetricSeries) -> Vec<(f64, f64)> {
    let p = m.points();
    let one_step = p.iter().all(|q| q.step == p[0].step);
    let all: Vec<(f64, f64)> = p
        .iter()
        .enumerate()
        .filter(|(_, q)| q.value.is_finite())
        .map(|(i, q)| (if one_step { i as f64 } else { q.step as f64 }, q.value))
        .collect();
    if all.len() <= CHART_POINTS {
        return all;
    }
    let per = all.len().div_ceil(CHART_POINTS / 2);
    let mut out = Vec::with_capacity(CHART_POINTS);
    for run in all.chunks(per) {
        let lo = run.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
        let hi = run.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1));
        if let (Some(lo), Some(hi)) = (lo, hi) {
            let (first, second) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
            out.push(first);
            if second != first {
                out.push(second);
            }
        }
    }
    out
}

/// Runs `dn tui`; returns the exit status.
pub fn run(args: &TuiArgs) -> u8 {
    let root = match local::local_dir(args.local.local_dir.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dn tui: {e}");
            return 2;
        }
    };
    let mut app = App::new(root, args.local.project.clone());
    let mut terminal = ratatui::init();
    let result = (|| -> std::io::Result<()> {
        let mut last = Instant::now();
        while !app.quit {
            terminal.draw(|f| draw::draw(f, &app))?;
            let wait = FOLLOW_EVERY.saturating_sub(last.elapsed());
            if event::poll(wait)? {
                if let Event::Key(k) = event::read()? {
                    app.on_key(k);
                }
            }
            if last.elapsed() >= FOLLOW_EVERY {
                app.tick();
                last = Instant::now();
            }
        }
        Ok(())
    })();
    ratatui::restore();
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("dn tui: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests;

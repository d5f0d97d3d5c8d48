//! `dn tui`: an interactive terminal UI over the local directory (ratatui).
//! Runs list → a run's span tree → the selected span's detail (inputs,
//! outputs, params, its metric as a chart, its error). `/` filters, `?`
//! shows the keys, and it follows files still being written: the directory
//! is read again when a spans file grows, every half second.

mod draw;

use std::path::PathBuf;
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
}

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
        if let Some(id) = run {
            if let Some(i) = self.runs().iter().position(|r| r.id == id) {
                self.run_row = i;
            }
        }
        if let Some(id) = span {
            if let Some(i) = self.tree().iter().position(|&(i, _)| self.run_spans()[i].line.span_id == id) {
                self.span_row = i;
            }
        }
        true
    }

    /// The runs the table shows: newest first, filtered.
    pub fn runs(&self) -> Vec<&Run> {
        let f = self.filter.to_lowercase();
        let mut runs: Vec<&Run> = self
            .local
            .runs
            .iter()
            .filter(|r| {
                self.screen != Screen::Runs
                    || f.is_empty()
                    || r.name().to_lowercase().contains(&f)
                    || r.id.starts_with(&f)
            })
            .collect();
        runs.sort_by(|a, b| b.start().cmp(&a.start()).then_with(|| a.id.cmp(&b.id)));
        runs
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

    /// The shown run's spans in tree order with depths, filtered by name.
    pub fn tree(&self) -> Vec<(usize, usize)> {
        let spans = self.run_spans();
        let f = self.filter.to_lowercase();
        crate::show::tree_order(&spans)
            .into_iter()
            .filter(|&(i, _)| f.is_empty() || spans[i].line.name.to_lowercase().contains(&f))
            .collect()
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

//! Reading a local directory — dn's or the Python SDK 2.0.52's — into runs:
//! every spans file (`projects/<p>/<run>/spans.jsonl`, session files), each
//! line read back as a [`SpanLine`]; lines that cannot be read are counted
//! with their file and line number, never fatal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use dn_core::{RenderedTask, SpanLine, SpanType, Status, TaskView, Timestamp};

/// A line that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// The file, relative to the local directory.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub what: String,
}

/// One span of a run, with where it was read from.
#[derive(Debug)]
pub struct Span {
    /// The span as read back.
    pub line: SpanLine,
    /// The file it is in, relative to the local directory.
    pub file: std::sync::Arc<str>,
}

impl Span {
    /// Its logged data (params, inputs, outputs, metrics), if it has any.
    pub fn view(&self) -> Option<TaskView> {
        self.line.rendered.clone().map(TaskView::Rendered)
    }
    /// Duration in nanoseconds.
    pub fn duration_ns(&self) -> u64 {
        self.line.end.as_nanos().saturating_sub(self.line.start.as_nanos())
    }
}

/// A run: its spans from its own file and from session files.
#[derive(Debug)]
pub struct Run {
    /// Project.
    pub project: String,
    /// Run id.
    pub id: String,
    /// Every span, in file order (run file first, then session files);
    /// shared with the reader that keeps them (see [`LocalReader`]). Read
    /// for a summary ([`read_runs`]), only the run's own span and its
    /// updates; the others are in `counted`.
    pub spans: Vec<Arc<Span>>,
    /// The spans read for a summary and not kept (none otherwise).
    pub counted: Counted,
    /// Where the run's own span is in `spans`, found once: a run's span is
    /// written when it ends, so it is mostly the last, and the runs table
    /// asks for it at every frame (its name, start and status).
    own: std::sync::OnceLock<Option<usize>>,
    /// [`Run::task_count`], counted once (the runs table asks at every frame).
    task_count: std::sync::OnceLock<usize>,
}

/// What a summary keeps of the spans it does not: how many tasks, and the
/// earliest start and latest end (what an open run's start and duration
/// are made of).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counted {
    /// Task spans.
    pub tasks: usize,
    /// The earliest start.
    pub earliest: Option<Timestamp>,
    /// The latest end.
    pub latest: Option<Timestamp>,
}

impl Counted {
    fn add(&mut self, line: &SpanLine) {
        self.tasks += usize::from(line.is_task());
        self.earliest = Some(self.earliest.map_or(line.start, |t| t.min(line.start)));
        self.latest = Some(self.latest.map_or(line.end, |t| t.max(line.end)));
    }
    fn merge(&mut self, other: &Counted) {
        self.tasks += other.tasks;
        self.earliest = self.earliest.into_iter().chain(other.earliest).min();
        self.latest = self.latest.into_iter().chain(other.latest).max();
    }
}

/// How a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// The run span is written and did not fail.
    Ok,
    /// The run span failed (a failed task inside a run that went on is not a failed run).
    Failed,
    /// No run span yet: still being written (or the process died).
    Open,
}

impl RunStatus {
    /// `ok`, `failed` or `open`.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Open => "open",
        }
    }
}

impl Run {
    /// A run read back: its own span and task count are found when first
    /// asked, after every span of it was added.
    fn new(project: String, id: String, spans: Vec<Arc<Span>>, counted: Counted) -> Run {
        Run { project, id, spans, counted, own: Default::default(), task_count: Default::default() }
    }
    /// The run's own span: the root task span of its run id.
    pub fn run_span(&self) -> Option<&Span> {
        let own = self.own.get_or_init(|| {
            self.spans.iter().position(|s| {
                s.line.is_task() && s.line.parent_id.is_none() && s.line.run_id.as_deref() == Some(self.id.as_str())
            })
        });
        own.and_then(|i| self.spans.get(i)).map(|s| &**s)
    }
    /// The run's name (its span's), or `(open run)` while it is open (the
    /// name is written with the run span, at its end).
    pub fn name(&self) -> &str {
        self.run_span().map_or("(open run)", |s| s.line.name.as_str())
    }
    /// Start: the run span's, else the earliest span's.
    pub fn start(&self) -> Timestamp {
        self.run_span()
            .map(|s| s.line.start)
            .or_else(|| self.spans.iter().map(|s| s.line.start).chain(self.counted.earliest).min())
            .unwrap_or_default()
    }
    /// Duration: the run span's, else from the start to the latest end.
    pub fn duration_ns(&self) -> u64 {
        match self.run_span() {
            Some(s) => s.duration_ns(),
            None => {
                let end = self.spans.iter().map(|s| s.line.end).chain(self.counted.latest).max().unwrap_or_default();
                end.as_nanos().saturating_sub(self.start().as_nanos())
            }
        }
    }
    /// ok, failed or open.
    pub fn status(&self) -> RunStatus {
        match self.run_span() {
            None => RunStatus::Open,
            Some(s) if matches!(s.line.status, Status::Error(_)) => RunStatus::Failed,
            Some(_) => RunStatus::Ok,
        }
    }
    /// How many task spans other than the run's own it has (those read for
    /// a summary too).
    pub fn task_count(&self) -> usize {
        *self.task_count.get_or_init(|| self.tasks().count() + self.counted.tasks)
    }
    /// Task spans other than the run's own (of those kept, see [`Run::spans`]).
    pub fn tasks(&self) -> impl Iterator<Item = &Span> {
        let run = self.run_span().map(|s| s.line.span_id);
        self.spans.iter().map(|s| &**s).filter(move |s| s.line.is_task() && Some(s.line.span_id) != run)
    }
    /// The run-level data: the run span's, or while it is open the latest
    /// run update's (each update carries what changed; metrics are merged).
    pub fn data(&self) -> Option<TaskView> {
        if let Some(s) = self.run_span() {
            return s.view();
        }
        let mut updates = self.spans.iter().filter(|s| s.line.span_type == SpanType::RunUpdate).peekable();
        updates.peek()?;
        let mut params = serde_json::Map::new();
        let mut metrics: BTreeMap<String, serde_json::Value> = BTreeMap::new();
        for u in updates {
            if let Some(r) = &u.line.rendered {
                if let Ok(serde_json::Value::Object(p)) = serde_json::from_str(&r.params()) {
                    params.extend(p);
                }
                if let Ok(serde_json::Value::Object(m)) = serde_json::from_str(&r.metrics()) {
                    for (k, v) in m {
                        merge_series(metrics.entry(k).or_insert_with(|| serde_json::json!({})), &v);
                    }
                }
            }
        }
        let params = serde_json::Value::Object(params).to_string();
        let metrics = serde_json::to_string(&metrics).unwrap_or_else(|_| "{}".into());
        let mut parts = dn_core::EMPTY_TASK_GROUPS;
        (parts[0], parts[3]) = (&params, &metrics);
        let r = RenderedTask::from_parts(parts);
        Some(TaskView::Rendered(std::sync::Arc::new(r)))
    }
}

fn merge_series(into: &mut serde_json::Value, more: &serde_json::Value) {
    for k in ["values", "steps", "timestamps"] {
        let add = more[k].as_array().cloned().unwrap_or_default();
        match into.get_mut(k).and_then(serde_json::Value::as_array_mut) {
            Some(a) => a.extend(add),
            None => into[k] = serde_json::Value::Array(add),
        }
    }
}

/// Everything read from a local directory.
#[derive(Debug, Default)]
pub struct Local {
    /// Runs, by (project, run id).
    pub runs: Vec<Run>,
    /// Session files' spans that belong to no run (by session id).
    pub sessions: BTreeMap<String, Vec<Arc<Span>>>,
    /// Lines that could not be read.
    pub problems: Vec<Problem>,
}

/// Reads every spans file under `root` (only project `project`'s runs when
/// given). A missing directory reads as empty.
pub fn read(root: &Path, project: Option<&str>) -> Local {
    let mut reader = LocalReader::new(root, project);
    reader.refresh();
    reader.local()
}

/// Reads `root` for a summary of its runs (`dn runs`): of each run only its
/// own span and its updates are kept, with data; the other spans are
/// counted ([`Run::counted`]) and dropped as they are read, so a long run
/// costs the time to parse it, not memory that grows with it.
pub fn read_runs(root: &Path, project: Option<&str>) -> Local {
    let mut reader = LocalReader::new(root, project);
    reader.summary = true;
    reader.refresh();
    reader.local()
}

/// Reads `root` for commands that name runs (`dn show RUN`, `metrics`,
/// `export`, `diff`): only the spans of the runs `named` can mean are read
/// with their data — each name's run file when it is a run id or an id
/// prefix (found among the run directories, no file read to find it), else
/// the runs a summary read ([`read_runs`]) finds by id, prefix or name — and
/// of the session files only those runs' spans are kept. What [`Local::find`]
/// then finds is what it would find in a whole read (an ambiguous prefix
/// keeps every run it matches, to be reported as such); other runs of a
/// large directory cost nothing, or a summary read's parsing when a run is
/// named by its name.
pub fn read_named(root: &Path, project: Option<&str>, named: &[&str]) -> Local {
    let dirs = run_dirs(root, project);
    let mut ids: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut summary: Option<Local> = None;
    for &name in named {
        let prefixed: Vec<&String> = dirs.iter().filter(|d| d.starts_with(name)).collect();
        match prefixed.iter().find(|d| d.as_str() == name) {
            Some(exact) => {
                ids.insert(exact.to_string());
            }
            None if !prefixed.is_empty() => ids.extend(prefixed.into_iter().cloned()),
            None => {
                // The run `find` picks (a summary finds as a whole read
                // does); when it picks none, every candidate, for `find` to
                // say why again.
                let all = summary.get_or_insert_with(|| read_runs(root, project));
                match all.find(name) {
                    Ok(r) => {
                        ids.insert(r.id.clone());
                    }
                    Err(_) => ids.extend(
                        all.runs.iter().filter(|r| r.id.starts_with(name) || r.name() == name).map(|r| r.id.clone()),
                    ),
                }
            }
        }
    }
    let mut reader = LocalReader::new(root, project);
    reader.only = Some(ids);
    reader.refresh();
    reader.local()
}

/// The run ids that have a directory under `root` (of `project` when given).
fn run_dirs(root: &Path, project: Option<&str>) -> Vec<String> {
    let projects = root.join(dn_core::layout::PROJECTS_DIR);
    subdirs(&projects)
        .into_iter()
        .filter(|p| project.is_none_or(|want| want == p))
        .flat_map(|p| subdirs(&projects.join(p)))
        .collect()
}

/// The names of the directories in `dir` (dn-export's listing, which `dn
/// sync` reads the same directory with).
fn subdirs(dir: &Path) -> Vec<String> {
    dn_export::delivery::sync::subdirs(dir)
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

/// Reads a local directory and keeps what it read, so that reading it again
/// parses only the lines appended since (what `dn tui` does while it follows
/// a run being written): spans files are appended to, never rewritten, so a
/// file is read on from where its last whole line ended. A file that got
/// shorter or was replaced (another inode) is read again from its start; a
/// file that is gone is forgotten.
#[derive(Debug)]
pub struct LocalReader {
    root: PathBuf,
    project: Option<String>,
    /// By path relative to the root, in the order of `spans_files`.
    files: Vec<FileRead>,
    /// Keep only runs' own spans and updates (see [`read_runs`]).
    summary: bool,
    /// Read only these runs (see [`read_named`]).
    only: Option<std::collections::BTreeSet<String>>,
}

/// What has been read of one spans file.
#[derive(Debug)]
struct FileRead {
    rel: PathBuf,
    shared: Arc<str>,
    /// The file's identity when it was read (device and inode, on Unix).
    identity: Option<(u64, u64)>,
    /// Where the next line starts: just past the last whole line read.
    offset: u64,
    /// The file's length when it was last read.
    len: u64,
    /// Lines read so far (for the line numbers of problems).
    lines: usize,
    spans: Vec<Arc<Span>>,
    /// Spans read for a summary and not kept, by their run id.
    counted: BTreeMap<Option<String>, Counted>,
    /// Whole lines that are not spans.
    problems: Vec<Problem>,
    /// The names, run ids and projects its lines share.
    strings: dn_core::LineStrings,
    /// The last line when it has no newline yet (read again next time), or
    /// why the file could not be opened (line 0).
    torn: Option<Problem>,
}

impl LocalReader {
    /// A reader of `root` (only project `project`'s runs when given) that
    /// has read nothing yet.
    pub fn new(root: &Path, project: Option<&str>) -> LocalReader {
        LocalReader {
            root: root.to_path_buf(),
            project: project.map(str::to_owned),
            files: Vec::new(),
            summary: false,
            only: None,
        }
    }

    /// Reads what was appended to each spans file since the last call (every
    /// file, the first time); returns whether anything changed.
    pub fn refresh(&mut self) -> bool {
        let now = match &self.only {
            None => {
                let sel = dn_export::delivery::sync::Selection { project: self.project.clone(), run: None };
                dn_export::delivery::sync::spans_files(&self.root, &sel)
            }
            // Only these runs' files, not a look at every run's; and every
            // session file, for these runs' spans (see `FileRead::parse`).
            Some(only) => {
                let mut files: Vec<PathBuf> = subdirs(&self.root.join(dn_core::layout::PROJECTS_DIR))
                    .into_iter()
                    .filter(|p| self.project.as_deref().is_none_or(|want| want == p))
                    .flat_map(|p| only.iter().filter_map(move |id| dn_core::layout::run_dir(&p, id).ok()))
                    .map(|dir| dir.join(dn_core::layout::SPANS_FILE))
                    .filter(|rel| self.root.join(rel).is_file())
                    .collect();
                files.sort();
                files.extend(dn_export::delivery::sync::session_files(&self.root));
                files
            }
        };
        let mut changed = now.len() != self.files.len();
        let mut old: std::collections::HashMap<PathBuf, FileRead> =
            std::mem::take(&mut self.files).into_iter().map(|f| (f.rel.clone(), f)).collect();
        for rel in now {
            let mut f = old.remove(&rel).unwrap_or_else(|| {
                changed = true;
                FileRead::new(rel)
            });
            changed |= f.read_on(&self.root, Keep { summary: self.summary, only: self.only.as_ref() });
            self.files.push(f);
        }
        changed
    }

    /// What has been read, as runs and sessions (the spans shared, not copied).
    pub fn local(&self) -> Local {
        let mut local = Local::default();
        let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
        let mut session_spans: Vec<(String, Arc<Span>)> = Vec::new();
        let mut session_counts: Vec<(String, Counted)> = Vec::new();
        for f in &self.files {
            local.problems.extend(f.problems.iter().chain(&f.torn).cloned());
            let rel_s = f.shared.as_ref();
            let parts: Vec<&str> = rel_s.split('/').collect();
            match parts.as_slice() {
                [dir, p, run, _] if *dir == dn_core::layout::PROJECTS_DIR => {
                    by_id.insert(run.to_string(), local.runs.len());
                    let mut counted = Counted::default();
                    f.counted.values().for_each(|c| counted.merge(c));
                    local.runs.push(Run::new(p.to_string(), run.to_string(), f.spans.clone(), counted));
                }
                [dir, id, _] if *dir == dn_core::layout::SESSIONS_DIR => {
                    session_spans.extend(f.spans.iter().map(|s| (id.to_string(), s.clone())));
                    session_counts.extend(f.counted.iter().filter_map(|(r, c)| Some((r.clone()?, *c))));
                }
                _ => {}
            }
        }
        // A run's spans made under a session went to the session file; they
        // carry the run id. A run started inside a session lives there whole.
        // Runs that live in a session file whole: their root spans first, then
        // every span goes to its run, else to its session.
        let project = self.project.as_deref();
        for (_, s) in &session_spans {
            let run_root = s.line.is_task() && s.line.parent_id.is_none();
            if let Some(r) = s.line.run_id.as_deref().filter(|r| run_root && !by_id.contains_key(*r)) {
                let r = r.to_string();
                let p = s.line.project.as_deref().unwrap_or("default").to_string();
                if project.is_none_or(|f| f == p) {
                    by_id.insert(r.clone(), local.runs.len());
                    local.runs.push(Run::new(p, r, vec![], Counted::default()));
                }
            }
        }
        for (session, s) in session_spans {
            match s.line.run_id.as_deref().and_then(|r| by_id.get(r)) {
                Some(&i) => local.runs[i].spans.push(s),
                None => local.sessions.entry(session).or_default().push(s),
            }
        }
        for (run, c) in session_counts {
            if let Some(&i) = by_id.get(&run) {
                local.runs[i].counted.merge(&c);
            }
        }
        local
    }
}

impl FileRead {
    fn new(rel: PathBuf) -> FileRead {
        let shared: Arc<str> = rel.to_string_lossy().replace('\\', "/").into();
        FileRead {
            rel,
            shared,
            identity: None,
            offset: 0,
            len: 0,
            lines: 0,
            spans: Vec::new(),
            counted: BTreeMap::new(),
            problems: Vec::new(),
            strings: Default::default(),
            torn: None,
        }
    }

    /// Reads the lines appended since the last read; whether anything changed.
    fn read_on(&mut self, root: &Path, keep: Keep<'_>) -> bool {
        let path = root.join(&self.rel);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                // Forgotten, and said as this read's problem (as a torn line
                // is): a file readable again is read from its start.
                let gone = Some(self.problem(0, format!("cannot read: {e}")));
                let changed = self.torn != gone || !self.spans.is_empty() || !self.problems.is_empty();
                *self = FileRead::new(std::mem::take(&mut self.rel));
                self.torn = gone;
                return changed;
            }
        };
        let meta = file.metadata().ok();
        let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
        let identity = meta.as_ref().and_then(identity);
        let mut changed = false;
        if len < self.offset || (self.identity.is_some() && identity != self.identity) {
            // Shorter, or another file under the same name: from the start.
            *self = FileRead::new(std::mem::take(&mut self.rel));
            changed = true;
        }
        self.identity = identity;
        if !changed && len == self.len && self.torn.as_ref().is_none_or(|t| t.line != 0) {
            return false;
        }
        self.len = len;
        let before = (self.spans.len(), self.counted.clone(), self.problems.len(), self.torn.clone());
        self.read_from(file, keep);
        changed || (self.spans.len(), self.counted.clone(), self.problems.len(), self.torn.clone()) != before
    }

    /// Reads whole lines from `self.offset` on.
    fn read_from(&mut self, mut file: std::fs::File, keep: Keep<'_>) {
        use std::io::{BufRead as _, Seek as _, SeekFrom};
        self.torn = None;
        if let Err(e) = file.seek(SeekFrom::Start(self.offset)) {
            self.torn = Some(self.problem(self.lines + 1, format!("cannot read: {e}")));
            return;
        }
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut raw = Vec::new();
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    self.torn = Some(self.problem(self.lines + 1, format!("cannot read: {e}")));
                    break;
                }
            }
            if raw.last() != Some(&b'\n') {
                // Still being written (or its writer died): not consumed,
                // read again from its start next time.
                if !raw.is_empty() {
                    self.torn =
                        Some(self.problem(self.lines + 1, "incomplete last line (still being written?)".into()));
                }
                break;
            }
            self.offset += raw.len() as u64;
            self.lines += 1;
            let body = &raw[..raw.len() - 1];
            if body.is_empty() {
                continue;
            }
            let Some(line) = std::str::from_utf8(body).ok().and_then(|t| self.parse(t, keep)) else {
                self.problems.push(self.problem(self.lines, "not a span line".into()));
                continue;
            };
            if let Some(line) = line {
                self.spans.push(Arc::new(Span { line, file: self.shared.clone() }));
            }
        }
    }

    /// A span's line read: `Some(None)` when it was counted or left out,
    /// not kept (see [`read_runs`], [`read_named`]); `None` when it is not
    /// a span line.
    fn parse(&mut self, text: &str, keep: Keep<'_>) -> Option<Option<SpanLine>> {
        // A run's own file is all its own; a session file holds spans of
        // many runs (each carries its run id) and of none.
        if let Some(only) = keep.only.filter(|_| self.shared.starts_with("sessions/")) {
            let line = SpanLine::parse_sharing(text, false, &mut self.strings)?;
            let theirs = line.run_id.as_deref().is_some_and(|r| only.contains(r));
            return Some(if theirs { SpanLine::parse_sharing(text, true, &mut self.strings) } else { None });
        }
        if !keep.summary {
            return SpanLine::parse_sharing(text, true, &mut self.strings).map(Some);
        }
        let line = SpanLine::parse_sharing(text, false, &mut self.strings)?;
        // A summary keeps a run's own span and its updates, with their data
        // (what `dn runs` shows), and counts the others.
        if (line.is_task() && line.parent_id.is_none()) || line.span_type == SpanType::RunUpdate {
            return SpanLine::parse_sharing(text, true, &mut self.strings).map(Some);
        }
        self.counted.entry(line.run_id.as_deref().map(str::to_owned)).or_default().add(&line);
        Some(None)
    }

    fn problem(&self, line: usize, what: String) -> Problem {
        Problem { file: self.shared.to_string(), line, what }
    }
}

/// What a read keeps of the spans it parses.
#[derive(Clone, Copy)]
struct Keep<'a> {
    /// Runs' own spans and updates only; the others counted.
    summary: bool,
    /// Only spans of these runs.
    only: Option<&'a std::collections::BTreeSet<String>>,
}

/// A file's device and inode (on Unix; `None` elsewhere, where a replaced
/// file is noticed only when it is shorter).
fn identity(m: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        Some((m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        None
    }
}

impl Local {
    /// Finds RUN: a run id, a unique id prefix, or a run name (the newest
    /// run of that name).
    pub fn find(&self, run: &str) -> Result<&Run, String> {
        if let Some(r) = self.runs.iter().find(|r| r.id == run) {
            return Ok(r);
        }
        let by_prefix: Vec<&Run> = self.runs.iter().filter(|r| r.id.starts_with(run)).collect();
        match by_prefix.len() {
            1 => return Ok(by_prefix[0]),
            n if n > 1 => return Err(format!("{n} runs have ids starting with {run:?}; give more of the id")),
            _ => {}
        }
        self.runs
            .iter()
            .filter(|r| r.name() == run)
            .max_by_key(|r| r.start())
            .ok_or_else(|| format!("no run with id, id prefix or name {run:?}"))
    }
}

/// Where the reading commands read: the options they share.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LocalArgs {
    /// The local directory (default: `DREADNODE_LOCAL_DIR`, else `~/.dreadnode`).
    #[arg(long)]
    pub local_dir: Option<PathBuf>,
    /// Only this project's runs.
    #[arg(long)]
    pub project: Option<String>,
}

/// Runs a reading command `dn NAME`: resolves and reads the local directory,
/// prints what `render` makes of it; returns the exit status (0; 1 when
/// `render` fails, e.g. no such run; 2 when the configuration cannot be
/// used).
pub fn run_command(name: &str, args: &LocalArgs, render: impl FnOnce(&Path, &Local) -> Result<String, String>) -> u8 {
    run_command_reading(name, args, read, render)
}

/// [`run_command`], reading the directory with `read` (for a summary,
/// [`read_runs`]).
pub fn run_command_reading(
    name: &str,
    args: &LocalArgs,
    read: impl FnOnce(&Path, Option<&str>) -> Local,
    render: impl FnOnce(&Path, &Local) -> Result<String, String>,
) -> u8 {
    let root = match local_dir(args.local_dir.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dn {name}: {e}");
            return 2;
        }
    };
    let local = read(&root, args.project.as_deref());
    match render(&root, &local) {
        Ok(text) => match write_stdout(&text) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("dn {name}: writing the output: {e}");
                1
            }
        },
        Err(e) => {
            eprintln!("dn {name}: {e}");
            1
        }
    }
}

/// Writes `text` to standard output. A reader that stopped reading (`dn show
/// RUN | head`) is no error: the rest is not written, as other Unix tools
/// do, where `print!` panicked.
pub fn write_stdout(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}

/// The local directory the SDK would use: `--local-dir`, else the
/// configuration's (`DREADNODE_LOCAL_DIR`, the profile, `~/.dreadnode`).
pub fn local_dir(given: Option<&PathBuf>) -> Result<PathBuf, String> {
    let mut config = dn::Config::new();
    if let Some(d) = given {
        config = config.local_dir(d);
    }
    config.resolve().map(|s| s.local_dir).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = include_str!(
        "../../dn-testing/fixtures/python-2.0.52/projects/default/1a172c81b1da48308746d24cacfd25e4/spans.jsonl"
    );

    /// Reads one spans file whole; lines that are not spans become problems.
    /// A last line without its newline is a line still being written: counted too.
    fn read_file(path: &Path, rel: &str, problems: &mut Vec<Problem>) -> Vec<Arc<Span>> {
        let mut f = FileRead::new(PathBuf::from(rel));
        match std::fs::File::open(path) {
            Ok(file) => f.read_from(file, Keep { summary: false, only: None }),
            Err(e) => f.problems.push(f.problem(0, format!("cannot read: {e}"))),
        }
        problems.extend(f.problems.into_iter().chain(f.torn));
        f.spans
    }

    fn read_bytes(bytes: &[u8]) -> (Vec<Arc<Span>>, Vec<Problem>) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("spans.jsonl");
        std::fs::write(&f, bytes).unwrap();
        let mut problems = Vec::new();
        (read_file(&f, "spans.jsonl", &mut problems), problems)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Random bytes: no panic; every non-empty line is a span or a problem.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let (spans, problems) = read_bytes(&bytes);
            let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
            prop_assert_eq!(spans.len() + problems.len(), lines);
        }

        /// A good file cut anywhere: the whole lines before the cut are read,
        /// the cut line is reported, nothing panics.
        #[test]
        fn a_file_cut_anywhere_keeps_its_whole_lines(cut in 0..GOOD.len()) {
            let bytes = &GOOD.as_bytes()[..cut];
            let (spans, problems) = read_bytes(bytes);
            let whole = bytes.iter().filter(|b| **b == b'\n').count();
            prop_assert_eq!(spans.len(), whole);
            prop_assert!(problems.len() <= 1);
        }

        /// Bytes flipped inside a good file: no panic, counts add up.
        #[test]
        fn flipped_bytes_never_panic(at in 0..GOOD.len(), b in any::<u8>()) {
            let mut bytes = GOOD.as_bytes().to_vec();
            bytes[at] = b;
            let (spans, problems) = read_bytes(&bytes);
            let lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
            prop_assert_eq!(spans.len() + problems.len(), lines);
        }
    }

    /// What a read gives, as ids: (run id, its spans' ids) for each run,
    /// and the problems.
    fn shape(l: &Local) -> (Vec<(String, Vec<String>)>, Vec<Problem>) {
        let runs = l
            .runs
            .iter()
            .map(|r| (r.id.clone(), r.spans.iter().map(|s| s.line.span_id.to_string()).collect()))
            .collect();
        (runs, l.problems.clone())
    }

    const RUN_FILE: &str = "projects/default/1a172c81b1da48308746d24cacfd25e4/spans.jsonl";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A file appended to in pieces cut anywhere, read on after each
        /// piece, reads as the whole file read at once; in between, the
        /// whole lines so far are spans and a cut line is the one problem.
        #[test]
        fn reading_on_after_each_append_equals_reading_the_whole(mut cuts in proptest::collection::vec(0..GOOD.len(), 1..5)) {
            cuts.sort_unstable();
            cuts.push(GOOD.len());
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(RUN_FILE);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "").unwrap();
            let mut reader = LocalReader::new(dir.path(), None);
            let mut at = 0;
            for cut in cuts {
                let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
                std::io::Write::write_all(&mut f, &GOOD.as_bytes()[at..cut]).unwrap();
                at = cut;
                reader.refresh();
                let l = reader.local();
                let whole = GOOD.as_bytes()[..at].iter().filter(|b| **b == b'\n').count();
                prop_assert_eq!(l.runs[0].spans.len(), whole);
                let cut_line = at > 0 && GOOD.as_bytes()[at - 1] != b'\n';
                prop_assert_eq!(l.problems.len(), usize::from(cut_line));
            }
            prop_assert!(!reader.refresh(), "nothing new: nothing changed");
            prop_assert_eq!(shape(&reader.local()), shape(&read(dir.path(), None)));
        }
    }

    #[test]
    fn a_file_rewritten_shorter_or_replaced_is_read_again_and_a_removed_one_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(RUN_FILE);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, GOOD).unwrap();
        let mut reader = LocalReader::new(dir.path(), None);
        assert!(reader.refresh());
        let all = GOOD.lines().count();
        assert_eq!(reader.local().runs[0].spans.len(), all);
        // Shorter: its first line only.
        let first = &GOOD[..=GOOD.find('\n').unwrap()];
        std::fs::write(&path, first).unwrap();
        assert!(reader.refresh());
        assert_eq!(shape(&reader.local()), shape(&read(dir.path(), None)));
        assert_eq!(reader.local().runs[0].spans.len(), 1);
        // Replaced by another file as long as the one read: read again, not on.
        let last = GOOD.lines().last().unwrap();
        let mut same_len = format!("{last}\n");
        same_len.push_str(&" ".repeat(GOOD.len() - same_len.len() - 1));
        same_len.push('\n');
        let other = dir.path().join("other");
        std::fs::write(&other, &same_len).unwrap();
        std::fs::write(&path, GOOD).unwrap();
        assert!(reader.refresh());
        std::fs::rename(&other, &path).unwrap();
        assert!(reader.refresh(), "a replaced file is news");
        let l = reader.local();
        assert_eq!(l.runs[0].spans.len(), 1);
        assert_eq!(l.runs[0].spans[0].line.span_id, SpanLine::parse(last, false).unwrap().span_id);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
        assert!(reader.refresh());
        assert!(reader.local().runs.is_empty());
    }

    /// Every run as `dn runs` shows it: name, start, duration, status,
    /// tasks, last metrics.
    fn summaries(l: &Local) -> Vec<serde_json::Value> {
        let mut v: Vec<serde_json::Value> = l.runs.iter().map(crate::runs::summary).collect();
        v.sort_by_key(|r| r["id"].to_string());
        v
    }

    fn copy_dir(from: &Path, to: &Path) {
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let target = to.join(e.file_name());
            if e.path().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                copy_dir(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn a_summary_read_shows_every_run_as_a_whole_read_does_open_runs_and_sessions_included() {
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dn-testing/fixtures/python-2.0.52");
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&python, dir.path());
        let whole = read(dir.path(), None);
        assert!(whole.runs.iter().any(|r| r.task_count() > 0));
        assert!(
            whole.runs.iter().any(|r| r.spans.iter().any(|s| s.file.starts_with("sessions/"))),
            "a run in a session file"
        );
        let summary = read_runs(dir.path(), None);
        assert_eq!(summaries(&summary), summaries(&whole));
        assert!(
            summary.runs.iter().map(|r| r.spans.len()).sum::<usize>()
                < whole.runs.iter().map(|r| r.spans.len()).sum::<usize>()
        );
        // Open runs: every run's own span taken out of its file.
        for r in &whole.runs {
            if let Some(own) = r.run_span() {
                let path = dir.path().join(own.file.as_ref());
                let text = std::fs::read_to_string(&path).unwrap();
                let id = own.line.span_id.to_string();
                let kept: String = text
                    .split_inclusive('\n')
                    .filter(|l| {
                        !l.contains(&format!("\"span_id\":\"{id}\"")) && !l.contains(&format!("\"span_id\": \"{id}\""))
                    })
                    .collect();
                assert!(kept.len() < text.len(), "the run span of {} is in {}", r.id, own.file);
                std::fs::write(&path, kept).unwrap();
            }
        }
        let whole = read(dir.path(), None);
        assert!(whole.runs.iter().all(|r| r.status() == RunStatus::Open));
        assert_eq!(summaries(&read_runs(dir.path(), None)), summaries(&whole));
    }

    /// A run as a command finds it: its id and its spans' ids, or the error.
    fn found(l: &Local, name: &str) -> Result<(String, Vec<String>), String> {
        l.find(name).map(|r| (r.id.clone(), r.spans.iter().map(|s| s.line.span_id.to_string()).collect()))
    }

    #[test]
    fn reading_the_named_runs_finds_what_a_whole_read_finds() {
        let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dn-testing/fixtures/python-2.0.52");
        let whole = read(&python, None);
        let mut names: Vec<String> = vec!["no-such-run".into(), "3".into()];
        for r in &whole.runs {
            names.extend([r.id.clone(), r.id[..8].to_string(), r.name().to_string()]);
        }
        for name in &names {
            let named = read_named(&python, None, &[name.as_str()]);
            assert_eq!(found(&named, name), found(&whole, name), "{name}");
            if let Ok(r) = whole.find(name) {
                assert!(named.runs.len() < whole.runs.len(), "{name}: only its run, not all {}", whole.runs.len());
                assert_eq!(named.find(name).unwrap().task_count(), r.task_count());
            }
        }
        // A run that lives in a session file whole (no directory of its own).
        let in_session = whole.runs.iter().find(|r| !python.join("projects").join(&r.project).join(&r.id).exists());
        let r = in_session.expect("the reference has a run started inside a session");
        assert_eq!(found(&read_named(&python, None, &[r.id.as_str()]), &r.id), found(&whole, &r.id));
        let two = read_named(&python, None, &[whole.runs[0].id.as_str(), whole.runs[1].id.as_str()]);
        assert_eq!(two.runs.len(), 2);
    }
}

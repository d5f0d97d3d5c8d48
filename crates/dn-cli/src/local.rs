//! Reading a local directory — dn's or the Python SDK 2.0.52's — into runs:
//! every spans file (`projects/<p>/<run>/spans.jsonl`, session files), each
//! line read back as a [`SpanLine`]; lines that cannot be read are counted
//! with their file and line number, never fatal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// Every span, in file order (run file first, then session files).
    pub spans: Vec<Span>,
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
    /// The run's own span: the root task span of its run id.
    pub fn run_span(&self) -> Option<&Span> {
        self.spans.iter().find(|s| {
            s.line.is_task() && s.line.parent_id.is_none() && s.line.run_id.as_deref() == Some(self.id.as_str())
        })
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
            .or_else(|| self.spans.iter().map(|s| s.line.start).min())
            .unwrap_or_default()
    }
    /// Duration: the run span's, else from the start to the latest end.
    pub fn duration_ns(&self) -> u64 {
        match self.run_span() {
            Some(s) => s.duration_ns(),
            None => {
                let end = self.spans.iter().map(|s| s.line.end).max().unwrap_or_default();
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
    /// Task spans other than the run's own.
    pub fn tasks(&self) -> impl Iterator<Item = &Span> {
        let run = self.run_span().map(|s| s.line.span_id);
        self.spans.iter().filter(move |s| s.line.is_task() && Some(s.line.span_id) != run)
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
        let r = RenderedTask::from_parts([&params, "[]", "[]", &metrics, "{}", "{}", "[]"]);
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
    pub sessions: BTreeMap<String, Vec<Span>>,
    /// Lines that could not be read.
    pub problems: Vec<Problem>,
}

/// Reads every spans file under `root` (only project `project`'s runs when
/// given). A missing directory reads as empty.
pub fn read(root: &Path, project: Option<&str>) -> Local {
    let sel = dn_export::delivery::sync::Selection { project: project.map(str::to_owned), run: None };
    let files = dn_export::delivery::sync::spans_files(root, &sel);
    let mut local = Local::default();
    let mut by_id: BTreeMap<String, usize> = BTreeMap::new();
    let mut session_spans: Vec<(String, Span)> = Vec::new();
    for rel in files {
        let rel_s = rel.to_string_lossy().replace('\\', "/");
        let parts: Vec<&str> = rel_s.split('/').collect();
        let spans = read_file(&root.join(&rel), &rel_s, &mut local.problems);
        match parts.as_slice() {
            ["projects", p, run, _] => {
                by_id.insert(run.to_string(), local.runs.len());
                local.runs.push(Run { project: p.to_string(), id: run.to_string(), spans });
            }
            ["sessions", id, _] => session_spans.extend(spans.into_iter().map(|s| (id.to_string(), s))),
            _ => {}
        }
    }
    // A run's spans made under a session went to the session file; they
    // carry the run id. A run started inside a session lives there whole.
    // Runs that live in a session file whole: their root spans first, then
    // every span goes to its run, else to its session.
    for (_, s) in &session_spans {
        let run_root = s.line.is_task() && s.line.parent_id.is_none();
        if let Some(r) = s.line.run_id.clone().filter(|r| run_root && !by_id.contains_key(r)) {
            let p = s.line.project.clone().unwrap_or_else(|| "default".into());
            if project.is_none_or(|f| f == p) {
                by_id.insert(r.clone(), local.runs.len());
                local.runs.push(Run { project: p, id: r, spans: vec![] });
            }
        }
    }
    for (session, s) in session_spans {
        match s.line.run_id.as_ref().and_then(|r| by_id.get(r)) {
            Some(&i) => local.runs[i].spans.push(s),
            None => local.sessions.entry(session).or_default().push(s),
        }
    }
    local
}

/// Reads one spans file; lines that are not spans become problems. A last
/// line without its newline is a line still being written: counted too.
pub fn read_file(path: &Path, rel: &str, problems: &mut Vec<Problem>) -> Vec<Span> {
    use std::io::BufRead as _;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            problems.push(Problem { file: rel.to_string(), line: 0, what: format!("cannot read: {e}") });
            return Vec::new();
        }
    };
    let shared: std::sync::Arc<str> = rel.into();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut out = Vec::new();
    let mut raw = Vec::new();
    let mut n = 0;
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                problems.push(Problem { file: rel.to_string(), line: n + 1, what: format!("cannot read: {e}") });
                break;
            }
        }
        n += 1;
        let complete = raw.last() == Some(&b'\n');
        let body = raw.strip_suffix(b"\n").unwrap_or(&raw);
        if body.is_empty() {
            continue;
        }
        let parsed = std::str::from_utf8(body).ok().and_then(|t| SpanLine::parse(t, true));
        match parsed {
            Some(line) if complete => out.push(Span { line, file: shared.clone() }),
            _ => problems.push(Problem {
                file: rel.to_string(),
                line: n,
                what: if complete {
                    "not a span line".into()
                } else {
                    "incomplete last line (still being written?)".into()
                },
            }),
        }
    }
    out
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
    let root = match local_dir(args.local_dir.as_ref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dn {name}: {e}");
            return 2;
        }
    };
    let local = read(&root, args.project.as_deref());
    match render(&root, &local) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(e) => {
            eprintln!("dn {name}: {e}");
            1
        }
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

    fn read_bytes(bytes: &[u8]) -> (Vec<Span>, Vec<Problem>) {
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
}

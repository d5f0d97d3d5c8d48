//! Ended children, kept small: once a child task has ended and its record
//! is with a sink that writes JSONL ([`SpanSink::local_root`]), its parent
//! keeps only its span id (and its route, when it is not the parent's),
//! and the child's handle frees everything
//! when the caller drops it. [`TaskSpan::tasks`] reads ended children back
//! from their lines — identity and outcome at once, data (params, inputs,
//! outputs, metrics) from the line again each time it is asked for.
//!
//! [`SpanSink::local_root`]: crate::SpanSink::local_root

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::ids::SpanId;
use crate::line::{SpanLine, span_id_prefix};
use crate::record::Route;
use crate::task::{Child, LineAt, TaskInner, TaskSpan, TaskState};
use crate::task_data::RenderedTask;

/// How long `tasks()` waits for the sink to write what it holds before reading.
const FLUSH_WAIT: Duration = Duration::from_secs(5);

impl TaskSpan {
    /// Direct child tasks, in creation order.
    ///
    /// Open children are the live handles. Ended children are kept by their
    /// parent as a span id only (16 bytes each) when the SDK writes
    /// JSONL, and are read back here from the run's file: one flush and one
    /// pass over each file involved. Their data is read from their line again
    /// on each `inputs()`, `outputs()`, `params()` or `metrics()`.
    pub fn tasks(&self) -> Vec<TaskSpan> {
        if let Some(at) = &self.0.line {
            return read_children_of(&self.0, at);
        }
        let children = self.0.state.lock().children.clone();
        if children.iter().all(|c| matches!(c, Child::Open(_))) {
            return children.into_iter().filter_map(Child::into_open).collect();
        }
        let mut found = self.read_ended(&children);
        children
            .into_iter()
            .filter_map(|c| match c {
                Child::Open(t) => Some(t),
                Child::Ended(span_id) => found.remove(&span_id),
                Child::EndedElsewhere(at) => found.remove(&at.0),
            })
            .collect()
    }

    /// All descendant tasks, depth-first pre-order. Ended descendants are
    /// read back as in [`TaskSpan::tasks`], one pass per file for the whole tree.
    pub fn all_tasks(&self) -> Vec<TaskSpan> {
        let mut out = Vec::new();
        self.collect_all(&mut out, &mut FileIndex::default());
        out
    }

    /// Reads the ended `children` back from their files, by span id.
    fn read_ended(&self, children: &[Child]) -> HashMap<SpanId, TaskSpan> {
        let tracer = &self.0.tracer;
        let Some(root) = tracer.local_root() else { return HashMap::new() };
        if !tracer.write_local(FLUSH_WAIT) {
            tracer.warn(format_args!("reading ended tasks back: the writer did not catch up within {FLUSH_WAIT:?}"));
        }
        let mut by_file: HashMap<std::path::PathBuf, (Arc<Route>, Vec<SpanId>)> = HashMap::new();
        for c in children {
            let (span_id, route) = match c {
                Child::Open(_) => continue,
                Child::Ended(span_id) => (span_id, &self.0.route),
                Child::EndedElsewhere(at) => (&at.0, &at.1),
            };
            match crate::layout::spans_file(route, &route.run_id) {
                Ok(rel) => by_file.entry(root.join(rel)).or_insert_with(|| (route.clone(), vec![])).1.push(*span_id),
                Err(e) => tracer.warn(format_args!("reading an ended task back: {e}")),
            }
        }
        let mut out = HashMap::new();
        let mut strings = crate::LineStrings::default();
        for (file, (route, ids)) in by_file {
            let want: std::collections::HashSet<SpanId> = ids.iter().copied().collect();
            let file: Arc<Path> = file.into();
            let lines = scan(&file, |id, _| id.is_some_and(|id| want.contains(&id)), tracer);
            for (offset, line) in lines {
                if let Some(t) = read_back(&self.0, route.clone(), file.clone(), offset, line, &mut strings) {
                    out.insert(t.0.span_id, t);
                }
            }
            let missing = ids.iter().filter(|id| !out.contains_key(id)).count();
            if missing > 0 {
                tracer.warn(format_args!(
                    "{missing} ended task(s) were not found in {} (dropped before they were written?)",
                    file.display()
                ));
            }
        }
        out
    }
}

impl Child {
    fn into_open(self) -> Option<TaskSpan> {
        match self {
            Child::Open(t) => Some(t),
            Child::Ended(_) | Child::EndedElsewhere(_) => None,
        }
    }
}

impl TaskInner {
    /// After this task's record went to the sink: its parent keeps only its
    /// span id from now on, when the sink can give the record back.
    pub(crate) fn release_from_parent(&self) {
        if self.tracer.local_root().is_none() {
            return;
        }
        let Some(parent) = self.parent_task.as_ref().and_then(Weak::upgrade) else { return };
        let released = {
            let mut st = parent.state.lock();
            match st.children.get_mut(self.slot as usize) {
                Some(entry @ Child::Open(_)) if entry.is(self) => {
                    // Nearly always its parent's own route (shared, not copied).
                    let ended = if Arc::ptr_eq(&self.route, &parent.route) || self.route == parent.route {
                        Child::Ended(self.span_id)
                    } else {
                        Child::EndedElsewhere(Box::new((self.span_id, self.route.clone())))
                    };
                    Some(std::mem::replace(entry, ended))
                }
                _ => None,
            }
        };
        // Dropped outside the parent's lock (it is not the last handle: the caller holds one).
        drop(released);
        drop(parent);
    }
}

impl Child {
    fn is(&self, task: &TaskInner) -> bool {
        matches!(self, Child::Open(t) if std::ptr::eq(Arc::as_ptr(&t.0), task))
    }
}

impl LineAt {
    /// The task's data, read from its line again.
    pub(crate) fn rendered(&self) -> Arc<RenderedTask> {
        let read = || -> std::io::Result<Option<Arc<RenderedTask>>> {
            let mut f = std::fs::File::open(&self.file)?;
            f.seek(SeekFrom::Start(self.offset))?;
            let mut line = String::new();
            BufReader::new(f).read_line(&mut line)?;
            Ok(SpanLine::parse_task(&line, true).and_then(|t| t.rendered))
        };
        read().ok().flatten().unwrap_or_else(|| Arc::new(RenderedTask::render(&Default::default())))
    }
}

/// The lines of `file` that `wanted(span id from the prefix, line)` keeps,
/// with their byte offsets. An unreadable file is warned about and reads as
/// empty; a half-written last line is skipped.
fn scan(file: &Path, wanted: impl Fn(Option<SpanId>, &[u8]) -> bool, tracer: &crate::Tracer) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let f = match std::fs::File::open(file) {
        Ok(f) => f,
        Err(e) => {
            tracer.warn(format_args!("reading ended tasks back from {}: {e}", file.display()));
            return out;
        }
    };
    let mut r = BufReader::with_capacity(1 << 16, f.take(u64::MAX));
    let mut buf = Vec::new();
    let mut offset = 0u64;
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let at = offset;
                offset += n as u64;
                if buf.last() == Some(&b'\n') && wanted(span_id_prefix(&buf), &buf) {
                    if let Ok(s) = std::str::from_utf8(&buf) {
                        out.push((at, s.to_owned()));
                    }
                }
            }
        }
    }
    out
}

/// A handle on an ended task read back from its line: ended (ending it again
/// is the usual error), never exported again, data read when asked.
fn read_back(
    parent: &Arc<TaskInner>,
    route: Arc<Route>,
    file: Arc<Path>,
    offset: u64,
    line: String,
    strings: &mut crate::LineStrings,
) -> Option<TaskSpan> {
    // Its name and label shared with its siblings read before (a run's
    // tasks mostly share a name).
    let t = SpanLine::parse_sharing(&line, false, strings).filter(SpanLine::is_task)?;
    let run = parent.run.clone().or_else(|| Some(Arc::downgrade(parent)));
    let inner = TaskInner {
        tracer: parent.tracer.clone(),
        trace_id: t.trace_id,
        span_id: t.span_id,
        parent_span: t.parent_id,
        parent_remote: false,
        task_id: std::sync::OnceLock::new(),
        name: t.name,
        label: t.label,
        span_type: t.span_type,
        route,
        parent_task: Some(Arc::downgrade(parent)),
        parent_task_span: t.parent_task,
        run,
        is_root: false,
        orphan: std::sync::atomic::AtomicBool::new(false),
        is_run: false,
        slot: u32::MAX,
        line: Some(Box::new(LineAt { file, offset })),
        start: t.start,
        state: parking_lot::Mutex::new(TaskState {
            end: Some(t.end),
            status: t.status,
            tags: t.tags,
            ..Default::default()
        }),
    };
    Some(TaskSpan(Arc::new(inner)))
}

/// The task lines of one file, by parent task: one pass, for the children
/// of tasks read back (which keep no list of their own).
#[derive(Default)]
struct FileIndex {
    files: HashMap<Arc<Path>, ByParent>,
}

/// Task lines (offset, text) by the span id of their parent task.
type ByParent = HashMap<SpanId, Vec<(u64, String)>>;

impl FileIndex {
    fn children_of(&mut self, task: &Arc<TaskInner>, at: &LineAt) -> Vec<TaskSpan> {
        let by_parent = self.files.entry(at.file.clone()).or_insert_with(|| {
            let mut by_parent = ByParent::new();
            let needle = format!("\"{}\":\"", crate::attrs::keys::TASK_PARENT_ID);
            for (offset, line) in scan(&at.file, |_, l| memfind(l, needle.as_bytes()), &task.tracer) {
                if let Some(parent) = parent_task_of(&line, &needle) {
                    by_parent.entry(parent).or_default().push((offset, line));
                }
            }
            by_parent
        });
        let mut strings = crate::LineStrings::default();
        let mut out: Vec<TaskSpan> = by_parent
            .get(&task.span_id)
            .into_iter()
            .flatten()
            .filter_map(|(offset, line)| {
                read_back(task, task.route.clone(), at.file.clone(), *offset, line.clone(), &mut strings)
            })
            .collect();
        out.sort_by_key(|t| t.0.start);
        out
    }
}

/// The value of `"dreadnode.task.parent_id":"` in a line, found textually.
fn parent_task_of(line: &str, needle: &str) -> Option<SpanId> {
    let at = line.find(needle)? + needle.len();
    SpanId::from_hex(line.get(at..at + 16)?)
}

fn read_children_of(task: &Arc<TaskInner>, at: &LineAt) -> Vec<TaskSpan> {
    FileIndex::default().children_of(task, at)
}

impl TaskSpan {
    fn collect_all(&self, out: &mut Vec<TaskSpan>, index: &mut FileIndex) {
        let children = match &self.0.line {
            Some(at) => index.children_of(&self.0, at),
            None => self.tasks(),
        };
        for c in children {
            out.push(c.clone());
            c.collect_all(out, index);
        }
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

//! The local JSONL exporter: one line per finished span, routed to
//! `projects/<project>/<run_id>/spans.jsonl` or
//! `sessions/<id>/chat_<id>.jsonl` (`docs/format.md` ("Local layout"), §4).

use std::collections::HashMap;
use std::fs::File;
use std::io::IoSlice;
use std::path::{Path, PathBuf};

use dn_core::{DestinationReport, RecordKind, Route, SpanRecord, TaskGroups};

mod line;

use line::write_line_leaving;
pub use line::{LineFormatter, resource_json, write_line};

use crate::appending::{Stopped, append, open_append};
use crate::fs_side::{FsSideThread, NewFiles, ProjectDir, SideWork};
use crate::rel_path::RelPath;
use crate::resource::Resource;
use crate::{Destination, Exporter};

/// Most files kept open at once; older ones are closed and reopened on demand.
pub const DEFAULT_MAX_OPEN_FILES: usize = 64;

/// Where a record's line, formatted on its producer thread, lies in the
/// text handed over with it ([`FormattedLines`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineMark {
    /// The record's index in the batch.
    pub record: u32,
    /// Start of its line in the text.
    pub start: u32,
    /// End of its line (after the newline).
    pub end: u32,
}

/// Lines some records of a batch came with, formatted on their producer
/// threads: `text` holds them back to back, `marks` (by ascending record
/// index) says whose each is.
#[derive(Clone, Copy, Debug, Default)]
pub struct FormattedLines<'a> {
    text: &'a str,
    marks: &'a [LineMark],
    /// Index in the producer's batch of this view's first record.
    first: u32,
}

impl<'a> FormattedLines<'a> {
    /// No line formatted.
    pub const NONE: FormattedLines<'static> = FormattedLines { text: "", marks: &[], first: 0 };

    /// `text` and its `marks`, for a batch whose first record has index 0.
    pub fn new(text: &'a str, marks: &'a [LineMark]) -> Self {
        FormattedLines { text, marks, first: 0 }
    }
    /// The view of records `[lo, hi)` of this batch, as a batch of their own.
    pub fn slice(&self, lo: usize, hi: usize) -> FormattedLines<'a> {
        let (lo, hi) = (self.first + lo as u32, self.first + hi as u32);
        let a = self.marks.partition_point(|m| m.record < lo);
        let b = self.marks.partition_point(|m| m.record < hi);
        FormattedLines { text: self.text, marks: &self.marks[a..b], first: lo }
    }
    /// The formatted lines, in record order, as (index in this view, line).
    pub fn iter(&self) -> impl Iterator<Item = (usize, &'a str)> + '_ {
        let text = self.text;
        self.marks.iter().map(move |m| ((m.record - self.first) as usize, &text[m.start as usize..m.end as usize]))
    }
    /// The formatted lines, in record order, as (index in this view, where
    /// the line is in [`FormattedLines::text`]).
    fn ranges(&self) -> impl Iterator<Item = (usize, std::ops::Range<usize>)> + '_ {
        self.marks.iter().map(move |m| ((m.record - self.first) as usize, m.start as usize..m.end as usize))
    }
    /// The text the lines are ranges of.
    fn text(&self) -> &'a str {
        self.text
    }
    /// Whether no record of this view came formatted.
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }
}

/// Writes span records as JSON lines under a local directory.
pub struct JsonlExporter {
    root: PathBuf,
    /// Formats its lines (and holds the resource they carry).
    lines: LineFormatter,
    files: HashMap<RelPath, (File, u64)>,
    max_open: usize,
    tick: u64,
    report: DestinationReport,
    destinations: Vec<std::sync::Arc<dyn Destination>>,
    /// Files this process has written (reopening one is no news).
    seen: std::collections::HashSet<RelPath>,
    /// One batch's lines per file, in arrival order; kept between batches
    /// so their buffers are reused rather than regrown.
    groups: Vec<Group>,
    /// Index into `groups` by file, for batches spread over many files.
    group_index: HashMap<RelPath, usize>,
    /// Makes the directories of a batch's new files and creates them beside
    /// this exporter, and closes the files it lets go (`fs_side.rs`).
    side: FsSideThread,
    /// Files let go, to be closed by the side thread (at most
    /// [`CLOSE_BATCH`] wait here).
    closing: Vec<File>,
    /// Project directories held open, new runs being made in them (at most
    /// [`PROJECT_DIRS_MAX`], the last used first).
    project_dirs: Vec<std::sync::Arc<ProjectDir>>,
}

/// Most project directories held open (see `fs_side::ProjectDir`).
const PROJECT_DIRS_MAX: usize = 8;

/// Files let go that are handed to the side thread to close at once: with
/// those in its queue and the piece it is closing, at most
/// `CLOSE_BATCH * (QUEUED_MAX + 2)` files (320) are open beyond the cap on
/// open files, and only while the side thread is behind; a flush waits for
/// them to be closed.
const CLOSE_BATCH: usize = 32;

/// The lines of one batch that go to one file.
struct Group {
    rel: RelPath,
    lines: String,
    count: u64,
    /// Text left out of `lines`, in order: written from where it is —
    /// large task groups from their records' own buffers, lines formatted
    /// on a producer's thread from that text — between the parts of `lines`.
    holes: Vec<Hole>,
}

/// Text a batch writes but its group's `lines` do not hold: it goes at byte
/// `at` of them.
#[derive(Clone, Debug)]
struct Hole {
    at: usize,
    text: HoleText,
}

/// Where a [`Hole`]'s text is.
#[derive(Clone, Debug)]
enum HoleText {
    /// Group `group` (of [`TASK_GROUP_KEYS`]) of the batch's record `record`.
    TaskGroup { record: usize, group: usize },
    /// Bytes of the lines formatted on the producer's thread
    /// ([`FormattedLines`]): one or more whole lines, back to back.
    Formatted(std::ops::Range<usize>),
}

/// A task group at least this long — a run's metric series, about 66 bytes
/// a point — is written to the file straight from the record's buffer, one
/// more slice of the file's vectored write, not copied into the batch's
/// lines first: that copy went into memory never touched before (the lines
/// buffer is shrunk after a huge line), and on this machine kind the page
/// faults of first touching memory cost more than the copy itself (about
/// 2 µs a 4 KiB page; a 100 000-point run's line is 6.5 MB, 1 600 pages).
pub const COPIED_GROUP_MAX: usize = 64 << 10;

/// Most texts one file's batch leaves out of its lines (large task groups,
/// runs of lines formatted on a producer's thread): its slices, two a text
/// and one more, then fit one `writev` (at most 1 024), so the batch still
/// goes out in one system call and never interleaves with another process's
/// lines. Past it, texts are copied into the lines as any other.
const MAX_LEFT_OUT: usize = 511 - 7;

/// A group's line buffer larger than this after a batch is shrunk back to
/// [`KEPT_LINES_CAPACITY`] (a batch of 2048 light lines is 1.6 MB).
const MAX_KEPT_LINES_CAPACITY: usize = 4 << 20;
/// What a shrunk line buffer keeps.
const KEPT_LINES_CAPACITY: usize = 1 << 20;

impl std::fmt::Debug for JsonlExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonlExporter").field("root", &self.root).field("open_files", &self.files.len()).finish()
    }
}

impl JsonlExporter {
    /// An exporter writing under `root` (created if missing; checked writable).
    pub fn new(root: impl Into<PathBuf>, resource: &Resource) -> Result<Self, crate::Error> {
        let root = root.into();
        check_writable(&root)?;
        Ok(JsonlExporter {
            root,
            lines: LineFormatter::new(resource_json(resource).into()),
            files: HashMap::new(),
            max_open: DEFAULT_MAX_OPEN_FILES,
            tick: 0,
            report: DestinationReport { name: "jsonl".into(), ..Default::default() },
            destinations: Vec::new(),
            seen: Default::default(),
            groups: Vec::new(),
            group_index: HashMap::new(),
            side: FsSideThread::default(),
            closing: Vec::new(),
            project_dirs: Vec::new(),
        })
    }
    /// Tells `destination` about every range this exporter appends, so it
    /// can deliver the lines from disk.
    pub fn notify(mut self, destination: std::sync::Arc<dyn Destination>) -> Self {
        self.destinations.push(destination);
        self
    }
    /// Caps the number of simultaneously open files (at least 1).
    pub fn with_max_open_files(mut self, n: usize) -> Self {
        self.max_open = n.max(1);
        self
    }
    /// Number of files open right now.
    pub fn open_files(&self) -> usize {
        self.files.len()
    }

    /// The file a record is written to, relative to the root (see
    /// [`dn_core::layout`]).
    pub fn relative_path(record: &SpanRecord) -> Result<PathBuf, dn_core::Error> {
        dn_core::layout::record_file(record)
    }

    /// The file records with `route` are written to, relative to the root.
    pub fn route_path(r: &Route) -> Result<PathBuf, dn_core::Error> {
        dn_core::layout::spans_file(r, &r.run_id)
    }

    /// Writes one file's lines of the batch (`made`: the file, when it was
    /// created for this write) and counts them; empties the group for the
    /// next batch.
    fn write_group(&mut self, g: &mut Group, batch: &[SpanRecord], text: &str, made: Option<File>) {
        let n = std::mem::take(&mut g.count);
        let mut slices = file_slices(g, batch, text);
        debug_assert!(slices.len() <= 1024, "{} slices do not fit one writev", slices.len());
        match self.write_file(&g.rel, &mut slices, made) {
            Ok((start, end)) => {
                self.report.exported += n;
                for d in &self.destinations {
                    d.written(&g.rel, start, end, n);
                }
            }
            Err(Stopped { error, lines, range }) => {
                // The file is closed; the next batch opens it again. The
                // whole lines a write stopped part way put in the file are
                // written (and delivered); the rest of the group failed.
                self.files.remove(&g.rel);
                let lines = lines.min(n);
                self.report.exported += lines;
                self.report.failed += n - lines;
                if let Some((start, end)) = range {
                    for d in &self.destinations {
                        d.written(&g.rel, start, end, lines);
                    }
                }
                let msg = format!("writing {}: {error}", g.rel.under(&self.root).display());
                tracing::warn!(target: "dn", "{msg}");
                self.report.last_error = Some(msg);
            }
        }
        drop(slices);
        g.lines.clear();
        g.holes.clear();
        // A buffer that held a huge line (a run with a million metric
        // points renders tens of MB) is not kept at that size for the
        // rest of the process.
        if g.lines.capacity() > MAX_KEPT_LINES_CAPACITY {
            g.lines.shrink_to(KEPT_LINES_CAPACITY);
        }
    }

    /// A batch's new files at `paths`, each with its project directory
    /// held open: checked once per batch to be still the one at its path,
    /// and opened again when not.
    fn new_files(&mut self, paths: Vec<PathBuf>) -> std::sync::Arc<NewFiles> {
        // This batch's project directories, each looked at once (`None`:
        // not there yet; its first run's file makes it, by path).
        let mut checked: Vec<(&Path, Option<std::sync::Arc<ProjectDir>>)> = Vec::new();
        let mut dirs = Vec::with_capacity(paths.len());
        for path in &paths {
            let Some(project) = path.parent().and_then(Path::parent) else {
                dirs.push(None);
                continue;
            };
            if let Some((_, d)) = checked.iter().find(|(p, _)| *p == project) {
                dirs.push(d.clone());
                continue;
            }
            let held = self.project_dirs.iter().position(|d| d.path() == project).map(|i| self.project_dirs.remove(i));
            let dir = match held {
                Some(d) if d.is_at(project) => Some(d),
                _ => ProjectDir::open(project).map(std::sync::Arc::new),
            };
            if let Some(d) = &dir {
                self.project_dirs.insert(0, d.clone());
                self.project_dirs.truncate(PROJECT_DIRS_MAX);
            }
            checked.push((project, dir.clone()));
            dirs.push(dir);
        }
        NewFiles::new(paths, dirs)
    }

    /// Hands the side thread a batch's `new_files` to open from the front
    /// and the files let go so far to close; `false` when it cannot take
    /// them: the files are then closed here, and every new file is opened
    /// here.
    fn hand_to_side(&mut self, new_files: Option<std::sync::Arc<NewFiles>>) -> bool {
        let work = SideWork { new_files, closes: std::mem::take(&mut self.closing) };
        if work.is_empty() {
            return true;
        }
        match self.side.hand(work) {
            Ok(()) => true,
            Err(back) => {
                drop(back.closes);
                false
            }
        }
    }

    /// Appends `buf` (its slices in order) to `rel`; returns the byte range
    /// it took in the file when a destination needs it (`(0, 0)` otherwise).
    fn write_file(
        &mut self,
        rel: &RelPath,
        buf: &mut [IoSlice<'_>],
        made: Option<File>,
    ) -> Result<(u64, u64), Stopped> {
        self.tick += 1;
        let tick = self.tick;
        let ranged = !self.destinations.is_empty();
        if let Some((f, t)) = self.files.get_mut(rel) {
            *t = tick;
            return append(f, buf, ranged);
        }
        if self.files.len() >= self.max_open {
            if let Some(oldest) = self.files.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| k.clone()) {
                if let Some((f, _)) = self.files.remove(&oldest) {
                    self.closing.push(f);
                }
                if self.closing.len() >= CLOSE_BATCH {
                    self.hand_to_side(None);
                }
            }
        }
        let path = rel.under(&self.root);
        // A file the side thread created is new and empty. Otherwise the
        // directory is made only when the file cannot be opened for want of
        // it: mostly it is there already (an earlier batch's file).
        let mut f = match made.map_or_else(|| open_append(&path), Ok) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                open_append(&path)?
            }
            r => r?,
        };
        if !self.destinations.is_empty() && self.seen.insert(rel.clone()) {
            warn_earlier_pending(&path, f.metadata().map_or(0, |m| m.len()));
        }
        let r = append(&mut f, buf, ranged);
        self.files.insert(rel.clone(), (f, tick));
        r
    }
}

impl Exporter for JsonlExporter {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn export(&mut self, batch: &[SpanRecord]) {
        self.export_formatted(batch, FormattedLines::NONE);
    }

    fn line_resource(&self) -> Option<std::sync::Arc<str>> {
        Some(self.lines.resource_json().clone())
    }

    fn export_formatted(&mut self, batch: &[SpanRecord], formatted: FormattedLines<'_>) {
        // Lines formatted on the producer's thread are written from where
        // they are (consecutive ones as one slice of the vectored write),
        // not copied into the batch's lines first.
        let text = formatted.text();
        let mut formatted = formatted.ranges().peekable();
        // Group lines per file, keeping arrival order; each file's lines go
        // out in one append-mode write so concurrent writers never interleave.
        // Records of one task tree share their route: the file of the
        // previous record is reused without building its path again.
        let mut groups = std::mem::take(&mut self.groups);
        let mut used = 0usize;
        let mut last: Option<(*const Route, usize)> = None;
        for (index, rec) in batch.iter().enumerate() {
            let line = formatted.next_if(|(at, _)| *at == index).map(|(_, line)| line);
            let same_file = !rec.route.run_id.is_empty() || rec.route.session_id.is_some();
            let key = std::sync::Arc::as_ptr(&rec.route);
            let at = match last {
                Some((k, at)) if same_file && k == key => at,
                _ => match Self::relative_path(rec).map(RelPath::from) {
                    Ok(rel) => {
                        let at = match self.group_index.get(&rel) {
                            Some(&at) => at,
                            None => {
                                self.group_index.insert(rel.clone(), used);
                                if used == groups.len() {
                                    groups.push(Group {
                                        rel,
                                        lines: String::with_capacity(1 << 12),
                                        count: 0,
                                        holes: Vec::new(),
                                    });
                                } else {
                                    groups[used].rel = rel;
                                }
                                used += 1;
                                used - 1
                            }
                        };
                        last = same_file.then_some((key, at));
                        at
                    }
                    Err(e) => {
                        self.report.failed += 1;
                        self.report.last_error = Some(e.to_string());
                        continue;
                    }
                },
            };
            let g = &mut groups[at];
            let large = matches!(&rec.kind, RecordKind::Task { groups: TaskGroups::Rendered(rendered), .. }
                if rendered.len() > COPIED_GROUP_MAX);
            if let Some(line) = line {
                let at = g.lines.len();
                let room = g.holes.len() <= MAX_LEFT_OUT;
                match g.holes.last_mut() {
                    // Right after the previous formatted line, with nothing
                    // of `lines` between them: the same slice, longer.
                    Some(Hole { at: last_at, text: HoleText::Formatted(r) })
                        if *last_at == at && r.end == line.start =>
                    {
                        r.end = line.end;
                    }
                    _ if room => g.holes.push(Hole { at, text: HoleText::Formatted(line) }),
                    _ => g.lines.push_str(&text[line]),
                }
            } else if large && g.holes.len() <= MAX_LEFT_OUT {
                let holes = &mut g.holes;
                write_line_leaving::<true>(&mut g.lines, rec, self.lines.resource_json(), &mut |at, group| {
                    holes.push(Hole { at, text: HoleText::TaskGroup { record: index, group } })
                });
            } else {
                self.lines.write_line(&mut g.lines, rec);
            }
            g.count += 1;
        }
        // The files this exporter holds open are written first, in order.
        // Those it does not are opened with the side thread (`fs_side.rs`):
        // it makes their directories and creates them from the front, and
        // this thread writes each as it is ready, and while none is, opens
        // one itself from the back. A batch of new runs' lines is a
        // directory, a file and a write each, and the directory and the file
        // are most of that work. Each file's lines still go in one write;
        // only the order of the files changes.
        let mut fresh = Vec::new();
        for (i, g) in groups[..used].iter_mut().enumerate() {
            if self.files.contains_key(&g.rel) {
                self.write_group(g, batch, text, None);
            } else {
                fresh.push(i);
            }
        }
        let new_files = (fresh.len() >= 2)
            .then(|| self.new_files(fresh.iter().map(|&i| groups[i].rel.under(&self.root)).collect()))
            .filter(|n| self.hand_to_side(Some(n.clone())));
        match new_files {
            None => {
                for &i in &fresh {
                    self.write_group(&mut groups[i], batch, text, None);
                }
            }
            Some(new) => new.in_writer_order(|at, made| self.write_group(&mut groups[fresh[at]], batch, text, made)),
        }
        // Keep a few buffers for the next batch, not one per file ever seen.
        groups.truncate(used.min(16));
        self.groups = groups;
        self.group_index.clear();
    }

    fn flush(&mut self) {
        // Lines are handed to the OS with each write; nothing is buffered
        // here. The files let go are closed by the time a flush returns.
        self.closing.clear();
        self.side.stop();
    }

    fn shutdown(&mut self) {
        self.files.clear();
        self.closing.clear();
        self.side.stop();
    }

    fn report(&self) -> DestinationReport {
        let buffer_bytes = self.groups.iter().map(|g| g.lines.capacity() as u64).sum();
        DestinationReport { buffer_bytes, ..self.report.clone() }
    }

    fn local_root(&self) -> Option<&std::path::Path> {
        Some(&self.root)
    }
}

/// A group's lines as the slices of one vectored write: the parts of
/// `lines` with each text left out of them (a large task group, lines
/// formatted on the producer's thread, in `formatted`) in its place.
fn file_slices<'a>(g: &'a Group, batch: &'a [SpanRecord], formatted: &'a str) -> Vec<IoSlice<'a>> {
    let lines = g.lines.as_bytes();
    let mut slices = Vec::with_capacity(2 * g.holes.len() + 1);
    let mut from = 0;
    for h in &g.holes {
        if from < h.at {
            slices.push(IoSlice::new(&lines[from..h.at]));
        }
        let left_out = match &h.text {
            // Always a task record's group: `write_line_leaving` left out no other.
            HoleText::TaskGroup { record, group } => {
                batch.get(*record).and_then(|r| r.task_group(*group)).unwrap_or_default()
            }
            HoleText::Formatted(r) => formatted.get(r.clone()).unwrap_or_default(),
        };
        slices.push(IoSlice::new(left_out.as_bytes()));
        from = h.at;
    }
    // Not an empty slice after the last left-out text (strace showed one
    // in every `writev` of lines formatted on the producer's thread).
    if from < lines.len() || slices.is_empty() {
        slices.push(IoSlice::new(&lines[from..]));
    }
    slices
}

/// A file that already holds lines when this process first writes to it
/// may hold spans an earlier process did not deliver: those are left to
/// `dn sync` (this process delivers what it writes), and said once.
fn warn_earlier_pending(path: &Path, len: u64) {
    static SAID: dn_core::WarnLimit = dn_core::WarnLimit::once();
    if len > 0 {
        SAID.warn(format_args!(
            "{} already holds {len} bytes from an earlier process; this process delivers the spans it writes, \
             and `dn sync` delivers any the earlier one left",
            path.display()
        ));
    }
}

fn check_writable(root: &Path) -> Result<(), crate::Error> {
    let err = |source| crate::Error::LocalDirNotWritable { path: root.to_path_buf(), source };
    std::fs::create_dir_all(root).map_err(err)?;
    let probe = root.join(format!(".dn-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(err)?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use dn_core::{MemorySink, Tracer};

    #[test]
    fn a_group_s_slices_are_its_text_in_order_and_none_is_empty() {
        let formatted = "{\"a\":1}\n{\"b\":2}\n";
        let group =
            |lines: &str, holes: Vec<Hole>| Group { rel: RelPath::default(), lines: lines.into(), count: 0, holes };
        let text =
            |slices: &[IoSlice<'_>]| slices.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect::<String>();
        // Formatted lines last (as a loop of light spans leaves them): no
        // empty slice after them.
        let g = group("{\"x\":0}\n", vec![Hole { at: 8, text: HoleText::Formatted(0..16) }]);
        let slices = file_slices(&g, &[], formatted);
        assert_eq!(text(&slices), format!("{{\"x\":0}}\n{formatted}"));
        assert!(slices.iter().all(|s| !s.is_empty()), "{slices:?}");
        assert_eq!(slices.len(), 2);
        // Formatted lines first, then the group's own: two slices.
        let g = group("{\"x\":0}\n", vec![Hole { at: 0, text: HoleText::Formatted(8..16) }]);
        let slices = file_slices(&g, &[], formatted);
        assert_eq!(text(&slices), "{\"b\":2}\n{\"x\":0}\n");
        assert_eq!(slices.len(), 2);
        // Only the group's own lines: one slice.
        let g = group("{\"x\":0}\n", vec![]);
        assert_eq!(file_slices(&g, &[], formatted).len(), 1);
    }

    #[test]
    fn large_task_groups_are_written_from_their_records_as_the_line_would_copy_them() {
        // Runs with metric series above and below the bound, tasks between
        // them, one huge params group, two files: each file's bytes are the
        // lines `write_line` makes, in order, yet no large group was copied
        // into the exporter's line buffers.
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        let big_points = COPIED_GROUP_MAX / 40;
        tracer.run("big").run(|r| {
            for i in 0..big_points {
                r.log_metric("loss", 1.0 / (i as f64 + 1.0));
                r.log_metric("acc \"q\"", i as f64);
            }
            tracer.task_span("small").run(|t| t.log_input("x", 1));
            r.log_param("huge", "v".repeat(COPIED_GROUP_MAX + 1));
        });
        tracer.run("small").run(|r| {
            r.log_metric("m", 0.5);
            tracer.task_span("t").run(|t| t.log_output("y", "\u{e9}\"\n"));
        });
        let records = sink.take();
        assert_eq!(records.len(), 4);
        let huge =
            |r: &SpanRecord| (0..7).filter(|&i| r.task_group(i).is_some_and(|g| g.len() > COPIED_GROUP_MAX)).count();
        assert_eq!(records.iter().map(huge).collect::<Vec<_>>(), [0, 2, 0, 0], "the big run's metrics and params");
        let resource = Resource::detect("test");
        let mut expected: HashMap<PathBuf, String> = HashMap::new();
        for r in &records {
            write_line(
                expected.entry(JsonlExporter::relative_path(r).unwrap()).or_default(),
                r,
                &resource_json(&resource),
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let mut exporter = JsonlExporter::new(dir.path(), &resource).unwrap();
        exporter.export(&records);
        assert_eq!(exporter.report().exported, 4);
        assert_eq!(expected.len(), 2);
        for (rel, lines) in &expected {
            let written = std::fs::read_to_string(dir.path().join(rel)).unwrap();
            assert!(written == *lines, "{} differs from the lines write_line makes", rel.display());
            for line in written.lines() {
                serde_json::from_str::<serde_json::Value>(line).unwrap();
            }
        }
        let kept = exporter.groups.iter().map(|g| g.lines.capacity()).max().unwrap_or(0);
        assert!(kept < COPIED_GROUP_MAX, "a line buffer grew to {kept} bytes: a large group was copied");
    }

    #[test]
    fn lines_formatted_on_the_producer_are_written_as_the_exporter_would_write_them() {
        // Two runs (two files) with light spans and tasks interleaved; every
        // other light span comes formatted, the batch is cut in chunks as the
        // pipeline cuts it: each file's bytes are exactly `write_line`'s.
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        let (a, b) = (tracer.run("a").start(), tracer.run("b").start());
        for i in 0..300 {
            let run = if i % 3 == 0 { &b } else { &a };
            let _in_run = run.enter_context();
            drop(tracer.span("s \"q\"").enter());
            tracer.task_span("t").run(|t| t.log_input("x", i));
        }
        a.end();
        b.end();
        let records = sink.take();
        let resource = Resource::detect("test");
        let json = resource_json(&resource);
        let mut expected: HashMap<PathBuf, String> = HashMap::new();
        let (mut text, mut marks) = (String::new(), Vec::new());
        for (i, r) in records.iter().enumerate() {
            write_line(expected.entry(JsonlExporter::relative_path(r).unwrap()).or_default(), r, &json);
            if matches!(r.kind, RecordKind::Light) && i % 4 == 0 {
                let start = text.len() as u32;
                write_line(&mut text, r, &json);
                marks.push(LineMark { record: i as u32, start, end: text.len() as u32 });
            }
        }
        assert!(marks.len() > 50, "{} lines came formatted", marks.len());
        let dir = tempfile::tempdir().unwrap();
        let mut exporter = JsonlExporter::new(dir.path(), &resource).unwrap();
        let formatted = FormattedLines::new(&text, &marks);
        for (at, chunk) in records.chunks(97).enumerate() {
            exporter.export_formatted(chunk, formatted.slice(at * 97, at * 97 + chunk.len()));
        }
        assert_eq!(exporter.report().exported, records.len() as u64);
        assert_eq!(expected.len(), 2);
        for (rel, lines) in &expected {
            let written = std::fs::read_to_string(dir.path().join(rel)).unwrap();
            assert!(written == *lines, "{} differs from the lines write_line makes", rel.display());
        }
    }

    #[test]
    fn formatted_lines_are_written_from_the_producers_text_and_past_one_writev_copied() {
        // One run's light spans, one batch to one file. All formatted: the
        // lines go out from the producer's text, back to back as one slice,
        // and the exporter's own buffer never holds them. Every other one
        // formatted: 600 separate texts, more than one writev holds beside
        // the copied lines, so past MAX_LEFT_OUT they are copied. Either way
        // the file's bytes are `write_line`'s, in order.
        for every in [1, 2] {
            let sink = MemorySink::new();
            let tracer = Tracer::new(sink.clone(), "p").unwrap();
            tracer.run("r").run(|_| {
                for _ in 0..1200 {
                    drop(tracer.span("s").enter());
                }
            });
            let records = sink.take();
            let resource = Resource::detect("test");
            let json = resource_json(&resource);
            let (mut expected, mut text, mut marks) = (String::new(), String::new(), Vec::new());
            for (i, r) in records.iter().enumerate() {
                write_line(&mut expected, r, &json);
                if matches!(r.kind, RecordKind::Light) && i % every == 0 {
                    let start = text.len() as u32;
                    write_line(&mut text, r, &json);
                    marks.push(LineMark { record: i as u32, start, end: text.len() as u32 });
                }
            }
            assert_eq!(marks.len(), 1200 / every);
            let dir = tempfile::tempdir().unwrap();
            let mut exporter = JsonlExporter::new(dir.path(), &resource).unwrap();
            exporter.export_formatted(&records, FormattedLines::new(&text, &marks));
            assert_eq!(exporter.report().exported, 1201);
            let rel = JsonlExporter::relative_path(&records[0]).unwrap();
            let written = std::fs::read_to_string(dir.path().join(rel)).unwrap();
            assert!(written == expected, "every {every}: the file differs from the lines write_line makes");
            let kept = exporter.groups.iter().map(|g| g.lines.capacity()).max().unwrap_or(0);
            // The run's own line is the only one copied when all came
            // formatted. (With every other one, the exporter's debug
            // assertion checks the slices fit one writev.)
            if every == 1 {
                assert!(kept <= 1 << 12, "a line buffer grew to {kept} bytes: formatted lines were copied");
            }
        }
    }

    #[test]
    fn at_most_project_dirs_max_project_directories_are_held_open() {
        // Two batches of 12 projects with 2 new runs each: the first makes
        // the directories by path, the second makes its runs in them, held
        // open — the last 8 used.
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        for round in 0..2 {
            for p in 0..12 {
                for r in 0..2 {
                    tracer.run(format!("r{round}-{r}")).project(format!("proj{p}")).run(|_| {});
                }
            }
        }
        let records = sink.take();
        let resource = Resource::detect("test");
        let dir = tempfile::tempdir().unwrap();
        let mut exporter = JsonlExporter::new(dir.path(), &resource).unwrap();
        let (first, second) = records.split_at(records.len() / 2);
        exporter.export(first);
        assert!(exporter.project_dirs.is_empty(), "none there before the first batch");
        exporter.export(second);
        assert_eq!(exporter.report().exported, 48);
        assert_eq!(exporter.project_dirs.len(), PROJECT_DIRS_MAX);
        let held: Vec<String> = exporter.project_dirs.iter().map(|d| d.path().display().to_string()).collect();
        for p in 4..12 {
            assert!(held.iter().any(|h| h.ends_with(&format!("proj{p}"))), "proj{p} among the last used: {held:?}");
        }
        for p in 0..12 {
            let runs = std::fs::read_dir(dir.path().join("projects").join(format!("proj{p}"))).unwrap().count();
            assert_eq!(runs, 4, "proj{p}");
        }
    }

    #[test]
    fn a_batch_of_more_large_groups_than_one_writev_holds_is_still_written_whole() {
        // 520 tasks of one run, each with an input over the bound, in one
        // batch to one file: past MAX_LEFT_OUT their groups are copied, the
        // file's bytes are still the lines in order (the slice count is
        // checked by the exporter's debug assertion).
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        let value = "w".repeat(COPIED_GROUP_MAX + 1);
        tracer.run("many").run(|_| {
            for _ in 0..520 {
                tracer.task_span("t").run(|t| t.log_input("x", value.as_str()));
            }
        });
        let records = sink.take();
        let resource = Resource::detect("test");
        let mut expected = String::new();
        for r in &records {
            write_line(&mut expected, r, &resource_json(&resource));
        }
        let dir = tempfile::tempdir().unwrap();
        let mut exporter = JsonlExporter::new(dir.path(), &resource).unwrap();
        exporter.export(&records);
        assert_eq!(exporter.report().exported, 521);
        let rel = JsonlExporter::relative_path(&records[0]).unwrap();
        let written = std::fs::read_to_string(dir.path().join(rel)).unwrap();
        assert_eq!(written.len(), expected.len());
        assert!(written == expected, "the file differs from the lines write_line makes");
    }

    #[test]
    fn lines_appended_after_a_torn_last_line_start_a_line_of_their_own() {
        // An earlier process was killed mid-write: 246 bytes of a line and
        // no newline. This process's lines follow a newline, whole.
        let dir = tempfile::tempdir().unwrap();
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        tracer.run("r").run(|r| r.log_param("k", 1));
        let records = sink.take();
        let rel = JsonlExporter::relative_path(&records[0]).unwrap();
        let file = dir.path().join(&rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let torn = "{\"trace_id\":\"".to_string() + &"a".repeat(232);
        std::fs::write(&file, &torn).unwrap();
        let mut exporter = JsonlExporter::new(dir.path(), &Resource::detect("test")).unwrap();
        exporter.export(&records);
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0], torn, "the torn line is left as it was");
        let line: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(line["name"], "r");
        // A file whose last line is whole gets no empty line.
        exporter.shutdown();
        let mut again = JsonlExporter::new(dir.path(), &Resource::detect("test")).unwrap();
        again.export(&records);
        assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);
        assert!(std::fs::read_to_string(&file).unwrap().lines().all(|l| !l.is_empty()));
    }

    #[test]
    fn a_huge_line_does_not_keep_its_buffer_for_the_rest_of_the_process() {
        let sink = MemorySink::new();
        let tracer = Tracer::new(sink.clone(), "p").unwrap();
        tracer.run("big").run(|r| {
            for i in 0..200_000u32 {
                r.log_metric("m", f64::from(i));
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let mut exporter = JsonlExporter::new(dir.path(), &Resource::detect("test")).unwrap();
        let records = sink.take();
        exporter.export(&records);
        assert_eq!(exporter.report().exported, 1);
        let kept: usize = exporter.groups.iter().map(|g| g.lines.capacity()).sum();
        assert!(kept <= KEPT_LINES_CAPACITY, "kept {kept} bytes of line buffer after a 10+ MB line");
        let written = std::fs::read_dir(dir.path().join("projects").join("p")).unwrap().count();
        assert_eq!(written, 1, "the run's directory");
    }
}

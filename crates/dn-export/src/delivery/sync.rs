//! Delivery after the fact (`dn sync`): every span line of a local
//! directory that a destination has not settled yet — from this SDK or from
//! the Python SDK (`spans_<id>.jsonl` session files included) — is sent,
//! and settled in the same delivery logs the in-process delivery uses. A
//! second run sends nothing. Run it when no process is still writing to the
//! same files for the same destination, or a batch may be sent twice.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::delivery::acks::{self, Settled, SettledRange};
use crate::delivery::{BatchOutcome, Transient, send_batch};
use crate::otlp::{OtlpConfig, Poster};

/// Which span files to consider.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only this project's runs (sessions are kept unless a run is named).
    pub project: Option<String>,
    /// Only this run id.
    pub run: Option<String>,
}

/// Every spans file under `root` the selection names, relative to `root`,
/// sorted: `projects/<p>/<run>/spans.jsonl` and `sessions/<id>/*.jsonl`.
pub fn spans_files(root: &Path, sel: &Selection) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let name_of = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    for project in subdirs(&root.join(dn_core::layout::PROJECTS_DIR)) {
        if sel.project.as_deref().is_some_and(|p| p != name_of(&project)) {
            continue;
        }
        for run in subdirs(&project) {
            if sel.run.as_deref().is_some_and(|r| r != name_of(&run)) {
                continue;
            }
            let f = run.join(dn_core::layout::SPANS_FILE);
            if f.is_file() {
                out.push(f);
            }
        }
    }
    let mut out: Vec<PathBuf> =
        out.into_iter().filter_map(|p| p.strip_prefix(root).ok().map(Path::to_path_buf)).collect();
    if sel.run.is_none() {
        out.extend(session_files(root));
    }
    out
}

/// Every session spans file under `root` (`sessions/<id>/*.jsonl`), relative
/// to `root`, sorted.
pub fn session_files(root: &Path) -> Vec<PathBuf> {
    subdirs(&root.join(dn_core::layout::SESSIONS_DIR))
        .iter()
        .flat_map(|session| sorted_entries(session, |p| p.is_file() && p.extension().is_some_and(|x| x == "jsonl")))
        .filter_map(|p| p.strip_prefix(root).ok().map(Path::to_path_buf))
        .collect()
}

/// The directories in `dir` but the delivery logs', sorted (none when it
/// cannot be read): projects under `projects/`, runs under a project.
pub fn subdirs(dir: &Path) -> Vec<PathBuf> {
    sorted_entries(dir, |p| p.is_dir() && p.file_name().is_some_and(|n| n != dn_core::layout::DELIVERY_DIR))
}

/// The entries of `dir` that `keep` keeps, sorted (none when it cannot be read).
fn sorted_entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).filter(|p| keep(p)).collect();
    v.sort();
    v
}

/// What one file has not had settled by a destination yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsettled {
    /// The file, relative to the local directory.
    pub file: PathBuf,
    /// Its unsettled byte ranges.
    pub ranges: Vec<(u64, u64)>,
    /// Whole lines in them.
    pub spans: u64,
}

/// What `destination` has not settled in each of `files`.
pub fn unsettled(root: &Path, files: &[PathBuf], destination: &str) -> Vec<Unsettled> {
    files
        .iter()
        .filter_map(|f| {
            let path = root.join(f);
            let complete = acks::complete_len(&path).ok()?;
            let settled = acks::read(&root.join(dn_core::layout::delivery_log(f, destination)));
            let ranges = acks::unsettled(complete, &settled);
            let spans = ranges.iter().map(|(s, e)| count_lines(&path, *s, *e)).sum();
            (spans > 0).then(|| Unsettled { file: f.clone(), ranges, spans })
        })
        .collect()
}

fn count_lines(path: &Path, start: u64, end: u64) -> u64 {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else { return 0 };
    if f.seek(SeekFrom::Start(start)).is_err() {
        return 0;
    }
    let mut n = 0;
    let mut left = end - start;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let Ok(got) = f.read(&mut buf[..want]) else { break };
        if got == 0 {
            break;
        }
        n += buf[..got].iter().filter(|b| **b == b'\n').count() as u64;
        left -= got as u64;
    }
    n
}

/// What a sync did for one destination.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// The destination's report name (`otlp`, `dreadnode`).
    pub destination: String,
    /// Files that had something to send.
    pub files: usize,
    /// Spans the receiver accepted.
    pub delivered: u64,
    /// Spans it rejected for good (with the first reasons below).
    pub rejected: u64,
    /// Spans not sent: the receiver was unreachable or refused the
    /// credentials; a later sync tries again.
    pub pending: u64,
    /// The first few reasons for rejections and stops, free of secrets.
    pub errors: Vec<String>,
}

/// Progress of a sync, for a bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Spans settled so far.
    pub done: u64,
    /// Spans to settle in all.
    pub total: u64,
}

/// Delivers every unsettled span of `files` to the destination of `config`.
/// Transient failures are retried (`retries` times per batch, with backoff);
/// after that, or on 401/403, the sync stops and counts the rest as pending.
pub fn sync(
    root: &Path,
    config: OtlpConfig,
    files: &[PathBuf],
    retries: u32,
    progress: &mut dyn FnMut(Progress),
) -> Result<SyncReport, crate::Error> {
    config.validate()?;
    let id = config.destination_id();
    let mut report = SyncReport { destination: config.name.to_string(), ..Default::default() };
    let todo = unsettled(root, files, &id);
    let total: u64 = todo.iter().map(|u| u.spans).sum();
    report.files = todo.len();
    let poster = Poster::new(config);
    let mut done = 0u64;
    let mut stopped = false;
    // After the fact, the machine is ours: convert on every core.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    for u in &todo {
        let path = root.join(&u.file);
        let log = root.join(dn_core::layout::delivery_log(&u.file, &id));
        for &(mut start, end) in &u.ranges {
            while start < end && !stopped {
                let mut attempt = 0;
                let outcome = loop {
                    match send_batch(&poster, &path, start, end, threads) {
                        Err(Transient(_, after)) if attempt < retries => {
                            attempt += 1;
                            let backoff = Duration::from_millis(200u64 << attempt.min(5));
                            std::thread::sleep(after.unwrap_or(backoff).min(Duration::from_secs(10)));
                        }
                        other => break other,
                    }
                };
                match outcome {
                    Ok(BatchOutcome::Settled { end: e, spans, how, reason }) => {
                        acks::append(&log, SettledRange { start, end: e, spans, how })
                            .map_err(|err| crate::Error::Config(format!("cannot write {}: {err}", log.display())))?;
                        match how {
                            Settled::Delivered => report.delivered += spans,
                            Settled::Rejected(_) => report.rejected += spans,
                        }
                        if let Some(r) = reason {
                            if report.errors.len() < 5 {
                                report.errors.push(r);
                            }
                        }
                        done += spans;
                        progress(Progress { done, total });
                        start = e;
                    }
                    Ok(BatchOutcome::Refused(code)) => {
                        report.errors.push(format!(
                            "{} rejected the credentials (HTTP {code}); nothing more was sent",
                            poster.config().endpoint
                        ));
                        stopped = true;
                    }
                    Err(Transient(why, _)) => {
                        report.errors.push(format!("{why}; nothing more was sent"));
                        stopped = true;
                    }
                }
            }
        }
    }
    report.pending = total - done;
    Ok(report)
}

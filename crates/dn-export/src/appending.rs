//! Appending to a spans file that other processes may append to as well
//! (`continue_task` in a child process, a restarted program): opening it —
//! a new one created in one call, an existing one's torn last line ended
//! first — and one append-mode write.

use std::fs::{File, OpenOptions};
use std::io::{IoSlice, Write as _};
use std::path::Path;

/// Opens `path` to append to it. A new file (a new run's) is created in one
/// call; only a file that already exists is looked at, and a torn last line
/// in it ended (`end_torn_line`).
pub(crate) fn open_append(path: &Path) -> std::io::Result<File> {
    match create_new(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut f = OpenOptions::new().append(true).open(path)?;
            end_torn_line(&mut f, path)?;
            Ok(f)
        }
        Err(e) => Err(e),
    }
}

/// Appends `lines` (whole lines, each with its newline) to the file at
/// `path`, making its directory first, in one append-mode write as the
/// spans files get theirs: a torn last line a killed process left is ended
/// first, and on a full disk the file keeps whole lines (a write the file
/// system stops part way has its torn end cut off). For the files written
/// beside the spans files: a run's `artifacts.jsonl`, the delivery logs.
pub fn append_lines(path: &Path, lines: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = open_append(path)?;
    append(&mut f, &mut [IoSlice::new(lines.as_bytes())], false).map(|_| ()).map_err(|s| s.error)
}

/// Creates `path`, a new file opened to append to (an error if it exists:
/// an existing file is opened by [`open_append`], which looks at its last
/// line first).
pub(crate) fn create_new(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create_new(true).append(true).open(path)
}

/// One append-mode write; with `ranged`, the range it took, known from the
/// file offset after it (append mode puts the offset at the end of this
/// write, even when other processes append to the same file). Without a
/// destination nobody reads the range, and the `lseek` is skipped: one
/// system call fewer per file and batch, a run's file being written once.
///
/// A write the file system stops part way (a full disk, a file-size limit:
/// the kernel writes what fits, then fails the rest) is a [`Stopped`]: the
/// whole lines it put in the file are counted, and its torn last line is
/// cut off the file, so the lines appended once there is room again start
/// a line of their own.
pub(crate) fn append(f: &mut File, mut buf: &mut [IoSlice<'_>], ranged: bool) -> Result<(u64, u64), Stopped> {
    use std::io::Seek as _;
    let len: usize = buf.iter().map(|s| s.len()).sum();
    // Of this append's bytes in the file: all, and those of whole lines,
    // with their count. Counted only once a write fell short: a write that
    // takes everything at once (nearly every write) needs no look at them.
    let (mut written, mut whole, mut lines) = (0usize, 0usize, 0u64);
    // Never a write at or past a file-size limit, which would end the
    // process (`dn_core::file_limit`); one `fstat` an append, only where a
    // limit is set.
    if dn_core::file_limit::file_size_limit(false).is_some() {
        let size = f.metadata().map_err(Stopped::from)?.len();
        if let Some(limit) = dn_core::file_limit::would_reach_limit(size, 0) {
            return Err(Stopped::from(dn_core::file_limit::limit_reached(limit)));
        }
    }
    while !buf.is_empty() {
        match f.write_vectored(buf) {
            Ok(0) => return Err(Stopped::part_way(f, std::io::ErrorKind::WriteZero.into(), written, whole, lines)),
            Ok(n) => {
                if n < len {
                    if let Some((l, end)) = newlines(buf, n) {
                        lines += l;
                        whole = written + end;
                    }
                }
                written += n;
                IoSlice::advance_slices(&mut buf, n);
                // Fell short: a full disk (the next write says so) or the
                // file-size limit (the next write would end the process).
                if !buf.is_empty() {
                    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                    if let Some(limit) = dn_core::file_limit::file_size_limit(true).filter(|l| size >= *l) {
                        let error = dn_core::file_limit::limit_reached(limit);
                        return Err(Stopped::part_way(f, error, written, whole, lines));
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Stopped::part_way(f, e, written, whole, lines)),
        }
    }
    if !ranged {
        return Ok((0, 0));
    }
    let end = f.stream_position().map_err(Stopped::from)?;
    Ok((end.saturating_sub(len as u64), end))
}

/// The newlines in the first `n` bytes of `buf`: how many, and the offset
/// just after the last one (`None`: no newline).
fn newlines(buf: &[IoSlice<'_>], n: usize) -> Option<(u64, usize)> {
    let (mut count, mut last, mut at) = (0u64, None, 0usize);
    for s in buf {
        if at >= n {
            break;
        }
        let part = &s[..s.len().min(n - at)];
        // Only after a write fell short: a plain pass is enough.
        for (i, _) in part.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            count += 1;
            last = Some(at + i + 1);
        }
        at += part.len();
    }
    last.map(|end| (count, end))
}

/// An append that failed, and what of it is in the file.
#[derive(Debug)]
pub(crate) struct Stopped {
    /// Why it stopped (or why the file could not be opened).
    pub error: std::io::Error,
    /// Whole lines of the append that are in the file.
    pub lines: u64,
    /// Their byte range in the file, when there are some and it is known.
    pub range: Option<(u64, u64)>,
}

impl From<std::io::Error> for Stopped {
    fn from(error: std::io::Error) -> Self {
        Stopped { error, lines: 0, range: None }
    }
}

impl Stopped {
    /// `error` after `written` bytes of the append went into the file,
    /// `whole` of them in `lines` whole lines. The bytes after the last
    /// whole line (a torn line) are cut off the file when they are still
    /// its end: in append mode the offset follows this append's last byte,
    /// and a file as long as that has had nothing appended after it. (Were
    /// another process to append between that check and the cut, its line
    /// would be lost; without the cut it would be glued to the torn one
    /// and lost the same way.) Otherwise the torn line stays, and is ended
    /// when the file is opened next (`end_torn_line`).
    fn part_way(f: &mut File, error: std::io::Error, written: usize, whole: usize, lines: u64) -> Stopped {
        use std::io::Seek as _;
        let position = (written > 0).then(|| f.stream_position().ok()).flatten();
        let Some((start, end)) = position.and_then(|end| Some((end.checked_sub(written as u64)?, end))) else {
            return Stopped { error, lines, range: None };
        };
        let torn = (written - whole) as u64;
        if torn > 0 && f.metadata().is_ok_and(|m| m.len() == end) {
            let _ = f.set_len(end - torn);
        }
        Stopped { error, lines, range: (lines > 0).then_some((start, start + whole as u64)) }
    }
}

/// Ends a last line that has no newline — what a process killed while it
/// appended leaves (the kernel stops a write at a page boundary) — so that
/// the lines appended next start a line of their own instead of being glued
/// to it, and lost with it. Readers skip the torn line.
///
/// A last byte that is not a newline is also what another process's append
/// looks like while it is in progress: the kernel extends the file page by
/// page as it copies. Ending that line would leave an empty line after it
/// (seen in CI: a parent and a child process appending to one run file). So
/// a line is taken as torn only once the file has stopped growing
/// ([`torn_after_settling`]); this costs some 10 ms, and only after a crash.
fn end_torn_line(f: &mut File, path: &Path) -> std::io::Result<()> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut r = File::open(path)?;
    let probe = || -> std::io::Result<Option<(u64, u8)>> {
        let len = f.metadata()?.len();
        if len == 0 {
            return Ok(None);
        }
        let mut last = [0u8; 1];
        r.seek(SeekFrom::Start(len - 1))?;
        r.read_exact(&mut last)?;
        Ok(Some((len, last[0])))
    };
    if torn_after_settling(probe, || std::thread::sleep(std::time::Duration::from_millis(1)))? {
        f.write_all(b"\n")?;
    }
    Ok(())
}

/// Checks, one pause apart, that a file's length stayed the same before its
/// last line is called torn.
const SETTLE_CHECKS: u32 = 10;
/// Checks at most: a file still growing then is left as it is (its writer
/// is alive, and ends its own line).
const SETTLE_MAX: u32 = 200;

/// Whether a file's last line is torn: `probe` gives its length and last
/// byte (`None`: empty), `pause` waits between probes. Torn: the last byte
/// is not a newline and the length stayed the same through
/// [`SETTLE_CHECKS`] pauses. A newline seen at any probe, an empty file, or
/// a file still growing after [`SETTLE_MAX`] probes: not torn.
fn torn_after_settling(
    mut probe: impl FnMut() -> std::io::Result<Option<(u64, u8)>>,
    mut pause: impl FnMut(),
) -> std::io::Result<bool> {
    let mut seen = None;
    let mut unchanged = 0;
    for _ in 0..SETTLE_MAX {
        let Some((len, last)) = probe()? else { return Ok(false) };
        if last == b'\n' {
            return Ok(false);
        }
        if seen == Some(len) {
            unchanged += 1;
            if unchanged >= SETTLE_CHECKS {
                return Ok(true);
            }
        } else {
            unchanged = 0;
            seen = Some(len);
        }
        pause();
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_whole_lines_of_a_stopped_write_are_found_across_its_slices() {
        let (a, b, c) = (b"{1}\n{2".as_slice(), b"}\n{3".as_slice(), b"}\n".as_slice());
        let slices = [IoSlice::new(a), IoSlice::new(b), IoSlice::new(c)];
        // Stopped inside the second line, at its end, inside the third.
        assert_eq!(newlines(&slices, 6), Some((1, 4)));
        assert_eq!(newlines(&slices, 8), Some((2, 8)));
        assert_eq!(newlines(&slices, 11), Some((2, 8)));
        assert_eq!(newlines(&slices, 12), Some((3, 12)));
        // Inside the first line: nothing whole.
        assert_eq!(newlines(&slices, 3), None);
    }

    #[test]
    fn a_last_line_is_torn_only_once_the_file_stopped_growing() {
        let run = |probes: Vec<Option<(u64, u8)>>| {
            let mut it = probes.into_iter();
            let mut pauses = 0;
            let torn = torn_after_settling(|| Ok(it.next().unwrap_or(Some((9, b'x')))), || pauses += 1).unwrap();
            (torn, pauses)
        };
        // Dead writer: the length never moves; torn after SETTLE_CHECKS pauses.
        assert_eq!(run(vec![]), (true, SETTLE_CHECKS));
        // A live writer's append in progress, page by page, then its newline.
        let growing =
            vec![Some((100, b'x')), Some((4196, b'y')), Some((4196, b'y')), Some((8292, b'z')), Some((8300, b'\n'))];
        assert_eq!(run(growing), (false, 4));
        // Whole, or empty: nothing to end, nothing waited.
        assert_eq!(run(vec![Some((10, b'\n'))]), (false, 0));
        assert_eq!(run(vec![None]), (false, 0));
        // Still growing at the last probe: left to its writer.
        let mut len = 0;
        let torn = torn_after_settling(
            || {
                len += 1;
                Ok(Some((len, b'x')))
            },
            || {},
        )
        .unwrap();
        assert!(!torn);
        assert_eq!(len, u64::from(SETTLE_MAX));
    }
}

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
pub(crate) fn append(f: &mut File, mut buf: &mut [IoSlice<'_>], ranged: bool) -> std::io::Result<(u64, u64)> {
    use std::io::Seek as _;
    let len: usize = buf.iter().map(|s| s.len()).sum();
    while !buf.is_empty() {
        match f.write_vectored(buf) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut buf, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if !ranged {
        return Ok((0, 0));
    }
    let end = f.stream_position()?;
    Ok((end - len as u64, end))
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

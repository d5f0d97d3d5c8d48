//! The JSONL exporter's side thread (`dn-fs`): file-system work the writer
//! shares. When a batch goes to several files it does not hold open (a
//! sweep of short runs: each run a directory and a file of its own), this
//! thread makes their directories and creates them from the front of the
//! batch, while the writer writes each one as it is ready and, while none
//! is, opens one itself from the back, until they meet ([`NewFiles`]).
//! Making a directory and creating a file are most of a short run's cost
//! on the writer; this way they run on both cores. The files the writer
//! lets go (its cap on open files) are closed here too.
//!
//! The writer never depends on this thread. A file this thread has not
//! claimed is the writer's to open, as it always was; one it claimed but
//! has not finished is waited for at most [`SIDE_WAIT_MAX`], then opened by
//! the writer; work this thread cannot take (its queue full, or no thread
//! to start) is done on the writer. No line depends on it.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Work handed over at once: a batch's new files first (the writer is
/// writing them), then files to close.
#[derive(Debug, Default)]
pub(crate) struct SideWork {
    /// The files of a batch that the writer does not hold open.
    pub(crate) new_files: Option<Arc<NewFiles>>,
    /// Files to close.
    pub(crate) closes: Vec<File>,
}

impl SideWork {
    pub(crate) fn is_empty(&self) -> bool {
        self.new_files.is_none() && self.closes.is_empty()
    }
}

/// The longest the writer waits for a file this thread is opening for it:
/// one directory and one file take some 10 µs; a file system that holds
/// this thread longer is left to the writer.
pub(crate) const SIDE_WAIT_MAX: Duration = Duration::from_millis(20);

/// Nobody has claimed the file.
const FREE: u8 = 0;
/// The side thread is opening it.
const SIDE: u8 = 1;
/// The side thread is done with it (opened or not: `made` says).
const DONE: u8 = 2;
/// The writer opens it.
const WRITER: u8 = 3;

/// A batch's files that the writer does not hold open. Each is claimed
/// once: by the side thread, which goes from the front, or by the writer
/// ([`NewFiles::claim`]), which writes the side thread's files as they are
/// ready and, while none is, opens one itself from the back.
#[derive(Debug)]
pub(crate) struct NewFiles {
    paths: Vec<PathBuf>,
    /// Each file's project directory, held open, when the writer has one.
    dirs: Vec<Option<Arc<ProjectDir>>>,
    state: Vec<AtomicU8>,
    made: Mutex<Vec<Option<File>>>,
}

impl NewFiles {
    /// The files at `paths` (absolute), in the order the writer writes them,
    /// each made in its project directory `dirs[i]` where there is one
    /// ([`ProjectDir::create_run_file`]).
    pub(crate) fn new(paths: Vec<PathBuf>, dirs: Vec<Option<Arc<ProjectDir>>>) -> Arc<NewFiles> {
        let n = paths.len();
        Arc::new(NewFiles {
            paths,
            dirs,
            state: (0..n).map(|_| AtomicU8::new(FREE)).collect(),
            made: Mutex::new((0..n).map(|_| None).collect()),
        })
    }

    /// Creates file `i` (see [`create`]).
    fn create(&self, i: usize) -> Option<File> {
        create(&self.paths[i], self.dirs.get(i).and_then(|d| d.as_deref()))
    }

    /// The writer's part: calls `write` once for each file, with the file
    /// when it was created for it — the side thread's, each as it is ready,
    /// and while none is, one claimed from the back and created here.
    pub(crate) fn in_writer_order(&self, mut write: impl FnMut(usize, Option<File>)) {
        let (mut front, mut back) = (0, self.paths.len());
        while front < back {
            let (at, made) = if self.is_ready(front) {
                front += 1;
                (front - 1, self.take_made(front - 1))
            } else if let Some(made) = (back - 1 > front).then(|| self.claim(back - 1)).flatten() {
                back -= 1;
                (back, made)
            } else {
                front += 1;
                (front - 1, self.claim(front - 1).unwrap_or_else(|| self.wait_made(front - 1)))
            };
            write(at, made);
        }
    }

    /// Whether the side thread is done with file `i` (created or not): then
    /// [`NewFiles::take_made`] gives it.
    pub(crate) fn is_ready(&self, i: usize) -> bool {
        self.state.get(i).is_some_and(|s| s.load(Ordering::Acquire) == DONE)
    }

    /// Claims file `i` for the writer when nobody has, and creates it here
    /// as the side thread would (`Some(None)` when it could not be created);
    /// `None` when the side thread has it.
    pub(crate) fn claim(&self, i: usize) -> Option<Option<File>> {
        let state = self.state.get(i)?;
        state.compare_exchange(FREE, WRITER, Ordering::AcqRel, Ordering::Acquire).ok()?;
        Some(self.create(i))
    }

    /// The file the side thread created for `i` once it is done with it (at
    /// most [`SIDE_WAIT_MAX`] later), if it could.
    pub(crate) fn wait_made(&self, i: usize) -> Option<File> {
        let start = Instant::now();
        while self.state.get(i)?.load(Ordering::Acquire) == SIDE {
            if start.elapsed() > SIDE_WAIT_MAX {
                return None;
            }
            std::thread::yield_now();
        }
        self.take_made(i)
    }

    /// The file the side thread created for `i`, if it is done and could;
    /// each is given once.
    pub(crate) fn take_made(&self, i: usize) -> Option<File> {
        if !self.is_ready(i) {
            return None;
        }
        self.made.lock().ok()?.get_mut(i)?.take()
    }

    /// The side thread's part: from the front, each file nobody has claimed.
    fn open_from_front(&self) {
        for (i, state) in self.state.iter().enumerate() {
            if state.compare_exchange(FREE, SIDE, Ordering::AcqRel, Ordering::Acquire).is_err() {
                continue;
            }
            let file = self.create(i);
            if let (Some(f), Ok(mut made)) = (file, self.made.lock()) {
                if let Some(slot) = made.get_mut(i) {
                    *slot = Some(f);
                }
            }
            state.store(DONE, Ordering::Release);
        }
    }
}

/// Makes `path`'s directory and creates `path`, new (an existing file is
/// the writer's to open: it looks at its last line first): through `dir`,
/// its project directory held open, when given and it can; else by path.
fn create(path: &Path, dir: Option<&ProjectDir>) -> Option<File> {
    match dir.and_then(|d| d.create_run_file(path)) {
        Some(Ok(f)) => return Some(f),
        // The file is there: the writer's, not made again by path.
        Some(Err(e)) if e.kind() == std::io::ErrorKind::AlreadyExists => return None,
        _ => {}
    }
    if let Some(dir) = path.parent() {
        make_dir(dir);
    }
    crate::appending::create_new(path).ok()
}

/// A project directory (`<local_dir>/projects/<project>`) held open by the
/// writer, so that a batch's new runs are made relative to it: a run's
/// directory with `mkdirat` and its file with `openat`, where a path walks
/// every component of the local directory again, twice per run (on two
/// threads, each making every other run: 5.92–6.48 against 5.46–5.87 µs a
/// run, tmpfs). The writer checks it is still the directory at its path
/// once per batch ([`ProjectDir::is_at`]): a project directory removed or
/// renamed meanwhile is opened again, and new runs go where the layout
/// says.
#[derive(Debug)]
pub(crate) struct ProjectDir {
    path: PathBuf,
    dir: File,
    id: (u64, u64),
}

impl ProjectDir {
    /// Opens the directory at `path`; `None` when it cannot be (missing: the
    /// files are then made by path, their directories with them), or on a
    /// platform without `mkdirat`.
    pub(crate) fn open(path: &Path) -> Option<ProjectDir> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            let dir = File::open(path).ok()?;
            let m = dir.metadata().ok().filter(std::fs::Metadata::is_dir)?;
            Some(ProjectDir { path: path.to_path_buf(), dir, id: (m.dev(), m.ino()) })
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            None
        }
    }

    /// Where it was opened.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the directory at its path is still this one (one `stat`).
    pub(crate) fn is_at(&self, path: &Path) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            self.path == path && std::fs::metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == self.id)
        }
        #[cfg(not(unix))]
        {
            let _ = path;
            false
        }
    }

    /// Makes `path`'s directory (a run's, in this project directory) and
    /// creates `path` there, new; `None` when `path` is not a file of a
    /// directory in this one, an error when either call failed (the caller
    /// then goes by path).
    #[allow(unsafe_code)] // `mkdirat` and `openat`: see the SAFETY comments
    pub(crate) fn create_run_file(&self, path: &Path) -> Option<std::io::Result<File>> {
        let run_dir = path.parent()?;
        if run_dir.parent()? != self.path {
            return None;
        }
        #[cfg(unix)]
        {
            use std::ffi::CString;
            use std::os::fd::{AsRawFd as _, FromRawFd as _};
            use std::os::unix::ffi::OsStrExt as _;
            let run = run_dir.file_name()?.as_bytes();
            let file = path.file_name()?.as_bytes();
            let c_run = CString::new(run).ok()?;
            let c_file = CString::new([run, b"/", file].concat()).ok()?;
            let fd = self.dir.as_raw_fd();
            // SAFETY: `fd` is this open directory's; the names are
            // NUL-terminated and outlive the calls.
            if unsafe { libc::mkdirat(fd, c_run.as_ptr(), 0o777) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::AlreadyExists {
                    return Some(Err(e));
                }
            }
            let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_APPEND | libc::O_CLOEXEC;
            // SAFETY: as above; a descriptor it returns is owned by nothing
            // else, and is given to the `File`.
            let made = unsafe { libc::openat(fd, c_file.as_ptr(), flags, 0o666 as libc::c_uint) };
            if made < 0 {
                return Some(Err(std::io::Error::last_os_error()));
            }
            // SAFETY: `made` is a new descriptor no one else owns.
            Some(Ok(unsafe { File::from_raw_fd(made) }))
        }
        #[cfg(not(unix))]
        {
            let _ = run_dir;
            None
        }
    }
}

/// Pieces of work waiting for the thread at most (a batch's directories, or
/// files to close, [`crate::jsonl`]'s `CLOSE_BATCH` at a time). A thread
/// further behind is not given more; the writer does it.
pub(crate) const QUEUED_MAX: usize = 8;

/// The side thread, started when first handed work.
#[derive(Debug, Default)]
pub(crate) struct FsSideThread {
    tx: Option<SyncSender<SideWork>>,
    thread: Option<JoinHandle<()>>,
    /// No thread could be started: all work stays on the writer.
    unavailable: bool,
}

impl FsSideThread {
    /// Hands `work` over; gives it back when the thread cannot take it (its
    /// queue is full, or it could not be started), for the caller to do.
    pub(crate) fn hand(&mut self, work: SideWork) -> Result<(), SideWork> {
        if self.tx.is_none() && !self.unavailable {
            let (tx, rx) = sync_channel(QUEUED_MAX);
            match std::thread::Builder::new().name("dn-fs".into()).spawn(move || side_loop(&rx)) {
                Ok(thread) => {
                    self.tx = Some(tx);
                    self.thread = Some(thread);
                }
                Err(_) => self.unavailable = true,
            }
        }
        match &self.tx {
            Some(tx) => tx.try_send(work).map_err(|e| match e {
                TrySendError::Full(w) | TrySendError::Disconnected(w) => w,
            }),
            None => Err(work),
        }
    }

    /// Waits for the work handed over so far to be done, and stops the
    /// thread (it is started again when handed more).
    pub(crate) fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FsSideThread {
    fn drop(&mut self) {
        self.stop();
    }
}

fn side_loop(rx: &Receiver<SideWork>) {
    for work in rx {
        if let Some(files) = &work.new_files {
            files.open_from_front();
        }
        drop(work.closes);
    }
}

/// Makes `dir` (and, when missing, its parents). A failure is left for the
/// writer to meet and report when it opens the file.
fn make_dir(dir: &Path) {
    if let Err(e) = std::fs::create_dir(dir) {
        if e.kind() == std::io::ErrorKind::NotFound {
            let _ = std::fs::create_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn files(root: &Path, tag: &str, n: usize) -> Vec<PathBuf> {
        (0..n).map(|i| root.join("projects/p").join(format!("{tag}{i}")).join("spans.jsonl")).collect()
    }

    #[test]
    fn the_side_thread_creates_every_file_nobody_claimed() {
        let root = tempfile::tempdir().unwrap();
        let paths = files(root.path(), "run", 40);
        let new = NewFiles::new(paths.clone(), Vec::new());
        let mut side = FsSideThread::default();
        let closed = File::create(root.path().join("f")).unwrap();
        side.hand(SideWork { new_files: Some(new.clone()), closes: vec![closed] }).unwrap();
        side.stop();
        // Done before the writer came: every file the side thread's, new
        // and empty, and each given once.
        for (i, p) in paths.iter().enumerate() {
            assert!(new.is_ready(i));
            assert!(new.claim(i).is_none(), "the side thread's");
            let f = new.take_made(i).unwrap_or_else(|| panic!("file {i} was created"));
            assert_eq!(f.metadata().unwrap().len(), 0);
            assert!(p.is_file());
            assert!(new.take_made(i).is_none(), "given twice");
        }
    }

    #[test]
    fn files_the_writer_claimed_first_are_created_for_it_and_skipped_by_the_side_thread() {
        let root = tempfile::tempdir().unwrap();
        let paths = files(root.path(), "run", 10);
        let new = NewFiles::new(paths.clone(), Vec::new());
        // The writer claims the last three before the side thread starts.
        let mine: Vec<File> = (7..10).map(|i| new.claim(i).unwrap().unwrap()).collect();
        let mut side = FsSideThread::default();
        side.hand(SideWork { new_files: Some(new.clone()), closes: Vec::new() }).unwrap();
        side.stop();
        assert_eq!(mine.len(), 3);
        assert!((0..7).all(|i| new.wait_made(i).is_some()));
        assert!((7..10).all(|i| !new.is_ready(i) && new.claim(i).is_none() && new.wait_made(i).is_none()));
    }

    #[test]
    fn the_writer_writes_every_file_once_whoever_created_it() {
        let root = tempfile::tempdir().unwrap();
        for n in [2, 3, 50, 400] {
            let paths = files(root.path(), &format!("n{n}-"), n);
            let new = NewFiles::new(paths.clone(), Vec::new());
            let mut side = FsSideThread::default();
            side.hand(SideWork { new_files: Some(new.clone()), closes: Vec::new() }).unwrap();
            let mut written = vec![0; n];
            new.in_writer_order(|at, made| {
                assert!(made.is_some(), "file {at} of {n} created, by one of the two");
                written[at] += 1;
            });
            side.stop();
            assert!(written.iter().all(|w| *w == 1), "{written:?}");
            assert!(paths.iter().all(|p| p.is_file()));
        }
    }

    #[test]
    fn the_writer_waits_for_a_stalled_side_thread_at_most_side_wait_max() {
        let root = tempfile::tempdir().unwrap();
        let new = NewFiles::new(files(root.path(), "run", 1), Vec::new());
        // The side thread claimed the file and then hangs (a stalled file
        // system): no thread will ever finish it.
        new.state[0].store(SIDE, Ordering::Release);
        let t = Instant::now();
        assert!(new.wait_made(0).is_none(), "left to the writer");
        let waited = t.elapsed();
        assert!(waited >= SIDE_WAIT_MAX, "{waited:?}");
        assert!(waited < SIDE_WAIT_MAX * 50, "{waited:?}: bounded");
    }

    #[test]
    #[cfg(unix)]
    fn a_held_project_directory_makes_its_runs_files_and_a_removed_one_leaves_them_to_paths() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("projects/p");
        std::fs::create_dir_all(&project).unwrap();
        let dir = ProjectDir::open(&project).unwrap();
        assert!(dir.is_at(&project));
        let run_file = project.join("r1").join("spans.jsonl");
        let f = dir.create_run_file(&run_file).unwrap().unwrap();
        assert_eq!(f.metadata().unwrap().len(), 0);
        assert!(run_file.is_file(), "made where its path says");
        // An existing file is an error (the writer opens it, looking at its
        // last line); an existing run directory is not.
        let again = dir.create_run_file(&run_file).unwrap().unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        std::fs::write(&run_file, "{\"torn\"").unwrap();
        assert!(create(&run_file, Some(&dir)).is_none(), "left to the writer");
        assert_eq!(std::fs::read_to_string(&run_file).unwrap(), "{\"torn\"");
        std::fs::create_dir(project.join("r2")).unwrap();
        assert!(dir.create_run_file(&project.join("r2/spans.jsonl")).unwrap().is_ok());
        // Not a run of this project: not its to make.
        assert!(dir.create_run_file(&root.path().join("projects/q/r/spans.jsonl")).is_none());
        assert!(dir.create_run_file(&project.join("spans.jsonl")).is_none());
        // Removed, then made again at its path: no longer the one held, and
        // a file is made by path all the same.
        std::fs::remove_dir_all(&project).unwrap();
        assert!(dir.create_run_file(&project.join("r3/spans.jsonl")).unwrap().is_err());
        std::fs::create_dir_all(&project).unwrap();
        assert!(!dir.is_at(&project));
        std::fs::remove_dir_all(&project).unwrap();
        assert!(create(&project.join("r3/spans.jsonl"), Some(&dir)).is_some());
        assert!(project.join("r3/spans.jsonl").is_file());
    }

    #[test]
    fn an_existing_file_is_left_to_the_writer() {
        let root = tempfile::tempdir().unwrap();
        let paths = files(root.path(), "run", 2);
        std::fs::create_dir_all(paths[1].parent().unwrap()).unwrap();
        std::fs::write(&paths[1], "{\"torn\"").unwrap();
        let new = NewFiles::new(paths.clone(), Vec::new());
        let mut side = FsSideThread::default();
        side.hand(SideWork { new_files: Some(new.clone()), closes: Vec::new() }).unwrap();
        side.stop();
        assert!(new.is_ready(1) && new.take_made(1).is_none(), "the writer opens it and ends its torn line");
        assert_eq!(std::fs::read_to_string(&paths[1]).unwrap(), "{\"torn\"");
        assert!(new.take_made(0).is_some());
    }

    #[test]
    fn work_it_cannot_take_is_given_back_and_it_starts_again_after_a_stop() {
        let root = tempfile::tempdir().unwrap();
        let mut side = FsSideThread::default();
        // Far more pieces than it queues, handed at once: some come back,
        // each whole, and what was taken is done.
        let pieces: Vec<Vec<PathBuf>> = (0..64).map(|i| files(root.path(), &format!("b{i}-"), 100)).collect();
        let mut back = 0;
        let mut taken = Vec::new();
        for paths in pieces {
            let new = NewFiles::new(paths.clone(), Vec::new());
            match side.hand(SideWork { new_files: Some(new.clone()), closes: Vec::new() }) {
                Ok(()) => taken.push((new, paths)),
                Err(w) => {
                    assert!(Arc::ptr_eq(w.new_files.as_ref().unwrap(), &new));
                    back += 1;
                }
            }
        }
        side.stop();
        assert!(back > 0, "a queue of {QUEUED_MAX} took all 64 pieces at once");
        for (new, paths) in &taken {
            assert!((0..paths.len()).all(|i| new.take_made(i).is_some()));
        }
        let later = NewFiles::new(files(root.path(), "later", 1), Vec::new());
        side.hand(SideWork { new_files: Some(later.clone()), closes: Vec::new() }).unwrap();
        side.stop();
        assert!(later.take_made(0).is_some());
    }
}

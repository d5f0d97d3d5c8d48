//! # dn-artifacts
//!
//! The content-addressed artifact store of `dn` (`docs/format.md`, "Artifacts and large values"): files and
//! directory trees are hashed with streaming SHA-256 (never whole in
//! memory), stored once under `<local_dir>/artifacts/sha256/ab/cd/<hex>`
//! (temp file + rename, skipped when present), and described by records the
//! facade attaches to the task and to the run's `artifacts.jsonl`.
//!
//! `remote` (feature `remote`, on by default) uploads the stored files and
//! large logged values to the platform's S3-compatible storage on a
//! background thread.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

#[cfg(feature = "remote")]
pub mod remote;
#[cfg(feature = "remote")]
pub use remote::{StorageCredentials, UploadEvent, UploadReport, Uploader, UploaderConfig};

/// Errors of the artifact store. Each names the path it is about.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path does not exist.
    #[error("artifact not found: {0}")]
    NotFound(PathBuf),
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The store could not be written.
    #[error("cannot write to the artifact store at {path}: {source}")]
    Store {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file changed while it was being stored.
    #[error("{0} changed while it was being stored; nothing was recorded")]
    Changed(PathBuf),
    /// A path that records cannot hold.
    #[error("{0}: the path is not valid UTF-8; rename it to log it as an artifact")]
    NotUtf8(PathBuf),
    /// Remote storage could not be set up (the message has no secrets).
    #[error("artifact storage: {0}")]
    Remote(String),
    /// A directory walk failed (a symlink loop, a permission error).
    #[error("cannot walk {path}: {message}")]
    Walk {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// One stored file, as recorded (`docs/format.md` ("Artifacts and large values") key order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ArtifactRecord {
    /// Task that logged it.
    pub task_id: String,
    /// Span that logged it.
    pub span_id: String,
    /// Name (the file name, or `<dir name>/<relative path>`).
    pub name: String,
    /// `sha256:<hex>`.
    pub oid: String,
    /// The path it was read from.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Guessed from the extension.
    pub mime_type: String,
    /// When it was logged.
    pub timestamp: String,
}

/// What `log_artifact` returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Artifact {
    /// A single file.
    File(ArtifactRecord),
    /// A directory: every file under it, sorted.
    Directory {
        /// The directory's artifact name.
        name: String,
        /// Its files.
        files: Vec<ArtifactRecord>,
    },
}

impl ArtifactRecord {
    /// The hex SHA-256 of the file (the `oid` without its `sha256:` prefix).
    pub fn sha256(&self) -> &str {
        self.oid.strip_prefix("sha256:").unwrap_or(&self.oid)
    }
}

impl Artifact {
    /// Every file record.
    pub fn records(&self) -> Vec<&ArtifactRecord> {
        match self {
            Artifact::File(r) => vec![r],
            Artifact::Directory { files, .. } => files.iter().collect(),
        }
    }
}

/// A file's content address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Whether this call copied it into the store (false: already there).
    pub copied: bool,
}

/// The local content-addressed store under `<local_dir>/artifacts`.
#[derive(Clone, Debug)]
pub struct LocalStore {
    local_dir: PathBuf,
}

const CHUNK: usize = 1 << 20;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 and size of a file, read in 1 MiB chunks.
pub fn hash_file(path: &Path) -> Result<(String, u64), Error> {
    let read_err = |source| Error::Read { path: path.to_path_buf(), source };
    let mut f = File::open(path).map_err(read_err)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&h.finalize()), size))
}

impl LocalStore {
    /// The store of a local directory.
    pub fn new(local_dir: &Path) -> LocalStore {
        LocalStore { local_dir: local_dir.to_path_buf() }
    }

    /// Where the bytes of `sha256` live.
    pub fn object_path(&self, sha256: &str) -> PathBuf {
        self.local_dir.join(dn_core::layout::artifact_object(sha256))
    }

    /// Hashes `path` and copies it into the store unless an object with its
    /// hash is already there. The copy is re-hashed while written; if the
    /// file changed in between, nothing is stored and it is an error.
    pub fn store_file(&self, path: &Path) -> Result<Stored, Error> {
        let (sha256, size) = hash_file(path)?;
        let dest = self.object_path(&sha256);
        if dest.exists() {
            return Ok(Stored { sha256, size, copied: false });
        }
        let store_err = |p: &Path| {
            let p = p.to_path_buf();
            move |source| Error::Store { path: p, source }
        };
        let dir = dest.parent().unwrap_or(&self.local_dir);
        std::fs::create_dir_all(dir).map_err(store_err(dir))?;
        let tmp = dir.join(format!(".{sha256}.{}.tmp", std::process::id()));
        // A copy that could not fit under the file-size limit is refused
        // before it starts: writing past the limit would end the process.
        if let Some(limit) = dn_core::file_limit::would_reach_limit(0, size) {
            return Err(store_err(&tmp)(dn_core::file_limit::limit_reached(limit)));
        }
        let copy = (|| -> Result<String, Error> {
            let read_err = |source| Error::Read { path: path.to_path_buf(), source };
            let mut src = File::open(path).map_err(read_err)?;
            let mut out = File::create(&tmp).map_err(store_err(&tmp))?;
            let mut h = Sha256::new();
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = src.read(&mut buf).map_err(read_err)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                out.write_all(&buf[..n]).map_err(store_err(&tmp))?;
            }
            out.sync_all().map_err(store_err(&tmp))?;
            Ok(hex(&h.finalize()))
        })();
        match copy {
            Ok(again) if again == sha256 => {
                std::fs::rename(&tmp, &dest).map_err(store_err(&dest))?;
                Ok(Stored { sha256, size, copied: true })
            }
            Ok(_) => {
                let _ = std::fs::remove_file(&tmp);
                Err(Error::Changed(path.to_path_buf()))
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename (so a
/// reader never sees half a file); does nothing when `path` exists (it is
/// content-addressed, so it already holds these bytes).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("object");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The MIME type for a file name, from its extension.
pub fn mime_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "jsonl" => "application/jsonl",
        "yaml" | "yml" => "application/yaml",
        "toml" => "application/toml",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "py" => "text/x-python",
        "rs" => "text/x-rust",
        "parquet" => "application/vnd.apache.parquet",
        _ => "application/octet-stream",
    }
}

fn utf8(p: &Path) -> Result<String, Error> {
    p.to_str().map(str::to_string).ok_or_else(|| Error::NotUtf8(p.to_path_buf()))
}

/// Where a record is logged: the task and the time.
#[derive(Clone, Debug)]
pub struct Origin {
    /// Task id.
    pub task_id: String,
    /// Span id (16 hex).
    pub span_id: String,
    /// ISO timestamp.
    pub timestamp: String,
}

/// Stores a file or every file of a directory tree (sorted; symlinks
/// followed, loops an error) and returns the records. All-or-nothing: when
/// any file fails, nothing is returned to record.
pub fn collect(store: &LocalStore, path: &Path, name: Option<&str>, origin: &Origin) -> Result<Artifact, Error> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(path.to_path_buf()),
        _ => Error::Read { path: path.to_path_buf(), source: e },
    })?;
    let base_name = match name {
        Some(n) => n.to_string(),
        None => utf8(Path::new(path.file_name().unwrap_or(path.as_os_str())))?,
    };
    let record = |file: &Path, name: String| -> Result<ArtifactRecord, Error> {
        let s = store.store_file(file)?;
        Ok(ArtifactRecord {
            task_id: origin.task_id.clone(),
            span_id: origin.span_id.clone(),
            mime_type: mime_type(&name).to_string(),
            name,
            oid: format!("sha256:{}", s.sha256),
            // The resolved absolute path, as the Python SDK records it.
            path: utf8(&std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()))?,
            size: s.size,
            timestamp: origin.timestamp.clone(),
        })
    };
    if !meta.is_dir() {
        return Ok(Artifact::File(record(path, base_name)?));
    }
    let mut files = vec![];
    for entry in walkdir::WalkDir::new(path).follow_links(true).sort_by_file_name() {
        let entry = entry.map_err(|e| Error::Walk {
            path: e.path().map_or_else(|| path.to_path_buf(), Path::to_path_buf),
            message: e.to_string(),
        })?;
        if entry.file_type().is_dir() {
            continue;
        }
        let rel = entry.path().strip_prefix(path).unwrap_or(entry.path());
        let rel = utf8(rel)?.replace(std::path::MAIN_SEPARATOR, "/");
        files.push(record(entry.path(), format!("{base_name}/{rel}"))?);
    }
    Ok(Artifact::Directory { name: base_name, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin {
        Origin { task_id: "t".into(), span_id: "s".into(), timestamp: "2026-11-24T00:00:00.000000+00:00".into() }
    }

    #[test]
    fn files_hash_like_sha256sum_and_are_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("report.txt");
        std::fs::write(&f, "hello artifact\n").unwrap();
        let store = LocalStore::new(&dir.path().join("local"));
        let a = store.store_file(&f).unwrap();
        assert_eq!(
            a.sha256, "51bc0fc1f19104fa6e89ce50be9aa1f57c3346c1ca51ab49f5f00e14ce8f8076",
            "the Python reference's oid"
        );
        assert!(a.copied);
        assert_eq!(std::fs::read(store.object_path(&a.sha256)).unwrap(), b"hello artifact\n");
        assert!(!store.store_file(&f).unwrap().copied, "skipped when present");
    }

    #[test]
    fn a_path_is_recorded_resolved_and_absolute_as_python_does() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("work");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a.txt"), "a").unwrap();
        let store = LocalStore::new(&dir.path().join("local"));
        // `work/./sub/../sub/a.txt` under `dir`: resolved like Path.resolve().
        let rel = Path::new("work/./sub/../sub/a.txt");
        let abs = dir.path().join(rel);
        let Artifact::File(r) = collect(&store, &abs, None, &origin()).unwrap() else { panic!("a file") };
        let want = std::fs::canonicalize(d.join("sub/a.txt")).unwrap();
        assert_eq!(Path::new(&r.path), want);
        assert!(Path::new(&r.path).is_absolute() && !r.path.contains(".."));
    }

    #[test]
    fn directories_are_walked_sorted_with_relative_names() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("model_dir");
        std::fs::create_dir_all(d.join("weights")).unwrap();
        std::fs::write(d.join("config.json"), "{\"layers\": 2}\n").unwrap();
        std::fs::write(d.join("weights/w.bin"), (0u8..16).collect::<Vec<_>>()).unwrap();
        std::fs::write(d.join("README.md"), "# model\n").unwrap();
        let store = LocalStore::new(&dir.path().join("local"));
        let Artifact::Directory { name, files } = collect(&store, &d, None, &origin()).unwrap() else { panic!() };
        assert_eq!(name, "model_dir");
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["model_dir/README.md", "model_dir/config.json", "model_dir/weights/w.bin"]);
        let oids: Vec<&str> = files.iter().map(|f| f.oid.as_str()).collect();
        assert_eq!(
            oids,
            [
                "sha256:746aeb8456270b01ec2c5338c6ac436f9a93f779ea8b5a7202ccf2c7259582b9",
                "sha256:09d343c37de0bba143b7ff45f82c0ab9308531dcc78b56b8eb40c5938c4be418",
                "sha256:be45cb2605bf36bebde684841a28f0fd43c69850a3dce5fedba69928ee3a8991",
            ],
            "the Python reference's oids"
        );
        assert_eq!(files[0].mime_type, "text/markdown");
        assert_eq!(files[2].mime_type, "application/octet-stream");
    }

    #[test]
    fn bad_paths_are_clear_errors_and_record_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(&dir.path().join("local"));
        let e = collect(&store, &dir.path().join("missing.txt"), None, &origin()).unwrap_err();
        assert!(matches!(e, Error::NotFound(_)) && e.to_string().contains("missing.txt"), "{e}");
        // A symlink loop inside a directory.
        let d = dir.path().join("loop");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("a.txt"), "a").unwrap();
        std::os::unix::fs::symlink(&d, d.join("sub/back")).unwrap();
        let e = collect(&store, &d, None, &origin()).unwrap_err();
        assert!(matches!(e, Error::Walk { .. }), "{e}");
        // A non-UTF-8 file name.
        use std::os::unix::ffi::OsStrExt as _;
        let bad = dir.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9.txt"));
        std::fs::write(&bad, "x").unwrap();
        let e = collect(&store, &bad, None, &origin()).unwrap_err();
        assert!(matches!(e, Error::NotUtf8(_)), "{e}");
    }

    #[test]
    fn unreadable_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(&dir.path().join("local"));
        // A directory passed where a file is read: reading fails with a clear error.
        let d = dir.path().join("d");
        std::fs::create_dir_all(&d).unwrap();
        let e = store.store_file(&d).unwrap_err();
        assert!(e.to_string().contains(&d.display().to_string()), "{e}");
    }
}

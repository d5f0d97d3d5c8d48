//! `log_artifact`: files and directories into the local content-addressed
//! store, recorded on the current task and in the run's `artifacts.jsonl`.

use std::path::Path;

pub use dn_artifacts::{Artifact, ArtifactRecord};

use crate::error::{Error, Result};
use crate::instance::Dreadnode;

impl Dreadnode {
    /// Logs a file, or every file under a directory, as artifacts of the
    /// current task (see [`crate::log_artifact`]).
    pub fn log_artifact(&self, path: impl AsRef<Path>, name: Option<&str>) -> Result<Artifact> {
        let task = dn_core::current_task().ok_or(dn_core::Error::NoActiveTask("log_artifact"))?;
        if !task.active() {
            return Err(dn_core::Error::SpanEnded(task.name().to_string()).into());
        }
        let local_dir =
            self.settings().map(|s| s.local_dir.clone()).ok_or_else(|| Error::Config("dn is not configured".into()))?;
        let origin = dn_artifacts::Origin {
            task_id: task.task_id().to_string(),
            span_id: task.span_id().to_string(),
            timestamp: dn_core::Timestamp::now().to_iso(),
        };
        let store = dn_artifacts::LocalStore::new(&local_dir);
        let artifact = dn_artifacts::collect(&store, path.as_ref(), name, &origin)?;
        // Everything is stored: now record it, all at once — in the run's
        // `artifacts.jsonl` first, so that a write that fails (a full disk)
        // is an error with nothing recorded on the task either.
        let records: Vec<String> =
            artifact.records().iter().map(|r| serde_json::to_string(r).unwrap_or_default()).collect();
        let mut lines = String::new();
        for r in &records {
            lines.push_str(r);
            lines.push('\n');
        }
        let route = task.route();
        let file = local_dir.join(dn_core::layout::artifacts_file(&route.project, &route.run_id)?);
        dn_export::append_lines(&file, &lines)
            .map_err(|source| dn_artifacts::Error::Store { path: file.clone(), source })?;
        for r in records {
            task.add_artifact_record(r)?;
        }
        // Recorded locally: now queue the remote copies (the uploader skips
        // what the bucket already has).
        #[cfg(feature = "otlp")]
        if let Some(up) = self.uploader() {
            for r in artifact.records() {
                up.upload_file(store.object_path(r.sha256()), r.sha256(), r.size);
            }
        }
        Ok(artifact)
    }
}

/// Logs a file, or every file under a directory (recursively, sorted), as
/// artifacts of the current task: the bytes go to the local store
/// `<local_dir>/artifacts/sha256/ab/cd/<hex>` (once), a record to the
/// task's `dreadnode.artifacts` and to the run's `artifacts.jsonl`. A missing
/// or unreadable path is an error naming it, and nothing is recorded.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// # let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path().join("dn")).isolated()).unwrap();
/// # std::fs::write(dir.path().join("report.txt"), "hello artifact\n").unwrap();
/// # let path = dir.path().join("report.txt");
/// dn.run("r").run(|_| {
///     let a = dn.log_artifact(&path, None).unwrap();
///     assert_eq!(a.records()[0].oid, "sha256:51bc0fc1f19104fa6e89ce50be9aa1f57c3346c1ca51ab49f5f00e14ce8f8076");
/// });
/// ```
pub fn log_artifact(path: impl AsRef<Path>) -> Result<Artifact> {
    require_task()?;
    crate::instance().log_artifact(path, None)
}

fn require_task() -> Result<()> {
    match dn_core::current_task() {
        Some(_) => Ok(()),
        None => Err(dn_core::Error::NoActiveTask("log_artifact").into()),
    }
}

/// Like [`log_artifact`] under another name (`<name>` for a file,
/// `<name>/<relative path>` for a directory's files).
pub fn log_artifact_named(path: impl AsRef<Path>, name: &str) -> Result<Artifact> {
    require_task()?;
    crate::instance().log_artifact(path, Some(name))
}

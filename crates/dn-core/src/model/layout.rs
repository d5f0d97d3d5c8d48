//! The local directory's layout, spelled once. Every path the SDK writes
//! under `<local_dir>` — and every key under a bucket prefix — comes from
//! here (the format is described in `docs/format.md`, "Local layout"):
//!
//! ```text
//! projects/<project>/<run_id>/spans.jsonl         every span of a run
//! projects/<project>/<run_id>/artifacts.jsonl     the run's artifact records
//! sessions/<session_id>/chat_<session_id>.jsonl   spans under a bound session
//! artifacts/sha256/<h0h1>/<h2h3>/<sha256>         artifact files, stored once
//! cas/objects/<data_hash>                         offloaded values (also the bucket key)
//! <dir of a spans file>/.dn-delivery/<file name>.<destination>.delivery
//!                                                 what a remote destination acknowledged
//! ```
//!
//! Components that come from users (project, run id, session id) are
//! validated so that no path leaves the local directory.

use std::path::{Path, PathBuf};

use crate::Error;
use crate::clean::validate_component;
use crate::object::Hash16;
use crate::record::{Route, SpanRecord};

/// The directory of projects (each a directory of runs) under the local directory.
pub const PROJECTS_DIR: &str = "projects";
/// The directory of sessions (each a directory of spans files) under the local directory.
pub const SESSIONS_DIR: &str = "sessions";
/// File name of a run's spans.
pub const SPANS_FILE: &str = "spans.jsonl";
/// File name of a run's artifact records.
pub const ARTIFACTS_FILE: &str = "artifacts.jsonl";

/// A run's folder: `projects/<project>/<run_id>`.
///
/// ```
/// # use dn_core as dn;
/// use dn::layout;
/// assert_eq!(layout::run_dir("p", "r").unwrap(), std::path::Path::new("projects/p/r"));
/// assert!(layout::run_dir("p", "../r").is_err());
/// ```
pub fn run_dir(project: &str, run_id: &str) -> Result<PathBuf, Error> {
    in_run_dir(project, run_id, None)
}

/// `projects/<project>/<run_id>`, or the file `file` in it: both components
/// validated, the path joined as `Path::join` would join it but in one
/// allocation (the JSONL writer builds one per new run, and `join`
/// reallocated at each part).
fn in_run_dir(project: &str, run_id: &str, file: Option<&str>) -> Result<PathBuf, Error> {
    validate_component("project", project)?;
    validate_component("run id", run_id)?;
    let sep = std::path::MAIN_SEPARATOR_STR;
    let parts = [PROJECTS_DIR, project, run_id];
    let len = parts.iter().chain(&file).map(|p| p.len() + sep.len()).sum();
    let mut s = String::with_capacity(len);
    for (i, part) in parts.iter().chain(&file).enumerate() {
        if i > 0 {
            s.push_str(sep);
        }
        s.push_str(part);
    }
    Ok(PathBuf::from(s))
}

/// A session's file: `sessions/<id>/chat_<id>.jsonl`.
pub fn session_file(session_id: &str) -> Result<PathBuf, Error> {
    validate_component("session id", session_id)?;
    Ok(Path::new(SESSIONS_DIR).join(session_id).join(format!("chat_{session_id}.jsonl")))
}

/// The file a record with `route` (and run id `run_id`) is written to: its
/// session's file when it has a session, else its run's `spans.jsonl`.
pub fn spans_file(route: &Route, run_id: &str) -> Result<PathBuf, Error> {
    match route.session_id.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => session_file(s),
        None => in_run_dir(&route.project, run_id, Some(SPANS_FILE)),
    }
}

/// The file `record` is written to.
pub fn record_file(record: &SpanRecord) -> Result<PathBuf, Error> {
    spans_file(&record.route, &record.run_id())
}

/// A run's `artifacts.jsonl`.
pub fn artifacts_file(project: &str, run_id: &str) -> Result<PathBuf, Error> {
    in_run_dir(project, run_id, Some(ARTIFACTS_FILE))
}

/// Where an artifact file is stored: `artifacts/sha256/<h0h1>/<h2h3>/<sha256>`
/// (also its key under the bucket prefix).
pub fn artifact_object(sha256: &str) -> String {
    let (a, b) = (sha256.get(..2).unwrap_or(""), sha256.get(2..4).unwrap_or(""));
    format!("artifacts/sha256/{a}/{b}/{sha256}")
}

/// Where an offloaded value's bytes live: `cas/objects/<data_hash>` (locally
/// and under the bucket prefix alike).
pub fn value_object(data_hash: Hash16) -> String {
    format!("cas/objects/{data_hash}")
}

/// Where a destination's delivery log of `spans_file` lives: beside it, in
/// `.dn-delivery/<file name>.<destination>.delivery` (`docs/format.md`,
/// "Delivery logs"). `spans_file` may be relative or absolute.
///
/// ```
/// # use dn_core as dn;
/// let p = dn::layout::delivery_log(std::path::Path::new("projects/p/r/spans.jsonl"), "otlp-1a2b");
/// assert_eq!(p, std::path::Path::new("projects/p/r/.dn-delivery/spans.jsonl.otlp-1a2b.delivery"));
/// ```
pub fn delivery_log(spans_file: &Path, destination: &str) -> PathBuf {
    let name = spans_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = spans_file.parent().unwrap_or(Path::new(""));
    dir.join(DELIVERY_DIR).join(format!("{name}.{destination}.delivery"))
}

/// The folder, beside spans files, that holds their delivery logs.
pub const DELIVERY_DIR: &str = ".dn-delivery";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::SharedStr;

    /// The paths built in one allocation are those `Path::join` builds,
    /// byte for byte (the JSONL writer keys its files by their bytes).
    #[test]
    fn paths_are_those_join_builds() {
        for (project, run) in [("p", "r"), ("my-project", "0193b3c1-aaaa-7bbb-8ccc-000000000001"), ("é", "ü")] {
            let by_join = Path::new(PROJECTS_DIR).join(project).join(run);
            assert_eq!(run_dir(project, run).unwrap().as_os_str(), by_join.as_os_str());
            let route = Route { project: project.into(), run_id: SharedStr::from(run.to_string()), session_id: None };
            assert_eq!(spans_file(&route, run).unwrap().as_os_str(), by_join.join(SPANS_FILE).as_os_str());
            assert_eq!(artifacts_file(project, run).unwrap().as_os_str(), by_join.join(ARTIFACTS_FILE).as_os_str());
        }
        let route = Route { project: "p".into(), run_id: SharedStr::from("r".to_string()), session_id: None };
        assert!(spans_file(&route, "../r").is_err());
        assert!(artifacts_file("p", "").is_err());
        assert!(spans_file(&Route { project: "a/b".into(), ..route.clone() }, "r").is_err());
        let session = Route { session_id: Some("s1".into()), ..route };
        assert_eq!(spans_file(&session, "r").unwrap(), Path::new("sessions/s1/chat_s1.jsonl"));
    }
}

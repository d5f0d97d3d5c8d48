//! The key the JSONL exporter holds its files by.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A file's path relative to the root, as `dn_core::layout` builds it: one
/// spelling per file, so it is compared and hashed as its bytes. `Path`'s
/// own hash and equality parse its components, about a tenth of the
/// writer's time in a loop of new runs (each a file looked up, indexed,
/// opened and evicted by path). Shared: the batch's index, the open files
/// and the delivery bookkeeping each hold it, and a clone of a new run's
/// path was an allocation and a copy each.
#[derive(Clone, Debug)]
pub(crate) struct RelPath(Arc<Path>);

impl RelPath {
    fn bytes(&self) -> &[u8] {
        self.0.as_os_str().as_encoded_bytes()
    }

    /// `<root>/<this>`, allocated once (`Path::join` reallocates).
    pub(crate) fn under(&self, root: &Path) -> PathBuf {
        let mut p = PathBuf::with_capacity(root.as_os_str().len() + 1 + self.0.as_os_str().len());
        p.push(root);
        p.push(&self.0);
        p
    }
}

impl From<PathBuf> for RelPath {
    fn from(p: PathBuf) -> Self {
        RelPath(p.into())
    }
}

#[cfg(test)]
impl Default for RelPath {
    fn default() -> Self {
        RelPath(Path::new("").into())
    }
}

impl PartialEq for RelPath {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for RelPath {}

impl std::hash::Hash for RelPath {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.bytes());
    }
}

impl std::ops::Deref for RelPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for RelPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The path a record's file is found by again, built anew for each
    /// record of the same run, finds the entry its first record made.
    #[test]
    fn a_path_built_again_finds_its_file() {
        let route = dn_core::Route { project: "p".into(), run_id: "r1".into(), session_id: None };
        let key = |r: &dn_core::Route| RelPath::from(dn_core::layout::spans_file(r, &r.run_id).unwrap());
        let mut files = std::collections::HashMap::new();
        files.insert(key(&route), 1);
        assert_eq!(files.get(&key(&route.clone())), Some(&1));
        let other = dn_core::Route { run_id: "r2".into(), ..route };
        assert_eq!(files.get(&key(&other)), None);
        assert_eq!(&*key(&other), Path::new("projects/p/r2/spans.jsonl"));
        let root = Path::new("/tmp/dn root");
        assert_eq!(key(&other).under(root).as_os_str(), root.join("projects/p/r2/spans.jsonl").as_os_str());
    }
}

//! The workspace the automation runs on, and how a step is run and named.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace the gates run on.
pub struct Workspace {
    /// Its root directory.
    pub root: PathBuf,
}

impl Workspace {
    /// This repository (the parent of the xtask crate).
    pub fn this_repo() -> Workspace {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        Workspace { root }
    }
    pub(crate) fn cargo(&self) -> Command {
        let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.current_dir(&self.root);
        c
    }
    /// The target directory (`CARGO_TARGET_DIR`, else `target/`).
    pub(crate) fn target(&self) -> PathBuf {
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| self.root.join("target"), PathBuf::from)
    }
    /// Builds `(package, binary)` pairs in release mode; returns the
    /// directory the binaries are in.
    pub(crate) fn build_release(&self, what: &str, bins: &[(&str, &str)]) -> Result<PathBuf, String> {
        let mut c = self.cargo();
        c.args(["build", "--release", "-q"]);
        for (package, bin) in bins {
            c.args(["-p", package, "--bin", bin]);
        }
        step(&format!("build {what} (release)"), &mut c)?;
        Ok(self.target().join("release"))
    }
    /// Where a recorded benchmark figure comes from: the commit (and
    /// whether the tree had uncommitted changes) and when, in UTC, so the
    /// run can be told apart and repeated.
    pub(crate) fn provenance(&self) -> String {
        let git = |args: &[&str]| {
            Command::new("git")
                .args(args)
                .current_dir(&self.root)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        let commit = match git(&["rev-parse", "--short", "HEAD"]) {
            Some(c) if git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty()) => {
                format!("code at {c} with uncommitted changes")
            }
            Some(c) => format!("code at {c}"),
            None => "code not in git".to_string(),
        };
        let now = dn_core::Timestamp::now_system().to_iso();
        format!("{commit}, started {}", now.get(..19).unwrap_or(&now).replace('T', " "))
    }
    /// Whether this is the dn workspace (its facade and examples exist).
    pub(crate) fn is_dn(&self) -> bool {
        self.root.join("crates/dn/Cargo.toml").exists() && self.root.join("examples/quickstart.rs").exists()
    }
}

/// Runs a step, naming it when it fails.
pub fn step(name: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: == {name}");
    let status = cmd.status().map_err(|e| format!("{name}: could not start: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("step '{name}' failed ({status})")) }
}

#[cfg(test)]
mod tests {
    use super::Workspace;

    #[test]
    fn provenance_names_the_commit_and_the_utc_start() {
        let p = Workspace::this_repo().provenance();
        let re = regex::Regex::new(
            r"^code (at [0-9a-f]{7,}( with uncommitted changes)?|not in git), started \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$",
        )
        .unwrap();
        assert!(re.is_match(&p), "{p}");
        // Outside any repository it says so rather than failing.
        let dir = tempfile::tempdir().unwrap();
        let outside = Workspace { root: dir.path().to_path_buf() }.provenance();
        assert!(outside.starts_with("code not in git, started "), "{outside}");
    }
}

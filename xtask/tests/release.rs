//! The release logic on a temporary copy of a small fixture workspace.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use xtask::release::{self, Version};

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

/// A committed copy of the fixture workspace.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    common::copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ws"), &ws);
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "fixture"]);
    (tmp, ws)
}

#[test]
fn versions_bump_by_level() {
    let v = Version::parse("0.2.1").unwrap();
    assert_eq!(v.bump("patch").unwrap().to_string(), "0.2.2");
    assert_eq!(v.bump("minor").unwrap().to_string(), "0.3.0");
    assert_eq!(v.bump("major").unwrap().to_string(), "1.0.0");
    assert_eq!(v.bump("1.4.0").unwrap().to_string(), "1.4.0");
    assert!(v.bump("0.2.1").is_err(), "not greater");
    assert!(v.bump("banana").is_err());
}

#[test]
fn a_minor_release_bumps_in_lockstep_moves_changelogs_and_orders_publishing() {
    let (_tmp, ws) = fixture();
    let plan = release::plan(&ws, "minor", "2026-11-24", false).unwrap();
    assert_eq!(plan.to.to_string(), "0.3.0");
    assert_eq!(plan.order, ["alpha", "beta"], "alpha first; tool is not published");
    let text = release::render(&plan, &ws);
    assert!(text.contains("+version = \"0.3.0\""), "{text}");
    // Nothing was written by planning.
    let root = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    assert!(root.contains("version = \"0.2.1\""));

    release::apply(&plan).unwrap();
    let root = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    assert!(root.contains("version = \"0.3.0\""));
    assert!(root.contains("alpha = { path = \"crates/alpha\", version = \"=0.3.0\" }"), "{root}");
    let tool = std::fs::read_to_string(ws.join("tool/Cargo.toml")).unwrap();
    assert!(tool.contains("version = \"0.3.0\" }"), "internal dependency versions follow: {tool}");
    let changelog = std::fs::read_to_string(ws.join("crates/alpha/CHANGELOG.md")).unwrap();
    let unreleased = changelog.find("## Unreleased").unwrap();
    let new = changelog.find("## [0.3.0] - 2026-11-24").unwrap();
    let entry = changelog.find("- Added `add`.").unwrap();
    let old = changelog.find("## [0.2.1]").unwrap();
    assert!(unreleased < new && new < entry && entry < old, "{changelog}");
    // The bumped workspace still builds.
    let status = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(&ws)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
}

#[test]
fn a_dirty_tree_is_refused() {
    let (_tmp, ws) = fixture();
    std::fs::write(ws.join("crates/alpha/src/extra.rs"), "// new").unwrap();
    let e = release::plan(&ws, "patch", "2026-11-24", false).unwrap_err();
    assert!(e.contains("uncommitted"), "{e}");
    assert!(release::plan(&ws, "patch", "2026-11-24", true).is_ok(), "--allow-dirty");
}

#[test]
fn a_missing_changelog_entry_or_metadata_is_refused() {
    let (_tmp, ws) = fixture();
    std::fs::write(ws.join("crates/beta/CHANGELOG.md"), "# Changelog\n\n## Unreleased\n\n## [0.2.1] - 2026-01-01\n")
        .unwrap();
    let manifest = ws.join("crates/alpha/Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("description = \"Fixture crate with no internal dependencies.\"\n", "");
    std::fs::write(&manifest, text).unwrap();
    git(&ws, &["commit", "-qam", "break"]);
    let e = release::plan(&ws, "patch", "2026-11-24", false).unwrap_err();
    assert!(e.contains("beta: CHANGELOG.md: the `## Unreleased` section is empty"), "{e}");
    assert!(e.contains("alpha: package.description is required"), "{e}");
}

#[test]
fn release_minor_on_the_real_workspace_prints_a_plan_and_touches_nothing() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let before = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let plan = release::plan(root, "minor", "2026-11-24", true).unwrap();
    let at = |name: &str| plan.order.iter().position(|c| c == name).unwrap();
    assert_eq!(plan.order.last().map(String::as_str), Some("dn-cli"), "the binary goes last, after the facade it uses");
    assert!(at("dn") < at("dn-cli"));
    assert!(at("dn-export") < at("dn") && at("dn-artifacts") < at("dn"));
    assert_eq!(plan.order.first().map(String::as_str), Some("dn-core"));
    assert!(!plan.order.iter().any(|c| c == "xtask" || c == "dn-process-tests" || c == "dn-testing"));
    assert_eq!(std::fs::read_to_string(root.join("Cargo.toml")).unwrap(), before);
}

//! `cargo xtask ci` on a copy of the fixture workspace: it passes, and it
//! fails naming the step when a warning, a formatting error or a failing
//! test is introduced.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn ci(ws: &Path, target: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["ci", "--root"])
        .arg(ws)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn ci_passes_and_fails_naming_the_step() {
    let tmp = tempfile::tempdir().unwrap();
    let target: PathBuf = tmp.path().join("target");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ws");
    let fresh = |name: &str| {
        let ws = tmp.path().join(name);
        common::copy_dir(&fixture, &ws);
        ws
    };

    let ws = fresh("clean");
    let (ok, log) = ci(&ws, &target);
    assert!(ok, "a clean workspace passes:\n{log}");

    let ws = fresh("warning");
    let lib = ws.join("crates/alpha/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap().replace("    a + b\n", "    let unused = 1;\n    a + b\n");
    std::fs::write(&lib, text).unwrap();
    let (ok, log) = ci(&ws, &target);
    assert!(!ok);
    assert!(log.contains("FAILED: step 'clippy (workspace, all targets, all features)' failed"), "{log}");

    let ws = fresh("format");
    let lib = ws.join("crates/beta/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap().replace("alpha::add(x, x)", "alpha::add( x,x )");
    std::fs::write(&lib, text).unwrap();
    let (ok, log) = ci(&ws, &target);
    assert!(!ok);
    assert!(log.contains("FAILED: step 'cargo fmt --check' failed"), "{log}");

    let ws = fresh("test");
    let lib = ws.join("crates/alpha/src/lib.rs");
    let text = std::fs::read_to_string(&lib).unwrap().replace("add(2, 2), 4", "add(2, 2), 5");
    std::fs::write(&lib, text).unwrap();
    let (ok, log) = ci(&ws, &target);
    assert!(!ok);
    assert!(log.contains("FAILED: step 'cargo test --workspace --all-features' failed"), "{log}");
}

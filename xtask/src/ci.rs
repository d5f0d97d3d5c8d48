//! The gates CI runs, for any workspace root (the tests run them on a
//! fixture workspace to show they fail with the step named).

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
    fn cargo(&self) -> Command {
        let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        c.current_dir(&self.root);
        c
    }
    /// Whether this is the dn workspace (its facade and examples exist).
    fn is_dn(&self) -> bool {
        self.root.join("crates/dn/Cargo.toml").exists() && self.root.join("examples/quickstart.rs").exists()
    }
}

/// Runs a step, naming it when it fails.
pub fn step(name: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: == {name}");
    let status = cmd.status().map_err(|e| format!("{name}: could not start: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("step '{name}' failed ({status})")) }
}

/// `cargo xtask test`: every test, then (in this repo) every example run and
/// its output checked.
pub fn test(ws: &Workspace) -> Result<(), String> {
    step("cargo test --workspace --all-features", ws.cargo().args(["test", "--workspace", "--all-features"]))?;
    if ws.is_dn() {
        step("build examples", ws.cargo().args(["build", "-q", "-p", "dn", "--examples", "--all-features"]))?;
        crate::examples::run_all(&ws.root)?;
    }
    Ok(())
}

/// `cargo xtask ci`: fmt, clippy (all targets; in this repo also every
/// feature combination of the facade), rustdoc with warnings denied, then
/// the tests unless `skip_test`.
pub fn ci(ws: &Workspace, skip_test: bool) -> Result<(), String> {
    step("cargo fmt --check", ws.cargo().args(["fmt", "--all", "--check"]))?;
    step(
        "clippy (workspace, all targets, all features)",
        ws.cargo().args(["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"]),
    )?;
    if ws.is_dn() {
        for features in ["", "otlp", "artifacts", "macros"] {
            let mut c = ws.cargo();
            c.args(["clippy", "-p", "dn", "--lib", "--no-default-features"]);
            if !features.is_empty() {
                c.args(["--features", features]);
            }
            c.args(["--", "-D", "warnings"]);
            step(&format!("clippy dn --no-default-features --features '{features}'"), &mut c)?;
        }
    }
    step(
        "rustdoc (warnings denied)",
        ws.cargo().args(["doc", "--workspace", "--no-deps", "--all-features"]).env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    if skip_test { Ok(()) } else { test(ws) }
}

/// `cargo xtask docs`: API docs with warnings denied and every code block of
/// the user guide compiled.
pub fn docs(ws: &Workspace) -> Result<(), String> {
    step(
        "rustdoc (warnings denied)",
        ws.cargo().args(["doc", "--workspace", "--no-deps", "--all-features"]).env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    step("user guide code blocks (doctests of dn)", ws.cargo().args(["test", "-p", "dn", "--doc"]))
}

/// `cargo xtask bench [NAME]`.
pub fn bench(ws: &Workspace, name: Option<&str>) -> Result<(), String> {
    let mut c = ws.cargo();
    c.args(["bench", "-p", "dn"]);
    if let Some(n) = name {
        c.args(["--bench", n]);
    }
    step("cargo bench", &mut c)
}

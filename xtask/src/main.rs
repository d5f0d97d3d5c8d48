//! `cargo xtask` — the project's automation, so CI and developers run the
//! same steps.
//!
//! - `cargo xtask test` — every test of the workspace, then every example
//!   run against a fresh local directory with its output files checked.
//! - `cargo xtask ci [--no-test]` — fmt, clippy (all targets, every feature
//!   combination of the facade), rustdoc with warnings denied, then `test`.
//! - `cargo xtask bench [NAME]` — the benchmarks, with their ratio tables.
//! - `cargo xtask docs` — the API docs (warnings denied) and a compile check
//!   of every code block of the user guide in `docs/`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod examples;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("ci") => ci(args.iter().any(|a| a == "--no-test")),
        Some("bench") => bench(args.get(1).map(String::as_str)),
        Some("docs") => docs(),
        _ => {
            eprintln!("usage: cargo xtask <test | ci [--no-test] | bench [NAME] | docs>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs a step, naming it when it fails.
pub(crate) fn step(name: &str, cmd: &mut Command) -> Result<(), String> {
    eprintln!("xtask: == {name}");
    let status = cmd.status().map_err(|e| format!("{name}: could not start: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("step '{name}' failed ({status})")) }
}

fn test() -> Result<(), String> {
    step("cargo test --workspace --all-features", cargo().args(["test", "--workspace", "--all-features"]))?;
    step("build examples", cargo().args(["build", "-q", "-p", "dn", "--examples"]))?;
    examples::run_all()
}

fn ci(skip_test: bool) -> Result<(), String> {
    step("cargo fmt --check", cargo().args(["fmt", "--all", "--check"]))?;
    step(
        "clippy (workspace, all targets, all features)",
        cargo().args(["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"]),
    )?;
    for features in ["", "otlp", "artifacts", "macros"] {
        let mut c = cargo();
        c.args(["clippy", "-p", "dn", "--lib", "--no-default-features"]);
        if !features.is_empty() {
            c.args(["--features", features]);
        }
        c.args(["--", "-D", "warnings"]);
        step(&format!("clippy dn --no-default-features --features '{features}'"), &mut c)?;
    }
    step(
        "rustdoc (warnings denied)",
        cargo().args(["doc", "--workspace", "--no-deps", "--all-features"]).env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    if skip_test { Ok(()) } else { test() }
}

fn docs() -> Result<(), String> {
    step(
        "rustdoc (warnings denied)",
        cargo().args(["doc", "--workspace", "--no-deps", "--all-features"]).env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    step("user guide code blocks (doctests of dn)", cargo().args(["test", "-p", "dn", "--doc"]))
}

fn bench(name: Option<&str>) -> Result<(), String> {
    let mut c = cargo();
    c.args(["bench", "-p", "dn"]);
    if let Some(n) = name {
        c.args(["--bench", n]);
    }
    step("cargo bench", &mut c)
}

//! `cargo xtask` — the project's automation, so CI and developers run the
//! same steps.
//!
//! - `cargo xtask test` — every test of the workspace, then every example
//!   run against a fresh local directory with its output files checked.
//! - `cargo xtask backends` — five examples streamed to Arize Phoenix and
//!   MLflow (installed from PyPI into `target/tools`, run on loopback) and
//!   checked through their query APIs (part of `test`; examples built first).
//! - `cargo xtask ci [--no-test]` — fmt, clippy (all targets, every feature
//!   combination of the facade), rustdoc with warnings denied, then `test`.
//! - `cargo xtask bench [NAME]` — the benchmarks, with their ratio tables;
//!   `workloads` (whole processes beside raw OTel and fastrace) and `outage`
//!   are process benchmarks, run after the others; `bench ab <workload> <N>
//!   <processes> <binary A> <binary B>` alternates two builds of the
//!   workload program (an A/B of a change, end to end). Both take
//!   `--one-core` (last) to pin every process to one CPU. `instructions`
//!   counts each workload's instructions per operation under callgrind
//!   (dn, raw OTel, fastrace): figures that do not move with the machine's mode;
//!   `bench instructions <binary A> <binary B>` the same for two builds of
//!   the workload program, dn's rows, B / A. `cli` times the
//!   `dn` reading commands on large directories; `follow` is `dn tui`'s
//!   tick while it follows a long run; `machine` prints the core round trip
//!   (the machine's mode, see `machine.rs`) and nothing else.
//! - `cargo xtask layout` — fails on a source file over the size limit or a
//!   new module circle (see `xtask::layout`).
//! - `cargo xtask docs` — the API docs (warnings denied) and a compile check
//!   of every code block of the user guide in `docs/`.
//! - `cargo xtask release <major|minor|patch|X.Y.Z> [--execute] [--allow-dirty]`
//!   — the release plan (versions, changelogs, metadata, publish order);
//!   with `--execute` it applies it and verifies with `cargo package`.
//!
//! `--root DIR` runs the gates on another workspace (used by the tests).

use std::process::ExitCode;

use xtask::ci::{self, Workspace};
use xtask::release;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut ws = Workspace::this_repo();
    if let Some(i) = args.iter().position(|a| a == "--root") {
        if let Some(dir) = args.get(i + 1).cloned() {
            ws.root = dir.into();
            args.drain(i..=i + 1);
        }
    }
    let flag = |f: &str| args.iter().any(|a| a == f);
    let result = match args.first().map(String::as_str) {
        Some("test") => ci::test(&ws),
        Some("examples") => ci::examples(&ws),
        Some("backends") => xtask::backends::run(&ws),
        Some("ci") => ci::ci(&ws, flag("--no-test")),
        Some("bench") => ci::bench(&ws, args.get(1).map(String::as_str), args.get(2..).unwrap_or_default()),
        Some("docs") => ci::docs(&ws),
        Some("layout") => xtask::layout::run(&ws.root),
        Some("release") => match args.get(1) {
            Some(level) => release::run(&ws.root, level, flag("--execute"), flag("--allow-dirty")),
            None => Err("usage: cargo xtask release <major|minor|patch|X.Y.Z> [--execute] [--allow-dirty]".into()),
        },
        _ => {
            eprintln!(
                "usage: cargo xtask <test | examples | backends | ci [--no-test] | bench [NAME | ab ..] | docs | layout | release LEVEL [--execute]>"
            );
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

//! The gates CI runs, for any workspace root (the tests run them on a
//! fixture workspace to show they fail with the step named).

use std::path::{Path, PathBuf};

pub use crate::workspace::{Workspace, step};

/// The real OTLP receiver the integration tests start: `rotel` from PyPI,
/// installed once into `target/tools/rotel` (a Python venv) and reused.
pub const ROTEL_VERSION: &str = "0.0.1a15";

/// Installs rotel if needed; returns the path of its `rotel-agent` binary.
pub fn ensure_rotel(ws: &Workspace) -> Result<PathBuf, String> {
    let venv = crate::backends::ensure_venv(ws, "rotel", &format!("rotel=={ROTEL_VERSION}"))?;
    let lib = venv.join("lib");
    let agent = std::fs::read_dir(&lib)
        .map_err(|e| format!("{}: {e}", lib.display()))?
        .flatten()
        .map(|d| d.path().join("site-packages/rotel/rotel-agent"))
        .find(|p| p.exists())
        .ok_or("rotel installed, but its rotel-agent binary was not found")?;
    make_executable(&agent)?;
    Ok(agent)
}

/// The real S3-compatible server the storage tests start: `s3s-fs` from
/// crates.io (it checks every signature and stores plain files), built once
/// into `target/tools/s3s-fs` and reused.
pub const S3S_FS_VERSION: &str = "0.14.1";

/// Installs s3s-fs if needed; returns the path of its binary.
pub fn ensure_s3s_fs(ws: &Workspace) -> Result<PathBuf, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| ws.root.join("target"), PathBuf::from);
    let root = target.join("tools/s3s-fs");
    let bin = root.join("bin/s3s-fs");
    let marker = root.join(format!("installed-{S3S_FS_VERSION}"));
    if marker.exists() && bin.exists() {
        return Ok(bin);
    }
    eprintln!(
        "xtask: == installing s3s-fs {S3S_FS_VERSION} (the real S3 server) into {} (a few minutes, once)",
        root.display()
    );
    step(
        "cargo install s3s-fs",
        ws.cargo()
            .args(["install", "s3s-fs", "--version", S3S_FS_VERSION, "--features", "binary", "--locked", "--root"])
            .arg(&root)
            // Its own build directory, so it neither shares nor locks ours.
            .env("CARGO_TARGET_DIR", target.join("tools/s3s-fs-build")),
    )?;
    if !bin.exists() {
        return Err(format!("s3s-fs installed, but {} was not found", bin.display()));
    }
    std::fs::write(&marker, b"").map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(target.join("tools/s3s-fs-build"));
    Ok(bin)
}

fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut perm = std::fs::metadata(path).map_err(|e| e.to_string())?.permissions();
    perm.set_mode(0o755);
    std::fs::set_permissions(path, perm).map_err(|e| e.to_string())
}

/// `cargo xtask test`: installs the real test servers (cached under
/// `target/tools`), runs every test with their paths in the environment,
/// then (in this repo) every example with its output checked, and five of
/// them streamed to Arize Phoenix and MLflow (`crate::backends`).
pub fn test(ws: &Workspace) -> Result<(), String> {
    let mut cmd = ws.cargo();
    cmd.args(["test", "--workspace", "--all-features"]);
    if ws.is_dn() {
        cmd.env("DN_ROTEL_AGENT", ensure_rotel(ws)?);
        cmd.env("DN_S3S_FS", ensure_s3s_fs(ws)?);
    }
    step("cargo test --workspace --all-features", &mut cmd)?;
    if ws.is_dn() {
        examples(ws)?;
        crate::backends::run(ws)
    } else {
        Ok(())
    }
}

/// `cargo xtask examples`: builds and runs every example with its output
/// checked (the artifacts example a second time, uploading to s3s-fs).
pub fn examples(ws: &Workspace) -> Result<(), String> {
    step("build examples", ws.cargo().args(["build", "-q", "-p", "dn", "--examples", "--all-features"]))?;
    step("build the dn command", ws.cargo().args(["build", "-q", "-p", "dn-cli", "--bin", "dn"]))?;
    crate::examples::run_all(&ws.root, Some(&ensure_s3s_fs(ws)?))
}

/// `cargo xtask ci`: fmt, clippy (all targets; in this repo also every
/// feature combination of the facade), rustdoc with warnings denied, then
/// the tests unless `skip_test`.
pub fn ci(ws: &Workspace, skip_test: bool) -> Result<(), String> {
    eprintln!("xtask: == layout (file sizes, module circles)");
    crate::layout::run(&ws.root)?;
    step("cargo fmt --check", ws.cargo().args(["fmt", "--all", "--check"]))?;
    step(
        "clippy (workspace, all targets, all features)",
        ws.cargo().args(["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"]),
    )?;
    if ws.is_dn() {
        for features in ["", "otlp", "artifacts", "macros", "tokio", "tracing"] {
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
pub fn bench(ws: &Workspace, name: Option<&str>, rest: &[String]) -> Result<(), String> {
    if name == Some("ab") {
        return crate::workloads::ab(rest);
    }
    if name == Some("machine") {
        println!("core round trip: {}", crate::machine::round_trip_text());
        return Ok(());
    }
    if name == Some("outage") {
        return crate::outage::run(ws);
    }
    if name == Some("workloads") {
        let mut rest = rest.to_vec();
        let cpus = crate::workloads::Cpus::from_args(&mut rest);
        if let Some(other) = rest.first() {
            return Err(format!("bench workloads: unknown argument {other:?} (expected --one-core or nothing)"));
        }
        return crate::workloads::run(ws, cpus);
    }
    if name == Some("instructions") {
        return crate::instructions::command(ws, rest);
    }
    if name == Some("cli") {
        return crate::cli_bench::run(ws);
    }
    let mut c = ws.cargo();
    // `follow` is the `dn` command's (dn-cli); the others the SDK's.
    match name {
        Some(n @ "follow") => c.args(["bench", "-p", "dn-cli", "--bench", n]),
        Some(n) => c.args(["bench", "-p", "dn", "--bench", n]),
        None if ws.is_dn() => c.args(["bench", "-p", "dn", "-p", "dn-cli"]),
        None => c.args(["bench", "-p", "dn"]),
    };
    if ws.is_dn() {
        c.env("DN_S3S_FS", ensure_s3s_fs(ws)?);
    }
    // The machine's mode before and after (see `machine`): the micro
    // benchmarks of two threads move with it.
    let before = crate::machine::round_trip_text();
    step("cargo bench", &mut c)?;
    println!("xtask: core round trip before / after the benchmarks: {before} / {}", crate::machine::round_trip_text());
    if name.is_none() && ws.is_dn() {
        crate::outage::run(ws)?;
        crate::workloads::run(ws, crate::workloads::Cpus::All)?;
        crate::instructions::run(ws)?;
        crate::cli_bench::run(ws)?;
    }
    Ok(())
}

//! `cargo xtask bench outage`: the outage scenario as whole processes, in
//! release builds. A producer writes task spans at 2 000/s for 60 s with no
//! destination (the baseline), then again with its collector down the whole
//! time; then `dn sync` delivers what is pending to a loopback receiver.
//! Prints the caller's p50/p99 per span, peak RSS, shutdown time and the
//! pending count of both runs, and `dn sync`'s delivery rate.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use crate::workspace::Workspace;

const RATE: u64 = 2000;
const SECONDS: u64 = 60;

/// Runs the scenario and prints its table.
pub fn run(ws: &Workspace) -> Result<(), String> {
    let bin = ws.build_release("the producer and dn", &[("dn-process-tests", "outage_producer"), ("dn-cli", "dn")])?;
    let load = crate::machine::load_averages();

    let base_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let base = produce(&bin, base_dir.path(), None)?;
    let port = dn_testing::loopback::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let down = produce(&bin, dir.path(), Some(&endpoint))?;

    // The cheapest receiver (answers 200 without decoding), so the figure is
    // dn's delivery rate, not the receiver's; the tests check what arrives.
    let (_rx, counts) = dn_testing::loopback::null_receiver_on(port);
    let t0 = Instant::now();
    let out = dn_command(&bin.join("dn"), dir.path(), Some(&endpoint))
        .args(["sync", "--json"])
        .output()
        .map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    let sync: Value = serde_json::from_slice(&out.stdout).map_err(|e| format!("dn sync: {e}"))?;
    let delivered = sync["destinations"][0]["delivered"].as_u64().unwrap_or(0);
    let (requests, bytes) = counts.lock().map(|c| *c).unwrap_or_default();

    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    println!("outage scenario: {RATE} task spans/s for {SECONDS} s, collector down throughout (load: {})", load);
    println!("| run | spans written | p50 / span | p99 / span | peak RSS | shutdown | pending |");
    println!("|---|---|---|---|---|---|---|");
    for (name, v) in [("local only", &base), ("collector down", &down)] {
        println!(
            "| {name} | {} | {:.2} µs | {:.2} µs | {:.1} MiB | {} ms | {} |",
            v["written"],
            f(v, "p50_ns") / 1000.0,
            f(v, "p99_ns") / 1000.0,
            f(v, "peak_kib") / 1024.0,
            v["shutdown_ms"],
            v["pending"]
        );
    }
    println!(
        "ratios, collector down / local only: p50 {:.2}×, p99 {:.2}×, peak RSS +{:.1} MiB",
        f(&down, "p50_ns") / f(&base, "p50_ns"),
        f(&down, "p99_ns") / f(&base, "p99_ns"),
        (f(&down, "peak_kib") - f(&base, "peak_kib")) / 1024.0
    );
    println!(
        "dn sync afterwards: {delivered} spans delivered in {secs:.2} s = {:.0} spans/s, whole process \
         ({requests} requests, {:.1} MB gzipped protobuf; receiver and sync share the machine)",
        delivered as f64 / secs,
        bytes as f64 / 1e6
    );
    if delivered != down["written"].as_u64().unwrap_or(0) {
        return Err(format!("dn sync delivered {delivered}: {sync}"));
    }
    Ok(())
}

fn dn_command(bin: &Path, dir: &Path, endpoint: Option<&str>) -> Command {
    let mut c = dn_testing::process::sdk_command(bin, dir, endpoint);
    c.env("DN_RATE", RATE.to_string()).env("DN_SECONDS", SECONDS.to_string());
    c
}

fn produce(bin: &Path, dir: &Path, endpoint: Option<&str>) -> Result<Value, String> {
    let out = dn_command(&bin.join("outage_producer"), dir, endpoint)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("the producer failed: {}", String::from_utf8_lossy(&out.stdout)));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

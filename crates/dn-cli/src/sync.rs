//! `dn sync`: delivery after the fact, from the local files.
//!
//! For each destination the configuration names (the platform, an
//! OpenTelemetry collector), every span line of the selected run and session
//! files that the destination's delivery log does not settle is sent, and
//! settled there (`docs/format.md`, "Delivery logs"); files written by the
//! Python SDK are read the same way. With platform storage, artifact files
//! and offloaded values are uploaded too (each looked up first, so what the
//! bucket has is never sent again). Exit status: 0 when everything was
//! delivered, 1 when something was rejected or is still pending, 2 when the
//! configuration cannot be used.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use dn_export::delivery::sync::{self, Selection, SyncReport};
use serde_json::json;

/// Options of `dn sync`.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// The local directory (default: `DREADNODE_LOCAL_DIR`, else `~/.dreadnode`).
    #[arg(long)]
    local_dir: Option<PathBuf>,
    /// Only this project's runs.
    #[arg(long)]
    project: Option<String>,
    /// Only this run (its id).
    #[arg(long)]
    run: Option<String>,
    /// Count what would be sent; send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `dn sync`; returns the exit status.
pub fn run(args: &SyncArgs) -> u8 {
    match sync_all(args) {
        Ok((summary, code)) => {
            if args.json {
                let _ = crate::local::write_stdout(&format!("{summary}\n"));
            }
            code
        }
        Err(e) => {
            eprintln!("dn sync: {e}");
            2
        }
    }
}

fn sync_all(args: &SyncArgs) -> Result<(serde_json::Value, u8), String> {
    let mut config = dn::Config::new();
    if let Some(d) = &args.local_dir {
        config = config.local_dir(d);
    }
    let settings = config.resolve().map_err(|e| e.to_string())?;
    let root = settings.local_dir.clone();
    let destinations = dn::destinations(&settings).map_err(|e| e.to_string())?;
    if destinations.otlp.is_empty() {
        return Err("no remote destination is configured: set DREADNODE_SERVER, DREADNODE_API_KEY and \
                    DREADNODE_ORGANIZATION for the platform, or OTEL_EXPORTER_OTLP_ENDPOINT for a collector"
            .into());
    }
    let sel = Selection { project: args.project.clone(), run: args.run.clone() };
    let files = sync::spans_files(&root, &sel);
    let mut out = Vec::new();
    let mut code = 0u8;
    for c in destinations.otlp {
        let (name, endpoint, id) = (c.name, c.endpoint.clone(), c.destination_id());
        if args.dry_run {
            let todo = sync::unsettled(&root, &files, &id);
            let spans: u64 = todo.iter().map(|u| u.spans).sum();
            if !args.json {
                let _ = crate::local::write_stdout(&format!(
                    "dn sync: {name} ({endpoint}): would deliver {spans} spans from {} files\n",
                    todo.len()
                ));
            }
            out.push(json!({"name": name, "endpoint": endpoint, "files": todo.len(), "would_deliver": spans}));
            continue;
        }
        let bar = progress_bar(args.json);
        let report = sync::sync(&root, c, &files, 5, &mut |p| {
            if let Some(b) = &bar {
                b.set_length(p.total);
                b.set_position(p.done);
            }
        })
        .map_err(|e| e.to_string())?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        if report.rejected > 0 || report.pending > 0 {
            code = 1;
        }
        if !args.json {
            print_report(&report, &endpoint);
        }
        out.push(report_json(&report, &endpoint));
    }
    let artifacts = match (&destinations.platform, args.dry_run) {
        (Some(scope), false) => {
            let a = upload_artifacts(&settings, scope, &sel);
            if !args.json {
                let _ =
                    crate::local::write_stdout(&format!("dn sync: {}\n", a["summary"].as_str().unwrap_or_default()));
            }
            if a["failed"].as_u64().unwrap_or(0) > 0 {
                code = 1;
            }
            a
        }
        _ => serde_json::Value::Null,
    };
    Ok((json!({"local_dir": root, "dry_run": args.dry_run, "destinations": out, "artifacts": artifacts}), code))
}

fn progress_bar(json: bool) -> Option<indicatif::ProgressBar> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let b = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} spans ({per_sec})") {
        b.set_style(style);
    }
    Some(b)
}

fn print_report(r: &SyncReport, endpoint: &str) {
    let _ = crate::local::write_stdout(&format!(
        "dn sync: {} ({endpoint}): {} delivered, {} rejected, {} pending, from {} files\n",
        r.destination, r.delivered, r.rejected, r.pending, r.files
    ));
    for e in &r.errors {
        eprintln!("dn sync: {}: {e}", r.destination);
    }
}

fn report_json(r: &SyncReport, endpoint: &str) -> serde_json::Value {
    json!({
        "name": r.destination,
        "endpoint": endpoint,
        "files": r.files,
        "delivered": r.delivered,
        "rejected": r.rejected,
        "pending": r.pending,
        "errors": r.errors,
    })
}

/// Uploads the selected runs' artifact files and every offloaded value of the
/// local store to the platform's storage.
fn upload_artifacts(settings: &dn::Settings, scope: &dn::PlatformScope, sel: &Selection) -> serde_json::Value {
    use dn_core::ValueOffload as _;
    let uploader = match dn::start_uploader(settings, scope) {
        Ok(u) => u,
        Err(why) => {
            return json!({"summary": format!("artifacts: not uploaded (no remote storage: {why})"), "failed": 0});
        }
    };
    let root = &settings.local_dir;
    let store = dn_artifacts::LocalStore::new(root);
    let mut queued = 0u64;
    for f in sync::spans_files(root, sel).iter().filter(|f| f.starts_with(dn_core::layout::PROJECTS_DIR)) {
        let Some(run_dir) = f.parent() else { continue };
        let Ok(text) = std::fs::read_to_string(root.join(run_dir).join(dn_core::layout::ARTIFACTS_FILE)) else {
            continue;
        };
        for rec in text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()) {
            let (Some(oid), Some(size)) = (rec["oid"].as_str(), rec["size"].as_u64()) else { continue };
            let sha = oid.trim_start_matches("sha256:");
            uploader.upload_file(store.object_path(sha), sha, size);
            queued += 1;
        }
    }
    for e in std::fs::read_dir(root.join("cas/objects")).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let (Some(hash), Ok(bytes)) = (dn_core::Hash16::parse(&name), std::fs::read(e.path())) {
            let _ = uploader.offload(hash, bytes);
            queued += 1;
        }
    }
    let r = uploader.shutdown(Duration::from_secs(600));
    json!({
        "summary": format!(
            "artifacts: {} uploaded, {} already in the bucket, {} failed, of {queued}",
            r.uploaded, r.already_present, r.failed
        ),
        "queued": queued,
        "uploaded": r.uploaded,
        "already_present": r.already_present,
        "failed": r.failed + r.pending,
        "errors": r.errors,
    })
}

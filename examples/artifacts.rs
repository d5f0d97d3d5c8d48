//! Logging artifacts: a file, a directory, and the same directory again
//! (nothing is stored or uploaded twice: the store is content-addressed).
//!
//! Locally (the default) everything goes to the local store. Configured for
//! the Dreadnode platform (`DREADNODE_SERVER`, `DREADNODE_API_KEY`,
//! `DREADNODE_ORGANIZATION`), the files are also uploaded to its storage in
//! the background; the upload report at the end shows the second logging of
//! the directory sent nothing.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    dn::configure(dn::Config::new())?;
    let local_dir = dn::instance().settings().map(|s| s.local_dir.clone()).unwrap_or_default();
    // Something to log: a report and a small model directory, made in a
    // scratch directory (the local directory is the SDK's store, not ours).
    let scratch = tempfile::tempdir()?;
    let src = scratch.path();
    std::fs::create_dir_all(src.join("model_dir/weights"))?;
    std::fs::write(src.join("report.txt"), "hello artifact\n")?;
    std::fs::write(src.join("model_dir/config.json"), "{\"layers\": 2}\n")?;
    std::fs::write(src.join("model_dir/weights/w.bin"), (0u8..16).collect::<Vec<_>>())?;

    let run = dn::run("artifact-run").enter();
    let file = dn::log_artifact(src.join("report.txt"))?;
    println!("file: {}", serde_json::to_string(&file)?);
    let dir = dn::log_artifact(src.join("model_dir"))?;
    println!("directory: {} files", dir.records().len());
    let again = dn::log_artifact_named(src.join("model_dir"), "model_dir_again")?;
    println!(
        "again: {} files, same oids: {}",
        again.records().len(),
        dir.records().iter().zip(again.records()).all(|(a, b)| a.oid == b.oid)
    );
    let spans = dn::instance().spans_file(&run)?;
    let run_dir = spans.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
    drop(run);
    dn::shutdown(); // waits for the uploads, bounded
    match dn::instance().upload_report() {
        Some(up) => println!(
            "uploads: {} sent ({} bytes), {} already in the bucket, {} failed",
            up.uploaded, up.bytes_uploaded, up.already_present, up.failed
        ),
        None => println!("uploads: none (no remote storage configured; everything is in the local store)"),
    }
    println!("store: {}", local_dir.join("artifacts/sha256").display());
    println!("records: {}", run_dir.join("artifacts.jsonl").display());
    println!("wrote: {}", spans.display());
    Ok(())
}

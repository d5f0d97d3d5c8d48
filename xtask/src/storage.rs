//! The `artifacts` example against real remote storage: `s3s-fs` on
//! loopback as the bucket and a stand-in for the platform's API (scope,
//! traces, storage credentials), so CI sees the example upload its files
//! and send nothing the second time it logs the same directory.

use std::path::Path;

use dn_export::otlp::loopback::{Request, server};
use serde_json::json;

#[path = "../../crates/dn/tests/common/stand_ins.rs"]
mod stand_ins;

const BUCKET: &str = "dn-artifacts";
const ACCESS_KEY: &str = "AKIAXTASK";
const SECRET: &str = "xtask-example-secret";

/// Runs the example streaming to a stand-in platform whose storage is a
/// fresh s3s-fs; checks what it printed and what the bucket holds.
pub fn artifacts_uploading(bin_dir: &Path, s3s_fs: &Path) -> Result<(), String> {
    let bucket_root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let s3 = stand_ins::start_s3s_fs(s3s_fs, bucket_root.path(), BUCKET, ACCESS_KEY, SECRET)?;
    let credentials = json!({
        "access_key_id": ACCESS_KEY, "secret_access_key": SECRET, "session_token": null,
        "expiration": "2099-01-01T00:00:00Z", "region": "us-east-1",
        "bucket": BUCKET, "prefix": "acme/main", "endpoint": s3.endpoint,
    });
    let platform =
        server(move |req: &Request| stand_ins::platform_answer(req, "default", || (200, credentials.clone())));
    let local = tempfile::tempdir().map_err(|e| e.to_string())?;
    let env = [
        ("DREADNODE_SERVER", platform.base.clone()),
        ("DREADNODE_API_KEY", "xtask-example-key".to_string()),
        ("DREADNODE_ORGANIZATION", "acme".to_string()),
    ];
    let stdout = crate::examples::run_checked(bin_dir, crate::examples::artifacts_example(), local.path(), &env)?;
    let line = stdout.lines().find(|l| l.starts_with("uploads: ")).unwrap_or_default();
    // report.txt and the directory's two files are sent once; logging the
    // directory again sends nothing.
    let want_prefix = "uploads: 3 sent (";
    let want_suffix = "), 2 already in the bucket, 0 failed";
    if !(line.starts_with(want_prefix) && line.ends_with(want_suffix)) {
        return Err(format!("example artifacts (uploading): expected '{want_prefix}..{want_suffix}', got {line:?}"));
    }
    let report = bucket_root
        .path()
        .join(BUCKET)
        .join("acme/main/artifacts/sha256/51/bc/51bc0fc1f19104fa6e89ce50be9aa1f57c3346c1ca51ab49f5f00e14ce8f8076");
    match std::fs::read(&report) {
        Ok(b) if b == b"hello artifact\n" => {}
        other => return Err(format!("example artifacts (uploading): {} holds {other:?}", report.display())),
    }
    eprintln!("xtask:    ok ({line})");
    Ok(())
}

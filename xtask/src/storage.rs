//! The `artifacts` example against real remote storage: `s3s-fs` on
//! loopback as the bucket and a stand-in for the platform's API (scope,
//! traces, storage credentials), so CI sees the example upload its files
//! and send nothing the second time it logs the same directory.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dn_export::otlp::loopback::{Request, Response, server};
use serde_json::{Value, json};

const BUCKET: &str = "dn-artifacts";
const ACCESS_KEY: &str = "AKIAXTASK";
const SECRET: &str = "xtask-example-secret";

/// s3s-fs, killed on drop.
struct S3(Child);

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn start_s3(bin: &Path, root: &Path) -> Result<(S3, String), String> {
    std::fs::create_dir_all(root.join(BUCKET)).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let child = Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", ACCESS_KEY, "--secret-key", SECRET])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let s3 = S3(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("s3s-fs did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((s3, format!("http://127.0.0.1:{port}")))
}

fn json_resp(v: &Value) -> Response {
    (200, vec![("Content-Type".into(), "application/json".into())], v.to_string().into_bytes())
}

/// Runs the example streaming to a stand-in platform whose storage is a
/// fresh s3s-fs; checks what it printed and what the bucket holds.
pub fn artifacts_uploading(bin_dir: &Path, s3s_fs: &Path) -> Result<(), String> {
    let bucket_root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (_s3, endpoint) = start_s3(s3s_fs, bucket_root.path())?;
    let credentials = json!({
        "access_key_id": ACCESS_KEY, "secret_access_key": SECRET, "session_token": null,
        "expiration": "2099-01-01T00:00:00Z", "region": "us-east-1",
        "bucket": BUCKET, "prefix": "acme/main", "endpoint": endpoint,
    });
    let platform = server(move |req: &Request| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/org/acme") => json_resp(&json!({"key": "acme"})),
        ("GET", "/api/v1/org/acme/ws") => json_resp(&json!([{"key": "main", "is_default": true}])),
        ("GET", "/api/v1/org/acme/ws/main/projects/default") => json_resp(&json!({"id": "p-example"})),
        ("GET", "/api/v1/org/acme/ws/main/storage/credentials") => json_resp(&credentials),
        ("POST", "/api/v1/org/acme/otel/traces") => (200, vec![], vec![]),
        _ => (404, vec![], b"{}".to_vec()),
    });
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

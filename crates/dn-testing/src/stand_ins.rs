//! Stand-ins for the platform's storage, shared by the storage tests, the
//! artifact benchmark and `cargo xtask`'s uploading run of the `artifacts`
//! example: `s3s-fs` started on loopback, and the platform API's routes for
//! organization `acme`, workspace `main`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::loopback::{Request, Response};
use serde_json::{Value, json};

/// A running s3s-fs (it checks every signature and stores plain files
/// under its root), killed on drop.
pub struct S3sFs {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `bin` on a free loopback port serving `bucket` from `root`,
/// accepting only `access_key` / `secret`; returns once it listens.
pub fn start_s3s_fs(bin: &Path, root: &Path, bucket: &str, access_key: &str, secret: &str) -> Result<S3sFs, String> {
    std::fs::create_dir_all(root.join(bucket)).map_err(|e| e.to_string())?;
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let child = Command::new(bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", access_key])
        .args(["--secret-key", secret])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let s3 = S3sFs { child, endpoint: format!("http://127.0.0.1:{port}") };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("s3s-fs did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(s3)
}

fn json_resp(status: u16, v: &Value) -> Response {
    (status, vec![("Content-Type".into(), "application/json".into())], v.to_string().into_bytes())
}

/// The stand-in platform's answer to `req` (organization `acme`, default
/// workspace `main`, an existing `project`, traces accepted);
/// `credentials` answers the storage-credentials call.
pub fn platform_answer(req: &Request, project: &str, credentials: impl FnOnce() -> (u16, Value)) -> Response {
    let project_path = format!("/api/v1/org/acme/ws/main/projects/{project}");
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/org/acme") => json_resp(200, &json!({"key": "acme"})),
        ("GET", "/api/v1/org/acme/ws") => json_resp(200, &json!([{"key": "main", "is_default": true}])),
        ("GET", p) if p == project_path => json_resp(200, &json!({"id": format!("id-{project}"), "key": project})),
        ("POST", "/api/v1/org/acme/otel/traces") => (200, vec![], vec![]),
        ("GET", "/api/v1/org/acme/ws/main/storage/credentials") => {
            let (status, body) = credentials();
            json_resp(status, &body)
        }
        _ => json_resp(404, &json!({"detail": "no route"})),
    }
}

//! A real S3-compatible server (`s3s-fs`, path in `DN_S3S_FS`, installed by
//! `cargo xtask test` and `cargo xtask bench`) and a fake platform handing
//! out storage credentials, both on loopback; shared by the storage tests
//! and the artifact benchmark.
#![allow(clippy::unwrap_used)] // tests and benches fail loudly by design
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dn_export::otlp::loopback::{Request, Response, server};
use serde_json::{Value, json};

pub const API_KEY: &str = "dn_storage_test_key";
pub const ACCESS_KEY: &str = "AKIADNTEST";
pub const SECRET: &str = "s3cr3t-Storage-Key-for-dn-tests";
pub const WRONG_SECRET: &str = "wr0ng-Storage-Key-for-dn-tests";
pub const TOKEN: &str = "session-token-never-to-be-printed";
pub const BUCKET: &str = "dn-bucket";
pub const PREFIX: &str = "org-acme/ws-main";

/// A running s3s-fs, killed on drop.
pub struct S3 {
    child: Child,
    root: tempfile::TempDir,
    pub endpoint: String,
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3 {
    pub fn start() -> S3 {
        let bin = std::env::var("DN_S3S_FS").expect(
            "DN_S3S_FS is not set: run the tests with `cargo xtask test`, which installs s3s-fs into target/tools",
        );
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", ACCESS_KEY])
            .args(["--secret-key", SECRET])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "s3s-fs did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3 { child, root, endpoint: format!("http://127.0.0.1:{port}") }
    }

    /// The file s3s-fs keeps for `key`.
    pub fn object(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }
}

/// Credentials the fake platform hands out.
pub fn creds(s3: &S3, secret: &str, expires_in: i64) -> Value {
    let exp = std::time::SystemTime::now()
        .checked_add(Duration::from_secs(expires_in.max(0) as u64))
        .unwrap()
        .checked_sub(Duration::from_secs((-expires_in).max(0) as u64))
        .unwrap();
    json!({
        "access_key_id": ACCESS_KEY,
        "secret_access_key": secret,
        "session_token": TOKEN,
        "expiration": dn::Timestamp::from_system_time(exp).to_iso(),
        "region": "us-east-1",
        "bucket": BUCKET,
        "prefix": PREFIX,
        "endpoint": s3.endpoint,
    })
}

#[derive(Default)]
pub struct Platform {
    /// Credential answers, in order; the last repeats.
    pub answers: Vec<(u16, Value)>,
    pub credential_calls: usize,
}

fn json_resp(status: u16, v: &Value) -> Response {
    (status, vec![("Content-Type".into(), "application/json".into())], v.to_string().into_bytes())
}

pub fn platform(answers: Vec<(u16, Value)>) -> (String, Arc<Mutex<Platform>>) {
    let state = Arc::new(Mutex::new(Platform { answers, credential_calls: 0 }));
    let s2 = state.clone();
    let srv = server(move |req: &Request| {
        let mut st = s2.lock().unwrap();
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/api/v1/org/acme") => json_resp(200, &json!({"key": "acme"})),
            ("GET", "/api/v1/org/acme/ws") => json_resp(200, &json!([{"key": "main", "is_default": true}])),
            ("GET", "/api/v1/org/acme/ws/main/projects/vision") => json_resp(200, &json!({"id": "p-1"})),
            ("POST", "/api/v1/org/acme/otel/traces") => (200, vec![], vec![]),
            ("GET", "/api/v1/org/acme/ws/main/storage/credentials") => {
                let i = st.credential_calls.min(st.answers.len() - 1);
                st.credential_calls += 1;
                let (status, body) = st.answers[i].clone();
                json_resp(status, &body)
            }
            _ => json_resp(404, &json!({"detail": "no route"})),
        }
    });
    (srv.base, state)
}

/// An instance streaming to the fake platform at `base`, files under `dir`.
pub fn instance(base: &str, dir: &Path, uploads: dn::UploaderConfig) -> dn::Dreadnode {
    dn::Dreadnode::new(
        dn::Config::new()
            .isolated()
            .local_dir(dir)
            .server(base)
            .api_key(API_KEY)
            .organization("acme")
            .project("vision")
            .update_interval(Duration::ZERO)
            .shutdown_timeout(Duration::from_secs(30))
            .uploads(uploads),
    )
    .unwrap()
}

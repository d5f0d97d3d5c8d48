//! A real S3-compatible server (`s3s-fs`, path in `DN_S3S_FS`, installed by
//! `cargo xtask test` and `cargo xtask bench`) and a fake platform handing
//! out scripted storage credentials, both on loopback (see [`crate::stand_ins`]);
//! shared by the storage tests and the artifact benchmark.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::loopback::{Request, server};
use crate::stand_ins;
use serde_json::{Value, json};

/// The platform API key the stand-in accepts.
pub const API_KEY: &str = "dn_storage_test_key";
/// The S3 access key id s3s-fs is started with.
pub const ACCESS_KEY: &str = "AKIADNTEST";
/// The matching S3 secret key.
pub const SECRET: &str = "s3cr3t-Storage-Key-for-dn-tests";
/// A secret key s3s-fs rejects.
pub const WRONG_SECRET: &str = "wr0ng-Storage-Key-for-dn-tests";
/// The session token handed out (must never be printed).
pub const TOKEN: &str = "session-token-never-to-be-printed";
/// The bucket.
pub const BUCKET: &str = "dn-bucket";
/// The key prefix the credentials name.
pub const PREFIX: &str = "org-acme/ws-main";

/// A running s3s-fs with its own root directory.
pub struct S3 {
    _server: stand_ins::S3sFs,
    root: tempfile::TempDir,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
}

impl S3 {
    /// Starts s3s-fs (its path in `DN_S3S_FS`) on a fresh root.
    pub fn start() -> S3 {
        let bin = std::env::var("DN_S3S_FS").expect(
            "DN_S3S_FS is not set: run the tests with `cargo xtask test`, which installs s3s-fs into target/tools",
        );
        let root = tempfile::tempdir().unwrap();
        let server = stand_ins::start_s3s_fs(Path::new(&bin), root.path(), BUCKET, ACCESS_KEY, SECRET).unwrap();
        let endpoint = server.endpoint.clone();
        S3 { _server: server, root, endpoint }
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

/// What the stand-in platform answers and was asked.
#[derive(Default)]
pub struct Platform {
    /// Credential answers, in order; the last repeats.
    pub answers: Vec<(u16, Value)>,
    /// How many times credentials were asked for.
    pub credential_calls: usize,
}

/// Starts the stand-in platform; returns its base URL and its state.
pub fn platform(answers: Vec<(u16, Value)>) -> (String, Arc<Mutex<Platform>>) {
    let state = Arc::new(Mutex::new(Platform { answers, credential_calls: 0 }));
    let s2 = state.clone();
    let srv = server(move |req: &Request| {
        stand_ins::platform_answer(req, "vision", || {
            let mut st = s2.lock().unwrap();
            let i = st.credential_calls.min(st.answers.len() - 1);
            st.credential_calls += 1;
            st.answers[i].clone()
        })
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

//! Shared helpers of the integration tests.
#![allow(clippy::unwrap_used)] // tests and benches fail loudly by design
#![allow(dead_code)]

use std::path::Path;

use serde_json::Value;

#[allow(unused_imports)] // each test binary uses some of them
pub use dn_testing::jsonl::{assert_same, keys, normalize, read_all, spans};

/// Every log line the SDK emitted in this test binary since
/// [`capture_logs`].
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogSink;
impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs a global subscriber (once) that keeps every `tracing` line.
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let sub = tracing_subscriber::fmt().with_writer(|| LogSink).with_max_level(tracing::Level::TRACE).finish();
        tracing::subscriber::set_global_default(sub).unwrap();
    });
}

/// The log lines kept so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// An isolated instance writing under a fresh temp dir.
pub fn instance() -> (dn::Dreadnode, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).expect("instance");
    (dn, dir)
}

pub fn fixture(name: &str) -> Vec<Value> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference").join(name).join("spans.jsonl");
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("fixture JSON"))
        .collect()
}

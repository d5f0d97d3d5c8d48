//! Artifacts and large values uploaded to a real S3-compatible server:
//! `s3s-fs` (installed by `cargo xtask test`, path in `DN_S3S_FS`), started
//! here on loopback with a fixed access key and secret. It checks every
//! signature and stores plain files, so the bucket is read back from disk.
//! The platform (scope resolution and the storage-credentials endpoint) is a
//! small fake on loopback whose credential answers each test scripts.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
use dn_testing::storage;

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use storage::{API_KEY, BUCKET, PREFIX, S3, SECRET, TOKEN, WRONG_SECRET, creds, platform};

fn instance(base: &str, dir: &Path, uploads: dn::UploaderConfig) -> dn::Dreadnode {
    common::capture_logs();
    storage::instance(base, dir, uploads)
}

fn sha256_hex(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x");
    std::fs::write(&f, bytes).unwrap();
    dn_artifacts::hash_file(&f).unwrap().0
}

fn artifact_key(hex: &str) -> String {
    format!("{PREFIX}/artifacts/sha256/{}/{}/{hex}", &hex[..2], &hex[2..4])
}

/// No file under `dir` contains a secret.
fn assert_no_secret_in_files(dir: &Path) {
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten().filter(|e| e.file_type().is_file()) {
        let bytes = std::fs::read(entry.path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for s in [SECRET, WRONG_SECRET, TOKEN, API_KEY] {
            assert!(!text.contains(s), "a secret appeared in {}", entry.path().display());
        }
    }
}

fn assert_no_secret_in(text: &str, what: &str) {
    for s in [SECRET, WRONG_SECRET, TOKEN, API_KEY] {
        assert!(!text.contains(s), "a secret appeared in {what}");
    }
}

#[test]
fn artifacts_and_large_values_arrive_at_their_keys_and_relogging_sends_nothing() {
    let s3 = S3::start();
    let (base, _state) = platform(vec![(200, creds(&s3, SECRET, 3600))]);
    let dir = tempfile::tempdir().unwrap();
    let events = Arc::new(Mutex::new(Vec::<dn::UploadEvent>::new()));
    let ev2 = events.clone();
    let uploads = dn::UploaderConfig {
        multipart_threshold: 6 << 20,
        part_size: 5 << 20,
        progress: Some(Arc::new(move |e: &dn::UploadEvent| ev2.lock().unwrap().push(e.clone()))),
        ..Default::default()
    };
    let dn = instance(&base, &dir.path().join("dn"), uploads);
    let data = tempfile::tempdir().unwrap();
    let report = data.path().join("report.txt");
    std::fs::write(&report, "hello artifact\n").unwrap();
    let model = data.path().join("model_dir");
    std::fs::create_dir_all(model.join("weights")).unwrap();
    std::fs::write(model.join("config.json"), "{\"layers\": 2}\n").unwrap();
    let big: Vec<u8> = (0..13u32 << 20).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    std::fs::write(model.join("weights/w.bin"), &big).unwrap();
    let large_value = "x".repeat(20 * 1024);

    let run_id = dn.run("upload").run(|run| {
        dn.log_artifact(&report, None).unwrap();
        dn.log_artifact(&model, None).unwrap();
        run.log_input("prompt", &large_value);
        run.log_input("small", "tiny");
        run.run_id().to_string()
    });
    let flushed = dn.flush();
    assert!(flushed.is_clean(), "{flushed:?}");
    let r = dn.upload_report().unwrap();
    assert_eq!((r.uploaded, r.already_present, r.failed, r.pending), (4, 0, 0, 0), "{r:?}");

    // Bytes at the exact keys.
    let report_hex = "51bc0fc1f19104fa6e89ce50be9aa1f57c3346c1ca51ab49f5f00e14ce8f8076";
    assert_eq!(std::fs::read(s3.object(&artifact_key(report_hex))).unwrap(), b"hello artifact\n");
    let big_hex = sha256_hex(&big);
    assert_eq!(std::fs::read(s3.object(&artifact_key(&big_hex))).unwrap(), big, "the multipart upload");
    assert!(
        events.lock().unwrap().iter().any(
            |e| matches!(e, dn::UploadEvent::Progress { key, sent, total } if key.ends_with(&big_hex) && sent < total)
        ),
        "the 13 MiB file went in parts, reported as it went"
    );
    // The large value: offloaded to cas/objects/<data_hash>, referenced as a uri.
    let data_hash = dn::Hash16::sha1_prefix(large_value.as_bytes()).to_string();
    let key = format!("{PREFIX}/cas/objects/{data_hash}");
    assert_eq!(std::fs::read(s3.object(&key)).unwrap(), large_value.as_bytes());
    let local_copy = dir.path().join("dn/cas/objects").join(&data_hash);
    assert_eq!(std::fs::read(local_copy).unwrap(), large_value.as_bytes(), "kept on local disk too");
    let spans = common::spans(&dir.path().join("dn"));
    let run = spans.iter().find(|s| s["name"] == "upload" && s["attributes"]["dreadnode.run.id"] == run_id).unwrap();
    let objects: Value = serde_json::from_str(run["attributes"]["dreadnode.objects"].as_str().unwrap()).unwrap();
    let objects = objects.as_object().unwrap();
    let uri_obj = objects.values().find(|o| o["type"] == "uri").expect("the large value is a uri object");
    assert_eq!(uri_obj["uri"], format!("s3://{BUCKET}/{key}"));
    assert_eq!(uri_obj["size"], 20 * 1024);
    assert!(objects.values().any(|o| o["type"] == "val" && o["value"] == "tiny"), "small values stay inline");

    // The same directory again: nothing is sent (this uploader knows the keys).
    dn.run("again").run(|_| dn.log_artifact(&model, None).unwrap());
    dn.flush();
    let r2 = dn.upload_report().unwrap();
    assert_eq!((r2.uploaded, r2.already_present, r2.bytes_uploaded), (4, 2, r.bytes_uploaded), "{r2:?}");
    assert!(dn.shutdown().is_clean());

    // Another process with its own local store: the bucket is asked (HEAD)
    // and nothing is sent either.
    let other = instance(&base, &dir.path().join("other"), dn::UploaderConfig::default());
    other.run("elsewhere").run(|_| other.log_artifact(&model, None).unwrap());
    other.flush();
    let r3 = other.upload_report().unwrap();
    assert_eq!((r3.uploaded, r3.already_present, r3.bytes_uploaded, r3.failed), (0, 2, 0, 0), "{r3:?}");
    assert!(other.shutdown().is_clean());
}

/// Logs one file whose content is `content` with the platform answering
/// `answers` for credentials; returns the instance (shut down), how many
/// times credentials were fetched, and the local temp dir.
fn log_one_file(
    answers: Vec<(u16, Value)>,
    content: &str,
) -> (dn::Dreadnode, dn::ExportReport, usize, tempfile::TempDir) {
    let (base, state) = platform(answers);
    let dir = tempfile::tempdir().unwrap();
    let dn = instance(&base, &dir.path().join("dn"), dn::UploaderConfig::default());
    let f = dir.path().join("file.txt");
    std::fs::write(&f, content).unwrap();
    dn.run("r").run(|_| dn.log_artifact(&f, None).unwrap());
    let report = dn.shutdown();
    let calls = state.lock().unwrap().credential_calls;
    (dn, report, calls, dir)
}

#[test]
fn expired_and_expiring_credentials_are_refreshed_before_use() {
    let s3 = S3::start();
    // Expired a minute ago, or expiring in 10 minutes (inside the 15-minute
    // margin): either way the uploader fetches new ones before its first
    // request and the upload succeeds.
    for (expires_in, content) in [(-60, "expired"), (600, "expiring")] {
        let answers = vec![(200, creds(&s3, SECRET, expires_in)), (200, creds(&s3, SECRET, 3600))];
        let (dn, report, calls, _dir) = log_one_file(answers, content);
        assert!(report.is_clean(), "{content}: {report:?}");
        assert_eq!(calls, 2, "{content}: fetched at configure, refreshed before the upload");
        let up = dn.upload_report().unwrap();
        assert_eq!((up.uploaded, up.credential_refreshes), (1, 1), "{content}: {up:?}");
        let key = artifact_key(&sha256_hex(content.as_bytes()));
        assert_eq!(std::fs::read(s3.object(&key)).unwrap(), content.as_bytes());
    }
}

#[test]
fn rejected_credentials_are_refreshed_and_the_upload_succeeds() {
    let s3 = S3::start();
    // Valid for an hour by their own account, but the storage rejects them
    // (as it does an expired token): refresh and retry.
    let answers = vec![(200, creds(&s3, WRONG_SECRET, 3600)), (200, creds(&s3, SECRET, 3600))];
    let (dn, report, calls, _dir) = log_one_file(answers, "retry me");
    assert!(report.is_clean(), "{report:?}");
    let up = dn.upload_report().unwrap();
    assert_eq!((up.uploaded, up.credential_refreshes, calls), (1, 1, 2), "{up:?}");
    assert_eq!(std::fs::read(s3.object(&artifact_key(&sha256_hex(b"retry me")))).unwrap(), b"retry me");
}

#[test]
fn a_wrong_secret_is_a_clear_error_that_keeps_the_local_record_and_leaks_nothing() {
    let s3 = S3::start();
    let (base, state) = platform(vec![(200, creds(&s3, WRONG_SECRET, 3600))]);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("dn");
    let dn = instance(&base, &local, dn::UploaderConfig::default());
    let f = dir.path().join("c.txt");
    std::fs::write(&f, "stay local").unwrap();
    let artifact = dn.run("r").run(|_| dn.log_artifact(&f, None).unwrap());
    let report = dn.shutdown();
    let up = dn.upload_report().unwrap();
    assert_eq!((up.uploaded, up.failed), (0, 1), "{up:?}");
    assert!(!report.is_clean());
    let err = &up.errors[0];
    assert!(err.contains("rejected the credentials after 3 tries"), "{err}");
    assert_eq!(state.lock().unwrap().credential_calls, 3, "configure + two refreshes");
    assert!(!s3.object(&artifact_key(&sha256_hex(b"stay local"))).exists());
    // The local store and records are intact.
    let hex = sha256_hex(b"stay local");
    assert_eq!(artifact.records()[0].oid, format!("sha256:{hex}"));
    let stored = local.join("artifacts/sha256").join(&hex[..2]).join(&hex[2..4]).join(&hex);
    assert_eq!(std::fs::read(stored).unwrap(), b"stay local");
    let lines: Vec<String> = walkdir::WalkDir::new(&local)
        .into_iter()
        .flatten()
        .filter(|e| e.file_name() == "artifacts.jsonl")
        .flat_map(|e| std::fs::read_to_string(e.path()).unwrap().lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    assert_eq!(lines.len(), 1);
    // No secret anywhere: errors, reports, Debug output, files, log lines.
    assert_no_secret_in(&format!("{up:?} {report:?} {dn:?} {:?}", dn.settings()), "reports or Debug output");
    assert_no_secret_in_files(&local);
    let logs = common::logs();
    assert!(logs.contains("artifact upload of"), "the failure is logged");
    assert_no_secret_in(&logs, "a log line");
}

#[test]
fn a_rejected_credential_does_not_hammer_the_platform() {
    let s3 = S3::start();
    let (base, state) = platform(vec![(200, creds(&s3, WRONG_SECRET, 3600))]);
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    for i in 0..10 {
        std::fs::write(tree.join(format!("f{i}.txt")), format!("file {i}")).unwrap();
    }
    let dn = instance(&base, &dir.path().join("dn"), dn::UploaderConfig { concurrency: 1, ..Default::default() });
    dn.run("r").run(|_| dn.log_artifact(&tree, None).unwrap());
    dn.shutdown();
    let up = dn.upload_report().unwrap();
    assert_eq!((up.uploaded, up.failed), (0, 10), "{up:?}");
    assert!(up.errors.iter().any(|e| e.contains("not tried")), "later uploads fail at once: {up:?}");
    // Without the breaker: 1 + 2 refreshes × 10 uploads = 21 fetches at
    // least; with it, only the uploads started before it opened refresh
    // (about 13 here).
    let calls = state.lock().unwrap().credential_calls;
    assert!(calls < 21, "{calls} credential fetches");
}

#[test]
fn without_storage_credentials_everything_stays_local_and_the_user_is_told_once() {
    let s3 = S3::start();
    let (base, state) = platform(vec![(404, json!({"detail": "no storage"}))]);
    let dir = tempfile::tempdir().unwrap();
    let dn = instance(&base, &dir.path().join("dn"), dn::UploaderConfig::default());
    assert!(dn.upload_report().is_none());
    let f = dir.path().join("d.txt");
    std::fs::write(&f, "local only").unwrap();
    let large = "y".repeat(11 * 1024);
    dn.run("r").run(|run| {
        dn.log_artifact(&f, None).unwrap();
        run.log_output("big", &large);
    });
    assert!(dn.shutdown().is_clean());
    assert_eq!(state.lock().unwrap().credential_calls, 1);
    let spans = common::spans(&dir.path().join("dn"));
    let objects = spans.iter().find(|s| s["name"] == "r").unwrap()["attributes"]["dreadnode.objects"].clone();
    assert!(objects.as_str().unwrap().contains(&large), "the large value stays inline");
    let logs = common::logs();
    assert_eq!(logs.matches("stay local (no remote storage)").count(), 1, "{logs}");
    drop(s3);
}

//! `dn sync` as a user runs it: the real binary, the SDK's configuration
//! from the environment, a loopback OTLP receiver.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use dn_testing::loopback::{Answer, Receiver, receiver};
use serde_json::Value;

fn python_dir() -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dn-testing/fixtures/python-2.0.52");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&src, dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn lines(dir: &Path) -> usize {
    dn_testing::jsonl::spans(dir).len()
}

fn dn(dir: &Path, endpoint: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let out = dn_testing::process::sdk_command(Path::new(env!("CARGO_BIN_EXE_dn")), dir, endpoint)
        .arg("sync")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn base(rx: &Receiver) -> String {
    rx.url.trim_end_matches("/v1/traces").to_string()
}

fn ids(rx: &Receiver) -> (usize, HashSet<Vec<u8>>) {
    let seen = rx.seen.lock().unwrap();
    (seen.spans.len(), seen.spans.iter().map(|s| s.span_id.clone()).collect())
}

#[test]
fn a_directory_written_by_the_python_sdk_is_delivered_once_sessions_included() {
    let dir = python_dir();
    let rx = receiver(vec![]);
    let total = lines(dir.path());
    assert!(total > 50, "the fixture holds the reference scenarios");
    let (code, out, err) = dn(dir.path(), Some(&base(&rx)), &["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("would deliver {total} spans")), "{out}");
    assert_eq!(ids(&rx).0, 0, "a dry run sends nothing");

    let (code, out, err) = dn(dir.path(), Some(&base(&rx)), &["--json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["destinations"][0]["delivered"], total, "{v}");
    let (n, unique) = ids(&rx);
    assert_eq!((n, unique.len()), (total, total), "each span once");
    let seen = rx.seen.lock().unwrap();
    let session: Vec<_> =
        seen.spans.iter().filter(|s| s.attributes.iter().any(|kv| kv.key == "dreadnode.session.id")).collect();
    assert!(!session.is_empty(), "spans_<id>.jsonl session files are delivered too");
    drop(seen);

    let (code, out, _) = dn(dir.path(), Some(&base(&rx)), &[]);
    assert_eq!(code, 0);
    assert!(out.contains("0 delivered, 0 rejected, 0 pending, from 0 files"), "{out}");
    assert_eq!(ids(&rx).0, total, "the second sync sent nothing");
}

#[test]
fn project_and_run_narrow_what_is_sent() {
    let dir = python_dir();
    let rx = receiver(vec![]);
    let runs: Vec<PathBuf> =
        std::fs::read_dir(dir.path().join("projects/default")).unwrap().flatten().map(|e| e.path()).collect();
    let run = runs[0].file_name().unwrap().to_string_lossy().into_owned();
    let in_run = dn_testing::jsonl::spans(&runs[0]).len();
    let (code, out, _) = dn(dir.path(), Some(&base(&rx)), &["--run", &run, "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["destinations"][0]["delivered"], in_run);
    let (code, out, _) = dn(dir.path(), Some(&base(&rx)), &["--project", "support-bots", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    let support = dn_testing::jsonl::spans(&dir.path().join("projects/support-bots")).len();
    let sessions = dn_testing::jsonl::spans(&dir.path().join("sessions")).len();
    assert_eq!(v["destinations"][0]["delivered"], support + sessions, "a project keeps its sessions: {v}");
}

#[test]
fn rejections_and_refused_credentials_exit_1_with_the_reason_and_nothing_missing_is_the_usage_error_2() {
    let dir = python_dir();
    let total = lines(dir.path());
    let refusing = receiver(vec![Answer::Status(401, vec![])]);
    let (code, out, err) = dn(dir.path(), Some(&base(&refusing)), &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(&format!("0 delivered, 0 rejected, {total} pending")), "{out}");
    assert!(err.contains("401"), "{err}");

    let rejecting = receiver(vec![Answer::Body(422, "header x-mlflow-experiment-id required"); 100]);
    let (code, out, err) = dn(dir.path(), Some(&base(&rejecting)), &[]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains(&format!("0 delivered, {total} rejected, 0 pending")), "{out}");
    assert!(err.contains("HTTP 422") && err.contains("x-mlflow-experiment-id required"), "{err}");

    let (code, _, err) = dn(dir.path(), None, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("no remote destination is configured"), "{err}");
}

/// Artifacts logged while the platform's storage was out of reach: `dn sync`
/// uploads them to the real S3 server (s3s-fs) through the stand-in platform,
/// delivers the spans to the platform's traces endpoint, and a second sync
/// finds everything in the bucket.
#[test]
fn artifacts_logged_offline_are_uploaded_by_dn_sync_and_only_once() {
    use dn_testing::storage::{API_KEY, BUCKET, PREFIX, S3, SECRET, creds, platform};
    let dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("model.bin");
    std::fs::write(&file, b"weights: 42").unwrap();
    // Logged locally (no remote configured).
    let local = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(dir.path()).project("vision")).unwrap();
    local.run("offline-run").run(|_| local.log_artifact(&file, None)).unwrap();
    local.shutdown();

    let s3 = S3::start();
    let (base, _) = platform(vec![(200, creds(&s3, SECRET, 3600))]);
    let sync = || {
        let out = dn_testing::process::sdk_command(Path::new(env!("CARGO_BIN_EXE_dn")), dir.path(), None)
            .arg("sync")
            .env("DREADNODE_SERVER", &base)
            .env("DREADNODE_API_KEY", API_KEY)
            .env("DREADNODE_ORGANIZATION", "acme")
            .env("DREADNODE_PROJECT", "vision")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = sync();
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("dreadnode") && out.contains("1 delivered"), "{out}");
    assert!(out.contains("artifacts: 1 uploaded, 0 already in the bucket, 0 failed"), "{out}");
    let sha = dn_artifacts::hash_file(&file).unwrap().0;
    let key = format!("{PREFIX}/artifacts/sha256/{}/{}/{sha}", &sha[..2], &sha[2..4]);
    assert_eq!(std::fs::read(s3.object(&key)).unwrap(), b"weights: 42", "the bytes are in the bucket {BUCKET}");
    let (code, out, _) = sync();
    assert_eq!(code, Some(0));
    assert!(out.contains("0 delivered"), "{out}");
    assert!(out.contains("artifacts: 0 uploaded, 1 already in the bucket, 0 failed"), "{out}");
    assert!(!out.contains(API_KEY) && !out.contains(SECRET), "no secret is printed");
}

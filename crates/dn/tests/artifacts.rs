//! `log_artifact`: files and directories into the local store, records on
//! the task and in `artifacts.jsonl`, compared with the Python reference.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use serde_json::Value;

fn src(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let f = dir.join("src/report.txt");
    let d = dir.join("src/model_dir");
    std::fs::create_dir_all(d.join("weights")).unwrap();
    std::fs::write(&f, "hello artifact\n").unwrap();
    std::fs::write(d.join("config.json"), "{\"layers\": 2}\n").unwrap();
    std::fs::write(d.join("weights/w.bin"), (0u8..16).collect::<Vec<_>>()).unwrap();
    std::fs::write(d.join("README.md"), "# model\n").unwrap();
    (f, d)
}

fn store_objects(local: &std::path::Path) -> usize {
    walk(&local.join("artifacts/sha256"))
}

fn walk(p: &std::path::Path) -> usize {
    std::fs::read_dir(p).map_or(0, |rd| rd.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
}

#[test]
fn files_and_directories_are_recorded_like_the_python_sdk() {
    let tmp = tempfile::tempdir().unwrap();
    let (f, d) = src(tmp.path());
    let local = tmp.path().join("local");
    let dn = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(&local)).unwrap();
    let run = dn.run("artifact-run").start();
    {
        let _g = run.enter_context();
        let file = dn.log_artifact(&f, None).unwrap();
        assert!(matches!(file, dn::Artifact::File(_)));
        let dir = dn.log_artifact(&d, None).unwrap();
        let v = serde_json::to_value(&dir).unwrap();
        assert_eq!(v["type"], "directory");
        assert_eq!(v["name"], "model_dir");
        assert_eq!(v["files"].as_array().unwrap().len(), 3);
        dn.log_artifact(&f, Some("renamed-report.txt")).unwrap();
        let missing = dn.log_artifact(tmp.path().join("src/missing.txt"), None).unwrap_err();
        assert!(missing.to_string().contains("missing.txt"), "{missing}");
        dn.task_span("child").run(|_| dn.log_artifact(&f, Some("from-child.txt")).unwrap());
    }
    run.end();
    dn.shutdown();

    // artifacts.jsonl: same records as Python's (ignoring ids, paths, times).
    let keyed = |v: &Value| (v["name"].clone(), v["oid"].clone(), v["size"].clone(), v["mime_type"].clone());
    let ours: Vec<Value> =
        std::fs::read_to_string(local.join(format!("projects/default/{}/artifacts.jsonl", run.run_id())))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let theirs: Vec<Value> = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reference/artifacts/artifacts.jsonl"),
    )
    .unwrap()
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    assert_eq!(ours.iter().map(keyed).collect::<Vec<_>>(), theirs.iter().map(keyed).collect::<Vec<_>>());
    let keys: Vec<&str> = ours[0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["task_id", "span_id", "name", "oid", "path", "size", "mime_type", "timestamp"]);
    assert_eq!(ours[0]["task_id"], run.task_id());
    assert_eq!(ours[5]["span_id"].as_str().unwrap().len(), 16);

    // On the spans: the run holds 5 records, the child 1.
    let spans = common::spans(&local);
    let arts = |name: &str| -> Vec<Value> {
        let s = spans.iter().find(|s| s["name"] == name).unwrap();
        serde_json::from_str(s["attributes"]["dreadnode.artifacts"].as_str().unwrap()).unwrap()
    };
    assert_eq!(arts("artifact-run").len(), 5);
    assert_eq!(arts("child").len(), 1);
    assert_eq!(store_objects(&local), 4, "one object per distinct content");
}

#[test]
fn logging_the_same_directory_again_stores_nothing_new() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, d) = src(tmp.path());
    let local = tmp.path().join("local");
    let dn = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(&local)).unwrap();
    dn.run("twice").run(|_| {
        dn.log_artifact(&d, None).unwrap();
        let before: Vec<_> =
            std::fs::read_dir(local.join("artifacts/sha256")).unwrap().flatten().map(|e| e.path()).collect();
        let mtimes = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
        let obj = dn_artifacts::LocalStore::new(&local)
            .object_path("be45cb2605bf36bebde684841a28f0fd43c69850a3dce5fedba69928ee3a8991");
        let t = mtimes(&obj);
        dn.log_artifact(&d, None).unwrap();
        assert_eq!(mtimes(&obj), t, "not rewritten");
        let after: Vec<_> =
            std::fs::read_dir(local.join("artifacts/sha256")).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(before, after);
    });
    assert_eq!(store_objects(&local), 3);
}

#[test]
fn a_failing_directory_records_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("a.txt"), "a").unwrap();
    std::os::unix::fs::symlink(&d, d.join("loop")).unwrap();
    let local = tmp.path().join("local");
    let dn = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(&local)).unwrap();
    let run = dn.run("r").start();
    {
        let _g = run.enter_context();
        assert!(dn.log_artifact(&d, None).is_err());
    }
    run.end();
    dn.shutdown();
    let spans = common::spans(&local);
    assert_eq!(spans[0]["attributes"]["dreadnode.artifacts"], "[]");
    assert!(!local.join(format!("projects/default/{}/artifacts.jsonl", run.run_id())).exists());
    assert!(matches!(dn::log_artifact(&d), Err(dn::Error::Core(dn::core::Error::NoActiveTask(_)))), "no current task");
}

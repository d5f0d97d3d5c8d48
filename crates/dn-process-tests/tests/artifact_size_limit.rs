//! Storing a file that cannot fit under the process's file-size limit
//! (`RLIMIT_FSIZE`): refused with an error before the copy starts. A copy
//! that wrote up to the limit would end the process at its next write
//! (`SIGXFSZ`, whose default action this test process keeps). One test in
//! its own binary: the limit is the whole process's. (Here rather than in
//! `dn-artifacts`, beside the full-disk tests and their limit helper.)
#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[test]
fn a_file_over_the_file_size_limit_is_refused_not_copied_part_way() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("weights.bin");
    std::fs::write(&src, vec![7u8; 300 << 10]).unwrap();
    let small = dir.path().join("config.json");
    std::fs::write(&small, b"{\"lr\": 0.001}\n").unwrap();
    let store = dn_artifacts::LocalStore::new(&dir.path().join("dn"));

    let limit = dn_process_tests::FileSizeLimit::set(256 << 10);
    let err = store.store_file(&src).unwrap_err().to_string();
    assert!(err.contains("file-size limit"), "{err}");
    // A file that fits is stored as ever.
    let fits = store.store_file(&small).unwrap();
    assert!(store.object_path(&fits.sha256).exists());
    drop(limit);

    // No temporary file was left, and with the limit lifted it is stored.
    let objects: Vec<_> = walk(&dir.path().join("dn"));
    assert!(objects.iter().all(|p| !p.to_string_lossy().ends_with(".tmp")), "{objects:?}");
    let stored = store.store_file(&src).unwrap();
    assert_eq!(std::fs::metadata(store.object_path(&stored.sha256)).unwrap().len(), 300 << 10);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

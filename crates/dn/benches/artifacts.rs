//! Artifact hashing throughput beside `sha256sum` on the same 256 MiB file,
//! and a second `log_artifact` of an unchanged 1 000-file directory (nothing
//! is copied: the time is hashing), locally and with uploading to a real S3
//! server. `cargo xtask bench artifacts` (it provides the S3 server).
//!
//! One recorded run on the 2-core machine kind (2026-12-06 16:05, code
//! efcaedc, core round trip 411 / 85 ns; medians, same run):
//! - sha256sum 1.095 s; dn 194.6 ms (5.6× faster, 0.18× the baseline).
//! - re-log of the unchanged directory, local only: 42.9 ms, nothing copied
//!   (the baseline of the next two).
//! - the same with uploading, in the process that uploaded it: 46.3 ms
//!   (1.08× the baseline), 0 bytes and 0 requests sent.
//! - the same from a fresh process (new instance, same bucket): 335.7 ms
//!   (7.8× the baseline): 1 000 HEAD requests to s3s-fs on the same two
//!   cores, 0 bytes sent.
#![allow(clippy::unwrap_used)] // benches fail loudly by design

use std::path::PathBuf;
use std::sync::OnceLock;

use divan::Bencher;

use dn_testing::storage;

static DATA: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();

fn data() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    DATA.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.bin");
        let chunk: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        let mut f = std::fs::File::create(&big).unwrap();
        for _ in 0..256 {
            std::io::Write::write_all(&mut f, &chunk).unwrap();
        }
        let tree = dir.path().join("tree");
        for i in 0..1000 {
            let d = tree.join(format!("d{}", i % 10));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(format!("f{i}.txt")), format!("file {i}\n").repeat(10)).unwrap();
        }
        (dir, big, tree)
    })
}

fn main() {
    divan::main();
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn sha256sum_256mib(b: Bencher<'_, '_>) {
    let (_, big, _) = data();
    b.bench(|| std::process::Command::new("sha256sum").arg(big).output().unwrap());
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn dn_hash_256mib(b: Bencher<'_, '_>) {
    let (_, big, _) = data();
    b.bench(|| dn_artifacts::hash_file(big).unwrap());
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn relog_unchanged_1000_file_dir(b: Bencher<'_, '_>) {
    let (dir, _, tree) = data();
    let store = dn_artifacts::LocalStore::new(&dir.path().join("local"));
    let origin = dn_artifacts::Origin { task_id: "t".into(), span_id: "s".into(), timestamp: "now".into() };
    dn_artifacts::collect(&store, tree, None, &origin).unwrap(); // first time: copies
    b.bench(|| {
        let a = dn_artifacts::collect(&store, tree, None, &origin).unwrap();
        assert_eq!(a.records().len(), 1000);
    });
}

/// The unchanged directory logged again with uploading to a real S3 server
/// (`s3s-fs` from `DN_S3S_FS`, set by `cargo xtask bench`): the instance
/// that uploaded it knows every key and sends no request; a fresh instance
/// asks the bucket (1 000 HEADs) and sends no bytes. Both include `flush`.
mod uploading {
    use std::sync::OnceLock;

    use divan::Bencher;

    use crate::storage;

    struct Remote {
        _s3: storage::S3,
        base: String,
        dir: tempfile::TempDir,
        dn: dn::Dreadnode,
        bytes: u64,
    }

    fn remote() -> Option<&'static Remote> {
        static R: OnceLock<Option<Remote>> = OnceLock::new();
        R.get_or_init(|| {
            if std::env::var_os("DN_S3S_FS").is_none() {
                eprintln!("DN_S3S_FS is not set: run `cargo xtask bench artifacts` to include the upload benchmarks");
                return None;
            }
            let s3 = storage::S3::start();
            let (base, _) = storage::platform(vec![(200, storage::creds(&s3, storage::SECRET, 3600))]);
            let dir = tempfile::tempdir().unwrap();
            let dn = storage::instance(&base, &dir.path().join("dn"), dn::UploaderConfig::default());
            let (_, _, tree) = super::data();
            dn.run("first").run(|_| dn.log_artifact(tree, None).unwrap());
            dn.flush();
            let r = dn.upload_report().unwrap();
            assert_eq!((r.uploaded, r.failed), (1000, 0), "{r:?}");
            Some(Remote { _s3: s3, base, dir, bytes: r.bytes_uploaded, dn })
        })
        .as_ref()
    }

    #[divan::bench(sample_count = 10, sample_size = 1)]
    fn relog_1000_files_same_instance(b: Bencher<'_, '_>) {
        let Some(r) = remote() else { return };
        let (_, _, tree) = super::data();
        b.bench(|| {
            r.dn.run("again").run(|_| r.dn.log_artifact(tree, None).unwrap());
            r.dn.flush();
        });
        assert_eq!(r.dn.upload_report().unwrap().bytes_uploaded, r.bytes, "nothing more was sent");
    }

    #[divan::bench(sample_count = 5, sample_size = 1)]
    fn relog_1000_files_fresh_instance(b: Bencher<'_, '_>) {
        let Some(r) = remote() else { return };
        let (_, _, tree) = super::data();
        b.bench(|| {
            let dn = storage::instance(&r.base, &r.dir.path().join("dn"), dn::UploaderConfig::default());
            dn.run("fresh").run(|_| dn.log_artifact(tree, None).unwrap());
            dn.flush();
            let up = dn.upload_report().unwrap();
            assert_eq!((up.uploaded, up.already_present, up.bytes_uploaded), (0, 1000, 0), "{up:?}");
        });
    }
}

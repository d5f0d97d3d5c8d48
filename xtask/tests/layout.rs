//! `cargo xtask layout` passes on this repository and fails, naming the
//! problem, on a workspace with a planted violation.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use xtask::layout::{self, Violation};

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn fixture_crate(root: &Path) {
    write(root, "crates/demo/Cargo.toml", "[package]\nname = \"demo\"\n");
    write(root, "crates/demo/src/lib.rs", "mod a;\nmod b;\npub use a::A;\n");
    write(root, "crates/demo/src/a.rs", "pub struct A;\n");
    write(root, "crates/demo/src/b.rs", "use crate::A;\npub fn f(_: A) {}\n");
}

#[test]
fn this_repository_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let l = layout::check(root).unwrap();
    assert!(l.violations.is_empty(), "{:?}", l.violations);
    assert!(l.files > 50);
    assert_eq!(l.allowed.len(), 1, "only dn-core's runtime circle: {:?}", l.allowed);
}

#[test]
fn a_clean_fixture_passes() {
    let dir = tempfile::tempdir().unwrap();
    fixture_crate(dir.path());
    assert!(layout::check(dir.path()).unwrap().violations.is_empty());
}

#[test]
fn a_planted_circle_fails_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    fixture_crate(dir.path());
    // a.rs now needs b (through the root's re-export of nothing: a direct path).
    write(dir.path(), "crates/demo/src/a.rs", "pub struct A;\npub fn g() { crate::b::f(A) }\n");
    let l = layout::check(dir.path()).unwrap();
    assert_eq!(l.violations, vec![Violation::Circle("demo".into(), vec!["a".into(), "b".into()])]);
    assert!(layout::run(dir.path()).is_err());
}

#[test]
fn a_planted_oversized_file_fails_but_tests_and_comments_do_not_count() {
    let dir = tempfile::tempdir().unwrap();
    fixture_crate(dir.path());
    let code: String = (0..601).map(|i| format!("pub const C{i}: u32 = {i};\n")).collect();
    write(dir.path(), "crates/demo/src/big.rs", &code);
    let small: String = (0..600).map(|i| format!("pub const C{i}: u32 = {i};\n// note\n\n")).collect::<String>()
        + "#[cfg(test)]\nmod tests {\n"
        + &"    fn t() {}\n".repeat(700)
        + "}\n";
    write(dir.path(), "crates/demo/src/small.rs", &small);
    let l = layout::check(dir.path()).unwrap();
    assert_eq!(l.violations.len(), 1, "{:?}", l.violations);
    assert!(matches!(&l.violations[0], Violation::TooLong(p, 601) if p.ends_with("big.rs")));
}

#[test]
fn a_model_module_naming_the_runtime_is_a_circle_only_when_it_closes_one() {
    // Circles are what the check enforces; an allowed group elsewhere does not
    // excuse one in another crate.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "crates/dn-core/Cargo.toml", "[package]\nname = \"dn-core\"\n");
    write(dir.path(), "crates/dn-core/src/lib.rs", "pub mod model;\npub mod runtime;\n");
    write(dir.path(), "crates/dn-core/src/model/mod.rs", "pub mod record;\n");
    write(dir.path(), "crates/dn-core/src/model/record.rs", "pub fn r() { crate::runtime::task::t() }\n");
    write(dir.path(), "crates/dn-core/src/runtime/mod.rs", "pub mod task;\n");
    write(dir.path(), "crates/dn-core/src/runtime/task.rs", "pub fn t() { crate::model::record::r() }\n");
    let l = layout::check(dir.path()).unwrap();
    assert_eq!(
        l.violations,
        vec![Violation::Circle("dn-core".into(), vec!["model::record".into(), "runtime::task".into()])]
    );
}

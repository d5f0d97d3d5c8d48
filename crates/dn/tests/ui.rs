//! Compile-time diagnostics of `#[dn::task]` (one `.stderr` per case) and
//! shapes that must compile: `#![no_implicit_prelude]`, `crate = path`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui-pass/*.rs");
}

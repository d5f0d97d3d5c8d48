//! Configuration precedence (`docs/format.md`, "Platform"): explicit value > environment >
//! profile file > default, and a program that never calls `configure` is
//! configured from the environment on first use. Child processes, so each
//! case has its own environment.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn probe(home: &Path, env: &[(&str, &str)], args: &[&str]) -> (Value, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_print_settings"));
    cmd.args(args).env("HOME", home);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("DREADNODE_") || k.starts_with("OTEL_")) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (serde_json::from_slice(&out.stdout).unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn home_with_profile() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".dreadnode")).unwrap();
    std::fs::write(
        home.path().join(".dreadnode/config.yaml"),
        "active: dev\nservers:\n  dev:\n    url: http://profile.invalid\n    default_project: from-profile\n",
    )
    .unwrap();
    home
}

#[test]
fn without_configure_the_first_use_configures_from_defaults_and_the_profile() {
    let home = home_with_profile();
    let (v, _) = probe(home.path(), &[], &[]);
    assert_eq!(v["configured"], true);
    assert_eq!(v["project"], "from-profile", "profile beats the default");
    assert_eq!(v["server"], "http://profile.invalid");
    assert_eq!(v["local_dir"], home.path().join(".dreadnode").display().to_string(), "default local dir");
    assert_eq!(v["run_ok"], true);
    assert_eq!(v["dropped"], 0);
    assert_eq!(
        std::fs::read_dir(home.path().join(".dreadnode/projects/from-profile")).unwrap().count(),
        1,
        "the run was written"
    );
}

#[test]
fn the_environment_beats_the_profile_and_explicit_values_beat_both() {
    let home = home_with_profile();
    let local = home.path().join("elsewhere");
    let env = [("DREADNODE_PROJECT", "from-env"), ("DREADNODE_LOCAL_DIR", local.to_str().unwrap())];
    let (v, _) = probe(home.path(), &env, &[]);
    assert_eq!(v["project"], "from-env");
    assert_eq!(v["local_dir"], local.display().to_string());
    assert_eq!(v["server"], "http://profile.invalid", "unset in env: still from the profile");
    let (v, _) = probe(home.path(), &env, &["--project", "explicit"]);
    assert_eq!(v["project"], "explicit");
}

#[test]
fn a_bad_environment_is_reported_and_nothing_panics() {
    let home = tempfile::tempdir().unwrap();
    let (v, stderr) = probe(home.path(), &[("DREADNODE_TRACE_BACKEND", "bogus")], &[]);
    assert_eq!(v["configured"], false);
    assert_eq!(v["dropped"], 1, "the run is counted as dropped, not lost silently");
    assert!(stderr.contains("could not configure") && stderr.contains("bogus"), "{stderr}");
}

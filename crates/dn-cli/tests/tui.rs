//! `dn tui` in a real terminal: tmux runs it, `send-keys` types, and
//! `capture-pane` reads the screen. Needs tmux (the CI machine has it); where
//! it is missing the test says so and does nothing.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux(String);

impl Tmux {
    fn start(dir: &Path, name: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("tmux is not installed: the terminal smoke test is skipped");
            return None;
        }
        let session = format!("dn-tui-{name}-{}", std::process::id());
        let cmd = format!("NO_COLOR=1 {} tui --local-dir {}", env!("CARGO_BIN_EXE_dn"), dir.display());
        let ok = Command::new("tmux")
            .env("TERM", "xterm-256color")
            .args(["new-session", "-d", "-s", &session, "-x", "150", "-y", "45", &cmd])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session");
        Some(Tmux(session))
    }
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            assert!(Command::new("tmux").args(["send-keys", "-t", &self.0, k]).status().unwrap().success());
            std::thread::sleep(Duration::from_millis(80));
        }
    }
    fn screen(&self) -> String {
        let out = Command::new("tmux").args(["capture-pane", "-p", "-t", &self.0]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    /// Waits (at most 10 s) for the screen to contain `what`.
    fn wait_for(&self, what: &str) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(what) {
                return s;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "no {what:?} on the screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    fn alive(&self) -> bool {
        Command::new("tmux").args(["has-session", "-t", &self.0]).output().is_ok_and(|o| o.status.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["kill-session", "-t", &self.0]).output();
    }
}

#[test]
fn the_tui_opens_a_run_shows_a_task_and_quits_in_a_real_terminal() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dn-testing/fixtures/python-2.0.52");
    let Some(t) = Tmux::start(&dir, "browse") else { return };
    t.wait_for("remote-experiment");
    t.keys(&["/", "1a172c81", "Enter", "Enter"]);
    t.wait_for("decorator-run");
    t.keys(&["Down", "Down", "Down", "Down", "Down"]);
    let s = t.wait_for("length_score = 1.1");
    assert!(s.contains("text = hello world"), "{s}");
    t.keys(&["q"]);
    let t0 = Instant::now();
    while t.alive() {
        assert!(t0.elapsed() < Duration::from_secs(5), "dn tui did not quit on q");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_tui_follows_a_run_still_being_written() {
    let tmp = tempfile::tempdir().unwrap();
    let d = dn::Dreadnode::new(dn::Config::new().isolated().local_dir(tmp.path())).unwrap();
    let run = d.run("live-run").start();
    d.task_span("first-task").parent(&run).run(|t| t.log_input("x", 1));
    d.flush();
    let Some(t) = Tmux::start(tmp.path(), "follow") else { return };
    t.wait_for("(open run)");
    t.keys(&["Enter"]);
    t.wait_for("first-task");
    d.task_span("appended-task").parent(&run).run(|t| t.log_output("y", 2));
    d.flush();
    // Within a second or so (the TUI looks every 500 ms).
    t.wait_for("appended-task");
    t.keys(&["q"]);
    run.end();
    d.shutdown();
}

//! A task continued in a child process: one trace, the fragment parented to
//! the traceparent's span, the child's spans under the fragment, and both
//! processes appending to one run file without interleaved lines.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::HashMap;
use std::process::Command;

use serde_json::Value;

#[test]
fn a_task_continued_in_a_child_process_joins_the_parent_run_file() {
    let dir = tempfile::tempdir().unwrap();
    let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
    let run = dn.run("distributed-parent").start();
    let dispatch = dn.task_span("dispatch").parent(&run).start();
    let ctx = {
        let _g = dispatch.enter_context();
        dn.task_context().unwrap()
    };
    let child = Command::new(env!("CARGO_BIN_EXE_continue_child"))
        .arg(ctx.to_json())
        .arg("3000")
        .env("DREADNODE_LOCAL_DIR", dir.path())
        .env("HOME", dir.path())
        .env_remove("DREADNODE_TRACE_BACKEND")
        .env_remove("DREADNODE_SERVER")
        .spawn()
        .unwrap();
    // Write to the same file while the child does.
    for i in 0..3000 {
        dn.task_span("parent-bulk").parent(&run).run(|t| t.log_input("i", i));
        if i % 500 == 0 {
            dn.flush();
        }
    }
    let status = child.wait_with_output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    dispatch.end();
    run.end();
    assert!(dn.shutdown().is_clean());

    let file = dir.path().join(format!("projects/default/{}/spans.jsonl", run.run_id()));
    let text = std::fs::read_to_string(&file).unwrap();
    let spans: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("no interleaved lines")).collect();
    assert_eq!(spans.len(), 3000 + 3000 + 2 + 2, "parent bulk, child bulk, run+dispatch, fragment+subtask");
    assert!(spans.iter().all(|s| s["trace_id"] == run.trace_id().to_string().as_str()), "one trace");
    let by_name: HashMap<&str, &Value> = spans.iter().map(|s| (s["name"].as_str().unwrap(), s)).collect();
    let frag = by_name[format!("task.{}.fragment", dispatch.task_id()).as_str()];
    assert_eq!(frag["parent_id"], dispatch.span_id().to_string().as_str());
    assert_eq!(frag["attributes"]["dreadnode.type"], "task_fragment");
    assert!(frag["attributes"]["dreadnode.metrics"].as_str().unwrap().contains("remote_score"));
    assert_eq!(by_name["remote-subtask"]["parent_id"], frag["span_id"]);
    let child_bulk = spans.iter().filter(|s| s["name"] == "child-bulk").count();
    assert_eq!(child_bulk, 3000);
    assert!(spans.iter().filter(|s| s["name"] == "child-bulk").all(|s| s["parent_id"] == frag["span_id"]));
}

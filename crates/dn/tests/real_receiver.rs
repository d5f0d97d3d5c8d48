//! Against a real OTLP receiver: `rotel` (installed by `cargo xtask test`,
//! path in `DN_ROTEL_AGENT`), started and stopped here on loopback, logging
//! every span it decodes. Every span of a run arrives once, with the right
//! parents and the same attributes as its JSONL line.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Rotel {
    child: Child,
    log: std::path::PathBuf,
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_rotel(dir: &std::path::Path, http: u16, path: &str) -> Rotel {
    let agent = std::env::var("DN_ROTEL_AGENT").expect(
        "DN_ROTEL_AGENT is not set: run the tests with `cargo xtask test`, which installs the rotel receiver into target/tools",
    );
    let log = dir.join("rotel.out");
    let child = Command::new(agent)
        .args(["start", "--exporter", "blackhole", "--debug-log", "traces", "--debug-log-verbosity", "detailed"])
        .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
        .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{}", free_port())])
        .args(["--otlp-receiver-traces-http-path", path])
        .arg("--pid-file")
        .arg(dir.join("rotel.pid"))
        .arg("--log-file")
        .arg(dir.join("rotel.log"))
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", http)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "rotel did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Rotel { child, log }
}

/// Attributes as (key, value as rotel prints it).
type Attrs = Vec<(String, String)>;
/// A span in rotel's debug log: (parent id, name, attributes).
type Logged = (String, String, Attrs);

/// Spans in rotel's debug log by id.
fn parse_log(text: &str) -> HashMap<String, Logged> {
    let text = text.replace('\u{1b}', "");
    let mut spans = HashMap::new();
    let mut cur: Option<(String, String, String, Attrs)> = None;
    let mut in_span_attrs = false;
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("Span #") {
            if let Some((id, p, n, a)) = cur.take() {
                spans.insert(id, (p, n, a));
            }
            cur = Some(Default::default());
            in_span_attrs = false;
        } else if let Some(c) = cur.as_mut() {
            let field =
                |prefix: &str| l.strip_prefix(prefix).map(|v| v.trim_start_matches([' ', ':']).trim().to_string());
            if let Some(v) = field("Trace ID") {
                let _ = v;
            } else if let Some(v) = field("Parent ID") {
                c.1 = v;
            } else if let Some(v) = field("ID") {
                c.0 = v;
            } else if let Some(v) = field("Name") {
                c.2 = v;
            } else if l == "Attributes:" {
                in_span_attrs = true;
            } else if l.starts_with("Events:") || l.starts_with("ResourceSpans") || l.starts_with("ScopeSpans") {
                in_span_attrs = false;
            } else if in_span_attrs && l.starts_with("-> ") {
                if let Some((k, v)) = l[3..].split_once(": ") {
                    c.3.push((k.to_string(), v.to_string()));
                }
            }
        }
    }
    if let Some((id, p, n, a)) = cur.take() {
        spans.insert(id, (p, n, a));
    }
    spans
}

#[test]
fn every_span_of_a_run_reaches_a_real_receiver_once_with_its_parents_and_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_port();
    let path = "/api/v1/org/acme/otel/traces";
    let rotel = start_rotel(dir.path(), http, path);
    // A pass-through in front of rotel records the headers of every request
    // and forwards it unchanged (rotel logs spans, not headers).
    let headers = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let h2 = headers.clone();
    let upstream = format!("http://127.0.0.1:{http}{path}");
    let proxy = dn_testing::loopback::server(move |req| {
        h2.lock().unwrap().push(req.headers.clone());
        let mut fwd = ureq::post(&upstream);
        for (k, v) in &req.headers {
            if !matches!(k.as_str(), "host" | "content-length" | "connection") {
                fwd = fwd.header(k.as_str(), v.as_str());
            }
        }
        match fwd.send(&req.body[..]) {
            Ok(r) => (r.status().as_u16(), vec![], vec![]),
            Err(_) => (502, vec![], vec![]),
        }
    });
    let local_dir = dir.path().join("local");
    let dn = dn::Dreadnode::new(
        dn::Config::new()
            .isolated()
            .local_dir(&local_dir)
            .otlp_endpoint(format!("{}{path}", proxy.base))
            .otlp_header("X-Api-Key", "dn_test_key"),
    )
    .unwrap();
    dn.run("real-receiver-run").run(|_| {
        for i in 0..25 {
            dn.task_span("task").run(|t| {
                t.log_input("i", i);
                dn.span("light").run(|| ());
            });
        }
    });
    let report = dn.shutdown();
    assert!(report.is_clean(), "{report:?}");
    let local = common::spans(&local_dir);
    assert_eq!(local.len(), 51);

    // rotel logs asynchronously: wait until it has printed every span.
    let t0 = Instant::now();
    let remote = loop {
        let spans = parse_log(&std::fs::read_to_string(&rotel.log).unwrap_or_default());
        if spans.len() >= local.len() || t0.elapsed() > Duration::from_secs(20) {
            break spans;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(remote.len(), local.len(), "every span once");
    for h in headers.lock().unwrap().iter() {
        let get = |k: &str| h.iter().find(|(hk, _)| hk == k).map(|(_, v)| v.as_str());
        assert_eq!(get("content-encoding"), Some("gzip"));
        assert_eq!(get("content-type"), Some("application/x-protobuf"));
        assert_eq!(get("x-api-key"), Some("dn_test_key"));
        assert!(get("user-agent").is_some_and(|u| u.starts_with("dreadnode-rust/")));
    }
    assert!(!headers.lock().unwrap().is_empty());
    for s in &local {
        let id = s["span_id"].as_str().unwrap();
        let (parent, name, keys) = remote.get(id).unwrap_or_else(|| panic!("span {id} did not arrive"));
        assert_eq!(name, s["name"].as_str().unwrap());
        assert_eq!(parent.as_str(), s["parent_id"].as_str().unwrap_or(""), "parent of {name}");
        let want: Vec<&str> = s["attributes"].as_object().unwrap().keys().map(String::as_str).collect();
        let got: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        // The line's attributes in order, then the collector conventions
        // (docs/format.md, "Collector conventions").
        assert_eq!(got[..want.len().min(got.len())], want[..], "attribute keys of {name}");
        let conventions: Vec<&str> = got[want.len()..].to_vec();
        let printed = |k: &str| keys.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(printed("openinference.span.kind"), Some("Str(CHAIN)"), "span kind of {name}");
        if name == "task" {
            assert_eq!(conventions, ["openinference.span.kind", "input.value", "input.mime_type"]);
            let i = s["attributes"]["dreadnode.inputs"].as_str().map(|_| ()).and(printed("input.value"));
            assert!(i.is_some_and(|v| v.starts_with("Str({\"i\":")), "input.value of a task: {i:?}");
        } else {
            assert_eq!(conventions, ["openinference.span.kind"], "{name}");
        }
        // String values as rotel prints them: Str(<value>).
        for (k, printed) in keys {
            if let Some(v) = s["attributes"][k].as_str() {
                assert_eq!(printed, &format!("Str({v})"), "value of {k} on {name}");
            }
        }
    }
}

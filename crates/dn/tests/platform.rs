//! Streaming to the Dreadnode platform: organization / workspace / project
//! resolved against a fake platform API on loopback (project created on
//! 404), the project UUID on the wire, clear errors for bad keys and unknown
//! organizations, warn-and-continue when the server is down, and `local`
//! never opening a connection. The API key appears nowhere but the header.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::sync::{Arc, Mutex};

use dn_testing::loopback::{Request, Response, decode_spans, server};
use serde_json::{Value, json};

const KEY: &str = "dn_test_secret_key";
const PROJECT_ID: &str = "00000000-0000-4000-8000-00000000c001";

#[derive(Default)]
struct Platform {
    calls: Vec<(String, String)>,
    created: Vec<Value>,
    spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>,
    headers: Vec<Vec<(String, String)>>,
}

fn json_resp(status: u16, v: Value) -> Response {
    (status, vec![("Content-Type".into(), "application/json".into())], v.to_string().into_bytes())
}

fn platform(org_status: u16) -> (String, Arc<Mutex<Platform>>) {
    let state = Arc::new(Mutex::new(Platform::default()));
    let s2 = state.clone();
    let srv = server(move |req: &Request| {
        let mut st = s2.lock().unwrap();
        st.calls.push((req.method.clone(), req.path.clone()));
        st.headers.push(req.headers.clone());
        let authed = req.headers.iter().any(|(k, v)| k == "x-api-key" && v == KEY);
        if !authed {
            return json_resp(401, json!({"detail": "bad key"}));
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/api/v1/org/acme") if org_status == 200 => json_resp(200, json!({"id": "a001", "key": "acme"})),
            ("GET", "/api/v1/org/acme") => json_resp(org_status, json!({"detail": "nope"})),
            ("GET", "/api/v1/org/acme/ws") => json_resp(
                200,
                json!([
                    {"key": "other", "is_default": false},
                    {"key": "main", "is_default": true}
                ]),
            ),
            ("GET", "/api/v1/org/acme/ws/main/projects/support-bots") if st.created.is_empty() => {
                json_resp(404, json!({}))
            }
            ("POST", "/api/v1/org/acme/ws/main/projects") => {
                st.created.push(serde_json::from_slice(&req.body).unwrap());
                json_resp(201, json!({"id": PROJECT_ID, "key": "support-bots"}))
            }
            ("POST", "/api/v1/org/acme/otel/traces") => {
                let d = decode_spans(req).unwrap();
                st.spans
                    .extend(d.resource_spans.iter().flat_map(|r| r.scope_spans.iter().flat_map(|s| s.spans.clone())));
                (200, vec![], vec![])
            }
            _ => json_resp(404, json!({"detail": "no route"})),
        }
    });
    (srv.base, state)
}

use common::capture_logs;

fn assert_key_not_logged() {
    let logs = common::logs();
    assert!(!logs.contains(KEY), "the API key appeared in a log line");
}

fn config(server: &str, dir: &std::path::Path) -> dn::Config {
    capture_logs();
    dn::Config::new()
        .isolated()
        .local_dir(dir)
        .server(server)
        .api_key(KEY)
        .organization("acme")
        .project("support-bots")
        .shutdown_timeout(std::time::Duration::from_secs(5))
}

fn attr<'a>(span: &'a opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Option<&'a str> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
        V::StringValue(s) => Some(s.as_str()),
        _ => None,
    })
}

#[test]
fn a_run_streams_to_the_platform_with_the_project_uuid() {
    let (base, state) = platform(200);
    let dir = tempfile::tempdir().unwrap();
    let dn = dn::Dreadnode::new(config(&base, dir.path())).unwrap();
    assert!(dn.settings().unwrap().streaming);
    dn.run("remote-run").run(|run| {
        run.log_param("lr", 0.1);
        dn.task_span("data-prep").run(|t| t.log_metric("rows", 250));
    });
    let report = dn.shutdown();
    assert!(report.is_clean(), "{report:?}");
    let st = state.lock().unwrap();
    let calls: Vec<String> = st.calls.iter().map(|(m, p)| format!("{m} {p}")).collect();
    assert_eq!(
        &calls[..4],
        [
            "GET /api/v1/org/acme",
            "GET /api/v1/org/acme/ws",
            "GET /api/v1/org/acme/ws/main/projects/support-bots",
            "POST /api/v1/org/acme/ws/main/projects",
        ]
    );
    assert_eq!(st.created, [json!({"name": "support-bots", "key": "support-bots"})]);
    for h in &st.headers {
        assert!(h.iter().any(|(k, v)| k == "user-agent" && v.starts_with("dreadnode-rust/")), "{h:?}");
    }
    assert!(st.headers[0].iter().any(|(k, v)| k == "accept" && v == "application/json"));
    let otlp_headers = st.headers.last().unwrap();
    assert!(otlp_headers.iter().any(|(k, v)| k == "x-api-key" && v == KEY));
    assert!(otlp_headers.iter().any(|(k, v)| k == "content-encoding" && v == "gzip"));
    assert_eq!(st.spans.len(), 2, "every span once");
    for s in &st.spans {
        assert_eq!(attr(s, "dreadnode.project"), Some(PROJECT_ID), "the UUID on the wire");
    }
    let local = common::spans(dir.path());
    assert_eq!(local.len(), 2, "and every span locally");
    assert!(local.iter().all(|s| s["attributes"]["dreadnode.project"] == "support-bots"), "the key locally");
    for (_, line) in common::read_all(dir.path()) {
        assert!(!line.to_string().contains(KEY), "the key is in no file");
    }
    assert!(!format!("{dn:?}").contains(KEY));
    assert_key_not_logged();
}

#[test]
fn a_bad_key_or_an_unknown_organization_is_a_clear_error() {
    let (base, _) = platform(200);
    let dir = tempfile::tempdir().unwrap();
    let e = dn::Dreadnode::new(config(&base, dir.path()).api_key("wrong")).unwrap_err().to_string();
    assert!(e.contains("rejected the API key") && e.contains(&base), "{e}");
    assert!(!e.contains("wrong") && !e.contains(KEY));
    let (base, _) = platform(404);
    let e = dn::Dreadnode::new(config(&base, dir.path())).unwrap_err().to_string();
    assert!(e.contains("organization \"acme\" was not found"), "{e}");
    let e = dn::Dreadnode::new(config(&base, dir.path()).organization("Acme Corp")).unwrap_err().to_string();
    assert!(e.contains("not a valid key"), "{e}");
    assert_key_not_logged();
}

#[test]
fn an_unreachable_server_warns_and_continues_with_local_files() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let dn = dn::Dreadnode::new(config(&format!("http://127.0.0.1:{port}"), dir.path())).unwrap();
    dn.run("offline").run(|r| r.log_metric("m", 1.0));
    let report = dn.shutdown();
    assert_eq!(common::spans(dir.path()).len(), 1);
    let platform = report.exporters.iter().find(|e| e.name == "dreadnode").unwrap();
    assert_eq!((platform.failed, platform.pending), (0, 1), "pending on disk, counted, not lost: {report:?}");
    assert!(!format!("{report:?}").contains(KEY), "nor in the report's errors");
    let logs = common::logs();
    assert!(logs.contains("could not be reached"), "the user is told: {logs}");
    assert_key_not_logged();
}

#[test]
fn the_local_backend_never_opens_a_connection() {
    let (base, state) = platform(200);
    let dir = tempfile::tempdir().unwrap();
    let dn = dn::Dreadnode::new(config(&base, dir.path()).trace_backend(Some(dn::TraceBackend::Local))).unwrap();
    dn.run("local-only").run(|_| ());
    dn.shutdown();
    assert!(state.lock().unwrap().calls.is_empty());
    assert_eq!(common::spans(dir.path()).len(), 1);
}

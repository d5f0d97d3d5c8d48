//! Real trace backends, from PyPI, on loopback: Arize Phoenix and MLflow
//! (sqlite store). Five examples stream to each as an OpenTelemetry
//! collector; then what the backend stored is read back through its own
//! query API (Phoenix's REST API, MLflow's Python client) and checked: span
//! kinds set (none UNKNOWN for dn span types), inputs and outputs on task
//! spans, sessions listed, the failed task and its failed run in error, the
//! project and service routed by name, GenAI fields on the generation span,
//! and every span of the local files there once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::workspace::{Workspace, step};

/// The Arize Phoenix release the checks run against.
pub const PHOENIX_VERSION: &str = "20.26.1";
/// The MLflow release the checks run against.
pub const MLFLOW_VERSION: &str = "3.17.2";

/// What streams to each backend: kinds (tool, generation, task), sessions,
/// a failing task, a failing run in a second project, bridged spans.
const EXAMPLES: [&str; 5] = ["task_decorator", "sessions", "generation", "tracing_bridge", "runs"];

/// Installs `requirement` into the venv `target/tools/<name>` once (a
/// marker file names the requirement); returns the venv.
pub fn ensure_venv(ws: &Workspace, name: &str, requirement: &str) -> Result<PathBuf, String> {
    let venv = ws.target().join("tools").join(name);
    let marker = venv.join(format!("installed-{}", requirement.replace(['=', '<', '>', ' '], "_")));
    if marker.exists() {
        return Ok(venv);
    }
    eprintln!("xtask: == installing {requirement} into {} (once; cached there)", venv.display());
    step("python3 -m venv", Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    step(
        &format!("pip install {requirement}"),
        Command::new(venv.join("bin/pip")).args(["install", "-q", "--disable-pip-version-check", requirement]),
    )?;
    std::fs::write(&marker, b"").map_err(|e| e.to_string())?;
    Ok(venv)
}

/// A server process group, killed on drop.
struct Server {
    child: Child,
    name: &'static str,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("--").arg(format!("-{}", self.child.id())).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(name: &'static str, mut cmd: Command, dir: &Path, health: &str) -> Result<Server, String> {
        use std::os::unix::process::CommandExt as _;
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .process_group(0)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| format!("{name}: {e}"))?;
        let server = Server { child, name, log };
        let t0 = Instant::now();
        loop {
            if ureq::get(health).call().is_ok() {
                eprintln!("xtask:    {name} up after {:.1} s", t0.elapsed().as_secs_f64());
                return Ok(server);
            }
            if t0.elapsed() > Duration::from_secs(120) {
                return Err(server.failure("did not answer its health check within 120 s"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    fn failure(&self, why: &str) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        format!("{}: {why}; its log ends:\n{}", self.name, tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    }
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

fn get_json(url: &str) -> Result<Value, String> {
    let mut r = ureq::get(url).call().map_err(|e| format!("GET {url}: {e}"))?;
    r.body_mut().read_json().map_err(|e| format!("GET {url}: {e}"))
}

/// Runs the examples with `env` into a fresh local directory; returns the
/// directory and how many span lines they wrote.
fn run_examples(bin_dir: &Path, env: &[(&str, String)]) -> Result<(tempfile::TempDir, Vec<Value>), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    for name in EXAMPLES {
        let ex = crate::examples::example(name).ok_or_else(|| format!("no example {name}"))?;
        let mut env = env.to_vec();
        if name == "generation" {
            env.push(("OTEL_SERVICE_NAME", "support-bot-service".into()));
        }
        crate::examples::run_checked(bin_dir, ex, dir.path(), &env)?;
    }
    let lines = dn_testing::jsonl::spans(dir.path());
    Ok((dir, lines))
}

/// A span Phoenix stored, with its project's name.
type ProjectSpan = (String, Value);

/// Every check that failed, or `Ok`.
#[derive(Default)]
struct Checks {
    failed: Vec<String>,
    passed: usize,
}

impl Checks {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if ok {
            self.passed += 1;
        } else {
            self.failed.push(what());
        }
    }
    fn finish(self, backend: &str) -> Result<(), String> {
        if self.failed.is_empty() {
            eprintln!("xtask:    {backend}: {} checks passed", self.passed);
            Ok(())
        } else {
            Err(format!(
                "{backend}: {} of {} checks failed:\n  {}",
                self.failed.len(),
                self.failed.len() + self.passed,
                self.failed.join("\n  ")
            ))
        }
    }
}

/// `cargo xtask test`'s backend step (the examples must be built).
pub fn run(ws: &Workspace) -> Result<(), String> {
    let phoenix = ensure_venv(ws, "phoenix", &format!("arize-phoenix=={PHOENIX_VERSION}"))?;
    let mlflow = ensure_venv(ws, "mlflow", &format!("mlflow=={MLFLOW_VERSION}"))?;
    let bin_dir = ws.target().join("debug/examples");
    check_phoenix(&phoenix, &bin_dir)?;
    check_mlflow(&mlflow, &bin_dir)
}

fn check_phoenix(venv: &Path, bin_dir: &Path) -> Result<(), String> {
    eprintln!("xtask: == Arize Phoenix {PHOENIX_VERSION}: the examples as a collector sees them");
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port()?;
    let mut cmd = Command::new(venv.join("bin/phoenix"));
    cmd.arg("serve")
        .env("PHOENIX_HOST", "127.0.0.1")
        .env("PHOENIX_PORT", port.to_string())
        .env("PHOENIX_GRPC_PORT", free_port()?.to_string())
        .env("PHOENIX_WORKING_DIR", work.path())
        .env("PHOENIX_TELEMETRY_ENABLED", "false");
    let base = format!("http://127.0.0.1:{port}");
    let server = Server::start("phoenix", cmd, work.path(), &format!("{base}/healthz"))?;
    let env = [("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", format!("{base}/v1/traces"))];
    let (_local, lines) = run_examples(bin_dir, &env)?;

    // Phoenix ingests asynchronously: wait until every span is queryable.
    let read = || -> Result<(Vec<String>, Vec<ProjectSpan>), String> {
        let projects = get_json(&format!("{base}/v1/projects"))?;
        let names: Vec<String> = projects["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(String::from))
            .collect();
        let mut spans = Vec::new();
        for p in &names {
            let got = get_json(&format!("{base}/v1/projects/{p}/spans?limit=1000"))?;
            spans.extend(got["data"].as_array().into_iter().flatten().map(|s| (p.clone(), s.clone())));
        }
        Ok((names, spans))
    };
    let t0 = Instant::now();
    let (names, spans) = loop {
        let got = read()?;
        if got.1.len() >= lines.len() || t0.elapsed() > Duration::from_secs(30) {
            break got;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut c = Checks::default();
    c.check(names.iter().any(|n| n == "default") && names.iter().any(|n| n == "my-project"), || {
        format!("projects routed by dn project name: want default and my-project, got {names:?}")
    });
    c.check(spans.len() == lines.len(), || {
        format!("{} spans stored, {} span lines written locally", spans.len(), lines.len())
    });
    for line in &lines {
        let id = line["span_id"].as_str().unwrap_or_default();
        let found = spans.iter().find(|(_, s)| s["context"]["span_id"] == id);
        c.check(found.is_some(), || format!("span {} ({id}) not stored", line["name"]));
        if let Some((project, s)) = found {
            let want = line["attributes"]["dreadnode.project"].as_str().unwrap_or("default");
            c.check(project == want, || format!("{} is in project {project}, want {want}", line["name"]));
            c.check(s["span_kind"] != "UNKNOWN", || format!("{} has span kind UNKNOWN", line["name"]));
            c.check(s["status_code"] == line["status"], || {
                format!("{}: status {} vs {}", line["name"], s["status_code"], line["status"])
            });
        }
    }
    let span = |name: &str| spans.iter().map(|(_, s)| s).find(|s| s["name"] == name);
    let attr = |name: &str, key: &str| span(name).map(|s| s["attributes"][key].clone()).unwrap_or_default();
    let kind = |name: &str| span(name).map(|s| s["span_kind"].clone()).unwrap_or_default();
    c.check(kind("answer") == "LLM" && kind("word_count") == "TOOL" && kind("classify") == "CHAIN", || {
        format!("kinds: answer {}, word_count {}, classify {}", kind("answer"), kind("word_count"), kind("classify"))
    });
    for (name, input, output) in [
        ("classify", "I want a refund", "billing"),
        ("chat:turn-1", "Hi", "Hello!"),
        ("plan_trip", "Lisbon", "pack sunscreen"),
    ] {
        c.check(attr(name, "input.value") == input && attr(name, "output.value") == output, || {
            format!(
                "{name}: input {} output {}, want {input:?} / {output:?}",
                attr(name, "input.value"),
                attr(name, "output.value")
            )
        });
    }
    let sessions = get_json(&format!("{base}/v1/projects/default/sessions"))?;
    let ids: Vec<&str> =
        sessions["data"].as_array().into_iter().flatten().filter_map(|s| s["session_id"].as_str()).collect();
    for want in ["session_123", "alice", "bob"] {
        c.check(ids.contains(&want), || format!("session {want} not listed (sessions: {ids:?})"));
    }
    for name in ["parse_priority", "load-dataset", "failed-run"] {
        c.check(span(name).is_some_and(|s| s["status_code"] == "ERROR"), || format!("{name} is not in error"));
    }
    c.check(attr("answer", "llm.model_name") == "gpt-4o-mini" && attr("answer", "llm.token_count.total") == 23, || {
        format!(
            "generation: llm.model_name {}, llm.token_count.total {}",
            attr("answer", "llm.model_name"),
            attr("answer", "llm.token_count.total")
        )
    });
    c.check(attr("follow-up", "input.value").as_str().is_some_and(|v| v.contains("And if it does not?")), || {
        format!("opted-in messages as the generation's input: {}", attr("follow-up", "input.value"))
    });
    c.check(attr("answer", "gen_ai.request.model") == "gpt-4o-mini", || {
        "gen_ai.request.model missing on answer".into()
    });
    c.check(
        span("fetch_forecast").is_some_and(|s| {
            s["parent_id"] == span("plan_trip").map(|p| p["context"]["span_id"].clone()).unwrap_or_default()
        }),
        || "the bridged tracing span is not under its task".into(),
    );
    drop(server);
    c.finish("phoenix")
}

/// Reads an experiment's traces with MLflow's own client; prints JSON.
const MLFLOW_QUERY: &str = r#"
import json, sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
out = []
for t in mlflow.search_traces(locations=[sys.argv[2]], return_type="list", max_results=1000):
    tags = dict(t.info.tags)
    for s in t.data.spans:
        attrs = {k: v for k, v in s.attributes.items() if k.startswith(("gen_ai.", "mlflow.chat", "mlflow.llm"))}
        out.append({"trace_status": str(t.info.state), "service": tags.get("service.name"), "span_id": s.span_id,
                    "name": s.name, "span_type": s.span_type, "status": s.status.status_code.name if hasattr(s.status.status_code, "name") else str(s.status.status_code),
                    "inputs": s.inputs, "outputs": s.outputs, "attrs": attrs})
print(json.dumps(out, default=str))
"#;

fn check_mlflow(venv: &Path, bin_dir: &Path) -> Result<(), String> {
    eprintln!("xtask: == MLflow {MLFLOW_VERSION}: the examples as a collector sees them");
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let tmp = work.path().join("tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let mut cmd = Command::new(venv.join("bin/mlflow"));
    cmd.args(["server", "--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
        .arg("--backend-store-uri")
        .arg(format!("sqlite:///{}", work.path().join("mlflow.db").display()))
        .arg("--default-artifact-root")
        .arg(work.path().join("artifacts"))
        .env("MLFLOW_DISABLE_TELEMETRY", "true")
        .env("DO_NOT_TRACK", "true")
        // Its job runner (huey, for GenAI evaluations and scorers, which
        // these checks do not use) keeps its stores in a /dev/shm directory
        // it never removes; and any other temp file goes into this run's
        // own directory.
        .env("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
        .env("TMPDIR", &tmp);
    let base = format!("http://127.0.0.1:{port}");
    let server = Server::start("mlflow", cmd, work.path(), &format!("{base}/health"))?;
    let created: Value = ureq::post(&format!("{base}/api/2.0/mlflow/experiments/create"))
        .send_json(serde_json::json!({"name": "dn-examples"}))
        .map_err(|e| format!("create experiment: {e}"))?
        .body_mut()
        .read_json()
        .map_err(|e| e.to_string())?;
    let experiment = created["experiment_id"].as_str().ok_or("no experiment id")?.to_string();
    let env = [
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", format!("{base}/v1/traces")),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", format!("x-mlflow-experiment-id={experiment}")),
    ];
    let (_local, lines) = run_examples(bin_dir, &env)?;
    let script = work.path().join("query.py");
    std::fs::write(&script, MLFLOW_QUERY).map_err(|e| e.to_string())?;
    let out = Command::new(venv.join("bin/python"))
        .arg(&script)
        .arg(&base)
        .arg(&experiment)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("mlflow query: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let spans: Vec<Value> = serde_json::from_slice(&out.stdout).map_err(|e| format!("mlflow query output: {e}"))?;

    let mut c = Checks::default();
    c.check(spans.len() == lines.len(), || {
        format!("{} spans stored, {} span lines written locally", spans.len(), lines.len())
    });
    for line in &lines {
        let id = line["span_id"].as_str().unwrap_or_default();
        let found = spans.iter().find(|s| s["span_id"] == id);
        c.check(found.is_some(), || format!("span {} ({id}) not stored", line["name"]));
        if let Some(s) = found {
            c.check(!["UNKNOWN", ""].contains(&s["span_type"].as_str().unwrap_or_default()), || {
                format!("{}: span type {}", line["name"], s["span_type"])
            });
        }
    }
    let span = |name: &str| spans.iter().find(|s| s["name"] == name);
    let field = |name: &str, key: &str| span(name).map(|s| s[key].clone()).unwrap_or_default();
    c.check(field("answer", "span_type") == "LLM" && field("word_count", "span_type") == "TOOL", || {
        format!("span types: answer {}, word_count {}", field("answer", "span_type"), field("word_count", "span_type"))
    });
    for (name, input, output) in [("classify", "I want a refund", "billing"), ("chat:turn-1", "Hi", "Hello!")] {
        c.check(field(name, "inputs") == input && field(name, "outputs") == output, || {
            format!("{name}: inputs {} outputs {}", field(name, "inputs"), field(name, "outputs"))
        });
    }
    for name in ["parse_priority", "load-dataset", "failed-run"] {
        c.check(field(name, "status") == "ERROR", || format!("{name}: status {}", field(name, "status")));
    }
    c.check(field("failed-run", "trace_status").as_str().is_some_and(|s| s.contains("ERROR")), || {
        format!("the failed run's trace: {}", field("failed-run", "trace_status"))
    });
    let usage = field("answer", "attrs")["mlflow.chat.tokenUsage"].clone();
    c.check(usage["total_tokens"] == 23 && field("answer", "attrs")["mlflow.llm.model"] == "gpt-4o-mini", || {
        format!("generation: token usage {usage}, attrs {}", field("answer", "attrs"))
    });
    c.check(field("answer", "service") == "support-bot-service" && field("classify", "service") == "dn", || {
        format!("service.name routed: answer {}, classify {}", field("answer", "service"), field("classify", "service"))
    });
    drop(server);
    c.finish("mlflow")
}

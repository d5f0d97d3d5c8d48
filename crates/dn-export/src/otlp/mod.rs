//! OTLP/HTTP delivery (protobuf, gzip) to the Dreadnode platform or any
//! OpenTelemetry collector. Span records become OTel SDK span data
//! ([`crate::otel`]) and OTLP messages (`opentelemetry-proto`, the
//! conversion the OTLP exporter itself uses); delivery is our own because
//! the failure handling needs the HTTP status: retries with backoff that
//! honour `Retry-After` for connection errors, 408, 429 and 5xx; a batch
//! split in two on 413; streaming stopped, with one clear message naming
//! the server, on 401/403; every span that is not delivered counted.
//!
//! Delivery runs on its own thread with a bounded queue, so a slow or
//! absent receiver never delays the local JSONL nor grows memory.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};
use dn_core::{DestinationReport, SpanRecord};
use opentelemetry::InstrumentationScope;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::SpanData;
use parking_lot::Mutex;
use prost::Message as _;

use crate::Exporter;
use crate::resource::Resource;

/// Where and how to deliver.
#[derive(Clone)]
pub struct OtlpConfig {
    /// Full URL of the traces endpoint (e.g. `http://127.0.0.1:4318/v1/traces`).
    pub endpoint: String,
    /// Extra headers (`X-Api-Key`, ...). Values are never logged or printed.
    pub headers: Vec<(String, String)>,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Retries of one batch after a transient failure.
    pub max_retries: u32,
    /// Most spans waiting for delivery; beyond it spans are dropped and counted.
    pub max_queued_spans: usize,
    /// Most spans in one request.
    pub max_batch_spans: usize,
    /// How long `flush` and `shutdown` wait for delivery.
    pub flush_timeout: Duration,
    /// Replaces `dreadnode.project` on the wire (the platform's project UUID).
    pub project_override: Option<String>,
    /// Name in reports (`otlp`, `dreadnode`).
    pub name: &'static str,
}

impl OtlpConfig {
    /// Defaults for `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        OtlpConfig {
            endpoint: endpoint.into(),
            headers: vec![],
            request_timeout: Duration::from_secs(10),
            max_retries: 5,
            max_queued_spans: 65_536,
            max_batch_spans: 512,
            flush_timeout: Duration::from_secs(10),
            project_override: None,
            name: "otlp",
        }
    }
    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }
}

impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers.iter().map(|(k, _)| format!("{k}: <redacted>")).collect::<Vec<_>>())
            .field("max_retries", &self.max_retries)
            .field("max_queued_spans", &self.max_queued_spans)
            .finish_non_exhaustive()
    }
}

enum Msg {
    Batch(Vec<SpanData>),
    Flush(Sender<()>),
    Shutdown(Sender<()>),
}

#[derive(Default)]
struct Shared {
    queued: AtomicUsize,
    exported: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    stopped: AtomicBool,
    warned_full: AtomicBool,
    last_error: Mutex<Option<String>>,
    /// Set while a flush or shutdown waits: retries do not sleep past it.
    deadline: Mutex<Option<Instant>>,
}

impl Shared {
    fn fail(&self, n: usize, error: String) {
        self.failed.fetch_add(n as u64, Ordering::Relaxed);
        *self.last_error.lock() = Some(error);
    }
}

/// An [`Exporter`] delivering spans over OTLP/HTTP from its own thread.
pub struct OtlpExporter {
    tx: Sender<Msg>,
    shared: Arc<Shared>,
    config: OtlpConfig,
    scope: InstrumentationScope,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpExporter").field("config", &self.config).finish_non_exhaustive()
    }
}

impl OtlpExporter {
    /// Starts the delivery thread.
    pub fn new(config: OtlpConfig, resource: &Resource) -> Result<Self, crate::Error> {
        let (tx, rx) = bounded(1024);
        let shared = Arc::new(Shared::default());
        let kvs: Vec<opentelemetry::KeyValue> = resource
            .attributes()
            .iter()
            .map(|(k, v)| opentelemetry::KeyValue::new(*k, crate::otel::to_otel_value(v)))
            .collect();
        let sdk_resource = opentelemetry_sdk::Resource::builder_empty().with_attributes(kvs).build();
        let sender = BatchSender { config: config.clone(), shared: shared.clone(), resource: (&sdk_resource).into() };
        let thread = std::thread::Builder::new()
            .name("dn-otlp".into())
            .spawn(move || sender.run(rx))
            .map_err(crate::Error::ThreadSpawn)?;
        Ok(OtlpExporter { tx, shared, config, scope: crate::otel::scope(), thread: Some(thread) })
    }

    fn wait(&self, make: impl FnOnce(Sender<()>) -> Msg) -> bool {
        let (ack, done) = bounded(1);
        *self.shared.deadline.lock() = Some(Instant::now() + self.config.flush_timeout);
        let ok = self.tx.send(make(ack)).is_ok() && done.recv_timeout(self.config.flush_timeout).is_ok();
        *self.shared.deadline.lock() = None;
        ok
    }
}

impl Exporter for OtlpExporter {
    fn name(&self) -> &'static str {
        self.config.name
    }

    fn export(&mut self, batch: &[SpanRecord]) {
        if self.shared.stopped.load(Ordering::Relaxed) {
            self.shared.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            return;
        }
        for chunk in batch.chunks(self.config.max_batch_spans.max(1)) {
            let queued = self.shared.queued.load(Ordering::Relaxed);
            if queued + chunk.len() > self.config.max_queued_spans {
                self.shared
                    .fail(chunk.len(), format!("delivery queue full ({} spans): receiver too slow or down", queued));
                if !self.shared.warned_full.swap(true, Ordering::Relaxed) {
                    tracing::warn!(target: "dn", "OTLP delivery to {} is behind; spans are dropped and counted (the local files keep everything)", self.config.endpoint);
                }
                continue;
            }
            let spans: Vec<SpanData> = chunk
                .iter()
                .map(|r| crate::otel::to_span_data(r, &self.scope, self.config.project_override.as_deref()))
                .collect();
            self.shared.queued.fetch_add(spans.len(), Ordering::Relaxed);
            if self.tx.send(Msg::Batch(spans)).is_err() {
                self.shared.queued.fetch_sub(chunk.len(), Ordering::Relaxed);
                self.shared.fail(chunk.len(), "delivery thread stopped".into());
            }
        }
    }

    fn flush(&mut self) {
        if !self.wait(Msg::Flush) {
            *self.shared.last_error.lock() = Some(format!("flush gave up after {:?}", self.config.flush_timeout));
        }
    }

    fn shutdown(&mut self) {
        let acked = self.wait(Msg::Shutdown);
        let left = self.shared.queued.swap(0, Ordering::Relaxed);
        if left > 0 {
            self.shared.fail(left, format!("{left} spans not delivered before the shutdown timeout"));
        }
        if acked {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn report(&self) -> DestinationReport {
        DestinationReport {
            name: self.config.name.to_string(),
            exported: self.shared.exported.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
            retried: self.shared.retried.load(Ordering::Relaxed),
            last_error: self.shared.last_error.lock().clone(),
        }
    }
}

/// What one POST came back with.
enum Outcome {
    Delivered,
    /// Retry after the given delay, if any.
    Transient(String, Option<Duration>),
    TooLarge,
    Unauthorized(u16),
    Rejected(String),
}

/// Posts one batch to the destination, with retries and 413 splitting (on the `dn-otlp` thread).
struct BatchSender {
    config: OtlpConfig,
    shared: Arc<Shared>,
    resource: ResourceAttributesWithSchema,
}

impl BatchSender {
    fn run(self, rx: Receiver<Msg>) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(self.config.request_timeout))
            .user_agent(dn_core::user_agent())
            .build()
            .into();
        for msg in rx {
            match msg {
                Msg::Batch(spans) => {
                    let n = spans.len();
                    self.deliver(&agent, spans);
                    self.shared.queued.fetch_sub(n.min(self.shared.queued.load(Ordering::Relaxed)), Ordering::Relaxed);
                }
                Msg::Flush(ack) => {
                    let _ = ack.send(());
                }
                Msg::Shutdown(ack) => {
                    let _ = ack.send(());
                    return;
                }
            }
        }
    }

    fn deliver(&self, agent: &ureq::Agent, spans: Vec<SpanData>) {
        let n = spans.len();
        if n == 0 {
            return;
        }
        let mut attempt = 0;
        loop {
            if self.shared.stopped.load(Ordering::Relaxed) {
                self.shared.failed.fetch_add(n as u64, Ordering::Relaxed);
                return;
            }
            match self.post(agent, &spans) {
                Outcome::Delivered => {
                    self.shared.exported.fetch_add(n as u64, Ordering::Relaxed);
                    return;
                }
                Outcome::TooLarge if n > 1 => {
                    let mut first = spans;
                    let second = first.split_off(n / 2);
                    self.deliver(agent, first);
                    self.deliver(agent, second);
                    return;
                }
                Outcome::TooLarge => {
                    self.shared.fail(
                        1,
                        format!(
                            "{}: a single span is larger than the receiver accepts (HTTP 413)",
                            self.config.endpoint
                        ),
                    );
                    return;
                }
                Outcome::Unauthorized(code) => {
                    if !self.shared.stopped.swap(true, Ordering::Relaxed) {
                        tracing::error!(target: "dn", "{} rejected the credentials (HTTP {code}): OTLP streaming stopped; spans stay in the local files", self.config.endpoint);
                    }
                    self.shared.fail(
                        n,
                        format!("{} rejected the credentials (HTTP {code}); streaming stopped", self.config.endpoint),
                    );
                    return;
                }
                Outcome::Rejected(why) => {
                    self.shared.fail(n, why);
                    return;
                }
                Outcome::Transient(why, retry_after) => {
                    attempt += 1;
                    let backoff =
                        Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(5));
                    let delay = retry_after.unwrap_or(backoff).min(Duration::from_secs(30));
                    let past_deadline = self.shared.deadline.lock().is_some_and(|d| Instant::now() + delay > d);
                    if attempt > self.config.max_retries || past_deadline {
                        self.shared.fail(n, format!("{why} (gave up after {} attempts)", attempt));
                        return;
                    }
                    self.shared.retried.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(delay);
                }
            }
        }
    }

    fn post(&self, agent: &ureq::Agent, spans: &[SpanData]) -> Outcome {
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(spans.to_vec(), &self.resource),
        };
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if gz.write_all(&request.encode_to_vec()).is_err() {
            return Outcome::Rejected("gzip failed".into());
        }
        let body = match gz.finish() {
            Ok(b) => b,
            Err(e) => return Outcome::Rejected(format!("gzip failed: {e}")),
        };
        let mut req = agent
            .post(&self.config.endpoint)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "gzip");
        for (k, v) in &self.config.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let endpoint = &self.config.endpoint;
        match req.send(&body[..]) {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                match status {
                    200..=299 => Outcome::Delivered,
                    401 | 403 => Outcome::Unauthorized(status),
                    413 => Outcome::TooLarge,
                    408 | 429 | 500..=599 => Outcome::Transient(format!("{endpoint}: HTTP {status}"), retry_after),
                    _ => Outcome::Rejected(format!("{endpoint}: HTTP {status}")),
                }
            }
            Err(e) => {
                Outcome::Transient(format!("{endpoint}: {}", sanitize(&e.to_string(), &self.config.headers)), None)
            }
        }
    }
}

/// Removes header values (secrets) from an error message.
fn sanitize(msg: &str, headers: &[(String, String)]) -> String {
    headers.iter().fold(msg.to_string(), |m, (_, v)| if v.is_empty() { m } else { m.replace(v.as_str(), "<redacted>") })
}

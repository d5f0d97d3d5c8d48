//! OTLP/HTTP (protobuf, gzip) to the Dreadnode platform or any OpenTelemetry
//! collector: the destination's settings ([`OtlpConfig`]) and one POST with
//! what it came back with ([`Outcome`]). What is sent is read back from the
//! local JSONL by [`crate::delivery`]; this module only talks HTTP.
//!
//! The failure rules need the HTTP status: connection errors, 408, 429 and
//! 5xx are transient (retried, honouring `Retry-After`); 413 splits the
//! batch; 401/403 stop the destination; any other status is a rejection,
//! reported with the first 200 characters of the receiver's explanation.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

/// Where and how to deliver.
#[derive(Clone)]
pub struct OtlpConfig {
    /// Full URL of the traces endpoint (e.g. `http://127.0.0.1:4318/v1/traces`).
    pub endpoint: String,
    /// Extra headers (`X-Api-Key`, ...). Values are never logged or printed.
    pub headers: Vec<(String, String)>,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Most spans in one request.
    pub max_batch_spans: usize,
    /// Most bytes of JSONL read into one request.
    pub max_batch_bytes: usize,
    /// How long `flush` and `shutdown` wait for delivery.
    pub flush_timeout: Duration,
    /// Replaces `dreadnode.project` on the wire (the platform's project UUID).
    pub project_override: Option<String>,
    /// Name in reports (`otlp`, `dreadnode`).
    pub name: &'static str,
    /// What the spans carry beyond the lines' own attributes.
    pub conventions: Conventions,
}

/// What a destination's spans carry beyond each JSONL line's attributes
/// (`docs/format.md`, "Collector conventions").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Conventions {
    /// Exactly what the line holds: the platform's wire, as the Python SDK's.
    AsWritten,
    /// Also what generic backends read (Arize Phoenix, MLflow, ...):
    /// `openinference.span.kind`, `input.value` / `output.value` with their
    /// mime types, `session.id`, `llm.*` for generations, and the project as
    /// the resource's `openinference.project.name`. The default for
    /// OpenTelemetry collectors.
    #[default]
    Collector,
}

impl OtlpConfig {
    /// Defaults for `endpoint`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        OtlpConfig {
            endpoint: endpoint.into(),
            headers: vec![],
            request_timeout: Duration::from_secs(10),
            max_batch_spans: 1024,
            max_batch_bytes: 4 << 20,
            flush_timeout: Duration::from_secs(10),
            project_override: None,
            name: "otlp",
            conventions: Conventions::Collector,
        }
    }
    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((key.into(), value.into()));
        self
    }
    /// A stable id of this destination (its name and a hash of its endpoint
    /// and project), naming its delivery logs: `otlp-1f2e3d4c5b6a7980`.
    pub fn destination_id(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.endpoint.bytes().chain([0]).chain(self.project_override.iter().flat_map(|p| p.bytes())) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{}-{h:016x}", self.name)
    }
    /// Checks the headers are valid HTTP header values, naming the setting
    /// (never the value) when one is not.
    pub fn validate(&self) -> Result<(), crate::Error> {
        for (k, v) in &self.headers {
            let name_ok = !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            let value_ok = v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
            if !name_ok || !value_ok || v.contains(['\r', '\n']) {
                return Err(crate::Error::Config(format!(
                    "the {} header {k:?} for {} has characters HTTP does not allow in a header; check the setting \
                     that provides it (its value is not shown)",
                    self.name, self.endpoint
                )));
            }
        }
        Ok(())
    }
}

impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint)
            .field("headers", &self.headers.iter().map(|(k, _)| format!("{k}: <redacted>")).collect::<Vec<_>>())
            .field("max_batch_spans", &self.max_batch_spans)
            .finish_non_exhaustive()
    }
}

/// What one POST came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Delivered,
    /// Worth trying again (connection error, 408, 429, 5xx), after the
    /// receiver's `Retry-After` when it gave one.
    Transient(String, Option<Duration>),
    /// 413: the batch is too large; split it.
    TooLarge,
    /// 401/403: the credentials are refused; stop.
    Unauthorized(u16),
    /// Any other status: the receiver will not take these spans. The
    /// message carries the first 200 characters of its explanation.
    Rejected(u16, String),
}

/// Posts OTLP requests to one destination.
pub struct Poster {
    agent: ureq::Agent,
    config: OtlpConfig,
}

impl Poster {
    /// A poster for `config` (no connection is made yet).
    pub fn new(config: OtlpConfig) -> Poster {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.request_timeout))
            .user_agent(dn_core::user_agent())
            .build()
            .into();
        Poster { agent, config }
    }
    /// The destination's settings.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }

    /// Encodes, gzips and posts `request`.
    pub fn post(&self, request: &ExportTraceServiceRequest) -> Outcome {
        match encode(request) {
            Ok(body) => self.post_body(&body),
            Err(e) => Outcome::Transient(format!("gzip failed: {e}"), None),
        }
    }

    /// Posts a body made by [`encode`].
    pub fn post_body(&self, body: &[u8]) -> Outcome {
        let mut req = self
            .agent
            .post(&self.config.endpoint)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "gzip");
        for (k, v) in &self.config.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let endpoint = &self.config.endpoint;
        match req.send(body) {
            Ok(mut resp) => {
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
                    _ => {
                        let mut text = String::new();
                        let _ = resp.body_mut().as_reader().take(4096).read_to_string(&mut text);
                        let excerpt: String = sanitize(&text, &self.config.headers).chars().take(200).collect();
                        Outcome::Rejected(status, format!("{endpoint}: HTTP {status}: {}", excerpt.trim()))
                    }
                }
            }
            Err(e) => {
                Outcome::Transient(format!("{endpoint}: {}", sanitize(&e.to_string(), &self.config.headers)), None)
            }
        }
    }
}

/// The body of a request: protobuf, gzipped.
pub fn encode(request: &ExportTraceServiceRequest) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&request.encode_to_vec())?;
    gz.finish()
}

/// Removes header values (secrets) from a message.
pub fn sanitize(msg: &str, headers: &[(String, String)]) -> String {
    headers.iter().fold(msg.to_string(), |m, (_, v)| if v.is_empty() { m } else { m.replace(v.as_str(), "<redacted>") })
}

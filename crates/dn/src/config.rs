//! Configuration: explicit values > environment > profile file > defaults
//! (`docs/format.md`, "Platform").

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};

/// Where spans go besides the local JSONL files, which are always written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TraceBackend {
    /// Local JSONL only.
    Local,
    /// Local JSONL and OTLP streaming to the platform (needs server, API key
    /// and organization).
    Remote,
}

impl std::str::FromStr for TraceBackend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "local" => Ok(TraceBackend::Local),
            "remote" => Ok(TraceBackend::Remote),
            other => {
                Err(Error::Config(format!("trace backend {other:?} is not one of: local, remote (or unset for auto)")))
            }
        }
    }
}

/// An API key: a [`dn_core::Secret`], so it never appears in `Debug`
/// output, errors, files or logs.
pub type ApiKey = dn_core::Secret;

/// SDK configuration. Unset fields come from `DREADNODE_*` environment
/// variables, then the profile file, then defaults.
///
/// ```no_run
/// dn::configure(dn::Config::new().project("my-project").local_dir("/tmp/dn")).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct Config {
    server: Option<String>,
    api_key: Option<ApiKey>,
    organization: Option<String>,
    workspace: Option<String>,
    project: Option<String>,
    local_dir: Option<PathBuf>,
    trace_backend: Option<TraceBackend>,
    queue_capacity: Option<usize>,
    queue_bytes: Option<usize>,
    queue_full_wait: Option<Duration>,
    shutdown_timeout: Option<Duration>,
    profile_path: Option<PathBuf>,
    otlp_endpoint: Option<String>,
    otlp_headers: Vec<(String, ApiKey)>,
    otlp_timeout: Option<Duration>,
    service_name: Option<String>,
    resource_attributes: Vec<(String, String)>,
    update_interval: Option<Duration>,
    /// `Some(Some(..))`: on with these patterns; `Some(None)`: off.
    scrubbing: Option<Option<dn_core::Scrubbing>>,
    ignore_env: bool,
    #[cfg(all(feature = "otlp", feature = "artifacts"))]
    uploads: Option<dn_artifacts::UploaderConfig>,
}

macro_rules! setter {
    ($(#[$m:meta])* $name:ident: $t:ty) => {
        $(#[$m])*
        pub fn $name(mut self, v: impl Into<$t>) -> Self {
            self.$name = Some(v.into());
            self
        }
    };
}

impl Config {
    /// An empty configuration: everything resolved from env, profile, defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// The configuration the environment describes (all `DREADNODE_*`
    /// and `OTEL_EXPORTER_OTLP_*` variables taken as explicit values).
    pub fn from_env() -> Result<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let trace_backend = match var("DREADNODE_TRACE_BACKEND") {
            Some(v) if v.trim().eq_ignore_ascii_case("auto") => None,
            Some(v) => Some(v.parse().map_err(|e| Error::Config(format!("DREADNODE_TRACE_BACKEND: {e}")))?),
            None => None,
        };
        // The OpenTelemetry environment (docs/configuration.md): the traces
        // variable before the general one; what dn cannot do is an error
        // that names it, never a silent fallback.
        let pair = |k: &str| {
            var(&format!("OTEL_EXPORTER_OTLP_TRACES_{k}")).or_else(|| var(&format!("OTEL_EXPORTER_OTLP_{k}")))
        };
        if let Some(p) = pair("PROTOCOL") {
            if p.trim() != "http/protobuf" {
                return Err(Error::Config(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL={p:?} is not supported: dn sends OTLP over HTTP with protobuf \
                     (http/protobuf); point it at the collector's HTTP port (4318)"
                )));
            }
        }
        let exporter_off = match var("OTEL_TRACES_EXPORTER").map(|e| e.trim().to_ascii_lowercase()) {
            None => false,
            Some(e) if e == "otlp" => false,
            Some(e) if e == "none" => true,
            Some(e) => {
                return Err(Error::Config(format!(
                    "OTEL_TRACES_EXPORTER={e:?} is not supported: dn exports otlp (or none)"
                )));
            }
        };
        if let Some(c) = pair("COMPRESSION") {
            if c.trim() != "gzip" {
                return Err(Error::Config(format!(
                    "OTEL_EXPORTER_OTLP_COMPRESSION={c:?} is not supported: dn always sends gzip"
                )));
            }
        }
        let otlp_timeout = match pair("TIMEOUT") {
            Some(t) => Some(Duration::from_millis(t.trim().parse::<u64>().map_err(|_| {
                Error::Config(format!("OTEL_EXPORTER_OTLP_TIMEOUT={t:?}: expected milliseconds, e.g. 10000"))
            })?)),
            None => None,
        };
        let sdk_disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        let otlp_endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|e| format!("{}/v1/traces", e.trim_end_matches('/'))))
            .filter(|_| !exporter_off && !sdk_disabled);
        let otlp_headers = match pair("HEADERS") {
            Some(h) => parse_otlp_headers(&h)?,
            None => vec![],
        };
        let resource_attributes = match var("OTEL_RESOURCE_ATTRIBUTES") {
            Some(a) => parse_resource_attributes(&a)?,
            None => vec![],
        };
        let service_name = var("OTEL_SERVICE_NAME");
        let scrubbing = match var("DREADNODE_SCRUBBING").map(|v| v.trim().to_ascii_lowercase()) {
            None => None,
            Some(v) if ["1", "true", "on", "yes"].contains(&v.as_str()) => Some(Some(dn_core::Scrubbing::default())),
            Some(v) if ["0", "false", "off", "no"].contains(&v.as_str()) => Some(None),
            Some(v) => {
                return Err(Error::Config(format!("DREADNODE_SCRUBBING={v:?}: expected 1 or 0 (true or false)")));
            }
        };
        Ok(Config {
            scrubbing,
            otlp_endpoint,
            otlp_headers,
            otlp_timeout,
            service_name,
            resource_attributes,
            server: var("DREADNODE_SERVER"),
            api_key: var("DREADNODE_API_KEY").map(ApiKey::new),
            organization: var("DREADNODE_ORGANIZATION"),
            workspace: var("DREADNODE_WORKSPACE"),
            project: var("DREADNODE_PROJECT"),
            local_dir: var("DREADNODE_LOCAL_DIR").map(PathBuf::from),
            trace_backend,
            ..Default::default()
        })
    }
    setter!(/// Platform server URL.
        server: String);
    setter!(/// Organization key.
        organization: String);
    setter!(/// Workspace key.
        workspace: String);
    setter!(/// Default project key for runs.
        project: String);
    setter!(/// Root of the local files (default `$HOME/.dreadnode`).
        local_dir: PathBuf);
    setter!(/// The resource's `service.name` (default: `OTEL_SERVICE_NAME`, else
        /// `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, else `dn`).
        service_name: String);
    setter!(/// Profile file (default `$HOME/.dreadnode/config.yaml`).
        profile_path: PathBuf);
    /// Platform API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }
    /// Backend (`None` = auto).
    pub fn trace_backend(mut self, b: Option<TraceBackend>) -> Self {
        self.trace_backend = b;
        self
    }
    /// Export queue capacity in spans (default 131 072).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = Some(n);
        self
    }
    /// Most bytes of finished spans waiting to be written, across all
    /// threads together and for any one of them (default 32 MiB; a span
    /// weighs about what its line will). A thread that would go over waits
    /// for the writer as for a full queue (`queue_full_wait`). Raise it
    /// when many threads log large values to a slow disk and should not
    /// wait; lower it to bound the memory telemetry takes.
    pub fn queue_bytes(mut self, n: usize) -> Self {
        self.queue_bytes = Some(n);
        self
    }
    /// Longest a thread waits for the local writer when its export buffer is
    /// full (a disk slower than the spans it is given), before the span is
    /// dropped and counted (default 5 s; zero drops at once). The wait keeps
    /// the local log whole when the disk is merely slow; a writer that stays
    /// stuck costs one wait, not one per span. See `docs/reliability.md`.
    pub fn queue_full_wait(mut self, wait: Duration) -> Self {
        self.queue_full_wait = Some(wait);
        self
    }
    /// How long shutdown and exit wait for pending spans (default 10 s).
    pub fn shutdown_timeout(mut self, t: Duration) -> Self {
        self.shutdown_timeout = Some(t);
        self
    }
    /// An OpenTelemetry collector to stream to as well (full traces URL, e.g.
    /// `http://localhost:4318/v1/traces`); needs no Dreadnode API. Default:
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT`
    /// plus `/v1/traces`.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.otlp_endpoint = Some(url.into());
        self
    }
    /// A header for the collector (default: `OTEL_EXPORTER_OTLP_HEADERS`).
    /// Values are treated as secrets.
    pub fn otlp_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.otlp_headers.push((key.into(), ApiKey::new(value)));
        self
    }
    /// How often open runs with new data send an update span (default 5 s;
    /// zero disables automatic updates; `push_update` still works).
    pub fn update_interval(mut self, every: Duration) -> Self {
        self.update_interval = Some(every);
        self
    }
    /// How artifacts and large values are uploaded when the platform gives
    /// storage credentials: concurrency, multipart threshold and part size,
    /// the memory budget for queued values, a progress callback and the
    /// terminal progress bar.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let uploads = dn::UploaderConfig {
    ///     concurrency: 8,
    ///     progress: Some(Arc::new(|ev: &dn::UploadEvent| eprintln!("{ev:?}"))),
    ///     ..Default::default()
    /// };
    /// let config = dn::Config::new().uploads(uploads);
    /// # drop(config);
    /// ```
    #[cfg(all(feature = "otlp", feature = "artifacts"))]
    pub fn uploads(mut self, uploads: dn_artifacts::UploaderConfig) -> Self {
        self.uploads = Some(uploads);
        self
    }
    /// Turns opt-in scrubbing on with these patterns (`Scrubbing::default()`
    /// is the documented set; default: off, or `DREADNODE_SCRUBBING=1`, or
    /// `scrubbing: true` in the profile). The configured API key, collector
    /// header values and storage credentials are scrubbed either way. See
    /// `docs/scrubbing.md`.
    pub fn scrubbing(mut self, scrubbing: dn_core::Scrubbing) -> Self {
        self.scrubbing = Some(Some(scrubbing));
        self
    }
    /// Turns opt-in scrubbing off whatever the environment or profile say
    /// (the configured secrets are still scrubbed).
    pub fn no_scrubbing(mut self) -> Self {
        self.scrubbing = Some(None);
        self
    }
    /// Ignore `DREADNODE_*` variables and the profile (for tests and tools).
    pub fn isolated(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// Resolves every setting and validates the result.
    pub fn resolve(&self) -> Result<Settings> {
        let env = if self.ignore_env { Config::default() } else { Config::from_env()? };
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let profile_path =
            self.profile_path.clone().or_else(|| home.as_ref().map(|h| h.join(".dreadnode/config.yaml")));
        let profile = match (&profile_path, self.ignore_env) {
            (Some(p), false) => Profile::load(p)?,
            _ => Profile::default(),
        };
        let pick = |a: &Option<String>, b: &Option<String>, c: &Option<String>| {
            a.clone().or_else(|| b.clone()).or_else(|| c.clone())
        };
        let server = pick(&self.server, &env.server, &profile.url);
        let api_key = self.api_key.clone().or(env.api_key).or(profile.api_key.map(ApiKey::new));
        let organization = pick(&self.organization, &env.organization, &profile.organization);
        let workspace = pick(&self.workspace, &env.workspace, &profile.workspace);
        let project = pick(&self.project, &env.project, &profile.project).unwrap_or_else(|| "default".to_string());
        dn_core::validate_component("project", &project)?;
        let local_dir = match self.local_dir.clone().or(env.local_dir) {
            Some(d) => d,
            None => home
                .map(|h| h.join(".dreadnode"))
                .ok_or_else(|| Error::Config("no local_dir given and $HOME is not set".into()))?,
        };
        let backend = self.trace_backend.or(env.trace_backend);
        let remote_ready = server.is_some() && api_key.is_some() && organization.is_some();
        let streaming = match backend {
            Some(TraceBackend::Local) => false,
            Some(TraceBackend::Remote) if !remote_ready => {
                let missing: Vec<&str> = [
                    (server.is_none(), "server (DREADNODE_SERVER)"),
                    (api_key.is_none(), "api key (DREADNODE_API_KEY)"),
                    (organization.is_none(), "organization (DREADNODE_ORGANIZATION)"),
                ]
                .iter()
                .filter(|(m, _)| *m)
                .map(|(_, n)| *n)
                .collect();
                return Err(Error::Config(format!("trace backend 'remote' needs {}", missing.join(", "))));
            }
            Some(TraceBackend::Remote) => true,
            None => remote_ready,
        };
        let otlp = match self.otlp_endpoint.clone().or(env.otlp_endpoint) {
            Some(endpoint) => {
                if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                    return Err(Error::Config(format!(
                        "OTLP endpoint {endpoint:?} must be an http:// or https:// URL"
                    )));
                }
                let headers = if self.otlp_headers.is_empty() { env.otlp_headers } else { self.otlp_headers.clone() };
                Some(OtlpDestination { endpoint, headers, timeout: self.otlp_timeout.or(env.otlp_timeout) })
            }
            None => None,
        };
        let mut resource_attributes = if self.resource_attributes.is_empty() {
            env.resource_attributes
        } else {
            self.resource_attributes.clone()
        };
        let from_attributes = resource_attributes.iter().find(|(k, _)| k == "service.name").map(|(_, v)| v.clone());
        let service_name =
            self.service_name.clone().or(env.service_name).or(from_attributes).unwrap_or_else(|| "dn".to_string());
        resource_attributes.retain(|(k, _)| k != "service.name");
        Ok(Settings {
            otlp,
            service_name,
            resource_attributes,
            server,
            api_key,
            organization,
            workspace,
            project,
            local_dir,
            trace_backend: backend,
            streaming,
            queue_capacity: self.queue_capacity.unwrap_or(dn_export::DEFAULT_QUEUE_CAPACITY),
            queue_bytes: self.queue_bytes.unwrap_or(dn_export::DEFAULT_QUEUE_TOTAL_BYTES),
            queue_full_wait: self.queue_full_wait.unwrap_or(dn_export::DEFAULT_FULL_WAIT),
            update_interval: self.update_interval.unwrap_or(Duration::from_secs(5)),
            scrubbing: match (&self.scrubbing, env.scrubbing, profile.scrubbing) {
                (Some(explicit), _, _) => explicit.clone(),
                (None, Some(from_env), _) => from_env,
                (None, None, Some(true)) => Some(dn_core::Scrubbing::default()),
                (None, None, _) => None,
            },
            shutdown_timeout: self.shutdown_timeout.unwrap_or(Duration::from_secs(10)),
            #[cfg(all(feature = "otlp", feature = "artifacts"))]
            uploads: self.uploads.clone().unwrap_or_default(),
        })
    }
}

/// An OpenTelemetry collector to stream to.
#[derive(Clone, Debug)]
pub struct OtlpDestination {
    /// Full traces URL.
    pub endpoint: String,
    /// Headers (values redacted in `Debug`).
    pub headers: Vec<(String, ApiKey)>,
    /// How long one request may take (`OTEL_EXPORTER_OTLP_TIMEOUT`; default 10 s).
    pub timeout: Option<Duration>,
}

/// The resolved configuration of an instance.
#[derive(Clone, Debug)]
pub struct Settings {
    /// A collector to stream to besides the platform (from `Config` or `OTEL_EXPORTER_OTLP_*`).
    pub otlp: Option<OtlpDestination>,
    /// The resource's `service.name`.
    pub service_name: String,
    /// Further resource attributes (`OTEL_RESOURCE_ATTRIBUTES`, `service.name` taken out).
    pub resource_attributes: Vec<(String, String)>,
    /// Platform server.
    pub server: Option<String>,
    /// API key (redacted in `Debug`).
    pub api_key: Option<ApiKey>,
    /// Organization.
    pub organization: Option<String>,
    /// Workspace.
    pub workspace: Option<String>,
    /// Default project.
    pub project: String,
    /// Root of the local files.
    pub local_dir: PathBuf,
    /// Requested backend (`None` = auto).
    pub trace_backend: Option<TraceBackend>,
    /// Whether OTLP streaming is on after resolution.
    pub streaming: bool,
    /// Export queue capacity.
    pub queue_capacity: usize,
    /// Most bytes of spans waiting, across all threads and for each.
    pub queue_bytes: usize,
    /// Longest a producer waits for room in a full export buffer.
    pub queue_full_wait: Duration,
    /// Shutdown wait.
    pub shutdown_timeout: Duration,
    /// Automatic run updates (zero: off).
    pub update_interval: Duration,
    /// Opt-in scrubbing, when on (`docs/scrubbing.md`).
    pub scrubbing: Option<dn_core::Scrubbing>,
    /// Upload settings (used when the platform gives storage credentials).
    #[cfg(all(feature = "otlp", feature = "artifacts"))]
    pub uploads: dn_artifacts::UploaderConfig,
}

/// `k1=v1,k2=v2` with percent-encoded values (the OTel spec's format).
pub(crate) fn parse_otlp_headers(s: &str) -> Result<Vec<(String, ApiKey)>> {
    let mut out = vec![];
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            Error::Config("OTEL_EXPORTER_OTLP_HEADERS: expected key=value pairs separated by commas".into())
        })?;
        out.push((k.trim().to_string(), ApiKey::new(percent_decode(v.trim()))));
    }
    Ok(out)
}

/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas,
/// values percent-decoded.
fn parse_resource_attributes(s: &str) -> Result<Vec<(String, String)>> {
    let mut out = vec![];
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            Error::Config(format!(
                "OTEL_RESOURCE_ATTRIBUTES: expected key=value pairs separated by commas, got {:?}",
                dn_core::excerpt(pair)
            ))
        })?;
        out.push((k.trim().to_string(), percent_decode(v.trim())));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'%' && i + 3 <= b.len())
            .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()))
            .flatten();
        match hex {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The active server profile of the Python CLI's `config.yaml`.
#[derive(Default)]
struct Profile {
    url: Option<String>,
    api_key: Option<String>,
    organization: Option<String>,
    workspace: Option<String>,
    project: Option<String>,
    scrubbing: Option<bool>,
}

#[derive(Deserialize)]
struct ProfileFile {
    active: Option<String>,
    #[serde(default)]
    servers: std::collections::BTreeMap<String, ProfileServer>,
}

#[derive(Deserialize)]
struct ProfileServer {
    url: Option<String>,
    api_key: Option<String>,
    default_organization: Option<String>,
    default_workspace: Option<String>,
    default_project: Option<String>,
    #[serde(default)]
    scrubbing: Option<bool>,
}

impl Profile {
    fn load(path: &Path) -> Result<Profile> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Profile::default()),
            Err(e) => return Err(Error::Profile { path: path.to_path_buf(), message: e.to_string() }),
        };
        if text.trim().is_empty() {
            return Ok(Profile::default());
        }
        let file: ProfileFile = serde_yaml::from_str(&text)
            // serde_yaml errors quote positions, not values, so no key can leak here.
            .map_err(|e| Error::Profile { path: path.to_path_buf(), message: e.to_string() })?;
        let Some(active) = file.active else { return Ok(Profile::default()) };
        let Some(s) = file.servers.get(&active) else {
            return Err(Error::Profile {
                path: path.to_path_buf(),
                message: format!("active profile {active:?} is not listed under servers"),
            });
        };
        Ok(Profile {
            url: s.url.clone(),
            api_key: s.api_key.clone(),
            organization: s.default_organization.clone(),
            workspace: s.default_workspace.clone(),
            project: s.default_project.clone(),
            scrubbing: s.scrubbing,
        })
    }
}

impl Settings {
    /// The secrets the always-on scrubbing replaces: the API key and the
    /// collector's header values (storage credentials join when fetched).
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self.api_key.iter().map(|k| k.expose().to_string()).collect();
        if let Some(o) = &self.otlp {
            out.extend(o.headers.iter().map(|(_, v)| v.expose().to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_bytes_defaults_to_the_pipeline_s_shared_bound_and_is_carried_to_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let base = || Config::new().isolated().local_dir(dir.path());
        assert_eq!(base().resolve().unwrap().queue_bytes, dn_export::DEFAULT_QUEUE_TOTAL_BYTES);
        assert_eq!(base().queue_bytes(1 << 20).resolve().unwrap().queue_bytes, 1 << 20);
    }

    #[test]
    fn otlp_headers_parse_the_otel_format() {
        let h = parse_otlp_headers("api-key=abc%20def, x-tenant = t1,").unwrap();
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].0, "api-key");
        assert_eq!(h[0].1.expose(), "abc def");
        assert_eq!(h[1].1.expose(), "t1");
        assert!(parse_otlp_headers("no-equals-sign").is_err());
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn an_otlp_endpoint_must_be_http() {
        let e = Config::new().isolated().local_dir("/tmp").otlp_endpoint("localhost:4318").resolve().unwrap_err();
        assert!(e.to_string().contains("http"), "{e}");
        let s = Config::new()
            .isolated()
            .local_dir("/tmp")
            .otlp_endpoint("http://127.0.0.1:4318/v1/traces")
            .otlp_header("k", "secret-v")
            .resolve()
            .unwrap();
        assert!(!format!("{s:?}").contains("secret-v"));
    }
}

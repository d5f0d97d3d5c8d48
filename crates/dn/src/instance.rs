//! The SDK instance: a tracer wired to the export pipeline, and the global
//! one behind the free functions.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dn_core::{ExportReport, TaskSpan, Tracer};
use dn_export::{ExportPipeline, JsonlExporter, Resource, RunUpdater};

use crate::config::{Config, Settings};
use crate::error::{Error, Result};

/// A configured SDK instance. Cheap to clone. Dropping the last clone flushes
/// and stops the export thread (bounded by the shutdown timeout).
#[derive(Clone)]
pub struct Dreadnode {
    inner: Arc<Inner>,
}

/// Remote storage for artifacts and large values, when the platform gave
/// storage credentials.
#[cfg(all(feature = "otlp", feature = "artifacts"))]
pub(crate) type Storage = Option<Arc<dn_artifacts::Uploader>>;
/// Remote storage needs the `otlp` and `artifacts` features.
#[cfg(not(all(feature = "otlp", feature = "artifacts")))]
pub(crate) type Storage = ();

struct Inner {
    tracer: Tracer,
    #[cfg_attr(not(all(feature = "otlp", feature = "artifacts")), allow(dead_code))]
    storage: Storage,
    settings: Option<Settings>,
    shut_down: AtomicBool,
    shutdown_timeout: Duration,
    updater: Option<RunUpdater>,
}

impl std::fmt::Debug for Dreadnode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dreadnode").field("settings", &self.inner.settings).finish()
    }
}

impl Dreadnode {
    /// Builds an instance from `config` (resolving env, profile, defaults),
    /// creating the local directory and starting the export thread.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let dn = dn::Dreadnode::new(dn::Config::new().local_dir(dir.path()).isolated()).unwrap();
    /// dn.run("experiment").run(|run| run.log_metric("accuracy", 0.9));
    /// assert!(dn.shutdown().is_clean());
    /// ```
    pub fn new(config: Config) -> Result<Dreadnode> {
        Self::build(config, false)
    }

    /// The global instance, which lives as long as the process: its tracer
    /// is kept for good (`Tracer::into_static`) from the start, so spans
    /// touch no reference count for it. Its writer still stops at shutdown
    /// (the exit hook, or `Inner`'s drop should `configure` lose a race).
    fn new_global(config: Config) -> Result<Dreadnode> {
        Self::build(config, true)
    }

    fn build(config: Config, global: bool) -> Result<Dreadnode> {
        let settings = config.resolve()?;
        let resource = Resource::detect(&settings.service_name).with_attributes(&settings.resource_attributes);
        let mut jsonl = JsonlExporter::new(&settings.local_dir, &resource)?;
        let mut builder = ExportPipeline::builder()
            .queue_capacity(settings.queue_capacity)
            .queue_bytes(settings.queue_bytes)
            .queue_total_bytes(settings.queue_bytes)
            .full_wait(settings.queue_full_wait);
        // Scrubbing (docs/scrubbing.md): the configured secrets always, the
        // opt-in patterns when asked; storage credentials join when fetched.
        let scrubber = Arc::new(dn_core::Scrubber::new(settings.secrets(), settings.scrubbing.clone()));
        let (destinations, storage) = start_destinations(&settings, &scrubber)?;
        for d in destinations {
            jsonl = jsonl.notify(d.clone());
            builder = builder.destination(d);
        }
        let pipeline = builder.exporter(jsonl).build()?;
        let tracer = Tracer::with_sink(Arc::new(pipeline), &settings.project)?;
        let tracer = if global { tracer.into_static() } else { tracer };
        if scrubber.has_work() {
            tracer.set_scrubber(scrubber);
        }
        #[cfg(all(feature = "otlp", feature = "artifacts"))]
        if let Some(u) = &storage {
            tracer.set_value_offload(u.clone());
        }
        let updater = RunUpdater::start(tracer.clone(), settings.update_interval);
        Ok(Dreadnode {
            inner: Arc::new(Inner {
                tracer,
                storage,
                updater,
                shutdown_timeout: settings.shutdown_timeout,
                settings: Some(settings),
                shut_down: AtomicBool::new(false),
            }),
        })
    }

    /// An instance that records nothing (every span is counted as dropped).
    pub fn disabled() -> Dreadnode {
        Dreadnode {
            inner: Arc::new(Inner {
                tracer: Tracer::disabled(),
                storage: Storage::default(),
                settings: None,
                shut_down: AtomicBool::new(false),
                shutdown_timeout: Duration::from_secs(1),
                updater: None,
            }),
        }
    }

    /// The tracer (span builders live there).
    pub fn tracer(&self) -> &Tracer {
        &self.inner.tracer
    }
    /// The resolved settings (`None` for a disabled instance).
    pub fn settings(&self) -> Option<&Settings> {
        self.inner.settings.as_ref()
    }
    /// Starts building a run.
    pub fn run(&self, name: impl Into<dn_core::SharedStr>) -> dn_core::RunBuilder {
        self.inner.tracer.run(name)
    }
    /// Starts building a task span.
    pub fn task_span(&self, name: impl Into<dn_core::SharedStr>) -> dn_core::TaskSpanBuilder {
        self.inner.tracer.task_span(name)
    }
    /// Starts building a light span.
    pub fn span(&self, name: impl Into<dn_core::SharedStr>) -> dn_core::SpanBuilder {
        self.inner.tracer.span(name)
    }
    /// Starts building `task_and_run`.
    pub fn task_and_run(&self, name: impl Into<dn_core::SharedStr>) -> dn_core::TaskAndRunBuilder {
        self.inner.tracer.task_and_run(name)
    }

    /// Continues a task of another process (see [`crate::continue_task`]).
    pub fn continue_task(&self, ctx: &dn_core::TaskContext) -> Result<dn_core::TaskSpanBuilder> {
        Ok(self.inner.tracer.continue_task(ctx)?)
    }

    /// The context of the current task (see [`crate::task_context`]).
    pub fn task_context(&self) -> Result<dn_core::TaskContext> {
        Ok(dn_core::task_context()?)
    }

    /// The JSONL file a task's spans are written to.
    pub fn spans_file(&self, task: &TaskSpan) -> Result<PathBuf> {
        let root = self.settings().map(|s| s.local_dir.clone()).unwrap_or_default();
        Ok(root.join(JsonlExporter::route_path(&task.route())?))
    }

    /// Writes every finished span and waits for queued uploads, at most
    /// the shutdown timeout for each. Upload counts appear as the
    /// `artifacts` exporter of the report.
    pub fn flush(&self) -> ExportReport {
        let mut report = self.inner.tracer.flush(self.inner.shutdown_timeout);
        self.inner.add_uploads(&mut report, self.inner.shutdown_timeout, false);
        report
    }

    /// What the uploads to remote storage did so far; `None` when there is
    /// no remote storage (local only, or no storage credentials).
    #[cfg(all(feature = "otlp", feature = "artifacts"))]
    pub fn upload_report(&self) -> Option<dn_artifacts::UploadReport> {
        self.inner.storage.as_ref().map(|u| u.report())
    }

    /// The uploader, when remote storage is available.
    #[cfg(all(feature = "otlp", feature = "artifacts"))]
    pub(crate) fn uploader(&self) -> Option<&dn_artifacts::Uploader> {
        self.inner.storage.as_deref()
    }

    /// Ends open spans (keeping their data), flushes and stops exporting.
    /// Later calls return the final report again.
    pub fn shutdown(&self) -> ExportReport {
        self.inner.shutdown()
    }
}

impl Inner {
    fn shutdown(&self) -> ExportReport {
        let first = !self.shut_down.swap(true, Ordering::SeqCst);
        if let Some(u) = &self.updater {
            u.stop();
        }
        let mut report = if first {
            self.tracer.shutdown(self.shutdown_timeout)
        } else {
            self.tracer.flush(Duration::from_millis(1))
        };
        let wait = if first { self.shutdown_timeout } else { Duration::from_millis(1) };
        self.add_uploads(&mut report, wait, first);
        if first && !report.is_clean() {
            tracing::warn!(target: "dn", "dn shutdown: {} span(s) dropped, timed out: {}", report.dropped(), report.timed_out);
        }
        report
    }

    /// Waits for queued uploads (stopping the uploader when `stop`) and adds
    /// their counts to `report` as the `artifacts` exporter.
    #[cfg(all(feature = "otlp", feature = "artifacts"))]
    fn add_uploads(&self, report: &mut ExportReport, wait: Duration, stop: bool) {
        let Some(u) = &self.storage else { return };
        let r = if stop { u.shutdown(wait) } else { u.flush(wait) };
        report.timed_out |= r.pending > 0;
        report.exporters.push(dn_core::DestinationReport {
            name: "artifacts".into(),
            exported: r.uploaded + r.already_present,
            failed: r.failed,
            retried: r.credential_refreshes,
            pending: r.pending,
            last_error: r.errors.last().cloned(),
            ..Default::default()
        });
    }
    #[cfg(not(all(feature = "otlp", feature = "artifacts")))]
    fn add_uploads(&self, _report: &mut ExportReport, _wait: Duration, _stop: bool) {}
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Starts the remote destinations the settings name (each delivering from
/// the local files on its own thread) and, for the platform, its storage.
#[cfg(feature = "otlp")]
fn start_destinations(
    settings: &Settings,
    scrubber: &Arc<dn_core::Scrubber>,
) -> Result<(Vec<Arc<dyn dn_export::Destination>>, Storage)> {
    let resolved = crate::destinations::resolve(settings)?;
    let mut out: Vec<Arc<dyn dn_export::Destination>> = Vec::new();
    for c in resolved.otlp {
        out.push(dn_export::delivery::OtlpExporter::new(c, &settings.local_dir)?);
    }
    // `Storage` is `()` without the `artifacts` feature.
    #[allow(clippy::let_unit_value)]
    let storage = match &resolved.platform {
        Some(scope) => start_storage(settings, scope, scrubber),
        None => Storage::default(),
    };
    Ok((out, storage))
}

#[cfg(not(feature = "otlp"))]
fn start_destinations(
    settings: &Settings,
    _scrubber: &Arc<dn_core::Scrubber>,
) -> Result<(Vec<Arc<dyn dn_export::Destination>>, Storage)> {
    if let Some(dest) = &settings.otlp {
        return Err(Error::Config(format!(
            "an OTLP endpoint is configured ({}) but dn was built without the `otlp` feature",
            dest.endpoint
        )));
    }
    if settings.streaming {
        return Err(Error::Config(format!(
            "remote streaming to {} is configured but dn was built without the `otlp` feature",
            settings.server.as_deref().unwrap_or("?")
        )));
    }
    Ok((Vec::new(), Storage::default()))
}

/// Starts the uploader with the platform's storage credentials; without
/// them, says once that artifacts and large values stay local.
#[cfg(all(feature = "otlp", feature = "artifacts"))]
fn start_storage(
    settings: &Settings,
    scope: &dn_export::platform::PlatformScope,
    scrubber: &Arc<dn_core::Scrubber>,
) -> Storage {
    match crate::destinations::start_uploader_scrubbed(settings, scope, Some(scrubber.clone())) {
        Ok(u) => Some(Arc::new(u)),
        Err(why) => {
            tracing::warn!(target: "dn", "artifacts and large values stay local (no remote storage): {why}");
            None
        }
    }
}

#[cfg(all(feature = "otlp", not(feature = "artifacts")))]
fn start_storage(
    _settings: &Settings,
    _scope: &dn_export::platform::PlatformScope,
    _scrubber: &Arc<dn_core::Scrubber>,
) -> Storage {
}

// ---------------------------------------------------------------------------
// The global instance
// ---------------------------------------------------------------------------

static GLOBAL: OnceLock<Dreadnode> = OnceLock::new();

/// Configures the global instance. Call it once, before creating spans;
/// without it, the first use configures from the environment.
///
/// ```no_run
/// dn::configure(dn::Config::new().project("my-project")).unwrap();
/// ```
pub fn configure(config: Config) -> Result<()> {
    if GLOBAL.get().is_some() {
        return Err(Error::AlreadyConfigured);
    }
    let instance = Dreadnode::new_global(config)?;
    GLOBAL.set(instance).map_err(|_| Error::AlreadyConfigured)?;
    register_exit_hook();
    Ok(())
}

/// The global instance, configured from the environment on first use. If
/// that fails, the error is logged and spans are counted as dropped.
pub fn instance() -> &'static Dreadnode {
    GLOBAL.get_or_init(|| {
        register_exit_hook();
        Dreadnode::new_global(Config::new()).unwrap_or_else(|e| {
            tracing::error!(target: "dn", "dn could not configure itself from the environment: {e}; no spans will be recorded");
            Dreadnode::disabled()
        })
    })
}

/// Writes every finished span of the global instance.
pub fn flush() -> ExportReport {
    instance().flush()
}

/// Ends open spans, flushes and stops the global instance.
pub fn shutdown() -> ExportReport {
    instance().shutdown()
}

fn register_exit_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        extern "C" fn on_exit() {
            if let Some(i) = GLOBAL.get() {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| i.inner.shutdown()));
            }
        }
        // SAFETY: `on_exit` is a plain `extern "C" fn` with no arguments that
        // catches every panic; registering it has no other precondition.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::atexit(on_exit) };
        if rc != 0 {
            tracing::warn!(target: "dn", "could not register the exit hook; call dn::shutdown() before exiting");
        }
    });
}

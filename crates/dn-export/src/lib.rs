//! # dn-export
//!
//! Everything after a `dn` span ends: the bounded queue and the background
//! writer thread ([`ExportPipeline`]), the local [`JsonlExporter`] — the
//! write-ahead log — and (feature `otlp`) delivery from it to the platform
//! or any OpenTelemetry collector (`delivery`, `otlp`), after the fact too
//! (`delivery::sync`, used by `dn sync`).

mod appending;
#[cfg(feature = "otlp")]
pub mod delivery;
mod error;
mod fs_side;
#[allow(unsafe_code)] // a lock: see its SAFETY comments
mod handoff;
mod jsonl;
#[cfg(feature = "otlp")]
pub mod otlp;
mod pipeline;
#[cfg(feature = "otlp")]
pub mod platform;
mod rel_path;
mod resource;
mod updates;

pub use appending::append_lines;
pub use error::Error;
pub use jsonl::{
    DEFAULT_MAX_OPEN_FILES, FormattedLines, JsonlExporter, LineFormatter, LineMark, resource_json, write_line,
};
pub use pipeline::{
    DEFAULT_FULL_WAIT, DEFAULT_PRODUCER_FORMAT_AT, DEFAULT_PRODUCER_RENDER_AT, DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_CAPACITY, DEFAULT_QUEUE_TOTAL_BYTES, ExportPipeline, ExportPipelineBuilder, MAX_BATCH,
};
pub use resource::{OTEL_SDK_VERSION, Resource};
pub use updates::RunUpdater;

use std::path::Path;
use std::time::Duration;

use dn_core::{DestinationReport, SpanRecord};

/// A remote destination fed by the JSONL exporter: it is told which byte
/// ranges were appended to which file, and delivers them from disk on its
/// own thread (see `delivery::OtlpExporter`). Flush and shutdown wait for it
/// on the caller's thread, never on the writer's.
pub trait Destination: Send + Sync + 'static {
    /// The JSONL exporter appended `[start, end)` (`spans` whole lines) to
    /// `file` (relative to the local directory). Must return at once.
    fn written(&self, file: &Path, start: u64, end: u64, spans: u64);
    /// Waits until everything written so far is delivered (or settled),
    /// at most `timeout`; whether it got there.
    fn wait_idle(&self, timeout: Duration) -> bool;
    /// Waits like [`Destination::wait_idle`], then stops; what is left
    /// stays pending on disk.
    fn shutdown(&self, timeout: Duration);
    /// Counts so far.
    fn report(&self) -> DestinationReport;
    /// The directory this exporter writes the local JSONL layout to, if it
    /// does (the pipeline passes it on as [`dn_core::SpanSink::local_root`]).
    fn local_root(&self) -> Option<&std::path::Path> {
        None
    }
}

/// One destination of finished records, driven by the writer thread. Calls
/// are never concurrent. An exporter counts its own successes and failures.
pub trait Exporter: Send + 'static {
    /// Short name used in reports (`jsonl`, `otlp`).
    fn name(&self) -> &'static str;
    /// Exports a batch; failures are counted, not returned.
    fn export(&mut self, batch: &[SpanRecord]);
    /// Makes everything exported so far durable or delivered.
    fn flush(&mut self);
    /// Releases resources; no export follows.
    fn shutdown(&mut self);
    /// Counts so far.
    fn report(&self) -> DestinationReport;
    /// The directory this exporter writes the local JSONL layout to, if it
    /// does (the pipeline passes it on as [`dn_core::SpanSink::local_root`]).
    fn local_root(&self) -> Option<&std::path::Path> {
        None
    }
    /// The resource JSON this exporter puts in every line, when its lines
    /// are [`write_line`]'s (the [`JsonlExporter`]). The pipeline then has
    /// producer threads format light spans' lines themselves while the
    /// writer is behind (see [`ExportPipelineBuilder::producer_format_at`])
    /// and hands them to this exporter through
    /// [`Exporter::export_formatted`].
    fn line_resource(&self) -> Option<std::sync::Arc<str>> {
        None
    }
    /// [`Exporter::export`], with the lines of some records of `batch`
    /// already formatted (as [`write_line`] with [`Exporter::line_resource`]
    /// formats them). Called only on an exporter that gave a line resource.
    fn export_formatted(&mut self, batch: &[SpanRecord], lines: FormattedLines<'_>) {
        let _ = lines;
        self.export(batch);
    }
}

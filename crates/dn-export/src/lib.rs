//! # dn-export
//!
//! Everything after a `dn` span ends: the bounded queue and the background
//! writer thread ([`ExportPipeline`]), the local [`JsonlExporter`], and the
//! conversion of records to OpenTelemetry span data ([`otel`]), and (feature
//! `otlp`) OTLP/HTTP delivery to the platform or any collector.

mod error;
mod jsonl;
#[cfg(feature = "otlp")]
pub mod otel;
#[cfg(feature = "otlp")]
pub mod otlp;
mod pipeline;
#[cfg(feature = "otlp")]
pub mod platform;
mod resource;
mod updates;

pub use error::Error;
pub use jsonl::{DEFAULT_MAX_OPEN_FILES, JsonlExporter, write_line};
pub use pipeline::{DEFAULT_QUEUE_CAPACITY, ExportPipeline, ExportPipelineBuilder, MAX_BATCH};
pub use resource::{OTEL_SDK_VERSION, Resource};
pub use updates::RunUpdater;

use dn_core::{DestinationReport, SpanRecord};

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
}

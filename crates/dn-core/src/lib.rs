//! # dn-core
//!
//! The span model of `dn`, the Rust SDK for Dreadnode-style experiment
//! tracing: ids, [`TaskSpan`] and light spans, objects and their hashes,
//! metrics, the current-context machinery, and the [`SpanSink`] trait that
//! receives finished [`SpanRecord`]s. It knows nothing of files, HTTP or
//! OpenTelemetry types; those live in `dn-export`.
//!
//! Most users want the `dn` facade crate instead.
//!
//! ```
//! use dn_core::{MemorySink, Tracer};
//! let sink = MemorySink::new();
//! let tracer = Tracer::new(sink.clone(), "default").unwrap();
//! let run = tracer.run("experiment-1").enter();
//! tracer.task_span("data-prep").run(|task| {
//!     task.log_input("rows", 250);
//!     task.log_metric("latency_ms", dn_core::Metric::new(112).step(1));
//! });
//! drop(run);
//! assert_eq!(sink.take().len(), 2);
//! ```

mod error;
pub mod model;
pub mod runtime;

// Short paths inside the crate (`crate::record`, `crate::task`, ..): each
// module has one home, in `model` or `runtime`.
use model::{
    attrs, bigint, capture, clean, generation, ids, line, metric, object, readback, record, scrub, smallmap, task_data,
    text, time, update,
};
use runtime::{builders, context, scope, sink, span, task, tracer, warn};

pub use model::{file_limit, json, layout};

pub use error::Error;
pub use model::attrs::{AttrValue, GEN_AI_SEMCONV_VERSION, LEVEL_NUM_ERROR, SpanType, VERSION, keys, user_agent};
pub use model::clean::{
    MAX_ECHO_CHARS, MAX_NAME_LEN, clean_str, clean_tags, excerpt, normalize_path, validate_component,
};
pub use model::generation::Generation;
pub use model::ids::{SpanId, TraceId, generated_run_name, new_run_id, new_task_id};
pub use model::line::{LineStrings, SpanLine};
pub use model::metric::{Aggregation, Metric, MetricPoint, MetricSeries, Step};
pub use model::object::{
    BigInt, CapturedValue, Hash16, LoggedValue, OFFLOAD_THRESHOLD, SerializedValue, ValueOffload, composite_hash,
    serialize, unhashed_value_hash, unknown_object,
};
pub use model::readback::{TaskInputs, TaskView};
pub use model::record::{
    AttrKey, AttrRef, Event, Key, LightLineKey, RecordKind, Route, SpanRecord, Status, TASK_GROUP_KEYS, TaskGroups,
    TaskLineKey,
};
pub use model::scrub::{CONFIGURED_SECRET, KeepCallback, ScrubMatch, Scrubber, Scrubbing, marker as scrub_marker};
pub use model::secret::Secret;
pub use model::smallmap::SmallMap;
pub use model::task_data::{
    EMPTY_TASK_GROUPS, ObjectHashes, ObjectRef, ObjectRefs, RefOptions, RenderedTask, Side, StoredObject, StoredValue,
    TaskData,
};
pub use model::text::SharedStr;
pub use model::time::Timestamp;
pub use model::update::UpdateMark;
pub use runtime::builders::{RunBuilder, TaskAndRunBuilder, TaskFuture, TaskGuard, TaskScope, TaskSpanBuilder};
pub use runtime::context::{
    Context, ContextExt, ContextGuard, SpanLink, WithContext, bind_session_id, current_run, current_session_id,
    current_task, try_bind_session_id, try_with_session_id, with_current_task, with_session_id,
};
pub use runtime::distributed::{
    Extractor, Injector, RemoteParent, TRACEPARENT, TRACESTATE, TaskContext, TraceContext, TraceParent, extract,
    inject, task_context, validate_tracestate,
};
pub use runtime::recycle::{
    DEFER_AT_MOST, prefetch_for_write, recycle_records, recycled_bytes, render_task_groups, trim_recycled,
};
pub use runtime::scope::{Instrumented, Scope, panic_message};
pub use runtime::sink::{DestinationReport, ExportReport, MemorySink, NullSink, SpanSink};
pub use runtime::span::{LightSpan, SpanBuilder, SpanFuture, SpanGuard};
pub use runtime::task::TaskSpan;
pub use runtime::tracer::Tracer;
pub use runtime::warn::WarnLimit;

/// Renamed to [`CapturedValue`].
#[deprecated(since = "0.2.0", note = "renamed to CapturedValue")]
pub type ObjValue = CapturedValue;
/// Renamed to [`SerializedValue`].
#[deprecated(since = "0.2.0", note = "renamed to SerializedValue")]
pub type SerializedObject = SerializedValue;
/// Renamed to [`StoredValue`].
#[deprecated(since = "0.2.0", note = "renamed to StoredValue")]
pub type ObjectValue = StoredValue;
/// Renamed to [`RefOptions`].
#[deprecated(since = "0.2.0", note = "renamed to RefOptions")]
pub type ObjectMeta = RefOptions;
/// Renamed to [`DestinationReport`].
#[deprecated(since = "0.2.0", note = "renamed to DestinationReport")]
pub type ExporterReport = DestinationReport;

/// `Result` of span-model operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

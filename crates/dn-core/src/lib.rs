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
//! let run = tracer.run("experiment-1").enter().unwrap();
//! tracer.task_span("data-prep").run(|task| {
//!     task.log_input("rows", &250).unwrap();
//!     task.log_metric("latency_ms", dn_core::Metric::new(112).step(1)).unwrap();
//! });
//! drop(run);
//! assert_eq!(sink.take().len(), 2);
//! ```

mod attrs;
mod clean;
mod context;
mod distributed;
mod error;
mod ids;
pub mod json;
mod metric;
mod object;
mod record;
mod scope;
mod secret;
mod sink;
mod smallmap;
mod span;
mod task;
mod text;
mod time;
mod tracer;

pub use attrs::{AttrValue, LEVEL_NUM_ERROR, SpanType, keys, user_agent};
pub use clean::{MAX_NAME_LEN, clean_str, clean_tags, validate_component};
pub use context::{
    Context, ContextExt, ContextGuard, SpanLink, WithContext, bind_session_id, current_run, current_session_id,
    current_task, with_session_id,
};
pub use distributed::{
    Extractor, Injector, RemoteParent, TRACEPARENT, TRACESTATE, TaskContext, TraceContext, TraceParent, extract,
    inject, task_context, validate_tracestate,
};
pub use error::Error;
pub use ids::{SpanId, TraceId, generated_run_name, new_run_id, new_task_id};
pub use metric::{Aggregation, MetricSeries};
pub use object::{
    Hash16, OFFLOAD_THRESHOLD, ObjValue, SerializedObject, ValueOffload, composite_hash, serialize, unknown_object,
};
pub use record::{
    AttrRef, Event, Key, ObjectRef, ObjectValue, RecordKind, RenderedTask, Route, SpanRecord, Status, StoredObject,
    TaskData,
};
pub use scope::{Instrumented, Scope, panic_message};
pub use secret::Secret;
pub use sink::{ExportReport, ExporterReport, MemorySink, NullSink, SpanSink};
pub use smallmap::SmallMap;
pub use span::{LightSpan, SpanBuilder, SpanFuture, SpanGuard};
pub use task::{
    Metric, ObjectMeta, RunBuilder, Side, TaskAndRunBuilder, TaskFuture, TaskGuard, TaskScope, TaskSpan,
    TaskSpanBuilder,
};
pub use text::SharedStr;
pub use time::Timestamp;
pub use tracer::{Tracer, VERSION, warn_limited};

/// `Result` of span-model operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

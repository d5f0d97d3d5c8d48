//! The plain-data layer: ids, time, attribute values and keys, metric
//! series, captured values and their hashes, task data, the span record.
//!
//! Nothing here imports the runtime (`crate::runtime`): these types can be
//! built, rendered and compared without a tracer, a context or a sink.
//! `cargo xtask layout` fails on a module circle, so keep it that way.

pub mod attrs;
pub mod bigint;
pub mod capture;
pub mod clean;
pub mod clock;
pub mod file_limit;
pub mod generation;
pub mod ids;
pub mod json;
pub mod layout;
pub mod line;
pub mod metric;
pub mod object;
pub mod readback;
pub mod record;
pub mod scrub;
pub mod secret;
pub mod smallmap;
pub mod task_data;
pub mod text;
pub mod time;
pub mod update;

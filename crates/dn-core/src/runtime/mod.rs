//! The runtime layer: the current context, light and task span handles,
//! the builders with their one set of span forms, scopes and guards, the
//! tracer and the sink that receives finished records.
//!
//! One circle is inherent here and allowed by `cargo xtask layout`: the
//! current [`Context`](context::Context) holds task handles, a task handle
//! holds its [`Tracer`](tracer::Tracer), and the tracer makes the builders
//! that start spans (`builders`, `context`, `span`, `task`, `tracer`).
//! `scope`, `sink`, `logging`, `ended`, `recycle` and `distributed` stay outside it.

pub mod builders;
pub mod context;
pub mod distributed;
pub(crate) mod ended;
pub mod logging;
pub mod recycle;
pub mod scope;
pub mod sink;
pub mod span;
pub mod task;
pub mod tracer;
pub mod warn;

#[cfg(test)]
mod tests;

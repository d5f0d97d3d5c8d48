//! The error type of `dn-core`.

/// Errors returned by span-model operations.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A `log_*` call or other task operation ran with no current task.
    #[error("{0} needs a current task: call it inside dn::run(..) or dn::task_span(..)")]
    NoActiveTask(&'static str),
    /// An operation needs a current run and there is none.
    #[error("{0} needs a current run: call it inside dn::run(..)")]
    NoActiveRun(&'static str),
    /// The span has already ended; nothing more can be logged on it.
    #[error("span {0:?} has already ended")]
    SpanEnded(String),
    /// A value given by the caller cannot be used.
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

//! `dn::Error`: every fallible public call returns it.

use std::path::PathBuf;

/// Errors of the `dn` facade; wraps the errors of the crates below it.
///
/// Logging calls never return it (they warn and count instead); the calls
/// that do are the ones a program can act on: `configure`, `log_artifact`,
/// `task_context` / `continue_task`, and every `try_` twin.
///
/// ```
/// let e = dn::try_log_metric("loss", 0.5).unwrap_err(); // no current task
/// assert!(matches!(e, dn::Error::Core(dn::core::Error::NoActiveTask(_))));
/// assert!(e.to_string().contains("needs a current task"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the span model (no current task, span ended, bad input).
    #[error(transparent)]
    Core(#[from] dn_core::Error),
    /// An error from the exporters (unwritable local directory, ...).
    #[error(transparent)]
    Export(#[from] dn_export::Error),
    /// The configuration is invalid or incomplete.
    #[error("configuration error: {0}")]
    Config(String),
    /// The profile file exists but cannot be read.
    #[error("cannot read profile file {path}: {message}")]
    Profile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// An artifact could not be logged (missing or unreadable path, ...).
    #[cfg(feature = "artifacts")]
    #[error(transparent)]
    Artifact(#[from] dn_artifacts::Error),
    /// `configure` was called after the SDK was configured (explicitly or
    /// automatically from the environment on first use).
    #[error("dn is already configured; configure() must be called once, before any span is created")]
    AlreadyConfigured,
}

/// `Result` with [`enum@Error`].
///
/// ```
/// fn setup() -> dn::Result<()> {
///     dn::configure(dn::Config::new().project("my-project"))?;
///     Ok(())
/// }
/// # let _ = setup;
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

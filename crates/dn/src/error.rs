//! `dn::Error`: every fallible public call returns it.

use std::path::PathBuf;

/// Errors of the `dn` facade; wraps the errors of the crates below it.
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
pub type Result<T, E = Error> = std::result::Result<T, E>;

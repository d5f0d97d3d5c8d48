//! The error type of `dn-export`.

use std::path::PathBuf;

/// Errors from setting up or running exporters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The local directory cannot be created or written.
    #[error("local directory {path} is not writable: {source}")]
    LocalDirNotWritable {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("could not start the export thread: {0}")]
    ThreadSpawn(std::io::Error),
    /// A destination's settings cannot be used (the message names the
    /// setting, never a secret value).
    #[error("{0}")]
    Config(String),
    /// The platform's API refused or could not resolve the scope (the
    /// message names what and where, never a secret).
    #[error("{0}")]
    Platform(String),
    /// A value is not valid for the exporter.
    #[error(transparent)]
    Core(#[from] dn_core::Error),
}

//! What an uploader is told to do and what it reports: its settings, its
//! progress events and its report.

use std::sync::Arc;

/// One observable step of the uploads, for progress displays.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadEvent {
    /// An object was queued.
    Queued {
        /// Its key in the bucket.
        key: String,
        /// Its size.
        bytes: u64,
    },
    /// Part of an object was sent (after each part of a multipart upload,
    /// or once for a single request).
    Progress {
        /// Its key.
        key: String,
        /// Bytes of this object sent so far.
        sent: u64,
        /// Its size.
        total: u64,
    },
    /// An object was stored.
    Uploaded {
        /// Its key.
        key: String,
        /// Its size.
        bytes: u64,
    },
    /// The bucket already had the object; nothing was sent.
    AlreadyPresent {
        /// Its key.
        key: String,
    },
    /// An upload failed for good (the local copy is kept).
    Failed {
        /// Its key.
        key: String,
        /// Why, free of secrets.
        error: String,
    },
}

/// A callback receiving every [`UploadEvent`]. `Queued` (and failures of
/// uploads refused after shutdown) arrive on the thread that logged the
/// artifact or value, the others on the upload thread; it must return
/// quickly. A panic in it is caught and logged.
pub type ProgressCallback = Arc<dyn Fn(&UploadEvent) + Send + Sync>;

/// Settings of an [`Uploader`](super::Uploader).
#[derive(Clone)]
pub struct UploaderConfig {
    /// Objects being sent at once (default 4); up to four times as many
    /// existence checks (`HEAD`) may be in flight.
    pub concurrency: usize,
    /// Files larger than this go as multipart uploads (default 32 MiB).
    pub multipart_threshold: u64,
    /// Part size of multipart uploads (default 8 MiB; S3's minimum is 5 MiB).
    pub part_size: usize,
    /// Most bytes of offloaded values waiting in memory; beyond it values
    /// stay inline (default 64 MiB).
    pub max_queued_value_bytes: u64,
    /// Transient-failure retries per request (default 3).
    pub max_retries: usize,
    /// Called with every event.
    pub progress: Option<ProgressCallback>,
    /// Draw an `indicatif` bar on stderr for large uploads when stderr is a
    /// terminal (default on).
    pub progress_bar: bool,
}

impl Default for UploaderConfig {
    fn default() -> Self {
        UploaderConfig {
            concurrency: 4,
            multipart_threshold: 32 << 20,
            part_size: 8 << 20,
            max_queued_value_bytes: 64 << 20,
            max_retries: 3,
            progress: None,
            progress_bar: true,
        }
    }
}

impl std::fmt::Debug for UploaderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploaderConfig")
            .field("concurrency", &self.concurrency)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("max_queued_value_bytes", &self.max_queued_value_bytes)
            .field("max_retries", &self.max_retries)
            .field("progress", &self.progress.is_some())
            .field("progress_bar", &self.progress_bar)
            .finish()
    }
}

/// What the uploads did, counted since the uploader started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UploadReport {
    /// Objects sent.
    pub uploaded: u64,
    /// Objects the bucket already had (nothing sent).
    pub already_present: u64,
    /// Bytes sent.
    pub bytes_uploaded: u64,
    /// Uploads that failed for good (their local copies are kept).
    pub failed: u64,
    /// Uploads still queued or running (non-zero when a flush timed out).
    pub pending: u64,
    /// Large values kept inline because too many bytes were already queued.
    pub kept_inline: u64,
    /// Times new credentials were fetched after the first.
    pub credential_refreshes: u64,
    /// The first few failure messages, free of secrets.
    pub errors: Vec<String>,
}

impl UploadReport {
    /// Whether nothing failed and nothing is pending.
    pub fn is_clean(&self) -> bool {
        self.failed == 0 && self.pending == 0
    }
}

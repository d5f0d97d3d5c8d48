//! Uploads to the platform's S3-compatible storage (`docs/format.md`, "Artifacts and large values"), off the
//! caller's thread.
//!
//! An [`Uploader`] owns one thread (`dn-uploads`) running a small tokio
//! runtime and an [`object_store`] S3 client. Callers enqueue work and
//! return at once: artifact files already in the local store
//! ([`Uploader::upload_file`]) and large logged values
//! ([`dn_core::ValueOffload`]). Every object is looked up (`HEAD`) before it
//! is sent, so content already in the bucket is never sent again (and an
//! object this uploader has already stored is not even looked up); files over
//! [`UploaderConfig::multipart_threshold`] go in parts of
//! [`UploaderConfig::part_size`], read from disk part by part. At most
//! [`UploaderConfig::concurrency`] uploads run at once. Transient failures
//! (connection, 5xx, 429) are retried with backoff by `object_store`;
//! authentication failures (`ExpiredToken`, `InvalidAccessKeyId`,
//! `SignatureDoesNotMatch`, `AccessDenied`, HTTP 401/403) refresh the
//! credentials and retry, at most three tries in all. Credentials are also
//! refreshed 15 minutes before they expire.
//!
//! [`Uploader::flush`] waits (bounded) for everything queued and returns an
//! [`UploadReport`]; failures are counted there and never touch the local
//! store, which stays the source of truth. Secrets (secret key, session
//! token) are redacted from every error, event and `Debug` output.

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dn_core::{Hash16, WarnLimit};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ObjectStoreExt as _, PutPayload, RetryConfig, WriteMultipart};
use parking_lot::{Condvar, Mutex};

use crate::Error;

mod credentials;
mod report;

use credentials::{AuthBreaker, PlatformCredentials, Redactor, is_auth_error};
pub use credentials::{CredentialSource, MAX_AUTH_TRIES, REFRESH_BEFORE_EXPIRY, StorageCredentials};
pub use report::{ProgressCallback, UploadEvent, UploadReport, UploaderConfig};

const MAX_ERRORS_KEPT: usize = 10;
/// Lookups (`HEAD`) in flight per transfer slot.
const LOOKUPS_PER_TRANSFER: usize = 4;
/// The bar is drawn once this many bytes are queued.
const BAR_MIN_BYTES: u64 = 8 << 20;

// ---------------------------------------------------------------------------
// The uploader
// ---------------------------------------------------------------------------

enum Source {
    /// A file of the local store (immutable: named by its hash).
    File(PathBuf),
    /// An offloaded value's data bytes.
    Bytes(bytes::Bytes),
}

struct Job {
    key: String,
    size: u64,
    source: Source,
    /// Where an offloaded value is also kept on local disk.
    local_copy: Option<PathBuf>,
}

#[derive(Default)]
struct Counts {
    report: UploadReport,
    /// Keys this uploader has stored or found already there (`None`), or is
    /// storing right now (`Some(n)`: `n` more loggings of it wait for that
    /// upload): logging them again sends no request at all. A key counts as
    /// present only once the bucket has it; a failed key is removed so a
    /// later logging tries again.
    known: std::collections::HashMap<String, Option<u64>>,
    queued_value_bytes: u64,
    /// Bytes of the objects queued since the uploads were last idle (bar).
    batch_bytes: u64,
    batch_sent: u64,
    /// Finished uploads whose event is being delivered to the progress
    /// callback: a flush waits for them as for pending uploads.
    delivering: u64,
}

struct Shared {
    counts: Mutex<Counts>,
    idle: Condvar,
    redactor: Arc<Redactor>,
    credentials: Arc<PlatformCredentials>,
    config: UploaderConfig,
    bar: Mutex<Option<indicatif::ProgressBar>>,
    closed: AtomicBool,
    /// Bounds the objects being sent at once ([`UploaderConfig::concurrency`]).
    transfers: tokio::sync::Semaphore,
    callback_panics: WarnLimit,
    /// Failure log lines so far (at most 20 are written).
    failure_warnings: WarnLimit,
    auth_breaker: AuthBreaker,
}

impl Shared {
    /// Calls the progress callback; a panic in it is caught and reported,
    /// never left to stop an upload or unwind into the SDK.
    fn emit(&self, ev: UploadEvent) {
        if let Some(cb) = &self.config.progress {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&ev))).is_err() {
                self.callback_panics.warn(format_args!("the upload progress callback panicked"));
            }
        }
    }

    fn queued(&self, key: &str, bytes: u64, value: bool) {
        {
            let mut c = self.counts.lock();
            c.report.pending += 1;
            c.batch_bytes += bytes;
            if value {
                c.queued_value_bytes += bytes;
            }
            self.update_bar(&c);
        }
        self.emit(UploadEvent::Queued { key: key.to_string(), bytes });
    }

    fn sent(&self, key: &str, sent: u64, total: u64, part: u64) {
        {
            let mut c = self.counts.lock();
            c.batch_sent += part;
            self.update_bar(&c);
        }
        self.emit(UploadEvent::Progress { key: key.to_string(), sent, total });
    }

    fn update_bar(&self, c: &Counts) {
        use std::io::IsTerminal as _;
        if !self.config.progress_bar || c.batch_bytes < BAR_MIN_BYTES {
            return;
        }
        let mut bar = self.bar.lock();
        if bar.is_none() {
            if !std::io::stderr().is_terminal() {
                return;
            }
            let b = indicatif::ProgressBar::new(c.batch_bytes);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "dn: uploading artifacts {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
            ) {
                b.set_style(style);
            }
            *bar = Some(b);
        }
        if let Some(b) = bar.as_ref() {
            b.set_length(c.batch_bytes);
            b.set_position(c.batch_sent);
            b.set_message(format!("{} left", c.report.pending));
        }
    }

    fn finished(&self, job_key: &str, size: u64, value: bool, outcome: Result<bool, String>) {
        let ev = {
            let mut c = self.counts.lock();
            c.report.pending = c.report.pending.saturating_sub(1);
            if value {
                c.queued_value_bytes = c.queued_value_bytes.saturating_sub(size);
            }
            // Loggings of the same key that waited for this upload share its fate.
            let waiting = match c.known.get_mut(job_key) {
                Some(slot @ Some(_)) => slot.take().unwrap_or(0),
                _ => 0,
            };
            c.report.pending = c.report.pending.saturating_sub(waiting);
            match &outcome {
                Ok(_) => c.report.already_present += waiting,
                Err(_) => c.report.failed += waiting,
            }
            let ev = match outcome {
                Ok(true) => {
                    c.report.uploaded += 1;
                    c.report.bytes_uploaded += size;
                    UploadEvent::Uploaded { key: job_key.to_string(), bytes: size }
                }
                Ok(false) => {
                    c.report.already_present += 1;
                    c.batch_sent += size;
                    UploadEvent::AlreadyPresent { key: job_key.to_string() }
                }
                Err(error) => {
                    c.known.remove(job_key);
                    c.batch_sent += size;
                    self.count_failure(&mut c, job_key, error)
                }
            };
            c.delivering += 1;
            let idle = c.report.pending == 0;
            if idle {
                c.batch_bytes = 0;
                c.batch_sent = 0;
                if let Some(b) = self.bar.lock().take() {
                    b.finish_and_clear();
                }
            } else {
                self.update_bar(&c);
            }
            ev
        };
        self.emit(ev);
        // A flush waits until no upload is pending and no finished upload's
        // event is still being delivered, so it returns after every event of
        // what it waited for. Waking flushes only after the delivery was not
        // enough: a flush that began while the last event was being
        // delivered found nothing pending and returned before it.
        let mut c = self.counts.lock();
        c.delivering = c.delivering.saturating_sub(1);
        if c.report.pending == 0 && c.delivering == 0 {
            self.idle.notify_all();
        }
    }

    /// Counts, logs (limited) and describes one failed upload.
    fn count_failure(&self, c: &mut Counts, key: &str, error: String) -> UploadEvent {
        c.report.failed += 1;
        if c.report.errors.len() < MAX_ERRORS_KEPT {
            c.report.errors.push(format!("{key}: {error}"));
        }
        self.failure_warnings.warn(format_args!("artifact upload of {key} failed (the local copy is kept): {error}"));
        UploadEvent::Failed { key: key.to_string(), error }
    }

    /// A failure of something that was never queued (pending is untouched).
    fn failed(&self, key: &str, error: String) {
        let ev = self.count_failure(&mut self.counts.lock(), key, error);
        self.emit(ev);
    }

    fn report(&self) -> UploadReport {
        let mut r = self.counts.lock().report.clone();
        r.credential_refreshes = self.credentials.refreshes.load(Ordering::Relaxed);
        r
    }
}

/// Uploads artifacts and large values to S3-compatible storage on its own
/// thread. See the [module docs](self).
pub struct Uploader {
    shared: Arc<Shared>,
    tx: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    bucket: String,
    prefix: String,
    local_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Uploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uploader").field("bucket", &self.bucket).field("prefix", &self.prefix).finish()
    }
}

impl Uploader {
    /// Starts the upload thread with `initial` credentials (which name the
    /// bucket, prefix, region and endpoint) and `source` for fresh ones.
    /// Offloaded values are also written (on the upload thread) under
    /// `<local_dir>/cas/objects/<data_hash>` when `local_dir` is given, so a
    /// failed upload loses nothing.
    pub fn start(
        initial: &StorageCredentials,
        source: impl CredentialSource,
        config: UploaderConfig,
        local_dir: Option<&std::path::Path>,
    ) -> Result<Uploader, Error> {
        let redactor = Arc::new(Redactor::default());
        let credentials = Arc::new(PlatformCredentials::new(Arc::new(source), redactor.clone()));
        credentials.install(initial);
        let remote = |message: String| Error::Remote(redactor.scrub(&message));
        if initial.bucket.is_empty() {
            return Err(remote("the storage credentials name no bucket".into()));
        }
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&initial.bucket)
            .with_region(initial.region.as_deref().filter(|r| !r.is_empty()).unwrap_or("us-east-1"))
            .with_credentials(credentials.clone())
            .with_retry(RetryConfig {
                backoff: BackoffConfig {
                    init_backoff: Duration::from_millis(100),
                    max_backoff: Duration::from_secs(5),
                    base: 2.0,
                },
                max_retries: config.max_retries,
                retry_timeout: Duration::from_secs(120),
            });
        if let Some(ep) = initial.endpoint.as_deref().filter(|e| !e.is_empty()) {
            builder = builder.with_endpoint(ep).with_allow_http(ep.starts_with("http://"));
        }
        let store = builder.build().map_err(|e| remote(format!("cannot set up the S3 client: {e}")))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // File reads and credential fetches: one per transfer at most.
            .max_blocking_threads(config.concurrency.max(1) + 2)
            .build()
            .map_err(|e| remote(format!("cannot start the upload runtime: {e}")))?;
        let shared = Arc::new(Shared {
            counts: Mutex::new(Counts::default()),
            idle: Condvar::new(),
            redactor,
            credentials,
            bar: Mutex::new(None),
            closed: AtomicBool::new(false),
            transfers: tokio::sync::Semaphore::new(config.concurrency.max(1)),
            callback_panics: WarnLimit::default(),
            failure_warnings: WarnLimit::default(),
            auth_breaker: AuthBreaker::default(),
            config,
        });
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let s2 = shared.clone();
        let thread = std::thread::Builder::new()
            .name("dn-uploads".into())
            .spawn(move || runtime.block_on(run_uploads(Arc::new(store), s2, rx)))
            .map_err(|e| Error::Remote(format!("cannot start the upload thread: {e}")))?;
        Ok(Uploader {
            shared,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            bucket: initial.bucket.clone(),
            prefix: initial.prefix.trim_matches('/').to_string(),
            local_dir: local_dir.map(std::path::Path::to_path_buf),
        })
    }

    fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() { rest.to_string() } else { format!("{}/{rest}", self.prefix) }
    }

    /// The bucket key of an artifact:
    /// `<prefix>/artifacts/sha256/<h[0:2]>/<h[2:4]>/<h>`.
    pub fn artifact_key(&self, sha256: &str) -> String {
        self.key(&dn_core::layout::artifact_object(sha256))
    }

    /// The URI of an offloaded value: `s3://<bucket>/<prefix>/cas/objects/<data_hash>`.
    pub fn object_uri(&self, data_hash: Hash16) -> String {
        format!("s3://{}/{}", self.bucket, self.key(&dn_core::layout::value_object(data_hash)))
    }

    /// Queues `job`; `false` when it was not queued (shut down, or the
    /// thread is gone; the latter is counted as a failure).
    fn enqueue(&self, job: Job, value: bool) -> bool {
        // A clone of the sender: no lock is held while callbacks run.
        let Some(tx) = self.tx.lock().clone() else { return false };
        {
            let mut c = self.shared.counts.lock();
            match c.known.get_mut(&job.key) {
                Some(None) => {
                    // Stored (or found there) already.
                    c.report.already_present += 1;
                    drop(c);
                    self.shared.emit(UploadEvent::AlreadyPresent { key: job.key });
                    return true;
                }
                Some(Some(waiting)) => {
                    // Being stored right now: counted when that upload ends.
                    *waiting += 1;
                    c.report.pending += 1;
                    return true;
                }
                None => {
                    c.known.insert(job.key.clone(), Some(0));
                }
            }
        }
        let (key, size) = (job.key.clone(), job.size);
        self.shared.queued(&key, size, value);
        if tx.send(job).is_err() {
            self.shared.finished(&key, size, value, Err("the upload thread has stopped".into()));
            return false;
        }
        true
    }

    /// Queues a file of the local store (`local_object`, named by its
    /// `sha256`) for upload to [`Uploader::artifact_key`]. Returns at once.
    pub fn upload_file(&self, local_object: PathBuf, sha256: &str, size: u64) {
        let key = self.artifact_key(sha256);
        if self.tx.lock().is_none() {
            self.shared.failed(&key, "not uploaded: the uploader has shut down (the local copy is kept)".into());
            return;
        }
        self.enqueue(Job { key, size, source: Source::File(local_object), local_copy: None }, false);
    }

    /// Counts so far.
    pub fn report(&self) -> UploadReport {
        self.shared.report()
    }

    /// Waits until every queued upload has finished and its progress event
    /// was delivered, at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> UploadReport {
        let deadline = Instant::now() + timeout;
        let mut c = self.shared.counts.lock();
        while c.report.pending > 0 || c.delivering > 0 {
            if self.shared.idle.wait_until(&mut c, deadline).timed_out() {
                break;
            }
        }
        drop(c);
        self.shared.report()
    }

    /// Flushes (at most `timeout`), then stops the upload thread. Later
    /// uploads are counted as failed; later values stay inline.
    pub fn shutdown(&self, timeout: Duration) -> UploadReport {
        let report = self.flush(timeout);
        self.shared.closed.store(true, Ordering::SeqCst);
        self.tx.lock().take();
        if self.shared.counts.lock().report.pending == 0 {
            if let Some(t) = self.thread.lock().take() {
                let _ = t.join();
            }
        }
        report
    }
}

impl Drop for Uploader {
    fn drop(&mut self) {
        if !self.shared.closed.load(Ordering::SeqCst) {
            self.shutdown(Duration::from_secs(5));
        }
    }
}

impl dn_core::ValueOffload for Uploader {
    fn offload(&self, data_hash: Hash16, data: Vec<u8>) -> Option<String> {
        if self.shared.closed.load(Ordering::Relaxed) {
            return None;
        }
        let size = data.len() as u64;
        {
            let mut c = self.shared.counts.lock();
            if c.queued_value_bytes + size > self.shared.config.max_queued_value_bytes {
                c.report.kept_inline += 1;
                return None;
            }
        }
        let rel = dn_core::layout::value_object(data_hash);
        let local_copy = self.local_dir.as_ref().map(|d| d.join(&rel));
        let key = self.key(&rel);
        let job = Job { key, size, source: Source::Bytes(data.into()), local_copy };
        self.enqueue(job, true).then(|| self.object_uri(data_hash))
    }
}

async fn run_uploads(store: Arc<AmazonS3>, shared: Arc<Shared>, mut rx: tokio::sync::mpsc::UnboundedReceiver<Job>) {
    // Lookups (HEAD) are cheap: several per transfer slot may be in flight.
    let permits = shared.config.concurrency.max(1) * LOOKUPS_PER_TRANSFER;
    let sem = Arc::new(tokio::sync::Semaphore::new(permits));
    while let Some(job) = rx.recv().await {
        let Ok(permit) = sem.clone().acquire_owned().await else { break };
        let (store, shared) = (store.clone(), shared.clone());
        tokio::spawn(async move {
            let value = matches!(job.source, Source::Bytes(_));
            let (key, size) = (job.key.clone(), job.size);
            if let (Some(path), Source::Bytes(b)) = (job.local_copy.clone(), &job.source) {
                let b = b.clone();
                let written = tokio::task::spawn_blocking(move || crate::write_atomically(&path, &b)).await;
                if let Ok(Err(e)) = written {
                    tracing::warn!(target: "dn", "could not keep a local copy of {key}: {e}");
                }
            }
            let outcome = upload_with_auth_retries(&store, &shared, job).await;
            shared.finished(&key, size, value, outcome);
            drop(permit);
        });
    }
    // The queue is closed: let the uploads in flight finish.
    let _ = sem.acquire_many(permits as u32).await;
}

/// `Ok(true)`: sent; `Ok(false)`: the bucket had it.
async fn upload_with_auth_retries(store: &AmazonS3, shared: &Shared, job: Job) -> Result<bool, String> {
    if let Some(why) = shared.auth_breaker.open() {
        return Err(why);
    }
    let path = ObjectPath::from(job.key.as_str());
    let mut tries = 0;
    loop {
        tries += 1;
        match upload_once(store, shared, &path, &job).await {
            Ok(sent) => {
                shared.auth_breaker.success();
                return Ok(sent);
            }
            Err(e) if is_auth_error(&e) && tries < MAX_AUTH_TRIES => {
                tracing::debug!(target: "dn", "storage rejected the credentials for {}; refreshing", job.key);
                shared.credentials.invalidate();
            }
            Err(e) => {
                let why = if is_auth_error(&e) {
                    shared.auth_breaker.rejected();
                    format!("the storage rejected the credentials after {tries} tries: {e}")
                } else {
                    e.to_string()
                };
                return Err(shared.redactor.scrub(&why));
            }
        }
    }
}

async fn upload_once(store: &AmazonS3, shared: &Shared, path: &ObjectPath, job: &Job) -> object_store::Result<bool> {
    match store.head(path).await {
        Ok(_) => return Ok(false),
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(e),
    }
    let generic = |e: String| object_store::Error::Generic { store: "dn", source: e.into() };
    let _transfer = shared.transfers.acquire().await.map_err(|e| generic(e.to_string()))?;
    match &job.source {
        Source::Bytes(b) => {
            store.put(path, PutPayload::from(b.clone())).await?;
            shared.sent(&job.key, job.size, job.size, job.size);
        }
        Source::File(file) if job.size <= shared.config.multipart_threshold => {
            let f = file.clone();
            let bytes = tokio::task::spawn_blocking(move || std::fs::read(&f))
                .await
                .map_err(|e| generic(e.to_string()))?
                .map_err(|e| generic(format!("cannot read {}: {e}", file.display())))?;
            store.put(path, PutPayload::from(bytes)).await?;
            shared.sent(&job.key, job.size, job.size, job.size);
        }
        Source::File(file) => {
            let upload = store.put_multipart(path).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, shared.config.part_size);
            let mut reader =
                std::fs::File::open(file).map_err(|e| generic(format!("cannot read {}: {e}", file.display())))?;
            let part = shared.config.part_size;
            let mut sent = 0u64;
            loop {
                let (r, chunk) = tokio::task::spawn_blocking(move || {
                    let mut buf = Vec::with_capacity(part);
                    let res = (&mut reader).take(part as u64).read_to_end(&mut buf);
                    (reader, res.map(|_| buf))
                })
                .await
                .map_err(|e| generic(e.to_string()))?;
                reader = r;
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(generic(format!("cannot read {}: {e}", file.display())));
                    }
                };
                if chunk.is_empty() {
                    break;
                }
                if let Err(e) = writer.wait_for_capacity(2).await {
                    let _ = writer.abort().await;
                    return Err(e);
                }
                let n = chunk.len() as u64;
                writer.write(&chunk);
                sent += n;
                shared.sent(&job.key, sent, job.size, n);
            }
            writer.finish().await?;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use dn_core::Timestamp;
    use dn_core::ValueOffload as _;
    use object_store::CredentialProvider as _;
    use std::sync::atomic::AtomicU64;

    const SECRET: &str = "very-secret-key";
    const TOKEN: &str = "very-secret-token";

    fn creds(endpoint: &str, prefix: &str) -> StorageCredentials {
        serde_json::from_value(serde_json::json!({
            "access_key_id": "AKIA1",
            "secret_access_key": SECRET,
            "session_token": TOKEN,
            "expiration": "2099-01-01T00:00:00Z",
            "region": "eu-west-1",
            "bucket": "b",
            "prefix": prefix,
            "endpoint": endpoint,
        }))
        .unwrap()
    }

    /// Nothing listens on port 9 of loopback: every request is refused.
    fn refused(prefix: &str, config: UploaderConfig) -> Uploader {
        let c = creds("http://127.0.0.1:9", prefix);
        let again = c.clone();
        Uploader::start(&c, move || Ok(again.clone()), UploaderConfig { max_retries: 0, ..config }, None).unwrap()
    }

    #[test]
    fn credentials_never_show_their_secrets() {
        let c = creds("http://127.0.0.1:9", "p");
        let shown = format!("{c:?}");
        assert!(!shown.contains(SECRET) && !shown.contains(TOKEN), "{shown}");
        assert!(shown.contains("AKIA1") && shown.contains("Secret(<redacted>)"));
        let up = refused("p", UploaderConfig::default());
        let shown = format!("{up:?} {:?}", up.shared.credentials);
        assert!(!shown.contains(SECRET) && !shown.contains(TOKEN), "{shown}");
    }

    #[test]
    fn error_messages_are_scrubbed_of_every_secret_seen() {
        let r = Redactor::default();
        r.learn(&creds("", ""));
        let scrubbed = r.scrub(&format!("<CanonicalRequest>x-amz-security-token:{TOKEN}</CanonicalRequest> {SECRET}"));
        assert!(!scrubbed.contains(TOKEN) && !scrubbed.contains(SECRET), "{scrubbed}");
        assert_eq!(scrubbed.matches("<redacted>").count(), 2);
    }

    #[test]
    fn keys_follow_the_spec_layout_with_and_without_a_prefix() {
        let h = "51bc0fc1f19104fa6e89ce50be9aa1f57c3346c1ca51ab49f5f00e14ce8f8076";
        let up = refused("/org/ws/", UploaderConfig::default());
        assert_eq!(up.artifact_key(h), format!("org/ws/artifacts/sha256/51/bc/{h}"));
        let dh = Hash16::sha1_prefix(b"data");
        assert_eq!(up.object_uri(dh), format!("s3://b/org/ws/cas/objects/{dh}"));
        let bare = refused("", UploaderConfig::default());
        assert_eq!(bare.artifact_key(h), format!("artifacts/sha256/51/bc/{h}"));
    }

    #[test]
    fn auth_errors_are_recognised_by_status_and_by_s3_code() {
        let generic = |m: &str| object_store::Error::Generic { store: "S3", source: m.to_string().into() };
        assert!(is_auth_error(&generic("<Error><Code>ExpiredToken</Code></Error>")));
        assert!(is_auth_error(&generic("400: <Code>InvalidAccessKeyId</Code>")));
        assert!(is_auth_error(&object_store::Error::PermissionDenied { path: "k".into(), source: "403".into() }));
        assert!(!is_auth_error(&generic("connection refused")));
    }

    #[test]
    fn an_offloaded_value_is_kept_on_local_disk_even_when_its_upload_fails() {
        let dir = tempfile::tempdir().unwrap();
        let c = creds("http://127.0.0.1:9", "p");
        let again = c.clone();
        let config = UploaderConfig { max_retries: 0, ..Default::default() };
        let up = Uploader::start(&c, move || Ok(again.clone()), config, Some(dir.path())).unwrap();
        let data = vec![42u8; 12_000];
        let h = Hash16::sha1_prefix(&data);
        assert!(up.offload(h, data.clone()).is_some());
        let r = up.shutdown(Duration::from_secs(30));
        assert_eq!((r.failed, r.pending), (1, 0), "{r:?}");
        assert_eq!(std::fs::read(dir.path().join("cas/objects").join(h.as_str())).unwrap(), data);
    }

    #[test]
    fn a_failed_refresh_keeps_a_credential_until_it_expires() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let p = PlatformCredentials {
            source: Arc::new(|| -> Result<StorageCredentials, String> { Err("platform down".into()) }),
            cache: Mutex::new(None),
            redactor: Arc::default(),
            refreshes: AtomicU64::new(0),
        };
        let at = |secs_from_now: i64| {
            let now = Timestamp::now_system().to_system_time();
            let t = if secs_from_now >= 0 {
                now + Duration::from_secs(secs_from_now as u64)
            } else {
                now - Duration::from_secs((-secs_from_now) as u64)
            };
            Some(Timestamp::from_system_time(t).to_iso())
        };
        let mut c = creds("", "");
        c.expiration = at(600); // inside the refresh margin, not expired
        p.install(&c);
        let kept = rt.block_on(p.get_credential()).unwrap();
        assert_eq!(kept.secret_key, SECRET);
        c.expiration = at(-60); // expired: nothing to fall back on
        p.install(&c);
        let e = rt.block_on(p.get_credential()).unwrap_err().to_string();
        assert!(e.contains("could not refresh the storage credentials: platform down"), "{e}");
        assert_eq!(p.refreshes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_auth_breaker_opens_after_three_rejections_and_closes_on_success() {
        let b = AuthBreaker::default();
        b.rejected();
        b.rejected();
        assert_eq!(b.open(), None, "two rejections: still trying");
        b.rejected();
        let why = b.open().expect("open after three");
        assert!(why.contains("rejected the credentials for the last 3 uploads"), "{why}");
        // After the pause one upload is let through; its success closes it.
        b.state.lock().1 = Some(Instant::now());
        assert_eq!(b.open(), None);
        b.success();
        assert_eq!(*b.state.lock(), (0, None));
    }

    #[test]
    fn a_panicking_progress_callback_stops_nothing() {
        let calls = Arc::new(AtomicU64::new(0));
        let c2 = calls.clone();
        let progress: ProgressCallback = Arc::new(move |ev: &UploadEvent| {
            // Slow as well: `flush` returns only once the last event is
            // delivered (it had returned while this callback still ran).
            if matches!(ev, UploadEvent::Failed { .. }) {
                std::thread::sleep(Duration::from_millis(300));
            }
            c2.fetch_add(1, Ordering::Relaxed);
            panic!("a bug in the user's callback");
        });
        let up = refused("p", UploaderConfig { progress: Some(progress), ..Default::default() });
        let data = vec![1u8; 11_000];
        assert!(up.offload(Hash16::sha1_prefix(&data), data).is_some(), "queued despite the panic on Queued");
        // The flush begins once the upload has failed and is counted, while
        // its Failed event is still being delivered (it found nothing
        // pending and returned at once, before that event: seen in CI).
        let counted = Instant::now() + Duration::from_secs(10);
        while up.report().pending > 0 && Instant::now() < counted {
            std::thread::sleep(Duration::from_millis(1));
        }
        let r = up.flush(Duration::from_secs(30));
        assert_eq!((r.failed, r.pending), (1, 0), "the upload finished and was counted: {r:?}");
        assert_eq!(calls.load(Ordering::Relaxed), 2, "Queued and Failed were both delivered");
    }

    #[test]
    fn a_server_that_is_down_fails_the_upload_without_blocking_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, "x").unwrap();
        let up = refused("p", UploaderConfig::default());
        let t0 = Instant::now();
        up.upload_file(f, "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881", 1);
        assert!(t0.elapsed() < Duration::from_secs(1), "queuing does no I/O");
        let r = up.flush(Duration::from_secs(30));
        assert_eq!((r.uploaded, r.failed, r.pending), (0, 1, 0), "{r:?}");
        assert!(r.errors[0].contains("artifacts/sha256/2d/71/"), "{r:?}");
        let r = up.shutdown(Duration::from_secs(5));
        assert_eq!(r.failed, 1);
        // After shutdown: files are counted as not uploaded, values stay inline.
        up.upload_file(PathBuf::from("/nonexistent"), "00", 1);
        assert_eq!(up.report().failed, 2);
        assert_eq!(up.offload(Hash16::sha1_prefix(b"v"), vec![0u8; 20_000]), None);
    }

    #[test]
    fn a_key_logged_again_while_its_upload_is_in_flight_is_not_sent_twice() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = creds(&format!("http://{}", silent.local_addr().unwrap()), "p");
        let again = c.clone();
        let config = UploaderConfig { max_retries: 0, ..Default::default() };
        let up = Uploader::start(&c, move || Ok(again.clone()), config, None).unwrap();
        let h = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881";
        up.upload_file(PathBuf::from("/nonexistent/a"), h, 1);
        up.upload_file(PathBuf::from("/nonexistent/b"), h, 1);
        let r = up.shutdown(Duration::from_millis(200));
        assert_eq!((r.pending, r.already_present), (2, 0), "present only once the bucket has it: {r:?}");
        // Refused after shutdown: a failure, and the upload still in flight
        // (with the logging waiting for it) stays counted as pending.
        up.upload_file(PathBuf::from("/nonexistent/c"), "00ff", 1);
        let r = up.report();
        assert_eq!((r.pending, r.failed), (2, 1), "{r:?}");
    }

    #[test]
    fn values_beyond_the_memory_budget_stay_inline_and_are_counted() {
        // A server that accepts connections and never answers: the first
        // upload stays in flight, holding its bytes against the budget.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = creds(&format!("http://{}", silent.local_addr().unwrap()), "p");
        let again = c.clone();
        let config = UploaderConfig { max_queued_value_bytes: 30_000, max_retries: 0, ..Default::default() };
        let up = Uploader::start(&c, move || Ok(again.clone()), config, None).unwrap();
        let data = vec![7u8; 20_000];
        let first = up.offload(Hash16::sha1_prefix(&data), data.clone());
        assert_eq!(first, Some(up.object_uri(Hash16::sha1_prefix(&data))));
        for i in 0..5u8 {
            let d = vec![i; 20_000];
            assert_eq!(up.offload(Hash16::sha1_prefix(&d), d.clone()), None, "over the 30 000-byte budget");
        }
        let r = up.shutdown(Duration::from_millis(200));
        assert_eq!((r.kept_inline, r.pending), (5, 1), "{r:?}");
        assert!(!r.is_clean(), "a flush that gave up is not clean");
    }
}

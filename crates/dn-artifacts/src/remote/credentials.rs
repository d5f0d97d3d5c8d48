//! Storage credentials: what the platform returns, a source of fresh ones,
//! the provider that refreshes them before they expire or when the storage
//! rejects them, and the breaker that stops retrying a wrong secret.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dn_core::{Secret, Timestamp};
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;
use parking_lot::Mutex;
use serde::Deserialize;

/// Storage credentials as the platform returns them from
/// `GET {server}/api/v1/org/{org}/ws/{ws}/storage/credentials` (`docs/format.md`, "Artifacts and large values").
/// `Debug` never shows the secret key or the session token.
#[derive(Clone, Debug, Deserialize)]
pub struct StorageCredentials {
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Session token of temporary credentials.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// When they expire (ISO 8601, UTC).
    #[serde(default)]
    pub expiration: Option<String>,
    /// Bucket region (`us-east-1` when absent).
    #[serde(default)]
    pub region: Option<String>,
    /// Bucket.
    pub bucket: String,
    /// Key prefix inside the bucket.
    #[serde(default)]
    pub prefix: String,
    /// An S3-compatible endpoint instead of AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
}

/// Credentials are refreshed this long before they expire.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(15 * 60);
/// Most tries of one upload when the storage rejects the credentials.
pub const MAX_AUTH_TRIES: u32 = 3;

/// Where fresh credentials come from (the facade asks the platform).
pub trait CredentialSource: Send + Sync + 'static {
    /// Fetches a new set. The error message must not contain secrets.
    fn fetch(&self) -> Result<StorageCredentials, String>;
}

impl<F> CredentialSource for F
where
    F: Fn() -> Result<StorageCredentials, String> + Send + Sync + 'static,
{
    fn fetch(&self) -> Result<StorageCredentials, String> {
        self()
    }
}

/// Every secret seen so far, to scrub from messages.
#[derive(Default)]
pub(super) struct Redactor(Mutex<Vec<Secret>>);

impl Redactor {
    pub(super) fn learn(&self, c: &StorageCredentials) {
        let mut seen = self.0.lock();
        for s in std::iter::once(&c.secret_access_key).chain(c.session_token.as_ref()) {
            if !s.expose().is_empty() && !seen.contains(s) {
                seen.push(s.clone());
            }
        }
    }
    pub(super) fn scrub(&self, text: &str) -> String {
        let mut out: String = text.chars().take(600).collect();
        for s in self.0.lock().iter() {
            out = s.redact_in(&out);
        }
        out
    }
}

pub(super) struct CachedCredential {
    credential: Arc<AwsCredential>,
    refresh_at: Option<Timestamp>,
    expires_at: Option<Timestamp>,
}

/// An `object_store` credential provider over a [`CredentialSource`]:
/// cached, refreshed [`REFRESH_BEFORE_EXPIRY`] before expiry, dropped on
/// authentication errors.
pub(super) struct PlatformCredentials {
    pub(super) source: Arc<dyn CredentialSource>,
    pub(super) cache: Mutex<Option<CachedCredential>>,
    pub(super) redactor: Arc<Redactor>,
    pub(super) refreshes: AtomicU64,
}

impl std::fmt::Debug for PlatformCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlatformCredentials(<redacted>)")
    }
}

impl PlatformCredentials {
    pub(super) fn new(source: Arc<dyn CredentialSource>, redactor: Arc<Redactor>) -> PlatformCredentials {
        PlatformCredentials { source, cache: Mutex::new(None), redactor, refreshes: AtomicU64::new(0) }
    }
    pub(super) fn install(&self, c: &StorageCredentials) -> Arc<AwsCredential> {
        self.redactor.learn(c);
        let credential = Arc::new(AwsCredential {
            key_id: c.access_key_id.clone(),
            secret_key: c.secret_access_key.expose().to_string(),
            token: c.session_token.as_ref().map(|t| t.expose().to_string()),
        });
        let expires_at = c.expiration.as_deref().and_then(Timestamp::parse_iso);
        if c.expiration.is_some() && expires_at.is_none() {
            tracing::debug!(target: "dn", "storage credential expiration is not ISO 8601; refreshing on rejection only");
        }
        let refresh_at = expires_at.map(|exp| {
            let at = exp.to_system_time().checked_sub(REFRESH_BEFORE_EXPIRY).unwrap_or(std::time::UNIX_EPOCH);
            Timestamp::from_system_time(at)
        });
        *self.cache.lock() = Some(CachedCredential { credential: credential.clone(), refresh_at, expires_at });
        credential
    }

    pub(super) fn invalidate(&self) {
        *self.cache.lock() = None;
    }
}

#[async_trait::async_trait]
impl CredentialProvider for PlatformCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        if let Some(c) = &*self.cache.lock() {
            if c.refresh_at.is_none_or(|at| Timestamp::now_system() < at) {
                return Ok(c.credential.clone());
            }
        }
        let source = self.source.clone();
        let fetched =
            tokio::task::spawn_blocking(move || source.fetch()).await.map_err(|e| e.to_string()).and_then(|r| r);
        match fetched {
            Ok(c) => {
                self.refreshes.fetch_add(1, Ordering::Relaxed);
                Ok(self.install(&c))
            }
            Err(e) => {
                // Inside the refresh margin the old credential still works.
                if let Some(c) = &*self.cache.lock() {
                    if c.expires_at.is_some_and(|at| Timestamp::now_system() < at) {
                        tracing::debug!(target: "dn", "storage credentials not refreshed ({e}); using the current ones until they expire");
                        return Ok(c.credential.clone());
                    }
                }
                Err(object_store::Error::Generic {
                    store: "dn",
                    source: format!("could not refresh the storage credentials: {e}").into(),
                })
            }
        }
    }
}

pub(super) fn is_auth_error(e: &object_store::Error) -> bool {
    use object_store::Error as E;
    if matches!(e, E::PermissionDenied { .. } | E::Unauthenticated { .. }) {
        return true;
    }
    let m = e.to_string();
    ["ExpiredToken", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"].iter().any(|c| m.contains(c))
}

/// Stops asking the platform and the bucket after uploads keep failing on
/// rejected credentials: each such upload costs two credential fetches and
/// three requests, so a wrong secret with a thousand files queued would
/// hammer both. After [`AUTH_BREAKER_AFTER`] uploads in a row are rejected,
/// uploads fail at once (their local copies kept) for [`AUTH_BREAKER_PAUSE`];
/// then one is tried again, and a success closes the breaker.
#[derive(Default)]
pub(super) struct AuthBreaker {
    pub(super) state: Mutex<(u32, Option<Instant>)>,
}

/// Uploads rejected in a row before the breaker opens.
const AUTH_BREAKER_AFTER: u32 = 3;
/// How long an open breaker fails uploads without trying.
const AUTH_BREAKER_PAUSE: Duration = Duration::from_secs(60);

impl AuthBreaker {
    pub(super) fn open(&self) -> Option<String> {
        let mut st = self.state.lock();
        match st.1 {
            Some(until) if Instant::now() < until => Some(format!(
                "not tried: the storage rejected the credentials for the last {} uploads (the local copy is kept)",
                st.0
            )),
            Some(_) => {
                st.1 = None; // let one through
                None
            }
            None => None,
        }
    }
    pub(super) fn rejected(&self) {
        let mut st = self.state.lock();
        st.0 += 1;
        if st.0 >= AUTH_BREAKER_AFTER {
            st.1 = Some(Instant::now() + AUTH_BREAKER_PAUSE);
        }
    }
    pub(super) fn success(&self) {
        *self.state.lock() = (0, None);
    }
}

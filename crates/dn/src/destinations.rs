//! The remote destinations a configuration names, as OTLP settings: the
//! OpenTelemetry collector (`DREADNODE_OTLP_*` / `OTEL_EXPORTER_OTLP_*`) and
//! the Dreadnode platform (its scope resolved against the server). Used by
//! the instance at configure time and by `dn sync`, so both deliver to the
//! same destinations with the same delivery logs.

use crate::config::Settings;
use crate::error::{Error, Result};
use dn_export::otlp::OtlpConfig;
use dn_export::platform::PlatformScope;

/// What [`resolve`] found.
#[derive(Debug)]
pub struct Destinations {
    /// One OTLP setting per destination (collector first, then platform).
    pub otlp: Vec<OtlpConfig>,
    /// The platform's resolved scope, when streaming to it.
    pub platform: Option<PlatformScope>,
}

/// The destinations of `settings`. Streaming to the platform resolves its
/// scope now (organization, workspace, project; see [`dn_export::platform`]).
///
/// ```
/// let settings = dn::Config::new().isolated().resolve().unwrap();
/// let d = dn::destinations(&settings).unwrap();
/// assert!(d.otlp.is_empty(), "a local-only configuration has no remote destination");
/// ```
pub fn resolve(settings: &Settings) -> Result<Destinations> {
    let mut otlp = Vec::new();
    if let Some(dest) = &settings.otlp {
        let mut c = OtlpConfig::new(dest.endpoint.clone());
        c.flush_timeout = settings.shutdown_timeout;
        if let Some(t) = dest.timeout {
            c.request_timeout = t;
        }
        for (k, v) in &dest.headers {
            c = c.header(k.clone(), v.expose());
        }
        otlp.push(c);
    }
    let mut platform = None;
    if settings.streaming {
        let (Some(server), Some(api_key), Some(organization)) =
            (&settings.server, &settings.api_key, &settings.organization)
        else {
            return Err(Error::Config("remote streaming needs server, api key and organization".into()));
        };
        let target = dn_export::platform::PlatformTarget {
            server: server.clone(),
            api_key: api_key.clone(),
            organization: organization.clone(),
            workspace: settings.workspace.clone(),
            project: settings.project.clone(),
        };
        let scope = dn_export::platform::resolve(&target).map_err(|e| Error::Config(e.to_string()))?;
        let mut c = OtlpConfig::new(scope.traces_endpoint.clone());
        c.flush_timeout = settings.shutdown_timeout;
        c.project_override = Some(scope.project_id.clone());
        c.name = "dreadnode";
        c.conventions = dn_export::otlp::Conventions::AsWritten;
        c = c.header("X-Api-Key", api_key.expose());
        otlp.push(c);
        platform = Some(scope);
    }
    for c in &otlp {
        c.validate()?;
    }
    Ok(Destinations { otlp, platform })
}

/// Starts an uploader to the platform's storage with the workspace's
/// storage credentials (refreshed before they expire); `Err` says why
/// remote storage is not available, free of secrets.
#[cfg(feature = "artifacts")]
pub fn start_uploader(
    settings: &Settings,
    scope: &PlatformScope,
) -> std::result::Result<dn_artifacts::Uploader, String> {
    start_uploader_scrubbed(settings, scope, None)
}

/// [`start_uploader`], telling `scrubber` every set of credentials fetched
/// (the first and each refresh) so logged values never carry them.
#[cfg(feature = "artifacts")]
pub(crate) fn start_uploader_scrubbed(
    settings: &Settings,
    scope: &PlatformScope,
    scrubber: Option<std::sync::Arc<dn_core::Scrubber>>,
) -> std::result::Result<dn_artifacts::Uploader, String> {
    let parse = move |v: serde_json::Value| -> std::result::Result<dn_artifacts::StorageCredentials, String> {
        let c: dn_artifacts::StorageCredentials = serde_json::from_value(v)
            .map_err(|e| format!("the platform sent storage credentials dn cannot read: {e}"))?;
        if let Some(s) = &scrubber {
            s.add_secret(&c.access_key_id);
            s.add_secret(c.secret_access_key.expose());
            if let Some(t) = &c.session_token {
                s.add_secret(t.expose());
            }
        }
        Ok(c)
    };
    let (first, fetch) = dn_export::platform::storage_credentials(scope)?;
    let first = parse(first)?;
    let source = move || fetch().and_then(&parse);
    dn_artifacts::Uploader::start(&first, source, settings.uploads.clone(), Some(&settings.local_dir))
        .map_err(|e| e.to_string())
}

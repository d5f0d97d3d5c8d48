//! The Dreadnode platform's REST client: the scope (organization, workspace
//! and project, created when missing) resolved against `{server}/api/v1` at
//! configure time so the project's UUID can go on the wire, and the storage
//! credentials of the workspace (`docs/format.md`, "Platform").

use std::time::Duration;

use dn_core::Secret;

use crate::Error;

type Result<T> = std::result::Result<T, Error>;

/// What [`resolve`] needs: where the platform is and whose scope to resolve.
#[derive(Clone, Debug)]
pub struct PlatformTarget {
    /// `http(s)://` base URL of the platform.
    pub server: String,
    /// The API key (sent as `X-Api-Key`).
    pub api_key: Secret,
    /// Organization key.
    pub organization: String,
    /// Workspace key; the organization's default workspace when `None`.
    pub workspace: Option<String>,
    /// Project key (created when it does not exist).
    pub project: String,
}

/// The resolved scope of a streaming instance.
#[derive(Clone)]
pub struct PlatformScope {
    /// Organization key.
    pub organization: String,
    /// Workspace key.
    pub workspace: String,
    /// Project id (a UUID), or the project key when the server could not be
    /// reached at configure time.
    pub project_id: String,
    /// The OTLP traces endpoint.
    pub traces_endpoint: String,
    /// The API client, for later calls (storage credentials).
    api: Api,
    /// Whether the server answered while resolving.
    reachable: bool,
}

impl std::fmt::Debug for PlatformScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlatformScope")
            .field("organization", &self.organization)
            .field("workspace", &self.workspace)
            .field("project_id", &self.project_id)
            .field("traces_endpoint", &self.traces_endpoint)
            .finish()
    }
}

fn valid_key(what: &str, key: &str) -> Result<()> {
    let ok = !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::Platform(format!("{what} {key:?} is not a valid key (lowercase letters, digits and '-')")))
    }
}

enum Reply {
    Json(serde_json::Value),
    Status(u16),
    Unreachable(String),
}

#[derive(Clone)]
struct Api {
    agent: ureq::Agent,
    base: String,
    server: String,
    key: dn_core::Secret,
}

impl Api {
    /// `GET path`, or `POST path` with a JSON `body`.
    fn call(&self, path: &str, body: Option<serde_json::Value>) -> Reply {
        let url = format!("{}{path}", self.base);
        let result = match body {
            None => {
                self.agent.get(&url).header("X-API-Key", self.key.expose()).header("Accept", "application/json").call()
            }
            Some(b) => self
                .agent
                .post(&url)
                .header("X-API-Key", self.key.expose())
                .header("Accept", "application/json")
                .header("Content-Type", "application/json")
                .send(b.to_string()),
        };
        match result {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                if !(200..300).contains(&status) {
                    return Reply::Status(status);
                }
                match resp.body_mut().read_to_string().ok().and_then(|t| serde_json::from_str(&t).ok()) {
                    Some(v) => Reply::Json(v),
                    None => Reply::Status(status),
                }
            }
            // ureq's messages name the URL, never the header values.
            Err(e) => Reply::Unreachable(self.key.redact_in(&e.to_string())),
        }
    }

    fn rejected(&self, status: u16, what: &str) -> Error {
        match status {
            401 | 403 => {
                Error::Platform(format!("{} rejected the API key (HTTP {status}) while resolving {what}", self.server))
            }
            404 => Error::Platform(format!("{what} was not found on {}", self.server)),
            s => Error::Platform(format!("{} answered HTTP {s} while resolving {what}", self.server)),
        }
    }
}

/// Resolves organization, workspace and project; creates the project when
/// it does not exist. `Ok(None)` plus a warning when the server cannot be
/// reached (streaming then uses the project key and local files still work).
pub fn resolve(s: &PlatformTarget) -> Result<PlatformScope> {
    let (server, key, org) = (&s.server, &s.api_key, &s.organization);
    valid_key("organization", org)?;
    valid_key("project", &s.project)?;
    if let Some(ws) = &s.workspace {
        valid_key("workspace", ws)?;
    }
    let server = server.trim_end_matches('/').to_string();
    if !(server.starts_with("http://") || server.starts_with("https://")) {
        return Err(Error::Platform(format!("server {server:?} must be an http:// or https:// URL")));
    }
    let traces_endpoint = format!("{server}/api/v1/org/{org}/otel/traces");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .user_agent(dn_core::user_agent())
        .build()
        .into();
    let api = Api { agent, base: format!("{server}/api/v1"), server: server.clone(), key: key.clone() };
    let unreachable = |why: String| {
        tracing::warn!(target: "dn", "{server} could not be reached while configuring ({why}); streaming with the project key, local files are written as usual");
        Ok(PlatformScope {
            organization: org.clone(),
            workspace: s.workspace.clone().unwrap_or_default(),
            project_id: s.project.clone(),
            traces_endpoint: traces_endpoint.clone(),
            api: api.clone(),
            reachable: false,
        })
    };
    match api.call(&format!("/org/{org}"), None) {
        Reply::Json(_) => {}
        Reply::Status(st) => return Err(api.rejected(st, &format!("organization {org:?}"))),
        Reply::Unreachable(why) => return unreachable(why),
    }
    let workspace = match &s.workspace {
        Some(ws) => match api.call(&format!("/org/{org}/ws/{ws}"), None) {
            Reply::Json(v) => v["key"].as_str().unwrap_or(ws).to_string(),
            Reply::Status(st) => return Err(api.rejected(st, &format!("workspace {ws:?}"))),
            Reply::Unreachable(why) => return unreachable(why),
        },
        None => match api.call(&format!("/org/{org}/ws"), None) {
            Reply::Json(serde_json::Value::Array(list)) => {
                let pick = list.iter().find(|w| w["is_default"] == true).or_else(|| list.first());
                match pick.and_then(|w| w["key"].as_str()) {
                    Some(k) => k.to_string(),
                    None => return Err(Error::Platform(format!("organization {org:?} has no workspace on {server}"))),
                }
            }
            Reply::Json(_) => return Err(Error::Platform(format!("{server}: unexpected workspace list"))),
            Reply::Status(st) => return Err(api.rejected(st, &format!("the workspaces of {org:?}"))),
            Reply::Unreachable(why) => return unreachable(why),
        },
    };
    let project = &s.project;
    let project_id = match api.call(&format!("/org/{org}/ws/{workspace}/projects/{project}"), None) {
        Reply::Json(v) => v["id"].as_str().map(str::to_string),
        Reply::Status(404) => {
            let body = serde_json::json!({"name": project, "key": project});
            match api.call(&format!("/org/{org}/ws/{workspace}/projects"), Some(body)) {
                Reply::Json(v) => v["id"].as_str().map(str::to_string),
                Reply::Status(st) => return Err(api.rejected(st, &format!("a new project {project:?}"))),
                Reply::Unreachable(why) => return unreachable(why),
            }
        }
        Reply::Status(st) => return Err(api.rejected(st, &format!("project {project:?}"))),
        Reply::Unreachable(why) => return unreachable(why),
    };
    let project_id = project_id.ok_or_else(|| Error::Platform(format!("{server}: project {project:?} has no id")))?;
    Ok(PlatformScope { organization: org.clone(), workspace, project_id, traces_endpoint, api, reachable: true })
}

/// Fetches storage credentials (`docs/format.md`, "Artifacts and large values") and returns them with a source of
/// fresh ones for the uploader. `Err` says why remote storage is not
/// available (no secrets in it); the caller tells the user once.
pub fn storage_credentials(
    scope: &PlatformScope,
) -> std::result::Result<
    (serde_json::Value, impl Fn() -> std::result::Result<serde_json::Value, String> + Send + Sync + 'static),
    String,
> {
    if !scope.reachable {
        return Err(format!("{} could not be reached at configure time", scope.api.server));
    }
    let api = scope.api.clone();
    let path = format!("/org/{}/ws/{}/storage/credentials", scope.organization, scope.workspace);
    let fetch = move || -> std::result::Result<serde_json::Value, String> {
        match api.call(&path, None) {
            Reply::Json(v) => Ok(v),
            Reply::Status(st) => Err(format!("{} answered HTTP {st} for storage credentials", api.server)),
            Reply::Unreachable(why) => {
                Err(format!("{} could not be reached for storage credentials: {why}", api.server))
            }
        }
    };
    let first = fetch()?;
    Ok((first, fetch))
}

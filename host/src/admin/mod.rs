//! The admin HTTP API: upload, list, remove and roll back tools while the
//! gateway serves. It is never an MCP tool: agents cannot load code.
//!
//! Off unless `GATEWAY_ADMIN_KEY` is set; on its own listener (loopback
//! 127.0.0.1:8001 by default), never the agent-facing MCP port. Every
//! request passes [`auth::guard`] (Host allow-list, no browsers, the admin
//! key). Every change goes through the same [`Loader`] as the tools folder,
//! so every check applies, and is kept on disk ([`store`]) so a restart
//! serves the same tools. Changes run one at a time, each to its end even
//! when the client goes away. See `docs/admin.md`.

pub mod auth;
pub mod error;
pub mod store;
mod upload;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router, middleware};
use serde::Serialize;

use self::auth::{Actor, AdminKey, KEY_ENV, KeyError};
use self::error::AdminError;
use self::store::{Staged, Store, ToolName};
use crate::catalog::Catalog;
use crate::hotload::{Loader, LoaderError, same_dir};
use crate::manifest::{COMPONENT_FILE, MANIFEST_FILE, Manifest};
use crate::mcp::http::FrontDoor;
use crate::runtime::{LoadError, LoadedTool};
use crate::settings::{AdminSettings, DEFAULT_ADMIN_LISTEN};

/// How the admin API is set up.
#[derive(Debug)]
pub struct AdminConfig {
    /// The one key that opens it.
    pub key: AdminKey,
    /// Largest request body (the whole multipart upload).
    pub max_upload_bytes: u64,
    /// Previous versions kept per tool for rollback.
    pub keep_versions: usize,
    /// Host header values accepted beyond loopback.
    pub allowed_hosts: Vec<String>,
}

impl AdminConfig {
    /// `key` with the `[admin]` settings (defaults where unset).
    pub fn new(key: AdminKey, settings: &AdminSettings) -> Self {
        Self {
            key,
            max_upload_bytes: settings.max_upload_bytes(),
            keep_versions: settings.keep_versions(),
            allowed_hosts: settings.allowed_hosts.clone(),
        }
    }
}

/// The admin API's shared state.
pub struct Admin {
    loader: Arc<Loader>,
    store: Store,
    key: AdminKey,
    door: FrontDoor,
    max_upload_bytes: u64,
    /// One change at a time: two uploads never interleave their renames.
    changing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("store", &self.store)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The admin router over the tools folder of `loader`'s runtime.
pub fn app(loader: Arc<Loader>, config: AdminConfig) -> Router {
    let tools_dir = loader.runtime().settings().tools_dir.clone();
    let mut door = FrontDoor::default();
    door.allowed_hosts.extend(config.allowed_hosts);
    let body_cap = usize::try_from(config.max_upload_bytes).unwrap_or(usize::MAX);
    let admin = Arc::new(Admin {
        loader,
        store: Store::new(tools_dir, config.keep_versions),
        key: config.key,
        door,
        max_upload_bytes: config.max_upload_bytes,
        changing: tokio::sync::Mutex::new(()),
    });
    Router::new()
        .route("/admin/tools", get(list))
        .route("/admin/tools/{name}", get(show).put(upload).delete(remove))
        .route("/admin/tools/{name}/rollback", post(rollback))
        .fallback(|| async { AdminError::UnknownEndpoint })
        .method_not_allowed_fallback(|| async { AdminError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(body_cap))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&admin),
            auth::guard,
        ))
        .with_state(admin)
}

/// Why the admin API did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The key in the environment is unfit.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The listener could not bind.
    #[error("admin API: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Starts the admin API for `gateway serve` when `GATEWAY_ADMIN_KEY` is set:
/// checks the key, binds `listen` (else `[admin] listen`, else
/// 127.0.0.1:8001) and serves in the background. Returns the address, or
/// `None` when no key is set (the API is off).
pub async fn start(
    loader: Arc<Loader>,
    settings: &AdminSettings,
    listen: Option<SocketAddr>,
) -> Result<Option<SocketAddr>, StartError> {
    let Some(key) = std::env::var_os(KEY_ENV) else {
        tracing::info!("admin API off ({KEY_ENV} is not set)");
        return Ok(None);
    };
    let key = AdminKey::new(key.to_str().ok_or(KeyError::NotPrintable)?)?;
    let addr = listen.or(settings.listen).unwrap_or(DEFAULT_ADMIN_LISTEN);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the admin API is plain HTTP on a non-loopback address: put TLS in front of it");
    }
    let app = app(loader, AdminConfig::new(key, settings));
    tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service).await {
            tracing::error!("admin API stopped: {e}");
        }
    });
    tracing::info!(%addr, "admin API listening");
    Ok(Some(addr))
}

/// A served tool as the admin API lists it.
#[derive(Debug, Serialize)]
struct ToolInfo {
    name: String,
    version: Option<String>,
    definition_sha256: String,
    component_sha256: String,
    /// Relative to the tools folder when inside it.
    folder: String,
    integration: Option<String>,
    /// Versions a rollback can return to.
    previous_versions: usize,
}

/// A version's identity, for the answer to a change.
#[derive(Debug, Serialize)]
struct VersionInfo {
    version: Option<String>,
    definition_sha256: String,
    component_sha256: String,
}

impl From<&LoadedTool> for VersionInfo {
    fn from(tool: &LoadedTool) -> Self {
        Self {
            version: tool.manifest.version.clone(),
            definition_sha256: tool.definition_sha256.clone(),
            component_sha256: tool.component_sha256.clone(),
        }
    }
}

/// What a change did.
#[derive(Debug, Serialize)]
struct Outcome {
    /// `added`, `replaced`, `unchanged`, `rolled_back` or `removed`.
    change: &'static str,
    /// The tool as now served (`null` once removed).
    tool: Option<ToolInfo>,
    /// The version served before (`null` if none).
    previous: Option<VersionInfo>,
}

impl Admin {
    fn info(&self, tool: &LoadedTool) -> ToolInfo {
        let dir = tool.manifest.dir();
        let folder = dir
            .strip_prefix(self.store.tools_dir())
            .unwrap_or(dir)
            .display()
            .to_string();
        let previous_versions = ToolName::parse(&tool.definition.name)
            .ok()
            .and_then(|name| self.store.list_versions(&name).ok())
            .map_or(0, |v| v.len());
        ToolInfo {
            name: tool.definition.name.clone(),
            version: tool.manifest.version.clone(),
            definition_sha256: tool.definition_sha256.clone(),
            component_sha256: tool.component_sha256.clone(),
            folder,
            integration: tool.manifest.integration.clone(),
            previous_versions,
        }
    }

    fn served(&self, name: &ToolName) -> Option<Arc<LoadedTool>> {
        self.loader.catalog().current().get(name.as_str()).cloned()
    }

    /// The tool `name` as served from its own folder (`None` when not
    /// served); refused when it is served from a folder not named after it,
    /// or when its folder serves another tool.
    fn managed(
        &self,
        name: &ToolName,
        catalog: &Catalog,
    ) -> Result<Option<Arc<LoadedTool>>, AdminError> {
        let target = self.store.folder(name);
        let before = catalog.get(name.as_str()).cloned();
        if let Some(tool) = &before
            && !same_dir(tool.manifest.dir(), &target)
        {
            return Err(AdminError::NotManaged {
                name: name.to_string(),
                folder: tool.manifest.dir().display().to_string(),
            });
        }
        if let Some(other) = catalog
            .iter()
            .find(|t| t.definition.name != name.as_str() && same_dir(t.manifest.dir(), &target))
        {
            return Err(AdminError::FolderTaken {
                name: name.to_string(),
                folder: name.to_string(),
                other: other.definition.name.clone(),
            });
        }
        Ok(before)
    }

    /// The tool `name` as now served, for an answer.
    fn outcome(
        &self,
        change: &'static str,
        name: &ToolName,
        before: Option<&LoadedTool>,
    ) -> Outcome {
        Outcome {
            change,
            tool: self.served(name).map(|t| self.info(&t)),
            previous: before.map(VersionInfo::from),
        }
    }

    /// Puts the checked upload in `staged` in place of `name` and serves it.
    async fn install(&self, name: &ToolName, staged: Staged) -> Result<Outcome, AdminError> {
        let _one = self.changing.lock().await;
        let target = self.store.folder(name);
        let tools_dir = self.store.tools_dir();
        let catalog = self.loader.catalog().current();
        // Served from another folder: the Loader's own refusal, before a
        // compile is spent on it.
        if let Some(tool) = catalog.get(name.as_str())
            && !same_dir(tool.manifest.dir(), &target)
        {
            let error = LoaderError::NameTaken {
                dir: target,
                name: name.to_string(),
                other: tool.manifest.dir().to_path_buf(),
            };
            return Err(AdminError::refused(error, &[tools_dir]));
        }
        let before = self.managed(name, &catalog)?;
        self.loader
            .check_dir(staged.path(), &target)
            .await
            .map_err(|e| AdminError::refused(e, &[staged.path(), tools_dir]))?;
        if same_files(staged.path(), &target)? {
            // Nothing to move or keep: the folder already holds these files
            // (served, or refused earlier and fine now).
            self.loader
                .install_dir(&target)
                .await
                .map_err(|e| AdminError::refused(e, &[tools_dir]))?;
            return Ok(self.outcome(self.change(name, before.as_ref()), name, before.as_deref()));
        }
        // After the exchange the staging folder holds what was in place.
        let replaced = if target.exists() {
            self.store.exchange(staged.path(), &target)?;
            Some(staged)
        } else {
            self.store.rename(&staged.keep(), &target)?;
            None
        };
        if let Err(e) = self.loader.install_dir(&target).await {
            // Checked a moment ago, so this is rare (an environment change);
            // the previous version is still served: put its files back.
            match &replaced {
                Some(old) => self.store.exchange(old.path(), &target)?,
                None => std::fs::remove_dir_all(&target)?,
            }
            return Err(AdminError::refused(e, &[tools_dir]));
        }
        if let Some(old) = replaced {
            let old = old.keep();
            if let Err(e) = self.store.push_version(name, &old) {
                tracing::error!(tool = %name, kept = %old.display(),
                    "admin API: the previous version could not be kept for rollback: {e}");
            }
        }
        Ok(self.outcome(self.change(name, before.as_ref()), name, before.as_deref()))
    }

    /// What an install did to `name`, served as `before` until then: the
    /// Loader keeps the very same tool when nothing changed.
    fn change(&self, name: &ToolName, before: Option<&Arc<LoadedTool>>) -> &'static str {
        match (before, self.served(name)) {
            (None, _) => "added",
            (Some(before), Some(now)) if Arc::ptr_eq(before, &now) => "unchanged",
            _ => "replaced",
        }
    }

    /// Serves the newest previous version of `name` again; the version it
    /// replaces is discarded (upload it again to roll forward).
    async fn rollback(&self, name: &ToolName) -> Result<Outcome, AdminError> {
        let _one = self.changing.lock().await;
        let target = self.store.folder(name);
        let tools_dir = self.store.tools_dir();
        let before = self.managed(name, &self.loader.catalog().current())?;
        let Some(version) = self.store.newest_version(name)? else {
            return Err(if before.is_some() || target.exists() {
                AdminError::NoPreviousVersion(name.to_string())
            } else {
                AdminError::NotFound(name.to_string())
            });
        };
        self.loader
            .check_dir(&version, &target)
            .await
            .map_err(|e| AdminError::refused(e, &[&version, tools_dir]))?;
        let replacing = target.exists();
        if replacing {
            self.store.exchange(&version, &target)?;
        } else {
            self.store.rename(&version, &target)?;
        }
        if let Err(e) = self.loader.install_dir(&target).await {
            if replacing {
                self.store.exchange(&version, &target)?;
            } else {
                self.store.rename(&target, &version)?;
            }
            return Err(AdminError::refused(e, &[tools_dir]));
        }
        if replacing && let Err(e) = std::fs::remove_dir_all(&version) {
            tracing::warn!(dir = %version.display(), "admin API: cannot discard the rolled-back version: {e}");
        }
        Ok(self.outcome("rolled_back", name, before.as_deref()))
    }

    /// Stops serving `name` and keeps its folder as its newest previous
    /// version (a rollback brings it back).
    async fn remove(&self, name: &ToolName) -> Result<Outcome, AdminError> {
        let _one = self.changing.lock().await;
        let target = self.store.folder(name);
        let before = self.managed(name, &self.loader.catalog().current())?;
        if target.exists() {
            self.store.push_version(name, &target)?;
        } else if before.is_none() {
            return Err(AdminError::NotFound(name.to_string()));
        }
        match self.loader.remove(name.as_str()).await {
            // The watcher may have seen the folder go first.
            Ok(_) | Err(LoaderError::NotFound(_)) => {}
            Err(e) => return Err(AdminError::refused(e, &[])),
        }
        Ok(Outcome {
            change: "removed",
            tool: None,
            previous: before.as_deref().map(VersionInfo::from),
        })
    }
}

/// Whether the staged upload is byte for byte what `target` holds.
fn same_files(staged: &Path, target: &Path) -> std::io::Result<bool> {
    for file in [MANIFEST_FILE, COMPONENT_FILE] {
        let theirs = match std::fs::read(target.join(file)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if std::fs::read(staged.join(file))? != theirs {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The `{name}` of a URL, checked before it names any path.
fn tool_name(
    path: Result<axum::extract::Path<String>, PathRejection>,
) -> Result<ToolName, AdminError> {
    let axum::extract::Path(name) = path.map_err(|e| AdminError::InvalidName(e.body_text()))?;
    ToolName::parse(&name).map_err(AdminError::InvalidName)
}

/// Runs a change to its end in its own task: a client that hangs up must
/// not leave a swap half done.
async fn to_completion<F>(change: F) -> Result<Outcome, AdminError>
where
    F: Future<Output = Result<Outcome, AdminError>> + Send + 'static,
{
    tokio::spawn(change)
        .await
        .map_err(|e| AdminError::Internal(format!("an admin change failed: {e}")))?
}

/// Logs an admin action (who, what, old and new definition hash) and answers.
fn answer(
    actor: &Actor,
    action: &str,
    name: &ToolName,
    result: Result<Outcome, AdminError>,
) -> Response {
    match result {
        Ok(outcome) => {
            let hash = |v: Option<&str>| v.unwrap_or("-").to_owned();
            tracing::info!(
                who = %actor,
                action,
                tool = %name,
                change = outcome.change,
                old_definition = %hash(outcome.previous.as_ref().map(|p| p.definition_sha256.as_str())),
                new_definition = %hash(outcome.tool.as_ref().map(|t| t.definition_sha256.as_str())),
                component = %hash(outcome.tool.as_ref().map(|t| t.component_sha256.as_str())),
                "admin action"
            );
            let status = if outcome.change == "added" {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(outcome)).into_response()
        }
        Err(e) => {
            tracing::warn!(who = %actor, action, tool = %name, code = e.code(), "admin action refused: {e}");
            e.into_response()
        }
    }
}

async fn list(State(admin): State<Arc<Admin>>) -> Response {
    let catalog = admin.loader.catalog().current();
    let tools: Vec<ToolInfo> = catalog.iter().map(|t| admin.info(t)).collect();
    Json(serde_json::json!({ "tools": tools })).into_response()
}

async fn show(
    State(admin): State<Arc<Admin>>,
    path: Result<axum::extract::Path<String>, PathRejection>,
) -> Result<Json<ToolInfo>, AdminError> {
    let name = tool_name(path)?;
    let tool = admin
        .served(&name)
        .ok_or_else(|| AdminError::NotFound(name.to_string()))?;
    Ok(Json(admin.info(&tool)))
}

async fn upload(
    State(admin): State<Arc<Admin>>,
    Extension(actor): Extension<Actor>,
    path: Result<axum::extract::Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let name = match tool_name(path) {
        Ok(name) => name,
        Err(e) => return e.into_response(),
    };
    let result = async {
        let staged = admin.store.stage()?;
        upload::receive(request, &staged, admin.max_upload_bytes).await?;
        let manifest = Manifest::load(&staged.path().join(MANIFEST_FILE)).map_err(|e| {
            AdminError::refused(LoaderError::Load(LoadError::Manifest(e)), &[staged.path()])
        })?;
        if manifest.name != name.as_str() {
            return Err(AdminError::NameMismatch {
                url: name.to_string(),
                manifest: manifest.name,
            });
        }
        let (admin, name) = (Arc::clone(&admin), name.clone());
        to_completion(async move { admin.install(&name, staged).await }).await
    }
    .await;
    answer(&actor, "upload", &name, result)
}

async fn remove(
    State(admin): State<Arc<Admin>>,
    Extension(actor): Extension<Actor>,
    path: Result<axum::extract::Path<String>, PathRejection>,
) -> Response {
    let name = match tool_name(path) {
        Ok(name) => name,
        Err(e) => return e.into_response(),
    };
    let result = {
        let (admin, name) = (Arc::clone(&admin), name.clone());
        to_completion(async move { admin.remove(&name).await }).await
    };
    answer(&actor, "delete", &name, result)
}

async fn rollback(
    State(admin): State<Arc<Admin>>,
    Extension(actor): Extension<Actor>,
    path: Result<axum::extract::Path<String>, PathRejection>,
) -> Response {
    let name = match tool_name(path) {
        Ok(name) => name,
        Err(e) => return e.into_response(),
    };
    let result = {
        let (admin, name) = (Arc::clone(&admin), name.clone());
        to_completion(async move { admin.rollback(&name).await }).await
    };
    answer(&actor, "rollback", &name, result)
}

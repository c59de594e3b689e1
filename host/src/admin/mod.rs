//! The admin HTTP API: upload, list, remove and roll back tools while the
//! gateway serves. It is never an MCP tool: agents cannot load code.
//!
//! Off unless `GATEWAY_ADMIN_KEY` (or `GATEWAY_ADMIN_KEY_FILE`) is set; on its own listener (loopback
//! 127.0.0.1:8001 by default), never the agent-facing MCP port. Every
//! request passes the [`auth`] checks (the [`crate::frontdoor`]'s one
//! allowed Host and no browsers, then the admin key, failed keys limited
//! per address by [`ratelimit`]); the listener has the connection limits of
//! [`crate::frontdoor::listener`]. Every change goes through the same
//! [`Loader`] as the tools folder,
//! so every check applies, and is kept on disk ([`store`]) so a restart
//! serves the same tools. Changes run one at a time, each to its end even
//! when the client goes away. See `docs/admin.md`.

pub mod auth;
mod changes;
pub mod error;
pub mod ratelimit;
pub mod store;
mod upload;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router, middleware};

use self::auth::{Actor, KEY_ENV, KEY_FILE_ENV, KeySource, KeySourceError};
use self::changes::{Outcome, ToolInfo};
use self::error::AdminError;
use self::store::{Store, ToolName};
use crate::frontdoor::FrontDoor;
use crate::hotload::{ChangeKind, Loader, LoaderError};
use crate::manifest::{MANIFEST_FILE, Manifest};
use crate::runtime::LoadError;
use crate::settings::{AdminSettings, DEFAULT_ADMIN_LISTEN};

/// How the admin API is set up.
#[derive(Debug)]
pub struct AdminConfig {
    /// The one key that opens it, or the file it is read from.
    pub key: KeySource,
    /// Largest request body (the whole multipart upload).
    pub max_upload_bytes: u64,
    /// Previous versions kept per tool for rollback.
    pub keep_versions: usize,
    /// Host header values accepted beyond loopback.
    pub allowed_hosts: Vec<String>,
    /// Failed key checks per client address in a row.
    pub auth_failure_burst: u32,
    /// Time for one more failed check to be allowed back.
    pub auth_failure_refill: std::time::Duration,
}

impl AdminConfig {
    /// `key` with the `[admin]` settings (defaults where unset).
    pub fn new(key: impl Into<KeySource>, settings: &AdminSettings) -> Self {
        Self {
            key: key.into(),
            max_upload_bytes: settings.max_upload_bytes(),
            keep_versions: settings.keep_versions(),
            allowed_hosts: settings.allowed_hosts.clone(),
            auth_failure_burst: settings
                .auth_failure_burst
                .unwrap_or(ratelimit::DEFAULT_BURST),
            auth_failure_refill: std::time::Duration::from_millis(
                settings
                    .auth_failure_refill_ms
                    .unwrap_or(ratelimit::DEFAULT_REFILL_MS),
            ),
        }
    }
}

/// The admin API's shared state.
pub struct Admin {
    loader: Arc<Loader>,
    store: Store,
    key: KeySource,
    door: FrontDoor,
    failures: ratelimit::FailureLimiter,
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
        failures: ratelimit::FailureLimiter::new(
            config.auth_failure_burst,
            config.auth_failure_refill,
        ),
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
    /// No usable key in the environment (or its file).
    #[error(transparent)]
    Key(#[from] KeySourceError),
    /// The listener could not bind.
    #[error("admin API: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Starts the admin API for `gateway serve` when `GATEWAY_ADMIN_KEY` or
/// `GATEWAY_ADMIN_KEY_FILE` is set (both: an error): checks the key, binds
/// `listen` (else `[admin] listen`, else 127.0.0.1:8001) and serves in the
/// background. Returns the address, or `None` when no key is set (the API
/// is off).
pub async fn start(
    loader: Arc<Loader>,
    settings: &AdminSettings,
    listen: Option<SocketAddr>,
) -> Result<Option<SocketAddr>, StartError> {
    let Some(key) = KeySource::from_env()? else {
        tracing::info!("admin API off (neither {KEY_ENV} nor {KEY_FILE_ENV} is set)");
        return Ok(None);
    };
    if let KeySource::File(file) = &key {
        tracing::info!(file = %file.path().display(), "admin key read from a file; re-read when it changes");
    }
    let addr = listen.or(settings.listen).unwrap_or(DEFAULT_ADMIN_LISTEN);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })?;
    let addr = listener.local_addr().unwrap_or(addr);
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the admin API is plain HTTP on a non-loopback address: put TLS in front of it");
    }
    let app = app(loader, AdminConfig::new(key, settings));
    let limits = settings.connection_limits();
    tokio::spawn(async move {
        // Served until the process exits: admin changes run to completion
        // on their own (`to_completion`), so there is nothing to drain.
        let forever = tokio_util::sync::CancellationToken::new();
        if let Err(e) =
            crate::frontdoor::listener::serve(listener, app, limits, forever, "admin").await
        {
            tracing::error!("admin API stopped: {e}");
        }
    });
    tracing::info!(%addr, "admin API listening");
    Ok(Some(addr))
}

/// The `{name}` of a URL, checked before it names any path.
fn tool_name(
    path: Result<axum::extract::Path<String>, PathRejection>,
) -> Result<ToolName, AdminError> {
    let axum::extract::Path(name) = path.map_err(|e| AdminError::UndecodableName(e.body_text()))?;
    Ok(ToolName::parse(&name)?)
}

/// Runs a change to its end in its own task: a client that hangs up must
/// not leave a swap half done.
async fn to_completion<F>(change: F) -> Result<Outcome, AdminError>
where
    F: Future<Output = Result<Outcome, AdminError>> + Send + 'static,
{
    tokio::spawn(change).await?
}

/// An admin change's audit line in the making (when `[audit] file` is set).
struct Audit {
    log: Option<crate::audit::AuditLog>,
    started: std::time::Instant,
}

impl Audit {
    fn start(admin: &Admin) -> Self {
        Self {
            log: admin.loader.audit.get().cloned(),
            started: std::time::Instant::now(),
        }
    }

    fn record(
        self,
        actor: &Actor,
        action: &'static str,
        name: &ToolName,
        result: &Result<Outcome, AdminError>,
    ) {
        use crate::audit::{AuditEntry, Code, HexDigest, Kind, Label, Principal};
        let Some(log) = self.log else {
            return;
        };
        let id = Label::request_id();
        let principal = Principal::parse(&actor.key).unwrap_or(Principal::Local);
        let mut entry = AuditEntry::new(Kind::Admin, id, principal);
        entry.tool = Label::tool(name.as_str());
        entry.action = Code::from_static(action).ok();
        entry.duration = self.started.elapsed();
        match result {
            Ok(outcome) => {
                if let Some(tool) = &outcome.tool {
                    entry.definition_sha256 = HexDigest::parse(&tool.definition_sha256).ok();
                    entry.component_sha256 = HexDigest::parse(&tool.component_sha256).ok();
                }
            }
            Err(e) => {
                if let Ok(code) = Code::from_static(e.code()) {
                    entry.outcome = code;
                }
            }
        }
        log.record(entry);
    }
}

/// Logs an admin action (who, what, old and new definition hash), records
/// it in the audit trail, and answers.
fn answer(
    actor: &Actor,
    action: &'static str,
    name: &ToolName,
    result: Result<Outcome, AdminError>,
    audit: Audit,
) -> Response {
    audit.record(actor, action, name, &result);
    match result {
        Ok(outcome) => {
            let hash = |v: Option<&str>| v.unwrap_or("-").to_owned();
            tracing::info!(
                who = %actor,
                action,
                tool = %name,
                change = outcome.change.as_str(),
                old_definition = %hash(outcome.previous.as_ref().map(|p| p.definition_sha256.as_str())),
                new_definition = %hash(outcome.tool.as_ref().map(|t| t.definition_sha256.as_str())),
                component = %hash(outcome.tool.as_ref().map(|t| t.component_sha256.as_str())),
                "admin action"
            );
            let status = if outcome.change == ChangeKind::Added {
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
    let audit = Audit::start(&admin);
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
    answer(&actor, "upload", &name, result, audit)
}

async fn remove(
    State(admin): State<Arc<Admin>>,
    Extension(actor): Extension<Actor>,
    path: Result<axum::extract::Path<String>, PathRejection>,
) -> Response {
    named_change(admin, actor, path, Action::Delete).await
}

async fn rollback(
    State(admin): State<Arc<Admin>>,
    Extension(actor): Extension<Actor>,
    path: Result<axum::extract::Path<String>, PathRejection>,
) -> Response {
    named_change(admin, actor, path, Action::Rollback).await
}

/// A change the URL alone names.
#[derive(Debug, Clone, Copy)]
enum Action {
    Delete,
    Rollback,
}

/// Runs a delete or rollback to completion and answers for it.
async fn named_change(
    admin: Arc<Admin>,
    actor: Actor,
    path: Result<axum::extract::Path<String>, PathRejection>,
    action: Action,
) -> Response {
    let audit = Audit::start(&admin);
    let name = match tool_name(path) {
        Ok(name) => name,
        Err(e) => return e.into_response(),
    };
    let tool = name.clone();
    let result = to_completion(async move {
        match action {
            Action::Delete => admin.remove(&tool).await,
            Action::Rollback => admin.rollback(&tool).await,
        }
    })
    .await;
    let label = match action {
        Action::Delete => "delete",
        Action::Rollback => "rollback",
    };
    answer(&actor, label, &name, result, audit)
}

//! The MCP surface: promoted tools and the gateway's built-in tools, served
//! over Streamable HTTP (`/mcp`), the legacy HTTP+SSE transport (`/sse`) and
//! stdio, all through one [`handler::GatewayHandler`].
//!
//! By job: [`http`] routes the HTTP transports (behind the
//! [`crate::frontdoor`]), [`jsonrpc`] judges each POSTed message,
//! [`admission`] admits each tool call under the [`crate::limits`], [`sse`]
//! and [`sessions`] keep the legacy streams and the 2025 sessions, [`stdio`]
//! serves one client on stdin/stdout, [`drain`] counts the calls owed a
//! result for the graceful shutdown; [`progress`] forwards a call's progress
//! and ends it when its caller cancels; [`definitions`] builds the tools' MCP
//! definitions, [`builtin`] declares and runs the built-in tools,
//! [`resources`] serves the field registry (and [`skills`] the tools'
//! `SKILL.md`) as resources, [`prompts`] the `SKILL.md` as prompts, and
//! [`handler`] answers MCP requests with them.

pub mod admission;
pub mod builtin;
pub mod confirm;
pub mod definitions;
pub mod drain;
pub mod handler;
pub mod http;
pub mod jsonrpc;
pub mod progress;
pub mod prompts;
pub mod resources;
pub mod session_id;
pub mod sessions;
pub mod skills;
pub mod sse;
pub mod stdio;

use std::sync::Arc;

use arc_swap::ArcSwapOption;

pub use definitions::Definitions;

use crate::catalog::LiveCatalog;
use crate::fields::{LintError, Registry, Watched};
use crate::limits::Limits;
use crate::runtime::Runtime;

/// What every MCP session shares: the sandbox, the loaded tools and the
/// server's identity.
pub struct Gateway {
    /// The sandbox runtime.
    pub runtime: Arc<Runtime>,
    /// Tools by name, replaced whole when a tool is added, changed or removed.
    pub catalog: Arc<LiveCatalog>,
    /// The field registry: meanings for output schemas, the validation of
    /// results, and the built-in field tools.
    pub fields: FieldSource,
    /// Name announced to clients (`MCP_SERVER_NAME`).
    pub name: String,
    /// Call rates and the cap on calls in flight, shared by every transport.
    pub limits: Arc<Limits>,
    /// The definitions as served, for the registry they were built with.
    definitions: ArcSwapOption<definitions::Definitions>,
    /// Whether HTTP callers must authenticate: then a request that somehow
    /// carries no caller sees only the built-in tools.
    auth_required: std::sync::atomic::AtomicBool,
    /// Where every call is recorded, when `[audit] file` is set.
    pub audit: std::sync::OnceLock<crate::audit::AuditLog>,
    /// Where each call's span goes, when traces are exported
    /// (docs/observability.md).
    pub traces: std::sync::OnceLock<crate::telemetry::trace::Traces>,
    /// Upstream MCP servers' tools (`mcp_connections.json`), none unless
    /// [`Gateway::with_upstreams`] sets them.
    pub upstreams: Arc<crate::upstream::Upstreams>,
    /// The Prometheus metrics every call and change is recorded in.
    pub metrics: Arc<crate::telemetry::metrics::Metrics>,
    /// What `/readyz` answers from.
    pub readiness: crate::telemetry::health::Readiness,
    /// Whether the MCP listener serves `/metrics` (not when `[metrics]`
    /// turns it off or gives it a listener of its own).
    metrics_route: std::sync::atomic::AtomicBool,
    /// Confirmations of approved writes: the `requestState` key, the wait,
    /// the states already used (docs/confirmations.md).
    confirmations: arc_swap::ArcSwap<confirm::Confirmations>,
}

impl Gateway {
    /// A gateway serving `catalog` with the registry from `fields`, with no
    /// call rate and the default cap on calls in flight
    /// ([`Gateway::with_limits`] sets others).
    pub fn new(
        runtime: Arc<Runtime>,
        catalog: Arc<LiveCatalog>,
        fields: FieldSource,
        name: impl Into<String>,
    ) -> Self {
        let runtime_confirm_timeout = runtime.settings().confirm.timeout;
        Self {
            runtime,
            catalog,
            fields,
            name: name.into(),
            limits: Arc::new(Limits::default()),
            definitions: ArcSwapOption::empty(),
            auth_required: std::sync::atomic::AtomicBool::new(false),
            audit: std::sync::OnceLock::new(),
            traces: std::sync::OnceLock::new(),
            upstreams: Arc::new(crate::upstream::Upstreams::none()),
            metrics: Arc::new(crate::telemetry::metrics::Metrics::new()),
            readiness: crate::telemetry::health::Readiness::default(),
            metrics_route: std::sync::atomic::AtomicBool::new(true),
            confirmations: arc_swap::ArcSwap::from_pointee(confirm::Confirmations::new(
                None,
                runtime_confirm_timeout,
            )),
        }
    }

    /// Signs 2026-07-28 confirmation states with a key derived from the
    /// replicas' session key, so any replica verifies a state another
    /// issued (docs/scale-out.md). Without it each process has its own.
    pub fn share_confirmation_key(&self, key: &session_id::SessionKey) {
        let timeout = self.confirmations.load().timeout();
        self.confirmations
            .store(Arc::new(confirm::Confirmations::new(Some(key), timeout)));
    }

    /// The confirmation settings and state in use.
    pub fn confirmations(&self) -> Arc<confirm::Confirmations> {
        self.confirmations.load_full()
    }

    /// This gateway serving `upstreams`' tools too.
    pub fn with_upstreams(mut self, upstreams: Arc<crate::upstream::Upstreams>) -> Self {
        self.upstreams = upstreams;
        self
    }

    /// Marks HTTP callers as required to authenticate (`gateway serve` with
    /// `[auth]` on).
    pub fn require_auth(&self) {
        self.auth_required
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The caller of a request no authentication vouched for: the local
    /// operator, or nobody when this gateway requires authentication.
    pub fn unauthenticated(&self) -> crate::auth::Caller {
        if self
            .auth_required
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            crate::auth::Caller {
                principal: crate::auth::Principal::Local,
                team: None,
                scope: crate::auth::Scope::none(),
            }
        } else {
            crate::auth::Caller::local()
        }
    }

    /// Keeps `/metrics` off the MCP listener (`[metrics] enabled = false`,
    /// or `[metrics] listen` serving it elsewhere).
    pub fn metrics_off_listener(&self) {
        self.metrics_route
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether the MCP listener serves `/metrics`.
    pub fn metrics_on_listener(&self) -> bool {
        self.metrics_route
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This gateway under `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = Arc::new(limits);
        self
    }
}

/// Where the field registry comes from.
#[derive(Debug, Clone)]
pub enum FieldSource {
    /// Loaded once (tests, or a gateway without a fields folder).
    Fixed(Arc<Registry>),
    /// A folder reloaded when its files change.
    Watched(Arc<Watched>),
}

impl FieldSource {
    /// A source with no integrations.
    pub fn empty() -> Self {
        FieldSource::Fixed(Arc::new(Registry::default()))
    }

    /// The registry in use.
    pub fn current(&self) -> Arc<Registry> {
        match self {
            FieldSource::Fixed(registry) => Arc::clone(registry),
            FieldSource::Watched(watched) => watched.current(),
        }
    }

    /// A receiver that changes when the registry in use is replaced; `None`
    /// for a registry that never changes.
    pub fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<Arc<Registry>>> {
        match self {
            FieldSource::Fixed(_) => None,
            FieldSource::Watched(watched) => Some(watched.subscribe()),
        }
    }

    /// Problems in the folder's files as last read (empty when all loaded).
    pub fn problems(&self) -> Arc<Vec<LintError>> {
        match self {
            FieldSource::Fixed(_) => Arc::new(Vec::new()),
            FieldSource::Watched(watched) => watched.errors(),
        }
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("name", &self.name)
            .field("tools", &self.catalog.current().len())
            .field("fields", &self.fields)
            .finish_non_exhaustive()
    }
}

//! The sandbox: one engine, compile once per component, an `InstancePre` per
//! tool, and a fresh `Store` per call with memory, time, request and byte limits.

pub mod cache;
pub mod definition;
pub mod engine;
pub mod error;
pub mod incremental;
pub mod limits;
pub mod pyview;
pub mod state;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasmtime_wasi_http::WasiHttpCtx;

use self::cache::{ArtifactCache, CacheError, CacheOutcome, sha256_hex};
use self::engine::{EpochTicker, ticks_for};
pub use self::error::{CallError, LoadError};
use self::limits::{CallLimiter, MemoryBudget};
use self::state::{CallState, ToolContext};
/// The 0.2.0 content blocks a tool may return besides its JSON.
pub use crate::bindings::{ContentBlock, Embedded, Media};
use crate::bindings::{ToolComponentPre, ToolDescription, ToolError, ToolOutput};
use crate::capability;
use crate::capability::config::GuestConfig;
use crate::capability::http::GuestHttp;
use crate::capability::log::{GuestLog, Level, LogBuffer, LogLine, Source};
use crate::capability::progress::{GuestProgress, ProgressSender, ProgressSink};
use crate::capability::stdio::Capture;
use crate::capability::wasi_http::OutboundHooks;
use crate::manifest::{COMPONENT_FILE, MANIFEST_FILE, Manifest};
use crate::outbound::confirm::Gate;
use crate::outbound::meter::Meter;
use crate::outbound::observe::ExchangeObserver;
use crate::outbound::{Outbound, SecretError};
use crate::settings::Settings;

/// Largest input JSON accepted from an agent.
pub const MAX_INPUT_BYTES: usize = 1 << 20;
/// Extra wall time the host allows past the epoch deadline before it drops a
/// call that is stuck in a host function (epochs do not interrupt host calls).
const HOST_GRACE: Duration = Duration::from_millis(250);
/// Resources (streams, bodies, fields) a guest may hold at once.
const MAX_RESOURCES: usize = 4096;
/// Budget for `describe` at load time.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a call that can be cancelled hands control back to the host
/// while its guest computes, so a cancellation stops it within this many
/// epoch ticks even in a loop that never calls the host.
const CANCEL_CHECK_TICKS: u64 = 5;

/// Which version of the `gateway:tool` contract a component was built
/// against (docs/progress.md, "WIT versions").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Contract {
    /// `gateway:tool@0.1.0`: JSON text only, no progress.
    V0_1,
    /// `gateway:tool@0.2.0`: JSON plus content blocks, progress.
    V0_2,
}

impl Contract {
    /// The version as the WIT package names it, e.g. "0.2.0".
    pub fn as_str(self) -> &'static str {
        match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        }
    }
}

/// A component ready to instantiate, for the contract it exports.
enum ToolPre {
    V0_1(crate::bindings::v0_1::ToolComponentPre<CallState>),
    V0_2(ToolComponentPre<CallState>),
}

impl ToolPre {
    /// Picks the contract the component exports, newest first.
    fn new(
        component: &wasmtime::component::Component,
        instance_pre: wasmtime::component::InstancePre<CallState>,
    ) -> wasmtime::Result<Self> {
        let exports = |name| component.get_export_index(None, name).is_some();
        if !exports(crate::bindings::TOOL_EXPORT) && exports(crate::bindings::v0_1::TOOL_EXPORT) {
            return crate::bindings::v0_1::ToolComponentPre::new(instance_pre).map(ToolPre::V0_1);
        }
        ToolComponentPre::new(instance_pre).map(ToolPre::V0_2)
    }

    fn contract(&self) -> Contract {
        match self {
            ToolPre::V0_1(_) => Contract::V0_1,
            ToolPre::V0_2(_) => Contract::V0_2,
        }
    }

    async fn describe(&self, store: &mut Store<CallState>) -> wasmtime::Result<ToolDescription> {
        match self {
            ToolPre::V0_1(pre) => {
                let bindings = pre.instantiate_async(&mut *store).await?;
                let d = bindings.gateway_tool_tool().call_describe(store).await?;
                Ok(d.into())
            }
            ToolPre::V0_2(pre) => {
                let bindings = pre.instantiate_async(&mut *store).await?;
                bindings.gateway_tool_tool().call_describe(store).await
            }
        }
    }

    /// Runs `call`; a 0.1.0 result is a tool output without content blocks.
    async fn call(
        &self,
        store: &mut Store<CallState>,
        input: &str,
    ) -> wasmtime::Result<Result<ToolOutput, ToolError>> {
        match self {
            ToolPre::V0_1(pre) => {
                let bindings = pre.instantiate_async(&mut *store).await?;
                let result = bindings.gateway_tool_tool().call_call(store, input).await?;
                Ok(result
                    .map(|json| ToolOutput {
                        json,
                        content: Vec::new(),
                    })
                    .map_err(ToolError::from))
            }
            ToolPre::V0_2(pre) => {
                let bindings = pre.instantiate_async(&mut *store).await?;
                bindings.gateway_tool_tool().call_call(store, input).await
            }
        }
    }
}

/// What the caller of one tool call lends it besides the input: where the
/// tool's progress goes, and what cancels it.
#[derive(Default)]
pub struct CallControl {
    /// Where progress reports go; without it they are dropped.
    pub progress: Option<ProgressSender>,
    /// Resolves when the caller cancels the call: the sandbox is then
    /// dropped where it is, and the call ends with [`CallError::Cancelled`].
    pub cancelled: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// Where a write that needs the caller's confirmation is asked
    /// (docs/confirmations.md); without it such writes are refused.
    pub gate: Option<Arc<Gate>>,
    /// Where the run's own span is exported (`[telemetry] sandbox_spans`,
    /// docs/observability.md); without it the run has no exported span.
    pub spans: Option<crate::telemetry::trace::SandboxSpans>,
}

impl std::fmt::Debug for CallControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallControl")
            .field("progress", &self.progress.is_some())
            .field("cancellable", &self.cancelled.is_some())
            .field("gated", &self.gate.is_some())
            .field("traced", &self.spans.is_some())
            .finish()
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The engine configuration was refused by wasmtime.
    #[error("engine: {0:#}")]
    Engine(#[source] wasmtime::Error),
    /// Linking the host interfaces failed.
    #[error("linker: {0:#}")]
    Linker(#[source] wasmtime::Error),
    /// The epoch ticker thread could not start.
    #[error("epoch ticker: {0}")]
    Ticker(#[from] std::io::Error),
}

/// What a tool says about itself, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDefinition {
    /// Tool name (equals the manifest's).
    pub name: String,
    /// Description for agents.
    pub description: String,
    /// JSON Schema of the input.
    pub input_schema: Value,
    /// JSON Schema of the output, if declared.
    pub output_schema: Option<Value>,
}

/// A tool ready to call.
pub struct LoadedTool {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its self-description.
    pub definition: ToolDefinition,
    /// SHA-256 of the component bytes.
    pub component_sha256: String,
    /// SHA-256 of what an agent and an admin rely on: name, description,
    /// schemas, integration, outbound capabilities and limits. A change of
    /// component that keeps this hash changes nothing they can see.
    pub definition_sha256: String,
    /// Whether the artifact came from the cache.
    pub cache: CacheOutcome,
    /// The contract version the component was built against.
    pub contract: Contract,
    /// The tool folder's `SKILL.md` (when to use the tool, how to read its
    /// output), read with the folder; served as an MCP prompt and skill
    /// (docs/resources-and-prompts.md).
    pub skill: Option<Arc<str>>,
    pre: ToolPre,
    ctx: Arc<ToolContext>,
}

impl LoadedTool {
    /// The tool's outbound policy (its `[[http]]` entries resolved with the
    /// effective config), for explaining denials (`outbound::teach`).
    pub fn policy(&self) -> &crate::outbound::policy::Policy {
        self.ctx.outbound.policy()
    }

    /// What scrubs this tool's bound secrets (and their encodings) from
    /// everything its outbound door hands on.
    pub fn redactor(&self) -> &Arc<crate::outbound::redact::Redactor> {
        self.ctx.outbound.redactor()
    }

    /// Whether any write this tool may make waits for the caller's
    /// confirmation (docs/confirmations.md).
    pub fn confirms_writes(&self) -> bool {
        self.ctx.outbound.policy().rules().iter().any(|r| r.confirm)
    }
}

impl std::fmt::Debug for LoadedTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedTool")
            .field("name", &self.definition.name)
            .field("component_sha256", &self.component_sha256)
            .finish_non_exhaustive()
    }
}

/// Everything measured about one call, whether it succeeded or not.
#[derive(Debug, Clone)]
pub struct CallReport {
    /// The JSON output, or why there is none.
    pub result: Result<Value, CallError>,
    /// Content blocks the tool returned besides the JSON (0.2.0 tools), in
    /// order, checked and as MCP content (docs/content.md); empty on failure
    /// and for 0.1.0 tools.
    pub content: Vec<rmcp::model::ContentBlock>,
    /// Wall time from store creation to result.
    pub duration: Duration,
    /// Upstream body bytes received.
    pub upstream_bytes: u64,
    /// Bytes returned to the caller: the JSON and every content block
    /// (docs/content.md, "Byte caps and the meter").
    pub output_bytes: usize,
    /// Outbound requests attempted.
    pub requests: u32,
    /// Policy denials, in order.
    pub denials: Vec<crate::outbound::policy::DeniedReason>,
    /// The same denials with what each refused request asked for
    /// (`outbound::teach` explains them to the operator).
    pub denied: Vec<crate::outbound::meter::Denial>,
    /// Guest log lines (log interface, stdout, stderr).
    pub logs: Vec<LogLine>,
    /// Log lines dropped past the per-call cap.
    pub dropped_logs: usize,
    /// Bytes of linear memory and tables granted to the call, all of them
    /// together: its peak, which `limits.memory_mib` caps.
    pub peak_memory_bytes: usize,
    /// The writes the call asked the caller to confirm, with the answers
    /// (docs/confirmations.md), in order.
    pub confirmations: Vec<crate::outbound::confirm::Confirmation>,
}

/// Where secret header values come from: the gateway's environment by default.
pub type SecretSource = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The gateway's sandbox runtime.
pub struct Runtime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: ArtifactCache,
    settings: Settings,
    secrets: SecretSource,
    budget: Arc<MemoryBudget>,
    /// Who sees the upstream exchanges of tools loaded from now on (recording).
    observer: Option<Arc<dyn ExchangeObserver>>,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds the engine, links every host interface and starts the epoch
    /// ticker. Secrets come from the process environment.
    pub fn new(settings: Settings) -> Result<Self, RuntimeError> {
        Self::with_secrets(settings, Arc::new(|var| std::env::var(var).ok()))
    }

    /// Like [`Runtime::new`], with secrets from `secrets` instead of the environment.
    pub fn with_secrets(settings: Settings, secrets: SecretSource) -> Result<Self, RuntimeError> {
        let mut config = engine::config();
        // Unchanged functions compile once: a rebuilt Python tool recompiles
        // only what changed (runtime/incremental.rs).
        config
            .enable_incremental_compilation(Arc::new(incremental::DiskStore::new(
                settings.cache_dir.join(incremental::INCREMENTAL_DIR),
            )))
            .map_err(RuntimeError::Engine)?;
        let engine = Engine::new(&config).map_err(RuntimeError::Engine)?;
        let mut linker = Linker::<CallState>::new(&engine);
        let link = RuntimeError::Linker;
        // The full WASI p2 set is linked so components built from std or
        // componentize-py instantiate; the per-call WasiCtx grants nothing.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(link)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(link)?;
        // The gateway's own interfaces, each lent its part of the call state.
        capability::add_types_to_linker(&mut linker).map_err(link)?;
        capability::log::add_to_linker(&mut linker, |s| GuestLog::new(&mut s.logs))
            .map_err(link)?;
        capability::config::add_to_linker(&mut linker, |s| GuestConfig::new(&s.tool.config))
            .map_err(link)?;
        capability::http::add_to_linker(&mut linker, |s| {
            GuestHttp::new(&s.tool.outbound, &s.meter)
        })
        .map_err(link)?;
        capability::progress::add_to_linker(&mut linker, |s| GuestProgress::new(&mut s.progress))
            .map_err(link)?;
        let cache = ArtifactCache::new(settings.cache_dir.clone(), &engine)
            .with_fallback(settings.cache_fallback.clone());
        let ticker = EpochTicker::start(&engine)?;
        let budget = Arc::new(MemoryBudget::new(
            settings
                .runtime
                .memory_budget_bytes
                .unwrap_or_else(limits::default_memory_budget),
        ));
        Ok(Self {
            engine,
            linker,
            cache,
            settings,
            secrets,
            budget,
            observer: None,
            _ticker: ticker,
        })
    }

    /// The same runtime, handing every upstream exchange of the tools it
    /// loads from now on to `observer` (`gateway fixtures record`; see
    /// [`crate::outbound::observe`]). Serving never sets one.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn ExchangeObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The engine every tool runs on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The deployment settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The memory budget of the calls in flight (`[runtime] memory_budget_mib`).
    pub fn memory_budget(&self) -> &MemoryBudget {
        &self.budget
    }

    /// The precompiled-artifact cache.
    pub fn cache(&self) -> &ArtifactCache {
        &self.cache
    }

    /// Loads the tool in `dir` (`tool.toml` + `tool.wasm`).
    pub async fn load_dir(&self, dir: &Path) -> Result<LoadedTool, LoadError> {
        let manifest = Manifest::load(&dir.join(MANIFEST_FILE))?;
        let path = dir.join(COMPONENT_FILE);
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|source| LoadError::Io {
                path: path.clone(),
                source,
            })?;
        let mut tool = self.load(manifest, path, bytes).await?;
        tool.skill = read_skill(dir).await;
        Ok(tool)
    }

    /// Checks and compiles a component for `manifest`, then asks it to describe itself.
    pub async fn load(
        &self,
        manifest: Manifest,
        path: PathBuf,
        bytes: Vec<u8>,
    ) -> Result<LoadedTool, LoadError> {
        let config = manifest.effective_config(&self.settings.overrides_for(&manifest.name));
        let mut rules = manifest.rules(&config)?;
        // `[tools.NAME] confirm_writes`: the admin asks for confirmation of
        // every write the manifest grants (docs/confirmations.md).
        if self.settings.confirm.tools.contains(&manifest.name) {
            for rule in rules.iter_mut().filter(|r| r.grants_write()) {
                rule.confirm = true;
            }
        }
        check_secret_grants(&manifest, &rules, &self.settings.secret_grants).map_err(|source| {
            LoadError::Secret {
                file: manifest.file.clone(),
                source,
            }
        })?;
        let outbound = Outbound::new(
            rules,
            |var| (self.secrets)(var),
            self.settings.allow_private.clone(),
            self.settings.timeouts,
        )
        .map_err(|source| LoadError::Secret {
            file: manifest.file.clone(),
            source,
        })?;
        let outbound = match &self.observer {
            Some(observer) => outbound.with_observer(Arc::clone(observer)),
            None => outbound,
        };

        let component_sha256 = sha256_hex(&bytes);
        let python_view = self.python_view(&path, &bytes).await?;
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let (component, cache_outcome) =
            tokio::task::spawn_blocking(move || cache.load_or_compile(&engine, &bytes))
                .await
                .map_err(CacheError::from)
                .and_then(|compiled| compiled)
                .map_err(|source| LoadError::Compile {
                    path: path.clone(),
                    source,
                })?;
        let instance_pre =
            self.linker
                .instantiate_pre(&component)
                .map_err(|source| LoadError::Imports {
                    path: path.clone(),
                    source,
                })?;
        let pre = ToolPre::new(&component, instance_pre).map_err(|source| LoadError::Exports {
            path: path.clone(),
            source,
        })?;
        let ctx = Arc::new(ToolContext {
            name: manifest.name.clone(),
            config,
            outbound: Arc::new(outbound),
            limits: manifest.limits,
            files_dir: manifest.files_dir.clone(),
            python_view,
        });

        let mut store = self.new_store(&ctx, DESCRIBE_TIMEOUT, None, None);
        let described =
            tokio::time::timeout(DESCRIBE_TIMEOUT + HOST_GRACE, pre.describe(&mut store)).await;
        let description = match described {
            Err(_) => Err(CallError::Timeout(DESCRIBE_TIMEOUT)),
            Ok(Err(e)) => Err(classify(&e, &store.data().limiter, &ctx, DESCRIBE_TIMEOUT)),
            Ok(Ok(d)) => Ok(d),
        }
        .map_err(|error| LoadError::Describe {
            path: path.clone(),
            error: error.redacted(ctx.outbound.redactor()),
        })?;
        let definition = definition::validate(&manifest, description).map_err(|problem| {
            LoadError::Definition {
                path: path.clone(),
                problem,
            }
        })?;
        let definition_sha256 =
            definition::hash(&definition, &manifest, ctx.outbound.policy().rules());
        Ok(LoadedTool {
            manifest,
            definition,
            component_sha256,
            definition_sha256,
            cache: cache_outcome,
            contract: pre.contract(),
            skill: None,
            pre,
            ctx,
        })
    }

    /// Extracts the component's Python file view (if any) off the async threads.
    async fn python_view(
        &self,
        path: &Path,
        bytes: &[u8],
    ) -> Result<Option<pyview::PythonView>, LoadError> {
        // Only Python components carry one; skip the section walk for others.
        if memchr::memmem::find(bytes, pyview::SECTION_PREFIX.as_bytes()).is_none() {
            return Ok(None);
        }
        let bytes = bytes.to_vec();
        let cache_dir = self.settings.cache_dir.clone();
        let view_error = |source| LoadError::PythonView {
            path: path.to_path_buf(),
            source,
        };
        tokio::task::spawn_blocking(move || pyview::prepare(&bytes, &cache_dir))
            .await
            .map_err(|e| LoadError::Compile {
                path: path.to_path_buf(),
                source: cache::CacheError::Task(e),
            })?
            .map_err(view_error)
    }

    fn new_store(
        &self,
        ctx: &Arc<ToolContext>,
        timeout: Duration,
        progress: Option<ProgressSender>,
        gate: Option<Arc<Gate>>,
    ) -> Store<CallState> {
        let meter =
            Arc::new(Meter::new(ctx.limits.upstream_bytes, ctx.limits.requests).with_gate(gate));
        let stdout = Capture::default();
        let stderr = Capture::default();
        let mut wasi = WasiCtxBuilder::new();
        // No env, args, stdin, network or clocks beyond the defaults; stdio captured.
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(dir) = &ctx.files_dir
            && let Err(e) = wasi.preopened_dir(dir, "/data", FsPerms::ReadOnly)
        {
            tracing::warn!(tool = %ctx.name, dir = %dir.display(), "read-only directory unavailable: {e:#}");
        }
        // A Python tool's interpreter finds lazily imported modules here;
        // read-only, so no call can change what the next one imports.
        for (dir, guest) in ctx.python_view.iter().flat_map(|v| v.preopens()) {
            if let Err(e) = wasi.preopened_dir(&dir, &guest, FsPerms::ReadOnly) {
                tracing::warn!(tool = %ctx.name, dir = %dir.display(), "python file view unavailable: {e:#}");
            }
        }
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let state = CallState {
            wasi: wasi.build(),
            table,
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks::new(Arc::clone(&ctx.outbound), Arc::clone(&meter)),
            limiter: CallLimiter::new(ctx.limits.memory_bytes, Arc::clone(&self.budget)),
            tool: Arc::clone(ctx),
            meter,
            logs: LogBuffer::new(Arc::clone(ctx.outbound.redactor())),
            progress: ProgressSink::new(progress, Arc::clone(ctx.outbound.redactor())),
            stdout,
            stderr,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(ticks_for(timeout));
        store.epoch_deadline_trap();
        store
    }

    /// Runs one call in a fresh sandbox. Never panics on guest behaviour.
    ///
    /// Each call runs in a `call` span (tool, definition hash, then outcome,
    /// duration and bytes), so a log reader can follow one call's lines,
    /// the guest's own included.
    pub async fn call(&self, tool: &LoadedTool, input: &str) -> CallReport {
        self.call_with(tool, input, CallControl::default()).await
    }

    /// [`Runtime::call`], with writes that need the caller's confirmation
    /// asked through `gate` (without one they are refused). The time spent
    /// waiting for answers is added to the call's time budget.
    pub async fn call_gated(
        &self,
        tool: &LoadedTool,
        input: &str,
        gate: Option<Arc<Gate>>,
    ) -> CallReport {
        let control = CallControl {
            gate,
            ..CallControl::default()
        };
        self.call_with(tool, input, control).await
    }

    /// [`Runtime::call`] with progress forwarded, cancellation heeded and
    /// writes confirmed as `control` says.
    pub async fn call_with(
        &self,
        tool: &LoadedTool,
        input: &str,
        mut control: CallControl,
    ) -> CallReport {
        use tracing::Instrument;
        use tracing::field::Empty;
        let definition = tool.definition_sha256.get(..12).unwrap_or_default();
        let exported = control
            .spans
            .take()
            .map(|spans| spans.start(&tool.definition.name, definition));
        let span = tracing::info_span!(
            "call",
            tool = %tool.definition.name,
            definition = %definition,
            outcome = Empty,
            duration_us = Empty,
            upstream_bytes = Empty,
            output_bytes = Empty,
        );
        let report = self
            .call_in_span(tool, input, control)
            .instrument(span.clone())
            .await;
        let outcome = report
            .result
            .as_ref()
            .map_or_else(CallError::code, |_| "ok");
        if let Some(exported) = exported {
            exported.finish(
                outcome,
                report.duration,
                report.upstream_bytes,
                report.output_bytes as u64,
            );
        }
        span.record("outcome", outcome);
        span.record(
            "duration_us",
            u64::try_from(report.duration.as_micros()).unwrap_or(u64::MAX),
        );
        span.record("upstream_bytes", report.upstream_bytes);
        span.record("output_bytes", report.output_bytes);
        span.in_scope(|| tracing::debug!("call finished"));
        report
    }

    async fn call_in_span(
        &self,
        tool: &LoadedTool,
        input: &str,
        control: CallControl,
    ) -> CallReport {
        let started = Instant::now();
        let limits = tool.ctx.limits;
        if let Err(e) = check_input(input).and_then(|()| self.admit()) {
            return CallReport {
                result: Err(e),
                content: Vec::new(),
                duration: started.elapsed(),
                upstream_bytes: 0,
                output_bytes: 0,
                requests: 0,
                denials: Vec::new(),
                denied: Vec::new(),
                logs: Vec::new(),
                dropped_logs: 0,
                peak_memory_bytes: 0,
                confirmations: Vec::new(),
            };
        }
        let gate = control.gate.clone();
        let mut store = self.new_store(&tool.ctx, limits.timeout, control.progress, gate.clone());
        set_deadline(
            &mut store,
            limits.timeout,
            control.cancelled.is_some(),
            gate.clone(),
        );
        let run = async {
            let call = tool.pre.call(&mut store, input);
            match &gate {
                None => tokio::time::timeout(limits.timeout + HOST_GRACE, call).await,
                Some(gate) => with_waits_excluded(call, limits.timeout + HOST_GRACE, gate).await,
            }
        };
        // A cancelled call's future is dropped where it is, guest and host
        // calls alike, as the timeout above drops one; yielding every few
        // ticks lets a guest that never calls the host be stopped too.
        let outcome = match control.cancelled {
            None => Some(run.await),
            Some(cancelled) => {
                tokio::select! {
                    biased;
                    () = cancelled => None,
                    outcome = run => Some(outcome),
                }
            }
        };
        let redactor = tool.ctx.outbound.redactor();
        let mut content = Vec::new();
        let result = match outcome {
            None => Err(CallError::Cancelled),
            Some(Err(_)) => Err(CallError::Timeout(limits.timeout)),
            Some(Ok(Err(e))) => Err(classify(
                &e,
                &store.data().limiter,
                &tool.ctx,
                limits.timeout,
            )),
            Some(Ok(Ok(Err(tool_error)))) => Err(from_tool_error(tool_error)),
            Some(Ok(Ok(Ok(output)))) => {
                check_output(&output.json, limits.output_bytes).and_then(|v| {
                    // Every block checked before any is kept: a refused
                    // block refuses the whole result (docs/content.md).
                    let blocks = output.content.into_iter().map(content_block).collect();
                    let checked = crate::content::check(
                        blocks,
                        output.json.len(),
                        limits.content_bytes,
                        redactor,
                    )?;
                    content = checked.blocks;
                    Ok((v, output.json.len() + checked.bytes))
                })
            }
        };
        if result.is_err() {
            content.clear();
        }
        // Second line behind the outbound scrubbing: the tool's secrets never
        // reach the caller or the gateway's log, whatever the guest returns.
        let result = result
            .map(|(mut v, n)| {
                redactor.redact_json(&mut v);
                (v, n)
            })
            .map_err(|e| e.redacted(redactor));
        let output_bytes = result.as_ref().map_or(0, |(_, n)| *n);
        let mut state = store.into_data();
        // The last report held back by the rate goes out before the result
        // (a cancelled caller hears nothing more).
        if !matches!(result, Err(CallError::Cancelled)) {
            state.progress.flush();
        }
        let (logs, dropped_logs) = collect_logs(state.logs, &state.stdout, &state.stderr);
        emit_logs(&tool.ctx.name, &logs, dropped_logs);
        CallReport {
            result: result.map(|(v, _)| v),
            content,
            duration: started.elapsed(),
            upstream_bytes: state.meter.upstream_bytes(),
            output_bytes,
            requests: state.meter.requests(),
            denials: state.meter.denials(),
            denied: state.meter.denied(),
            logs,
            dropped_logs,
            peak_memory_bytes: state.limiter.granted_bytes(),
            confirmations: gate.map(|g| g.confirmations()).unwrap_or_default(),
        }
    }

    /// Refuses a call up front when the memory budget cannot hold even one
    /// more page: a tool with a memory would fail at instantiation anyway.
    fn admit(&self) -> Result<(), CallError> {
        if self.budget.available() < limits::WASM_PAGE_BYTES {
            return Err(CallError::Overloaded);
        }
        Ok(())
    }
}

/// `run` under a wall-clock budget that leaves out the time spent waiting
/// for confirmations. At the deadline, time already waited moves it on; a
/// question still waiting (bounded by its own timeout) moves it on by one
/// more budget, after which it is looked at again.
async fn with_waits_excluded<F: Future>(
    run: F,
    budget: Duration,
    gate: &Gate,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let started = tokio::time::Instant::now();
    let mut run = std::pin::pin!(run);
    let mut deadline = started + budget;
    loop {
        match tokio::time::timeout_at(deadline, run.as_mut()).await {
            Ok(out) => return Ok(out),
            Err(elapsed) => {
                let now = tokio::time::Instant::now();
                let moved = started + budget + gate.waited();
                if gate.is_waiting() {
                    deadline = now.max(moved) + budget;
                } else if moved > now {
                    deadline = moved;
                } else {
                    return Err(elapsed);
                }
            }
        }
    }
}

/// Every variable the manifest binds in `[http.secret_headers]` must be
/// granted to this tool by the admin (gateway.toml), and none may be one of
/// the gateway's own settings: a tool asks, the admin grants.
fn check_secret_grants(
    manifest: &Manifest,
    rules: &[crate::outbound::rules::Rule],
    grants: &crate::settings::SecretGrants,
) -> Result<(), SecretError> {
    for (rule, entry) in rules.iter().enumerate() {
        for secret in &entry.secret_headers {
            for var in secret.template.env_vars() {
                let header = secret.name.to_string();
                if crate::settings::is_reserved_secret(var) {
                    return Err(SecretError::Reserved {
                        rule,
                        header,
                        var: var.to_owned(),
                    });
                }
                if !grants.allows(&manifest.name, manifest.integration.as_deref(), var) {
                    return Err(SecretError::NotGranted {
                        rule,
                        header,
                        var: var.to_owned(),
                        tool: manifest.name.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn check_input(input: &str) -> Result<(), CallError> {
    if input.len() > MAX_INPUT_BYTES {
        return Err(CallError::InvalidInput(format!(
            "input is {} bytes; the limit is {MAX_INPUT_BYTES}",
            input.len()
        )));
    }
    match serde_json::from_str::<Value>(input) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(_) => Err(CallError::InvalidInput(
            "input must be a JSON object".into(),
        )),
        Err(e) => Err(CallError::InvalidInput(format!("input is not JSON: {e}"))),
    }
}

fn check_output(output: &str, limit: usize) -> Result<Value, CallError> {
    if output.len() > limit {
        return Err(CallError::OutputTooLarge {
            actual: output.len(),
            limit,
        });
    }
    serde_json::from_str(output).map_err(|e| CallError::InvalidOutput(e.to_string()))
}

/// For a cancellable or gated call, replaces the store's epoch trap with a
/// callback that traps, as the trap would, once the call's budget of ticks
/// is spent — yielding to the executor every [`CANCEL_CHECK_TICKS`] when
/// cancellable, and moving the budget on by the time spent waiting for the
/// caller's confirmations when gated.
fn set_deadline(
    store: &mut Store<CallState>,
    timeout: Duration,
    cancellable: bool,
    gate: Option<Arc<Gate>>,
) {
    if !cancellable && gate.is_none() {
        // The store's own deadline traps at the budget.
        return;
    }
    let budget = ticks_for(timeout);
    let step = if cancellable {
        CANCEL_CHECK_TICKS.min(budget).max(1)
    } else {
        budget
    };
    let mut used = step;
    let mut granted = Duration::ZERO;
    let mut extra = 0u64;
    store.set_epoch_deadline(step);
    store.epoch_deadline_callback(move |_| {
        // Time spent waiting for a person's confirmation is not the tool's.
        if let Some(gate) = &gate {
            let waited = gate.waited();
            if waited > granted {
                extra = extra.saturating_add(ticks_for(waited - granted));
                granted = waited;
            }
        }
        let limit = budget.saturating_add(extra);
        if used >= limit {
            return Err(Trap::Interrupt.into());
        }
        let next = step.min(limit - used);
        used += next;
        Ok(if cancellable {
            wasmtime::UpdateDeadline::Yield(next)
        } else {
            wasmtime::UpdateDeadline::Continue(next)
        })
    });
}

/// A WIT content block as the content checker takes it.
fn content_block(block: ContentBlock) -> crate::content::Block {
    use crate::content::{Block, Embedded as Doc, Media as Bytes};
    let media = |m: Media| Bytes {
        mime_type: m.mime_type,
        data: m.data,
    };
    match block {
        ContentBlock::Text(text) => Block::Text(text),
        ContentBlock::Image(m) => Block::Image(media(m)),
        ContentBlock::Audio(m) => Block::Audio(media(m)),
        ContentBlock::Resource(Embedded {
            uri,
            mime_type,
            text,
            blob,
        }) => Block::Resource(Doc {
            uri,
            mime_type,
            text,
            blob,
        }),
    }
}

fn from_tool_error(e: ToolError) -> CallError {
    match e {
        ToolError::InvalidInput(m) => CallError::InvalidInput(m),
        ToolError::Upstream(m) => CallError::Upstream(m),
        ToolError::Denied(m) => CallError::Denied(m),
        ToolError::Internal(m) => CallError::Internal(m),
    }
}

/// Turns a wasmtime error into the typed cause an admin can act on.
fn classify(
    e: &wasmtime::Error,
    limiter: &CallLimiter,
    ctx: &ToolContext,
    timeout: Duration,
) -> CallError {
    // The budget is checked first: a refusal for it traps at once, so it is
    // the cause even if the tool had met its own limit and carried on.
    if limiter.hit_budget {
        return CallError::Overloaded;
    }
    if limiter.hit_memory_limit {
        return CallError::MemoryExhausted(ctx.limits.memory_bytes);
    }
    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
        .is_some()
    {
        return CallError::Overloaded;
    }
    // The agent gets the trap's kind; the backtrace and host detail go to
    // the gateway's log only (runtime/error.rs).
    let trap = e.downcast_ref::<Trap>();
    error::log_trap(&ctx.name, trap, e);
    match trap {
        Some(Trap::Interrupt) => CallError::Timeout(timeout),
        Some(Trap::StackOverflow) => CallError::StackOverflow,
        Some(trap) => CallError::Trap(trap.to_string()),
        None => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => CallError::Trap(error::exited(exit.0)),
            None => CallError::Trap(error::HOST_TRAP.into()),
        },
    }
}

fn collect_logs(mut logs: LogBuffer, stdout: &Capture, stderr: &Capture) -> (Vec<LogLine>, usize) {
    for (capture, source, level) in [
        (stdout, Source::Stdout, Level::Info),
        (stderr, Source::Stderr, Level::Warn),
    ] {
        let bytes = capture.contents();
        for line in String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
        {
            logs.push(level, source, line);
        }
    }
    logs.into_parts()
}

/// Sends a call's guest lines to the gateway's own logs, one compact
/// structured event each, under the `tool` target so admins can filter them.
fn emit_logs(tool: &str, logs: &[LogLine], dropped: usize) {
    for line in logs {
        let source = line.source.as_str();
        let message = line.message.as_str();
        match line.level {
            Level::Trace => tracing::trace!(target: "tool", tool, source, "{message}"),
            Level::Debug => tracing::debug!(target: "tool", tool, source, "{message}"),
            Level::Info => tracing::info!(target: "tool", tool, source, "{message}"),
            Level::Warn => tracing::warn!(target: "tool", tool, source, "{message}"),
            Level::Error => tracing::error!(target: "tool", tool, source, "{message}"),
        }
    }
    if dropped > 0 {
        tracing::warn!(target: "tool", tool, dropped, "log lines past the per-call cap were dropped");
    }
}

/// Largest `SKILL.md` served: a skill is a page or two of Markdown.
pub const MAX_SKILL_BYTES: u64 = 256 << 10;

/// The folder's `SKILL.md` as UTF-8 text, if it has one of at most
/// [`MAX_SKILL_BYTES`]; anything else is logged and left out (the tool still
/// loads: its skill is documentation, not code).
pub async fn read_skill(dir: &Path) -> Option<Arc<str>> {
    let file = dir.join("SKILL.md");
    let meta = tokio::fs::metadata(&file).await.ok()?;
    if !meta.is_file() || meta.len() > MAX_SKILL_BYTES {
        tracing::warn!(file = %file.display(), bytes = meta.len(), "SKILL.md not served: not a file or larger than {MAX_SKILL_BYTES} bytes");
        return None;
    }
    match tokio::fs::read(&file).await.map(String::from_utf8) {
        Ok(Ok(text)) => Some(Arc::from(text)),
        Ok(Err(_)) => {
            tracing::warn!(file = %file.display(), "SKILL.md not served: not UTF-8");
            None
        }
        Err(error) => {
            tracing::warn!(file = %file.display(), %error, "SKILL.md not read");
            None
        }
    }
}

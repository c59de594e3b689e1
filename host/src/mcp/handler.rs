//! The MCP server handler: `tools/list` and `tools/call` over the catalog
//! and the built-in tools, with guest logs forwarded as
//! `notifications/message` at the level the client asked for; resources,
//! prompts and skills are answered by [`super::resources`],
//! [`super::prompts`] and [`super::skills`].

// MCP logging is deprecated from revision 2026-07-28 (SEP-2577), but the
// 2025-era clients most agents still run display it; serve it until they move.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use rmcp::model::SubscriptionFilter;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, SetLevelRequestParams, Tool,
};
use rmcp::service::{NotificationContext, RequestContext, SubscriptionContext};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};

use super::Gateway;
use super::admission::{admitted_over_http, mcp_error};
use super::builtin::{self, BuiltinError};
use crate::auth::{Caller, Principal, Scope};
use crate::capability::log::{Level, LogLine};
use crate::fields::{self, Registry};
use crate::runtime::LoadedTool;
use crate::upstream::{Forwarded, UpstreamTool};

/// One MCP session's handler. Sessions share the [`Gateway`]; each has its
/// own logging level (none until the client sets one).
#[derive(Clone)]
pub struct GatewayHandler {
    gateway: Arc<Gateway>,
    log_level: Arc<Mutex<Option<LoggingLevel>>>,
    /// The caller a legacy SSE session was opened by (its messages carry
    /// no request of their own to the handler).
    bound: Option<Caller>,
    /// Who this session belongs to: the first authenticated caller. A
    /// request from anyone else is refused, so a leaked session id is
    /// worth nothing without that caller's own credentials.
    owner: Arc<Mutex<Option<Principal>>>,
    /// The session's `resources/subscribe` URIs.
    subscriptions: Arc<super::resources::Subscriptions>,
}

impl std::fmt::Debug for GatewayHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayHandler")
            .field("gateway", &self.gateway)
            .finish_non_exhaustive()
    }
}

impl GatewayHandler {
    /// A handler for a new session.
    pub fn new(gateway: Arc<Gateway>) -> Self {
        Self {
            gateway,
            log_level: Arc::new(Mutex::new(None)),
            bound: None,
            owner: Arc::new(Mutex::new(None)),
            subscriptions: Arc::default(),
        }
    }

    /// A handler for a legacy SSE session opened by `caller`.
    pub fn for_caller(gateway: Arc<Gateway>, caller: Caller) -> Self {
        Self {
            bound: Some(caller),
            ..Self::new(gateway)
        }
    }

    /// Who sent the request: the caller the front door put in its HTTP
    /// extensions, the SSE session's, or the request task's. Without any
    /// (stdio), the local operator, unless this gateway requires
    /// authentication: then nobody, and only the built-in tools are seen.
    fn caller(&self, extensions: Option<&rmcp::model::Extensions>) -> Caller {
        extensions
            .and_then(|e| e.get::<axum::http::request::Parts>())
            .and_then(|parts| parts.extensions.get::<Caller>())
            .cloned()
            .or_else(|| self.bound.clone())
            .or_else(|| crate::auth::CURRENT.try_with(Caller::clone).ok())
            .unwrap_or_else(|| self.gateway.unauthenticated())
    }

    /// The caller, if this session is theirs (the first caller owns it).
    fn session_caller(&self, extensions: &rmcp::model::Extensions) -> Result<Caller, McpError> {
        let caller = self.caller(Some(extensions));
        let Ok(mut owner) = self.owner.lock() else {
            return Err(McpError::internal_error("session state unavailable", None));
        };
        match owner.as_ref() {
            None => *owner = Some(caller.principal.clone()),
            Some(p) if *p == caller.principal => {}
            Some(_) => {
                return Err(McpError::invalid_request(
                    "this session belongs to another caller",
                    None,
                ));
            }
        }
        Ok(caller)
    }

    /// `tools/call`, in the call's span.
    async fn call_tool_in(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
        caller: &Caller,
    ) -> Result<CallToolResponse, McpError> {
        let started = std::time::Instant::now();
        let span = exported_span(&self.gateway, &request, &context, caller);
        let mut audit = Audit::new(&self.gateway, caller, &request.name, span);
        // Outside the caller's scope is exactly like not existing.
        if !caller.allows(&request.name) {
            audit.finish(started, "unknown_tool");
            return Err(unknown_tool(&request.name));
        }
        // The version current now serves this call to its end, whatever
        // is swapped in meanwhile.
        let promoted = self.gateway.catalog.current().get(&request.name).cloned();
        // An upstream tool, unless a promoted or built-in one has its name.
        let upstream = if promoted.is_none() && !builtin::is_builtin(&request.name) {
            self.gateway.upstreams.current().get(&request.name).cloned()
        } else {
            None
        };
        // A call of a tool that exists is admitted under the limits here,
        // unless the `/mcp` guard already did (admission.rs); it holds its
        // place under the cap until its result is handed to the transport.
        let known = promoted.is_some() || upstream.is_some() || builtin::is_builtin(&request.name);
        if known {
            audit.served();
        }
        let _slot = if known && !admitted_over_http(&context) {
            match self
                .gateway
                .limits
                .admit(caller.team.as_deref(), &request.name)
            {
                Ok(slot) => Some(slot),
                Err(limited) => {
                    tracing::debug!(tool = %request.name, code = limited.code(), scope = limited.scope.as_str(), "tool call refused: {limited}");
                    audit.finish(started, limited.code());
                    return Err(mcp_error(&limited));
                }
            }
        } else {
            None
        };
        if known {
            audit.admitted();
        }
        if let Some(tool) = promoted {
            if let Some(entry) = audit.entry.as_mut() {
                entry.definition_sha256 =
                    crate::audit::HexDigest::parse(&tool.definition_sha256).ok();
                entry.component_sha256 =
                    crate::audit::HexDigest::parse(&tool.component_sha256).ok();
            }
            // Writes that wait for the caller's confirmation (confirm.rs).
            let confirmations = self.gateway.confirmations();
            let plan = match super::confirm::plan(&confirmations, &tool, &request, &context, caller)
            {
                Ok(plan) => plan,
                Err((error, code)) => {
                    audit.finish(started, code);
                    return Err(error);
                }
            };
            let gate = match &plan {
                super::confirm::Plan::Plain => None,
                super::confirm::Plan::Gated { gate, .. } => Some(Arc::clone(gate)),
                super::confirm::Plan::Answered(result, answer) => {
                    audit.confirmation(answer.as_str());
                    audit.finish(started, "not_confirmed");
                    return Ok(result.clone().into());
                }
                super::confirm::Plan::AskAgain(again) => {
                    audit.confirmation("asked");
                    audit.finish(started, "input_required");
                    return Ok(again.clone().into());
                }
            };
            let (result, report) = self
                .call_promoted(
                    &tool,
                    request.arguments,
                    &context,
                    gate,
                    audit.sandbox_spans(),
                )
                .await;
            let (response, asked) =
                super::confirm::finish(&confirmations, &plan, result, &report.confirmations);
            let outcome = match asked {
                Some("asked") => "input_required",
                Some(answer) if answer != "confirmed" => "not_confirmed",
                _ => report.outcome,
            };
            if let Some(answer) = asked {
                audit.confirmation(answer);
            }
            audit.bytes(report.upstream, report.output);
            audit.finish(started, outcome);
            return Ok(response);
        }
        if let Some(tool) = upstream {
            let (result, report) = self.call_upstream(&tool, request.arguments).await;
            if let Some(entry) = audit.entry.as_mut() {
                entry.definition_sha256 = crate::audit::HexDigest::parse(&tool.hash).ok();
            }
            audit.bytes(report.upstream, report.output);
            audit.finish(started, report.outcome);
            return Ok(result.into());
        }
        match builtin::call(
            &self.gateway,
            &request.name,
            request.arguments.unwrap_or_default(),
        ) {
            Some(Ok(value)) => {
                audit.finish(started, "ok");
                Ok(success(value).into())
            }
            Some(Err(error)) => {
                audit.finish(started, error.code());
                Ok(builtin_failure(&error).into())
            }
            None => {
                audit.finish(started, "unknown_tool");
                Err(unknown_tool(&request.name))
            }
        }
    }

    async fn call_promoted(
        &self,
        tool: &LoadedTool,
        arguments: Option<JsonObject>,
        context: &RequestContext<RoleServer>,
        gate: Option<Arc<crate::outbound::confirm::Gate>>,
        spans: Option<crate::telemetry::trace::SandboxSpans>,
    ) -> (CallToolResult, Measured) {
        let input = Value::Object(arguments.unwrap_or_default()).to_string();
        // Progress to the caller and cancellation by it (mcp/progress.rs),
        // writes confirmed by it (mcp/confirm.rs).
        let (mut control, forwarder) = super::progress::control(context);
        control.gate = gate;
        control.spans = spans;
        let call = self.gateway.runtime.call_with(tool, &input, control);
        let report = match forwarder {
            Some(forwarder) => tokio::join!(call, super::progress::forward(forwarder)).0,
            None => call.await,
        };
        let measured = Measured {
            outcome: report.result.as_ref().map_or_else(|e| e.code(), |_| "ok"),
            upstream: report.upstream_bytes,
            output: report.output_bytes as u64,
            confirmations: report.confirmations.clone(),
        };
        self.forward_logs(&tool.definition.name, &report.logs, context)
            .await;
        tracing::debug!(
            tool = %tool.definition.name,
            ok = report.result.is_ok(),
            ms = report.duration.as_secs_f64() * 1000.0,
            upstream_bytes = report.upstream_bytes,
            output_bytes = report.output_bytes,
            "call"
        );
        let result = match report.result {
            Ok(mut value) => {
                self.check_fields(tool, &mut value);
                let mut result = success(value);
                // The tool's checked content blocks follow its JSON (docs/content.md).
                result.content.extend(report.content);
                result
            }
            Err(error) => failure(error.code(), &error),
        };
        (result, measured)
    }

    /// Forwards a call to an upstream server's tool: its result as the
    /// upstream answered it (content, structuredContent, isError), checked
    /// against the connection's integration; its failures typed like a
    /// promoted tool's.
    async fn call_upstream(
        &self,
        tool: &UpstreamTool,
        arguments: Option<JsonObject>,
    ) -> (CallToolResult, Measured) {
        let started = std::time::Instant::now();
        let forwarded = tool.call(arguments).await;
        // The result goes back as the upstream sent it, so it weighs what it
        // weighed coming in, unless the field check added its summary.
        let (result, outcome, upstream, unchanged) = match forwarded {
            Ok(Forwarded {
                mut result,
                upstream_bytes,
            }) => {
                let (outcome, changed) = if result.is_error == Some(true) {
                    ("tool_error", false)
                } else {
                    ("ok", self.check_upstream_fields(tool, &mut result))
                };
                (result, outcome, upstream_bytes as u64, !changed)
            }
            Err(error) => {
                tracing::info!(tool = %tool.name, code = error.code(), "upstream call failed: {error}");
                (failure(error.code(), &error), error.code(), 0, false)
            }
        };
        let output = if unchanged {
            upstream
        } else {
            serde_json::to_vec(&result).map_or(0, |v| v.len() as u64)
        };
        tracing::debug!(
            tool = %tool.name,
            outcome,
            ms = started.elapsed().as_secs_f64() * 1000.0,
            upstream_bytes = upstream,
            output_bytes = output,
            "upstream call"
        );
        (
            result,
            Measured {
                outcome,
                upstream,
                output,
                confirmations: Vec::new(),
            },
        )
    }

    /// The validation wrapper for an upstream result: its structured
    /// content, or the JSON object its only text block holds, compared with
    /// the connection's integration. The summary goes into the structured
    /// content, or, for a text-only result, into a text block of its own.
    /// Whether the result changed.
    fn check_upstream_fields(&self, tool: &UpstreamTool, result: &mut CallToolResult) -> bool {
        let slug = tool.connection.integration.as_deref();
        if let Some(value) = result.structured_content.as_mut() {
            let Some(found) = self.field_differences(&tool.name, slug, value) else {
                return false;
            };
            fields::attach(value, found);
            return true;
        }
        let text = match result.content.as_slice() {
            [only] => only.as_text().map(|t| t.text.as_str()),
            _ => None,
        };
        let Some(parsed @ Value::Object(_)) = text.and_then(|t| serde_json::from_str(t).ok())
        else {
            return false;
        };
        let Some(found) = self.field_differences(&tool.name, slug, &parsed) else {
            return false;
        };
        let mut summary = Value::Object(JsonObject::new());
        fields::attach(&mut summary, found);
        result.content.push(ContentBlock::text(summary.to_string()));
        true
    }

    /// The validation wrapper: a result of a tool whose manifest names an
    /// integration is compared with that integration's fields, and a
    /// `_field_validation` summary is attached only when they differ.
    fn check_fields(&self, tool: &LoadedTool, value: &mut Value) {
        let slug = tool.manifest.integration.as_deref();
        if let Some(found) = self.field_differences(&tool.definition.name, slug, value) {
            fields::attach(value, found);
        }
    }

    /// How `value`, a result of `tool`, differs from the fields of
    /// integration `slug` (none when the tool names no registered
    /// integration, or nothing differs); logged when it does. Promoted and
    /// upstream tools alike.
    fn field_differences(
        &self,
        tool: &str,
        slug: Option<&str>,
        value: &Value,
    ) -> Option<fields::FieldValidation> {
        let slug = slug?;
        let registry = self.gateway.fields.current();
        let found = fields::validate(registry.get(slug)?, value)?;
        tracing::info!(
            tool,
            integration = slug,
            unknown = found.unknown_fields.len(),
            missing = found.missing_fields.len(),
            mismatched = found.type_mismatches.len(),
            "result differs from the registered fields"
        );
        Some(found)
    }

    async fn forward_logs(
        &self,
        tool: &str,
        logs: &[LogLine],
        context: &RequestContext<RoleServer>,
    ) {
        // A 2026-07-28 request asks in its own `_meta`; a 2025 session once, with setLevel.
        let session = self.log_level.lock().ok().and_then(|l| *l);
        let Some(min) = context.meta.log_level().or(session) else {
            return;
        };
        for line in logs {
            let level = mcp_level(line.level);
            if rank(level) < rank(min) {
                continue;
            }
            let mut param = LoggingMessageNotificationParam::new(
                level,
                json!({ "source": line.source, "message": line.message }),
            );
            param.logger = Some(tool.to_string());
            super::sessions::send_log(context, param).await;
        }
    }
}

/// What the audit trail keeps of a promoted tool's call.
struct Measured {
    outcome: &'static str,
    upstream: u64,
    output: u64,
    /// The writes the call asked its caller to confirm.
    confirmations: Vec<crate::outbound::confirm::Confirmation>,
}

/// What one call leaves behind when it ends: its metrics
/// (docs/observability.md), its log line, its span's outcome, and, if the
/// gateway has an audit trail, its audit line (which holds no argument,
/// result or credential).
struct Audit<'a> {
    gateway: &'a Gateway,
    log: Option<&'a crate::audit::AuditLog>,
    entry: Option<crate::audit::AuditEntry>,
    /// The request id, made only when an audit trail, a log or a trace
    /// reads it.
    request_id: Option<crate::audit::Label>,
    /// The tool's name once it is known to be served: a metric label only
    /// ever names a tool of the catalog, never what a client typed.
    tool: &'a str,
    served: bool,
    /// Admitted under the limits: it ran.
    admitted: bool,
    team: &'a str,
    upstream: u64,
    output: u64,
    flying: Option<crate::telemetry::metrics::InFlight>,
    /// The call's exported span, when traces are on.
    span: Option<crate::telemetry::trace::CallSpan>,
}

impl<'a> Audit<'a> {
    fn new(
        gateway: &'a Gateway,
        caller: &'a Caller,
        tool: &'a str,
        span: Option<crate::telemetry::trace::CallSpan>,
    ) -> Self {
        use crate::audit::{AuditEntry, Kind, Label};
        let log = gateway.audit.get();
        let traced = span
            .as_ref()
            .is_some_and(crate::telemetry::trace::CallSpan::is_recording);
        let request_id = (log.is_some() || crate::telemetry::CallLine::wanted() || traced)
            .then(Label::request_id);
        let entry = log.map(|_| {
            let id = request_id.clone().unwrap_or_else(Label::request_id);
            let mut entry = AuditEntry::new(Kind::Call, id, caller.principal.audited());
            entry.team = caller.team.as_deref().and_then(|t| Label::new(t).ok());
            entry.tool = Label::tool(tool);
            entry
        });
        Self {
            gateway,
            log,
            entry,
            request_id,
            tool,
            served: false,
            admitted: false,
            team: caller.team.as_deref().unwrap_or(""),
            upstream: 0,
            output: 0,
            flying: None,
            span,
        }
    }

    /// The tool is served (promoted, upstream or built-in): its name may
    /// label the call's metrics.
    fn served(&mut self) {
        self.served = true;
    }

    /// Where the sandbox's own span goes, when it is exported.
    fn sandbox_spans(&self) -> Option<crate::telemetry::trace::SandboxSpans> {
        self.span
            .as_ref()
            .and_then(crate::telemetry::trace::CallSpan::sandbox)
    }

    /// The call was admitted and runs: counted in flight until it ends.
    fn admitted(&mut self) {
        self.admitted = true;
        self.flying = self.gateway.metrics.enter(self.tool, self.team);
    }

    /// How the call's confirmation was answered (docs/confirmations.md).
    fn confirmation(&mut self, answer: &'static str) {
        if let Some(entry) = self.entry.as_mut() {
            entry.confirmation = crate::audit::Code::from_static(answer).ok();
        }
    }

    fn bytes(&mut self, upstream: u64, output: u64) {
        self.upstream = upstream;
        self.output = output;
        if let Some(entry) = self.entry.as_mut() {
            entry.upstream_bytes = upstream;
            entry.output_bytes = output;
        }
    }

    fn finish(&mut self, started: std::time::Instant, outcome: &'static str) {
        let duration = started.elapsed();
        let ran = self.admitted;
        self.flying = None;
        let record = crate::telemetry::metrics::CallRecord {
            tool: if self.served { self.tool } else { "" },
            team: self.team,
            outcome,
            ran,
            duration,
            upstream_bytes: self.upstream,
            output_bytes: self.output,
        };
        self.gateway.metrics.record_call(&record);
        if let Some(id) = &self.request_id {
            crate::telemetry::CallLine {
                request_id: id.as_str(),
                requested: self.tool,
                call: &record,
            }
            .emit();
        }
        if let Some(span) = self.span.take() {
            span.finish(
                outcome,
                self.request_id.as_ref().map(|id| id.as_str()),
                self.upstream,
                self.output,
            );
        }
        if let (Some(log), Some(mut entry)) = (self.log, self.entry.take()) {
            entry.time = crate::audit::Timestamp::now();
            entry.duration = duration;
            if let Ok(code) = crate::audit::Code::from_static(outcome) {
                entry.outcome = code;
            }
            log.record(entry);
        }
    }
}

/// Records a `tools/call` refused before the handler saw it (the `/mcp`
/// guard's limits) like any other call: metrics, log line, audit line.
pub(crate) fn audit_refusal(gateway: &Gateway, caller: &Caller, tool: &str, outcome: &'static str) {
    let mut audit = Audit::new(gateway, caller, tool, None);
    audit.served();
    audit.finish(std::time::Instant::now(), outcome);
}

/// The `tracing` span of one `tools/call` (target `gateway::trace`), which
/// the log's lines inside the call carry: the tool and the caller's team.
/// Disabled (and free) unless the log's filter asks for it.
fn call_span(request: &CallToolRequestParams, caller: &Caller) -> tracing::Span {
    tracing::info_span!(
        target: "gateway::trace",
        "tools/call",
        tool = %request.name,
        team = caller.team.as_deref().unwrap_or(""),
    )
}

/// The exported span of one `tools/call` when traces are on
/// (docs/observability.md): its parent is the request's W3C `traceparent`
/// (`_meta` of the call, else of the request).
fn exported_span(
    gateway: &Gateway,
    request: &CallToolRequestParams,
    context: &RequestContext<RoleServer>,
    caller: &Caller,
) -> Option<crate::telemetry::trace::CallSpan> {
    let traces = gateway.traces.get()?;
    let from_request = request.meta.as_ref().and_then(|m| m.get_traceparent());
    let (traceparent, tracestate) = match from_request {
        Some(tp) => (
            Some(tp),
            request.meta.as_ref().and_then(|m| m.get_tracestate()),
        ),
        None => (
            context.meta.get_traceparent(),
            context.meta.get_tracestate(),
        ),
    };
    let parent = traceparent.and_then(|tp| crate::telemetry::trace::parent(tp, tracestate));
    Some(traces.call(parent, &request.name, caller.team.as_deref().unwrap_or("")))
}

/// A successful call: the JSON as text (for clients that read content) and
/// as `structuredContent`.
fn success(value: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
    result.structured_content = Some(value);
    result
}

/// A tool-level failure: `isError: true` with the typed error, so the agent
/// can read what went wrong and act on it.
fn failure(code: &str, error: &dyn std::fmt::Display) -> CallToolResult {
    let typed = json!({ "error": { "code": code, "message": error.to_string() } });
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!("[{code}] {error}"))]);
    result.structured_content = Some(typed);
    result
}

/// How often a session's list-change forwarder checks that its client is
/// still there when nothing changes.
const PEER_CHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// Changes to what `tools/list` answers one caller: the catalog and the
/// field registry, as far as they change the tools that caller sees.
struct ListChanges {
    gateway: Arc<Gateway>,
    caller: Caller,
    seen: u64,
    catalog: tokio::sync::watch::Receiver<u64>,
    upstream: tokio::sync::watch::Receiver<u64>,
    fields: Option<tokio::sync::watch::Receiver<Arc<Registry>>>,
}

impl ListChanges {
    fn new(gateway: &Arc<Gateway>, caller: Caller) -> Self {
        let mut catalog = gateway.catalog.subscribe();
        catalog.mark_unchanged();
        let mut upstream = gateway.upstreams.subscribe();
        upstream.mark_unchanged();
        let mut fields = gateway.fields.subscribe();
        if let Some(fields) = fields.as_mut() {
            fields.mark_unchanged();
        }
        Self {
            seen: fingerprint(&visible_tools(gateway, &caller)),
            gateway: Arc::clone(gateway),
            caller,
            catalog,
            upstream,
            fields,
        }
    }

    /// Waits until the caller's list differs from the last one announced;
    /// false once nothing can change any more.
    async fn next(&mut self) -> bool {
        loop {
            let changed = match self.fields.as_mut() {
                Some(fields) => tokio::select! {
                    r = self.catalog.changed() => r.is_ok(),
                    r = self.upstream.changed() => r.is_ok(),
                    r = fields.changed() => r.is_ok(),
                },
                None => tokio::select! {
                    r = self.catalog.changed() => r.is_ok(),
                    r = self.upstream.changed() => r.is_ok(),
                },
            };
            if !changed {
                return false;
            }
            let now = fingerprint(&visible_tools(&self.gateway, &self.caller));
            if now != self.seen {
                self.seen = now;
                return true;
            }
        }
    }
}

/// The `tools/list` answer for `caller`: every definition its scope allows.
/// A list narrowed to a caller is marked private to caches.
fn visible_tools(gateway: &Gateway, caller: &Caller) -> ListToolsResult {
    let all = gateway.definitions();
    if caller.scope == Scope::all() {
        return ListToolsResult::with_all_items(all.all().to_vec());
    }
    let mine = all
        .all()
        .iter()
        .filter(|tool| caller.allows(&tool.name))
        .cloned()
        .collect();
    ListToolsResult::with_all_items(mine).with_cache_scope(rmcp::model::CacheScope::Private)
}

/// A digest of a list's definitions, to tell whether it changed.
fn fingerprint(list: &ListToolsResult) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for tool in &list.tools {
        serde_json::to_string(tool)
            .unwrap_or_default()
            .hash(&mut hasher);
    }
    hasher.finish()
}

/// The answer for a tool that does not exist, or not for this caller.
fn unknown_tool(name: &str) -> McpError {
    McpError::invalid_params(format!("unknown tool: {name}"), None)
}

fn builtin_failure(error: &BuiltinError) -> CallToolResult {
    failure(error.code(), error)
}

fn mcp_level(level: Level) -> LoggingLevel {
    match level {
        Level::Trace | Level::Debug => LoggingLevel::Debug,
        Level::Info => LoggingLevel::Info,
        Level::Warn => LoggingLevel::Warning,
        Level::Error => LoggingLevel::Error,
    }
}

fn rank(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

impl ServerHandler for GatewayHandler {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_logging()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_skills()
            .build();
        let mut info = ServerConfig::new(capabilities);
        info.server_info =
            Implementation::new(self.gateway.name.clone(), env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "Tools promoted by this organisation, each returning only the fields that matter. Every call runs in a sandbox with read-only access to named APIs.".into(),
        );
        info
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = self.session_caller(&context.extensions)?;
        Ok(visible_tools(&self.gateway, &caller))
    }

    /// rmcp's lookup for `Mcp-Param-*` header checks, in the request's own
    /// task: a tool outside the caller's scope is not found here either.
    fn get_tool(&self, name: &str) -> Option<Tool> {
        if !self.caller(None).allows(name) {
            return None;
        }
        self.gateway.definitions().get(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        use tracing::Instrument;
        let caller = self.session_caller(&context.extensions)?;
        let span = call_span(&request, &caller);
        self.call_tool_in(request, context, &caller)
            .instrument(span)
            .await
    }

    /// A 2025 session (Streamable HTTP, legacy SSE or stdio) hears about
    /// every tool added, changed or removed, and every field registry edit
    /// (output schemas carry its text), until the client goes away.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let caller = self.caller(Some(&context.extensions));
        super::resources::forward_to_session(
            super::resources::Changes::new(
                &self.gateway,
                caller.clone(),
                Arc::clone(&self.subscriptions),
            ),
            context.peer.clone(),
        );
        let mut changes = ListChanges::new(&self.gateway, caller);
        let peer = context.peer;
        tokio::spawn(async move {
            let mut check = tokio::time::interval(PEER_CHECK);
            loop {
                tokio::select! {
                    changed = changes.next() => {
                        if !changed || peer.notify_tool_list_changed().await.is_err() {
                            return;
                        }
                    }
                    _ = check.tick() => {
                        if peer.is_transport_closed() {
                            return;
                        }
                    }
                }
            }
        });
    }

    /// 2026-07-28 clients subscribe with `subscriptions/listen`: to the
    /// tool, prompt and resource lists changing and to resources' updates.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.clone())
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), McpError> {
        let caller = self.session_caller(&subscription.request_context().extensions)?;
        let accepted = subscription.sink().accepted().clone();
        let others = super::resources::forward_to_listener(
            super::resources::Changes::new(
                &self.gateway,
                caller.clone(),
                super::resources::listener_subscriptions(&self.gateway, &caller, &accepted),
            ),
            subscription.sink(),
        );
        tokio::pin!(others);
        let tools = accepted.tools_list_changed == Some(true);
        let mut changes = ListChanges::new(&self.gateway, caller);
        loop {
            tokio::select! {
                () = subscription.cancelled() => return Ok(()),
                () = &mut others => return Ok(()),
                changed = changes.next(), if tools => {
                    if !changed || subscription.sink().notify_tool_list_changed().await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourcesResult, McpError> {
        let caller = self.session_caller(&context.extensions)?;
        Ok(super::resources::list(&self.gateway, &caller))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListResourceTemplatesResult, McpError> {
        self.session_caller(&context.extensions)?;
        Ok(super::resources::templates())
    }

    async fn read_resource(
        &self,
        request: rmcp::model::ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ReadResourceResponse, McpError> {
        let caller = self.session_caller(&context.extensions)?;
        super::resources::read(&self.gateway, &caller, &request.uri).map(Into::into)
    }

    async fn subscribe(
        &self,
        request: rmcp::model::SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = self.session_caller(&context.extensions)?;
        if !super::resources::subscribable(&self.gateway, &caller, &request.uri) {
            return Err(super::resources::not_found(&request.uri));
        }
        self.subscriptions.add(&self.gateway, &caller, &request.uri);
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: rmcp::model::UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.session_caller(&context.extensions)?;
        self.subscriptions.remove(&request.uri);
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListPromptsResult, McpError> {
        let caller = self.session_caller(&context.extensions)?;
        Ok(super::prompts::list(&self.gateway, &caller))
    }

    async fn get_prompt(
        &self,
        request: rmcp::model::GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetPromptResponse, McpError> {
        let caller = self.session_caller(&context.extensions)?;
        super::prompts::get(
            &self.gateway,
            &caller,
            &request.name,
            request.arguments.as_ref(),
        )
        .map(Into::into)
        .map_err(|e| e.to_mcp())
    }

    async fn list_skills(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::ListSkillsResult, McpError> {
        let caller = self.session_caller(&context.extensions)?;
        Ok(super::skills::list(&self.gateway, &caller))
    }

    async fn get_skill(
        &self,
        request: rmcp::model::GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetSkillResult, McpError> {
        let caller = self.session_caller(&context.extensions)?;
        super::skills::get(&self.gateway, &caller, &request.uri)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        if let Ok(mut level) = self.log_level.lock() {
            *level = Some(request.level);
        }
        Ok(())
    }
}

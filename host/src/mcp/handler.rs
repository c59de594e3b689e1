//! The MCP server handler: `tools/list` and `tools/call` over the catalog
//! and the built-in tools, with guest logs forwarded as
//! `notifications/message` at the level the client asked for.

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
use super::admission::{admitted_over_http, current_team, mcp_error};
use super::builtin::{self, BuiltinError};
use crate::capability::log::{Level, LogLine};
use crate::fields::{self, Registry};
use crate::runtime::LoadedTool;

/// One MCP session's handler. Sessions share the [`Gateway`]; each has its
/// own logging level (none until the client sets one).
#[derive(Clone)]
pub struct GatewayHandler {
    gateway: Arc<Gateway>,
    log_level: Arc<Mutex<Option<LoggingLevel>>>,
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
        }
    }

    async fn call_promoted(
        &self,
        tool: &LoadedTool,
        arguments: Option<JsonObject>,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let input = Value::Object(arguments.unwrap_or_default()).to_string();
        let report = self.gateway.runtime.call(tool, &input).await;
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
        match report.result {
            Ok(mut value) => {
                self.check_fields(tool, &mut value);
                success(value)
            }
            Err(error) => failure(error.code(), &error),
        }
    }

    /// The validation wrapper: a result of a tool whose manifest names an
    /// integration is compared with that integration's fields, and a
    /// `_field_validation` summary is attached only when they differ.
    fn check_fields(&self, tool: &LoadedTool, value: &mut Value) {
        let Some(slug) = tool.manifest.integration.as_deref() else {
            return;
        };
        let registry = self.gateway.fields.current();
        let Some(integration) = registry.get(slug) else {
            return;
        };
        if let Some(found) = fields::validate(integration, value) {
            tracing::info!(
                tool = %tool.definition.name,
                integration = slug,
                unknown = found.unknown_fields.len(),
                missing = found.missing_fields.len(),
                mismatched = found.type_mismatches.len(),
                "result differs from the registered fields"
            );
            fields::attach(value, found);
        }
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

/// Changes to what `tools/list` answers: the catalog and the field registry.
struct ListChanges {
    catalog: tokio::sync::watch::Receiver<u64>,
    fields: Option<tokio::sync::watch::Receiver<Arc<Registry>>>,
}

impl ListChanges {
    fn new(gateway: &Gateway) -> Self {
        let mut catalog = gateway.catalog.subscribe();
        catalog.mark_unchanged();
        let mut fields = gateway.fields.subscribe();
        if let Some(fields) = fields.as_mut() {
            fields.mark_unchanged();
        }
        Self { catalog, fields }
    }

    /// Waits for the next change; false once nothing can change any more.
    async fn next(&mut self) -> bool {
        match self.fields.as_mut() {
            Some(fields) => tokio::select! {
                r = self.catalog.changed() => r.is_ok(),
                r = fields.changed() => r.is_ok(),
            },
            None => self.catalog.changed().await.is_ok(),
        }
    }
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
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(
            self.gateway.definitions().all().to_vec(),
        ))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.gateway.definitions().get(name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // The version current now serves this call to its end, whatever
        // is swapped in meanwhile.
        let promoted = self.gateway.catalog.current().get(&request.name).cloned();
        // A call of a tool that exists is admitted under the limits here,
        // unless the `/mcp` guard already did (admission.rs); it holds its
        // place under the cap until its result is handed to the transport.
        let known = promoted.is_some() || builtin::is_builtin(&request.name);
        let _slot = if known && !admitted_over_http(&context) {
            let admitted = self
                .gateway
                .limits
                .admit(current_team(&context), &request.name);
            match admitted {
                Ok(slot) => Some(slot),
                Err(limited) => {
                    tracing::debug!(tool = %request.name, code = limited.code(), scope = limited.scope.as_str(), "tool call refused: {limited}");
                    return Err(mcp_error(&limited));
                }
            }
        } else {
            None
        };
        if let Some(tool) = promoted {
            return Ok(self
                .call_promoted(&tool, request.arguments, &context)
                .await
                .into());
        }
        match builtin::call(
            &self.gateway,
            &request.name,
            request.arguments.unwrap_or_default(),
        ) {
            Some(Ok(value)) => Ok(success(value).into()),
            Some(Err(error)) => Ok(builtin_failure(&error).into()),
            None => Err(McpError::invalid_params(
                format!("unknown tool: {}", request.name),
                None,
            )),
        }
    }

    /// A 2025 session (Streamable HTTP, legacy SSE or stdio) hears about
    /// every tool added, changed or removed, and every field registry edit
    /// (output schemas carry its text), until the client goes away.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut changes = ListChanges::new(&self.gateway);
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

    /// 2026-07-28 clients subscribe with `subscriptions/listen`; the only
    /// notification the gateway has for them is the tool list changing.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(if requested.tools_list_changed == Some(true) {
            SubscriptionFilter::builder().tools_list_changed().build()
        } else {
            SubscriptionFilter::new()
        })
    }

    async fn listen(&self, subscription: SubscriptionContext) -> Result<(), McpError> {
        let mut changes = ListChanges::new(&self.gateway);
        loop {
            tokio::select! {
                () = subscription.cancelled() => return Ok(()),
                changed = changes.next() => {
                    if !changed || subscription.sink().notify_tool_list_changed().await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
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

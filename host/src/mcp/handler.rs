//! The MCP server handler: `tools/list` and `tools/call` over the catalog
//! and the built-in tools, with guest logs forwarded as
//! `notifications/message` at the level the client asked for.

// MCP logging is deprecated from revision 2026-07-28 (SEP-2577), but the
// 2025-era clients most agents still run display it; serve it until they move.
#![allow(deprecated)]

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, LoggingLevel, LoggingMessageNotificationParam,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, SetLevelRequestParams, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};

use super::Gateway;
use crate::capability::log::{Level, LogLine};
use crate::runtime::{CallError, LoadedTool};

/// Built-in tool reporting the gateway's state.
pub const HEALTH_CHECK: &str = "health_check";

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

    fn tool_definitions(&self) -> Vec<Tool> {
        let mut tools: Vec<Tool> = self.gateway.catalog.iter().map(|t| definition(t)).collect();
        tools.push(Tool::new(
            HEALTH_CHECK,
            "Reports whether the gateway is up and how many tools it serves.",
            Arc::new(object_schema(json!({}))),
        ));
        tools
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
            Ok(value) => success(value),
            Err(error) => failure(&error),
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

/// The MCP definition of a promoted tool.
pub fn definition(tool: &LoadedTool) -> Tool {
    let input = match &tool.definition.input_schema {
        Value::Object(map) => map.clone(),
        _ => JsonObject::new(),
    };
    let mut def = Tool::new(
        tool.definition.name.clone(),
        tool.definition.description.clone(),
        Arc::new(input),
    );
    if let Some(Value::Object(output)) = &tool.definition.output_schema {
        def = def.with_raw_output_schema(Arc::new(output.clone()));
    }
    def
}

fn object_schema(properties: Value) -> JsonObject {
    let mut schema = JsonObject::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), properties);
    schema
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
fn failure(error: &CallError) -> CallToolResult {
    let typed = json!({ "error": { "code": error.code(), "message": error.to_string() } });
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!(
        "[{}] {error}",
        error.code()
    ))]);
    result.structured_content = Some(typed);
    result
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
        Ok(ListToolsResult::with_all_items(self.tool_definitions()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tool_definitions().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        if let Some(tool) = self.gateway.catalog.get(&request.name) {
            let tool = Arc::clone(tool);
            return Ok(self
                .call_promoted(&tool, request.arguments, &context)
                .await
                .into());
        }
        match request.name.as_ref() {
            HEALTH_CHECK => Ok(success(json!({
                "status": "ok",
                "server": self.gateway.name,
                "version": env!("CARGO_PKG_VERSION"),
                "tools": self.gateway.catalog.len(),
            }))
            .into()),
            other => Err(McpError::invalid_params(
                format!("unknown tool: {other}"),
                None,
            )),
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

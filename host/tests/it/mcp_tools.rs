//! The MCP conformance test tools (`host/tests/mcp-clients/tools`) served
//! in-process: what the real clients of `scripts/test` check, kept under
//! plain `cargo test` too. Schemas reach `tools/list` verbatim; a call without
//! `arguments` and a call with bad input are tool results, never JSON-RPC
//! errors; log lines reach a client only when it asked for a level, and in a
//! 2025 session on the call's own stream, before its result.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use gateway::catalog::Catalog;
use gateway::frontdoor::FrontDoor;
use gateway::mcp::http::app;
use gateway::mcp::{FieldSource, Gateway};
use gateway::runtime::Runtime;
use gateway::shutdown::Shutdown;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::mcp::{json_body, stateless};

/// A gateway serving the seventeen test tools, each folder copied with its built component.
async fn router() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let tools = dir.path().join("tools");
    for (name, component) in gateway_test_programs::MCP_TEST_TOOLS_COMPONENTS {
        let tool = tools.join(name);
        std::fs::create_dir_all(&tool).expect("mkdir");
        let source = std::path::Path::new(gateway_test_programs::MCP_TEST_TOOLS_DIR).join(name);
        std::fs::copy(source.join("tool.toml"), tool.join("tool.toml")).expect("manifest");
        std::fs::copy(component, tool.join("tool.wasm")).expect("component");
    }
    let settings = gateway::settings::Settings {
        cache_dir: super::harness::shared_cache_dir().join("cwasm"),
        tools_dir: tools,
        ..Default::default()
    };
    let runtime = Arc::new(Runtime::new(settings.clone()).expect("runtime"));
    let (catalog, errors) = Catalog::load(&runtime, &settings.tools_dir)
        .await
        .expect("catalog");
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(catalog.len(), 17);
    let gateway = Arc::new(Gateway::new(
        runtime,
        Arc::new(gateway::catalog::LiveCatalog::new(catalog)),
        FieldSource::empty(),
        "test-gateway",
    ));
    (app(gateway, FrontDoor::default(), Shutdown::default()), dir)
}

/// Every JSON-RPC message of a response, in order: the body itself for
/// JSON, each event's `data` for SSE (priming events carry none).
async fn messages(response: axum::response::Response) -> Vec<Value> {
    let is_sse = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = tokio::time::timeout(Duration::from_secs(10), response.into_body().collect())
        .await
        .expect("the stream ends after the response")
        .expect("body")
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    if !is_sse {
        return vec![serde_json::from_str(&text).expect("one JSON message")];
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| !data.is_empty())
        .map(|data| serde_json::from_str(data).expect("JSON event data"))
        .collect()
}

/// `method` and the log line of each `notifications/message`, then the response's id.
fn shape(messages: &[Value]) -> Vec<(String, Value)> {
    messages
        .iter()
        .map(|m| match m["method"].as_str() {
            Some(method) => (method.to_string(), m["params"]["data"]["message"].clone()),
            None => ("response".to_string(), m["id"].clone()),
        })
        .collect()
}

/// A 2025-11-25 session request (`id` None: a notification).
fn in_session(
    session: Option<&str>,
    method: &str,
    params: Value,
    id: Option<u64>,
) -> Request<Body> {
    let mut builder = Request::post("/mcp")
        .header("host", "127.0.0.1:8000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(session) = session {
        builder = builder
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-11-25");
    }
    let mut body = json!({"jsonrpc": "2.0", "method": method, "params": params});
    if let Some(id) = id {
        body["id"] = json!(id);
    }
    builder.body(Body::from(body.to_string())).expect("request")
}

#[tokio::test]
async fn test_tool_schemas_reach_tools_list_verbatim() {
    let (app, _dir) = router().await;
    let (status, list) = json_body(
        app.oneshot(stateless("tools/list", json!({}), 1))
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let tool = |name: &str| {
        list["result"]["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .find(|t| t["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} is not listed"))
    };

    let mut schema = tool("json_schema_2020_12_tool")["inputSchema"].clone();
    // The SDK's schemars root names the type; every other keyword must be the tool's own.
    assert_eq!(
        schema.as_object_mut().and_then(|s| s.remove("title")),
        Some(json!("Input"))
    );
    assert_eq!(
        schema,
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {
                "address": {
                    "$anchor": "addressDef",
                    "type": "object",
                    "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
                }
            },
            "properties": {
                "name": { "type": "string" },
                "address": { "$ref": "#/$defs/address" },
                "contactMethod": { "type": "string", "enum": ["phone", "email"] },
                "phone": { "type": "string" },
                "email": { "type": "string" }
            },
            "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
            "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
            "then": { "required": ["phone"] },
            "else": { "required": ["email"] },
            "additionalProperties": false
        })
    );
    let region = &tool("test_x_mcp_header")["inputSchema"]["properties"]["region"];
    assert_eq!(region["x-mcp-header"], json!("Region"));
    assert_eq!(region["type"], json!("string"));
}

#[tokio::test]
async fn calls_without_arguments_or_with_bad_input_are_tool_results() {
    let (app, _dir) = router().await;

    // No `arguments` at all means `{}`.
    let (status, ok) = json_body(
        app.clone()
            .oneshot(stateless(
                "tools/call",
                json!({"name": "test_simple_text"}),
                1,
            ))
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["result"]["isError"], json!(false));
    assert_eq!(
        ok["result"]["structuredContent"],
        json!({"text": "This is a simple text response for testing."})
    );

    // Input the tool refuses is the tool's answer, not a JSON-RPC error.
    let (status, refused) = json_body(
        app.clone()
            .oneshot(stateless(
                "tools/call",
                json!({"name": "test_simple_text", "arguments": {"unexpected": 1}}),
                2,
            ))
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refused}");
    assert_eq!(refused.get("error"), None, "{refused}");
    assert_eq!(refused["result"]["isError"], json!(true));
    assert_eq!(
        refused["result"]["structuredContent"]["error"]["code"],
        json!("invalid_input")
    );

    let (_, failed) = json_body(
        app.oneshot(stateless(
            "tools/call",
            json!({"name": "test_error_handling", "arguments": {}}),
            3,
        ))
        .await
        .expect("call"),
    )
    .await;
    assert_eq!(failed["result"]["isError"], json!(true));
    assert_eq!(
        failed["result"]["structuredContent"]["error"],
        json!({
            "code": "internal",
            "message": "tool error: This tool intentionally returns an error for testing"
        })
    );
}

#[tokio::test]
async fn stateless_requests_get_logs_only_when_their_meta_asks() {
    let (app, _dir) = router().await;
    let call = |log_level: Option<&str>, id: u64| {
        let mut params = json!({"name": "test_logging_tool", "arguments": {}});
        if let Some(level) = log_level {
            params["_meta"] = json!({"io.modelcontextprotocol/logLevel": level});
        }
        stateless("tools/call", params, id)
    };

    let quiet = messages(app.clone().oneshot(call(None, 1)).await.expect("call")).await;
    assert_eq!(shape(&quiet), [("response".to_string(), json!(1))]);

    let asked = messages(
        app.clone()
            .oneshot(call(Some("info"), 2))
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(
        shape(&asked),
        [
            (
                "notifications/message".to_string(),
                json!("test_logging_tool ran")
            ),
            ("response".to_string(), json!(2)),
        ]
    );

    let above = messages(app.oneshot(call(Some("warning"), 3)).await.expect("call")).await;
    assert_eq!(shape(&above), [("response".to_string(), json!(3))]);
}

#[tokio::test]
async fn session_logs_ride_the_calls_own_stream_before_its_result() {
    let (app, _dir) = router().await;
    let init = json!({
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}
    });
    let response = app
        .clone()
        .oneshot(in_session(None, "initialize", init, Some(1)))
        .await
        .expect("initialize");
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_string();
    assert_eq!(
        shape(&messages(response).await),
        [("response".into(), json!(1))]
    );
    let initialized = app
        .clone()
        .oneshot(in_session(
            Some(&session),
            "notifications/initialized",
            json!({}),
            None,
        ))
        .await
        .expect("initialized");
    assert_eq!(initialized.status(), StatusCode::ACCEPTED);
    let set_level = app
        .clone()
        .oneshot(in_session(
            Some(&session),
            "logging/setLevel",
            json!({"level": "info"}),
            Some(2),
        ))
        .await
        .expect("setLevel");
    assert_eq!(
        shape(&messages(set_level).await),
        [("response".into(), json!(2))]
    );

    let call = app
        .oneshot(in_session(
            Some(&session),
            "tools/call",
            json!({"name": "test_tool_with_logging"}),
            Some(3),
        ))
        .await
        .expect("call");
    let got = messages(call).await;
    let log = |line: &str| ("notifications/message".to_string(), json!(line));
    assert_eq!(
        shape(&got),
        [
            log("Tool execution started"),
            log("Tool processing data"),
            log("Tool execution completed"),
            ("response".into(), json!(3)),
        ]
    );
    assert_eq!(got[0]["params"]["level"], json!("info"));
    assert_eq!(got[0]["params"]["logger"], json!("test_tool_with_logging"));
    assert_eq!(
        got[3]["result"]["structuredContent"],
        json!({"text": "Tool with logging executed successfully"})
    );
}

//! The MCP front door driven in-process (`oneshot`, no socket): the
//! stateless 2026-07-28 path, typed tool errors, JSON-RPC error codes,
//! DNS-rebinding protection, the body cap, and the legacy SSE transport.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use gateway::frontdoor::{FrontDoor, MAX_BODY_BYTES};
use gateway::mcp::http::app;
use gateway::mcp::{FieldSource, Gateway};
use gateway::runtime::Runtime;
use gateway::shutdown::Shutdown;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// A gateway serving the hand-written `edge` echo and a trapping `broken` tool.
async fn router(door: FrontDoor) -> (Router, tempfile::TempDir) {
    let tools = [
        ("edge", String::new(), gateway_test_programs::wat::echo()),
        (
            "broken",
            String::new(),
            gateway_test_programs::wat::component("broken", 1, "unreachable"),
        ),
    ];
    serve_tools(door, &tools, FieldSource::empty()).await
}

/// A gateway serving each `(name, more manifest lines, component)` with the
/// given field registry.
pub(crate) async fn serve_tools(
    door: FrontDoor,
    tools: &[(&str, String, Vec<u8>)],
    fields: FieldSource,
) -> (Router, tempfile::TempDir) {
    let (app, dir, _) = serve_tools_shared(door, tools, fields).await;
    (app, dir)
}

/// [`serve_tools`], also returning the [`Gateway`] the router serves (its
/// runtime and live catalog, for tests that change tools while serving).
pub(crate) async fn serve_tools_shared(
    door: FrontDoor,
    tools: &[(&str, String, Vec<u8>)],
    fields: FieldSource,
) -> (Router, tempfile::TempDir, Arc<Gateway>) {
    serve_tools_with(door, tools, fields, |_| {}).await
}

/// [`serve_tools_shared`] with the settings changed by `edit` first.
pub(crate) async fn serve_tools_with(
    door: FrontDoor,
    tools: &[(&str, String, Vec<u8>)],
    fields: FieldSource,
    edit: impl FnOnce(&mut gateway::settings::Settings),
) -> (Router, tempfile::TempDir, Arc<Gateway>) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, manifest, component) in tools {
        let tool = dir.path().join("tools").join(name);
        std::fs::create_dir_all(&tool).expect("mkdir");
        std::fs::write(
            tool.join("tool.toml"),
            format!("name = \"{name}\"\n{manifest}"),
        )
        .expect("manifest");
        std::fs::write(tool.join("tool.wasm"), component).expect("component");
    }
    let mut settings = gateway::settings::Settings {
        cache_dir: dir.path().join("cache"),
        tools_dir: dir.path().join("tools"),
        ..Default::default()
    };
    edit(&mut settings);
    let runtime = Arc::new(Runtime::new(settings.clone()).expect("runtime"));
    // Built as `gateway serve` builds it.
    let assembled = gateway::server::assemble(
        runtime,
        &settings.tools_dir,
        fields,
        "test-gateway",
        crate::harness::compile_budget(),
    )
    .await
    .expect("tools folder");
    assert!(assembled.skipped.is_empty(), "{:?}", assembled.skipped);
    let gateway = assembled.gateway;
    (
        app(Arc::clone(&gateway), door, Shutdown::default()),
        dir,
        gateway,
    )
}

const META: &str = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}"#;

/// A stateless (2026-07-28) request: no initialize, no session. Keys in
/// `params._meta` join the required ones.
pub(crate) fn stateless(method: &str, mut params: Value, id: u64) -> Request<Body> {
    let mut meta: Value = serde_json::from_str(META).expect("meta");
    if let Some(extra) = params.get("_meta").and_then(Value::as_object) {
        for (key, value) in extra {
            meta[key] = value.clone();
        }
    }
    params["_meta"] = meta;
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut builder = Request::post("/mcp")
        .header("host", "127.0.0.1:8000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = name {
        builder = builder.header("mcp-name", name);
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    builder.body(Body::from(body.to_string())).expect("request")
}

/// A POST to `/mcp` in a 2025-06-18 `session`, or opening one when `None`,
/// with `extra` headers (an `Authorization`, say).
pub(crate) fn in_session(
    body: &Value,
    session: Option<&str>,
    extra: &[(&str, &str)],
) -> Request<Body> {
    let mut builder = Request::post("/mcp")
        .header("host", "127.0.0.1:8000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(session) = session {
        builder = builder
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    for (name, value) in extra {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::from(body.to_string())).expect("request")
}

/// Opens a 2025-06-18 session on `app` (`initialize`, then
/// `notifications/initialized`) with `extra` headers: its id.
pub(crate) async fn open_session(app: &Router, extra: &[(&str, &str)]) -> String {
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    let response = app
        .clone()
        .oneshot(in_session(&init, None, extra))
        .await
        .expect("initialize");
    assert_eq!(response.status(), StatusCode::OK);
    let id = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("session id")
        .to_owned();
    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    let response = app
        .clone()
        .oneshot(in_session(&initialized, Some(&id), extra))
        .await
        .expect("initialized");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    id
}

pub(crate) async fn json_body(response: axum::response::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, value)
}

#[tokio::test]
async fn tools_are_listed_and_called_statelessly_with_typed_errors() {
    let (app, _dir) = router(FrontDoor::default()).await;

    let (status, list) = json_body(
        app.clone()
            .oneshot(stateless("tools/list", json!({}), 1))
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "broken",
            "edge",
            "health_check",
            "list_field_integrations",
            "lookup_field",
            "get_field_definitions",
            "check_field_drift",
            "discover_fields"
        ]
    );
    let edge = &list["result"]["tools"][1];
    assert_eq!(edge["inputSchema"]["type"], json!("object"));
    assert_eq!(edge["description"], json!("Edge-case test tool"));

    let call = stateless(
        "tools/call",
        json!({"name": "edge", "arguments": {"q": "hello"}}),
        2,
    );
    let (status, ok) = json_body(app.clone().oneshot(call).await.expect("call")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ok["result"]["isError"], json!(false));
    assert_eq!(ok["result"]["structuredContent"], json!({"q": "hello"}));
    assert_eq!(
        ok["result"]["content"][0]["text"],
        json!(r#"{"q":"hello"}"#)
    );

    let call = stateless("tools/call", json!({"name": "broken", "arguments": {}}), 3);
    let (_, failed) = json_body(app.clone().oneshot(call).await.expect("call")).await;
    assert_eq!(failed["result"]["isError"], json!(true));
    assert_eq!(
        failed["result"]["structuredContent"]["error"]["code"],
        json!("trap")
    );

    let call = stateless("tools/call", json!({"name": "nope", "arguments": {}}), 4);
    let (_, unknown) = json_body(app.clone().oneshot(call).await.expect("call")).await;
    assert_eq!(unknown["error"]["code"], json!(-32602));
}

#[tokio::test]
async fn the_front_door_refuses_rebinding_oversized_and_malformed_requests() {
    let door = FrontDoor {
        allowed_origins: vec!["https://app.example.com".into()],
        ..FrontDoor::default()
    };
    let (app, _dir) = router(door).await;
    let with = |header: &str, value: &str| {
        let mut request = stateless("tools/list", json!({}), 1);
        request.headers_mut().insert(
            http::HeaderName::from_bytes(header.as_bytes()).expect("name"),
            value.parse().expect("value"),
        );
        request
    };
    for (header, value, expected) in [
        ("host", "evil.example.com", StatusCode::FORBIDDEN),
        (
            "host",
            "127.0.0.1.evil.example.com:8000",
            StatusCode::FORBIDDEN,
        ),
        ("origin", "http://evil.example.com", StatusCode::FORBIDDEN),
        ("origin", "https://app.example.com", StatusCode::OK),
        // The server's own origin is no rebinding: a browser sends it only from its pages.
        ("origin", "http://127.0.0.1:8000", StatusCode::OK),
        ("origin", "http://localhost:8000", StatusCode::FORBIDDEN),
        ("host", "localhost:8000", StatusCode::OK),
    ] {
        let response = app
            .clone()
            .oneshot(with(header, value))
            .await
            .expect("response");
        assert_eq!(response.status(), expected, "{header}: {value}");
    }
    // The legacy transport is behind the same door.
    let sse = Request::get("/sse")
        .header("host", "evil.example.com")
        .body(Body::empty())
        .expect("request");
    assert_eq!(
        app.clone().oneshot(sse).await.expect("sse").status(),
        StatusCode::FORBIDDEN
    );

    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"edge","arguments":{{"x":"{}"}}}}}}"#,
        "a".repeat(MAX_BODY_BYTES)
    );
    let mut request = stateless("tools/list", json!({}), 1);
    *request.body_mut() = Body::from(huge);
    assert_eq!(
        app.clone().oneshot(request).await.expect("huge").status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );

    for bad in [
        "{not json",
        "[]",
        r#"{"jsonrpc":"2.0","id":1}"#,
        "\u{0}\u{ff}",
    ] {
        let mut request = stateless("tools/list", json!({}), 1);
        *request.body_mut() = Body::from(bad.to_string());
        let (status, body) = json_body(app.clone().oneshot(request).await.expect("bad")).await;
        assert!(status.is_client_error(), "{bad:?}: {status}");
        assert!(
            body["error"]["code"]
                .as_i64()
                .is_some_and(|c| (-32700..=-32600).contains(&c)),
            "{bad:?}: {body}"
        );
    }
}

/// Reads SSE frames from `body` until one `data:` line of the given event arrives.
pub(crate) async fn next_event(body: &mut Body, event: &str) -> String {
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(start) = text.find(&format!("event: {event}\ndata: ")) {
                let rest = &text[start + event.len() + 14..];
                if let Some(end) = rest.find('\n') {
                    let data = rest[..end].to_string();
                    return data;
                }
            }
            let frame = body.frame().await.expect("stream open").expect("frame");
            if let Ok(data) = frame.into_data() {
                let data: Bytes = data;
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    })
    .await
    .expect("event in time")
}

#[tokio::test]
async fn legacy_sse_clients_initialize_list_and_call() {
    let (app, _dir) = router(FrontDoor::default()).await;
    let open = Request::get("/sse")
        .header("host", "127.0.0.1:8000")
        .body(Body::empty())
        .expect("request");
    let mut stream = app.clone().oneshot(open).await.expect("sse").into_body();
    let endpoint = next_event(&mut stream, "endpoint").await;
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");

    let post = |body: Value| {
        Request::post(endpoint.as_str())
            .header("host", "127.0.0.1:8000")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    assert_eq!(
        app.clone()
            .oneshot(post(init))
            .await
            .expect("init")
            .status(),
        StatusCode::ACCEPTED
    );
    let reply: Value =
        serde_json::from_str(&next_event(&mut stream, "message").await).expect("json");
    assert_eq!(reply["result"]["serverInfo"]["name"], json!("test-gateway"));

    let initialized = json!({"jsonrpc":"2.0","method":"notifications/initialized"});
    assert_eq!(
        app.clone()
            .oneshot(post(initialized))
            .await
            .expect("notify")
            .status(),
        StatusCode::ACCEPTED
    );
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"edge","arguments":{"via":"sse"}}});
    assert_eq!(
        app.clone()
            .oneshot(post(call))
            .await
            .expect("call")
            .status(),
        StatusCode::ACCEPTED
    );
    let reply: Value =
        serde_json::from_str(&next_event(&mut stream, "message").await).expect("json");
    assert_eq!(reply["id"], json!(2));
    assert_eq!(reply["result"]["structuredContent"], json!({"via": "sse"}));

    let unknown = Request::post("/messages?sessionId=nope")
        .header("host", "127.0.0.1:8000")
        .body(Body::from("{}"))
        .expect("request");
    assert_eq!(
        app.clone()
            .oneshot(unknown)
            .await
            .expect("unknown")
            .status(),
        StatusCode::NOT_FOUND
    );
}

//! Errors say what they should and no more: the JSON-RPC code for each way
//! `params` can be wrong (2025 sessions and 2026-07-28 requests alike), a
//! trap's kind without its wasm backtrace over a real `/mcp` socket, and
//! terminal escapes in a tool's error shown inert by `gateway call`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use gateway::frontdoor::FrontDoor;
use gateway::frontdoor::listener::ConnectionLimits;
use gateway::mcp::FieldSource;
use gateway::mcp::jsonrpc::{INVALID_PARAMS, INVALID_REQUEST};
use gateway::runtime::CallError;
use gateway::shutdown::Shutdown;
use gateway_test_programs::wat;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::mcp::{json_body, serve_tools_shared};

const DEEP: usize = 10_000;

fn nested() -> String {
    format!("{}{}", "[".repeat(DEEP), "]".repeat(DEEP))
}

/// A POST to `/mcp` with `body`, statelessly (2026-07-28) or in `session`.
fn post(body: &str, method: &str, session: Option<&str>) -> Request<Body> {
    let builder = Request::post("/mcp")
        .header("host", "127.0.0.1:8000")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    let builder = match session {
        Some(session) => builder
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18"),
        None if method == "tools/call" => builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method)
            .header("mcp-name", "edge"),
        None => builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method),
    };
    builder.body(Body::from(body.to_owned())).expect("request")
}

const META: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}"#;

/// A 2025-06-18 session on `app`: its id.
async fn session(app: &Router) -> String {
    crate::mcp::open_session(app, &[]).await
}

#[tokio::test]
async fn wrong_or_too_deep_params_get_invalid_params_and_a_deep_envelope_invalid_request() {
    let (app, _dir, _) = serve_tools_shared(
        FrontDoor::default(),
        &[("edge", String::new(), wat::echo())],
        FieldSource::empty(),
    )
    .await;
    let deep = nested();
    // (method, params as JSON text, expected code); params get `_meta`
    // for stateless requests when they are an object.
    let cases: Vec<(&str, String, i64)> = vec![
        ("tools/call", r#""edge""#.into(), INVALID_PARAMS),
        ("tools/call", r#"["edge"]"#.into(), INVALID_PARAMS),
        ("tools/call", "5".into(), INVALID_PARAMS),
        ("tools/call", r#"{"name":5}"#.into(), INVALID_PARAMS),
        (
            "tools/call",
            r#"{"name":"edge","arguments":"x"}"#.into(),
            INVALID_PARAMS,
        ),
        (
            "tools/call",
            format!(r#"{{"name":"edge","arguments":{{"a":{deep}}}}}"#),
            INVALID_PARAMS,
        ),
        ("tools/list", r#""x""#.into(), INVALID_PARAMS),
        ("tools/list", "[1]".into(), INVALID_PARAMS),
        ("tools/list", "5".into(), INVALID_PARAMS),
        (
            "tools/list",
            format!(r#"{{"cursor":{deep}}}"#),
            INVALID_PARAMS,
        ),
    ];
    let app_session = session(&app).await;
    for session in [None, Some(app_session.as_str())] {
        for (method, params, expected) in &cases {
            let params = match (session, params.strip_prefix('{')) {
                (None, Some(rest)) => format!("{{{META},{rest}"),
                _ => params.clone(),
            };
            let body =
                format!(r#"{{"jsonrpc":"2.0","id":41,"method":"{method}","params":{params}}}"#);
            let (status, answer) = json_body(
                app.clone()
                    .oneshot(post(&body, method, session))
                    .await
                    .expect("answer"),
            )
            .await;
            assert_eq!(
                answer["error"]["code"],
                json!(expected),
                "{method} {:.80} {session:?}: {status} {answer}",
                params
            );
            assert_eq!(answer["id"], json!(41), "the answer names its request");
        }
        // Deep nesting in the envelope itself.
        let deep_member =
            format!(r#"{{"jsonrpc":"2.0","id":42,"method":"tools/list","x":{deep}}}"#);
        for body in [deep.clone(), deep_member] {
            let (_, answer) = json_body(
                app.clone()
                    .oneshot(post(&body, "tools/list", session))
                    .await
                    .expect("answer"),
            )
            .await;
            assert_eq!(
                answer["error"]["code"],
                json!(INVALID_REQUEST),
                "{session:?}"
            );
        }
        // The same requests well formed are served.
        let meta = if session.is_none() {
            format!("{META},")
        } else {
            String::new()
        };
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":43,"method":"tools/call","params":{{{meta}"name":"edge","arguments":{{"a":[[1]]}}}}}}"#
        );
        let response = app
            .clone()
            .oneshot(post(&body, "tools/call", session))
            .await
            .expect("call");
        let answer = answer_of(response).await;
        assert_eq!(
            answer["result"]["structuredContent"],
            json!({"a": [[1]]}),
            "{session:?}"
        );
    }
}

/// The JSON-RPC answer in a response, JSON or an event stream.
async fn answer_of(response: axum::response::Response) -> Value {
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    if let Ok(value) = serde_json::from_str(&text) {
        return value;
    }
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("id").is_some())
        .unwrap_or_else(|| panic!("no answer in {text}"))
}

/// One stateless `tools/call` over a real socket: the JSON-RPC answer.
async fn call_over_socket(addr: SocketAddr, name: &str, arguments: Value) -> Value {
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(wasmtime_wasi_http::io::TokioIo::new(tcp))
            .await
            .expect("handshake");
    tokio::spawn(connection);
    let meta: Value = serde_json::from_str(&format!("{{{META}}}")).expect("meta");
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"_meta": meta["_meta"], "name": name, "arguments": arguments}});
    let request = Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", name)
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = sender.send_request(request).await.expect("call");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes).expect("JSON answer")
}

#[tokio::test]
async fn a_trap_tells_the_agent_its_kind_and_not_its_backtrace() {
    let (app, _dir, _) = serve_tools_shared(
        FrontDoor::default(),
        &[
            (
                "broken",
                String::new(),
                wat::component("broken", 1, "unreachable"),
            ),
            (
                "echo",
                String::new(),
                std::fs::read(gateway_test_programs::ECHO).expect("echo component"),
            ),
        ],
        FieldSource::empty(),
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(gateway::mcp::http::serve(
        listener,
        app,
        ConnectionLimits::default(),
        Shutdown::default(),
    ));
    // A wasm `unreachable`, and a Rust panic (which compiles to one).
    let expected = CallError::Trap(wasmtime::Trap::UnreachableCodeReached.to_string());
    for (name, arguments) in [
        ("broken", json!({})),
        ("echo", json!({"text": "x", "panic": true})),
    ] {
        let answer = call_over_socket(addr, name, arguments).await;
        let result = &answer["result"];
        assert_eq!(result["isError"], json!(true), "{answer}");
        assert_eq!(result["structuredContent"]["error"]["code"], json!("trap"));
        assert_eq!(
            result["structuredContent"]["error"]["message"],
            json!(expected.to_string()),
            "{name}"
        );
        assert_eq!(
            result["content"][0]["text"],
            json!(format!("[trap] {expected}")),
            "{name}"
        );
    }
    // WASI `exit` stops the call with a host error carrying a backtrace:
    // the agent gets its status alone.
    let answer = call_over_socket(addr, "echo", json!({"text": "x", "exit_code": 1})).await;
    assert_eq!(
        answer["result"]["structuredContent"]["error"],
        json!({"code": "trap", "message": CallError::Trap(gateway::runtime::error::exited(1)).to_string()}),
        "{answer}"
    );
}

#[tokio::test]
async fn gateway_call_shows_terminal_escapes_in_a_tool_error_inert() {
    // `call` returns err(upstream("\x1b[31mred\x1b[0m\r...")) from memory at 8192.
    let text = "\u{1b}[31mred alert\u{1b}[0m\rrewritten\u{9b}2J";
    let mut body = String::new();
    for (i, byte) in text.bytes().enumerate() {
        body.push_str(&format!(
            "(i32.store8 (i32.const {}) (i32.const {byte}))",
            8192 + i
        ));
    }
    body.push_str(&format!(
        "(i32.store8 (i32.const 576) (i32.const 1)) (i32.store8 (i32.const 580) (i32.const 1)) (i32.store (i32.const 584) (i32.const 8192)) (i32.store (i32.const 588) (i32.const {})) (i32.const 576)",
        text.len()
    ));
    let root = tempfile::tempdir().expect("tempdir");
    let tool = root.path().join("edge");
    std::fs::create_dir_all(&tool).expect("mkdir");
    std::fs::write(tool.join("tool.toml"), "name = \"edge\"\n").expect("manifest");
    std::fs::write(tool.join("tool.wasm"), wat::component("edge", 1, &body)).expect("component");
    let config = root.path().join("gateway.toml");
    std::fs::write(&config, "cache_dir = \"cache\"\n").expect("config");

    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
            .arg("--config")
            .arg(&config)
            .arg("call")
            .arg(&tool)
            .arg("{}")
            .env_remove("GATEWAY_CONFIG")
            .env_remove("GATEWAY_TOOLS_DIR")
            .output()
            .expect("run gateway")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(1), "the call failed");
    let stderr = String::from_utf8(out.stderr).expect("UTF-8");
    let unsafe_chars: Vec<char> = stderr
        .chars()
        .filter(|c| c.is_control() && *c != '\n' && *c != '\t')
        .collect();
    assert!(
        unsafe_chars.is_empty(),
        "{unsafe_chars:?} reached the terminal"
    );
    // Shown escaped, not dropped.
    assert!(stderr.contains(r"\u{1b}[31mred alert\u{1b}[0m\u{d}rewritten\u{9b}2J"));
}

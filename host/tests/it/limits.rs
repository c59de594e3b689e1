//! Limits agents can read (docs/limits.md): a burst past a tool's bucket is
//! refused with the typed JSON-RPC error (HTTP 429 and `Retry-After` on
//! Streamable HTTP, on the stream for legacy SSE) while other tools keep
//! their budget; the cap on calls in flight refuses the call past it at
//! once; the admin key file rotates under a running `gateway serve`.
//!
//! Rates are set far slower than any test runs (one token per 1000 s), and
//! calls are held in flight by an upstream that answers only when told:
//! no outcome depends on timing.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use gateway::frontdoor::FrontDoor;
use gateway::limits::{LimitSettings, Rate, RateSettings};
use gateway::mcp::FieldSource;
use gateway::mcp::admission::LIMITED;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::mcp::{in_session, json_body, next_event, open_session, serve_tools_with, stateless};
use crate::memory::{Hold, PATIENCE, grant_loopback};

/// One call to `tool` on the stateless path: status, `Retry-After`, body.
async fn call(
    app: &Router,
    tool: &str,
    arguments: Value,
    id: u64,
) -> (StatusCode, Option<String>, Value) {
    let request = stateless(
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
        id,
    );
    let response = app.clone().oneshot(request).await.expect("response");
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, body) = json_body(response).await;
    (status, retry_after, body)
}

/// A call that ran: a result, not a JSON-RPC error.
fn ran(body: &Value) -> bool {
    body["result"]["isError"] == json!(false)
}

#[tokio::test]
async fn a_burst_past_the_bucket_gets_a_typed_error_and_other_tools_keep_theirs() {
    let tools = [
        ("edge", String::new(), gateway_test_programs::wat::echo()),
        (
            "other",
            String::new(),
            gateway_test_programs::wat::constant("other", "{}"),
        ),
    ];
    let (app, _dir, gateway) =
        serve_tools_with(FrontDoor::default(), &tools, FieldSource::empty(), |s| {
            s.limits = LimitSettings {
                max_calls_in_flight: None,
                rates: RateSettings {
                    // Each tool: 2 calls, then one per 1000 s.
                    per_tool: Some(Rate::new(0.001, Some(2)).expect("rate")),
                    ..RateSettings::default()
                },
            };
        })
        .await;

    for id in 1..=2 {
        let (status, _, body) = call(&app, "edge", json!({"n": id}), id).await;
        assert_eq!(status, StatusCode::OK);
        assert!(ran(&body), "{body}");
    }
    let (status, retry_after, body) = call(&app, "edge", json!({}), 3).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["id"], json!(3));
    assert_eq!(body["error"]["code"], json!(LIMITED));
    assert_eq!(body["error"]["data"]["code"], json!("rate_limited"));
    assert_eq!(body["error"]["data"]["scope"], json!("tool"));
    // One token comes back 1000 s after the first call: the hint is at
    // most that, and `Retry-After` is the same in whole seconds, rounded up.
    let seconds = body["error"]["data"]["retryAfter"].as_f64().unwrap_or(0.0);
    assert!(seconds > 0.0 && seconds <= 1000.0, "{body}");
    assert_eq!(retry_after, Some(seconds.ceil().to_string()));

    // Another tool has its own bucket.
    let (status, _, body) = call(&app, "other", json!({}), 4).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ran(&body), "{body}");

    // A 2025 session over /mcp spends from the same budget: its call is
    // refused before any stream opens.
    let post = |session: Option<&str>, body: Value| in_session(&body, session, &[]);
    let session = open_session(&app, &[]).await;
    let edge_call = json!({"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"edge","arguments":{}}});
    let response = app
        .clone()
        .oneshot(post(Some(&session), edge_call))
        .await
        .expect("call");
    assert!(response.headers().contains_key(http::header::RETRY_AFTER));
    let (status, body) = json_body(response).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["id"], json!(11));
    assert_eq!(body["error"]["data"]["code"], json!("rate_limited"));
    let other = json!({"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"other","arguments":{}}});
    let status = app
        .clone()
        .oneshot(post(Some(&session), other))
        .await
        .expect("call")
        .status();
    assert_eq!(status, StatusCode::OK, "the other tool's second token");

    // An unknown tool is answered as unknown however often it is called,
    // and takes no budget: only the two tools called have a bucket.
    for id in 5..10 {
        let (status, _, body) = call(&app, "nope", json!({}), id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["error"]["code"], json!(-32602), "{body}");
    }
    assert_eq!(gateway.limits.rates().tracked(), 2);

    // The legacy SSE transport spends from the same budget, and hears the
    // same error on its stream.
    let open = Request::get("/sse")
        .header("host", "127.0.0.1:8000")
        .body(Body::empty())
        .expect("request");
    let mut stream = app.clone().oneshot(open).await.expect("sse").into_body();
    let endpoint = next_event(&mut stream, "endpoint").await;
    let post_sse = |body: Value| {
        Request::post(endpoint.as_str())
            .header("host", "127.0.0.1:8000")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    for message in [
        init,
        json!({"jsonrpc":"2.0","method":"notifications/initialized"}),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"edge","arguments":{}}}),
    ] {
        let status = app
            .clone()
            .oneshot(post_sse(message))
            .await
            .expect("post")
            .status();
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let mut refused = None;
    while refused.is_none() {
        let message: Value =
            serde_json::from_str(&next_event(&mut stream, "message").await).expect("json");
        if message["id"] == json!(2) {
            refused = Some(message);
        }
    }
    let refused = refused.unwrap_or_default();
    assert_eq!(refused["error"]["code"], json!(LIMITED), "{refused}");
    assert_eq!(refused["error"]["data"]["code"], json!("rate_limited"));
    assert!(
        refused["error"]["data"]["retryAfter"]
            .as_f64()
            .is_some_and(|s| s > 0.0 && s <= 1000.0),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_on_calls_in_flight_refuses_the_next_call_at_once() {
    let hold = Hold::start().await;
    let manifest = format!(
        "[limits]\ntimeout_ms = 120000\n[[http]]\nurl = \"http://127.0.0.1:{}/api/\"\n",
        hold.port
    );
    let tools = [(
        "probe",
        manifest,
        crate::harness::component(gateway_test_programs::PROBE),
    )];
    let (app, _dir, gateway) =
        serve_tools_with(FrontDoor::default(), &tools, FieldSource::empty(), |s| {
            grant_loopback(s);
            s.limits.max_calls_in_flight = Some(2);
        })
        .await;
    let input = json!({"url": format!("http://127.0.0.1:{}/api/x", hold.port)});

    // Two calls held by the upstream: both places are taken.
    let held: Vec<_> = (1..=2)
        .map(|id| {
            let (app, input) = (app.clone(), input.clone());
            tokio::spawn(async move { call(&app, "probe", input, id).await })
        })
        .collect();
    hold.until_held(2).await;
    assert_eq!(gateway.limits.slots().in_use(), 2);

    // The third is refused without waiting and without reaching the upstream.
    let (status, retry_after, body) =
        tokio::time::timeout(PATIENCE, call(&app, "probe", input.clone(), 3))
            .await
            .expect("refused at once, not queued");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(body["error"]["code"], json!(LIMITED));
    assert_eq!(body["error"]["data"]["code"], json!("overloaded"));
    assert_eq!(body["error"]["data"]["scope"], json!("gateway"));
    assert_eq!(hold.held.load(std::sync::atomic::Ordering::SeqCst), 2);

    // Released, the held calls finish, and their places are free again.
    hold.release.send_replace(true);
    for call in held {
        let (status, _, body) = call.await.expect("join");
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["result"]["structuredContent"]["ok"],
            json!(true),
            "{body}"
        );
    }
    assert_eq!(gateway.limits.slots().in_use(), 0);
    let (status, _, body) = call(&app, "probe", input, 4).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["result"]["structuredContent"]["ok"],
        json!(true),
        "{body}"
    );
}

/// `[limits]` in `gateway.toml` reaches `gateway serve`: the second call
/// of a one-call burst is refused over a real socket.
#[tokio::test]
async fn gateway_serve_applies_the_limits_from_its_config() {
    use http_body_util::{BodyExt, Full};

    // deployment() writes this after `[server]`.
    let config = "\n[limits]\ncalls_per_second = 0.001\nburst = 1\nmax_calls_in_flight = 8\n";
    let (served, addr) = crate::shutdown::Served::http(config, &[], &[]).await;
    let meta = json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}});
    let mut answers = Vec::new();
    for id in 1..=2 {
        let body = json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"},"_meta":meta}});
        let request = Request::post("/mcp")
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", "echo")
            .body(Full::new(bytes::Bytes::from(body.to_string())))
            .expect("request");
        let mut conn = crate::shutdown::connect(addr).await;
        let response = conn.send_request(request).await.expect("call");
        let status = response.status();
        let retry_after = response.headers().get(http::header::RETRY_AFTER).cloned();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        answers.push((status, retry_after.is_some(), body));
    }
    assert_eq!(
        answers[0].0,
        StatusCode::OK,
        "{}\n{}",
        answers[0].2,
        served.log()
    );
    assert_eq!(
        answers[0].2["result"]["structuredContent"],
        json!({"text": "x"})
    );
    assert_eq!(
        answers[1].0,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answers[1].2
    );
    assert!(answers[1].1, "Retry-After");
    assert_eq!(answers[1].2["error"]["data"]["code"], json!("rate_limited"));
}

/// `gateway serve` with the admin key in a file: the status of an admin
/// request with `key`.
async fn admin_status(addr: &str, key: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(
        format!(
            "GET /admin/tools HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.expect("read");
    response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse::<u16>().ok())
        .expect("status line")
}

#[tokio::test]
async fn the_admin_key_file_rotates_without_a_restart_and_a_bad_rotation_keeps_the_key() {
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::AsyncBufReadExt;

    const OLD: &str = "old-admin-key-0123456789abcdef-0123456789";
    const NEW: &str = "new-admin-key-0123456789abcdef-0123456789";
    let dir = tempfile::tempdir().expect("tempdir");
    let tools = dir.path().join("tools");
    std::fs::create_dir_all(&tools).expect("mkdir");
    let key_file = dir.path().join("admin.key");
    // Written whole, then renamed over the key file, as secret managers do.
    let write_key = |text: &str| {
        let staged = dir.path().join("admin.key.new");
        std::fs::write(&staged, text).expect("write key");
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::fs::rename(&staged, &key_file).expect("rename");
    };
    write_key(&format!("{OLD}\n"));
    let serve = |env_key: Option<&str>| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
        command
            .args(["serve", "--admin-listen", "127.0.0.1:0"])
            .arg("--tools-dir")
            .arg(&tools)
            .arg("--fields-dir")
            .arg(dir.path().join("no-fields"))
            .env_remove("GATEWAY_CONFIG")
            .env_remove("GATEWAY_ADMIN_KEY")
            .env("MCP_TRANSPORT", "stdio")
            .env("GATEWAY_ADMIN_KEY_FILE", &key_file)
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        if let Some(key) = env_key {
            command.env("GATEWAY_ADMIN_KEY", key);
        }
        command
    };

    // Both the variable and the file: refused at start.
    let both = tokio::time::timeout(Duration::from_secs(60), serve(Some(OLD)).output())
        .await
        .expect("exits")
        .expect("runs");
    assert!(!both.status.success(), "both key sources are refused");

    let mut child = serve(None).spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::BufReader::new(stderr).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(rest) = line.strip_prefix("admin API on http://") {
                return rest.trim_end_matches("/admin/tools").to_owned();
            }
        }
        panic!("gateway serve exited without starting the admin API");
    })
    .await
    .expect("admin API announced");
    // Keep reading stderr so the gateway never blocks on it.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    assert_eq!(admin_status(&addr, OLD).await, 200);
    assert_eq!(admin_status(&addr, NEW).await, 401);

    write_key(&format!("{NEW}\n"));
    assert_eq!(admin_status(&addr, NEW).await, 200);
    assert_eq!(admin_status(&addr, OLD).await, 401);

    // Too short, then gone: the key in force stays.
    write_key("short\n");
    assert_eq!(admin_status(&addr, NEW).await, 200);
    std::fs::remove_file(&key_file).expect("remove");
    assert_eq!(admin_status(&addr, NEW).await, 200);
    assert_eq!(admin_status(&addr, "short").await, 401);

    child.kill().await.expect("kill");
}

/// Every call is one audit line, a call refused by a limit before the
/// handler saw it included (outcome `rate_limited`), and the chain verifies.
#[tokio::test]
async fn calls_refused_by_a_limit_are_in_the_audit_trail() {
    let tools = [("edge", String::new(), gateway_test_programs::wat::echo())];
    let (app, dir, gateway) =
        serve_tools_with(FrontDoor::default(), &tools, FieldSource::empty(), |s| {
            s.limits = LimitSettings {
                max_calls_in_flight: None,
                rates: RateSettings {
                    per_tool: Some(Rate::new(0.001, Some(1)).expect("rate")),
                    ..RateSettings::default()
                },
            };
        })
        .await;
    let file = dir.path().join("audit.jsonl");
    let log = gateway::audit::AuditLog::open(&file).expect("audit log");
    gateway.audit.set(log.clone()).expect("set once");

    let (status, _, body) = call(&app, "edge", json!({"secret": "do-not-log"}), 1).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ran(&body), "{body}");
    let (status, _, _) = call(&app, "edge", json!({}), 2).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    log.close().await.expect("close");

    let text = std::fs::read_to_string(&file).expect("read");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let seen: Vec<(&str, &str, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap_or_default(),
                l["tool"].as_str().unwrap_or_default(),
                l["outcome"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [("call", "edge", "ok"), ("call", "edge", "rate_limited")]
    );
    assert!(
        !text.contains("do-not-log"),
        "arguments never reach the trail"
    );
    assert_eq!(gateway::audit::verify(&file).map(|s| s.lines).ok(), Some(2));
}

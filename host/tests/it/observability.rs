//! Running the gateway like infrastructure (docs/observability.md): the
//! real `gateway serve` counted in `/metrics` and scraped by a real
//! Prometheus (Debian's `prometheus`, `scripts/setup-ops`), each call's
//! span received by a real OTLP/HTTP receiver with the parent from
//! `_meta.traceparent`, one JSON log line per call, and `/healthz` and
//! `/readyz` past authentication but not past the Host check.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::shutdown::{Served, connect};

/// Long enough for anything that is not stuck.
const DEADLINE: Duration = Duration::from_secs(60);

/// A stateless (2026-07-28) `tools/call` of `echo` over a real socket, with
/// `extra` keys in `_meta`; the decoded JSON-RPC response.
async fn call_echo(addr: SocketAddr, id: u64, extra_meta: Value) -> Value {
    let (status, response) = call(addr, "echo", id, extra_meta).await;
    assert_eq!(status, StatusCode::OK);
    response
}

/// A stateless `tools/call` of `tool`: the HTTP status and the JSON body.
async fn call(addr: SocketAddr, tool: &str, id: u64, extra_meta: Value) -> (StatusCode, Value) {
    let mut meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    if let Some(extra) = extra_meta.as_object() {
        for (key, value) in extra {
            meta[key] = value.clone();
        }
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": {"text": format!("hello-{id}")}, "_meta": meta}});
    let request = Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let (status, bytes) = send(addr, request).await;
    (
        status,
        serde_json::from_slice(&bytes).expect("JSON-RPC response"),
    )
}

/// Sends `request` on a new connection to `addr`: status and whole body.
async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> (StatusCode, Bytes) {
    let mut sender = connect(addr).await;
    let response = sender.send_request(request).await.expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, bytes)
}

/// GET `path` on the real listener: status and body text.
async fn get_text(addr: SocketAddr, path: &str) -> (StatusCode, String) {
    let request = Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .expect("request");
    let (status, bytes) = send(addr, request).await;
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The value of one series (`name{labels}` exactly as exposed).
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

fn ok_result(response: &Value) -> bool {
    response["result"]["isError"] == json!(false)
}

#[tokio::test]
async fn metrics_count_each_call_by_tool_and_outcome_and_pass_promtool() {
    // Five calls of echo, then its bucket is empty for the next 1000 s.
    let limits = "\n[limits.tools.echo]\ncalls_per_second = 0.001\nburst = 5\n";
    let (served, addr) = Served::http(limits, &[], &[]).await;
    for id in 1..=5 {
        assert!(ok_result(&call_echo(addr, id, json!({})).await));
    }
    // Refused calls count too: over the rate, and a tool nobody serves
    // (under no tool label: a client's text never becomes a label).
    let (status, _) = call(addr, "echo", 6, json!({})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (_, unknown) = call(addr, "no_such_tool", 7, json!({})).await;
    assert_eq!(unknown["error"]["code"], -32602);
    let (status, text) = get_text(addr, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let ok = r#"gateway_tool_calls_total{tool="echo",team="",outcome="ok"}"#;
    assert_eq!(sample(&text, ok), Some(5.0), "{text}");
    let limited = r#"gateway_tool_calls_total{tool="echo",team="",outcome="rate_limited"}"#;
    assert_eq!(sample(&text, limited), Some(1.0), "{text}");
    let unknown = r#"gateway_tool_calls_total{tool="",team="",outcome="unknown_tool"}"#;
    assert_eq!(sample(&text, unknown), Some(1.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"gateway_tool_call_duration_seconds_count{tool="echo",team=""}"#
        ),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"gateway_tool_calls_in_flight{tool="echo",team=""}"#
        ),
        Some(0.0)
    );
    assert_eq!(sample(&text, "gateway_catalog_tools"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"gateway_build_info{{version="{}"}}"#,
                env!("CARGO_PKG_VERSION")
            )
        ),
        Some(1.0)
    );
    // Each echo result is `{"text":"hello-N"}`: 18 bytes.
    assert_eq!(
        sample(
            &text,
            r#"gateway_tool_output_bytes_total{tool="echo",team=""}"#
        ),
        Some(5.0 * 18.0)
    );

    // promtool (Debian's prometheus package) accepts the exposition.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, &text).expect("write");
    let checked = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).expect("open"))
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool not found ({e}): run scripts/setup-ops (Debian package prometheus)")
        });
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    drop(served);
}

/// A free loopback port (bound, then released for the child to bind).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_gateway_and_reads_back_the_calls_made() {
    let (served, addr) = Served::http("", &[], &[]).await;
    let calls = 7;
    for id in 1..=calls {
        assert!(ok_result(&call_echo(addr, id, json!({})).await));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: gateway\n    scrape_interval: 1s\n    static_configs:\n      - targets: ['{addr}']\n"
        ),
    )
    .expect("config");
    let port = free_port();
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("prometheus not found ({e}): run scripts/setup-ops (Debian package prometheus)")
        });
    let _prometheus = Killed(prometheus);
    let prom: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let query =
        "/api/v1/query?query=gateway_tool_calls_total%7Btool%3D%22echo%22%2Coutcome%3D%22ok%22%7D";
    let started = Instant::now();
    let value = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "Prometheus never returned the series"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        if tokio::net::TcpStream::connect(prom).await.is_err() {
            continue;
        }
        let (status, body) = get_text(prom, query).await;
        if status != StatusCode::OK {
            continue;
        }
        let answer: Value = serde_json::from_str(&body).expect("Prometheus JSON");
        assert_eq!(answer["status"], "success", "{answer}");
        if let Some(series) = answer["data"]["result"].as_array().and_then(|r| r.first()) {
            assert_eq!(series["metric"]["job"], "gateway");
            break series["value"][1]
                .as_str()
                .and_then(|v| v.parse::<f64>().ok())
                .expect("sample value");
        }
    };
    assert_eq!(value, calls as f64);
    drop(served);
}

/// The spans an OTLP/HTTP receiver on loopback was sent.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<opentelemetry_proto::tonic::trace::v1::Span>>>);

async fn otlp_receiver() -> (SocketAddr, Received) {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    let received = Received::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let sink = sink.clone();
            async move {
                let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                    return StatusCode::BAD_REQUEST;
                };
                let mut spans = sink.0.lock().expect("spans");
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        spans.extend(scope.spans);
                    }
                }
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, received)
}

fn attribute(span: &opentelemetry_proto::tonic::trace::v1::Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(Any::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
}

#[tokio::test]
async fn each_call_is_a_span_under_the_traceparent_of_its_meta_sent_over_otlp() {
    let (collector, received) = otlp_receiver().await;
    let telemetry =
        format!("\n[telemetry]\notlp_endpoint = \"http://{collector}\"\nsandbox_spans = true\n");
    let (served, addr) = Served::http(&telemetry, &[], &[("OTEL_BSP_SCHEDULE_DELAY", "100")]).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let traceparent = format!("00-{trace_id}-{parent_id}-01");
    // An agent that did not sample its trace: the call follows its choice.
    let unsampled = "0af7651916cd43dd8448eb211c80319c";
    let response = call_echo(
        addr,
        1,
        json!({"traceparent": format!("00-{unsampled}-{parent_id}-00")}),
    )
    .await;
    assert!(ok_result(&response));
    let response = call_echo(addr, 2, json!({"traceparent": traceparent})).await;
    assert!(ok_result(&response));
    // A call that fails is a span with an error status.
    let failed_trace = "5e2a0c7d3b9f41e8a6d4c2b0f1e3d5c7";
    let (status, failed) = call(
        addr,
        "no_such_tool",
        3,
        json!({"traceparent": format!("00-{failed_trace}-{parent_id}-01")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(!ok_result(&failed));

    let started = Instant::now();
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let (call, sandbox, failed, spans) = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "no tools/call span received; gateway log:\n{}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let spans = received.0.lock().expect("spans").clone();
        let in_trace = |id: &str, name: &str| {
            spans
                .iter()
                .find(|s| s.name == name && hex(&s.trace_id) == id)
                .cloned()
        };
        let call = in_trace(trace_id, "tools/call");
        let sandbox = in_trace(trace_id, "call");
        let failed = in_trace(failed_trace, "tools/call");
        if let (Some(call), Some(sandbox), Some(failed)) = (call, sandbox, failed) {
            break (call, sandbox, failed, spans);
        }
    };
    use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode as SpanStatus};
    assert_eq!(hex(&call.trace_id), trace_id);
    assert_eq!(hex(&call.parent_span_id), parent_id);
    assert_eq!(call.kind, SpanKind::Server as i32);
    assert_eq!(attribute(&call, "tool").as_deref(), Some("echo"));
    assert_eq!(attribute(&call, "outcome").as_deref(), Some("ok"));
    let request_id = attribute(&call, "request_id").expect("request_id attribute");
    assert_eq!(request_id.len(), 32, "{request_id}");
    assert_ne!(
        call.status.as_ref().map(|s| s.code),
        Some(SpanStatus::Error as i32)
    );
    // The failed call: its outcome and an error status naming it.
    assert_eq!(
        attribute(&failed, "outcome").as_deref(),
        Some("unknown_tool")
    );
    let status = failed.status.clone().expect("status");
    assert_eq!(status.code, SpanStatus::Error as i32);
    assert_eq!(status.message, "unknown_tool");
    // Nothing of the unsampled trace, though it ended first.
    assert!(
        spans.iter().all(|s| hex(&s.trace_id) != unsampled),
        "a span of the unsampled trace was exported"
    );
    // The sandbox's own span is the call span's child, in the same trace.
    assert_eq!(hex(&sandbox.trace_id), trace_id);
    assert_eq!(sandbox.parent_span_id, call.span_id);
    drop(served);
}

#[tokio::test]
async fn by_default_each_call_exports_one_span_and_no_sandbox_span() {
    let (collector, received) = otlp_receiver().await;
    let telemetry = format!("\n[telemetry]\notlp_endpoint = \"http://{collector}\"\n");
    let (served, addr) = Served::http(&telemetry, &[], &[("OTEL_BSP_SCHEDULE_DELAY", "100")]).await;
    assert!(ok_result(&call_echo(addr, 1, json!({})).await));
    let started = Instant::now();
    let spans = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "no tools/call span received; gateway log:\n{}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
        let spans = received.0.lock().expect("spans").clone();
        if spans.iter().any(|s| s.name == "tools/call") {
            break spans;
        }
    };
    // The sandbox span ends before its parent, so it would be in the same
    // batch or an earlier one.
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["tools/call"]);
    drop(served);
}

/// `text` without terminal colour sequences (`ESC [ … m`).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn the_text_log_has_one_info_line_per_call_by_default_and_never_the_arguments() {
    let (served, addr) = Served::http("", &[], &[]).await;
    // The echo tool's argument is `hello-<id>`.
    let secret_argument = "hello-987654321";
    assert!(ok_result(&call_echo(addr, 987_654_321, json!({})).await));
    let started = Instant::now();
    let fields = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "no call line:\n{}",
            served.log()
        );
        let log = without_colours(&served.log());
        let line = log
            .lines()
            .find(|l| l.contains(" INFO ") && l.contains("gateway::calls"))
            .map(str::to_owned);
        if let Some(line) = line {
            assert!(!log.contains(secret_argument));
            // `key=value` pairs after the message (strings quoted).
            let fields: std::collections::HashMap<String, String> = line
                .split_whitespace()
                .filter_map(|pair| pair.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
                .collect();
            break fields;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(fields.get("tool").map(String::as_str), Some("echo"));
    assert_eq!(fields.get("outcome").map(String::as_str), Some("ok"));
    assert_eq!(fields.get("upstream_bytes").map(String::as_str), Some("0"));
    assert!(
        fields
            .get("duration_ms")
            .and_then(|ms| ms.parse::<f64>().ok())
            .is_some_and(|ms| ms > 0.0)
    );
    assert_eq!(
        fields.get("request_id").map(|id| id.len()),
        Some(32),
        "{fields:?}"
    );
    drop(served);
}

#[tokio::test]
async fn json_logs_have_one_typed_line_per_call() {
    let (served, addr) = Served::http("", &["--log-format", "json"], &[]).await;
    assert!(ok_result(&call_echo(addr, 1, json!({})).await));
    let started = Instant::now();
    let line = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "no call line:\n{}",
            served.log()
        );
        let found = served
            .log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["target"] == "gateway::calls");
        if let Some(line) = found {
            break line;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let request_id = line["request_id"].as_str().expect("request_id string");
    assert_eq!(request_id.len(), 32);
    assert!(request_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(line["tool"], "echo");
    assert_eq!(line["outcome"], "ok");
    assert!(line["duration_ms"].as_f64().is_some_and(|ms| ms > 0.0));
    assert_eq!(line["upstream_bytes"].as_u64(), Some(0));
    assert_eq!(line["output_bytes"].as_u64(), Some(18));
    drop(served);
}

#[tokio::test]
async fn probes_and_metrics_pass_the_host_check_but_not_authentication_and_readyz_drains() {
    use gateway::auth::Authenticator;
    use gateway::auth::keys::{self, KeyStore};
    use gateway::frontdoor::FrontDoor;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("keys.toml");
    keys::create(&file, "finance", &["*".to_owned()], None).expect("create");
    let door = FrontDoor {
        auth: Arc::new(Authenticator::Keys(KeyStore::open(&file).expect("keys"))),
        ..FrontDoor::default()
    };
    let echo =
        gateway_test_programs::wat::component_described("echo", "Echo", r#"{"type":"object"}"#);
    let (_, _tools, gateway) = crate::mcp::serve_tools_shared(
        door.clone(),
        &[("echo", String::new(), echo)],
        gateway::mcp::FieldSource::empty(),
    )
    .await;
    let shutdown = gateway::shutdown::Shutdown::default();
    let app = gateway::mcp::http::app(Arc::clone(&gateway), door, shutdown.clone());
    let get = |path: &str, host: &str| {
        let app = app.clone();
        let request = Request::get(path)
            .header("host", host)
            .body(Body::empty())
            .expect("request");
        async move {
            let response = app.oneshot(request).await.expect("response");
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).ok())
        }
    };
    let local = "127.0.0.1:8000";
    assert_eq!(get("/healthz", local).await.0, StatusCode::OK);
    assert_eq!(get("/metrics", local).await.0, StatusCode::OK);
    // In-process, nothing watches the tools folder: not ready, and why.
    let (status, body) = get("/readyz", local).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body.expect("JSON")["reason"], "watcher_not_running");
    gateway.readiness.set_watcher_running(true);
    assert_eq!(get("/readyz", local).await.0, StatusCode::OK);
    // The MCP endpoint itself still wants a key.
    let (status, _) = get("/mcp", local).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A foreign Host is refused before anything else.
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(path, "evil.example").await.0, StatusCode::FORBIDDEN);
    }
    // From the first signal on, readiness fails so new work goes elsewhere.
    shutdown.stop().cancel();
    let (status, body) = get("/readyz", local).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body.expect("JSON")["reason"], "draining");
    assert_eq!(get("/healthz", local).await.0, StatusCode::OK);
}

#[tokio::test]
async fn metrics_on_their_own_listener_leave_the_mcp_one_and_count_hot_loads() {
    let port = free_port();
    let metrics: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let config = format!("\n[metrics]\nlisten = \"{metrics}\"\n");
    let (served, addr) = Served::http(&config, &[], &[]).await;
    assert_eq!(get_text(addr, "/metrics").await.0, StatusCode::NOT_FOUND);
    let (status, text) = get_text(metrics, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let added = r#"gateway_hotload_changes_total{kind="added"}"#;
    assert_eq!(sample(&text, added), Some(0.0));
    assert_eq!(sample(&text, "gateway_catalog_tools"), Some(1.0));

    // A second tool dropped into the folder is a hot-load change; a folder
    // with a broken manifest is a refusal.
    let tools = served.dir().join("tools");
    let second = tools.join("echo_two");
    std::fs::create_dir_all(&second).expect("mkdir");
    let component =
        gateway_test_programs::wat::component_described("echo_two", "Echo", r#"{"type":"object"}"#);
    std::fs::write(second.join("tool.wasm"), component).expect("component");
    std::fs::write(second.join("tool.toml"), "name = \"echo_two\"\n").expect("manifest");
    let broken = tools.join("broken");
    std::fs::create_dir_all(&broken).expect("mkdir");
    std::fs::copy(gateway_test_programs::ECHO, broken.join("tool.wasm")).expect("component");
    std::fs::write(broken.join("tool.toml"), "name = \"Not A Name\"\n").expect("manifest");
    let refused = r#"gateway_hotload_refusals_total{kind="manifest_invalid"}"#;
    let started = Instant::now();
    loop {
        let (_, text) = get_text(metrics, "/metrics").await;
        if sample(&text, added) == Some(1.0) && sample(&text, refused) == Some(1.0) {
            assert_eq!(sample(&text, "gateway_catalog_tools"), Some(2.0));
            break;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "hot-load not counted:\n{text}\n{}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(served);
}

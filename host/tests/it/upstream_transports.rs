//! The gateway as a client of upstream MCP servers, over its two remote
//! transports (`upstream::http`, `upstream::sse`), against real servers on
//! 127.0.0.1: rmcp's own Streamable HTTP server on axum, the official Python
//! SDK over Streamable HTTP (stateful and stateless) and over legacy SSE
//! (`tests/upstream/mcp_server.py`), and raw axum servers for the hostile
//! cases.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use futures::StreamExt;
use gateway::upstream::http::{
    HeaderError, HttpTransportError, UpstreamHttpError, streamable_http,
};
use gateway::upstream::sse::{SseTransportError, legacy_sse};
use http::StatusCode;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{RequestContext, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpError;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService, Transport};
use rmcp::{ErrorData as McpError, RoleClient, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;

const TOKEN: &str = "Bearer upstream-t0ken";

fn credentials() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("Authorization".to_owned(), TOKEN.to_owned()),
        ("X-Team".to_owned(), "blue".to_owned()),
    ])
}

fn url(s: &str) -> url::Url {
    url::Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn args(value: Value) -> serde_json::Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("arguments must be an object, got {other}"),
    }
}

/// Lists the tools, calls `add` and `whoami`, and checks the typed results:
/// the structured sum, and the credentials the server saw on that request.
async fn exercise(client: &RunningService<RoleClient, ()>) {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap_or_else(|e| panic!("tools/list: {e}"))
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["add", "whoami"]);

    let sum: CallToolResult = client
        .call_tool(CallToolRequestParams::new("add").with_arguments(args(json!({"a": 2, "b": 3}))))
        .await
        .unwrap_or_else(|e| panic!("tools/call add: {e}"));
    assert_eq!(sum.is_error, Some(false));
    assert_eq!(sum.structured_content, Some(json!({"result": 5})));
    let text: Vec<&str> = sum
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    assert_eq!(text, ["5"]);

    let seen = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap_or_else(|e| panic!("tools/call whoami: {e}"));
    assert_eq!(
        seen.structured_content,
        Some(json!({"authorization": TOKEN, "team": "blue"}))
    );
}

// ---------------------------------------------------------------------------
// rmcp's own Streamable HTTP server.

/// `add` and `whoami`, as the Python server has them.
#[derive(Clone)]
struct Tools;

fn tool(name: &'static str, schema: Value) -> Tool {
    Tool::new(name, name, Arc::new(args(schema)))
}

impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let add = tool(
            "add",
            json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]}),
        );
        let whoami = tool("whoami", json!({"type": "object", "properties": {}}));
        Ok(ListToolsResult::with_all_items(vec![add, whoami]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let arguments = request.arguments.unwrap_or_default();
        let result = match request.name.as_ref() {
            "add" => {
                let n = |k: &str| arguments.get(k).and_then(Value::as_i64).unwrap_or(0);
                let sum = n("a") + n("b");
                let mut result = CallToolResult::structured(json!({"result": sum}));
                result.content = vec![ContentBlock::text(sum.to_string())];
                result
            }
            "whoami" => {
                let header = |name: &str| {
                    context
                        .extensions
                        .get::<http::request::Parts>()
                        .and_then(|p| p.headers.get(name))
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                CallToolResult::structured(json!({
                    "authorization": header("authorization"),
                    "team": header("x-team"),
                }))
            }
            other => return Err(McpError::invalid_params(format!("no tool {other}"), None)),
        };
        Ok(CallToolResponse::Complete(result))
    }
}

/// 401 for any request without the expected `Authorization`: a session that
/// works carried it on every request (POSTs, the GET stream, the DELETE).
async fn require_token(request: Request, next: Next) -> Response {
    let ok = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == TOKEN.as_bytes());
    if !ok {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .body(Body::from("no"))
            .unwrap_or_default();
    }
    next.run(request).await
}

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// Answers `server/discover` as a server of an older protocol would: HTTP
/// 400, plain text.
async fn refuse_discover(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let method = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("method").and_then(Value::as_str).map(str::to_owned));
    if method.as_deref() == Some("server/discover") {
        return Response::builder()
            .status(StatusCode::BAD_REQUEST)
            .body(Body::from("unknown method"))
            .unwrap_or_default();
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// rmcp's Streamable HTTP server with [`Tools`] at `/mcp` behind
/// [`require_token`], and `/moved`, a redirect to it.
async fn rmcp_server(json_response: bool) -> SocketAddr {
    rmcp_server_with(json_response, false).await
}

/// [`rmcp_server`], refusing `server/discover` if `legacy`.
async fn rmcp_server_with(json_response: bool, legacy: bool) -> SocketAddr {
    let config = StreamableHttpServerConfig::default().with_json_response(json_response);
    let service = StreamableHttpService::new(
        || Ok(Tools),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let mut router = Router::new().nest_service("/mcp", service).route(
        "/moved",
        post(|| async {
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header(http::header::LOCATION, "/mcp")
                .body(Body::empty())
                .unwrap_or_default()
        }),
    );
    if legacy {
        router = router.layer(middleware::from_fn(refuse_discover));
    }
    serve(router.layer(middleware::from_fn(require_token))).await
}

#[tokio::test]
async fn streamable_http_to_an_rmcp_server() {
    for json_response in [false, true] {
        let addr = rmcp_server(json_response).await;
        let transport = streamable_http(&url(&format!("http://{addr}/mcp")), &credentials())
            .unwrap_or_else(|e| panic!("transport: {e}"));
        let client = ().serve(transport).await.unwrap_or_else(|e| panic!("initialize: {e}"));
        exercise(&client).await;
        client
            .cancel()
            .await
            .unwrap_or_else(|e| panic!("close: {e}"));
    }
}

/// The rmcp error under a failed `initialize`, when it is the HTTP client's.
fn http_failure(
    error: rmcp::service::ClientInitializeError,
) -> StreamableHttpError<UpstreamHttpError> {
    match error {
        rmcp::service::ClientInitializeError::TransportError { error, .. } => {
            match error
                .error
                .downcast::<StreamableHttpError<UpstreamHttpError>>()
            {
                Ok(e) => *e,
                Err(other) => panic!("not the HTTP client's error: {other}"),
            }
        }
        other => panic!("not a transport error: {other}"),
    }
}

#[tokio::test]
async fn streamable_http_with_the_wrong_credentials_is_the_status() {
    let addr = rmcp_server(false).await;
    let headers = BTreeMap::from([("Authorization".to_owned(), "Bearer wrong".to_owned())]);
    let transport = streamable_http(&url(&format!("http://{addr}/mcp")), &headers)
        .unwrap_or_else(|e| panic!("transport: {e}"));
    let error = match ().serve(transport).await {
        Ok(_) => panic!("initialize succeeded without the token"),
        Err(e) => http_failure(e),
    };
    assert!(
        matches!(&error, StreamableHttpError::HttpStatus(s) if s.status == 401),
        "{error:?}"
    );
}

#[tokio::test]
async fn streamable_http_does_not_follow_a_redirect() {
    let addr = rmcp_server(false).await;
    let transport = streamable_http(&url(&format!("http://{addr}/moved")), &credentials())
        .unwrap_or_else(|e| panic!("transport: {e}"));
    let error = match ().serve(transport).await {
        Ok(_) => panic!("initialize followed the redirect"),
        Err(e) => http_failure(e),
    };
    assert!(
        matches!(&error, StreamableHttpError::HttpStatus(s) if s.status == 307),
        "{error:?}"
    );
}

/// A port nothing listens on any more.
async fn gone() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("bind: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"))
}

#[tokio::test]
async fn a_server_that_is_gone_is_a_connect_error() {
    let addr = gone().await;
    let transport = streamable_http(&url(&format!("http://{addr}/mcp")), &credentials())
        .unwrap_or_else(|e| panic!("transport: {e}"));
    let error = match ().serve(transport).await {
        Ok(_) => panic!("initialize succeeded with no server"),
        Err(e) => http_failure(e),
    };
    assert!(
        matches!(
            error,
            StreamableHttpError::Client(UpstreamHttpError::Connect { .. })
        ),
        "{error:?}"
    );

    let error = legacy_sse(&url(&format!("http://{addr}/sse")), &credentials()).await;
    assert!(
        matches!(
            error,
            Err(SseTransportError::Http(UpstreamHttpError::Connect { .. }))
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn bad_headers_are_typed_errors_naming_the_header_not_its_value() {
    let secret = "s3cret-value";
    let cases = [
        (
            "Bad Header",
            secret.to_owned(),
            HeaderError::InvalidName {
                name: "Bad Header".into(),
            },
        ),
        (
            "Authorization",
            format!("Bearer {secret}\r\nX-Injected: 1"),
            HeaderError::InvalidValue {
                name: "Authorization".into(),
            },
        ),
        (
            "Mcp-Session-Id",
            secret.to_owned(),
            HeaderError::Reserved {
                name: "Mcp-Session-Id".into(),
            },
        ),
        (
            "Host",
            secret.to_owned(),
            HeaderError::Reserved {
                name: "Host".into(),
            },
        ),
    ];
    for (name, value, want) in cases {
        let headers = BTreeMap::from([(name.to_owned(), value)]);
        let error = match streamable_http(&url("http://127.0.0.1:9/mcp"), &headers) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => e,
        };
        assert_eq!(error, HttpTransportError::Header(want.clone()));
        assert!(!error.to_string().contains(secret), "{name}: {error}");

        let error = legacy_sse(&url("http://127.0.0.1:9/sse"), &headers).await;
        match error {
            Err(SseTransportError::Header(got)) => {
                assert_eq!(got, want);
                assert!(!got.to_string().contains(secret), "{name}: {got}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    let error = streamable_http(&url("ftp://127.0.0.1/mcp"), &BTreeMap::new());
    assert!(matches!(error, Err(HttpTransportError::BadUrl)));
}

// ---------------------------------------------------------------------------
// Raw SSE servers: what the Python SDK would never send.

/// A legacy SSE server whose stream is `head` and then stays open.
async fn raw_sse_server(head: String) -> SocketAddr {
    let router = Router::new().route(
        "/sse",
        get(move || {
            let head = head.clone();
            async move {
                let body = futures::stream::once(async move {
                    Ok::<_, std::convert::Infallible>(bytes::Bytes::from(head))
                })
                .chain(futures::stream::pending());
                Response::builder()
                    .header(http::header::CONTENT_TYPE, "text/event-stream")
                    .body(Body::from_stream(body))
                    .unwrap_or_default()
            }
        }),
    );
    serve(router).await
}

#[tokio::test]
async fn an_endpoint_on_another_origin_is_refused() {
    let addr =
        raw_sse_server("event: endpoint\ndata: http://127.0.0.2:9/messages?s=1\n\n".into()).await;
    let error = legacy_sse(&url(&format!("http://{addr}/sse")), &credentials()).await;
    match error {
        Err(SseTransportError::ForeignEndpoint { origin }) => {
            assert_eq!(origin, "http://127.0.0.2:9");
        }
        other => panic!("{other:?}"),
    }
    // Same host, another port: another origin.
    let head = format!(
        "event: endpoint\ndata: http://{}:{}/messages\n\n",
        addr.ip(),
        addr.port() ^ 1
    );
    let addr = raw_sse_server(head).await;
    let error = legacy_sse(&url(&format!("http://{addr}/sse")), &credentials()).await;
    assert!(
        matches!(error, Err(SseTransportError::ForeignEndpoint { .. })),
        "{error:?}"
    );
}

/// A legacy SSE stream of one server message (a log notification) of
/// `size` bytes of JSON, after the endpoint; what the transport receives.
async fn receive_one_of(size: usize) -> Option<rmcp::model::ServerJsonRpcMessage> {
    let log = |data: &str| {
        json!({"jsonrpc": "2.0", "method": "notifications/message",
               "params": {"level": "info", "data": data}})
        .to_string()
    };
    let message = log(&"x".repeat(size - log("").len()));
    let head = format!("event: endpoint\ndata: /messages\n\nevent: message\ndata: {message}\n\n");
    let addr = raw_sse_server(head).await;
    let mut transport = legacy_sse(&url(&format!("http://{addr}/sse")), &credentials())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    Transport::<RoleClient>::receive(&mut transport).await
}

#[tokio::test]
async fn an_event_over_the_bound_closes_the_stream() {
    let max = gateway::upstream::http::MAX_MESSAGE_BYTES;
    // Just under the bound (its `event:` and `data:` lines included): received.
    let under = receive_one_of(max - 64).await;
    assert!(
        matches!(
            under,
            Some(rmcp::model::ServerJsonRpcMessage::Notification(_))
        ),
        "a message under the bound was not received"
    );
    // Over it: the stream ends there (the transport is closed).
    let over = receive_one_of(max + 1).await;
    assert!(over.is_none(), "a message over the bound was received");
}

#[tokio::test]
async fn a_stream_without_an_endpoint_is_refused() {
    let router = Router::new().route(
        "/sse",
        get(|| async {
            Response::builder()
                .header(http::header::CONTENT_TYPE, "text/event-stream")
                .body(Body::from("event: message\ndata: {}\n\n"))
                .unwrap_or_default()
        }),
    );
    let addr = serve(router).await;
    let error = legacy_sse(&url(&format!("http://{addr}/sse")), &credentials()).await;
    assert!(
        matches!(error, Err(SseTransportError::NoEndpoint)),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------
// The official Python SDK (`tests/upstream/mcp_server.py`).

/// The Python with the MCP SDK: `GATEWAY_MCP_PYTHON`, or the venv
/// `scripts/setup-mcp-clients` makes. Missing is a failure, not a skip.
fn python() -> PathBuf {
    let path = std::env::var_os("GATEWAY_MCP_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/agent-gateway/mcp-venv/bin/python")
        });
    assert!(
        path.is_file(),
        "the MCP Python SDK is missing: no {} (run scripts/setup-mcp-clients, or set GATEWAY_MCP_PYTHON)",
        path.display()
    );
    path
}

/// A running `mcp_server.py`, killed when dropped.
pub(crate) struct PythonServer {
    child: tokio::process::Child,
    /// The port it serves on, on 127.0.0.1.
    pub(crate) port: u16,
}

impl PythonServer {
    /// Starts `mcp_server.py` with `args`, once it listens.
    pub(crate) async fn start(args: &[&str]) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/upstream/mcp_server.py");
        let mut child = tokio::process::Command::new(python())
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {script}: {e}"));
        let stdout = child
            .stdout
            .take()
            .unwrap_or_else(|| panic!("no stdout from {script}"));
        let mut lines = BufReader::new(stdout).lines();
        // The script prints its port once its socket listens. The bound
        // only keeps a broken interpreter from hanging the test.
        let port = tokio::time::timeout(Duration::from_secs(120), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(port) = line.strip_prefix("PORT ") {
                    return port.trim().parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("{script} {args:?} did not start"));
        Self { child, port }
    }

    /// Kills the server and waits until it is gone.
    pub(crate) async fn stop(mut self) {
        self.child
            .kill()
            .await
            .unwrap_or_else(|e| panic!("killing the server: {e}"));
    }
}

#[tokio::test]
async fn streamable_http_to_the_python_sdk_stateful_and_stateless() {
    for mode in [
        &["streamable-http", "--require-authorization", TOKEN][..],
        &[
            "streamable-http",
            "--stateless",
            "--require-authorization",
            TOKEN,
        ][..],
        &[
            "streamable-http",
            "--stateless",
            "--json-response",
            "--require-authorization",
            TOKEN,
        ][..],
    ] {
        let server = PythonServer::start(mode).await;
        let url = url(&format!("http://127.0.0.1:{}/mcp", server.port));
        let transport =
            streamable_http(&url, &credentials()).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let client =
            ().serve(transport)
                .await
                .unwrap_or_else(|e| panic!("{mode:?}: initialize: {e}"));
        exercise(&client).await;
        client
            .cancel()
            .await
            .unwrap_or_else(|e| panic!("{mode:?}: close: {e}"));
    }
}

#[tokio::test]
async fn legacy_sse_to_the_python_sdk() {
    let server = PythonServer::start(&["sse", "--require-authorization", TOKEN]).await;
    let url = url(&format!("http://127.0.0.1:{}/sse", server.port));
    let transport = legacy_sse(&url, &credentials())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let client = ().serve(transport).await.unwrap_or_else(|e| panic!("initialize: {e}"));
    exercise(&client).await;

    // The server going away ends the stream: the service sees its transport
    // closed (the supervisor's cue to reconnect).
    server.stop().await;
    let quit = client
        .waiting()
        .await
        .unwrap_or_else(|e| panic!("join: {e}"));
    assert!(
        matches!(quit, rmcp::service::QuitReason::Closed),
        "{quit:?}"
    );
}

#[tokio::test]
async fn legacy_sse_with_the_wrong_credentials_is_the_status() {
    let server = PythonServer::start(&["sse", "--require-authorization", TOKEN]).await;
    let url = url(&format!("http://127.0.0.1:{}/sse", server.port));
    let headers = BTreeMap::from([("Authorization".to_owned(), "Bearer wrong".to_owned())]);
    let error = legacy_sse(&url, &headers).await;
    assert!(
        matches!(error, Err(SseTransportError::Status { status: 401 })),
        "{error:?}"
    );
}

#[tokio::test]
async fn streamable_http_server_gone_after_connecting_fails_the_call() {
    let server = PythonServer::start(&["streamable-http", "--require-authorization", TOKEN]).await;
    let url = url(&format!("http://127.0.0.1:{}/mcp", server.port));
    let transport = streamable_http(&url, &credentials()).unwrap_or_else(|e| panic!("{e}"));
    let client = ().serve(transport).await.unwrap_or_else(|e| panic!("initialize: {e}"));
    server.stop().await;
    let error = match client
        .call_tool(CallToolRequestParams::new("add").with_arguments(args(json!({"a": 1, "b": 1}))))
        .await
    {
        Ok(result) => panic!("a call succeeded with the server gone: {result:?}"),
        Err(rmcp::ServiceError::TransportSend(error)) => {
            match error
                .error
                .downcast::<StreamableHttpError<UpstreamHttpError>>()
            {
                Ok(e) => *e,
                Err(other) => panic!("not the HTTP client's error: {other}"),
            }
        }
        Err(other) => panic!("not a transport error: {other:?}"),
    };
    assert!(
        matches!(
            error,
            StreamableHttpError::Client(UpstreamHttpError::Connect { .. })
        ),
        "{error:?}"
    );
}

/// `server/discover` first (the 2026-07-28 lifecycle), falling back to
/// `initialize` for an older server: over both transports, to every server.
#[tokio::test]
async fn the_auto_lifecycle_works_over_both_transports() {
    use rmcp::model::ProtocolVersion;
    use rmcp::{ClientLifecycleMode, ClientServiceExt};
    let auto = || ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: None,
    };
    let version = |client: &RunningService<RoleClient, ()>| {
        client.peer_info().map(|i| i.protocol_version.clone())
    };

    for legacy in [false, true] {
        let addr = rmcp_server_with(false, legacy).await;
        let transport = streamable_http(&url(&format!("http://{addr}/mcp")), &credentials())
            .unwrap_or_else(|e| panic!("transport: {e}"));
        let client =
            ().serve_with_lifecycle(transport, auto())
                .await
                .unwrap_or_else(|e| panic!("rmcp, legacy {legacy}: {e}"));
        let negotiated = version(&client);
        assert_eq!(
            negotiated == Some(ProtocolVersion::V_2026_07_28),
            !legacy,
            "legacy {legacy}: {negotiated:?}"
        );
        exercise(&client).await;
    }

    for mode in [
        &["streamable-http", "--require-authorization", TOKEN][..],
        &[
            "streamable-http",
            "--stateless",
            "--require-authorization",
            TOKEN,
        ][..],
    ] {
        let server = PythonServer::start(mode).await;
        let url = url(&format!("http://127.0.0.1:{}/mcp", server.port));
        let transport =
            streamable_http(&url, &credentials()).unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        let client =
            ().serve_with_lifecycle(transport, auto())
                .await
                .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(
            version(&client),
            Some(ProtocolVersion::V_2026_07_28),
            "{mode:?}"
        );
        exercise(&client).await;
    }

    let server = PythonServer::start(&["sse", "--require-authorization", TOKEN]).await;
    let url = url(&format!("http://127.0.0.1:{}/sse", server.port));
    let transport = legacy_sse(&url, &credentials())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let client =
        ().serve_with_lifecycle(transport, auto())
            .await
            .unwrap_or_else(|e| panic!("sse: {e}"));
    assert_eq!(version(&client), Some(ProtocolVersion::V_2026_07_28));
    exercise(&client).await;
}

//! Confirmations of approved writes (docs/confirmations.md), end to end: the
//! gateway on a real socket, the `probe` tool with an approved POST that
//! needs confirmation, an upstream on 127.0.0.1 that records every request,
//! and rmcp's own client as the caller (a 2025 session answering
//! `elicitation/create`, and a 2026-07-28 client driving `input_required`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use gateway::frontdoor::FrontDoor;
use gateway::mcp::FieldSource;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationCapability, Implementation,
    InputRequest, InputResponses, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RunningService};
use rmcp::{ClientHandler, ErrorData as McpError, RoleClient, ServiceExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// One request the upstream received.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    method: String,
    path: String,
    body: Vec<u8>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn record(State(log): State<Log>, request: axum::extract::Request) -> &'static str {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    if let Ok(mut log) = log.lock() {
        log.push(Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            body: body.to_vec(),
        });
    }
    "{\"created\":true}"
}

async fn listen(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// The recording upstream.
async fn upstream() -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    let router = Router::new().fallback(record).with_state(Arc::clone(&log));
    (listen(router).await, log)
}

fn posts(log: &Log) -> Vec<Seen> {
    log.lock()
        .expect("log")
        .iter()
        .filter(|s| s.method == "POST")
        .cloned()
        .collect()
}

/// The gateway serving `probe` with an approved POST to the upstream that
/// needs confirmation, on a real socket.
async fn gateway(upstream: SocketAddr) -> (SocketAddr, tempfile::TempDir) {
    let (addr, dir, _) = gateway_shared(upstream).await;
    (addr, dir)
}

/// [`gateway`], also returning the [`gateway::mcp::Gateway`] it serves.
async fn gateway_shared(
    upstream: SocketAddr,
) -> (SocketAddr, tempfile::TempDir, Arc<gateway::mcp::Gateway>) {
    gateway_with(upstream, "").await
}

/// [`gateway_shared`] with `more` lines at the end of the manifest.
async fn gateway_with(
    upstream: SocketAddr,
    more: &str,
) -> (SocketAddr, tempfile::TempDir, Arc<gateway::mcp::Gateway>) {
    let manifest = format!(
        r#"
[[http]]
url = "http://127.0.0.1:{}/api/"
methods = ["GET", "POST"]
approved_by = "admin@example.com"
confirm = true
{more}
"#,
        upstream.port()
    );
    let tools = [(
        "probe",
        manifest,
        crate::harness::component(gateway_test_programs::PROBE),
    )];
    let (app, dir, gateway) =
        crate::mcp::serve_tools_with(FrontDoor::default(), &tools, FieldSource::empty(), |s| {
            s.allow_private = gateway::outbound::addr::PrivateAllowList::parse(&["127.0.0.1/32"])
                .expect("allow list");
        })
        .await;
    (listen(app).await, dir, gateway)
}

fn write_args(upstream: SocketAddr) -> serde_json::Map<String, Value> {
    let args = json!({
        "method": "POST",
        "url": format!("http://127.0.0.1:{}/api/charges?key=s3cr3t", upstream.port()),
        "headers": [["content-type", "application/json"]],
        "body": "{\"amount\":5000,\"currency\":\"eur\"}",
    });
    args.as_object().cloned().expect("object")
}

/// How the test client answers `elicitation/create`, and what it was asked.
#[derive(Clone)]
struct Client {
    elicitation: bool,
    answer: Option<(ElicitationAction, Value)>,
    asked: Arc<Mutex<Vec<String>>>,
    /// How long the person takes to answer.
    think: std::time::Duration,
}

impl Client {
    fn answering(action: ElicitationAction, content: Value) -> Self {
        Self {
            elicitation: true,
            answer: Some((action, content)),
            asked: Arc::default(),
            think: std::time::Duration::ZERO,
        }
    }

    fn without_elicitation() -> Self {
        Self {
            elicitation: false,
            answer: None,
            asked: Arc::default(),
            think: std::time::Duration::ZERO,
        }
    }
}

impl ClientHandler for Client {
    fn get_info(&self) -> ClientConfig {
        let mut capabilities = ClientCapabilities::default();
        if self.elicitation {
            capabilities.elicitation = Some(ElicitationCapability::default());
        }
        ClientConfig::new(capabilities, Implementation::new("confirm-test", "1"))
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = request {
            self.asked.lock().expect("asked").push(message);
        }
        tokio::time::sleep(self.think).await;
        let (action, content) = self
            .answer
            .clone()
            .unwrap_or((ElicitationAction::Decline, Value::Null));
        let mut result = ElicitResult::new(action);
        if !content.is_null() {
            result.content = Some(content);
        }
        Ok(result)
    }
}

fn transport(gateway: SocketAddr) -> gateway::upstream::http::HttpTransport {
    let url = url::Url::parse(&format!("http://{gateway}/mcp")).expect("url");
    gateway::upstream::http::streamable_http(&url, &Default::default()).expect("transport")
}

/// A 2025 session (`initialize`).
async fn session(gateway: SocketAddr, client: Client) -> RunningService<RoleClient, Client> {
    client.serve(transport(gateway)).await.expect("initialize")
}

/// A 2026-07-28 client (`server/discover`, stateless requests).
async fn stateless(gateway: SocketAddr, client: Client) -> RunningService<RoleClient, Client> {
    client
        .serve_with_lifecycle(
            transport(gateway),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover")
}

fn call(upstream: SocketAddr) -> CallToolRequestParams {
    CallToolRequestParams::new("probe").with_arguments(write_args(upstream))
}

/// The typed error code of a failed call.
fn error_code(result: &CallToolResult) -> Option<String> {
    result
        .structured_content
        .as_ref()
        .and_then(|v| v.pointer("/error/code"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn answer_of(result: &CallToolResult) -> Option<String> {
    result
        .structured_content
        .as_ref()
        .and_then(|v| v.pointer("/error/answer"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

#[tokio::test]
async fn a_2025_session_that_confirms_sends_exactly_one_post() {
    let (up, log) = upstream().await;
    let (gw, _dir) = gateway(up).await;
    let client = Client::answering(ElicitationAction::Accept, json!({"confirm": true}));
    let asked = Arc::clone(&client.asked);
    let service = session(gw, client).await;
    let result = service.call_tool(call(up)).await.expect("call");
    assert_eq!(result.is_error, Some(false), "{result:?}");
    let status = result
        .structured_content
        .as_ref()
        .and_then(|v| v.get("status"))
        .and_then(Value::as_u64);
    assert_eq!(status, Some(200));
    let seen = posts(&log);
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/charges");
    assert_eq!(seen[0].body, br#"{"amount":5000,"currency":"eur"}"#);
    // The question names the write, its body's keys, never the query value.
    let asked = asked.lock().expect("asked").clone();
    assert_eq!(asked.len(), 1);
    assert!(asked[0].contains("POST http://127.0.0.1"));
    assert!(asked[0].contains("keys: amount, currency"));
    assert!(!asked[0].contains("s3cr3t"));
    let _ = service.cancel().await;
}

#[tokio::test]
async fn a_2025_session_that_declines_or_cancels_sends_nothing() {
    let (up, log) = upstream().await;
    let (gw, _dir) = gateway(up).await;
    for (action, content, want) in [
        (ElicitationAction::Decline, Value::Null, "declined"),
        (ElicitationAction::Cancel, Value::Null, "cancelled"),
        (
            ElicitationAction::Accept,
            json!({"confirm": false}),
            "declined",
        ),
    ] {
        let service = session(gw, Client::answering(action, content)).await;
        let result = service.call_tool(call(up)).await.expect("call");
        assert_eq!(result.is_error, Some(true));
        assert_eq!(error_code(&result).as_deref(), Some("not_confirmed"));
        assert_eq!(answer_of(&result).as_deref(), Some(want));
        let _ = service.cancel().await;
    }
    assert_eq!(posts(&log), Vec::new());
}

#[tokio::test]
async fn a_client_without_elicitation_is_not_asked_and_nothing_is_sent() {
    let (up, log) = upstream().await;
    let (gw, _dir) = gateway(up).await;
    let client = Client::without_elicitation();
    let asked = Arc::clone(&client.asked);
    let service = session(gw, client).await;
    let result = service.call_tool(call(up)).await.expect("call");
    assert_eq!(error_code(&result).as_deref(), Some("not_confirmed"));
    assert_eq!(answer_of(&result).as_deref(), Some("unsupported"));
    assert!(asked.lock().expect("asked").is_empty());
    assert_eq!(posts(&log), Vec::new());
    // A read needs no confirmation.
    let read = CallToolRequestParams::new("probe").with_arguments(
        json!({"url": format!("http://127.0.0.1:{}/api/ping", up.port())})
            .as_object()
            .cloned()
            .expect("object"),
    );
    let result = service.call_tool(read).await.expect("read");
    assert_eq!(result.is_error, Some(false));
    let _ = service.cancel().await;
}

#[tokio::test]
async fn a_2026_client_confirms_through_input_required_and_one_post_leaves() {
    let (up, log) = upstream().await;
    let (gw, _dir) = gateway(up).await;
    let client = Client::answering(ElicitationAction::Accept, json!({"confirm": true}));
    let service = stateless(gw, client).await;
    // One round by hand: the question, with nothing sent yet.
    let first = service.call_tool_once(call(up)).await.expect("first round");
    let CallToolResponse::InputRequired(ir) = first else {
        panic!("expected input_required, got {first:?}");
    };
    let requests = ir.input_requests.clone().expect("input requests");
    assert!(matches!(
        requests.get("confirm_write"),
        Some(InputRequest::Elicitation(_))
    ));
    assert!(ir.request_state.is_some());
    assert_eq!(posts(&log), Vec::new());
    // rmcp's client drives the rounds through its handler.
    let result = service.call_tool(call(up)).await.expect("call");
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(posts(&log).len(), 1);
    let _ = service.cancel().await;
}

fn accept() -> InputResponses {
    let mut responses = InputResponses::new();
    responses.insert(
        "confirm_write".into(),
        json!({"action": "accept", "content": {"confirm": true}}),
    );
    responses
}

/// The `data.reason` of a JSON-RPC error.
fn reason(error: &rmcp::service::ServiceError) -> Option<String> {
    match error {
        rmcp::service::ServiceError::McpError(e) => e
            .data
            .as_ref()
            .and_then(|d| d.get("reason"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

#[tokio::test]
async fn a_2026_request_state_is_refused_when_tampered_replayed_or_for_other_arguments() {
    let (up, log) = upstream().await;
    let (gw, _dir) = gateway(up).await;
    // `call_tool_once` drives no rounds: the handler never answers here.
    let client = Client::answering(ElicitationAction::Accept, json!({"confirm": true}));
    let service = stateless(gw, client).await;
    let ask = || call(up);
    let first = service.call_tool_once(ask()).await.expect("first");
    let CallToolResponse::InputRequired(ir) = first else {
        panic!("expected input_required, got {first:?}");
    };
    let state = ir.request_state.expect("state");

    let tampered = service
        .call_tool_once(
            ask()
                .with_input_responses(accept())
                .with_request_state(format!("{state}-TAMPERED")),
        )
        .await
        .expect_err("tampered");
    assert_eq!(reason(&tampered).as_deref(), Some("request_state_tampered"));

    let mut other = ask();
    let mut args = write_args(up);
    args.insert("body".into(), json!("{\"amount\":9999}"));
    other.arguments = Some(args);
    let other = service
        .call_tool_once(
            other
                .with_input_responses(accept())
                .with_request_state(state.clone()),
        )
        .await
        .expect_err("other arguments");
    assert_eq!(reason(&other).as_deref(), Some("request_state_other_call"));
    assert_eq!(posts(&log), Vec::new());

    let ok = service
        .call_tool_once(
            ask()
                .with_input_responses(accept())
                .with_request_state(state.clone()),
        )
        .await
        .expect("answered");
    assert!(matches!(ok, CallToolResponse::Complete(ref r) if r.is_error == Some(false)));
    assert_eq!(posts(&log).len(), 1);

    let replayed = service
        .call_tool_once(
            ask()
                .with_input_responses(accept())
                .with_request_state(state),
        )
        .await
        .expect_err("replayed");
    assert_eq!(reason(&replayed).as_deref(), Some("request_state_replayed"));
    assert_eq!(posts(&log).len(), 1);
    let _ = service.cancel().await;
}

#[tokio::test]
async fn a_2026_client_without_elicitation_gets_a_refusal_not_a_question() {
    let (up, log) = upstream().await;
    let (gw, _dir) = gateway(up).await;
    let service = stateless(gw, Client::without_elicitation()).await;
    let first = service.call_tool_once(call(up)).await.expect("call");
    let CallToolResponse::Complete(result) = first else {
        panic!("expected a complete result, got {first:?}");
    };
    assert_eq!(error_code(&result).as_deref(), Some("not_confirmed"));
    assert_eq!(answer_of(&result).as_deref(), Some("unsupported"));
    assert_eq!(posts(&log), Vec::new());
    let _ = service.cancel().await;
}

#[tokio::test]
async fn a_legacy_sse_session_is_asked_too() {
    let (up, log) = upstream().await;
    let (gw, _dir) = gateway(up).await;
    let url = url::Url::parse(&format!("http://{gw}/sse")).expect("url");
    let transport = gateway::upstream::sse::legacy_sse(&url, &Default::default())
        .await
        .expect("sse transport");
    let client = Client::answering(ElicitationAction::Accept, json!({"confirm": true}));
    let asked = Arc::clone(&client.asked);
    let service = client.serve(transport).await.expect("initialize");
    let result = service.call_tool(call(up)).await.expect("call");
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(asked.lock().expect("asked").len(), 1);
    assert_eq!(posts(&log).len(), 1);
    let _ = service.cancel().await;
}

#[tokio::test]
async fn the_audit_line_says_how_the_confirmation_was_answered() {
    let (up, _log) = upstream().await;
    let (gw, dir, gateway) = gateway_shared(up).await;
    let path = dir.path().join("audit.jsonl");
    let audit = gateway::audit::AuditLog::open(&path).expect("audit");
    let _ = gateway.audit.set(audit.clone());
    for action in [ElicitationAction::Accept, ElicitationAction::Decline] {
        let service = session(gw, Client::answering(action, json!({"confirm": true}))).await;
        let _ = service.call_tool(call(up)).await.expect("call");
        let _ = service.cancel().await;
    }
    let stateless_client = Client::answering(ElicitationAction::Accept, json!({"confirm": true}));
    let service = stateless(gw, stateless_client).await;
    let _ = service.call_tool_once(call(up)).await.expect("first round");
    let _ = service.cancel().await;
    audit.close().await.expect("close");
    let lines: Vec<(String, Option<String>)> = std::fs::read_to_string(&path)
        .expect("read")
        .lines()
        .map(|l| gateway::audit::AuditRecord::parse(l.as_bytes()).expect("record"))
        .filter(|r| r.kind == gateway::audit::Kind::Call)
        .map(|r| {
            (
                r.outcome.as_str().to_owned(),
                r.confirmation.map(|c| c.as_str().to_owned()),
            )
        })
        .collect();
    let want = |o: &str, c: &str| (o.to_owned(), Some(c.to_owned()));
    assert_eq!(
        lines,
        [
            want("ok", "confirmed"),
            want("not_confirmed", "declined"),
            want("input_required", "asked"),
        ]
    );
}

#[tokio::test]
async fn the_time_a_person_takes_to_answer_is_not_the_tool_s_time() {
    let (up, log) = upstream().await;
    // The tool may take one second; the person takes three to answer.
    let (gw, _dir, _) = gateway_with(up, "[limits]\ntimeout_ms = 1000").await;
    let mut client = Client::answering(ElicitationAction::Accept, json!({"confirm": true}));
    client.think = std::time::Duration::from_secs(3);
    let service = session(gw, client).await;
    let result = service.call_tool(call(up)).await.expect("call");
    assert_eq!(result.is_error, Some(false), "{result:?}");
    assert_eq!(posts(&log).len(), 1);
    let _ = service.cancel().await;
}

//! The HTTP front door: Streamable HTTP at `/mcp`, the legacy SSE transport
//! at `/sse` + `/messages`, DNS-rebinding protection (Host and Origin
//! allow-lists), a request body cap, `TCP_NODELAY` on every connection, and
//! a graceful shutdown that lets the calls in flight deliver their results.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use serde_json::value::RawValue;
use tokio::net::TcpListener;

use super::Gateway;
use super::handler::GatewayHandler;
use super::sessions::RequestSessions;
use super::sse::{self, MESSAGES_PATH, Sessions, SseState};
use crate::shutdown::{CallGuard, InFlight, Shutdown};

/// Largest request body accepted (JSON-RPC messages are small; tool inputs
/// are capped at 1 MiB by the runtime).
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// Who may reach the HTTP transports.
#[derive(Debug, Clone)]
pub struct FrontDoor {
    /// Accepted `Host` header values (host or host:port). Loopback by default.
    pub allowed_hosts: Vec<String>,
    /// Accepted `Origin` values (`scheme://host[:port]`) beyond the server's
    /// own; requests without an Origin (non-browser clients) pass.
    pub allowed_origins: Vec<String>,
}

impl Default for FrontDoor {
    fn default() -> Self {
        Self {
            allowed_hosts: vec![
                "localhost".into(),
                "127.0.0.1".into(),
                "::1".into(),
                "[::1]".into(),
            ],
            allowed_origins: Vec::new(),
        }
    }
}

impl FrontDoor {
    /// Whether a `Host` header value (with or without a port) is allowed;
    /// the admin API applies the same check on its own listener.
    pub fn host_allowed(&self, host: &str) -> bool {
        let bare = strip_port(host);
        self.allowed_hosts
            .iter()
            .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(bare))
    }

    /// A listed Origin, or the server's own: the very Host the request was
    /// sent to, over http or https. A browser sends that only from a page of
    /// this origin; a DNS-rebinding page's Origin names the attacker's domain.
    fn origin_allowed(&self, origin: &str, host: &str) -> bool {
        let own = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|authority| !host.is_empty() && authority.eq_ignore_ascii_case(host));
        own || self
            .allowed_origins
            .iter()
            .any(|a| a.eq_ignore_ascii_case(origin))
    }
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host
            .split_once(']')
            .map_or(host, |(h, _)| h.trim_start_matches('['));
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// JSON-RPC: the body is not JSON (or not UTF-8, or nested too deeply).
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: JSON, but not a valid request, notification or response.
pub const INVALID_REQUEST: i64 = -32600;

/// A message refused before any transport saw it, with its JSON-RPC code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// [`PARSE_ERROR`] or [`INVALID_REQUEST`].
    pub code: i64,
    /// What was wrong.
    pub message: String,
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": self.code, "message": self.message}});
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
}

/// A JSON-RPC parse error (-32700) for a body that is not JSON.
pub fn parse_error(e: &serde_json::Error) -> Rejected {
    Rejected {
        code: PARSE_ERROR,
        message: format!("parse error: {e}"),
    }
}

/// What the guard learned about a message it let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// A `tools/call` request: a call in flight until its response is sent.
    pub tool_call: bool,
}

/// The members of a JSON-RPC message the guard looks at, borrowed from the
/// body: the guard runs on every POST, and the transport parses the message
/// in full right after it.
#[derive(serde::Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A member that is present, even when its value is `null`.
fn present<'de, D>(d: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&RawValue as serde::Deserialize>::deserialize(d).map(Some)
}

/// The first byte of a raw JSON value.
fn starts(raw: Option<&RawValue>) -> Option<u8> {
    raw.and_then(|r| r.get().as_bytes().first().copied())
}

/// Checks that `body` is one JSON-RPC 2.0 message (batches are not part of
/// the protocol since 2025-06-18), answering with the right error code if not.
pub fn check_jsonrpc(body: &[u8]) -> Result<Accepted, Rejected> {
    let invalid = |why: &str| Rejected {
        code: INVALID_REQUEST,
        message: format!("invalid request: {why}"),
    };
    let envelope: Envelope<'_> = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        // Well-formed JSON of the wrong shape (an array, a number, a
        // duplicate member) is an invalid request; anything else a parse error.
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            return match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(_) => Err(invalid(&format!(
                    "expected one JSON-RPC message object: {e}"
                ))),
                Err(syntax) => Err(parse_error(&syntax)),
            };
        }
        Err(e) => return Err(parse_error(&e)),
    };
    if envelope.jsonrpc.as_deref() != Some("2.0") {
        return Err(invalid("\"jsonrpc\" must be \"2.0\""));
    }
    // A string, or an integer (no fraction, no exponent).
    let id_ok = envelope.id.is_none_or(|id| {
        let text = id.get();
        text.starts_with('"')
            || (!text.is_empty()
                && text
                    .bytes()
                    .enumerate()
                    .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
                && text != "-")
    });
    let is_call = starts(envelope.method) == Some(b'"') && id_ok;
    let is_reply = envelope.id.is_some() && (envelope.result.is_some() || envelope.error.is_some());
    if !(is_call || is_reply) {
        return Err(invalid(
            "a message needs a string \"method\" (and a string or integer \"id\"), or an \"id\" with \"result\" or \"error\"",
        ));
    }
    if envelope.params.is_some() && !matches!(starts(envelope.params), Some(b'{' | b'[')) {
        return Err(invalid("\"params\" must be an object"));
    }
    Ok(Accepted {
        tool_call: is_call
            && envelope.id.is_some()
            && envelope
                .method
                .and_then(|m| serde_json::from_str::<std::borrow::Cow<'_, str>>(m.get()).ok())
                .is_some_and(|m| m == "tools/call"),
    })
}

/// Validates POSTed JSON-RPC before the transport sees it, and counts a
/// `tools/call` in flight until its response body has been sent.
async fn jsonrpc_guard(State(calls): State<InFlight>, request: Request, next: Next) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let accepted = match check_jsonrpc(&bytes) {
        Ok(accepted) => accepted,
        Err(rejected) => return rejected.into_response(),
    };
    let call = accepted.tool_call.then(|| calls.enter());
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    match call {
        Some(call) => response.map(|body| {
            Body::new(Counted {
                body,
                call: Some(call),
            })
        }),
        None => response,
    }
}

/// A response body that counts its call in flight until the last frame has
/// been taken (or the client has gone and the body is dropped).
struct Counted {
    body: Body,
    call: Option<CallGuard>,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) || self.body.is_end_stream() {
            self.call = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Refuses requests whose Host or Origin is not allowed (DNS rebinding).
async fn guard(
    State(door): State<Arc<FrontDoor>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !door.host_allowed(host) {
        return (StatusCode::FORBIDDEN, "Host not allowed").into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| door.origin_allowed(o, host));
        if !allowed {
            return (StatusCode::FORBIDDEN, "Origin not allowed").into_response();
        }
    }
    next.run(request).await
}

/// The router serving every HTTP transport for `gateway`. Tool calls are
/// counted in `shutdown`, and its long-lived streams (the legacy `/sse`
/// stream, Streamable HTTP's GET stream and sessions) end once it has
/// drained.
pub fn app(gateway: Arc<Gateway>, door: FrontDoor, shutdown: Shutdown) -> Router {
    let door = Arc::new(door);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(door.allowed_hosts.clone())
        // `guard` alone judges Origins: rmcp's list check would refuse the
        // server's own origin, which `guard` accepts (and `guard` covers /sse).
        .disable_allowed_origins()
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_json_response(true)
        // Not the stop: cancelling ends every session and stream at once,
        // results not yet sent included.
        .with_cancellation_token(shutdown.drained().clone());
    let for_sessions = Arc::clone(&gateway);
    let streamable = StreamableHttpService::new(
        move || Ok(GatewayHandler::new(Arc::clone(&for_sessions))),
        Arc::new(RequestSessions::default()),
        config,
    );
    let calls = shutdown.calls().clone();
    let sse_state = SseState {
        gateway,
        sessions: Sessions::default(),
        shutdown,
    };
    let legacy = Router::new()
        .route("/sse", get(sse::open))
        .route(MESSAGES_PATH, post(sse::post))
        .with_state(sse_state);
    let streamable = Router::new()
        .nest_service("/mcp", streamable)
        .layer(middleware::from_fn_with_state(calls, jsonrpc_guard));
    Router::new()
        .merge(streamable)
        .merge(legacy)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(door, guard))
}

/// Serves `app` on `listener` until `shutdown` stops, then until every
/// connection has closed: at the stop the listener closes (new connections
/// are refused) and idle keep-alive connections close; a connection with a
/// request in flight closes once its response is sent, and one holding a
/// long-lived stream once the shutdown has drained. [`crate::shutdown::run`]
/// bounds the wait.
pub async fn serve(listener: TcpListener, app: Router, shutdown: Shutdown) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving MCP: Streamable HTTP at /mcp, legacy SSE at /sse");
    }
    // Without TCP_NODELAY a response written in two segments waits ~40 ms
    // for the client's delayed ACK (PERFORMANCE.md).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.stop().clone().cancelled_owned())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_match_with_or_without_port() {
        let door = FrontDoor::default();
        for (host, ok) in [
            ("127.0.0.1:8000", true),
            ("localhost", true),
            ("[::1]:8000", true),
            ("evil.com", false),
            ("evil.com:8000", false),
            ("127.0.0.1.evil.com", false),
            ("", false),
        ] {
            assert_eq!(door.host_allowed(host), ok, "{host}");
        }
    }

    #[test]
    fn origins_are_listed_or_the_servers_own() {
        let door = FrontDoor {
            allowed_origins: vec!["https://app.example.com".into()],
            ..FrontDoor::default()
        };
        for (origin, host, ok) in [
            ("http://127.0.0.1:8000", "127.0.0.1:8000", true),
            ("https://LOCALHOST:8000", "localhost:8000", true),
            ("https://app.example.com", "127.0.0.1:8000", true),
            ("http://127.0.0.1:8001", "127.0.0.1:8000", false),
            ("http://localhost:8000", "127.0.0.1:8000", false),
            ("http://evil.example.com:8000", "127.0.0.1:8000", false),
            ("ftp://127.0.0.1:8000", "127.0.0.1:8000", false),
            ("null", "127.0.0.1:8000", false),
            ("http://", "", false),
        ] {
            assert_eq!(door.origin_allowed(origin, host), ok, "{origin} to {host}");
        }
    }
}

#[cfg(test)]
mod jsonrpc_tests {
    use super::*;

    #[test]
    fn only_tool_call_requests_count_as_calls() {
        for (body, tool_call) in [
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
                true,
            ),
            (r#"{"jsonrpc":"2.0","id":"a","method":"tools\/call"}"#, true),
            (r#"{"jsonrpc":"2.0","method":"tools/call"}"#, false),
            (r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, false),
            (r#"{"jsonrpc":"2.0","id":1,"result":{}}"#, false),
        ] {
            assert_eq!(
                check_jsonrpc(body.as_bytes()).map(|a| a.tool_call),
                Ok(tool_call),
                "{body}"
            );
        }
    }

    #[test]
    fn messages_are_classified() {
        let deep = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        let cases = [
            (r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, None),
            (
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
                None,
            ),
            (r#"{"jsonrpc":"2.0","id":"a","result":{}}"#, None),
            ("{not json", Some(PARSE_ERROR)),
            ("", Some(PARSE_ERROR)),
            (deep.as_str(), Some(PARSE_ERROR)),
            ("[]", Some(INVALID_REQUEST)),
            (
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
                Some(INVALID_REQUEST),
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#, Some(INVALID_REQUEST)),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                Some(INVALID_REQUEST),
            ),
            (
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":-3,"method":"ping","params":{}}"#,
                None,
            ),
            (
                r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}"#,
                Some(INVALID_REQUEST),
            ),
            ("42", Some(INVALID_REQUEST)),
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"ping""#,
                Some(PARSE_ERROR),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                check_jsonrpc(body.as_bytes()).err().map(|r| r.code),
                expected,
                "{body}"
            );
        }
    }
}

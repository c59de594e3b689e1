//! The HTTP front door: Streamable HTTP at `/mcp`, the legacy SSE transport
//! at `/sse` + `/messages`, DNS-rebinding protection (Host and Origin
//! allow-lists, exactly one Host), a request body cap, JSON-RPC validation
//! ([`super::jsonrpc`]), caps on live sessions and open event streams, the
//! connection limits of [`super::listener`], and a graceful shutdown that
//! lets the calls in flight deliver their results.

use std::cell::Cell;
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
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;

use super::Gateway;
use super::handler::GatewayHandler;
use super::limits::{Deadline, body_timed_out, over_capacity, timed_out};
use super::listener::ConnectionLimits;
use super::sessions::{REFUSED_AT_CAP, RequestSessions};
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
    /// Caps on sessions and event streams.
    pub limits: StreamLimits,
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
            limits: StreamLimits::default(),
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

pub use super::jsonrpc::{
    Accepted, INVALID_PARAMS, INVALID_REQUEST, MAX_DEPTH, PARSE_ERROR, Rejected, check_jsonrpc,
    parse_error,
};
pub use super::limits::{
    BodyTimedOut, DEFAULT_BODY_READ_TIMEOUT_MS, StreamLimits, TOO_MANY_SESSIONS, TOO_MANY_STREAMS,
};

/// What the JSON-RPC guard needs.
#[derive(Clone)]
struct GuardState {
    calls: InFlight,
    sessions: Arc<RequestSessions>,
}

/// Validates POSTed JSON-RPC before the transport sees it, refuses a new
/// session past the cap, and counts a `tools/call` in flight until its
/// response body has been sent.
async fn jsonrpc_guard(
    State(GuardState { calls, sessions }): State<GuardState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) if timed_out(&e) => return body_timed_out(),
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let accepted = match check_jsonrpc(&bytes) {
        Ok(accepted) => accepted,
        Err(rejected) => return rejected.into_response(),
    };
    let opens_session = accepted.initialize && !parts.headers.contains_key(SESSION_ID_HEADER);
    if opens_session && sessions.full() {
        return sessions_full(&sessions);
    }
    let call = accepted.tool_call.then(|| calls.enter());
    let request = Request::from_parts(parts, Body::from(bytes));
    // Creating the session checks the cap again, under its lock: a request
    // that lost the race for the last place is told so here.
    let (response, refused) = REFUSED_AT_CAP
        .scope(Cell::new(false), async {
            let response = next.run(request).await;
            (response, REFUSED_AT_CAP.with(Cell::get))
        })
        .await;
    if refused {
        return sessions_full(&sessions);
    }
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

/// The header naming a 2025 session.
const SESSION_ID_HEADER: &str = "mcp-session-id";

fn sessions_full(sessions: &RequestSessions) -> Response {
    tracing::warn!(
        max_sessions = sessions.max_sessions(),
        "new MCP session refused: as many are live as may be"
    );
    over_capacity(
        TOO_MANY_SESSIONS,
        &format!(
            "the gateway holds its maximum of {} live sessions; retry later",
            sessions.max_sessions()
        ),
    )
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

/// Whether a request carries more than one `Host` header: RFC 9112 §3.2
/// has the server answer 400, and two could disagree about who is asked.
pub fn duplicate_host(headers: &HeaderMap) -> bool {
    headers.get_all(header::HOST).iter().nth(1).is_some()
}

/// Refuses requests with two Hosts (400), or whose Host or Origin is not
/// allowed (DNS rebinding).
async fn guard(
    State(door): State<Arc<FrontDoor>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if duplicate_host(&headers) {
        return (StatusCode::BAD_REQUEST, "more than one Host header").into_response();
    }
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
    let deadline = door.limits.body_read_timeout;
    let request = request.map(|body| Body::new(Deadline::new(body, deadline)));
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
    let limits = door.limits;
    let sessions = Arc::new(RequestSessions::new(
        limits.max_sessions,
        limits.session_idle_timeout,
    ));
    let streamable = StreamableHttpService::new(
        move || Ok(GatewayHandler::new(Arc::clone(&for_sessions))),
        Arc::clone(&sessions),
        config,
    );
    let guard_state = GuardState {
        calls: shutdown.calls().clone(),
        sessions,
    };
    let sse_state = SseState {
        gateway,
        sessions: Sessions::new(limits.max_sse_streams, limits.sse_idle_timeout),
        shutdown,
    };
    let legacy = Router::new()
        .route("/sse", get(sse::open))
        .route(MESSAGES_PATH, post(sse::post))
        .with_state(sse_state);
    let streamable = Router::new()
        .nest_service("/mcp", streamable)
        .layer(middleware::from_fn_with_state(guard_state, jsonrpc_guard));
    Router::new()
        .merge(streamable)
        .merge(legacy)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(door, guard))
}

/// Serves `app` on `listener` under `limits` until `shutdown` stops, then
/// until every connection has closed: at the stop the listener closes (new
/// connections are refused) and idle keep-alive connections close; a
/// connection with a request in flight closes once its response is sent,
/// and one holding a long-lived stream once the shutdown has drained.
/// [`crate::shutdown::run`] bounds the wait.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving MCP: Streamable HTTP at /mcp, legacy SSE at /sse");
    }
    super::listener::serve(listener, app, limits, shutdown.stop().clone(), "mcp").await
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

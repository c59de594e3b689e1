//! The HTTP front door: Streamable HTTP at `/mcp`, the legacy SSE transport
//! at `/sse` + `/messages`, DNS-rebinding protection (Host and Origin
//! allow-lists), a request body cap, and `TCP_NODELAY` on every connection.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::handler::GatewayHandler;
use super::sse::{self, MESSAGES_PATH, Sessions, SseState};

/// Largest request body accepted (JSON-RPC messages are small; tool inputs
/// are capped at 1 MiB by the runtime).
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// Who may reach the HTTP transports.
#[derive(Debug, Clone)]
pub struct FrontDoor {
    /// Accepted `Host` header values (host or host:port). Loopback by default.
    pub allowed_hosts: Vec<String>,
    /// Accepted `Origin` values (scheme://host[:port]); requests without an
    /// Origin (non-browser clients) pass. Empty: every present Origin is refused.
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
    fn host_allowed(&self, host: &str) -> bool {
        let bare = strip_port(host);
        self.allowed_hosts
            .iter()
            .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(bare))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins
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

/// A JSON-RPC parse error (-32700) for a body that is not a JSON-RPC message.
pub fn parse_error(e: &serde_json::Error) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": format!("parse error: {e}")}});
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
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
        let allowed = origin.to_str().is_ok_and(|o| door.origin_allowed(o));
        if !allowed {
            return (StatusCode::FORBIDDEN, "Origin not allowed").into_response();
        }
    }
    next.run(request).await
}

/// The router serving every HTTP transport for `gateway`.
pub fn app(gateway: Arc<Gateway>, door: FrontDoor, shutdown: CancellationToken) -> Router {
    let door = Arc::new(door);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(door.allowed_hosts.clone())
        .with_allowed_origins(door.allowed_origins.clone())
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_json_response(true)
        .with_cancellation_token(shutdown);
    let for_sessions = Arc::clone(&gateway);
    let streamable = StreamableHttpService::new(
        move || Ok(GatewayHandler::new(Arc::clone(&for_sessions))),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let sse_state = SseState {
        gateway,
        sessions: Sessions::default(),
    };
    let legacy = Router::new()
        .route("/sse", get(sse::open))
        .route(MESSAGES_PATH, post(sse::post))
        .with_state(sse_state);
    Router::new()
        .nest_service("/mcp", streamable)
        .merge(legacy)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(door, guard))
}

/// Serves `app` on `addr` until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "serving MCP: Streamable HTTP at /mcp, legacy SSE at /sse");
    // Without TCP_NODELAY a response written in two segments waits ~40 ms
    // for the client's delayed ACK (PERFORMANCE.md).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
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
}

//! The MCP listener's routes: Streamable HTTP at `/mcp` and the legacy SSE
//! transport at `/sse` + `/messages`, behind the [`crate::frontdoor`]
//! (Host and Origin allow-lists, body cap and deadline, connection
//! limits). Each POST to `/mcp` is judged by the JSON-RPC guard
//! ([`super::jsonrpc`]) before rmcp sees it; new sessions are refused past
//! their cap; a `tools/call` is admitted under the [`crate::limits`] (or
//! answered 429 at once, [`super::admission`]) and counts in flight until
//! its response has been sent, so a graceful shutdown lets it deliver its
//! result.

use std::cell::Cell;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;

use super::Gateway;
use super::admission::{self, Admitted};
use super::handler::GatewayHandler;
use super::jsonrpc::{check_jsonrpc, request_id};
use super::sessions::{REFUSED_AT_CAP, RequestSessions};
use super::sse::{self, MESSAGES_PATH, Sessions, SseState};
use crate::frontdoor::limits::{TOO_MANY_SESSIONS, body_timed_out, over_capacity, timed_out};
use crate::frontdoor::listener::ConnectionLimits;
use crate::frontdoor::{self, FrontDoor, MAX_BODY_BYTES};
use crate::limits::CallSlot;
use crate::shutdown::{CallGuard, InFlight, Shutdown};

/// What the JSON-RPC guard needs.
#[derive(Clone)]
struct GuardState {
    calls: InFlight,
    sessions: Arc<RequestSessions>,
    gateway: Arc<Gateway>,
}

/// Validates POSTed JSON-RPC before the transport sees it, refuses a new
/// session past the cap, admits a `tools/call` of a served tool under the
/// limits (or answers 429 at once), and counts it in flight until its
/// response body has been sent.
async fn jsonrpc_guard(
    State(GuardState {
        calls,
        sessions,
        gateway,
    }): State<GuardState>,
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
    let mut parts = parts;
    // An unknown tool, or one outside the caller's scope, is left to the
    // handler's answer (the same for both), and takes no budget.
    let slot = match accepted.tool.as_deref() {
        Some(tool) => {
            let fallback;
            let caller = match parts.extensions.get::<crate::auth::Caller>() {
                Some(caller) => caller,
                None => {
                    fallback = gateway.unauthenticated();
                    &fallback
                }
            };
            if caller.allows(tool) && gateway.definitions().get(tool).is_some() {
                match gateway.limits.admit(caller.team.as_deref(), tool) {
                    Ok(slot) => Some(slot),
                    Err(limited) => {
                        tracing::debug!(
                            tool,
                            code = limited.code(),
                            scope = limited.scope.as_str(),
                            "tool call refused: {limited}"
                        );
                        super::handler::audit_refusal(&gateway, caller, tool, limited.code());
                        return admission::http_response(&limited, request_id(&bytes));
                    }
                }
            } else {
                None
            }
        }
        None => None,
    };
    if slot.is_some() {
        parts.extensions.insert(Admitted);
    }
    let call = accepted.tool_call.then(|| (calls.enter(), slot));
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

/// A response body that counts its call in flight, and holds its place
/// under the cap on calls in flight, until the last frame has been taken
/// (or the client has gone and the body is dropped).
struct Counted {
    body: Body,
    call: Option<(CallGuard, Option<CallSlot>)>,
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

/// The router serving every HTTP transport for `gateway`. Tool calls are
/// counted in `shutdown`, and its long-lived streams (the legacy `/sse`
/// stream, Streamable HTTP's GET stream and sessions) end once it has
/// drained.
pub fn app(gateway: Arc<Gateway>, door: FrontDoor, shutdown: Shutdown) -> Router {
    let door = Arc::new(door);
    let config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(door.allowed_hosts.clone())
        // The front door alone judges Origins: rmcp's list check would refuse
        // the server's own origin, which the door accepts (and it covers /sse).
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
        gateway: Arc::clone(&gateway),
    };
    let probes = crate::telemetry::routes(
        Arc::clone(&gateway),
        shutdown.clone(),
        gateway.metrics_on_listener(),
    );
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
    let mut router = Router::new().merge(streamable).merge(legacy).merge(probes);
    if let crate::auth::Authenticator::OAuth(validator) = door.auth.as_ref() {
        router = router.merge(crate::auth::oauth::routes(Arc::clone(validator)));
    }
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(door, frontdoor::guard))
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
    frontdoor::listener::serve(listener, app, limits, shutdown.stop().clone(), "mcp").await
}

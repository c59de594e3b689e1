//! The MCP listener's routes: Streamable HTTP at `/mcp` and the legacy SSE
//! transport at `/sse` + `/messages`, behind the [`crate::frontdoor`]
//! (Host and Origin allow-lists, body cap and deadline, connection
//! limits). Each POST to `/mcp` is judged by the JSON-RPC guard
//! ([`super::jsonrpc`]) before rmcp sees it; new sessions are refused past
//! their cap; a `tools/call` is admitted under the [`crate::limits`] (or
//! answered 429 at once, [`super::admission`]) and counts in flight until
//! its response has been sent, so a graceful shutdown lets it deliver its
//! result. With a session key ([`super::session_id`]), every request naming
//! a session is checked here first: an id this key did not sign is 404, one
//! signed for another caller 403, whichever replica holds the session; and
//! `DELETE` is 405, since no replica can end a session for the others.

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
use super::session_id::{PrincipalDigest, SessionKey, SignedStore};
use super::sessions::{OPENING, Opening, REFUSED_AT_CAP, RequestSessions};
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
    key: Option<Arc<SessionKey>>,
}

/// Why a request naming a signed session is turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRefusal {
    /// The id is not one this gateway's key signed (404, as for any
    /// unknown session: the client starts a new one).
    #[error("session not found")]
    Unknown,
    /// The id was signed for another caller (403).
    #[error("this session belongs to another caller")]
    NotYours,
}

/// Checks the session a request's `headers` name (if any) against `key`:
/// signed by it, for `caller`.
pub fn check_session(
    key: &SessionKey,
    headers: &axum::http::HeaderMap,
    caller: &crate::auth::Principal,
) -> Result<(), SessionRefusal> {
    let Some(id) = headers.get(SESSION_ID_HEADER) else {
        return Ok(());
    };
    let claims = id
        .to_str()
        .ok()
        .and_then(|id| key.open(id).ok())
        .ok_or(SessionRefusal::Unknown)?;
    if claims.principal != PrincipalDigest::of(caller) {
        return Err(SessionRefusal::NotYours);
    }
    Ok(())
}

fn session_refused(refusal: SessionRefusal) -> Response {
    match refusal {
        SessionRefusal::Unknown => {
            (StatusCode::NOT_FOUND, "Not Found: Session not found").into_response()
        }
        SessionRefusal::NotYours => {
            tracing::info!("request refused: its session belongs to another caller");
            let body = serde_json::json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32600, "message": refusal.to_string()},
            });
            (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
        }
    }
}

/// The protocol version an `initialize` body asks for (empty if none).
fn asked_version(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Init {
        params: Params,
    }
    #[derive(serde::Deserialize)]
    struct Params {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
    }
    serde_json::from_slice::<Init>(body)
        .map(|init| init.params.protocol_version)
        .unwrap_or_default()
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
        key,
    }): State<GuardState>,
    request: Request,
    next: Next,
) -> Response {
    // With a session key, the session a request names must be one this key
    // signed for this caller, whichever replica holds it.
    let signer = match &key {
        Some(key) => {
            let caller = request
                .extensions()
                .get::<crate::auth::Caller>()
                .map(|caller| caller.principal.clone())
                .unwrap_or_else(|| gateway.unauthenticated().principal);
            if let Err(refusal) = check_session(key, request.headers(), &caller) {
                return session_refused(refusal);
            }
            // A signed session cannot be ended for every replica (nothing is
            // shared but the key), so the protocol's answer for a server that
            // does not let clients end sessions (docs/scale-out.md).
            if request.method() == axum::http::Method::DELETE {
                return (
                    StatusCode::METHOD_NOT_ALLOWED,
                    [(axum::http::header::ALLOW, "GET, POST")],
                    "sessions end when idle on each replica",
                )
                    .into_response();
            }
            Some(caller)
        }
        None => None,
    };
    if request.method() != axum::http::Method::POST {
        if signer.is_none() {
            let delete = request.method() == axum::http::Method::DELETE;
            if delete && !names_live_session(&sessions, request.headers()).await {
                // rmcp would answer an ended session's DELETE with 202 too.
                return (StatusCode::NOT_FOUND, "session not found").into_response();
            }
            let response = next.run(request).await;
            // rmcp answers a session's end with 202; clients expect 200 or
            // 204 (the official Python client warns on anything else), and
            // nothing is left pending once the session is closed.
            if delete && response.status() == StatusCode::ACCEPTED {
                return StatusCode::NO_CONTENT.into_response();
            }
            return response;
        }
        // A GET stream may restore its session, under the cap too.
        let (response, refused) = REFUSED_AT_CAP
            .scope(Cell::new(false), async {
                let response = next.run(request).await;
                (response, REFUSED_AT_CAP.with(Cell::get))
            })
            .await;
        return if refused {
            sessions_full(&sessions)
        } else {
            response
        };
    }
    guard_post(calls, sessions, gateway, signer, request, next).await
}

/// Whether `headers` name a session this process holds (no session id:
/// `true`, rmcp answers that itself).
async fn names_live_session(sessions: &RequestSessions, headers: &axum::http::HeaderMap) -> bool {
    use rmcp::transport::streamable_http_server::session::SessionManager;
    let Some(id) = headers
        .get(SESSION_ID_HEADER)
        .and_then(|id| id.to_str().ok())
    else {
        return true;
    };
    sessions
        .has_session(&std::sync::Arc::from(id))
        .await
        .unwrap_or(false)
}

/// The guard of a POST: `signer` is who a new signed session would belong to.
async fn guard_post(
    calls: InFlight,
    sessions: Arc<RequestSessions>,
    gateway: Arc<Gateway>,
    signer: Option<crate::auth::Principal>,
    request: Request,
    next: Next,
) -> Response {
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
    // A signed session names who opens it and the version asked for.
    let opening = Opening {
        principal: PrincipalDigest::of(signer.as_ref().unwrap_or(&crate::auth::Principal::Local)),
        protocol_version: if opens_session && signer.is_some() {
            asked_version(&bytes)
        } else {
            String::new()
        },
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    // Creating the session checks the cap again, under its lock: a request
    // that lost the race for the last place is told so here.
    let (response, refused) = REFUSED_AT_CAP
        .scope(
            Cell::new(false),
            OPENING.scope(opening, async {
                let response = next.run(request).await;
                (response, REFUSED_AT_CAP.with(Cell::get))
            }),
        )
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
    let mut config = config;
    // A signed id is all a replica needs to rebuild a session (session_id.rs).
    if let Some(key) = &door.session_key {
        config.session_store = Some(Arc::new(SignedStore(Arc::clone(key))));
    }
    let for_sessions = Arc::clone(&gateway);
    let limits = door.limits;
    let sessions = Arc::new(
        RequestSessions::new(limits.max_sessions, limits.session_idle_timeout)
            .with_key(door.session_key.clone()),
    );
    let streamable = StreamableHttpService::new(
        move || Ok(GatewayHandler::new(Arc::clone(&for_sessions))),
        Arc::clone(&sessions),
        config,
    );
    let guard_state = GuardState {
        calls: shutdown.calls().clone(),
        sessions,
        gateway: Arc::clone(&gateway),
        key: door.session_key.clone(),
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

//! The legacy HTTP+SSE transport (MCP 2024-11-05), which many client
//! configurations still name as `{"url": "https://host/sse"}`: `GET /sse`
//! opens an event stream whose first `endpoint` event names the URL to POST
//! messages to; responses and notifications come back on the stream.
//!
//! The stream carries the results of the session's calls, so at shutdown it
//! stays open until the gateway has drained, then ends.
//!
//! Streams are bounded: at most `max_streams` open at once. A session lives
//! as long as its stream's connection: when the client goes (hyper sees the
//! connection close, or a keep-alive comment fails to write), the session
//! and its server end. A stream nobody POSTs to for the idle timeout is
//! ended too, a backstop against clients that hold connections open
//! without using them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::drain::Ledger;
use super::handler::GatewayHandler;
use super::jsonrpc::{INVALID_REQUEST, check_jsonrpc, parse_error};
use crate::frontdoor::MAX_BODY_BYTES;
use crate::frontdoor::limits::{
    DEFAULT_MAX_SSE_STREAMS, DEFAULT_SSE_IDLE_TIMEOUT_MS, TOO_MANY_STREAMS, body_timed_out,
    over_capacity, timed_out,
};
use crate::shutdown::Shutdown;

/// Messages queued per session before a slow reader applies backpressure.
const SESSION_QUEUE: usize = 64;
/// Keep-alive comment interval, under common proxy idle timeouts.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Path clients POST messages to.
pub const MESSAGES_PATH: &str = "/messages";

/// Open legacy sessions by id, at most `max` of them.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
    max: usize,
    idle: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(
            DEFAULT_MAX_SSE_STREAMS,
            Duration::from_millis(DEFAULT_SSE_IDLE_TIMEOUT_MS),
        )
    }
}

impl Sessions {
    /// At most `max` open streams, each ended after `idle` without a message.
    pub fn new(max: usize, idle: Duration) -> Self {
        Self {
            inner: Arc::default(),
            max,
            idle,
        }
    }

    fn remove(&self, id: &str) {
        if let Ok(mut open) = self.inner.lock() {
            open.remove(id);
        }
    }
}

/// One legacy session: what feeds its server, the calls it owes, and when
/// a message last came.
#[derive(Clone)]
struct Session {
    to_server: mpsc::Sender<ClientJsonRpcMessage>,
    ledger: Arc<Ledger>,
    last_used: Arc<Mutex<Instant>>,
    /// Who opened the stream: only they may post into it.
    owner: crate::auth::Principal,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.inner.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("Sessions").field("open", &open).finish()
    }
}

/// State the two SSE routes share.
#[derive(Clone, Debug)]
pub struct SseState {
    /// The gateway.
    pub gateway: Arc<Gateway>,
    /// Open sessions.
    pub sessions: Sessions,
    /// The server's shutdown: calls are counted in it, and streams end once
    /// it has drained.
    pub shutdown: Shutdown,
}

/// `GET /sse`: a new session whose server runs until the stream closes;
/// past the cap, 503 with [`TOO_MANY_STREAMS`].
pub async fn open(
    State(state): State<SseState>,
    caller: Option<axum::Extension<crate::auth::Caller>>,
) -> Response {
    let caller = caller.map_or_else(|| state.gateway.unauthenticated(), |c| c.0);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (to_server, from_client) = mpsc::channel::<ClientJsonRpcMessage>(SESSION_QUEUE);
    let (to_client, from_server) = mpsc::channel::<ServerJsonRpcMessage>(SESSION_QUEUE);
    let ledger = Arc::new(Ledger::new(state.shutdown.calls().clone()));
    let last_used = Arc::new(Mutex::new(Instant::now()));
    let end = CancellationToken::new();
    {
        let Ok(mut sessions) = state.sessions.inner.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        if sessions.len() >= state.sessions.max {
            drop(sessions);
            tracing::warn!(
                max_sse_streams = state.sessions.max,
                "legacy SSE stream refused: as many are open as may be"
            );
            return over_capacity(
                TOO_MANY_STREAMS,
                &format!(
                    "the gateway holds its maximum of {} open SSE streams; retry later",
                    state.sessions.max
                ),
            );
        }
        let session = Session {
            to_server,
            ledger: Arc::clone(&ledger),
            last_used: Arc::clone(&last_used),
            owner: caller.principal.clone(),
        };
        sessions.insert(id.clone(), session);
    }

    let sink = futures::sink::unfold(to_client, |tx, message: ServerJsonRpcMessage| async move {
        tx.send(message)
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok::<_, std::io::Error>(tx)
    });
    let stream = futures::stream::unfold(from_client, |mut rx| async move {
        rx.recv().await.map(|m| (m, rx))
    });
    let handler = GatewayHandler::for_caller(Arc::clone(&state.gateway), caller);
    let sessions = state.sessions.clone();
    let session_id = id.clone();
    let session_end = end.clone();
    tokio::spawn(async move {
        match handler.serve((Box::pin(sink), Box::pin(stream))).await {
            Ok(running) => {
                let cancel = running.cancellation_token();
                tokio::select! {
                    _ = running.waiting() => {}
                    // The stream is gone: nobody can hear this session.
                    () = session_end.cancelled() => cancel.cancel(),
                }
            }
            Err(e) => {
                tracing::debug!(session = %session_id, "legacy SSE session ended during initialization: {e}")
            }
        }
        sessions.remove(&session_id);
    });
    // Ends the stream once no message has come for the idle time.
    let idle = state.sessions.idle;
    let expired = async move {
        loop {
            let since = *last_used.lock().unwrap_or_else(|e| e.into_inner());
            let due = since + idle;
            if due <= Instant::now() {
                tracing::debug!("legacy SSE stream ended: idle");
                return;
            }
            tokio::time::sleep_until(due.into()).await;
        }
    };

    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("{MESSAGES_PATH}?sessionId={id}"));
    let output = Output {
        from_server,
        ledger,
        end: end.clone(),
        sessions: state.sessions.clone(),
        id,
    };
    let messages = futures::stream::unfold(output, |mut output| async move {
        let message = output.from_server.recv().await?;
        let answered = output.ledger.answered(&message);
        let data = serde_json::to_string(&message).unwrap_or_default();
        // Returned from this poll, the event is the connection's to write.
        drop(answered);
        Some((Ok(Event::default().event("message").data(data)), output))
    });
    let drained = state.shutdown.drained().clone().cancelled_owned();
    let events = futures::stream::once(async move { Ok::<_, Infallible>(endpoint) })
        .chain(messages)
        .take_until(drained)
        .take_until(Box::pin(expired));
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// The session's way out; once it is gone (the client closed the stream),
/// the session owes nothing it could deliver.
struct Output {
    from_server: mpsc::Receiver<ServerJsonRpcMessage>,
    ledger: Arc<Ledger>,
    end: CancellationToken,
    sessions: Sessions,
    id: String,
}

impl Drop for Output {
    fn drop(&mut self) {
        self.ledger.close();
        // Its slot is free at once; its server stops.
        self.sessions.remove(&self.id);
        self.end.cancel();
    }
}

/// Query of `POST /messages`.
#[derive(Debug, Deserialize)]
pub struct SessionQuery {
    #[serde(rename = "sessionId")]
    session_id: String,
}

/// `POST /messages?sessionId=…`: one JSON-RPC message into its session.
pub async fn post(
    State(state): State<SseState>,
    Query(query): Query<SessionQuery>,
    caller: Option<axum::Extension<crate::auth::Caller>>,
    body: axum::body::Body,
) -> Response {
    let caller = caller.map_or_else(|| state.gateway.unauthenticated(), |c| c.0);
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) if timed_out(&e) => return body_timed_out(),
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let session = state
        .sessions
        .inner
        .lock()
        .ok()
        .and_then(|s| s.get(&query.session_id).cloned());
    // Another caller's session is answered like one that does not exist.
    let Some(session) = session.filter(|s| s.owner == caller.principal) else {
        return (StatusCode::NOT_FOUND, "unknown or closed session").into_response();
    };
    if let Ok(mut last_used) = session.last_used.lock() {
        *last_used = Instant::now();
    }
    if let Err(rejected) = check_jsonrpc(&body) {
        return rejected.into_response();
    }
    let message: ClientJsonRpcMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            let mut rejected = parse_error(&e);
            rejected.code = INVALID_REQUEST;
            return rejected.into_response();
        }
    };
    session.ledger.received(&message);
    if session.to_server.send(message).await.is_err() {
        return (StatusCode::GONE, "session closed").into_response();
    }
    StatusCode::ACCEPTED.into_response()
}

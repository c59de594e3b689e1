//! The legacy HTTP+SSE transport (MCP 2024-11-05), which many client
//! configurations still name as `{"url": "https://host/sse"}`: `GET /sse`
//! opens an event stream whose first `endpoint` event names the URL to POST
//! messages to; responses and notifications come back on the stream.
//!
//! The stream carries the results of the session's calls, so at shutdown it
//! stays open until the gateway has drained, then ends.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use rmcp::ServiceExt;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use serde::Deserialize;
use tokio::sync::mpsc;

use super::Gateway;
use super::drain::Ledger;
use super::handler::GatewayHandler;
use crate::shutdown::Shutdown;

/// Messages queued per session before a slow reader applies backpressure.
const SESSION_QUEUE: usize = 64;
/// Keep-alive comment interval, under common proxy idle timeouts.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Path clients POST messages to.
pub const MESSAGES_PATH: &str = "/messages";

/// Open legacy sessions by id.
#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<String, Session>>>,
}

/// One legacy session: what feeds its server, and the calls it owes.
#[derive(Clone)]
struct Session {
    to_server: mpsc::Sender<ClientJsonRpcMessage>,
    ledger: Arc<Ledger>,
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

/// `GET /sse`: a new session whose server runs until the stream closes.
pub async fn open(
    State(state): State<SseState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (to_server, from_client) = mpsc::channel::<ClientJsonRpcMessage>(SESSION_QUEUE);
    let (to_client, from_server) = mpsc::channel::<ServerJsonRpcMessage>(SESSION_QUEUE);
    let ledger = Arc::new(Ledger::new(state.shutdown.calls().clone()));
    if let Ok(mut sessions) = state.sessions.inner.lock() {
        let session = Session {
            to_server,
            ledger: Arc::clone(&ledger),
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
    let handler = GatewayHandler::new(Arc::clone(&state.gateway));
    let sessions = state.sessions.clone();
    let session_id = id.clone();
    tokio::spawn(async move {
        match handler.serve((Box::pin(sink), Box::pin(stream))).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(e) => {
                tracing::debug!(session = %session_id, "legacy SSE session ended during initialization: {e}")
            }
        }
        if let Ok(mut open) = sessions.inner.lock() {
            open.remove(&session_id);
        }
    });

    let endpoint = Event::default()
        .event("endpoint")
        .data(format!("{MESSAGES_PATH}?sessionId={id}"));
    let output = Output {
        from_server,
        ledger,
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
    let events = futures::stream::once(async move { Ok(endpoint) })
        .chain(messages)
        .take_until(drained);
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// The session's way out; once it is gone (the client closed the stream),
/// the session owes nothing it could deliver.
struct Output {
    from_server: mpsc::Receiver<ServerJsonRpcMessage>,
    ledger: Arc<Ledger>,
}

impl Drop for Output {
    fn drop(&mut self) {
        self.ledger.close();
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
    body: axum::body::Bytes,
) -> Response {
    let session = state
        .sessions
        .inner
        .lock()
        .ok()
        .and_then(|s| s.get(&query.session_id).cloned());
    let Some(session) = session else {
        return (StatusCode::NOT_FOUND, "unknown or closed session").into_response();
    };
    if let Err(rejected) = super::http::check_jsonrpc(&body) {
        return rejected.into_response();
    }
    let message: ClientJsonRpcMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            let mut rejected = super::http::parse_error(&e);
            rejected.code = super::http::INVALID_REQUEST;
            return rejected.into_response();
        }
    };
    session.ledger.received(&message);
    if session.to_server.send(message).await.is_err() {
        return (StatusCode::GONE, "session closed").into_response();
    }
    StatusCode::ACCEPTED.into_response()
}

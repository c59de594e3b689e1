//! Streamable HTTP sessions (the 2025 revisions): rmcp's in-memory session
//! manager, except that a request's log notifications travel on that
//! request's own SSE stream, ahead of its response.
//!
//! rmcp routes every notification but progress to the session's standalone
//! GET stream, which races the response on the POST stream: a client that
//! stops reading once it has its result (the official Python SDK does) loses
//! the lines still in flight, and the spec asks for notifications about a
//! request to go on that request's stream anyway. [`RequestSessions`] hands
//! each request a [`RequestStream`] in its extensions; [`send_log`] uses it
//! when present and falls back to the peer (stdio, legacy SSE, stateless
//! 2026-07-28 requests, whose one stream already carries everything in order).
//!
//! Sessions are bounded: at most `max_sessions` live at once (each holds a
//! worker task, channels and a handler, some tens of KiB), and one that no
//! request has touched for the idle timeout is closed by rmcp's session
//! worker and forgotten; its client gets 404 and starts a new one, as the
//! protocol prescribes.
//!
//! With a session key shared by replicas ([`super::session_id`]), ids are
//! signed and name their owner, and a replica that does not hold a session
//! rebuilds it from its id (rmcp's restore): a session survives a load
//! balancer without affinity, a restarted replica, and its own idle expiry.

// MCP logging is deprecated from 2026-07-28 (SEP-2577); the handler says why
// the gateway still serves it.
#![allow(deprecated)]

use std::cell::Cell;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use rmcp::RoleServer;
use rmcp::model::{
    ClientJsonRpcMessage, GetExtensions, LoggingMessageNotificationParam, Notification,
    ServerJsonRpcMessage, ServerNotification,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::SessionManager;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId,
};
use tokio::sync::mpsc;

use super::session_id::{PrincipalDigest, SessionKey};
use crate::frontdoor::limits::{DEFAULT_MAX_SESSIONS, DEFAULT_SESSION_IDLE_TIMEOUT_MS};

/// The sending end of one request's SSE stream, in the request's extensions.
/// Unbounded: a call's log lines are capped by the runtime
/// ([`crate::capability::log::MAX_LINES`]), and they end with the call.
#[derive(Debug, Clone)]
pub struct RequestStream(mpsc::UnboundedSender<ServerJsonRpcMessage>);

impl RequestStream {
    /// Queues `notification` on the request's stream; false when the
    /// stream is closed (the client went away).
    pub(crate) fn notify(&self, notification: ServerNotification) -> bool {
        self.0
            .send(ServerJsonRpcMessage::notification(notification))
            .is_ok()
    }

    /// Resolves when the request's stream is closed: its HTTP response was
    /// dropped, because the client went away (a cancelled call, see
    /// `mcp/progress.rs`).
    pub(crate) async fn closed(self) {
        self.0.closed().await;
    }
}

/// Sends a log line about the request in `context`: on its own stream when
/// it has one, else through the peer.
pub async fn send_log(
    context: &RequestContext<RoleServer>,
    param: LoggingMessageNotificationParam,
) {
    if let Some(RequestStream(stream)) = context.extensions.get::<RequestStream>() {
        let notification = ServerNotification::LoggingMessageNotification(Notification::new(param));
        // The client has gone if the stream is closed; the log line goes with it.
        let _ = stream.send(ServerJsonRpcMessage::notification(notification));
    } else {
        let _ = context.peer.notify_logging_message(param).await;
    }
}

tokio::task_local! {
    /// Set when a session could not be created because the cap is reached,
    /// for the request that asked (see `http.rs`).
    pub(crate) static REFUSED_AT_CAP: Cell<bool>;
    /// Who opens a session, and with which protocol version, for the
    /// `initialize` request being served (set by `http.rs`): what a signed
    /// id carries.
    pub(crate) static OPENING: Opening;
}

/// What a new signed session id is minted from.
#[derive(Debug, Clone)]
pub(crate) struct Opening {
    /// The caller opening the session.
    pub principal: PrincipalDigest,
    /// The protocol version its `initialize` asked for.
    pub protocol_version: String,
}

/// Why a session operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SessionsError {
    /// rmcp's session manager failed.
    #[error(transparent)]
    Local(#[from] LocalSessionManagerError),
    /// As many sessions are live as may be.
    #[error("the gateway holds its maximum of {0} live sessions")]
    Full(usize),
    /// A signed session was asked for outside an `initialize` request.
    #[error("no caller to sign a session for")]
    NoOpening,
    /// rmcp already holds a session under a freshly minted id.
    #[error("a session with a fresh id already exists")]
    Collision,
}

/// [`LocalSessionManager`], with a [`RequestStream`] for every request, at
/// most `max_sessions` live sessions and an idle expiry.
#[derive(Debug)]
pub struct RequestSessions {
    inner: LocalSessionManager,
    max_sessions: usize,
    /// Counting and creating happen under this lock, so the cap holds.
    creating: tokio::sync::Mutex<()>,
    /// The key shared by replicas: ids are signed and sessions restored.
    key: Option<Arc<SessionKey>>,
}

impl Default for RequestSessions {
    fn default() -> Self {
        Self::new(
            DEFAULT_MAX_SESSIONS,
            Duration::from_millis(DEFAULT_SESSION_IDLE_TIMEOUT_MS),
        )
    }
}

impl RequestSessions {
    /// At most `max_sessions` live sessions, each closed after `idle`
    /// without a request.
    pub fn new(max_sessions: usize, idle: Duration) -> Self {
        let mut inner = LocalSessionManager::default();
        inner.session_config.keep_alive = Some(idle);
        Self {
            inner,
            max_sessions,
            creating: tokio::sync::Mutex::new(()),
            key: None,
        }
    }

    /// These sessions with ids signed by `key`, restored from their id on
    /// any replica sharing it.
    pub fn with_key(mut self, key: Option<Arc<SessionKey>>) -> Self {
        self.key = key;
        self
    }

    /// Counts a new session, under the lock, against the cap.
    async fn at_cap(&self) -> bool {
        if self.inner.sessions.read().await.len() >= self.max_sessions {
            let _ = REFUSED_AT_CAP.try_with(|refused| refused.set(true));
            return true;
        }
        false
    }

    /// Whether no session can be created now (`false` when the count is
    /// busy being changed: creating checks again).
    pub fn full(&self) -> bool {
        self.inner
            .sessions
            .try_read()
            .is_ok_and(|sessions| sessions.len() >= self.max_sessions)
    }

    /// The cap.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions
    }
}

impl SessionManager for RequestSessions {
    type Error = SessionsError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let _creating = self.creating.lock().await;
        if self.at_cap().await {
            return Err(SessionsError::Full(self.max_sessions));
        }
        let Some(key) = &self.key else {
            return Ok(self.inner.create_session().await?);
        };
        let opening = OPENING
            .try_with(Opening::clone)
            .map_err(|_| SessionsError::NoOpening)?;
        let id: SessionId = key
            .mint(&opening.principal, &opening.protocol_version)
            .into();
        // rmcp's restore creates a session under an id chosen by the caller.
        match self.inner.restore_session(id.clone()).await? {
            RestoreOutcome::Restored(transport) => Ok((id, transport)),
            _ => Err(SessionsError::Collision),
        }
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        Ok(self.inner.initialize_session(id, message).await?)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        Ok(self.inner.has_session(id).await?)
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        Ok(self.inner.close_session(id).await?)
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        mut message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let (sender, logs) = mpsc::unbounded_channel();
        if let ClientJsonRpcMessage::Request(request) = &mut message {
            request
                .request
                .extensions_mut()
                .insert(RequestStream(sender));
        }
        let responses = self.inner.create_stream(id, message).await?;
        Ok(LogsFirst {
            logs,
            responses: Box::pin(responses),
        })
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        Ok(self.inner.accept_message(id, message).await?)
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.create_standalone_stream(id).await?)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        Ok(self.inner.resume(id, last_event_id).await?)
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        if self.key.is_none() {
            return Ok(RestoreOutcome::NotSupported);
        }
        // Only ids whose signature verified get here (`SignedStore::load`).
        let _creating = self.creating.lock().await;
        if self.at_cap().await {
            return Err(SessionsError::Full(self.max_sessions));
        }
        Ok(self.inner.restore_session(id).await?)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}

/// One request's stream: its log lines, each before anything rmcp sends
/// after it (a line is queued before the handler returns, so before the
/// response exists), ending with rmcp's stream, which ends after the response.
struct LogsFirst<R> {
    logs: mpsc::UnboundedReceiver<ServerJsonRpcMessage>,
    responses: Pin<Box<R>>,
}

impl<R: Stream<Item = ServerSseMessage>> Stream for LogsFirst<R> {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(Some(log)) = self.logs.poll_recv(cx) {
            return Poll::Ready(Some(ServerSseMessage::from_message(log)));
        }
        self.responses.as_mut().poll_next(cx)
    }
}

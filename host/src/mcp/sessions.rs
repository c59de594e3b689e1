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

// MCP logging is deprecated from 2026-07-28 (SEP-2577); the handler says why
// the gateway still serves it.
#![allow(deprecated)]

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

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

/// The sending end of one request's SSE stream, in the request's extensions.
/// Unbounded: a call's log lines are capped by the runtime
/// ([`crate::capability::log::MAX_LINES`]), and they end with the call.
#[derive(Debug, Clone)]
pub struct RequestStream(mpsc::UnboundedSender<ServerJsonRpcMessage>);

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

/// [`LocalSessionManager`], with a [`RequestStream`] for every request.
#[derive(Debug, Default)]
pub struct RequestSessions {
    inner: LocalSessionManager,
}

impl SessionManager for RequestSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        self.inner.create_session().await
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.inner.close_session(id).await
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
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.inner.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.inner.restore_session(id).await
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

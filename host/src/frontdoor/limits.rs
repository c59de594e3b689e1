//! The front door's limits beyond its connections' ([`super::listener`]):
//! how many MCP sessions and legacy streams it holds open, for how long
//! unused, how long a request body may take, and how a client past a cap
//! is told.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use serde_json::json;

/// Default time a request body may take to arrive once its headers have:
/// MCP bodies are at most 2 MiB (`MAX_BODY_BYTES`), ~70 KB/s at this bound;
/// a client trickling a body would otherwise hold its connection forever.
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// Default cap on live 2025 sessions: thousands of agents at once, while
/// sessions nobody closes (~90 KiB each, measured) stay under ~100 MiB.
pub const DEFAULT_MAX_SESSIONS: usize = 1000;
/// Default idle expiry of a 2025 session: rmcp's own default, which clients
/// already live with; a session has no connection to tell that its client
/// is still there, so only use keeps it.
pub const DEFAULT_SESSION_IDLE_TIMEOUT_MS: u64 = 300_000;
/// Default cap on open legacy streams: each holds a connection, a session
/// server and its queues; legacy clients are the minority.
pub const DEFAULT_MAX_SSE_STREAMS: usize = 1000;
/// Default time a legacy stream may go without a POSTed message: longer
/// than a 2025 session's, as an open connection already shows its client
/// is there; this only reclaims streams held open and never used.
pub const DEFAULT_SSE_IDLE_TIMEOUT_MS: u64 = 1_800_000;

/// How many long-lived sessions and streams the transports keep, for how
/// long without use, and how long a request body may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    /// A request body not complete this long after its headers is refused
    /// (408) and its connection closed.
    pub body_read_timeout: Duration,
    /// Live 2025 Streamable HTTP sessions at most.
    pub max_sessions: usize,
    /// A session no request touches for this long is closed.
    pub session_idle_timeout: Duration,
    /// Open legacy `GET /sse` streams at most.
    pub max_sse_streams: usize,
    /// A legacy stream no message is POSTed to for this long is ended.
    pub sse_idle_timeout: Duration,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            body_read_timeout: Duration::from_millis(DEFAULT_BODY_READ_TIMEOUT_MS),
            max_sessions: DEFAULT_MAX_SESSIONS,
            session_idle_timeout: Duration::from_millis(DEFAULT_SESSION_IDLE_TIMEOUT_MS),
            max_sse_streams: DEFAULT_MAX_SSE_STREAMS,
            sse_idle_timeout: Duration::from_millis(DEFAULT_SSE_IDLE_TIMEOUT_MS),
        }
    }
}

impl StreamLimits {
    /// The `[server]` settings, defaults where unset.
    pub fn from_settings(settings: &crate::settings::ServerSettings) -> Self {
        let d = Self::default();
        let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
        Self {
            body_read_timeout: ms(settings.body_read_timeout_ms, d.body_read_timeout),
            max_sessions: settings.max_sessions.unwrap_or(d.max_sessions),
            session_idle_timeout: ms(settings.session_idle_timeout_ms, d.session_idle_timeout),
            max_sse_streams: settings.max_sse_streams.unwrap_or(d.max_sse_streams),
            sse_idle_timeout: ms(settings.sse_idle_timeout_ms, d.sse_idle_timeout),
        }
    }
}

/// JSON-RPC error code (server-defined range) of an `initialize` refused
/// because the gateway holds as many live sessions as it may
/// (`[server] max_sessions`); HTTP 503 with `Retry-After`.
pub const TOO_MANY_SESSIONS: i64 = -32050;
/// JSON-RPC error code of a `GET /sse` refused because as many legacy event
/// streams are open as may be (`[server] max_sse_streams`); HTTP 503.
pub const TOO_MANY_STREAMS: i64 = -32051;
/// Seconds a client refused at a cap is asked to wait.
const RETRY_AFTER_SECS: u64 = 5;

/// The answer at a cap: HTTP 503, `Retry-After`, a JSON-RPC error `code`.
pub(crate) fn over_capacity(code: i64, message: &str) -> Response {
    let body = json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}});
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, RETRY_AFTER_SECS.to_string())],
        axum::Json(body),
    )
        .into_response()
}

/// A request body that did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// Whether `error` (or a cause of it) is a [`BodyTimedOut`].
pub(crate) fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// 408, and the connection closes (its body was not read to the end).
pub(crate) fn body_timed_out() -> Response {
    tracing::debug!("request refused: its body did not arrive in time");
    (
        StatusCode::REQUEST_TIMEOUT,
        [(header::CONNECTION, "close")],
        "request body not received in time",
    )
        .into_response()
}

/// A request body that fails once its deadline has passed.
pub(crate) struct Deadline {
    body: Body,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Deadline {
    /// `body`, failing with [`BodyTimedOut`] if not complete within `limit`.
    pub(crate) fn new(body: Body, limit: Duration) -> Self {
        Self {
            body,
            sleep: Box::pin(tokio::time::sleep(limit)),
        }
    }
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

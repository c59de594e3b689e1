//! The Streamable HTTP client transport to an upstream MCP server
//! (`"transport": "http"` in `mcp_connections.json`).
//!
//! rmcp's [`StreamableHttpClientTransport`] runs the protocol (sessions, the
//! GET stream, resumption); [`UpstreamHttpClient`] is the HTTP underneath it,
//! the gateway's own: hyper 1 over `outbound::client::connect` (tokio-rustls
//! with the webpki roots), one connection per request. It sends the
//! connection's own headers on every request, gives up connecting after
//! [`CONNECT_TIMEOUT`], never follows a redirect, and reads at most
//! [`MAX_MESSAGE_BYTES`] of a JSON answer or of one SSE event.
//!
//! The pieces the legacy SSE transport (`sse.rs`) shares live here too: the
//! header check ([`HeaderError`]), the target of a URL and the bounded SSE
//! parser.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use http::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER, WWW_AUTHENTICATE,
};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, ErrorData, JsonRpcMessage, ServerJsonRpcMessage,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, HttpStatusError, InsufficientScopeError, StreamableHttpClient,
    StreamableHttpClientTransportConfig, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};
use sse_stream::{Sse, SseStream};

/// How long resolving, connecting and the TLS handshake to an upstream may
/// take together.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest JSON answer, and largest single SSE event, read from an upstream.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// Longest wait between two reconnections of a session's GET stream.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(30);
/// Largest part of an error answer's body read (then dropped).
const MAX_ERROR_BYTES: usize = 64 << 10;

const JSON: &str = "application/json";
const EVENT_STREAM: &str = "text/event-stream";
const SESSION_ID: &str = "mcp-session-id";
const LAST_EVENT_ID: &str = "last-event-id";

/// Headers a connection may not set: the transport sets them itself (the
/// MCP session and protocol headers, `Accept`), or they frame the message.
const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "connection",
    "content-length",
    "content-type",
    "host",
    "last-event-id",
    "mcp-protocol-version",
    "mcp-session-id",
    "transfer-encoding",
    "upgrade",
];

/// The Streamable HTTP transport [`streamable_http`] returns.
pub type HttpTransport = StreamableHttpClientTransport<UpstreamHttpClient>;

/// A connection's `headers` that cannot be sent. Names the header, never its
/// value (a value is usually a credential).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Not a valid HTTP header name.
    #[error("header {name:?}: not a valid HTTP header name")]
    InvalidName {
        /// The name as configured.
        name: String,
    },
    /// The value has bytes an HTTP header cannot carry (a newline, a NUL…).
    #[error("header {name:?}: its value is not a valid HTTP header value")]
    InvalidValue {
        /// The header's name.
        name: String,
    },
    /// The transport sets this header itself.
    #[error("header {name:?} is set by the transport and cannot be configured")]
    Reserved {
        /// The header's name.
        name: String,
    },
}

/// Why a Streamable HTTP transport could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpTransportError {
    /// The URL is not `http://` or `https://` with a host.
    #[error("the upstream URL must be http:// or https:// with a host")]
    BadUrl,
    /// One of the connection's headers cannot be sent.
    #[error(transparent)]
    Header(#[from] HeaderError),
}

/// What failed in one HTTP exchange with an upstream (the client error of
/// [`HttpTransport`], inside rmcp's `StreamableHttpError::Client`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamHttpError {
    /// The name did not resolve, or the TCP connection or the TLS handshake
    /// failed: the server is not there.
    #[error("connecting to the upstream failed: {reason}")]
    Connect {
        /// What failed.
        reason: String,
    },
    /// Connecting took longer than [`CONNECT_TIMEOUT`].
    #[error("connecting to the upstream took longer than {} s", CONNECT_TIMEOUT.as_secs())]
    ConnectTimeout,
    /// The HTTP exchange broke (the connection dropped, bad HTTP).
    #[error("HTTP exchange with the upstream failed: {0}")]
    Exchange(#[from] hyper::Error),
    /// The request could not be built.
    #[error("building the request: {0}")]
    Request(#[from] http::Error),
    /// A message could not be serialized.
    #[error("serializing the message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Checks a connection's headers and turns them into HTTP headers.
pub(crate) fn header_map(
    headers: &BTreeMap<String, String>,
) -> Result<HashMap<HeaderName, HeaderValue>, HeaderError> {
    let mut map = HashMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderError::InvalidName {
                name: name.to_owned(),
            })?;
        if RESERVED_HEADERS.contains(&header.as_str()) {
            return Err(HeaderError::Reserved {
                name: name.to_owned(),
            });
        }
        let mut value = HeaderValue::from_str(value).map_err(|_| HeaderError::InvalidValue {
            name: name.to_owned(),
        })?;
        value.set_sensitive(true);
        map.insert(header, value);
    }
    Ok(map)
}

/// Where an upstream URL's requests go: the connection, the `Host` header
/// and the request target.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    tls: bool,
    /// The host as in the URL (IPv6 in brackets).
    host: String,
    port: u16,
    authority: HeaderValue,
    /// Path and query: the request target of every request.
    path: String,
}

impl Target {
    /// The target of `url`, if it is `http`/`https` with a host.
    pub(crate) fn new(url: &url::Url) -> Option<Self> {
        let tls = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let host = url.host_str().filter(|h| !h.is_empty())?.to_owned();
        let port = url.port_or_known_default()?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let authority = HeaderValue::from_str(&authority).ok()?;
        let path = url[url::Position::BeforePath..url::Position::AfterQuery].to_owned();
        let path = if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        Some(Self {
            tls,
            host,
            port,
            authority,
            path,
        })
    }

    /// A request builder for `method` on this target, `Host` set.
    pub(crate) fn request(&self, method: Method) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(self.path.as_str())
            .header(HOST, self.authority.clone())
    }

    /// Connects (bounded by [`CONNECT_TIMEOUT`]) and sends `request` on a
    /// connection of its own, which closes once the answer is read.
    pub(crate) async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, UpstreamHttpError> {
        let io = tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .map_err(|_| UpstreamHttpError::ConnectTimeout)??;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(UpstreamHttpError::Exchange)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("upstream MCP connection: {e}");
            }
        });
        Ok(sender.send_request(request).await?)
    }

    async fn connect(&self) -> Result<Box<dyn crate::outbound::client::Io>, UpstreamHttpError> {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<_> = tokio::net::lookup_host((bare, self.port))
            .await
            .map_err(|e| UpstreamHttpError::Connect {
                reason: format!("resolving the host: {e}"),
            })?
            .collect();
        crate::outbound::client::connect(&addrs, &self.host, self.tls, CONNECT_TIMEOUT)
            .await
            .map_err(|e| match e {
                crate::outbound::OutboundError::Timeout => UpstreamHttpError::ConnectTimeout,
                other => UpstreamHttpError::Connect {
                    reason: other.to_string(),
                },
            })
    }
}

/// Whether a `Content-Type` value is `expected` (case aside, parameters
/// such as `charset` ignored).
pub(crate) fn is_media_type(value: Option<&HeaderValue>, expected: &str) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(expected))
}

/// Reads a whole body of at most `max` bytes; `None` if it is larger.
pub(crate) async fn read_body(
    body: Incoming,
    max: usize,
) -> Result<Option<Bytes>, UpstreamHttpError> {
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => Ok(Some(collected.to_bytes())),
        Err(e) => match e.downcast::<hyper::Error>() {
            Ok(e) => Err(UpstreamHttpError::Exchange(*e)),
            // The only other error of `Limited` is its length limit.
            Err(_) => Ok(None),
        },
    }
}

/// An SSE event grew past its bound.
#[derive(Debug, thiserror::Error)]
#[error("an SSE event from the upstream is larger than {max} bytes")]
pub(crate) struct EventTooLarge {
    max: usize,
}

/// Why the byte stream under the SSE parser stopped.
#[derive(Debug, thiserror::Error)]
enum SseBodyError {
    #[error(transparent)]
    TooLarge(#[from] EventTooLarge),
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// Counts the bytes of the event being received: they reset at each blank
/// line (an event's end), and may not pass `max`.
struct EventBound {
    max: usize,
    event: usize,
    line: usize,
    after_cr: bool,
}

impl EventBound {
    fn new(max: usize) -> Self {
        Self {
            max,
            event: 0,
            line: 0,
            after_cr: false,
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<(), EventTooLarge> {
        for &byte in chunk {
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            match byte {
                // The `\n` of a `\r\n` ends nothing more.
                b'\n' if after_cr => {}
                b'\r' | b'\n' => {
                    if self.line == 0 {
                        self.event = 0;
                    } else {
                        self.event = self.event.saturating_add(self.line + 1);
                        self.line = 0;
                    }
                }
                _ => self.line += 1,
            }
            if self.event.saturating_add(self.line) > self.max {
                return Err(EventTooLarge { max: self.max });
            }
        }
        Ok(())
    }
}

/// The SSE events of `body`, none larger than `max` bytes: a larger one, or
/// a broken connection, is an error that ends the stream.
pub(crate) fn bounded_events(
    body: Incoming,
    max: usize,
) -> BoxStream<'static, Result<Sse, sse_stream::Error>> {
    let mut bound = EventBound::new(max);
    let bytes = body
        .into_data_stream()
        .map(move |chunk| match chunk {
            Ok(chunk) => bound
                .feed(&chunk)
                .map(|()| chunk)
                .map_err(SseBodyError::from),
            Err(e) => Err(SseBodyError::from(e)),
        })
        .scan(false, |failed, item| {
            let next = if *failed {
                None
            } else {
                *failed = item.is_err();
                Some(item)
            };
            std::future::ready(next)
        });
    SseStream::from_bytes_stream(bytes).boxed()
}

/// rmcp's [`StreamableHttpClient`] on hyper, bound to one upstream URL.
///
/// Built by [`streamable_http`]; its requests go to that URL whatever URI
/// rmcp passes (always the same one, the transport's).
#[derive(Debug, Clone)]
pub struct UpstreamHttpClient {
    target: Arc<Target>,
}

type HttpResult<T> = Result<T, StreamableHttpError<UpstreamHttpError>>;

fn client_error(e: impl Into<UpstreamHttpError>) -> StreamableHttpError<UpstreamHttpError> {
    StreamableHttpError::Client(e.into())
}

impl UpstreamHttpClient {
    fn request(
        &self,
        method: Method,
        session_id: Option<&str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> http::request::Builder {
        let mut builder = self.target.request(method);
        if let Some(token) = auth_header {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in custom_headers {
            builder = builder.header(name, value);
        }
        if let Some(session_id) = session_id {
            builder = builder.header(SESSION_ID, session_id);
        }
        builder
    }

    /// The 401 and 403 answers that carry a challenge.
    fn auth_failure(
        response: &Response<Incoming>,
    ) -> Option<StreamableHttpError<UpstreamHttpError>> {
        let challenge = response.headers().get(WWW_AUTHENTICATE)?;
        let challenge = String::from_utf8_lossy(challenge.as_bytes()).into_owned();
        match response.status() {
            StatusCode::UNAUTHORIZED => Some(StreamableHttpError::AuthRequired(
                AuthRequiredError::new(challenge),
            )),
            StatusCode::FORBIDDEN => Some(StreamableHttpError::InsufficientScope(
                InsufficientScopeError::new(challenge, None),
            )),
            _ => None,
        }
    }
}

/// The error answer of a server that does not know `server/discover` (an
/// older protocol) becomes that request's JSON-RPC error, which rmcp's
/// lifecycle reads as "legacy server". Only for a sessionless discover
/// answered with a 4xx other than 401/403.
fn discover_rejection(
    message: &ClientJsonRpcMessage,
    had_session: bool,
    status: StatusCode,
    parsed: Option<&ServerJsonRpcMessage>,
) -> Option<StreamableHttpPostResponse> {
    if had_session
        || !status.is_client_error()
        || matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
    {
        return None;
    }
    let ClientJsonRpcMessage::Request(request) = message else {
        return None;
    };
    if !matches!(request.request, ClientRequest::DiscoverRequest(_)) {
        return None;
    }
    let error = match parsed {
        Some(JsonRpcMessage::Error(error)) => error.error.clone(),
        _ => {
            ErrorData::invalid_request(format!("server/discover refused with HTTP {status}"), None)
        }
    };
    Some(StreamableHttpPostResponse::Json(
        ServerJsonRpcMessage::error(error, Some(request.id.clone())),
        None,
    ))
}

impl StreamableHttpClient for UpstreamHttpClient {
    type Error = UpstreamHttpError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<StreamableHttpPostResponse> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits(),
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let mut limits = limits();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        _uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> HttpResult<StreamableHttpPostResponse> {
        let body = serde_json::to_vec(&message).map_err(client_error)?;
        let had_session = session_id.is_some();
        let request = self
            .request(
                Method::POST,
                session_id.as_deref(),
                auth_header,
                custom_headers,
            )
            .header(CONTENT_TYPE, JSON)
            .header(ACCEPT, format!("{JSON}, {EVENT_STREAM}"))
            .body(Full::new(Bytes::from(body)))
            .map_err(client_error)?;
        let response = self.target.send(request).await.map_err(client_error)?;
        let status = response.status();
        if let Some(failure) = Self::auth_failure(&response) {
            return Err(failure);
        }
        if matches!(status, StatusCode::ACCEPTED | StatusCode::NO_CONTENT) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && had_session {
            return Err(StreamableHttpError::SessionExpired);
        }
        let headers = response.headers();
        let content_type = headers.get(CONTENT_TYPE).cloned();
        let is_json = is_media_type(content_type.as_ref(), JSON);
        let empty = headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() == b"0");
        let new_session = headers
            .get(SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let awaits_nothing = !matches!(message, ClientJsonRpcMessage::Request(_));

        if !status.is_success() {
            // A JSON-RPC error in the body answers the request; anything
            // else is the status alone (a redirect is not followed), never
            // the body.
            let limit = if is_json {
                limits.max_json_response_size
            } else {
                limits.max_error_response_size
            };
            let body = read_body(response.into_body(), limit)
                .await
                .map_err(client_error)?;
            let parsed = body
                .filter(|_| is_json)
                .and_then(|b| serde_json::from_slice::<ServerJsonRpcMessage>(&b).ok());
            if let Some(rejection) =
                discover_rejection(&message, had_session, status, parsed.as_ref())
            {
                return Ok(rejection);
            }
            if let Some(error @ JsonRpcMessage::Error(_)) = parsed {
                return Ok(StreamableHttpPostResponse::Json(error, new_session));
            }
            return Err(StreamableHttpError::HttpStatus(HttpStatusError::new(
                status.as_u16(),
                retry_after,
            )));
        }
        if empty && awaits_nothing {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if is_media_type(content_type.as_ref(), EVENT_STREAM) {
            let events = bounded_events(response.into_body(), limits.max_sse_event_size);
            return Ok(StreamableHttpPostResponse::Sse(events, new_session));
        }
        if is_json {
            let max = limits.max_json_response_size;
            let body = read_body(response.into_body(), max)
                .await
                .map_err(client_error)?
                .ok_or(StreamableHttpError::ResponseBodyTooLarge { max_size: max })?;
            return match serde_json::from_slice::<ServerJsonRpcMessage>(&body) {
                Ok(parsed) => Ok(StreamableHttpPostResponse::Json(parsed, new_session)),
                Err(_) if awaits_nothing => Ok(StreamableHttpPostResponse::Accepted),
                Err(e) => Err(StreamableHttpError::Deserialize(e)),
            };
        }
        if awaits_nothing {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        Err(StreamableHttpError::UnexpectedContentType(
            content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        ))
    }

    async fn delete_session(
        &self,
        _uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<()> {
        let request = self
            .request(
                Method::DELETE,
                Some(&session_id),
                auth_header,
                custom_headers,
            )
            .body(Full::new(Bytes::new()))
            .map_err(client_error)?;
        let response = self.target.send(request).await.map_err(client_error)?;
        let status = response.status();
        if status.is_success() || status == StatusCode::METHOD_NOT_ALLOWED {
            return Ok(());
        }
        Err(StreamableHttpError::UnexpectedServerResponse(Cow::Owned(
            format!("deleting the session: HTTP {status}"),
        )))
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> HttpResult<BoxStream<'static, Result<Sse, sse_stream::Error>>> {
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            MAX_MESSAGE_BYTES,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        _uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> HttpResult<BoxStream<'static, Result<Sse, sse_stream::Error>>> {
        let mut builder = self
            .request(
                Method::GET,
                session_id.as_deref(),
                auth_header,
                custom_headers,
            )
            .header(ACCEPT, EVENT_STREAM);
        if let Some(id) = last_event_id {
            builder = builder.header(LAST_EVENT_ID, id);
        }
        let request = builder
            .body(Full::new(Bytes::new()))
            .map_err(client_error)?;
        let response = self.target.send(request).await.map_err(client_error)?;
        if let Some(failure) = Self::auth_failure(&response) {
            return Err(failure);
        }
        let status = response.status();
        if status == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if !status.is_success() {
            return Err(StreamableHttpError::HttpStatus(HttpStatusError::new(
                status.as_u16(),
                None,
            )));
        }
        let content_type = response.headers().get(CONTENT_TYPE);
        if !is_media_type(content_type, EVENT_STREAM) {
            return Err(StreamableHttpError::UnexpectedContentType(
                content_type.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            ));
        }
        Ok(bounded_events(response.into_body(), max_sse_event_size))
    }
}

/// The transport's bounds, passed to every request.
fn limits() -> StreamableHttpResponseLimits {
    let mut limits = StreamableHttpResponseLimits::default();
    limits.max_sse_event_size = MAX_MESSAGE_BYTES;
    limits.max_json_response_size = MAX_MESSAGE_BYTES;
    limits.max_error_response_size = MAX_ERROR_BYTES;
    limits
}

/// A Streamable HTTP transport to the MCP server at `url`, sending
/// `headers` (the connection's own, such as `Authorization`) on every
/// request. Nothing is sent until the transport is served
/// (`().serve(transport)`); connecting then fails as
/// `StreamableHttpError::Client(UpstreamHttpError::Connect { .. })`.
///
/// Must be called inside a tokio runtime (the transport's worker is a task).
pub fn streamable_http(
    url: &url::Url,
    headers: &BTreeMap<String, String>,
) -> Result<HttpTransport, HttpTransportError> {
    let target = Target::new(url).ok_or(HttpTransportError::BadUrl)?;
    let headers = header_map(headers)?;
    // The GET stream of a session reconnects after a drop, at most every
    // 30 s (rmcp's default doubles its delay without end).
    let mut backoff = ExponentialBackoff::default();
    backoff.max_delay = Some(MAX_RECONNECT_DELAY);
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str())
        .custom_headers(headers)
        .max_json_response_size(MAX_MESSAGE_BYTES)
        .max_sse_event_size(MAX_MESSAGE_BYTES)
        .max_error_response_size(MAX_ERROR_BYTES);
    config.retry_config = Arc::new(backoff);
    let client = UpstreamHttpClient {
        target: Arc::new(target),
    };
    Ok(StreamableHttpClientTransport::with_client(client, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_bound_counts_one_event_at_a_time() {
        for eol in ["\n", "\r\n", "\r"] {
            // 32 bytes an event: ten of them pass a bound of 40, however the
            // stream is cut into chunks.
            let event = format!("event: message{eol}data: 0123456789{eol}{eol}");
            let stream = event.repeat(10);
            for size in [1, 7, stream.len()] {
                let mut bound = EventBound::new(40);
                for chunk in stream.as_bytes().chunks(size) {
                    assert!(bound.feed(chunk).is_ok(), "{eol:?} in chunks of {size}");
                }
            }
            // One event of 41 bytes does not.
            let mut bound = EventBound::new(40);
            let big = format!("data: {}{eol}{eol}", "x".repeat(34));
            assert!(bound.feed(big.as_bytes()).is_err(), "{eol:?}");
        }
    }

    #[test]
    fn a_url_is_the_connection_host_header_and_request_target() {
        let target = |s: &str| url::Url::parse(s).ok().as_ref().and_then(Target::new);
        let got = target("http://[::1]:8080/mcp?key=1")
            .map(|t| (t.tls, t.host, t.port, t.authority, t.path));
        assert_eq!(
            got,
            Some((
                false,
                "[::1]".to_owned(),
                8080,
                HeaderValue::from_static("[::1]:8080"),
                "/mcp?key=1".to_owned()
            ))
        );
        let got = target("https://mcp.example.com").map(|t| (t.tls, t.port, t.authority, t.path));
        assert_eq!(
            got,
            Some((
                true,
                443,
                HeaderValue::from_static("mcp.example.com"),
                "/".to_owned()
            ))
        );
        assert!(target("ftp://mcp.example.com/").is_none());
        assert!(target("unix:/run/mcp.sock").is_none());
    }
}

//! The legacy HTTP+SSE client transport (MCP 2024-11-05) to an upstream MCP
//! server (`"transport": "sse"` in `mcp_connections.json`).
//!
//! A GET opens the server's event stream; its first `endpoint` event names
//! where to POST (resolved against the stream's URL, and refused on another
//! origin: the connection's headers, credentials, go nowhere else). Every
//! client message is then POSTed there as JSON, and every `message` event of
//! the stream is a server message. The stream ending closes the transport.
//!
//! Same HTTP as Streamable HTTP (`http.rs`): the connection's headers on
//! every request, [`CONNECT_TIMEOUT`], no redirects, events of at most
//! [`MAX_MESSAGE_BYTES`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::Full;
use rmcp::RoleClient;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use sse_stream::Sse;

use super::http::{
    CONNECT_TIMEOUT, HeaderError, MAX_MESSAGE_BYTES, Target, UpstreamHttpError, bounded_events,
    header_map, is_media_type, read_body,
};

/// How long the server may take to answer the GET and send its `endpoint`
/// event, once connected.
pub const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer body read (then dropped) from a POST.
const MAX_POST_ANSWER_BYTES: usize = 64 << 10;

/// Why the legacy SSE transport could not be set up, or could not send.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SseTransportError {
    /// The URL is not `http://` or `https://` with a host.
    #[error("the upstream URL must be http:// or https:// with a host")]
    BadUrl,
    /// One of the connection's headers cannot be sent.
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// Connecting or the HTTP exchange failed (`Connect`: the server is not
    /// there).
    #[error(transparent)]
    Http(#[from] UpstreamHttpError),
    /// The GET, or a POST, was answered with this status.
    #[error("the upstream answered HTTP {status}")]
    Status {
        /// The HTTP status.
        status: u16,
    },
    /// The GET's answer is not an event stream.
    #[error("the upstream's answer is not an event stream (content type {content_type:?})")]
    NotEventStream {
        /// Its `Content-Type`, if any.
        content_type: Option<String>,
    },
    /// The stream ended, or broke, before its `endpoint` event.
    #[error("the upstream's event stream ended before naming its endpoint")]
    NoEndpoint,
    /// No `endpoint` event within [`ENDPOINT_TIMEOUT`].
    #[error("the upstream sent no endpoint within {} s", ENDPOINT_TIMEOUT.as_secs())]
    EndpointTimeout,
    /// The `endpoint` event's data is not a URL, even relative to the
    /// stream's.
    #[error("the upstream's endpoint is not a URL")]
    BadEndpoint,
    /// The endpoint is on another origin than the stream: refused, the
    /// connection's headers are only sent to its own server.
    #[error("the upstream's endpoint is on another origin ({origin}) than its event stream")]
    ForeignEndpoint {
        /// The endpoint's origin (`scheme://host:port`).
        origin: String,
    },
    /// A message could not be serialized.
    #[error("serializing the message: {0}")]
    Json(#[from] serde_json::Error),
}

/// A legacy HTTP+SSE transport to one upstream server, as [`legacy_sse`]
/// connected it.
pub struct LegacySseTransport {
    events: BoxStream<'static, Result<Sse, sse_stream::Error>>,
    poster: Arc<Poster>,
}

impl std::fmt::Debug for LegacySseTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacySseTransport").finish_non_exhaustive()
    }
}

/// Where and how client messages are POSTed.
struct Poster {
    endpoint: Target,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Poster {
    async fn post(&self, message: ClientJsonRpcMessage) -> Result<(), SseTransportError> {
        let body = serde_json::to_vec(&message)?;
        let mut builder = self
            .endpoint
            .request(Method::POST)
            .header(CONTENT_TYPE, "application/json");
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(UpstreamHttpError::from)?;
        let response = self.endpoint.send(request).await?;
        let status = response.status();
        // The answer (`Accepted`) says nothing; drained so the connection
        // ends cleanly.
        read_body(response.into_body(), MAX_POST_ANSWER_BYTES).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(SseTransportError::Status {
                status: status.as_u16(),
            })
        }
    }
}

impl Transport<RoleClient> for LegacySseTransport {
    type Error = SseTransportError;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let poster = Arc::clone(&self.poster);
        async move { poster.post(item).await }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        loop {
            let event = match self.events.next().await? {
                Ok(event) => event,
                Err(e) => {
                    tracing::debug!("upstream SSE stream ended: {e}");
                    return None;
                }
            };
            // `message` (or unnamed) events carry the server's messages;
            // anything else (a repeated `endpoint`, pings) is not for us.
            if event.event.as_deref().is_some_and(|name| name != "message") {
                continue;
            }
            let Some(data) = event.data else { continue };
            match serde_json::from_str::<ServerJsonRpcMessage>(&data) {
                Ok(message) => return Some(message),
                Err(e) => {
                    tracing::warn!("upstream SSE message is not JSON-RPC, skipped: {e}");
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.events = futures::stream::empty().boxed();
        Ok(())
    }
}

/// Connects to the legacy SSE server at `url`, sending `headers` (the
/// connection's own, such as `Authorization`) on the GET and every POST, and
/// waits for its `endpoint`.
pub async fn legacy_sse(
    url: &url::Url,
    headers: &BTreeMap<String, String>,
) -> Result<LegacySseTransport, SseTransportError> {
    let target = Target::new(url).ok_or(SseTransportError::BadUrl)?;
    let headers: Vec<_> = header_map(headers)?.into_iter().collect();
    let mut builder = target
        .request(Method::GET)
        .header(ACCEPT, "text/event-stream");
    for (name, value) in &headers {
        builder = builder.header(name, value);
    }
    let request = builder
        .body(Full::new(Bytes::new()))
        .map_err(UpstreamHttpError::from)?;
    let opened = async {
        let response = target.send(request).await?;
        let status = response.status();
        if status != StatusCode::OK {
            return Err(SseTransportError::Status {
                status: status.as_u16(),
            });
        }
        let content_type = response.headers().get(CONTENT_TYPE);
        if !is_media_type(content_type, "text/event-stream") {
            return Err(SseTransportError::NotEventStream {
                content_type: content_type
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            });
        }
        let mut events = bounded_events(response.into_body(), MAX_MESSAGE_BYTES);
        let endpoint = loop {
            match events.next().await {
                Some(Ok(event)) if event.event.as_deref() == Some("endpoint") => {
                    break event.data.unwrap_or_default();
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(SseTransportError::NoEndpoint),
            }
        };
        Ok::<_, SseTransportError>((events, endpoint))
    };
    // Connecting has its own bound (`CONNECT_TIMEOUT`); this one is for the
    // answer and the endpoint event after it.
    let (events, endpoint) = tokio::time::timeout(CONNECT_TIMEOUT + ENDPOINT_TIMEOUT, opened)
        .await
        .map_err(|_| SseTransportError::EndpointTimeout)??;
    let endpoint = resolve_endpoint(url, &endpoint)?;
    let endpoint = Target::new(&endpoint).ok_or(SseTransportError::BadEndpoint)?;
    Ok(LegacySseTransport {
        events,
        poster: Arc::new(Poster { endpoint, headers }),
    })
}

/// The endpoint `data` names, resolved against the stream's `url`, if it is
/// on the same origin.
fn resolve_endpoint(url: &url::Url, data: &str) -> Result<url::Url, SseTransportError> {
    let endpoint = url
        .join(data.trim())
        .map_err(|_| SseTransportError::BadEndpoint)?;
    if endpoint.origin() != url.origin() {
        return Err(SseTransportError::ForeignEndpoint {
            origin: endpoint.origin().ascii_serialization(),
        });
    }
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn an_endpoint_resolves_against_the_stream_url() {
        let sse = url("http://127.0.0.1:8000/mcp/sse");
        let cases = [
            (
                "/messages/?session_id=1",
                "http://127.0.0.1:8000/messages/?session_id=1",
            ),
            ("messages?s=2", "http://127.0.0.1:8000/mcp/messages?s=2"),
            ("http://127.0.0.1:8000/m", "http://127.0.0.1:8000/m"),
        ];
        for (data, want) in cases {
            let got = resolve_endpoint(&sse, data).map(|u| u.to_string());
            assert_eq!(got.ok().as_deref(), Some(want), "{data}");
        }
    }

    #[test]
    fn an_endpoint_on_another_origin_is_refused() {
        let sse = url("http://127.0.0.1:8000/sse");
        for data in [
            "http://127.0.0.1:8001/messages",
            "https://127.0.0.1:8000/messages",
            "http://evil.example/messages",
            "//evil.example/messages",
        ] {
            let got = resolve_endpoint(&sse, data);
            assert!(
                matches!(got, Err(SseTransportError::ForeignEndpoint { .. })),
                "{data}: {got:?}"
            );
        }
    }
}

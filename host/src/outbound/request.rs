//! The one request value both doors hand to the policy and the client: a
//! parsed method, URL and header map, so nothing downstream reads strings.
//!
//! The gateway `http` interface builds it from the guest's strings
//! ([`OutboundRequest::from_guest`]); `wasi:http` from its typed request
//! head ([`OutboundRequest::from_head`]). What does not parse is refused as
//! the policy step it belongs to (docs/security.md, "Outbound HTTP").

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use url::Url;

use super::policy::DeniedReason;

/// Default connect timeout for upstream requests.
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Default wait for the first response byte.
const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u64 = 15_000;
/// Default wait between response body chunks (a trickling upstream).
const DEFAULT_BETWEEN_BYTES_TIMEOUT_MS: u64 = 10_000;

/// Upstream timeouts the host clamps every request to, whatever the guest asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect plus TLS handshake.
    pub connect: Duration,
    /// Until the response head arrives.
    pub first_byte: Duration,
    /// Between body chunks.
    pub between_bytes: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_millis(DEFAULT_CONNECT_TIMEOUT_MS),
            first_byte: Duration::from_millis(DEFAULT_FIRST_BYTE_TIMEOUT_MS),
            between_bytes: Duration::from_millis(DEFAULT_BETWEEN_BYTES_TIMEOUT_MS),
        }
    }
}

/// A request as the gateway `http` interface receives it: the guest's strings.
#[derive(Debug, Clone)]
pub struct GuestRequest {
    /// Method as the guest spelled it.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Guest-set headers.
    pub headers: Vec<(String, String)>,
    /// Body, if any (a GET/HEAD with a body is refused).
    pub body: Option<Vec<u8>>,
}

/// One outbound request, parsed once at its door.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// The method (any valid token; the policy decides which are granted).
    pub method: Method,
    /// The absolute URL, fragment removed (it is never sent).
    pub url: Url,
    /// Guest-set headers (the policy refuses the ones only the host may set).
    pub headers: HeaderMap,
    /// The body; `None` when the guest sent none (a GET/HEAD with one is refused).
    pub body: Option<Bytes>,
}

impl OutboundRequest {
    /// Parses the gateway `http` interface's strings. A URL that does not
    /// parse is `InvalidUrl`, a method that is not an HTTP token `Method`, a
    /// header name or value that is not valid HTTP `ForbiddenHeader`.
    pub fn from_guest(req: GuestRequest) -> Result<Self, DeniedReason> {
        let url = parse_url(&req.url)?;
        // An invalid token matches no rule: Method, like any ungranted method.
        let method = Method::from_bytes(req.method.as_bytes()).map_err(|_| DeniedReason::Method)?;
        let mut headers = HeaderMap::with_capacity(req.headers.len());
        for (name, value) in &req.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| DeniedReason::ForbiddenHeader)?;
            let value = HeaderValue::from_bytes(value.as_bytes())
                .map_err(|_| DeniedReason::ForbiddenHeader)?;
            headers.append(name, value);
        }
        Ok(Self {
            method,
            url,
            headers,
            body: req.body.map(Bytes::from),
        })
    }

    /// A `wasi:http` request head (already typed; its URI is re-read as a
    /// WHATWG URL, the form the policy's host and path checks are written
    /// for). An empty body counts as none.
    pub fn from_head(parts: http::request::Parts, body: Bytes) -> Result<Self, DeniedReason> {
        Ok(Self {
            url: parse_url(&parts.uri.to_string())?,
            method: parts.method,
            headers: parts.headers,
            body: (!body.is_empty()).then_some(body),
        })
    }

    /// Whether the request carries a body.
    pub fn has_body(&self) -> bool {
        self.body.is_some()
    }
}

fn parse_url(url: &str) -> Result<Url, DeniedReason> {
    let mut url = Url::parse(url).map_err(|_| DeniedReason::InvalidUrl)?;
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn guest(method: &str, url: &str, headers: &[(&str, &str)]) -> GuestRequest {
        GuestRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: None,
        }
    }

    #[test]
    fn what_does_not_parse_is_refused_as_its_step() {
        use DeniedReason as D;
        let cases = [
            (guest("GET", "not a url", &[]), D::InvalidUrl),
            (guest("GE T", "https://a.example/", &[]), D::Method),
            (guest("", "https://a.example/", &[]), D::Method),
            (
                guest("GET", "https://a.example/", &[("Bad Name", "x")]),
                D::ForbiddenHeader,
            ),
            (
                guest("GET", "https://a.example/", &[("X-A", "a\r\nb")]),
                D::ForbiddenHeader,
            ),
        ];
        for (req, want) in cases {
            let shown = format!("{req:?}");
            assert_eq!(
                OutboundRequest::from_guest(req).err(),
                Some(want),
                "{shown}"
            );
        }
    }

    #[test]
    fn the_fragment_is_dropped_and_headers_kept_in_order() {
        let req = OutboundRequest::from_guest(guest(
            "POST",
            "https://a.example/x?q=1#frag",
            &[("X-A", "1"), ("x-a", "2")],
        ))
        .unwrap();
        assert_eq!(req.url.as_str(), "https://a.example/x?q=1");
        assert_eq!(req.method, Method::POST);
        let values: Vec<_> = req.headers.get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
        assert!(!req.has_body());
    }
}

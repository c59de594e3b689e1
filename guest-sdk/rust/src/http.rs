//! Outbound HTTP through the gateway.
//!
//! Requests go only to the upstreams the tool's `tool.toml` lists, with GET and
//! HEAD unless an admin approved more. The gateway adds secret headers itself
//! (the tool never sees them), returns redirects instead of following them,
//! and reads the whole response before handing it over.
//!
//! ```no_run
//! # fn demo() -> Result<(), gateway_tool::http::Error> {
//! use gateway_tool::http;
//!
//! let resp = http::get_with_headers(
//!     "https://api.example.com/items/7",
//!     &[("Accept", "application/json")],
//! )?
//! .error_for_status()?;
//! let item: serde_json::Value = resp.json()?;
//! # let _ = item; Ok(()) }
//! ```

use std::fmt;

use serde::de::DeserializeOwned;

use crate::bindings::gateway::tool::http as wit;

/// How much of an error response's body goes into [`Error::Status`].
const STATUS_BODY_CHARS: usize = 200;

/// An outbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// HTTP method, e.g. `"GET"`.
    pub method: String,
    /// Absolute URL, e.g. `"https://api.github.com/repos/o/r"`.
    pub url: String,
    /// Header name/value pairs. The gateway refuses Host, Connection,
    /// Transfer-Encoding, Proxy-* and the headers it injects itself.
    pub headers: Vec<(String, String)>,
    /// Request body; refused on GET and HEAD.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// A GET request.
    pub fn get(url: impl Into<String>) -> Self {
        Request::new("GET", url)
    }

    /// A HEAD request.
    pub fn head(url: impl Into<String>) -> Self {
        Request::new("HEAD", url)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sends the request; see [`send`].
    pub fn send(self) -> Result<Response, Error> {
        send(self)
    }
}

/// A complete upstream response. Any status counts as a response; see
/// [`Response::error_for_status`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Header name/value pairs as received.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header; names compare case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The response itself if the status is 2xx, otherwise [`Error::Status`].
    pub fn error_for_status(self) -> Result<Self, Error> {
        if self.is_success() {
            return Ok(self);
        }
        let text = String::from_utf8_lossy(&self.body);
        Err(Error::Status {
            status: self.status,
            body: text.trim().chars().take(STATUS_BODY_CHARS).collect(),
        })
    }

    /// The body as UTF-8 text.
    pub fn text(&self) -> Result<&str, Error> {
        std::str::from_utf8(&self.body)
            .map_err(|e| Error::Decode(format!("response body is not UTF-8: {e}")))
    }

    /// The body parsed as JSON. Fields of `T` the body lacks, or has with the
    /// wrong type, give an [`Error::Decode`] naming the field.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(de)
            .map_err(|e| Error::Decode(crate::export::describe_path_error(&e)))
    }
}

/// Which policy check refused a request (WIT `denied-reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeniedReason {
    /// The URL did not parse or has no host.
    InvalidUrl,
    /// The scheme is not allowed for this host.
    Scheme,
    /// No allow-list entry matches the host.
    Host,
    /// The port is not the scheme default nor a listed port.
    Port,
    /// The path is outside the entry's path prefix.
    Path,
    /// The method is not granted (writes need an admin approval).
    Method,
    /// GET and HEAD requests may not carry a body.
    BodyNotAllowed,
    /// The request sets a header the gateway forbids or injects itself.
    ForbiddenHeader,
    /// Every address the host resolves to is private, loopback or otherwise non-global.
    PrivateAddress,
    /// The tool has used up its per-call request budget.
    RequestBudget,
    /// The caller did not confirm a write the admin requires confirmed
    /// (declined, no answer, or a client that cannot be asked).
    NotConfirmed,
}

impl DeniedReason {
    /// The WIT name, e.g. `"invalid-url"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeniedReason::InvalidUrl => "invalid-url",
            DeniedReason::Scheme => "scheme",
            DeniedReason::Host => "host",
            DeniedReason::Port => "port",
            DeniedReason::Path => "path",
            DeniedReason::Method => "method",
            DeniedReason::BodyNotAllowed => "body-not-allowed",
            DeniedReason::ForbiddenHeader => "forbidden-header",
            DeniedReason::PrivateAddress => "private-address",
            DeniedReason::RequestBudget => "request-budget",
            DeniedReason::NotConfirmed => "not-confirmed",
        }
    }

    fn explain(self) -> &'static str {
        match self {
            DeniedReason::InvalidUrl => "the URL did not parse or has no host",
            DeniedReason::Scheme => "the scheme is not allowed for this host",
            DeniedReason::Host => "the host is not in the tool's allow-list",
            DeniedReason::Port => "the port is not allowed for this host",
            DeniedReason::Path => "the path is outside the allowed prefix",
            DeniedReason::Method => "the method is not granted to this tool",
            DeniedReason::BodyNotAllowed => "GET and HEAD requests may not carry a body",
            DeniedReason::ForbiddenHeader => "the request sets a forbidden header",
            DeniedReason::PrivateAddress => "the host resolves only to non-public addresses",
            DeniedReason::RequestBudget => "the per-call request budget is used up",
            DeniedReason::NotConfirmed => "the caller did not confirm this write",
        }
    }
}

impl fmt::Display for DeniedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.explain())
    }
}

/// Why a request gave no usable response.
///
/// `Denied` to `Protocol` mirror the WIT `http-error`; `Decode` and `Status`
/// come from this crate's [`Response`] helpers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The gateway's policy refused the request; nothing was sent.
    Denied(DeniedReason),
    /// Name resolution failed.
    Dns(String),
    /// Connecting or the TLS handshake failed.
    Connect(String),
    /// A connect, first-byte, between-bytes or total timeout expired.
    Timeout,
    /// The response body exceeded the tool's upstream byte limit.
    TooLarge,
    /// The upstream broke the HTTP protocol or the connection dropped.
    Protocol(String),
    /// The body was not the expected UTF-8 or JSON.
    Decode(String),
    /// A non-2xx status, from [`Response::error_for_status`].
    Status {
        /// The status code.
        status: u16,
        /// The start of the response body, to show what the upstream said.
        body: String,
    },
}

impl Error {
    /// A short stable name: the WIT case (`"denied"`, `"too-large"`, ...),
    /// `"decode"` or `"status"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Denied(_) => "denied",
            Error::Dns(_) => "dns",
            Error::Connect(_) => "connect",
            Error::Timeout => "timeout",
            Error::TooLarge => "too-large",
            Error::Protocol(_) => "protocol",
            Error::Decode(_) => "decode",
            Error::Status { .. } => "status",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Denied(r) => write!(f, "request denied by the gateway ({}): {r}", r.as_str()),
            Error::Dns(m) => write!(f, "DNS lookup failed: {m}"),
            Error::Connect(m) => write!(f, "connection failed: {m}"),
            Error::Timeout => f.write_str("the upstream timed out"),
            Error::TooLarge => f.write_str("the response exceeded the tool's upstream byte limit"),
            Error::Protocol(m) => write!(f, "HTTP protocol error: {m}"),
            Error::Decode(m) => write!(f, "could not decode the response: {m}"),
            Error::Status { status, body } if body.is_empty() => {
                write!(f, "upstream answered HTTP {status}")
            }
            Error::Status { status, body } => write!(f, "upstream answered HTTP {status}: {body}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<wit::DeniedReason> for DeniedReason {
    fn from(r: wit::DeniedReason) -> Self {
        match r {
            wit::DeniedReason::InvalidUrl => DeniedReason::InvalidUrl,
            wit::DeniedReason::Scheme => DeniedReason::Scheme,
            wit::DeniedReason::Host => DeniedReason::Host,
            wit::DeniedReason::Port => DeniedReason::Port,
            wit::DeniedReason::Path => DeniedReason::Path,
            wit::DeniedReason::Method => DeniedReason::Method,
            wit::DeniedReason::BodyNotAllowed => DeniedReason::BodyNotAllowed,
            wit::DeniedReason::ForbiddenHeader => DeniedReason::ForbiddenHeader,
            wit::DeniedReason::PrivateAddress => DeniedReason::PrivateAddress,
            wit::DeniedReason::RequestBudget => DeniedReason::RequestBudget,
            wit::DeniedReason::NotConfirmed => DeniedReason::NotConfirmed,
        }
    }
}

impl From<wit::HttpError> for Error {
    fn from(e: wit::HttpError) -> Self {
        match e {
            wit::HttpError::Denied(r) => Error::Denied(r.into()),
            wit::HttpError::Dns(m) => Error::Dns(m),
            wit::HttpError::Connect(m) => Error::Connect(m),
            wit::HttpError::Timeout => Error::Timeout,
            wit::HttpError::TooLarge => Error::TooLarge,
            wit::HttpError::Protocol(m) => Error::Protocol(m),
        }
    }
}

/// Sends a request and reads the whole response.
pub fn send(req: Request) -> Result<Response, Error> {
    let req = wit::Request {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: req.body,
    };
    let resp = wit::send(&req)?;
    Ok(Response {
        status: resp.status,
        headers: resp.headers,
        body: resp.body,
    })
}

/// GET a URL.
pub fn get(url: &str) -> Result<Response, Error> {
    send(Request::get(url))
}

/// GET a URL with extra headers.
pub fn get_with_headers(url: &str, headers: &[(&str, &str)]) -> Result<Response, Error> {
    let mut req = Request::get(url);
    req.headers = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    send(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("x-ratelimit-remaining".into(), "59".into()),
                ("content-type".into(), "text/plain".into()),
            ],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn header_lookup_ignores_case_and_takes_the_first() {
        let r = response(200, "");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("X-RateLimit-Remaining"), Some("59"));
        assert_eq!(r.header("etag"), None);
    }

    #[test]
    fn error_for_status_keeps_2xx_and_reports_the_rest() {
        assert!(response(204, "").error_for_status().is_ok());
        let err = response(404, "  {\"message\":\"Not Found\"}\n").error_for_status();
        assert_eq!(
            err,
            Err(Error::Status {
                status: 404,
                body: "{\"message\":\"Not Found\"}".into()
            })
        );
        let long = "x".repeat(1000);
        match response(500, &long).error_for_status() {
            Err(Error::Status { body, .. }) => assert_eq!(body.len(), STATUS_BODY_CHARS),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            Error::Status {
                status: 502,
                body: String::new()
            }
            .to_string(),
            "upstream answered HTTP 502"
        );
    }

    #[test]
    fn json_decode_errors_name_the_field() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code, reason = "the test only decodes into it")]
        struct Repo {
            license: License,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code, reason = "the test only decodes into it")]
        struct License {
            spdx_id: String,
        }
        let r = response(200, r#"{"license":{"spdx_id":7}}"#);
        match r.json::<Repo>() {
            Err(Error::Decode(m)) => assert!(m.starts_with("license.spdx_id: invalid type"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(response(200, "héllo").text(), Ok("héllo"));
        let bad = Response {
            body: vec![0xff],
            ..response(200, "")
        };
        assert!(matches!(bad.text(), Err(Error::Decode(_))));
    }

    #[test]
    fn wit_errors_convert_case_by_case() {
        let cases = [
            (
                wit::HttpError::Denied(wit::DeniedReason::PrivateAddress),
                "denied",
                "private-address",
            ),
            (
                wit::HttpError::Denied(wit::DeniedReason::InvalidUrl),
                "denied",
                "invalid-url",
            ),
            (wit::HttpError::Dns("x".into()), "dns", ""),
            (wit::HttpError::Connect("x".into()), "connect", ""),
            (wit::HttpError::Timeout, "timeout", ""),
            (wit::HttpError::TooLarge, "too-large", ""),
            (wit::HttpError::Protocol("x".into()), "protocol", ""),
        ];
        for (wit_err, kind, reason) in cases {
            let err = Error::from(wit_err);
            assert_eq!(err.kind(), kind);
            if let Error::Denied(r) = err {
                assert_eq!(r.as_str(), reason);
            }
        }
    }

    #[test]
    fn request_builder_collects_headers_and_body() {
        let r = Request::new("POST", "https://api.example.com/x")
            .header("Accept", "application/json")
            .body("{}");
        assert_eq!(r.method, "POST");
        assert_eq!(
            r.headers,
            vec![("Accept".to_string(), "application/json".to_string())]
        );
        assert_eq!(r.body.as_deref(), Some(&b"{}"[..]));
    }
}

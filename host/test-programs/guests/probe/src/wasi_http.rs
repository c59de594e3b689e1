//! One request through plain `wasi:http/outgoing-handler`, the door std-only
//! and componentize-py guests use. The gateway must apply the same policy here.
//!
//! Child resources are dropped before their parents (stream, then body, then
//! response); wasmtime traps on a parent dropped with live children.

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use wasi::io::streams::StreamError;

use crate::{Failure, Reply};

/// Largest write `blocking-write-and-flush` accepts.
const WRITE_CHUNK: usize = 4096;
/// Bytes asked for per read; the host's upstream limit bounds the total.
const READ_CHUNK: u64 = 64 * 1024;

pub fn send(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Option<&[u8]>,
) -> Result<Reply, Failure> {
    let (scheme, authority, path) =
        split_url(url).ok_or_else(|| other(format!("cannot split URL {url:?}")))?;
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| Failure::WasiHeader {
                code: variant_name(&format!("{e:?}")),
            })?;
    }
    let request = OutgoingRequest::new(fields);
    request
        .set_method(&method_of(method))
        .map_err(|()| other("method rejected"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| other("scheme rejected"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| other("authority rejected"))?;
    request
        .set_path_with_query(Some(&path))
        .map_err(|()| other("path rejected"))?;

    let outgoing_body = match body {
        Some(bytes) => Some(write_body(&request, bytes)?),
        None => None,
    };
    let future = outgoing_handler::handle(request, None).map_err(|e| wasi_failure(&e))?;
    if let Some(b) = outgoing_body {
        OutgoingBody::finish(b, None).map_err(|e| wasi_failure(&e))?;
    }

    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(wasi_failure(&e)),
        Some(Err(())) => return Err(other("response already taken")),
        None => return Err(other("response not ready after block")),
    };
    let status = response.status();
    let header_fields = response.headers();
    let headers = header_fields
        .entries()
        .into_iter()
        .map(|(n, v)| (n, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    drop(header_fields);
    let incoming = response
        .consume()
        .map_err(|()| other("response body already taken"))?;
    let body = read_body(&incoming);
    drop(IncomingBody::finish(incoming));
    drop(response);
    drop(future);
    Ok(Reply {
        status,
        headers,
        body: body?,
    })
}

fn write_body(request: &OutgoingRequest, bytes: &[u8]) -> Result<OutgoingBody, Failure> {
    let body = request
        .body()
        .map_err(|()| other("request body already taken"))?;
    let stream = body
        .write()
        .map_err(|()| other("request body stream already taken"))?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| stream_failure(&e))?;
    }
    drop(stream);
    Ok(body)
}

fn read_body(incoming: &IncomingBody) -> Result<Vec<u8>, Failure> {
    let stream = incoming
        .stream()
        .map_err(|()| other("response stream already taken"))?;
    let mut body = Vec::new();
    let result = loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => body.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break Ok(body),
            Err(e) => break Err(stream_failure(&e)),
        }
    };
    drop(stream);
    result
}

fn stream_failure(e: &StreamError) -> Failure {
    match e {
        StreamError::LastOperationFailed(err) => match wasi::http::types::http_error_code(err) {
            Some(code) => wasi_failure(&code),
            None => other(err.to_debug_string()),
        },
        StreamError::Closed => other("stream closed"),
    }
}

fn wasi_failure(code: &ErrorCode) -> Failure {
    Failure::Wasi {
        code: variant_name(&format!("{code:?}")),
    }
}

fn other(message: impl Into<String>) -> Failure {
    Failure::Other {
        message: message.into(),
    }
}

/// `ErrorCode::DnsError(DnsErrorPayload { .. })` → `DnsError`: the case name
/// without its enum prefix or payload.
fn variant_name(debug: &str) -> String {
    let head = debug.split(['(', '{', ' ']).next().unwrap_or(debug);
    head.rsplit("::").next().unwrap_or(head).to_string()
}

fn method_of(method: &str) -> Method {
    match method {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_string()),
    }
}

/// `https://host:port/p?q` → (scheme, "host:port", "/p?q").
fn split_url(url: &str) -> Option<(Scheme, &str, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        s => Scheme::Other(s.to_string()),
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Some((scheme, authority, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names_drop_prefix_and_payload() {
        assert_eq!(
            variant_name("ErrorCode::HttpRequestDenied"),
            "HttpRequestDenied"
        );
        assert_eq!(
            variant_name("ErrorCode::DnsError(DnsErrorPayload { rcode: None })"),
            "DnsError"
        );
        assert_eq!(variant_name("HeaderError::Forbidden"), "Forbidden");
        assert_eq!(variant_name("Forbidden"), "Forbidden");
    }

    #[test]
    fn urls_split_into_authority_and_path() {
        let parts = |u| split_url(u).map(|(_, a, p)| (a.to_string(), p));
        let want = |a: &str, p: &str| Some((a.to_string(), p.to_string()));
        assert_eq!(
            parts("http://127.0.0.1:8080/a/b?c=d"),
            want("127.0.0.1:8080", "/a/b?c=d")
        );
        assert_eq!(parts("https://example.com"), want("example.com", "/"));
        assert_eq!(
            parts("https://example.com?x=1"),
            want("example.com", "/?x=1")
        );
        assert_eq!(parts("example.com/x"), None);
    }
}

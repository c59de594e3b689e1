//! A real HTTP server on 127.0.0.1 playing the upstream API, including the
//! hostile ones: it hangs, trickles, answers huge bodies, redirects, echoes
//! the credentials it got and compresses what it was asked not to.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use tokio::net::TcpListener;
use wasmtime_wasi_http::io::TokioIo;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Upstream {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Body = UnsyncBoxBody<Bytes, std::convert::Infallible>;

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed_unsync());
    *r.status_mut() = status;
    r
}

impl Upstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let log = Arc::clone(&log);
                        async move { Ok::<_, std::convert::Infallible>(handle(req, &log).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("seen").clone()
    }
}

async fn handle(req: Request<Incoming>, log: &Mutex<Vec<Seen>>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let seen = Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    log.lock().expect("log").push(seen.clone());
    // Behaviour is chosen by the last path segment, so any allowed prefix works.
    let last = parts.uri.path().rsplit('/').next().unwrap_or("");
    let query = parts.uri.query().unwrap_or("");
    match last {
        "redirect" => {
            let mut r = full(StatusCode::FOUND, "");
            r.headers_mut().insert(
                http::header::LOCATION,
                "http://169.254.169.254/latest/meta-data/"
                    .parse()
                    .expect("location"),
            );
            r
        }
        "hang" => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            full(StatusCode::OK, "")
        }
        "trickle" => {
            let stream = futures_stream(|i| async move {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(700)).await;
                }
                Some(Ok::<_, std::convert::Infallible>(Frame::data(
                    Bytes::from_static(b"x"),
                )))
            });
            Response::new(StreamBody::new(stream).boxed_unsync())
        }
        "big" => {
            // Streams `bytes` bytes in 64 KiB chunks without buffering them.
            let total: usize = query
                .strip_prefix("bytes=")
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let chunk = Bytes::from(vec![b'a'; 64 * 1024]);
            let stream = futures_stream(move |i| {
                let chunk = chunk.clone();
                async move {
                    let sent = i * chunk.len();
                    (sent < total)
                        .then(|| Ok(Frame::data(chunk.slice(..chunk.len().min(total - sent)))))
                }
            });
            Response::new(StreamBody::new(stream).boxed_unsync())
        }
        "echo-auth-json" => {
            // A debug endpoint quoting the credential back in a JSON body
            // and a response header, with what it was asked.
            let auth = seen.header("authorization").unwrap_or_default().to_owned();
            let body = serde_json::json!({
                "authorization": auth,
                "method": seen.method,
                "path": parts.uri.path(),
                "query": query,
                "body": String::from_utf8_lossy(&seen.body),
            });
            let mut r = full(StatusCode::OK, body.to_string());
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            );
            if let Ok(value) = http::HeaderValue::from_str(&auth) {
                r.headers_mut().insert("x-echo-authorization", value);
            }
            r
        }
        "echo-auth" => {
            // What many APIs do on a 401: quote the credential back, here in
            // three-byte chunks so every secret straddles chunk boundaries.
            let auth = seen.header("authorization").unwrap_or_default().to_owned();
            let body = Bytes::from(echo_auth_body(&auth));
            if query == "whole" {
                // In one piece, with a Content-Length the scrubbed body no longer has.
                let mut r = full(StatusCode::UNAUTHORIZED, body);
                if let Ok(value) = http::HeaderValue::from_str(&auth) {
                    r.headers_mut().insert("x-echo-authorization", value);
                }
                return r;
            }
            let stream = futures_stream(move |i| {
                let body = body.clone();
                async move {
                    let start = i * ECHO_CHUNK;
                    if start > 0 {
                        // A pause makes hyper flush, so each chunk reaches
                        // the gateway on its own (the outcome never depends
                        // on it: without it the body is merely one chunk).
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    (start < body.len()).then(|| {
                        Ok::<_, std::convert::Infallible>(Frame::data(
                            body.slice(start..body.len().min(start + ECHO_CHUNK)),
                        ))
                    })
                }
            });
            let mut r = Response::new(StreamBody::new(stream).boxed_unsync());
            *r.status_mut() = StatusCode::UNAUTHORIZED;
            if let Ok(value) = http::HeaderValue::from_str(&auth) {
                r.headers_mut().insert("x-echo-authorization", value);
            }
            r
        }
        "gzip" => {
            // A gzip stream of the empty string, whatever Accept-Encoding said.
            let mut r = full(StatusCode::OK, Bytes::from_static(EMPTY_GZIP));
            r.headers_mut().insert(
                http::header::CONTENT_ENCODING,
                http::HeaderValue::from_static("gzip"),
            );
            r
        }
        _ => {
            let echo = serde_json::json!({
                "method": seen.method,
                "path": seen.path,
                "body_len": seen.body.len(),
            });
            full(StatusCode::OK, echo.to_string())
        }
    }
}

/// Bytes per chunk of the `echo-auth` body.
const ECHO_CHUNK: usize = 3;

/// `gzip` of the empty string.
const EMPTY_GZIP: &[u8] = &[
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

/// The `echo-auth` body for an `Authorization` value: the value, and its
/// credential in base64, percent-encoded and (when it is base64 of text)
/// decoded.
pub fn echo_auth_body(authorization: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    let credential = authorization
        .split_once(' ')
        .map_or(authorization, |(_, c)| c);
    let encoded = STANDARD.encode(credential);
    let percent =
        percent_encoding::utf8_percent_encode(credential, percent_encoding::NON_ALPHANUMERIC);
    let decoded = STANDARD
        .decode(credential)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    format!("invalid credentials: {authorization}; b64={encoded}; pct={percent}; decoded={decoded}")
}

/// A stream whose `i`-th item comes from `next(i)`; it ends at the first `None`.
fn futures_stream<F, Fut, T>(next: F) -> impl futures::stream::Stream<Item = T> + Send + 'static
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<T>> + Send + 'static,
    T: Send + 'static,
{
    futures::stream::unfold(0usize, move |i| {
        let fut = next(i);
        async move { fut.await.map(|item| (item, i + 1)) }
    })
}

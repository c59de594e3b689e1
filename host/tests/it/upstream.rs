//! A real HTTP server on 127.0.0.1 playing the upstream API, including the
//! hostile ones: it hangs, trickles, answers huge bodies and redirects.

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

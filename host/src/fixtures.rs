//! A mock upstream that serves a tool's recorded fixtures on loopback, so
//! operators and tests run tools end to end without the real API.
//!
//! `<tool-dir>/fixtures/routes.toml`:
//! ```toml
//! [[route]]
//! path = "/repos/acme-corp/widget-engine"   # request path
//! query = "per_page=5"                       # optional; must match exactly when given
//! status = 200                               # optional; default 200
//! file = "repos.json"                        # body, relative to fixtures/
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde::Deserialize;
use tokio::net::TcpListener;
use wasmtime_wasi_http::io::TokioIo;

use crate::manifest::ManifestError;

/// Name of the routes file inside `fixtures/`.
pub const ROUTES_FILE: &str = "routes.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoutes {
    #[serde(default)]
    route: Vec<RawRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    path: String,
    query: Option<String>,
    status: Option<u16>,
    file: PathBuf,
}

/// A canned response.
#[derive(Debug, Clone)]
pub struct Canned {
    /// Status code.
    pub status: StatusCode,
    /// JSON body.
    pub body: Bytes,
}

/// Routes keyed by (path, query).
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: BTreeMap<(String, Option<String>), Canned>,
}

impl Routes {
    /// Reads `fixtures/routes.toml` of a tool folder and every file it names.
    pub fn load(tool_dir: &Path) -> Result<Self, ManifestError> {
        let fixtures = tool_dir.join("fixtures");
        let file = fixtures.join(ROUTES_FILE);
        let text = crate::manifest::read_text(&file)?;
        let raw: RawRoutes =
            toml::from_str(&text).map_err(|e| crate::manifest::parse_error(&file, &text, &e))?;
        let mut routes = BTreeMap::new();
        for (i, r) in raw.route.into_iter().enumerate() {
            let invalid = |problem: String| ManifestError::Invalid {
                file: file.clone(),
                key: format!("route[{i}]"),
                problem,
            };
            let status = StatusCode::from_u16(r.status.unwrap_or(200))
                .map_err(|e| invalid(e.to_string()))?;
            let body_file = fixtures.join(&r.file);
            let body = std::fs::read(&body_file)
                .map_err(|e| invalid(format!("{}: {e}", body_file.display())))?;
            routes.insert(
                (r.path, r.query),
                Canned {
                    status,
                    body: Bytes::from(body),
                },
            );
        }
        Ok(Self { routes })
    }

    /// The response for a path and query: an exact (path, query) match first,
    /// then a route for the path that names no query.
    pub fn find(&self, path: &str, query: Option<&str>) -> Option<&Canned> {
        self.routes
            .get(&(path.to_string(), query.map(str::to_string)))
            .or_else(|| self.routes.get(&(path.to_string(), None)))
    }

    /// Total bytes of all fixture bodies.
    pub fn total_bytes(&self) -> usize {
        self.routes.values().map(|c| c.body.len()).sum()
    }
}

/// A running fixture server; stops when dropped.
#[derive(Debug)]
pub struct FixtureServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl FixtureServer {
    /// Serves the fixtures of `tool_dir` on `listen`.
    pub async fn start_from_dir(tool_dir: &Path, listen: SocketAddr) -> anyhow::Result<Self> {
        let routes = Routes::load(tool_dir)?;
        Ok(Self::start(routes, listen).await?)
    }

    /// Serves `routes` on `listen` (use port 0 for any free port).
    pub async fn start(routes: Routes, listen: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let routes = Arc::new(routes);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let routes = Arc::clone(&routes);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let routes = Arc::clone(&routes);
                        async move { Ok::<_, std::convert::Infallible>(respond(&routes, &req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn respond<B>(routes: &Routes, req: &Request<B>) -> Response<Full<Bytes>> {
    let (status, body) = match routes.find(req.uri().path(), req.uri().query()) {
        Some(c) => (c.status, c.body.clone()),
        None => (
            StatusCode::NOT_FOUND,
            Bytes::from_static(br#"{"message":"Not Found"}"#),
        ),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

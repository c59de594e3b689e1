//! A mock upstream that serves a tool's recorded fixtures on loopback, so
//! operators and tests run tools end to end without the real API.
//!
//! `<tool-dir>/fixtures/routes.toml` (format in `docs/python-tools.md`):
//! each `[[route]]` names a path and optionally a method, query parameters
//! that must be present, and a JSON body subset; the most constrained
//! matching route answers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use tokio::net::TcpListener;
use wasmtime_wasi_http::io::TokioIo;

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
    method: Option<String>,
    path: String,
    query: Option<String>,
    json_body: Option<toml::Table>,
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

/// When a route answers.
#[derive(Debug, Clone)]
struct Route {
    method: Option<http::Method>,
    path: String,
    /// Decoded parameters that must all be present.
    query: Vec<(String, String)>,
    /// A subset the JSON request body must contain.
    json_body: Option<serde_json::Value>,
    canned: Canned,
}

impl Route {
    fn matches(
        &self,
        method: &http::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&serde_json::Value>,
    ) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self.path == path
            && self.query.iter().all(|p| query.contains(p))
            && self
                .json_body
                .as_ref()
                .is_none_or(|want| body.is_some_and(|got| json_contains(got, want)))
    }

    fn constraints(&self) -> usize {
        usize::from(self.method.is_some())
            + self.query.len()
            + self.json_body.as_ref().map_or(0, json_size)
    }
}

/// Whether `got` contains every key and value of `want` (recursively for objects).
pub fn json_contains(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    match (got, want) {
        (serde_json::Value::Object(g), serde_json::Value::Object(w)) => w
            .iter()
            .all(|(k, wv)| g.get(k).is_some_and(|gv| json_contains(gv, wv))),
        _ => got == want,
    }
}

fn json_size(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => m.values().map(json_size).sum(),
        _ => 1,
    }
}

fn decode_query(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Why a fixture file (`fixtures/routes.toml`, `fixtures/tests.toml`)
/// could not be used: each names the file, and the line or key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureFileError {
    /// The file could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Parse {
        /// The file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser said.
        message: String,
    },
    /// A value that parsed but cannot be used.
    #[error("{}: {key}: {problem}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Which entry, e.g. `route[0]`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
}

impl FixtureFileError {
    /// Reads `file` as text.
    pub(crate) fn read(file: &Path) -> Result<String, Self> {
        std::fs::read_to_string(file).map_err(|source| Self::Io {
            file: file.to_path_buf(),
            source,
        })
    }

    /// Parses `text`, read from `file`, as TOML into `T`.
    pub(crate) fn parse<T: serde::de::DeserializeOwned>(
        file: &Path,
        text: &str,
    ) -> Result<T, Self> {
        toml::from_str(text).map_err(|e| {
            let (line, column) = crate::manifest::position(text, &e);
            Self::Parse {
                file: file.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            }
        })
    }
}

/// A tool's recorded upstream answers.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    /// Reads `fixtures/routes.toml` of a tool folder and every file it names.
    pub fn load(tool_dir: &Path) -> Result<Self, FixtureFileError> {
        let fixtures = tool_dir.join("fixtures");
        let file = fixtures.join(ROUTES_FILE);
        let text = FixtureFileError::read(&file)?;
        let raw: RawRoutes = FixtureFileError::parse(&file, &text)?;
        let mut routes = Vec::new();
        for (i, r) in raw.route.into_iter().enumerate() {
            let invalid = |problem: String| FixtureFileError::Invalid {
                file: file.clone(),
                key: format!("route[{i}]"),
                problem,
            };
            let status = StatusCode::from_u16(r.status.unwrap_or(200))
                .map_err(|e| invalid(e.to_string()))?;
            let body_file = fixtures.join(&r.file);
            let body = std::fs::read(&body_file)
                .map_err(|e| invalid(format!("{}: {e}", body_file.display())))?;
            let method = r
                .method
                .map(|m| http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()))
                .transpose()
                .map_err(|e| invalid(format!("method: {e}")))?;
            let json_body = r
                .json_body
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| invalid(format!("json_body: {e}")))?;
            routes.push(Route {
                method,
                path: r.path,
                query: decode_query(r.query.as_deref()),
                json_body,
                canned: Canned {
                    status,
                    body: Bytes::from(body),
                },
            });
        }
        Ok(Self { routes })
    }

    /// The answer to a request: the matching route with the most constraints
    /// (the first of equals, in file order).
    pub fn find(
        &self,
        method: &http::Method,
        path: &str,
        query: Option<&str>,
        body: &[u8],
    ) -> Option<&Canned> {
        let query = decode_query(query);
        let body = serde_json::from_slice::<serde_json::Value>(body).ok();
        let mut best: Option<&Route> = None;
        for route in self
            .routes
            .iter()
            .filter(|r| r.matches(method, path, &query, body.as_ref()))
        {
            if best.is_none_or(|b| route.constraints() > b.constraints()) {
                best = Some(route);
            }
        }
        best.map(|r| &r.canned)
    }

    /// Points the canned bodies' absolute links to any of `origins`
    /// (`https://api.example.com`, as recorded: pagination's `next_page`,
    /// `links.next`, …) at `to` (the fixture server's own
    /// `http://127.0.0.1:PORT`), so a tool that follows them reaches the
    /// fixtures and not the real host (docs/python-tools.md). JSON's
    /// escaped form (`https:\/\/…`) is rewritten too. An origin only
    /// matches whole: `https://api.example.com.evil` is left alone.
    pub fn rewrite_origins(&mut self, origins: &[String], to: &str) {
        for origin in origins {
            let escaped = origin.replace('/', "\\/");
            let escaped_to = to.replace('/', "\\/");
            for route in &mut self.routes {
                let body = replace_origin(&route.canned.body, origin, to);
                let body = replace_origin(&body, &escaped, &escaped_to);
                route.canned.body = Bytes::from(body);
            }
        }
    }

    /// Total bytes of all fixture bodies.
    pub fn total_bytes(&self) -> usize {
        self.routes.iter().map(|r| r.canned.body.len()).sum()
    }
}

/// One request as the fixture server received it (what the gateway sent
/// after its policy checks and secret injection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// The method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Header names (lower case) and values; values that are not UTF-8 are lossy.
    pub headers: Vec<(String, String)>,
}

impl SeenRequest {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Requests kept for [`FixtureServer::take_seen`]; older ones are dropped
/// beyond this (a looping tool must not grow the server without bound).
const MAX_SEEN: usize = 1024;

/// A running fixture server; stops when dropped.
#[derive(Debug)]
pub struct FixtureServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl FixtureServer {
    /// Serves the fixtures of `tool_dir` on `listen`, links to the
    /// origins of its manifest's `[config]` URLs pointed at the server.
    pub async fn start_from_dir(tool_dir: &Path, listen: SocketAddr) -> anyhow::Result<Self> {
        let routes = Routes::load(tool_dir)?;
        let manifest = tool_dir.join(crate::manifest::MANIFEST_FILE);
        let origins = match crate::manifest::Manifest::load(&manifest) {
            Ok(manifest) => origins(manifest.config.values().map(String::as_str)),
            Err(_) => Vec::new(),
        };
        Ok(Self::start_rewriting(routes, listen, &origins).await?)
    }

    /// Serves `routes` on `listen` (use port 0 for any free port).
    pub async fn start(routes: Routes, listen: SocketAddr) -> std::io::Result<Self> {
        Self::start_rewriting(routes, listen, &[]).await
    }

    /// Serves `routes` on `listen`, their links to `origins` rewritten to
    /// the server's own address ([`Routes::rewrite_origins`]).
    pub async fn start_rewriting(
        mut routes: Routes,
        listen: SocketAddr,
        origins: &[String],
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        routes.rewrite_origins(origins, &format!("http://{addr}"));
        let routes = Arc::new(routes);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let routes = Arc::clone(&routes);
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let routes = Arc::clone(&routes);
                            let log = Arc::clone(&log);
                            async move {
                                let (parts, body) = req.into_parts();
                                record(&log, &parts);
                                let body = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                Ok::<_, std::convert::Infallible>(respond(&routes, &parts, &body))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, seen, task })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests received since the last call, oldest first.
    pub fn take_seen(&self) -> Vec<SeenRequest> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn record(log: &Mutex<Vec<SeenRequest>>, req: &http::request::Parts) {
    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
    if log.len() >= MAX_SEEN {
        log.remove(0);
    }
    log.push(SeenRequest {
        method: req.method.to_string(),
        target: req
            .uri
            .path_and_query()
            .map_or_else(|| req.uri.path().to_string(), ToString::to_string),
        headers: req
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    });
}

/// `body` with each whole occurrence of `origin` (not followed by a
/// character that would extend its host or port) replaced by `to`.
fn replace_origin(body: &[u8], origin: &str, to: &str) -> Vec<u8> {
    let needle = origin.as_bytes();
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(needle) {
            let next = body.get(i + needle.len()).copied();
            let extends = next.is_some_and(|b| b.is_ascii_alphanumeric() || b"-.:_".contains(&b));
            if !extends {
                out.extend_from_slice(to.as_bytes());
                i += needle.len();
                continue;
            }
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

/// The origins (`scheme://host[:port]`) of the `http(s)` URLs among
/// `values`, e.g. a manifest's `[config]` base URLs.
pub fn origins<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut found: Vec<String> = values
        .into_iter()
        .filter_map(|v| url::Url::parse(v).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .map(|u| u.origin().ascii_serialization())
        .collect();
    found.sort();
    found.dedup();
    found
}

fn respond(routes: &Routes, req: &http::request::Parts, body: &[u8]) -> Response<Full<Bytes>> {
    let (status, body) = match routes.find(&req.method, req.uri.path(), req.uri.query(), body) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(text: &str) -> Routes {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("fixtures")).expect("mkdir");
        for name in ["a", "b", "c", "d", "e"] {
            std::fs::write(dir.path().join(format!("fixtures/{name}.json")), name).expect("write");
        }
        std::fs::write(dir.path().join("fixtures/routes.toml"), text).expect("routes");
        Routes::load(dir.path()).expect("load")
    }

    fn answer(
        r: &Routes,
        method: &str,
        path: &str,
        query: Option<&str>,
        body: &str,
    ) -> Option<String> {
        let method = http::Method::from_bytes(method.as_bytes()).expect("method");
        r.find(&method, path, query, body.as_bytes())
            .map(|c| String::from_utf8_lossy(&c.body).into_owned())
    }

    #[test]
    fn links_to_the_recorded_origin_are_pointed_at_the_server_and_no_other() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("fixtures")).expect("mkdir");
        std::fs::write(
            dir.path().join("fixtures/page1.json"),
            r#"{"next_page":"https://acme.zendesk.com/api/v2/tickets.json?page=2","also":"https:\/\/acme.zendesk.com\/x","other":"https://acme.zendesk.com.evil.net/y","port":"https://acme.zendesk.com:8443/z"}"#,
        )
        .expect("write");
        std::fs::write(
            dir.path().join("fixtures/routes.toml"),
            "[[route]]\npath = \"/api/v2/tickets.json\"\nfile = \"page1.json\"\n",
        )
        .expect("write");
        let mut r = Routes::load(dir.path()).expect("routes");
        let origins = origins([
            "https://acme.zendesk.com/api/v2",
            "not a url",
            "ftp://x.example",
        ]);
        assert_eq!(origins, ["https://acme.zendesk.com"]);
        r.rewrite_origins(&origins, "http://127.0.0.1:4000");
        let body = answer(&r, "GET", "/api/v2/tickets.json", None, "").expect("route");
        let got: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            got["next_page"],
            "http://127.0.0.1:4000/api/v2/tickets.json?page=2"
        );
        assert_eq!(got["also"], "http://127.0.0.1:4000/x");
        assert_eq!(got["other"], "https://acme.zendesk.com.evil.net/y");
        assert_eq!(got["port"], "https://acme.zendesk.com:8443/z");
    }

    #[test]
    fn the_most_constrained_matching_route_answers() {
        let r = routes(
            r#"
[[route]]
path = "/v1/charges"
file = "a.json"
[[route]]
path = "/v1/charges"
query = "starting_after=ch_2"
file = "b.json"
[[route]]
method = "POST"
path = "/search"
file = "c.json"
[[route]]
method = "POST"
path = "/search"
json_body = { after = "100", paging = { size = 2 } }
file = "d.json"
[[route]]
method = "GET"
path = "/search"
status = 405
file = "e.json"
"#,
        );
        let cases = [
            ("GET", "/v1/charges", Some("limit=100"), "", Some("a")),
            (
                "GET",
                "/v1/charges",
                Some("limit=100&starting_after=ch_2"),
                "",
                Some("b"),
            ),
            (
                "GET",
                "/v1/charges",
                Some("starting_after=ch_2&limit=100"),
                "",
                Some("b"),
            ),
            (
                "GET",
                "/v1/charges",
                Some("starting_after=ch%5F2"),
                "",
                Some("b"),
            ),
            ("POST", "/search", None, r#"{"limit":100}"#, Some("c")),
            (
                "POST",
                "/search",
                None,
                r#"{"after":"100","limit":100,"paging":{"size":2}}"#,
                Some("d"),
            ),
            ("POST", "/search", None, r#"{"after":"100"}"#, Some("c")),
            ("GET", "/search", None, "", Some("e")),
            ("GET", "/elsewhere", None, "", None),
        ];
        for (method, path, query, body, expected) in cases {
            assert_eq!(
                answer(&r, method, path, query, body).as_deref(),
                expected,
                "{method} {path} {query:?} {body}"
            );
        }
    }

    #[test]
    fn bad_routes_name_the_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("fixtures")).expect("mkdir");
        std::fs::write(
            dir.path().join("fixtures/routes.toml"),
            "[[route]]\npath = \"/x\"\nfile = \"missing.json\"\n",
        )
        .expect("routes");
        let err = Routes::load(dir.path()).expect_err("missing file");
        assert!(
            matches!(err, FixtureFileError::Invalid { ref key, .. } if key == "route[0]"),
            "{err:?}"
        );
    }
}

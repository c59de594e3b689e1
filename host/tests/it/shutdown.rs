//! Graceful shutdown of the real `gateway serve` process: SIGTERM lets the
//! calls in flight deliver their results and refuses new connections; a
//! grace period shorter than a call cuts it off (status 1, the count in the
//! log); idle connections and open event streams do not hold the exit; a
//! second signal exits at once; stdio ends on SIGTERM and on EOF.
//!
//! The slow call is the `echo` guest sleeping on the WASI clock. A call is
//! known to be in flight when its response head (200, an event stream) or
//! its legacy `202 Accepted` has arrived, or, on stdio, when a request sent
//! after it has been answered. Deadlines are generous; the durations that
//! matter are far apart (a 300 ms grace against a 20 s call, a 2 min grace
//! against a 30 s deadline).

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;

const BIN: &str = env!("CARGO_BIN_EXE_gateway");

/// Long enough for anything that is not stuck.
const DEADLINE: Duration = Duration::from_secs(30);

/// A tools folder with `echo` (its calls may take up to 30 s) and a config.
fn deployment(server: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let tool = dir.path().join("tools/echo");
    std::fs::create_dir_all(&tool).expect("mkdir");
    std::fs::write(
        tool.join("tool.toml"),
        "name = \"echo\"\n[limits]\ntimeout_ms = 30000\n",
    )
    .expect("manifest");
    std::fs::copy(gateway_test_programs::ECHO, tool.join("tool.wasm")).expect("component");
    let cache = super::harness::shared_cache_dir().join("cwasm");
    std::fs::write(
        dir.path().join("gateway.toml"),
        format!(
            "tools_dir = \"tools\"\nfields_dir = \"fields\"\ncache_dir = {:?}\n[server]\n{server}",
            cache.display().to_string()
        ),
    )
    .expect("config");
    dir
}

/// A `gateway serve` process and its stderr, read as it comes.
pub(crate) struct Served {
    child: Child,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(server: &str, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let dir = deployment(server);
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(dir.path().join("gateway.toml"))
            .arg("serve")
            .args(args)
            .env_remove("GATEWAY_CONFIG")
            .env_remove("GATEWAY_TOOLS_DIR")
            .env_remove("GATEWAY_SHUTDOWN_GRACE_MS")
            .env_remove("MCP_TRANSPORT")
            .env_remove("MCP_SERVER_PORT")
            .env_remove("GATEWAY_LOG_FORMAT")
            .env_remove("GATEWAY_LOG")
            .env_remove("RUST_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .envs(envs.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gateway");
        let log = crate::harness::capture_stderr(&mut child);
        Self {
            child,
            log,
            _dir: dir,
        }
    }

    /// Serves over HTTP on a free port.
    pub(crate) async fn http(
        server: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> (Self, SocketAddr) {
        let mut all = vec!["--transport", "http", "--port", "0"];
        all.extend_from_slice(args);
        let served = Self::start(server, &all, envs);
        let addr = crate::harness::listening_addr(&served.log).await;
        (served, addr)
    }

    /// The deployment's folder (`tools/`, `gateway.toml`).
    pub(crate) fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// The first stderr line containing `text`, once it has been written.
    async fn line_with(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.log().lines().find(|l| l.contains(text)) {
                return line.to_string();
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no {text:?} on stderr:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    /// The exit status, waiting up to `within` for it.
    async fn exit(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "still running after {within:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The number the shutdown reported as cut off.
    fn calls_cut_off(&self) -> Option<usize> {
        let log = self.log();
        let (_, rest) = log.split_once("calls_cut_off=")?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
}

fn post(addr: SocketAddr, path: &str, session: Option<&str>, body: &Value) -> Request<Full<Bytes>> {
    let mut builder = Request::post(path)
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(session) = session {
        builder = builder
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    builder
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

fn get(addr: SocketAddr, path: &str, session: Option<&str>) -> Request<Full<Bytes>> {
    let mut builder = Request::get(path)
        .header("host", addr.to_string())
        .header("accept", "text/event-stream");
    if let Some(session) = session {
        builder = builder
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", "2025-06-18");
    }
    builder.body(Full::new(Bytes::new())).expect("request")
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

/// A slow `echo` call answering `{"text": text}`.
fn slow_call(id: u64, text: &str, sleep_ms: u32) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "echo", "arguments": {"text": text, "sleep_ms": sleep_ms}}})
}

/// The `data` of the next SSE event that carries some, with its event
/// name; `None` once the stream has ended.
async fn next_event(body: &mut Incoming, pending: &mut String) -> Option<(String, String)> {
    loop {
        if let Some(end) = pending.find("\n\n") {
            let block: String = pending.drain(..end + 2).collect();
            let mut event = "message".to_string();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event:") {
                    event = name.trim().to_string();
                } else if let Some(more) = line.strip_prefix("data:") {
                    data.push_str(more.trim_start());
                }
            }
            if !data.is_empty() {
                return Some((event, data));
            }
            continue;
        }
        match tokio::time::timeout(DEADLINE, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    pending.push_str(&String::from_utf8_lossy(&data).replace("\r\n", "\n"));
                }
            }
            Ok(None | Some(Err(_))) => return None,
            Err(_) => panic!("no event within {DEADLINE:?}"),
        }
    }
}

/// The JSON-RPC response with `id` from an event stream.
async fn response_with_id(body: &mut Incoming, id: u64) -> Option<Value> {
    let mut pending = String::new();
    while let Some((_, data)) = next_event(body, &mut pending).await {
        let message: Value = serde_json::from_str(&data).expect("JSON-RPC");
        if message["id"] == json!(id) {
            return Some(message);
        }
    }
    None
}

/// Reads `body` to its end, so its connection can take the next request.
async fn finish(mut body: Incoming) {
    while let Some(frame) = tokio::time::timeout(DEADLINE, body.frame())
        .await
        .expect("the body ends")
    {
        frame.expect("frame");
    }
}

/// A 2025-06-18 session: its id.
async fn initialize(addr: SocketAddr) -> String {
    let mut conn = connect(addr).await;
    let init: Value = serde_json::from_str(INITIALIZE).expect("json");
    let response = conn
        .send_request(post(addr, "/mcp", None, &init))
        .await
        .expect("initialize");
    assert_eq!(response.status(), StatusCode::OK);
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("session id")
        .to_string();
    let mut body = response.into_body();
    assert!(response_with_id(&mut body, 1).await.is_some());
    finish(body).await;
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = conn
        .send_request(post(addr, "/mcp", Some(&session), &initialized))
        .await
        .expect("initialized");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    session
}

/// Starts a slow call in `session`; returns once its response stream is open.
async fn start_call(addr: SocketAddr, session: &str, call: &Value) -> Incoming {
    let mut conn = connect(addr).await;
    let response = conn
        .send_request(post(addr, "/mcp", Some(session), call))
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body()
}

/// Waits until connecting to `addr` is refused.
async fn refused(addr: SocketAddr) -> std::io::ErrorKind {
    let started = Instant::now();
    loop {
        match TcpStream::connect(addr).await {
            Err(e) => return e.kind(),
            Ok(_) => {
                assert!(started.elapsed() < DEADLINE, "{addr} still accepts");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

#[tokio::test]
async fn sigterm_lets_the_call_in_flight_finish_refuses_new_connections_and_exits_0() {
    let (mut gateway, addr) = Served::http("", &[], &[]).await;
    let session = initialize(addr).await;
    let mut body = start_call(addr, &session, &slow_call(2, "slow", 1500)).await;

    gateway.signal("TERM");
    assert_eq!(refused(addr).await, std::io::ErrorKind::ConnectionRefused);
    let reply = response_with_id(&mut body, 2)
        .await
        .expect("the result arrives");
    assert_eq!(reply["result"]["isError"], json!(false), "{reply}");
    assert_eq!(
        reply["result"]["structuredContent"],
        json!({"text": "slow"})
    );
    let status = gateway.exit(DEADLINE).await;
    assert_eq!(status.code(), Some(0), "{}", gateway.log());
    assert_eq!(gateway.calls_cut_off(), None);
}

#[tokio::test]
async fn a_legacy_sse_stream_stays_open_for_its_results_then_ends() {
    let (mut gateway, addr) = Served::http("", &[], &[]).await;
    let mut conn = connect(addr).await;
    let mut stream = conn
        .send_request(get(addr, "/sse", None))
        .await
        .expect("sse")
        .into_body();
    let mut pending = String::new();
    let (event, endpoint) = next_event(&mut stream, &mut pending)
        .await
        .expect("endpoint");
    assert_eq!(event, "endpoint");
    let mut poster = connect(addr).await;
    let mut send = async |message: Value| {
        poster
            .send_request(post(addr, &endpoint, None, &message))
            .await
            .expect("post")
            .status()
    };
    let init: Value = serde_json::from_str(INITIALIZE).expect("json");
    assert_eq!(send(init).await, StatusCode::ACCEPTED);
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(send(initialized).await, StatusCode::ACCEPTED);
    // Accepted: the session has the call.
    assert_eq!(
        send(slow_call(2, "legacy", 1500)).await,
        StatusCode::ACCEPTED
    );

    gateway.signal("TERM");
    let mut results = Vec::new();
    while let Some((_, data)) = next_event(&mut stream, &mut pending).await {
        let message: Value = serde_json::from_str(&data).expect("JSON-RPC");
        results.push(message);
    }
    let call = results
        .iter()
        .find(|m| m["id"] == json!(2))
        .expect("the result arrives before the stream ends");
    assert_eq!(call["result"]["isError"], json!(false), "{call}");
    assert_eq!(
        call["result"]["structuredContent"],
        json!({"text": "legacy"})
    );
    let status = gateway.exit(DEADLINE).await;
    assert_eq!(status.code(), Some(0), "{}", gateway.log());
}

#[tokio::test]
async fn a_grace_period_shorter_than_the_call_cuts_it_off_and_exits_1() {
    let (mut gateway, addr) = Served::http("", &[], &[("GATEWAY_SHUTDOWN_GRACE_MS", "300")]).await;
    let session = initialize(addr).await;
    let mut body = start_call(addr, &session, &slow_call(2, "cut", 20_000)).await;

    gateway.signal("TERM");
    // Far sooner than the call's 20 s.
    let status = gateway.exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(1), "{}", gateway.log());
    assert_eq!(gateway.calls_cut_off(), Some(1), "{}", gateway.log());
    assert_eq!(response_with_id(&mut body, 2).await, None);
}

#[tokio::test]
async fn idle_connections_and_open_streams_do_not_hold_shutdown() {
    // A two-minute grace: waiting it out would miss the 30 s deadline.
    let (mut gateway, addr) = Served::http("shutdown_grace_ms = 120000\n", &[], &[]).await;
    let session = initialize(addr).await;

    let mut standalone_conn = connect(addr).await;
    let standalone = standalone_conn
        .send_request(get(addr, "/mcp", Some(&session)))
        .await
        .expect("GET /mcp");
    assert_eq!(standalone.status(), StatusCode::OK);
    let mut standalone = standalone.into_body();

    let mut legacy_conn = connect(addr).await;
    let mut legacy = legacy_conn
        .send_request(get(addr, "/sse", None))
        .await
        .expect("GET /sse")
        .into_body();
    let mut pending = String::new();
    assert!(next_event(&mut legacy, &mut pending).await.is_some());

    // A keep-alive connection, idle after one answered request.
    let mut idle = connect(addr).await;
    let list = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"});
    let answered = idle
        .send_request(post(addr, "/mcp", Some(&session), &list))
        .await
        .expect("tools/list");
    assert_eq!(answered.status(), StatusCode::OK);
    let mut answered = answered.into_body();
    assert!(response_with_id(&mut answered, 5).await.is_some());
    finish(answered).await;

    gateway.signal("TERM");
    let status = gateway.exit(DEADLINE).await;
    assert_eq!(status.code(), Some(0), "{}", gateway.log());
    assert_eq!(next_event(&mut legacy, &mut pending).await, None);
    assert_eq!(next_event(&mut standalone, &mut String::new()).await, None);
    assert!(idle.ready().await.is_err(), "the idle connection is closed");
}

#[tokio::test]
async fn a_second_signal_exits_at_once() {
    let (mut gateway, addr) = Served::http("", &["--shutdown-grace-ms", "120000"], &[]).await;
    let session = initialize(addr).await;
    let _body = start_call(addr, &session, &slow_call(2, "cut", 20_000)).await;

    gateway.signal("TERM");
    gateway.line_with("shutdown: SIGTERM").await;
    gateway.signal("INT");
    let status = gateway.exit(Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(130), "128 + SIGINT\n{}", gateway.log());
    assert_eq!(gateway.calls_cut_off(), Some(1), "{}", gateway.log());
}

/// A stdio client: lines in, lines out.
struct StdioClient {
    gateway: Served,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl StdioClient {
    fn start() -> Self {
        let mut gateway = Served::start("", &["--transport", "stdio"], &[]);
        let stdin = gateway.child.stdin.take();
        let stdout = gateway.child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut client = Self {
            gateway,
            stdin,
            lines,
        };
        client.send(&serde_json::from_str(INITIALIZE).expect("json"));
        assert!(client.reply(1).is_some(), "initialized");
        client.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        client
    }

    fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{message}").expect("write");
        stdin.flush().expect("flush");
    }

    /// The reply with `id`; `None` once stdout has ended.
    fn reply(&self, id: u64) -> Option<Value> {
        loop {
            match self.lines.recv_timeout(DEADLINE) {
                Ok(line) => {
                    let message: Value = serde_json::from_str(&line).expect("JSON-RPC");
                    if message["id"] == json!(id) {
                        return Some(message);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!("no reply {id} within {DEADLINE:?}"),
            }
        }
    }

    /// Starts a call sleeping `sleep_ms`; returns once it has been read (a
    /// ping sent after it has been answered).
    fn start_call(&mut self, sleep_ms: u32) {
        self.send(&slow_call(2, "stdio", sleep_ms));
        self.send(&json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}));
        assert!(self.reply(3).is_some(), "ping answered");
    }
}

#[tokio::test]
async fn stdio_finishes_its_call_and_exits_0_on_sigterm() {
    let mut client = StdioClient::start();
    client.start_call(1500);
    client.gateway.signal("TERM");
    let reply = client.reply(2).expect("the result arrives");
    assert_eq!(
        reply["result"]["structuredContent"],
        json!({"text": "stdio"})
    );
    assert_eq!(client.reply(99), None, "stdout ends");
    let status = client.gateway.exit(DEADLINE).await;
    assert_eq!(status.code(), Some(0), "{}", client.gateway.log());
}

#[tokio::test]
async fn stdio_finishes_its_call_and_exits_0_on_eof() {
    let mut client = StdioClient::start();
    // Longer than the 5 s rmcp gives handlers after the end of input: the
    // grace period governs here too.
    client.start_call(6000);
    drop(client.stdin.take());
    let reply = client.reply(2).expect("the result arrives");
    assert_eq!(
        reply["result"]["structuredContent"],
        json!({"text": "stdio"})
    );
    let status = client.gateway.exit(DEADLINE).await;
    assert_eq!(status.code(), Some(0), "{}", client.gateway.log());
}

/// `GET /readyz` on a new connection: its status.
async fn readyz(addr: SocketAddr) -> StatusCode {
    let mut conn = connect(addr).await;
    let request = Request::get("/readyz")
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .expect("request");
    conn.send_request(request).await.expect("readyz").status()
}

#[tokio::test]
async fn a_shutdown_delay_answers_readyz_503_while_still_serving_everything_else() {
    // A delay far longer than the test: what happens within it is certain.
    let (mut gateway, addr) = Served::http("shutdown_delay_ms = 120000\n", &[], &[]).await;
    assert_eq!(readyz(addr).await, StatusCode::OK);
    gateway.signal("TERM");
    gateway.line_with("not ready; still serving").await;
    assert_eq!(readyz(addr).await, StatusCode::SERVICE_UNAVAILABLE);
    // New connections, new sessions and calls are still served.
    let session = initialize(addr).await;
    let mut body = start_call(addr, &session, &slow_call(3, "late", 0)).await;
    let reply = response_with_id(&mut body, 3)
        .await
        .expect("the result arrives");
    assert_eq!(
        reply["result"]["structuredContent"],
        json!({"text": "late"})
    );
    // A second signal ends the wait at once.
    gateway.signal("TERM");
    let status = gateway.exit(DEADLINE).await;
    assert_eq!(status.code(), Some(143), "{}", gateway.log());
}

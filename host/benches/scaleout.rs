//! Scale-out, proven on this machine (docs/scale-out.md): three `gateway
//! serve` replicas on loopback sharing ONE tools folder and one session key,
//! behind HAProxy (round-robin, no affinity, health checks on `/readyz`),
//! and a load generator driving `tools/call` through HAProxy with both
//! 2026-07-28 stateless requests and 2025-06-18 session clients (initialize
//! once, then every call with the session id, landing on any replica).
//!
//! First, steady throughput: calls/s through HAProxy to one replica and to
//! three, and to one replica directly, in the same run. Then, under load:
//! a tool is promoted into the shared folder (staged, then renamed, as
//! `gateway promote` and the admin API write it) and each replica is polled
//! directly until it serves it; a tool folder flips like git-sync (a
//! symlink swapped atomically with rename(2)); and the replicas are
//! restarted one after another (SIGTERM, drain, start again: a rolling
//! restart). Every response is parsed and checked; failures are counted by
//! type, and the process exits 1 if there is any, or if a replica never
//! served the promoted or flipped tool.
//!
//! ```sh
//! ./scripts/setup                     # scripts/setup-ops installs HAProxy
//! source scripts/env.sh
//! CARGO_TARGET_DIR=$HOME/.cache/agent-gateway/bench-target cargo bench -p agent-gateway --bench scaleout
//! # the CI-sized run in scripts/test (debug build, fewer calls, one restart):
//! SCALEOUT_CALLS=3000 SCALEOUT_RESTARTS=1 SCALEOUT_WINDOW_S=0 cargo test -p agent-gateway --bench scaleout
//! ```
//!
//! Knobs: `SCALEOUT_CALLS` (calls under the events, default 100 000),
//! `SCALEOUT_RESTARTS` (replicas restarted in turn, default 3),
//! `SCALEOUT_WINDOW_S` (seconds per throughput window, 0 skips them,
//! default 10), `SCALEOUT_SHUTDOWN_DELAY_MS` (the replicas'
//! `shutdown_delay_ms`, default 1500; 0 shows what the delay prevents),
//! `SCALEOUT_LOGS` (a folder for the replicas' stderr), `GATEWAY_BENCH_BIN`
//! (another gateway build).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Stateless (2026-07-28) client connections during the events.
const STATELESS_CLIENTS: usize = 12;
/// 2025 session clients during the events.
const SESSION_CLIENTS: usize = 12;
/// Connections of the throughput windows.
const THROUGHPUT_CLIENTS: usize = 16;
/// After SIGTERM, how long a replica answers `/readyz` 503 while serving
/// everything else: HAProxy checks every 250 ms and takes two failures.
const SHUTDOWN_DELAY_MS: u64 = 1500;
/// How long a replica may take to serve a change before the run fails (the
/// measured time is reported; the target is 2 s).
const CHANGE_DEADLINE: Duration = Duration::from_secs(60);
const REPLICAS: usize = 3;

/// Why a call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Failure {
    /// No TCP connection to HAProxy.
    Connect,
    /// The connection failed while the call was in flight.
    Transport,
    /// A non-2xx HTTP status (502/503 from HAProxy, 404 for a lost session…).
    Status(u16),
    /// A JSON-RPC error answer.
    JsonRpc(i64),
    /// `isError: true`.
    ToolError,
    /// A result that is not the echo of this call.
    WrongAnswer,
}

#[derive(Default)]
struct Tally {
    stateless_ok: AtomicU64,
    session_ok: AtomicU64,
    sessions_opened: AtomicU64,
    failures: Mutex<BTreeMap<Failure, u64>>,
}

impl Tally {
    fn ok(&self) -> u64 {
        self.stateless_ok.load(Ordering::Relaxed) + self.session_ok.load(Ordering::Relaxed)
    }

    fn fail(&self, failure: Failure) {
        if let Ok(mut failures) = self.failures.lock() {
            *failures.entry(failure).or_default() += 1;
        }
    }

    fn failed(&self) -> u64 {
        self.failures.lock().map_or(0, |f| f.values().sum())
    }
}

const META_2026: &str = r#","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"scaleout","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}"#;

/// A `tools/call` of `tool` echoing `hello-<id>`: stateless, or in `session`.
fn call_request(
    host: &http::HeaderValue,
    tool: &str,
    id: u64,
    session: Option<&http::HeaderValue>,
) -> http::Request<Full<Bytes>> {
    let meta = if session.is_some() { "" } else { META_2026 };
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{{"text":"hello-{id}"}}{meta}}}}}"#
    );
    let builder = http::Request::post("/mcp")
        .header("host", host.clone())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    let builder = match session {
        Some(session) => builder
            .header("mcp-protocol-version", "2025-06-18")
            .header("mcp-session-id", session.clone()),
        None => builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", tool),
    };
    builder
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request")
}

/// The JSON-RPC message in a body: plain JSON or an SSE `data:` line.
fn message(body: &[u8]) -> Option<serde_json::Value> {
    let text = std::str::from_utf8(body).ok()?;
    let json = text
        .lines()
        .find_map(|l| l.strip_prefix("data: ").filter(|d| d.starts_with('{')))
        .unwrap_or(text);
    serde_json::from_str(json).ok()
}

/// Judges the answer to call `id`.
fn judge(status: http::StatusCode, body: &[u8], id: u64) -> Result<(), Failure> {
    if !status.is_success() {
        return Err(Failure::Status(status.as_u16()));
    }
    let Some(answer) = message(body) else {
        return Err(Failure::WrongAnswer);
    };
    if let Some(code) = answer["error"]["code"].as_i64() {
        return Err(Failure::JsonRpc(code));
    }
    if answer["result"]["isError"] == serde_json::Value::Bool(true) {
        return Err(Failure::ToolError);
    }
    if answer["id"].as_u64() != Some(id)
        || answer["result"]["structuredContent"]["text"].as_str()
            != Some(format!("hello-{id}").as_str())
    {
        return Err(Failure::WrongAnswer);
    }
    Ok(())
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, Failure> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|_| Failure::Connect)?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Failure::Connect)?;
    tokio::spawn(conn);
    Ok(sender)
}

/// Sends `request` and reads its whole answer.
async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: http::Request<Full<Bytes>>,
) -> Result<(http::StatusCode, http::HeaderMap, Bytes), Failure> {
    sender.ready().await.map_err(|_| Failure::Transport)?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|_| Failure::Transport)?;
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| Failure::Transport)?
        .to_bytes();
    Ok((parts.status, parts.headers, body))
}

/// What the clients share.
struct Load {
    addr: SocketAddr,
    host: http::HeaderValue,
    ids: AtomicU64,
    stop: AtomicBool,
    /// Set once every replica serves the promoted tool: clients call it too.
    promoted_live: AtomicBool,
    tally: Tally,
}

impl Load {
    fn new(addr: SocketAddr) -> Arc<Self> {
        Arc::new(Self {
            addr,
            host: http::HeaderValue::from_str(&addr.to_string()).expect("an address"),
            ids: AtomicU64::new(1),
            stop: AtomicBool::new(false),
            promoted_live: AtomicBool::new(false),
            tally: Tally::default(),
        })
    }

    /// The tool call number `id` goes to: mostly `echo`, some the flipping
    /// tool, and the promoted one once it is served everywhere.
    fn tool(&self, id: u64) -> &'static str {
        match id % 8 {
            0 => "flip",
            1 if self.promoted_live.load(Ordering::Relaxed) => "promoted",
            _ => "echo",
        }
    }
}

/// A connection that reconnects after a failure, counting it.
async fn reconnecting(load: &Load, conn: &mut Option<SendRequest<Full<Bytes>>>) -> bool {
    if conn.is_none() {
        match connect(load.addr).await {
            Ok(sender) => *conn = Some(sender),
            Err(failure) => {
                load.tally.fail(failure);
                tokio::time::sleep(Duration::from_millis(20)).await;
                return false;
            }
        }
    }
    true
}

async fn stateless_client(load: Arc<Load>) {
    let mut conn = None;
    while !load.stop.load(Ordering::Relaxed) {
        if !reconnecting(&load, &mut conn).await {
            continue;
        }
        let Some(sender) = conn.as_mut() else {
            continue;
        };
        let id = load.ids.fetch_add(1, Ordering::Relaxed);
        let request = call_request(&load.host, load.tool(id), id, None);
        match exchange(sender, request).await {
            Ok((status, _, body)) => match judge(status, &body, id) {
                Ok(()) => {
                    load.tally.stateless_ok.fetch_add(1, Ordering::Relaxed);
                }
                Err(failure) => load.tally.fail(failure),
            },
            Err(failure) => {
                load.tally.fail(failure);
                conn = None;
            }
        }
    }
}

/// Opens a 2025-06-18 session: its id.
async fn open_session(
    load: &Load,
    sender: &mut SendRequest<Full<Bytes>>,
) -> Result<http::HeaderValue, Failure> {
    let init = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"scaleout","version":"1"}}}"#;
    let request = http::Request::post("/mcp")
        .header("host", load.host.clone())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Full::new(Bytes::from_static(init.as_bytes())))
        .expect("a valid request");
    let (status, headers, _) = exchange(sender, request).await?;
    if !status.is_success() {
        return Err(Failure::Status(status.as_u16()));
    }
    let session = headers
        .get("mcp-session-id")
        .cloned()
        .ok_or(Failure::WrongAnswer)?;
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let request = http::Request::post("/mcp")
        .header("host", load.host.clone())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .header("mcp-session-id", session.clone())
        .body(Full::new(Bytes::from_static(initialized.as_bytes())))
        .expect("a valid request");
    let (status, _, _) = exchange(sender, request).await?;
    if status != http::StatusCode::ACCEPTED {
        return Err(Failure::Status(status.as_u16()));
    }
    load.tally.sessions_opened.fetch_add(1, Ordering::Relaxed);
    Ok(session)
}

/// A 2025 client: one session for the whole run (a new one only after a
/// failure that lost it), every call carrying its id.
async fn session_client(load: Arc<Load>) {
    let mut conn = None;
    let mut session = None;
    while !load.stop.load(Ordering::Relaxed) {
        if !reconnecting(&load, &mut conn).await {
            continue;
        }
        let Some(sender) = conn.as_mut() else {
            continue;
        };
        let Some(id_header) = session.as_ref() else {
            match open_session(&load, sender).await {
                Ok(id) => session = Some(id),
                Err(failure) => {
                    load.tally.fail(failure);
                    if failure == Failure::Transport {
                        conn = None;
                    }
                }
            }
            continue;
        };
        let id = load.ids.fetch_add(1, Ordering::Relaxed);
        let request = call_request(&load.host, load.tool(id), id, Some(id_header));
        match exchange(sender, request).await {
            Ok((status, _, body)) => match judge(status, &body, id) {
                Ok(()) => {
                    load.tally.session_ok.fetch_add(1, Ordering::Relaxed);
                }
                Err(failure) => {
                    load.tally.fail(failure);
                    if failure == Failure::Status(404) {
                        // The protocol's answer to a lost session: start anew.
                        session = None;
                    }
                }
            },
            Err(failure) => {
                load.tally.fail(failure);
                conn = None;
            }
        }
    }
}

/// Calls/s of `clients` stateless connections to `addr` over `window`.
async fn throughput(addr: SocketAddr, clients: usize, window: Duration) -> (f64, u64) {
    let load = Load::new(addr);
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(stateless_client(Arc::clone(&load))))
        .collect();
    tokio::time::sleep(window).await;
    load.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    (
        load.tally.ok() as f64 / window.as_secs_f64(),
        load.tally.failed(),
    )
}

/// Kills a process left running when the run ends early.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Replicas {
    bin: PathBuf,
    config: PathBuf,
    tools: PathBuf,
    key: String,
    shutdown_delay_ms: u64,
    ports: Vec<u16>,
    children: Vec<Option<Guard>>,
}

impl Replicas {
    fn spawn(&self, port: u16) -> anyhow::Result<Guard> {
        Ok(Guard(
            Command::new(&self.bin)
                .arg("--config")
                .arg(&self.config)
                .arg("--tools-dir")
                .arg(&self.tools)
                .args(["serve", "--transport", "http", "--port", &port.to_string()])
                .env(
                    "GATEWAY_LOG",
                    std::env::var("SCALEOUT_GATEWAY_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .env("GATEWAY_SESSION_KEY", &self.key)
                .env(
                    "GATEWAY_SHUTDOWN_DELAY_MS",
                    self.shutdown_delay_ms.to_string(),
                )
                .stdout(Stdio::null())
                .stderr(match std::env::var_os("SCALEOUT_LOGS") {
                    // Each start appends to its port's log.
                    Some(dir) => Stdio::from(
                        std::fs::OpenOptions::new()
                            .create(true)
                            .append(true)
                            .open(Path::new(&dir).join(format!("gateway-{port}.log")))?,
                    ),
                    None => Stdio::null(),
                })
                .spawn()
                .context("starting gateway serve")?,
        ))
    }

    fn addr(&self, replica: usize) -> SocketAddr {
        ([127, 0, 0, 1], self.ports[replica]).into()
    }

    /// SIGTERM, the drain, then the same replica started again and ready:
    /// the exit status of the stopped process.
    async fn restart(&mut self, replica: usize) -> anyhow::Result<Option<i32>> {
        let mut old = self.children[replica]
            .take()
            .context("the replica is running")?;
        let status = Command::new("kill")
            .args(["-TERM", &old.0.id().to_string()])
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        let code = loop {
            if let Some(exit) = old.0.try_wait()? {
                break exit.code();
            }
            anyhow::ensure!(Instant::now() < deadline, "replica {replica} did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.children[replica] = Some(self.spawn(self.ports[replica])?);
        wait_ready(self.addr(replica)).await?;
        Ok(code)
    }
}

/// Waits for `/readyz` to answer 200 on `addr`.
async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let host = http::HeaderValue::from_str(&addr.to_string())?;
    while Instant::now() < deadline {
        if let Ok(mut sender) = connect(addr).await {
            let request = http::Request::get("/readyz")
                .header("host", host.clone())
                .body(Full::new(Bytes::new()))?;
            if let Ok((status, _, _)) = exchange(&mut sender, request).await
                && status == http::StatusCode::OK
            {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{addr} did not become ready")
}

/// The description replica `addr` serves for `tool`, if it serves it.
async fn served_description(addr: SocketAddr, tool: &str) -> Option<String> {
    let mut sender = connect(addr).await.ok()?;
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{{{}}}}}"#,
        &META_2026[1..]
    );
    let request = http::Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .body(Full::new(Bytes::from(body)))
        .ok()?;
    let (_, _, body) = exchange(&mut sender, request).await.ok()?;
    let answer = message(&body)?;
    answer["result"]["tools"]
        .as_array()?
        .iter()
        .find(|t| t["name"] == tool)
        .and_then(|t| t["description"].as_str().map(str::to_owned))
}

/// Polls every replica directly until each serves `tool` described as
/// `description`: how long each took from `since`.
async fn until_served(
    replicas: &Replicas,
    tool: &str,
    description: &str,
    since: Instant,
) -> anyhow::Result<Vec<Duration>> {
    let mut took = Vec::new();
    for replica in 0..REPLICAS {
        loop {
            if served_description(replicas.addr(replica), tool)
                .await
                .as_deref()
                == Some(description)
            {
                took.push(since.elapsed());
                break;
            }
            anyhow::ensure!(
                since.elapsed() < CHANGE_DEADLINE,
                "replica {replica} never served {tool} ({description})"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(took)
}

/// A tool folder: the echo component named `name`, described `description`.
fn tool_folder(dir: &Path, name: &str, description: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("tool.toml"), format!("name = \"{name}\"\n"))?;
    std::fs::write(
        dir.join("tool.wasm"),
        gateway_test_programs::wat::component_described(
            name,
            description,
            r#"{"type":"object","properties":{"text":{"type":"string"}}}"#,
        ),
    )?;
    Ok(())
}

/// Swaps the symlink `link` to point at `target` in one rename(2), as
/// git-sync flips its worktree link.
fn flip_symlink(link: &Path, target: &Path) -> anyhow::Result<()> {
    let parent = link.parent().context("the link has a folder")?;
    let staged = parent.join(".flip-staged");
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(target, &staged)?;
    std::fs::rename(&staged, link)?;
    Ok(())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// HAProxy's configuration: round-robin, no affinity, health checks on
/// `/readyz`, retries (redispatched to another replica) only when no
/// connection could be made — a POST that reached a gateway is never
/// replayed. `one` serves through the first replica only, `all` through
/// the three (the same run's 1 vs 3 comparison).
fn haproxy_config(one: u16, all: u16, replicas: &[u16]) -> String {
    let servers = |count: usize| {
        replicas
            .iter()
            .take(count)
            .enumerate()
            .map(|(i, port)| format!("    server g{i} 127.0.0.1:{port} check\n"))
            .collect::<String>()
    };
    format!(
        r#"global
    maxconn 4096

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    # A request HAProxy could not deliver (connection refused or reset
    # before it was sent) goes to another replica; nothing else is retried.
    retries 3
    retry-on conn-failure
    option redispatch 1

frontend one
    bind 127.0.0.1:{one}
    default_backend one_replica

frontend all
    bind 127.0.0.1:{all}
    default_backend replicas

backend one_replica
    balance roundrobin
{one_server}
backend replicas
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    # A 503 fails a check at once; a check slow on a busy machine does not.
    timeout check 1s
    default-server inter 250ms fall 2 rise 2
{all_servers}"#,
        one_server = servers(1),
        all_servers = servers(replicas.len()),
    )
}

/// A fresh 32-byte session key, hex: what the replicas share.
fn session_key() -> anyhow::Result<String> {
    use ring::rand::SecureRandom;
    let mut key = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(key.iter().map(|b| format!("{b:02x}")).collect())
}

fn knob(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) => v.parse().with_context(|| format!("{name}={v}")),
        Err(_) => Ok(default),
    }
}

async fn run() -> anyhow::Result<bool> {
    let calls = knob("SCALEOUT_CALLS", 100_000)?;
    let restarts = knob("SCALEOUT_RESTARTS", 3)? as usize;
    let window = Duration::from_secs(knob("SCALEOUT_WINDOW_S", 10)?);

    // The shared tools folder: echo; `flip`, a symlink to one revision of
    // its folder; later, `promoted`.
    let work = tempfile::tempdir()?;
    let tools = work.path().join("tools");
    let revisions = work.path().join("revisions");
    tool_folder(&tools.join("echo"), "echo", "Echo")?;
    tool_folder(&revisions.join("1/flip"), "flip", "flip rev 1")?;
    tool_folder(&revisions.join("2/flip"), "flip", "flip rev 2")?;
    std::os::unix::fs::symlink(revisions.join("1/flip"), tools.join("flip"))?;
    let config = work.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!("cache_dir = {:?}\n", work.path().join("cache")),
    )?;

    let bin = std::env::var_os("GATEWAY_BENCH_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_gateway")),
        PathBuf::from,
    );
    let mut replicas = Replicas {
        bin,
        config,
        tools: tools.clone(),
        key: session_key()?,
        shutdown_delay_ms: knob("SCALEOUT_SHUTDOWN_DELAY_MS", SHUTDOWN_DELAY_MS)?,
        ports: (0..REPLICAS)
            .map(|_| free_port())
            .collect::<anyhow::Result<_>>()?,
        children: Vec::new(),
    };
    // The first compiles into the shared cache; the others load from it.
    replicas
        .children
        .push(Some(replicas.spawn(replicas.ports[0])?));
    wait_ready(replicas.addr(0)).await?;
    for replica in 1..REPLICAS {
        replicas
            .children
            .push(Some(replicas.spawn(replicas.ports[replica])?));
    }
    for replica in 0..REPLICAS {
        wait_ready(replicas.addr(replica)).await?;
    }

    let (one_port, all_port) = (free_port()?, free_port()?);
    let haproxy_cfg = work.path().join("haproxy.cfg");
    std::fs::write(
        &haproxy_cfg,
        haproxy_config(one_port, all_port, &replicas.ports),
    )?;
    let _haproxy = Guard(
        Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&haproxy_cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting haproxy (run ./scripts/setup-ops)")?,
    );
    let one: SocketAddr = ([127, 0, 0, 1], one_port).into();
    let all: SocketAddr = ([127, 0, 0, 1], all_port).into();
    wait_ready(one).await?;
    wait_ready(all).await?;
    // HAProxy marks servers up after its first checks.
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut ok = true;
    if !window.is_zero() {
        let _ = throughput(all, THROUGHPUT_CLIENTS, Duration::from_secs(2)).await;
        let direct = throughput(replicas.addr(0), THROUGHPUT_CLIENTS, window).await;
        let through_one = throughput(one, THROUGHPUT_CLIENTS, window).await;
        let through_all = throughput(all, THROUGHPUT_CLIENTS, window).await;
        println!(
            "| path ({THROUGHPUT_CLIENTS} connections, 2026-07-28 stateless, {} s) | calls/s | failed |",
            window.as_secs()
        );
        println!("|---|---|---|");
        for (label, (rate, failed)) in [
            ("one replica, direct", direct),
            ("HAProxy → 1 replica", through_one),
            ("HAProxy → 3 replicas", through_all),
        ] {
            println!("| {label} | {rate:.0} | {failed} |");
            ok &= failed == 0;
        }
        println!(
            "3 / 1 replicas through HAProxy: {:.2}x",
            through_all.0 / through_one.0
        );
        println!();
    }

    // The events, under load through HAProxy.
    let load = Load::new(all);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..STATELESS_CLIENTS {
        tasks.push(tokio::spawn(stateless_client(Arc::clone(&load))));
    }
    for _ in 0..SESSION_CLIENTS {
        tasks.push(tokio::spawn(session_client(Arc::clone(&load))));
    }
    let until_calls = |n: u64| {
        let load = Arc::clone(&load);
        async move {
            while load.tally.ok() + load.tally.failed() < n {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let events = async {
        until_calls(calls / 5).await;
        // Promotion: staged beside the folder under a dot name, renamed in.
        let staged = tools.join(".promoted.staged");
        tool_folder(&staged, "promoted", "promoted tool")?;
        let promoted_at = Instant::now();
        std::fs::rename(&staged, tools.join("promoted"))?;
        let promotion = until_served(&replicas, "promoted", "promoted tool", promoted_at).await?;
        load.promoted_live.store(true, Ordering::Relaxed);

        until_calls(calls * 2 / 5).await;
        let flipped_at = Instant::now();
        flip_symlink(&tools.join("flip"), &revisions.join("2/flip"))?;
        let flip = until_served(&replicas, "flip", "flip rev 2", flipped_at).await?;

        let mut exits = Vec::new();
        for turn in 0..restarts {
            until_calls(calls * (3 + turn as u64) / (4 + restarts as u64)).await;
            let replica = turn % REPLICAS;
            let began = Instant::now();
            let code = replicas.restart(replica).await?;
            exits.push((replica, code, began.elapsed()));
            // Back in HAProxy's rotation (rise 2 x 250 ms) before the next.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        until_calls(calls).await;
        anyhow::Ok((promotion, flip, exits))
    };
    let outcome = events.await;
    load.stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed();
    let (promotion, flip, exits) = outcome?;

    let tally = &load.tally;
    let failures = tally.failures.lock().map(|f| f.clone()).unwrap_or_default();
    let failed: u64 = failures.values().sum();
    println!(
        "Under load through HAProxy → 3 replicas ({STATELESS_CLIENTS} stateless + {SESSION_CLIENTS} session clients, {:.1} s):",
        elapsed.as_secs_f64()
    );
    println!(
        "- calls: {} ok ({} stateless 2026-07-28, {} in 2025-06-18 sessions; {} sessions opened), {failed} failed",
        tally.ok(),
        tally.stateless_ok.load(Ordering::Relaxed),
        tally.session_ok.load(Ordering::Relaxed),
        tally.sessions_opened.load(Ordering::Relaxed),
    );
    for (failure, count) in &failures {
        println!("  - {failure:?}: {count}");
    }
    let ms = |d: &Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    println!(
        "- promoted tool served by each replica after: {}",
        promotion.iter().map(ms).collect::<Vec<_>>().join(", ")
    );
    println!(
        "- tool folder flipped (symlink renamed), new revision served by each replica after: {}",
        flip.iter().map(ms).collect::<Vec<_>>().join(", ")
    );
    println!(
        "- replicas' shutdown_delay_ms: {}",
        replicas.shutdown_delay_ms
    );
    for (replica, code, took) in &exits {
        println!(
            "- replica g{replica}: SIGTERM → exit {code:?} → restarted and ready in {}",
            ms(took)
        );
        ok &= *code == Some(0);
    }
    ok &= failed == 0 && tally.ok() >= calls;
    Ok(ok)
}

fn main() -> anyhow::Result<std::process::ExitCode> {
    let ok = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())?;
    Ok(if ok {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("scale-out: failed calls or an unclean exit (see above)");
        std::process::ExitCode::FAILURE
    })
}

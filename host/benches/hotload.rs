//! Swapping a tool under load: `gateway serve` (a separate process) answers
//! steady `tools/call` traffic on 16 keep-alive connections while one tool is
//! replaced 20 times, alternating between two versions whose outputs differ,
//! the way a deploy job does it (the new `tool.wasm` written beside the old
//! one and renamed over it). Reports every call that failed and how long each
//! swap took to become visible to a new call.
//!
//! ```sh
//! ./scripts/setup && source scripts/env.sh
//! CARGO_TARGET_DIR=$HOME/.cache/agent-gateway/bench-target cargo bench -p agent-gateway --bench hotload
//! ```

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;

const CONNECTIONS: usize = 16;
const SWAPS: u32 = 20;
/// Time between swaps: each version serves a while before the next.
const SPACING: Duration = Duration::from_millis(500);

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Version `v` of the `swap` tool: every call answers `{"version": v}`.
fn version(v: u32) -> Vec<u8> {
    gateway_test_programs::wat::constant("swap", &format!("{{\"version\":{v}}}"))
}

fn request(addr: SocketAddr, id: u64) -> http::Request<Full<Bytes>> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"swap","arguments":{{}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
    );
    http::Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "swap")
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

#[derive(serde::Deserialize)]
struct Reply {
    id: u64,
    result: ReplyResult,
}

#[derive(serde::Deserialize)]
struct ReplyResult {
    #[serde(rename = "isError", default)]
    is_error: bool,
    #[serde(rename = "structuredContent")]
    structured: Versioned,
}

#[derive(serde::Deserialize)]
struct Versioned {
    version: u32,
}

/// A keep-alive connection to the gateway.
struct Connection {
    addr: SocketAddr,
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Self { addr, sender })
    }

    /// The version that answered call `id`, or why the call failed.
    async fn call(&mut self, id: u64) -> anyhow::Result<u32> {
        let response = self.sender.send_request(request(self.addr, id)).await?;
        ensure!(response.status().is_success(), "HTTP {}", response.status());
        let body = response.into_body().collect().await?.to_bytes();
        let reply: Reply = serde_json::from_slice(&body)
            .with_context(|| format!("unexpected reply: {}", String::from_utf8_lossy(&body)))?;
        ensure!(reply.id == id, "wrong id");
        ensure!(!reply.result.is_error, "tool error");
        ensure!(
            matches!(reply.result.structured.version, 1 | 2),
            "unknown version"
        );
        Ok(reply.result.structured.version)
    }
}

async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(mut c) = Connection::open(addr).await
            && c.call(0).await.is_ok()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{addr} did not come up")
}

/// Writes `bytes` beside `path` and renames it over `path`.
fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let staged = path.with_file_name(".incoming.tmp");
    std::fs::write(&staged, bytes)?;
    std::fs::rename(&staged, path)
}

async fn run() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let tools = work.path().join("tools");
    let swap = tools.join("swap");
    std::fs::create_dir_all(&swap)?;
    std::fs::write(swap.join("tool.toml"), "name = \"swap\"\n")?;
    std::fs::write(swap.join("tool.wasm"), version(1))?;
    let config = work.path().join("gateway.toml");
    std::fs::write(&config, "cache_dir = \"cache\"\n")?;

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let _gateway = Guard(
        Command::new(env!("CARGO_BIN_EXE_gateway"))
            .arg("--config")
            .arg(&config)
            .arg("--tools-dir")
            .arg(&tools)
            .args(["serve", "--transport", "http", "--port", &port.to_string()])
            .env("GATEWAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting gateway serve")?,
    );
    wait_ready(addr).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let ids = Arc::new(AtomicU64::new(1));
    let mut load = Vec::new();
    for _ in 0..CONNECTIONS {
        let (stop, ids) = (Arc::clone(&stop), Arc::clone(&ids));
        let mut connection = Connection::open(addr).await?;
        load.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                match connection.call(ids.fetch_add(1, Ordering::Relaxed)).await {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        failed.push(e.to_string());
                        // A failed exchange may leave the connection unusable.
                        match Connection::open(addr).await {
                            Ok(fresh) => connection = fresh,
                            Err(_) => break,
                        }
                    }
                }
            }
            (ok, failed)
        }));
    }

    let started = Instant::now();
    let mut probe = Connection::open(addr).await?;
    let mut visible = Vec::new();
    for n in 0..SWAPS {
        tokio::time::sleep(SPACING).await;
        let next = if n % 2 == 0 { 2 } else { 1 };
        let swapped = Instant::now();
        replace_file(&swap.join("tool.wasm"), &version(next))?;
        loop {
            if probe.call(ids.fetch_add(1, Ordering::Relaxed)).await? == next {
                visible.push(swapped.elapsed());
                break;
            }
            ensure!(
                swapped.elapsed() < Duration::from_secs(30),
                "swap {n} never became visible"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    tokio::time::sleep(SPACING).await;
    stop.store(true, Ordering::Relaxed);
    let window = started.elapsed();
    let (mut ok, mut failed) = (0u64, Vec::new());
    for task in load {
        let (o, f) = task.await?;
        ok += o;
        failed.extend(f);
    }
    visible.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| swaps | calls | failed | calls/s during swaps | visible after, p50 | visible after, max |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {SWAPS} | {ok} | {} | {:.0} | {:.0} ms | {:.0} ms |",
        failed.len(),
        ok as f64 / window.as_secs_f64(),
        ms(visible[visible.len() / 2]),
        ms(visible[visible.len() - 1])
    );
    for f in failed.iter().take(5) {
        eprintln!("failed call: {f}");
    }
    ensure!(
        failed.is_empty(),
        "{} calls failed during swaps",
        failed.len()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}

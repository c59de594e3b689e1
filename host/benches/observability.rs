//! What observability costs (docs/observability.md): the same `tools/call`
//! load (the Rust `echo` tool, 2026-07-28 stateless requests over
//! Streamable HTTP) against two `gateway serve` processes of the same
//! build, one with everything off (`[metrics] enabled = false`, text logs
//! at warn, no traces) and one with everything on (metrics recorded and
//! scraped, `--log-format json` writing one line per call to a file, every
//! call's spans exported over OTLP/HTTP to a receiver on loopback),
//! interleaved round by round so both see the same machine.
//!
//! ```sh
//! source scripts/env.sh
//! CARGO_TARGET_DIR=$HOME/.cache/agent-gateway/bench-target cargo bench -p agent-gateway --bench observability
//! ```
//!
//! Prints calls/s per round, the medians, and on / off.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;

const CONNECTIONS: usize = 16;
const ROUNDS: usize = 7;
const WARMUP: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(5);

/// Which call log a variant writes.
#[derive(Clone, Copy)]
enum CallLog {
    /// None (`GATEWAY_LOG=warn`).
    Off,
    /// The default: a text line per call.
    Text,
    /// `--log-format json`: a JSON line per call.
    Json,
}

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const META: &str = r#","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{},"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#;

fn request(addr: SocketAddr, id: u64) -> http::Request<Full<Bytes>> {
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"text":"hello-{id}"}}{META}}}}}"#
    );
    http::Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

/// One keep-alive connection calling until `deadline`; how many answered
/// with the echoed text.
async fn connection(addr: SocketAddr, ids: &AtomicU64, deadline: Instant) -> anyhow::Result<u64> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut done = 0;
    while Instant::now() < deadline {
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let response = sender.send_request(request(addr, id)).await?;
        ensure!(response.status().is_success(), "HTTP {}", response.status());
        let body = response.into_body().collect().await?.to_bytes();
        let reply: serde_json::Value = serde_json::from_slice(&body)?;
        ensure!(
            reply["result"]["structuredContent"]["text"] == format!("hello-{id}"),
            "unexpected response: {reply}"
        );
        done += 1;
    }
    Ok(done)
}

async fn load(addr: SocketAddr, window: Duration, ids: &Arc<AtomicU64>) -> anyhow::Result<f64> {
    let deadline = Instant::now() + window;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let ids = Arc::clone(ids);
            tokio::spawn(async move { connection(addr, &ids, deadline).await })
        })
        .collect();
    let mut calls = 0;
    for task in tasks {
        calls += task.await??;
    }
    Ok(calls as f64 / window.as_secs_f64())
}

async fn wait_ready(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{addr} did not come up")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// An OTLP/HTTP receiver on loopback: answers 200, counts the bytes and
/// the spans.
async fn receiver(received: Arc<AtomicU64>, spans: Arc<AtomicU64>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let received = Arc::clone(&received);
            let spans = Arc::clone(&spans);
            async move {
                use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
                use prost::Message;
                received.fetch_add(body.len() as u64, Ordering::Relaxed);
                let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                    return http::StatusCode::BAD_REQUEST;
                };
                let n: usize = request
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                spans.fetch_add(n as u64, Ordering::Relaxed);
                http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// GET `/metrics` once (a scraper's visit).
async fn scrape(addr: SocketAddr) -> anyhow::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = http::Request::get("/metrics")
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))?;
    let body = sender
        .send_request(request)
        .await?
        .into_body()
        .collect()
        .await?
        .to_bytes();
    Ok(String::from_utf8_lossy(&body).into_owned())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn run() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let tools = work.path().join("tools");
    let echo = tools.join("echo");
    std::fs::create_dir_all(&echo)?;
    std::fs::write(echo.join("tool.toml"), "name = \"echo\"\n")?;
    std::fs::copy(gateway_test_programs::ECHO, echo.join("tool.wasm"))?;
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    let cache = format!(
        "cache_dir = {:?}\n",
        home.join(".cache/agent-gateway/bench-mcp-cwasm")
    );
    let received = Arc::new(AtomicU64::new(0));
    let spans = Arc::new(AtomicU64::new(0));
    let collector = receiver(Arc::clone(&received), Arc::clone(&spans)).await?;
    let bin = std::env::var_os("GATEWAY_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_gateway").into());
    // (label, gateway.toml after the cache line, call log, OTLP export)
    let variants: [(&str, &str, CallLog, bool); 5] = [
        (
            "everything off",
            "[metrics]\nenabled = false\n",
            CallLog::Off,
            false,
        ),
        ("metrics", "", CallLog::Off, false),
        (
            "metrics + text call log (the default)",
            "",
            CallLog::Text,
            false,
        ),
        ("metrics + JSON call log", "", CallLog::Json, false),
        (
            "metrics + JSON call log + OTLP traces",
            "",
            CallLog::Json,
            true,
        ),
    ];
    let logs = tempfile::tempdir()?;
    let mut servers = Vec::new();
    for (i, (label, extra, call_log, otlp)) in variants.iter().enumerate() {
        let config = work.path().join(format!("variant-{i}.toml"));
        let traces = if *otlp {
            format!("[telemetry]\notlp_endpoint = \"http://{collector}\"\n")
        } else {
            String::new()
        };
        std::fs::write(&config, format!("{cache}{extra}{traces}"))?;
        let port = free_port()?;
        // Not beside gateway.toml: the gateway watches that folder (for
        // mcp_connections.json), and a log growing there would wake the
        // watcher on every line.
        let log = logs.path().join(format!("variant-{i}.log"));
        let mut command = Command::new(&bin);
        command
            .arg("--config")
            .arg(&config)
            .arg("--tools-dir")
            .arg(&tools)
            .args(["serve", "--transport", "http", "--port", &port.to_string()])
            .env_remove("GATEWAY_LOG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            // A queue and batches large enough that no span is dropped at
            // this rate (the SDK's defaults drop past 2048 queued).
            .env("OTEL_BSP_MAX_QUEUE_SIZE", "262144")
            .env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096")
            .env("OTEL_BSP_SCHEDULE_DELAY", "500")
            .stdout(Stdio::null())
            // The log goes to a file, as a container runtime collects it.
            .stderr(std::fs::File::create(&log)?);
        match call_log {
            // Warnings only: the default has one line per call.
            CallLog::Off => {
                command.env("GATEWAY_LOG", "warn");
            }
            CallLog::Text => {}
            CallLog::Json => {
                command.args(["--log-format", "json"]);
            }
        }
        let guard = Guard(command.spawn().context("starting gateway serve")?);
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        servers.push((*label, addr, log, guard, Vec::new()));
    }
    for (_, addr, ..) in &servers {
        wait_ready(*addr).await?;
    }

    let ids = Arc::new(AtomicU64::new(1));
    let n = servers.len();
    for round in 0..ROUNDS {
        // Each round starts with the next variant, so none always follows another.
        for k in 0..n {
            let server = &mut servers[(round + k) % n];
            load(server.1, WARMUP, &ids).await?;
            let rate = load(server.1, WINDOW, &ids).await?;
            // A scraper's visit per window.
            scrape(server.1).await?;
            server.4.push(rate);
        }
        let rates: Vec<String> = servers
            .iter()
            .map(|s| format!("{} {:.0}", s.0, s.4[round]))
            .collect();
        eprintln!("round {}: {}", round + 1, rates.join(", "));
    }
    // What the last variant did: every call counted, logged and exported.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let everything = &servers[n - 1];
    let exposition = scrape(everything.1).await?;
    let counted = exposition
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"gateway_tool_calls_total{tool="echo",team="",outcome="ok"} "#)
        })
        .unwrap_or("0")
        .to_owned();
    let logged = std::fs::read_to_string(&everything.2)?
        .lines()
        .filter(|l| l.contains(r#""target":"gateway::calls""#))
        .count();
    // Each round's variants ran back to back: their ratio to "off" in the
    // same round sees the same machine, so its median is the figure.
    let ratios: Vec<f64> = (0..n)
        .map(|v| {
            let mut per_round: Vec<f64> = (0..ROUNDS)
                .map(|r| servers[v].4[r] / servers[0].4[r])
                .collect();
            median(&mut per_round)
        })
        .collect();
    let medians: Vec<f64> = servers.iter_mut().map(|s| median(&mut s.4)).collect();
    println!(
        "| gateway serve, echo, {CONNECTIONS} conns | calls/s (median of {ROUNDS} × {}s) | of \"off\", same round (median) |",
        WINDOW.as_secs()
    );
    println!("|---|---|---|");
    for ((server, m), ratio) in servers.iter().zip(&medians).zip(&ratios) {
        println!("| {} | {m:.0} | {:.1}% |", server.0, ratio * 100.0);
    }
    println!();
    println!(
        "everything on: {counted} calls counted in /metrics, {logged} JSON call lines, {} spans exported ({} bytes of OTLP)",
        spans.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed)
    );
    drop(servers);
    Ok(())
}

/// The metrics' own cost on the call path: `enter` + `record_call` for one
/// tool and team, from two threads at once (this machine's cores), in ns
/// per call.
fn recording_cost() -> f64 {
    use gateway::telemetry::metrics::{CallRecord, Metrics};
    const PER_THREAD: u32 = 500_000;
    let metrics = Arc::new(Metrics::new());
    let started = Instant::now();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let metrics = Arc::clone(&metrics);
            std::thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    let flying = metrics.enter("echo", "finance");
                    metrics.record_call(&CallRecord {
                        tool: "echo",
                        team: "finance",
                        outcome: "ok",
                        ran: true,
                        duration: Duration::from_micros(180),
                        upstream_bytes: 900,
                        output_bytes: 18,
                    });
                    drop(flying);
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    started.elapsed().as_nanos() as f64 / f64::from(PER_THREAD)
}

fn main() -> anyhow::Result<()> {
    println!(
        "metrics recording (enter + record_call, 2 threads on one tool): {:.0} ns per call per thread",
        recording_cost()
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}

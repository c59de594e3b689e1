//! What observability costs (docs/observability.md): the same `tools/call`
//! load (2026-07-28 stateless requests over Streamable HTTP, 16 keep-alive
//! connections) against `gateway serve` processes of the same build that
//! differ only in what they observe: everything off (`[metrics] enabled =
//! false`, logs at warn, no traces), the same again (the A/A control: how
//! far two identical processes drift apart on this machine), metrics,
//! metrics with the text or JSON call log written to a file, and
//! everything on (metrics scraped, JSON call log, every call's span
//! exported over OTLP/HTTP to a receiver on loopback). Variants run
//! interleaved round by round, so each round's ratio to "off" sees the
//! same machine.
//!
//! Two workloads: `echo` (no upstream: the gateway's own per-call cost, the
//! worst case for any fixed overhead) and `pages` (one upstream GET of an
//! 8 KiB JSON page from a server on loopback per call: a tool doing the
//! smallest real work).
//!
//! Besides calls/s, each window measures the gateway process's CPU time
//! (`/proc/<pid>/stat`) per call: the load generator shares the machine's
//! two cores, so calls/s moves with its scheduling too, while CPU per call
//! is what a replica pays.
//!
//! ```sh
//! source scripts/env.sh
//! CARGO_TARGET_DIR=$HOME/.cache/agent-gateway/bench-target cargo bench -p agent-gateway --bench observability
//! ```
//!
//! `GATEWAY_BENCH_ROUNDS` and `GATEWAY_BENCH_WINDOW_MS` override the number
//! of rounds (7) and the measured window per variant (5000).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;

const CONNECTIONS: usize = 16;
const ROUNDS: usize = 7;
const WINDOW: Duration = Duration::from_secs(5);

/// How long each variant is driven per round, and how many rounds.
#[derive(Clone, Copy)]
struct Plan {
    rounds: usize,
    /// Before each window, unmeasured: a fifth of it.
    warmup: Duration,
    window: Duration,
}

impl Plan {
    /// `GATEWAY_BENCH_ROUNDS` and `GATEWAY_BENCH_WINDOW_MS` override the
    /// defaults (7 rounds of 5 s). Shorter windows and more rounds put a
    /// round's variants closer together in time, which helps on a machine
    /// whose speed drifts.
    fn from_env() -> anyhow::Result<Self> {
        let rounds = match std::env::var("GATEWAY_BENCH_ROUNDS") {
            Ok(n) => n.parse().context("GATEWAY_BENCH_ROUNDS")?,
            Err(_) => ROUNDS,
        };
        let window = match std::env::var("GATEWAY_BENCH_WINDOW_MS") {
            Ok(ms) => Duration::from_millis(ms.parse().context("GATEWAY_BENCH_WINDOW_MS")?),
            Err(_) => WINDOW,
        };
        ensure!(
            rounds > 0 && !window.is_zero(),
            "no rounds or an empty window"
        );
        Ok(Self {
            rounds,
            warmup: window / 5,
            window,
        })
    }
}

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

/// One `gateway serve` variant and what each round measured.
struct Served {
    label: &'static str,
    addr: SocketAddr,
    log: std::path::PathBuf,
    guard: Guard,
}
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What each call does.
#[derive(Clone, Copy)]
enum Workload {
    /// `echo`: returns its input, no upstream.
    Echo,
    /// `pages` with `{"pages": 1}`: one upstream GET.
    Pages,
}

impl Workload {
    fn tool(self) -> &'static str {
        match self {
            Self::Echo => "echo",
            Self::Pages => "pages",
        }
    }

    fn arguments(self, id: u64) -> String {
        match self {
            Self::Echo => format!(r#"{{"text":"hello-{id}"}}"#),
            Self::Pages => r#"{"pages":1}"#.to_owned(),
        }
    }

    /// Whether `result` is this call's right answer.
    fn answered(self, result: &serde_json::Value, id: u64) -> bool {
        match self {
            Self::Echo => result["structuredContent"]["text"] == format!("hello-{id}"),
            Self::Pages => result["structuredContent"]["fetched"] == 1,
        }
    }
}

const META: &str = r#","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{},"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}"#;

fn request(addr: SocketAddr, workload: Workload, id: u64) -> http::Request<Full<Bytes>> {
    let tool = workload.tool();
    let arguments = workload.arguments(id);
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}{META}}}}}"#
    );
    http::Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", tool)
        .body(Full::new(Bytes::from(body)))
        .expect("request")
}

/// One keep-alive connection calling until `deadline`; how many answered
/// right.
async fn connection(
    addr: SocketAddr,
    workload: Workload,
    ids: &AtomicU64,
    deadline: Instant,
) -> anyhow::Result<u64> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut done = 0;
    while Instant::now() < deadline {
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let response = sender.send_request(request(addr, workload, id)).await?;
        ensure!(response.status().is_success(), "HTTP {}", response.status());
        let body = response.into_body().collect().await?.to_bytes();
        let reply: serde_json::Value = serde_json::from_slice(&body)?;
        ensure!(
            workload.answered(&reply["result"], id),
            "unexpected response: {reply}"
        );
        done += 1;
    }
    Ok(done)
}

async fn load(
    addr: SocketAddr,
    workload: Workload,
    window: Duration,
    ids: &Arc<AtomicU64>,
) -> anyhow::Result<f64> {
    let deadline = Instant::now() + window;
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let ids = Arc::clone(ids);
            tokio::spawn(async move { connection(addr, workload, &ids, deadline).await })
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

/// An OTLP/HTTP receiver on loopback: answers 200 and keeps each export's
/// body, decoded only after the measurement so that its work is not in
/// the windows.
async fn receiver(bodies: Arc<Mutex<Vec<Bytes>>>) -> anyhow::Result<SocketAddr> {
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: Bytes| {
            let bodies = Arc::clone(&bodies);
            async move {
                bodies.lock().unwrap_or_else(|e| e.into_inner()).push(body);
                http::StatusCode::OK
            }
        }),
    );
    serve_on_loopback(app).await
}

/// Serves `app` on a free loopback port, in the background.
async fn serve_on_loopback(app: axum::Router) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// The spans per tool (the `tool` attribute) in the received exports, and
/// their bytes.
fn decode_spans(bodies: &[Bytes]) -> anyhow::Result<(BTreeMap<String, u64>, usize)> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use prost::Message;
    let mut per_tool = BTreeMap::new();
    for body in bodies {
        let request = ExportTraceServiceRequest::decode(body.clone())?;
        for span in request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .flat_map(|s| &s.spans)
        {
            let tool = span
                .attributes
                .iter()
                .find(|a| a.key == "tool")
                .and_then(|a| a.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    Value::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            *per_tool.entry(tool).or_insert(0) += 1;
        }
    }
    Ok((per_tool, bodies.iter().map(Bytes::len).sum()))
}

/// The upstream `pages` fetches from: `/api/page/{i}` answers an 8 KiB
/// JSON page.
async fn upstream() -> anyhow::Result<SocketAddr> {
    let items: Vec<serde_json::Value> = (0..64)
        .map(|i| {
            serde_json::json!({
                "id": format!("in_{i:08}"),
                "amount": i * 1250,
                "currency": "eur",
                "status": "paid",
                "description": "a line of an invoice, about as long as a real one is",
            })
        })
        .collect();
    let page = Bytes::from(serde_json::to_vec(&serde_json::json!({ "data": items }))?);
    let app = axum::Router::new().route(
        "/api/page/{i}",
        axum::routing::get(move || {
            let page = page.clone();
            async move { ([(http::header::CONTENT_TYPE, "application/json")], page) }
        }),
    );
    serve_on_loopback(app).await
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

/// Clock ticks per second, the unit of `/proc/<pid>/stat`'s times.
fn clock_ticks() -> anyhow::Result<f64> {
    let out = Command::new("getconf").arg("CLK_TCK").output()?;
    let ticks: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
    ensure!(ticks > 0.0, "no clock tick rate");
    Ok(ticks)
}

/// CPU time (user + system, every thread) `gateway serve` has used so far,
/// in clock ticks, from `/proc/<pid>/stat`.
fn cpu_ticks(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command name (which may hold spaces) in `)`.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unreadable /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: u64 = fields
        .get(11..13)
        .context("short /proc stat")?
        .iter()
        .map(|f| f.parse::<u64>())
        .sum::<Result<u64, _>>()?;
    Ok(ticks as f64)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Each variant's calls/s and gateway CPU µs per call, round by round.
struct Measured {
    rates: Vec<f64>,
    cpu_per_call: Vec<f64>,
}

/// `plan.rounds` rounds of `workload` over every variant, each round starting
/// with the next variant so that none always follows another.
async fn measure(
    servers: &[Served],
    workload: Workload,
    plan: Plan,
    ids: &Arc<AtomicU64>,
) -> anyhow::Result<Vec<Measured>> {
    let ticks = clock_ticks()?;
    let n = servers.len();
    let mut measured: Vec<Measured> = (0..n)
        .map(|_| Measured {
            rates: Vec::new(),
            cpu_per_call: Vec::new(),
        })
        .collect();
    for round in 0..plan.rounds {
        for k in 0..n {
            let v = (round + k) % n;
            let server = &servers[v];
            load(server.addr, workload, plan.warmup, ids).await?;
            let pid = server.guard.0.id();
            let before = cpu_ticks(pid)?;
            let rate = load(server.addr, workload, plan.window, ids).await?;
            let used = (cpu_ticks(pid)? - before) / ticks;
            // A scraper's visit per window.
            scrape(server.addr).await?;
            measured[v].rates.push(rate);
            measured[v]
                .cpu_per_call
                .push(used * 1e6 / (rate * plan.window.as_secs_f64()));
        }
        let line: Vec<String> = servers
            .iter()
            .zip(&measured)
            .map(|(s, m)| {
                format!(
                    "{} {:.0}/s {:.1} µs",
                    s.label, m.rates[round], m.cpu_per_call[round]
                )
            })
            .collect();
        eprintln!(
            "{} round {}: {}",
            workload.tool(),
            round + 1,
            line.join(", ")
        );
    }
    Ok(measured)
}

/// The table of one workload: medians, and each variant's median ratio to
/// "off" in the same round (the figure: both saw the same machine).
fn report(servers: &[Served], workload: Workload, plan: Plan, measured: &[Measured]) {
    let rounds = measured[0].rates.len();
    let same_round = |of: fn(&Measured) -> &Vec<f64>| -> Vec<f64> {
        measured
            .iter()
            .map(|m| {
                let mut per_round: Vec<f64> = (0..rounds)
                    .map(|r| of(m)[r] / of(&measured[0])[r])
                    .collect();
                median(&mut per_round)
            })
            .collect()
    };
    let rate_ratios = same_round(|m| &m.rates);
    let cpu_ratios = same_round(|m| &m.cpu_per_call);
    println!(
        "| {}, {CONNECTIONS} conns | calls/s (median of {rounds} × {:.1}s) | of \"off\", same round (median) | gateway CPU per call (median) | of \"off\", same round (median) |",
        workload.tool(),
        plan.window.as_secs_f64()
    );
    println!("|---|---|---|---|---|");
    for (i, (server, m)) in servers.iter().zip(measured).enumerate() {
        println!(
            "| {} | {:.0} | {:.1}% | {:.1} µs | {:.1}% |",
            server.label,
            median(&mut m.rates.clone()),
            rate_ratios[i] * 100.0,
            median(&mut m.cpu_per_call.clone()),
            cpu_ratios[i] * 100.0
        );
    }
    println!();
}

async fn run() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let tools = work.path().join("tools");
    let echo = tools.join("echo");
    std::fs::create_dir_all(&echo)?;
    std::fs::write(echo.join("tool.toml"), "name = \"echo\"\n")?;
    std::fs::copy(gateway_test_programs::ECHO, echo.join("tool.wasm"))?;
    let api = upstream().await?;
    let pages = tools.join("pages");
    std::fs::create_dir_all(&pages)?;
    std::fs::write(
        pages.join("tool.toml"),
        format!(
            "name = \"pages\"\n\n[config]\napi_base = \"http://{api}/api\"\n\n[[http]]\nurl = \"http://{api}/api/\"\n"
        ),
    )?;
    std::fs::copy(gateway_test_programs::PAGES, pages.join("tool.wasm"))?;
    let home = std::env::var_os("HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_default();
    // The upstream is on loopback: granted explicitly, as an admin would.
    let common = format!(
        "cache_dir = {:?}\n\n[outbound]\nallow_private = [\"127.0.0.1/32\"]\n\n",
        home.join(".cache/agent-gateway/bench-mcp-cwasm")
    );
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let collector = receiver(Arc::clone(&bodies)).await?;
    let bin = std::env::var_os("GATEWAY_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_gateway").into());
    // (label, gateway.toml after the common lines, call log, OTLP export)
    let variants: [(&str, &str, CallLog, bool); 6] = [
        (
            "everything off",
            "[metrics]\nenabled = false\n",
            CallLog::Off,
            false,
        ),
        (
            "everything off, again (A/A: the noise floor)",
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
            "metrics + JSON call log + OTLP traces (everything on)",
            "",
            CallLog::Json,
            true,
        ),
    ];
    let logs = tempfile::tempdir()?;
    let mut servers = Vec::new();
    for (i, &(label, extra, call_log, otlp)) in variants.iter().enumerate() {
        let config = work.path().join(format!("variant-{i}.toml"));
        let traces = if otlp {
            format!("[telemetry]\notlp_endpoint = \"http://{collector}\"\n")
        } else {
            String::new()
        };
        std::fs::write(&config, format!("{common}{extra}{traces}"))?;
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
            .env("OTEL_BSP_MAX_QUEUE_SIZE", "8192")
            .env("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "512")
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
        servers.push(Served {
            label,
            addr,
            log,
            guard,
        });
    }
    for server in &servers {
        wait_ready(server.addr).await?;
    }
    let plan = Plan::from_env()?;

    let ids = Arc::new(AtomicU64::new(1));
    let mut results = Vec::new();
    for workload in [Workload::Echo, Workload::Pages] {
        results.push((workload, measure(&servers, workload, plan, &ids).await?));
    }
    for (workload, measured) in &results {
        report(&servers, *workload, plan, measured);
    }

    // What the last variant did: every call counted, logged and exported.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let everything = &servers[servers.len() - 1];
    let exposition = scrape(everything.addr).await?;
    let counted = |tool: &str| -> String {
        let series = format!(r#"gateway_tool_calls_total{{tool="{tool}",team="",outcome="ok"}} "#);
        exposition
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .unwrap_or("0")
            .to_owned()
    };
    let logged = std::fs::read_to_string(&everything.log)?
        .lines()
        .filter(|l| l.contains(r#""target":"gateway::calls""#))
        .count();
    let received = std::mem::take(&mut *bodies.lock().unwrap_or_else(|e| e.into_inner()));
    let (spans, bytes) = decode_spans(&received)?;
    println!(
        "everything on: {} echo and {} pages calls counted in /metrics, {logged} JSON call lines, spans exported per tool {spans:?} ({bytes} bytes of OTLP in {} exports)",
        counted("echo"),
        counted("pages"),
        received.len()
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

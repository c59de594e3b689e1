//! The gateway's added latency on an upstream MCP server's tool
//! (docs/upstreams.md): the stand-in vendor server
//! (`host/tests/upstream/vendor.py`, the official Python MCP SDK over stdio)
//! called directly, as an agent does today with a local server, against the
//! same server as a stdio connection of `gateway serve`, called as
//! `vendor__lookup_charge` over Streamable HTTP on loopback. One run, the
//! paths interleaved round by round so drift hits them all alike.
//!
//! ```sh
//! ./scripts/setup                   # the official MCP Python SDK in mcp-venv
//! source scripts/env.sh
//! CARGO_TARGET_DIR=$HOME/.cache/agent-gateway/bench-target cargo bench -p agent-gateway --bench upstream
//! ```
//!
//! Paths, each one sequential caller:
//!
//! - **direct**: rmcp's client (`()` as its handler) over the stdin/stdout of
//!   a `vendor.py stdio` child of this process, `lookup_charge`.
//! - **gateway**: `gateway serve` (a separate process, no authentication, no
//!   audit) with the vendor as its stdio connection; one keep-alive HTTP/1.1
//!   connection sending 2026-07-28 stateless `tools/call` POSTs to `/mcp`
//!   (as `benches/mcp.rs` does), `vendor__lookup_charge`.
//! - **gateway, keys + audit**: the same with `[auth] mode = "keys"` (every
//!   request carrying its team key) and `[audit] file` on. Its audit lines'
//!   `duration_ms` (from its handler taking the call to the result) are read
//!   back for every measured call: the time inside the gateway's handler,
//!   forwarding included, apart from the HTTP hop around it.
//! - **gateway, built-in**: `health_check` on the open gateway, which answers
//!   in the host: the HTTP hop and the gateway's call path without an
//!   upstream, to split the added latency into hop and forwarding.
//!
//! Knobs: `GATEWAY_BENCH_UPSTREAM_ROUNDS` (default 10),
//! `GATEWAY_BENCH_UPSTREAM_CALLS` (calls per path per round, default 200),
//! `GATEWAY_BENCH_UPSTREAM_WARMUP` (calls per path before the first round,
//! default 200, not counted), `GATEWAY_BENCH_UPSTREAM_FULL=0` (leave out the
//! keys + audit gateway), `GATEWAY_BENCH_BIN` (another build of the gateway).
//!
//! Every call's result is checked (no error, the charge id asked for), and
//! the time of a call runs until its result is parsed and checked, on every
//! path alike.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The official Python MCP SDK's interpreter (`scripts/setup`).
fn python() -> anyhow::Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set: the MCP Python SDK's venv is found under it")?;
    let python = home.join(".cache/agent-gateway/mcp-venv/bin/python");
    if !python.is_file() {
        bail!(
            "{} is missing: run ./scripts/setup (it installs the official MCP Python SDK the vendor server runs on)",
            python.display()
        );
    }
    Ok(python)
}

fn vendor_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/upstream/vendor.py")
}

fn knob(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => {
            let n: usize = v
                .parse()
                .with_context(|| format!("{name}={v:?} is not a count"))?;
            ensure!(n > 0, "{name} must be at least 1");
            Ok(n)
        }
        Err(_) => Ok(default),
    }
}

/// Which tool a path calls and what its answer must hold.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    /// `lookup_charge`: its `structuredContent.id` is the id asked for.
    LookupCharge,
    /// The built-in `health_check`: no error.
    HealthCheck,
}

/// One path's caller.
enum Caller {
    /// rmcp's client on the vendor's stdio.
    Direct {
        client: Box<RunningService<RoleClient, ()>>,
        _child: Box<tokio::process::Child>,
    },
    /// A gateway's `/mcp`, calling `tool`.
    Gateway { http: Http, tool: Tool },
}

/// A keep-alive HTTP/1.1 connection to a gateway's `/mcp`, speaking
/// 2026-07-28 stateless requests.
struct Http {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: http::HeaderValue,
    auth: Option<http::HeaderValue>,
}

const META_2026: &str = r#""_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}"#;

/// The parts of a `tools/call` response the check reads.
#[derive(serde::Deserialize)]
struct Reply<'a> {
    id: u64,
    #[serde(borrow)]
    result: Option<ReplyResult<'a>>,
}

#[derive(serde::Deserialize)]
struct ReplyResult<'a> {
    #[serde(rename = "isError", default)]
    is_error: bool,
    #[serde(rename = "structuredContent", borrow, default)]
    structured: Option<Charge<'a>>,
}

#[derive(serde::Deserialize)]
struct Charge<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

/// The parts of a `tools/list` response the readiness check reads.
#[derive(serde::Deserialize)]
struct ListReply {
    result: ListResult,
}

#[derive(serde::Deserialize)]
struct ListResult {
    tools: Vec<ListedTool>,
}

#[derive(serde::Deserialize)]
struct ListedTool {
    name: String,
}

/// The JSON-RPC response in `body` (plain JSON or one SSE `data:` line).
fn response_json(body: &[u8]) -> anyhow::Result<&str> {
    let text = std::str::from_utf8(body)?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("data: ").filter(|d| d.starts_with('{')))
        .unwrap_or(text))
}

impl Http {
    async fn connect(addr: SocketAddr, auth: Option<&str>) -> anyhow::Result<Http> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(Http {
            sender,
            host: http::HeaderValue::from_str(&addr.to_string())?,
            auth: auth
                .map(|k| http::HeaderValue::from_str(&format!("Bearer {k}")))
                .transpose()?,
        })
    }

    /// One request: `method` with `params` (a JSON object's members,
    /// without braces; the 2026-07-28 `_meta` is added), the response body.
    async fn post(
        &mut self,
        id: u64,
        method: &str,
        name: Option<&str>,
        params: &str,
    ) -> anyhow::Result<Bytes> {
        let sep = if params.is_empty() { "" } else { "," };
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{{params}{sep}{META_2026}}}}}"#
        );
        let builder = http::Request::post("/mcp")
            .header("host", self.host.clone())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", method);
        let builder = match name {
            Some(name) => builder.header("mcp-name", name),
            None => builder,
        };
        let builder = match &self.auth {
            Some(key) => builder.header(http::header::AUTHORIZATION, key.clone()),
            None => builder,
        };
        // The connection task may still be finishing the last response;
        // hyper refuses a request before it is ready.
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(builder.body(Full::new(Bytes::from(body)))?)
            .await?;
        ensure!(response.status().is_success(), "HTTP {}", response.status());
        Ok(response.into_body().collect().await?.to_bytes())
    }

    /// The tool names `tools/list` answers.
    async fn list(&mut self) -> anyhow::Result<Vec<String>> {
        let body = self.post(0, "tools/list", None, "").await?;
        let json = response_json(&body)?;
        let reply: ListReply = serde_json::from_str(json)
            .with_context(|| format!("unexpected tools/list response: {json}"))?;
        Ok(reply.result.tools.into_iter().map(|t| t.name).collect())
    }
}

impl Caller {
    /// One call with id `n`, checked.
    async fn call(&mut self, n: u64) -> anyhow::Result<()> {
        let charge = format!("ch_{n}");
        match self {
            Caller::Direct { client, .. } => {
                let mut args = serde_json::Map::new();
                args.insert("charge_id".into(), charge.clone().into());
                let result = client
                    .call_tool(CallToolRequestParams::new("lookup_charge").with_arguments(args))
                    .await?;
                ensure!(result.is_error != Some(true), "tool error: {result:?}");
                let id = result
                    .structured_content
                    .as_ref()
                    .and_then(|s| s.get("id"))
                    .and_then(|id| id.as_str());
                ensure!(id == Some(charge.as_str()), "wrong answer: {result:?}");
                Ok(())
            }
            Caller::Gateway { http, tool } => {
                let (name, arguments) = match tool {
                    Tool::LookupCharge => (
                        "vendor__lookup_charge",
                        format!(r#"{{"charge_id":"{charge}"}}"#),
                    ),
                    Tool::HealthCheck => ("health_check", "{}".to_owned()),
                };
                let params = format!(r#""name":"{name}","arguments":{arguments}"#);
                let body = http.post(n, "tools/call", Some(name), &params).await?;
                let json = response_json(&body)?;
                let reply: Reply<'_> = serde_json::from_str(json)
                    .with_context(|| format!("unexpected response: {json}"))?;
                ensure!(reply.id == n, "wrong id in {json}");
                let result = reply.result.with_context(|| format!("an error: {json}"))?;
                ensure!(!result.is_error, "tool error: {json}");
                if *tool == Tool::LookupCharge {
                    let id = result.structured.and_then(|s| s.id);
                    ensure!(
                        id.as_deref() == Some(charge.as_str()),
                        "wrong answer: {json}"
                    );
                }
                Ok(())
            }
        }
    }
}

/// One measured path.
struct Lane {
    label: &'static str,
    caller: Caller,
    /// Per-call latencies in ns, warm-up excluded.
    latencies: Vec<u64>,
}

/// The direct path: the vendor as this process's child, rmcp's client on its
/// stdio (stderr passed through, as a desktop agent keeps it).
async fn direct(python: &Path) -> anyhow::Result<Caller> {
    let mut child = tokio::process::Command::new(python)
        .arg(vendor_script())
        .arg("stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting vendor.py")?;
    let stdout = child.stdout.take().context("the vendor's stdout")?;
    let stdin = child.stdin.take().context("the vendor's stdin")?;
    let client = ().serve((stdout, stdin)).await?;
    Ok(Caller::Direct {
        client: Box::new(client),
        _child: Box::new(child),
    })
}

async fn connect(addr: SocketAddr, auth: Option<&str>, tool: Tool) -> anyhow::Result<Caller> {
    Ok(Caller::Gateway {
        http: Http::connect(addr, auth).await?,
        tool,
    })
}

/// Waits until the gateway at `addr` lists `vendor__lookup_charge` (its
/// upstream session is up and the tool approved), then checks one call.
async fn until_served(addr: SocketAddr, auth: Option<&str>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < deadline {
        match Http::connect(addr, auth).await {
            Ok(mut http) => match http.list().await {
                Ok(names) if names.iter().any(|n| n == "vendor__lookup_charge") => {
                    let mut caller = Caller::Gateway {
                        http,
                        tool: Tool::LookupCharge,
                    };
                    return caller
                        .call(0)
                        .await
                        .with_context(|| format!("the first call through {addr}"));
                }
                Ok(_) => {}
                Err(e) => last = Some(e),
            },
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match last {
        Some(e) => Err(e.context(format!("{addr} did not list vendor__lookup_charge in 60 s"))),
        None => bail!("{addr} did not list vendor__lookup_charge in 60 s"),
    }
}

/// The `duration_ms` of the last `count` audited `vendor__lookup_charge`
/// calls (the measured ones: warm-up came first), in ns. Lines are written
/// as calls end, so this waits (at most 10 s) until all are there.
async fn audited_durations(file: &Path, count: usize) -> anyhow::Result<Vec<u64>> {
    #[derive(serde::Deserialize)]
    struct Line {
        kind: String,
        tool: Option<String>,
        outcome: String,
        duration_ms: f64,
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(file)?;
        let mut calls = Vec::new();
        for line in text.lines() {
            let line: Line = serde_json::from_str(line)?;
            if line.kind == "call" && line.tool.as_deref() == Some("vendor__lookup_charge") {
                ensure!(
                    line.outcome == "ok",
                    "an audited call failed: {}",
                    line.outcome
                );
                calls.push((line.duration_ms * 1e6).round() as u64);
            }
        }
        if calls.len() >= count {
            return Ok(calls.split_off(calls.len() - count));
        }
        if Instant::now() > deadline {
            bail!("{} audited calls, {count} expected", calls.len());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A gateway's folder: `gateway.toml` (with `extra` appended) and
/// `mcp_connections.json` beside it naming the vendor over stdio.
fn gateway_folder(dir: &Path, python: &Path, extra: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!("cache_dir = {:?}\n{extra}", dir.join("cache")),
    )?;
    let connections = serde_json::json!({"connections": {"vendor": {
        "transport": "stdio",
        "command": python,
        "args": [vendor_script(), "stdio"],
        "pin": "auto",
    }}});
    std::fs::write(
        dir.join("mcp_connections.json"),
        serde_json::to_vec_pretty(&connections)?,
    )?;
    Ok(config)
}

/// `gateway serve` over HTTP on `port`, run in the config's folder (so no
/// field registry is picked up from wherever the bench was started).
fn serve(config: &Path, tools_dir: &Path, port: u16) -> anyhow::Result<Guard> {
    let bin = std::env::var_os("GATEWAY_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_gateway").into());
    Ok(Guard(
        Command::new(bin)
            .arg("--config")
            .arg(config)
            .arg("--tools-dir")
            .arg(tools_dir)
            .args(["serve", "--transport", "http", "--port", &port.to_string()])
            .current_dir(config.parent().unwrap_or(tools_dir))
            .env("GATEWAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting gateway serve")?,
    ))
}

struct Stats {
    p50: f64,
    p90: f64,
    p99: f64,
    mean: f64,
}

/// Percentiles (nearest rank) and mean, in ms.
fn stats(latencies: &[u64]) -> Stats {
    let mut sorted = latencies.to_vec();
    sorted.sort_unstable();
    let ms = |ns: u64| ns as f64 / 1e6;
    let pct = |p: f64| {
        let rank = (p * sorted.len() as f64).ceil() as usize;
        ms(sorted[rank.clamp(1, sorted.len()) - 1])
    };
    Stats {
        p50: pct(0.50),
        p90: pct(0.90),
        p99: pct(0.99),
        mean: ms(sorted.iter().sum::<u64>()) / sorted.len().max(1) as f64,
    }
}

async fn run() -> anyhow::Result<()> {
    let python = python()?;
    let rounds = knob("GATEWAY_BENCH_UPSTREAM_ROUNDS", 10)?;
    let per_round = knob("GATEWAY_BENCH_UPSTREAM_CALLS", 200)?;
    let warmup = knob("GATEWAY_BENCH_UPSTREAM_WARMUP", 200)?;
    let full = std::env::var_os("GATEWAY_BENCH_UPSTREAM_FULL").is_none_or(|v| v != "0");

    let work = tempfile::tempdir()?;
    let tools_dir = work.path().join("tools");
    std::fs::create_dir_all(&tools_dir)?;

    let open_config = gateway_folder(&work.path().join("open"), &python, "")?;
    let open_port = free_port()?;
    let open_gateway = serve(&open_config, &tools_dir, open_port)?;
    let open_addr: SocketAddr = ([127, 0, 0, 1], open_port).into();

    let full_gateway = if full {
        let dir = work.path().join("full");
        std::fs::create_dir_all(&dir)?;
        let keys_file = dir.join("keys.toml");
        let (key, _) = gateway::auth::keys::create(&keys_file, "bench", &["*".to_owned()], None)?;
        let config = gateway_folder(
            &dir,
            &python,
            &format!(
                "[auth]\nmode = \"keys\"\nkeys_file = {keys_file:?}\n[audit]\nfile = \"audit.jsonl\"\n"
            ),
        )?;
        let port = free_port()?;
        let guard = serve(&config, &tools_dir, port)?;
        Some((guard, SocketAddr::from(([127, 0, 0, 1], port)), key, dir))
    } else {
        None
    };

    until_served(open_addr, None).await?;
    if let Some((_, addr, key, _)) = &full_gateway {
        until_served(*addr, Some(key)).await?;
    }

    let mut paths = vec![
        Lane {
            label: "direct: rmcp client → vendor.py (stdio)",
            caller: direct(&python).await?,
            latencies: Vec::new(),
        },
        Lane {
            label: "gateway: HTTP → gateway serve → vendor.py (stdio)",
            caller: connect(open_addr, None, Tool::LookupCharge).await?,
            latencies: Vec::new(),
        },
    ];
    if let Some((_, addr, key, _)) = &full_gateway {
        paths.push(Lane {
            label: "gateway, team key + audit file",
            caller: connect(*addr, Some(key), Tool::LookupCharge).await?,
            latencies: Vec::new(),
        });
    }
    paths.push(Lane {
        label: "gateway, built-in health_check (no upstream)",
        caller: connect(open_addr, None, Tool::HealthCheck).await?,
        latencies: Vec::new(),
    });

    let mut n = 1u64;
    for path in &mut paths {
        for _ in 0..warmup {
            path.caller
                .call(n)
                .await
                .with_context(|| format!("{}: warm-up call {n}", path.label))?;
            n += 1;
        }
    }
    for round in 0..rounds {
        // Alternate the order too, so no path always runs right after another.
        let order: Vec<usize> = if round % 2 == 0 {
            (0..paths.len()).collect()
        } else {
            (0..paths.len()).rev().collect()
        };
        for i in order {
            let path = &mut paths[i];
            for _ in 0..per_round {
                let started = Instant::now();
                path.caller
                    .call(n)
                    .await
                    .with_context(|| format!("{}: call {n}", path.label))?;
                let elapsed = started.elapsed();
                path.latencies
                    .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
                n += 1;
            }
        }
        eprintln!("round {}/{rounds} done", round + 1);
    }

    let total = rounds * per_round;
    // The keyed gateway's own view of each measured call: the audit line's
    // duration, from its handler taking the call to the result.
    let inside = match &full_gateway {
        Some((_, _, _, dir)) => Some(
            audited_durations(&dir.join("audit.jsonl"), total)
                .await
                .context("reading the keyed gateway's audit file")?,
        ),
        None => None,
    };
    let measured: Vec<(&str, Stats, usize)> = paths
        .iter()
        .map(|p| (p.label, stats(&p.latencies), p.latencies.len()))
        .collect();
    drop(paths);
    drop((open_gateway, full_gateway));

    println!("| path | p50 ms | p90 ms | p99 ms | mean ms | calls |");
    println!("|---|---|---|---|---|---|");
    for (label, s, calls) in &measured {
        println!(
            "| {label} | {:.3} | {:.3} | {:.3} | {:.3} | {calls} |",
            s.p50, s.p90, s.p99, s.mean
        );
    }
    if let Some(inside) = &inside {
        let s = stats(inside);
        println!(
            "| (inside the keyed gateway: audit `duration_ms`) | {:.3} | {:.3} | {:.3} | {:.3} | {} |",
            s.p50,
            s.p90,
            s.p99,
            s.mean,
            inside.len()
        );
    }
    println!();
    let direct = &measured[0].1;
    let added = |label: &str, s: &Stats| {
        println!(
            "{label} − direct: p50 {:+.3} ms ({:.2}×), p99 {:+.3} ms ({:.2}×), mean {:+.3} ms ({:.2}×)",
            s.p50 - direct.p50,
            s.p50 / direct.p50,
            s.p99 - direct.p99,
            s.p99 / direct.p99,
            s.mean - direct.mean,
            s.mean / direct.mean,
        );
    };
    added("gateway", &measured[1].1);
    if full {
        added("gateway, team key + audit", &measured[2].1);
    }
    // Percentiles do not add up; means do, so the split is of means.
    let gateway = &measured[1].1;
    let builtin = &measured[measured.len() - 1].1;
    println!(
        "split of the gateway's mean: HTTP hop + call path (built-in) {:.3} ms, the rest (forwarding and the vendor) {:.3} ms against {:.3} ms direct",
        builtin.mean,
        gateway.mean - builtin.mean,
        direct.mean
    );
    if let Some(inside) = &inside {
        let (keyed, inside) = (&measured[2].1, stats(inside));
        println!(
            "split of the keyed gateway's mean: outside its handler (HTTP, front door, key) {:.3} ms, inside (forwarding and the vendor) {:.3} ms against {:.3} ms direct",
            keyed.mean - inside.mean,
            inside.mean,
            direct.mean
        );
    }
    println!(
        "{rounds} rounds × {per_round} sequential calls per path ({total} each), interleaved, after {warmup} warm-up calls per path; client in-process on the same 2 cores"
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

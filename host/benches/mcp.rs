//! `tools/call` under load over Streamable HTTP: `gateway serve` with a
//! trivial Rust tool (and a trivial Python tool) against FastMCP serving the
//! same logic, each a separate process on loopback, measured in one run.
//!
//! ```sh
//! ./scripts/setup && ./scripts/setup-bench     # componentize-py; FastMCP 4.1.6 in a venv
//! source scripts/env.sh
//! CARGO_TARGET_DIR=$HOME/.cache/agent-gateway/bench-target cargo bench -p agent-gateway --bench mcp
//! ```
//!
//! `GATEWAY_BENCH_BIN=path/to/gateway` measures another build of the gateway
//! (to compare two builds against the same FastMCP run). A second gateway
//! with team keys (`[auth] mode = "keys"`, every request carrying its key)
//! runs beside the open one, to measure authentication in the same run;
//! `GATEWAY_BENCH_AUTH=0` leaves it out (for builds without `[auth]`).
//!
//! Every request carries a unique JSON-RPC id and every response body is
//! parsed and checked (`isError: false`, the echoed text), since a failing
//! tool still answers HTTP 200.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
const WARMUP: Duration = Duration::from_secs(2);
const WINDOW: Duration = Duration::from_secs(10);
const SINGLE_WINDOW: Duration = Duration::from_secs(3);

/// How to speak to one server.
#[derive(Clone, Copy)]
enum Dialect {
    /// 2026-07-28 stateless requests (the gateway's fast path).
    Stateless2026,
    /// 2025-06-18 requests to a server in stateless mode (FastMCP).
    Stateless2025,
}

struct Target {
    label: &'static str,
    addr: SocketAddr,
    /// The `Host` header value.
    host: http::HeaderValue,
    tool: &'static str,
    dialect: Dialect,
    /// The `Authorization` header every request carries, if any.
    auth: Option<http::HeaderValue>,
}

struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const META_2026: &str = r#","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}"#;

/// One `tools/call` with a unique id and text. The body is written directly
/// rather than built as a `serde_json::Value`: the generator shares the 2
/// cores with the server, so its own cost is kept small.
fn request(target: &Target, id: u64) -> http::Request<Full<Bytes>> {
    let meta = match target.dialect {
        Dialect::Stateless2026 => META_2026,
        Dialect::Stateless2025 => "",
    };
    let body = format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"{}","arguments":{{"text":"hello-{id}"}}{meta}}}}}"#,
        target.tool
    );
    let builder = http::Request::post("/mcp")
        .header("host", target.host.clone())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    let builder = match target.dialect {
        Dialect::Stateless2026 => builder
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "tools/call")
            .header("mcp-name", target.tool),
        Dialect::Stateless2025 => builder.header("mcp-protocol-version", "2025-06-18"),
    };
    let builder = match &target.auth {
        Some(key) => builder.header(http::header::AUTHORIZATION, key.clone()),
        None => builder,
    };
    builder.body(Full::new(Bytes::from(body))).expect("request")
}

/// The parts of a `tools/call` response the check reads.
#[derive(serde::Deserialize)]
struct Reply<'a> {
    id: u64,
    #[serde(borrow)]
    result: ReplyResult<'a>,
}

#[derive(serde::Deserialize)]
struct ReplyResult<'a> {
    #[serde(rename = "isError", default)]
    is_error: bool,
    #[serde(rename = "structuredContent", borrow)]
    structured: Echoed<'a>,
}

#[derive(serde::Deserialize)]
struct Echoed<'a> {
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

/// The JSON-RPC response in `body` (plain JSON or one SSE `data:` line).
fn response_json(body: &[u8]) -> anyhow::Result<&str> {
    let text = std::str::from_utf8(body)?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("data: ").filter(|d| d.starts_with('{')))
        .unwrap_or(text))
}

/// The response answers call `id` with the echoed text and no error.
fn check(json: &str, id: u64) -> anyhow::Result<()> {
    let reply: Reply<'_> =
        serde_json::from_str(json).with_context(|| format!("unexpected response: {json}"))?;
    ensure!(reply.id == id, "wrong id in {json}");
    ensure!(!reply.result.is_error, "tool error: {json}");
    ensure!(
        reply.result.structured.text == format!("hello-{id}"),
        "wrong echo: {json}"
    );
    Ok(())
}

/// One keep-alive connection issuing calls until `deadline`; latencies in µs.
async fn connection(
    target: &Target,
    ids: &AtomicU64,
    deadline: Instant,
) -> anyhow::Result<Vec<u32>> {
    let stream = TcpStream::connect(target.addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let id = ids.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let response = sender.send_request(request(target, id)).await?;
        ensure!(response.status().is_success(), "HTTP {}", response.status());
        let body = response.into_body().collect().await?.to_bytes();
        latencies.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        check(response_json(&body)?, id)?;
    }
    Ok(latencies)
}

struct Measured {
    calls_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(
    target: &Arc<Target>,
    connections: usize,
    window: Duration,
    ids: &Arc<AtomicU64>,
) -> anyhow::Result<Measured> {
    let deadline = Instant::now() + window;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (target, ids) = (Arc::clone(target), Arc::clone(ids));
        tasks.push(tokio::spawn(async move {
            connection(&target, &ids, deadline).await
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    ensure!(!all.is_empty(), "no calls completed");
    all.sort_unstable();
    let pct = |p: f64| f64::from(all[((all.len() - 1) as f64 * p).round() as usize]) / 1000.0;
    Ok(Measured {
        calls_per_s: all.len() as f64 / window.as_secs_f64(),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

fn host(addr: SocketAddr) -> http::HeaderValue {
    http::HeaderValue::from_str(&addr.to_string()).expect("an address is a header value")
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

fn bench_venv_python() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache/agent-gateway/bench-venv/bin/python")
}

/// A tools folder with the Rust `echo` guest and a Python `py_echo`.
fn tools(dir: &Path) -> anyhow::Result<()> {
    let echo = dir.join("echo");
    std::fs::create_dir_all(&echo)?;
    std::fs::write(echo.join("tool.toml"), "name = \"echo\"\n")?;
    std::fs::copy(gateway_test_programs::ECHO, echo.join("tool.wasm"))?;

    let py = dir.join("py_echo");
    std::fs::create_dir_all(py.join("scripts"))?;
    std::fs::write(py.join("tool.toml"), "name = \"py_echo\"\n")?;
    std::fs::write(py.join("SKILL.md"), "Benchmark tool.\n")?;
    std::fs::write(
        py.join("scripts/py_echo.py"),
        "from gateway_tool import tool\n\n\n@tool\ndef py_echo(text: str) -> dict:\n    \"\"\"Returns its input text.\n\n    Args:\n        text: Text to return.\n    \"\"\"\n    return {\"text\": text}\n",
    )?;
    let cache = dir.parent().unwrap_or(dir).join("py-components");
    let component = gateway::build::python::build_cached(&py, "py_echo", &cache, &mut |_| {})?;
    std::fs::copy(component, py.join("tool.wasm"))?;
    Ok(())
}

async fn run() -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let tools_dir = work.path().join("tools");
    tools(&tools_dir).context("building the benchmark tools")?;
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let config = work.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "cache_dir = {:?}\n",
            home.join(".cache/agent-gateway/bench-mcp-cwasm")
        ),
    )?;

    let bin = std::env::var_os("GATEWAY_BENCH_BIN")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_gateway").into());
    let serve = |config: &Path, port: u16| -> anyhow::Result<Guard> {
        Ok(Guard(
            Command::new(&bin)
                .args(["--config"])
                .arg(config)
                .args(["--tools-dir"])
                .arg(&tools_dir)
                .args(["serve", "--transport", "http", "--port", &port.to_string()])
                .env("GATEWAY_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .context("starting gateway serve")?,
        ))
    };
    let gw_port = free_port()?;
    let gateway = serve(&config, gw_port)?;
    // The same gateway behind team keys, each request carrying its key.
    let with_auth = std::env::var_os("GATEWAY_BENCH_AUTH").is_none_or(|v| v != "0");
    let keyed = if with_auth {
        let keys_file = work.path().join("keys.toml");
        let (key, _) = gateway::auth::keys::create(&keys_file, "bench", &["*".to_owned()], None)?;
        let keyed_config = work.path().join("gateway-keys.toml");
        std::fs::write(
            &keyed_config,
            format!(
                "{}[auth]\nmode = \"keys\"\nkeys_file = {:?}\n",
                std::fs::read_to_string(&config)?,
                keys_file
            ),
        )?;
        let port = free_port()?;
        let guard = serve(&keyed_config, port)?;
        Some((guard, ([127, 0, 0, 1], port).into(), key))
    } else {
        None
    };
    // And behind OAuth: an identity provider on loopback publishing one
    // Ed25519 key, and a token signed with it on every request.
    let oauth = if with_auth {
        let (jwks_port, token_for) = identity_provider().await?;
        let port = free_port()?;
        let resource = format!("http://127.0.0.1:{port}/mcp");
        let issuer = format!("http://127.0.0.1:{jwks_port}");
        let oauth_config = work.path().join("gateway-oauth.toml");
        std::fs::write(
            &oauth_config,
            format!(
                "{}[auth]\nmode = \"oauth\"\n[auth.oauth]\nissuer = \"{issuer}\"\nresource = \"{resource}\"\njwks_url = \"{issuer}/jwks\"\nteam_claim = \"groups\"\n[auth.teams.bench]\ntools = [\"*\"]\n",
                std::fs::read_to_string(&config)?,
            ),
        )?;
        let guard = serve(&oauth_config, port)?;
        Some((
            guard,
            ([127, 0, 0, 1], port).into(),
            token_for(&issuer, &resource)?,
        ))
    } else {
        None
    };
    let fm_port = free_port()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fastmcp_echo.py");
    let fastmcp = Guard(
        Command::new(bench_venv_python())
            .arg(&script)
            .arg(fm_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting FastMCP (run ./scripts/setup-bench)")?,
    );
    let gw_addr: SocketAddr = ([127, 0, 0, 1], gw_port).into();
    let fm_addr: SocketAddr = ([127, 0, 0, 1], fm_port).into();
    wait_ready(gw_addr).await?;
    wait_ready(fm_addr).await?;
    for (_, addr, _) in keyed.iter().chain(&oauth) {
        wait_ready(*addr).await?;
    }

    let mut targets = vec![Target {
        label: "gateway serve, Rust tool (echo)",
        addr: gw_addr,
        host: host(gw_addr),
        tool: "echo",
        dialect: Dialect::Stateless2026,
        auth: None,
    }];
    if let Some((_, addr, key)) = &keyed {
        targets.push(Target {
            label: "gateway serve + team key, Rust tool (echo)",
            addr: *addr,
            host: host(*addr),
            tool: "echo",
            dialect: Dialect::Stateless2026,
            auth: Some(http::HeaderValue::from_str(&format!("Bearer {key}"))?),
        });
    }
    if let Some((_, addr, token)) = &oauth {
        targets.push(Target {
            label: "gateway serve + OAuth token (EdDSA), Rust tool (echo)",
            addr: *addr,
            host: host(*addr),
            tool: "echo",
            dialect: Dialect::Stateless2026,
            auth: Some(http::HeaderValue::from_str(&format!("Bearer {token}"))?),
        });
    }
    targets.extend([
        Target {
            label: "FastMCP 4.1.6, Python function (echo)",
            addr: fm_addr,
            host: host(fm_addr),
            tool: "echo",
            dialect: Dialect::Stateless2025,
            auth: None,
        },
        Target {
            label: "gateway serve, Python tool (py_echo)",
            addr: gw_addr,
            host: host(gw_addr),
            tool: "py_echo",
            dialect: Dialect::Stateless2026,
            auth: None,
        },
    ]);
    let ids = Arc::new(AtomicU64::new(1));
    let mut rows = Vec::new();
    for target in targets {
        let target = Arc::new(target);
        load(&target, CONNECTIONS, WARMUP, &ids).await?;
        let many = load(&target, CONNECTIONS, WINDOW, &ids).await?;
        let one = load(&target, 1, SINGLE_WINDOW, &ids).await?;
        eprintln!("{}: {:.0} calls/s", target.label, many.calls_per_s);
        rows.push((target.label, many, one));
    }
    drop((gateway, fastmcp, keyed, oauth));

    println!("| server | calls/s ({CONNECTIONS} conns) | p50 ms | p99 ms | p50 ms (1 conn) |");
    println!("|---|---|---|---|---|");
    for (label, many, one) in &rows {
        println!(
            "| {label} | {:.0} | {:.2} | {:.2} | {:.2} |",
            many.calls_per_s, many.p50_ms, many.p99_ms, one.p50_ms
        );
    }
    println!();
    println!(
        "gateway (Rust tool) / FastMCP throughput: {:.1}x; {}s windows after {}s warm-up; load generator in-process on the same 2 cores",
        rows[0].1.calls_per_s / rows[rows.len() - 2].1.calls_per_s,
        WINDOW.as_secs(),
        WARMUP.as_secs()
    );
    if with_auth {
        println!(
            "team key / no authentication, same run: {:.1}% of calls/s, p99 {:+.2} ms",
            rows[1].1.calls_per_s / rows[0].1.calls_per_s * 100.0,
            rows[1].1.p99_ms - rows[0].1.p99_ms
        );
        println!(
            "OAuth token / no authentication, same run: {:.1}% of calls/s, p99 {:+.2} ms",
            rows[2].1.calls_per_s / rows[0].1.calls_per_s * 100.0,
            rows[2].1.p99_ms - rows[0].1.p99_ms
        );
    }
    Ok(())
}

/// A JWKS endpoint on loopback with one fresh Ed25519 key; returns its port
/// and a function minting a token for (issuer, resource) with that key.
type Mint = Box<dyn Fn(&str, &str) -> anyhow::Result<String>>;

async fn identity_provider() -> anyhow::Result<(u16, Mint)> {
    use base64::Engine as _;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .map_err(|_| anyhow::anyhow!("generating a key"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| anyhow::anyhow!("reading the key"))?;
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "use": "sig",
        "alg": "EdDSA", "kid": "bench", "x": x}]});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    let encoding = jsonwebtoken::EncodingKey::from_ed_der(pkcs8.as_ref());
    let mint: Mint = Box::new(move |issuer, resource| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("bench".into());
        let claims = serde_json::json!({"iss": issuer, "sub": "bench", "aud": resource,
            "iat": now, "exp": now + 3600, "groups": ["bench"]});
        Ok(jsonwebtoken::encode(&header, &claims, &encoding)?)
    });
    Ok((port, mint))
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}

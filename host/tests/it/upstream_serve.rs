//! Upstream MCP servers in the real `gateway serve` process
//! (docs/upstreams.md): `mcp_connections.json` beside `gateway.toml` is read
//! at start and watched; an edit adds a connection without a restart; a
//! broken edit leaves the running connections serving; the fixed file
//! removes one; `pin: auto` approvals land in the pins file beside it; a
//! broken file at start stops the start. Driven over HTTP with plain stateless
//! (2026-07-28) JSON-RPC requests, against the vendor server on the official
//! Python MCP SDK run by the gateway over stdio.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

use crate::shutdown::connect;
use crate::upstream_mcp::{python, vendor_script};

const BIN: &str = env!("CARGO_BIN_EXE_gateway");

/// Long enough for anything that is not stuck (a cold Python start is
/// seconds).
const DEADLINE: Duration = Duration::from_secs(60);

/// A deployment: `gateway.toml` with an empty tools folder, and
/// `mcp_connections.json` beside it holding `connections`.
fn deployment(connections: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("tools")).expect("tools folder");
    std::fs::write(
        dir.path().join("gateway.toml"),
        "tools_dir = \"tools\"\nfields_dir = \"fields\"\ncache_dir = \"cache\"\n",
    )
    .expect("gateway.toml");
    std::fs::write(connections_file(dir.path()), connections).expect("connections file");
    dir
}

fn connections_file(dir: &Path) -> PathBuf {
    dir.join("mcp_connections.json")
}

/// `mcp_connections.json` text: the vendor server over stdio under each of
/// `names`, approved as first seen.
fn vendors(names: &[&str]) -> String {
    let vendor = json!({
        "transport": "stdio",
        "command": python(),
        "args": [vendor_script(), "stdio"],
        "pin": "auto",
    });
    let connections: serde_json::Map<String, Value> = names
        .iter()
        .map(|name| ((*name).to_owned(), vendor.clone()))
        .collect();
    serde_json::to_string_pretty(&json!({ "connections": connections })).expect("json")
}

/// A `gateway serve` process and its stderr, read as it comes.
struct Served {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Served {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(dir.join("gateway.toml"))
            .args(["serve", "--transport", "http", "--port", "0"])
            .env_remove("GATEWAY_CONFIG")
            .env_remove("GATEWAY_TOOLS_DIR")
            .env_remove("GATEWAY_LOG")
            .env_remove("MCP_TRANSPORT")
            .env_remove("MCP_SERVER_PORT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gateway");
        let log = crate::harness::capture_stderr(&mut child);
        Self { child, log }
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// How many stderr lines contain `text` so far.
    fn lines_with(&self, text: &str) -> usize {
        self.log().lines().filter(|l| l.contains(text)).count()
    }

    /// The address from the `listening on` line.
    async fn addr(&self) -> SocketAddr {
        crate::harness::listening_addr(&self.log).await
    }

    /// The exit status, waiting up to [`DEADLINE`] for it.
    async fn exit(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "still running:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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

/// A stateless 2026-07-28 request to `/mcp`: its JSON-RPC answer.
async fn rpc(addr: SocketAddr, method: &str, params: Value) -> Value {
    let mut params = params;
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    });
    let mut builder = Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params.get("name").and_then(Value::as_str) {
        builder = builder.header("mcp-name", name);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let request = builder
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = connect(addr)
        .await
        .send_request(request)
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
}

/// The tool names `tools/list` answers.
async fn listed(addr: SocketAddr) -> Vec<String> {
    let answer = rpc(addr, "tools/list", json!({})).await;
    answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {answer}"))
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until `tools/list` names every one of `names`.
async fn until_listed(served: &Served, addr: SocketAddr, names: &[&str]) {
    let started = Instant::now();
    loop {
        let now = listed(addr).await;
        if names.iter().all(|n| now.iter().any(|l| l == n)) {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{names:?} not listed: {now:?}\n{}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The process id of the vendor child behind `connection`.
async fn vendor_pid(addr: SocketAddr, connection: &str) -> u64 {
    let me = rpc(
        addr,
        "tools/call",
        json!({"name": format!("{connection}__whoami"), "arguments": {}}),
    )
    .await;
    me["result"]["structuredContent"]["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pid: {me}"))
}

#[tokio::test]
async fn serve_reads_and_watches_the_connections_file_and_survives_a_broken_edit() {
    let dir = deployment(&vendors(&["vendor"]));
    let file = connections_file(dir.path());
    let served = Served::start(dir.path());
    let addr = served.addr().await;

    until_listed(&served, addr, &["vendor__lookup_charge"]).await;
    let ok = rpc(
        addr,
        "tools/call",
        json!({"name": "vendor__lookup_charge", "arguments": {"charge_id": "ch_1"}}),
    )
    .await;
    assert_eq!(ok["result"]["isError"], json!(false), "{ok}");
    assert_eq!(ok["result"]["structuredContent"]["id"], json!("ch_1"));
    let vendor = vendor_pid(addr, "vendor").await;

    // An edit adds a connection: served without a restart, and the one
    // already running keeps its child.
    std::fs::write(&file, vendors(&["vendor", "billing"])).expect("edit");
    until_listed(
        &served,
        addr,
        &["billing__lookup_charge", "vendor__lookup_charge"],
    )
    .await;
    let billing = vendor_pid(addr, "billing").await;
    assert_ne!(billing, vendor, "a child of its own");
    assert_eq!(vendor_pid(addr, "vendor").await, vendor, "not restarted");

    // A broken edit is reported and changes nothing: both keep serving,
    // on the same children.
    let reported = served.lines_with(&file.display().to_string());
    std::fs::write(&file, "{\"connections\": {\"vendor\": ").expect("broken edit");
    let started = Instant::now();
    while served.lines_with(&file.display().to_string()) == reported {
        assert!(
            started.elapsed() < DEADLINE,
            "the broken file was not reported:\n{}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let names = listed(addr).await;
    for name in ["vendor__lookup_charge", "billing__lookup_charge"] {
        assert!(names.contains(&name.to_owned()), "{name}: {names:?}");
    }
    assert_eq!(vendor_pid(addr, "vendor").await, vendor);
    assert_eq!(vendor_pid(addr, "billing").await, billing);
    let ok = rpc(
        addr,
        "tools/call",
        json!({"name": "billing__lookup_charge", "arguments": {"charge_id": "ch_2"}}),
    )
    .await;
    assert_eq!(
        ok["result"]["structuredContent"]["id"],
        json!("ch_2"),
        "{ok}"
    );

    // The file fixed, without `billing`: its tools leave the list, `vendor`
    // keeps its child.
    std::fs::write(&file, vendors(&["vendor"])).expect("fixed edit");
    let started = Instant::now();
    while listed(addr)
        .await
        .contains(&"billing__lookup_charge".to_owned())
    {
        assert!(
            started.elapsed() < DEADLINE,
            "billing still listed:\n{}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(vendor_pid(addr, "vendor").await, vendor);

    // `pin: auto` recorded what it approved in the pins file beside the
    // connections file.
    let pins = gateway::upstream::pins::PinStore::new(dir.path().join("upstream-pins.json"));
    let rows = pins.status().expect("pins file");
    let state = |name: &str| {
        rows.iter()
            .find(|r| r.name == name)
            .map(|r| r.state)
            .unwrap_or_else(|| panic!("{name} not recorded"))
    };
    for name in ["vendor__lookup_charge", "billing__lookup_charge"] {
        assert_eq!(
            state(name),
            gateway::upstream::pins::State::Approved,
            "{name}"
        );
    }
}

#[tokio::test]
async fn serve_refuses_to_start_with_a_broken_connections_file() {
    let dir = deployment("{\"connections\": {\"vendor\": {\"transport\": \"stdio\"");
    let file = connections_file(dir.path());
    let mut served = Served::start(dir.path());
    let status = served.exit().await;
    assert_eq!(status.code(), Some(1), "{}", served.log());
    // Read everything the process wrote before it exited.
    let started = Instant::now();
    while served.lines_with(&file.display().to_string()) == 0 {
        assert!(
            started.elapsed() < DEADLINE,
            "the file is not named on stderr:\n{}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        served.lines_with("listening on"),
        0,
        "it never served:\n{}",
        served.log()
    );
}

//! The tools and fields folders behind git-sync's symlink: the real
//! `gateway serve` process reads `current/tools-wasm` and `current/fields`,
//! where `current -> .worktrees/<revision>`, and a new revision is published
//! exactly as git-sync publishes it — a new tree, a new symlink renamed over
//! the old one (rename(2)), then the old tree deleted. The catalog and the
//! field registry must follow the flip, and the watch must follow it too
//! (a tool added to the new tree afterwards is served); calls to a tool both
//! revisions serve never fail across it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gateway_test_programs::wat;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_gateway");

/// Long enough for anything that is not stuck (a change shows within the
/// 200 ms debounce plus a compile of a tiny component).
const DEADLINE: Duration = Duration::from_secs(60);

const BUILT_IN: [&str; 6] = [
    "health_check",
    "list_field_integrations",
    "lookup_field",
    "get_field_definitions",
    "check_field_drift",
    "discover_fields",
];

fn fields_file(description: &str) -> String {
    format!(
        "integration: zendesk\nfields:\n  ticket_count:\n    display_name: Open tickets\n    description: {description}\n    type: integer\n"
    )
}

/// A tool folder answering `json` to every call.
fn tool(tools: &Path, name: &str, json: &str) {
    let dir = tools.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("tool.toml"), format!("name = \"{name}\"\n")).expect("manifest");
    std::fs::write(dir.join("tool.wasm"), wat::constant(name, json)).expect("component");
}

/// One revision of the repository, checked out as git-sync does:
/// `<root>/.worktrees/<rev>/{tools-wasm,fields}`.
fn revision(root: &Path, rev: &str, tools: &[(&str, &str)], description: &str) -> PathBuf {
    let tree = root.join(".worktrees").join(rev);
    std::fs::create_dir_all(tree.join("tools-wasm")).expect("mkdir");
    std::fs::create_dir_all(tree.join("fields")).expect("mkdir");
    for (name, json) in tools {
        tool(&tree.join("tools-wasm"), name, json);
    }
    std::fs::write(tree.join("fields/zendesk.yaml"), fields_file(description)).expect("fields");
    tree
}

/// Points `<root>/current` at `.worktrees/<rev>` the way git-sync does: a new
/// relative symlink under a temporary name, renamed over the old one.
fn publish(root: &Path, rev: &str) {
    let staged = root.join(".current.tmp");
    std::os::unix::fs::symlink(Path::new(".worktrees").join(rev), &staged).expect("symlink");
    std::fs::rename(&staged, root.join("current")).expect("rename over the link");
}

struct Served {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Served {
    fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// `gateway serve` over HTTP on a free port, configured by `config`.
async fn serve(config: &Path) -> (Served, SocketAddr) {
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["serve", "--transport", "http", "--port", "0"])
        .env_remove("GATEWAY_CONFIG")
        .env_remove("GATEWAY_TOOLS_DIR")
        .env_remove("GATEWAY_FIELDS_DIR")
        .env_remove("MCP_TRANSPORT")
        .env_remove("MCP_SERVER_HOST")
        .env_remove("MCP_SERVER_PORT")
        .env_remove("GATEWAY_ADMIN_KEY")
        .env_remove("GATEWAY_ADMIN_KEY_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gateway");
    let log = crate::harness::capture_stderr(&mut child);
    let served = Served { child, log };
    let addr = crate::harness::listening_addr(&served.log).await;
    (served, addr)
}

/// One stateless (2026-07-28) request; the JSON-RPC response.
async fn rpc(addr: SocketAddr, method: &str, params: Value) -> Value {
    match try_rpc(addr, method, params).await {
        Ok(answer) => answer,
        Err(e) => panic!("{method}: {e}"),
    }
}

/// Like [`rpc`], saying what went wrong instead of panicking.
async fn try_rpc(addr: SocketAddr, method: &str, mut params: Value) -> Result<Value, String> {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let mut builder = Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(name) = params.get("name").and_then(Value::as_str) {
        builder = builder.header("mcp-name", name.to_owned());
    }
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
    let request = builder
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let mut conn = crate::shutdown::connect(addr).await;
    let response = conn
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != StatusCode::OK {
        return Err(format!("HTTP {}", response.status()));
    }
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    // A JSON body, or an event stream whose data lines carry the response.
    serde_json::from_str(&text).or_else(|_| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .find(|m| m["id"] == json!(7))
            .ok_or_else(|| format!("no response in {text:?}"))
    })
}

/// The tools served, built-ins left out, sorted.
async fn served_tools(addr: SocketAddr) -> Vec<String> {
    let list = rpc(addr, "tools/list", json!({})).await;
    let mut names: Vec<String> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .filter(|n| !BUILT_IN.contains(n))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

async fn structured(addr: SocketAddr, name: &str, arguments: Value) -> Value {
    let answer = rpc(
        addr,
        "tools/call",
        json!({"name": name, "arguments": arguments}),
    )
    .await;
    answer["result"]["structuredContent"].clone()
}

async fn field_description(addr: SocketAddr) -> Value {
    structured(
        addr,
        "lookup_field",
        json!({"integration": "zendesk", "field_name": "ticket_count"}),
    )
    .await["description"]
        .clone()
}

/// What the gateway serves: tools, `change`'s answer, the field's text.
#[derive(Debug, PartialEq)]
struct Seen {
    tools: Vec<String>,
    change: Value,
    description: Value,
}

async fn seen(addr: SocketAddr) -> Seen {
    Seen {
        tools: served_tools(addr).await,
        change: structured(addr, "change", json!({})).await,
        description: field_description(addr).await,
    }
}

/// Polls until the gateway serves `want` (or fails after [`DEADLINE`]).
async fn until_seen(served: &Served, addr: SocketAddr, want: &Seen) {
    let started = Instant::now();
    loop {
        let now = seen(addr).await;
        if &now == want {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "still serving {now:?}, want {want:?}\n{}",
            served.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_and_registry_follow_git_syncs_symlink_flip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("git");
    revision(
        &root,
        "a1",
        &[
            ("keep", r#"{"tool":"keep"}"#),
            ("change", r#"{"version":1}"#),
            ("gone", r#"{"tool":"gone"}"#),
        ],
        "Tickets not yet solved.",
    );
    publish(&root, "a1");
    let cache = crate::harness::shared_cache_dir().join("cwasm");
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "tools_dir = \"git/current/tools-wasm\"\nfields_dir = \"git/current/fields\"\ncache_dir = {:?}\n",
            cache.display().to_string()
        ),
    )
    .expect("config");
    let (served, addr) = serve(&config).await;

    assert_eq!(
        seen(addr).await,
        Seen {
            tools: names(&["change", "gone", "keep"]),
            change: json!({"version": 1}),
            description: json!("Tickets not yet solved."),
        }
    );

    // Revision b2: `added` is new, `change` changed, `gone` removed, the
    // field's text edited, `keep` the same.
    revision(
        &root,
        "b2",
        &[
            ("keep", r#"{"tool":"keep"}"#),
            ("change", r#"{"version":2}"#),
            ("added", r#"{"tool":"added"}"#),
        ],
        "Tickets open or pending.",
    );
    // Calls to `keep`, which every revision until the last serves
    // unchanged, go on through the flips: none may fail.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let call = json!({"name": "keep", "arguments": {}});
                match try_rpc(addr, "tools/call", call).await {
                    Ok(a) if a["result"]["structuredContent"] == json!({"tool": "keep"}) => ok += 1,
                    Ok(other) => failed.push(other.to_string()),
                    Err(e) => failed.push(e),
                }
            }
            (ok, failed)
        })
    };

    // The old tree stays a while (git-sync's --stale-worktree-timeout): no
    // event in the tools folder itself tells of the flip.
    publish(&root, "b2");

    until_seen(
        &served,
        addr,
        &Seen {
            tools: names(&["added", "change", "keep"]),
            change: json!({"version": 2}),
            description: json!("Tickets open or pending."),
        },
    )
    .await;
    assert_eq!(
        structured(addr, "keep", json!({})).await,
        json!({"tool": "keep"})
    );

    // The watch moved to the new tree: a change there is served.
    let tools_b = root.join(".worktrees/b2/tools-wasm");
    tool(
        &root.join(".worktrees/b2/.staging"),
        "late",
        r#"{"tool":"late"}"#,
    );
    std::fs::rename(
        root.join(".worktrees/b2/.staging/late"),
        tools_b.join("late"),
    )
    .expect("rename into place");
    until_seen(
        &served,
        addr,
        &Seen {
            tools: names(&["added", "change", "keep", "late"]),
            change: json!({"version": 2}),
            description: json!("Tickets open or pending."),
        },
    )
    .await;

    // The stale tree goes, and changes nothing served.
    std::fs::remove_dir_all(root.join(".worktrees/a1")).expect("remove stale tree");
    assert_eq!(
        served_tools(addr).await,
        names(&["added", "change", "keep", "late"])
    );
    stop.store(true, Ordering::Relaxed);
    let (ok, failed) = load.await.expect("load task");
    assert_eq!(failed, Vec::<String>::new(), "calls failed across the flip");
    assert!(ok > 0, "the load made calls");
    eprintln!("git-sync flip under load: {ok} calls to an unchanged tool, 0 failed");

    // A second flip, the old tree deleted at once (git-sync's default):
    // followed as well.
    revision(
        &root,
        "c3",
        &[("change", r#"{"version":3}"#)],
        "Tickets not yet solved.",
    );
    publish(&root, "c3");
    std::fs::remove_dir_all(root.join(".worktrees/b2")).expect("remove old tree");
    until_seen(
        &served,
        addr,
        &Seen {
            tools: names(&["change"]),
            change: json!({"version": 3}),
            description: json!("Tickets not yet solved."),
        },
    )
    .await;
}

//! The front door held by an attacker: real listeners on 127.0.0.1:0 and
//! raw TCP sockets. Half-sent headers and idle connections are closed; past
//! the connection cap new connections are refused while existing ones are
//! served; sessions and legacy streams are capped and expire; failed admin
//! keys are limited per address; two Host headers are a bad request.
//!
//! Deadlines here only stop a stuck test; what is asserted is that a
//! connection was closed, or a typed status and code.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gateway::admin::auth::AdminKey;
use gateway::admin::{AdminConfig, app as admin_app};
use gateway::frontdoor::listener::{self, ConnectionLimits};
use gateway::frontdoor::{FrontDoor, StreamLimits, TOO_MANY_SESSIONS, TOO_MANY_STREAMS};
use gateway::hotload::Loader;
use gateway::mcp::FieldSource;
use gateway::settings::AdminSettings;
use gateway::shutdown::Shutdown;
use gateway_test_programs::wat;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use wasmtime_wasi_http::io::TokioIo;

use super::mcp::serve_tools_shared;

/// Long enough for anything that is not stuck.
const DEADLINE: Duration = Duration::from_secs(30);
const KEY: &str = "frontdoor-admin-key-0123456789abcdef-0123";
const HOUR: Duration = Duration::from_secs(3600);

fn limits(max_connections: usize, header: Duration, keep_alive: Duration) -> ConnectionLimits {
    ConnectionLimits {
        max_connections,
        header_read_timeout: header,
        keep_alive_timeout: keep_alive,
    }
}

/// The MCP router (an echo tool) served on a real listener.
async fn mcp_server(door: FrontDoor, limits: ConnectionLimits) -> (SocketAddr, tempfile::TempDir) {
    let (app, dir, _) = serve_tools_shared(
        door,
        &[("edge", String::new(), wat::echo())],
        FieldSource::empty(),
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(gateway::mcp::http::serve(
        listener,
        app,
        limits,
        Shutdown::default(),
    ));
    (addr, dir)
}

/// The admin API served on a real listener.
async fn admin_server(
    settings: AdminSettings,
    limits: ConnectionLimits,
) -> (SocketAddr, tempfile::TempDir) {
    let (_, dir, gateway) = serve_tools_shared(
        FrontDoor::default(),
        &[("edge", String::new(), wat::echo())],
        FieldSource::empty(),
    )
    .await;
    let loader = Arc::new(Loader::new(
        Arc::clone(&gateway.runtime),
        Arc::clone(&gateway.catalog),
        crate::harness::compile_budget(),
    ));
    let app = admin_app(
        loader,
        AdminConfig::new(AdminKey::new(KEY).expect("key"), &settings),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let forever = tokio_util::sync::CancellationToken::new();
    tokio::spawn(listener::serve(listener, app, limits, forever, "admin"));
    (addr, dir)
}

/// Reads until the peer closes the connection (EOF or reset); returns what
/// arrived. Panics if it stays open past the deadline.
async fn until_closed(tcp: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(DEADLINE, tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the connection is still open after {DEADLINE:?}"),
        }
    }
}

/// One raw HTTP/1.1 exchange on an open connection: the status and body.
async fn exchange(tcp: &mut TcpStream, request: &str) -> (u16, Vec<u8>) {
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut head = Vec::new();
    let mut buf = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(DEADLINE, tcp.read(&mut buf))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(buf[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    tcp.read_exact(&mut body).await.expect("body");
    (status, body)
}

/// A request both listeners answer 404 (the admin key opens the admin
/// API's router; the MCP router ignores it).
const NOT_FOUND: &str = "GET /nothing-here HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer frontdoor-admin-key-0123456789abcdef-0123\r\n\r\n";

#[tokio::test]
async fn half_sent_headers_and_idle_connections_are_closed_on_both_listeners() {
    // Only the header deadline is short: a connection closed here was
    // closed by it.
    let header_only = limits(64, Duration::from_millis(200), HOUR);
    let (mcp, _a) = mcp_server(FrontDoor::default(), header_only).await;
    let (admin, _b) = admin_server(AdminSettings::default(), header_only).await;
    for addr in [mcp, admin] {
        let mut slow = TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
            .await
            .expect("write");
        let received = until_closed(&mut slow).await;
        assert!(
            received.is_empty(),
            "{:?}",
            String::from_utf8_lossy(&received)
        );
        // A whole request in time is answered, and the connection then
        // waits for the next (no header deadline while idle).
        let mut whole = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(exchange(&mut whole, NOT_FOUND).await.0, 404);
        assert_eq!(exchange(&mut whole, NOT_FOUND).await.0, 404);
    }

    // Only the keep-alive deadline is short: an answered connection left
    // idle is closed, and so is one that never sends a byte.
    let idle_only = limits(64, HOUR, Duration::from_millis(200));
    let (mcp, _c) = mcp_server(FrontDoor::default(), idle_only).await;
    let (admin, _d) = admin_server(AdminSettings::default(), idle_only).await;
    for addr in [mcp, admin] {
        let mut used = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(exchange(&mut used, NOT_FOUND).await.0, 404);
        assert!(until_closed(&mut used).await.is_empty());
        let mut silent = TcpStream::connect(addr).await.expect("connect");
        assert!(until_closed(&mut silent).await.is_empty());
    }
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_refused_and_its_connection_closed() {
    let door = FrontDoor {
        limits: StreamLimits {
            body_read_timeout: Duration::from_millis(200),
            ..StreamLimits::default()
        },
        ..FrontDoor::default()
    };
    let (addr, _dir) = mcp_server(door, limits(64, HOUR, HOUR)).await;
    for (path, accept) in [
        ("/mcp", "application/json, text/event-stream"),
        ("/messages?sessionId=x", "*/*"),
    ] {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\naccept: {accept}\r\ncontent-length: 100\r\n\r\n{{\"jsonrpc\""
        );
        tcp.write_all(head.as_bytes()).await.expect("write");
        let answer = until_closed(&mut tcp).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 408 "),
            "{path}: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_are_refused_and_held_ones_still_served() {
    let capped = limits(2, HOUR, HOUR);
    let (mcp, _a) = mcp_server(FrontDoor::default(), capped).await;
    let (admin, _b) = admin_server(AdminSettings::default(), capped).await;
    for addr in [mcp, admin] {
        // Answered, so accepted: both places are taken.
        let mut first = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(exchange(&mut first, NOT_FOUND).await.0, 404);
        let mut second = TcpStream::connect(addr).await.expect("connect");
        assert_eq!(exchange(&mut second, NOT_FOUND).await.0, 404);

        let mut extra = TcpStream::connect(addr).await.expect("connect");
        let told = until_closed(&mut extra).await;
        assert!(
            told.is_empty() || told.starts_with(b"HTTP/1.1 503 "),
            "{:?}",
            String::from_utf8_lossy(&told)
        );
        assert_eq!(
            exchange(&mut first, NOT_FOUND).await.0,
            404,
            "held one still served"
        );

        // A place freed is a place taken again.
        drop(second);
        let started = Instant::now();
        loop {
            let mut next = TcpStream::connect(addr).await.expect("connect");
            next.write_all(NOT_FOUND.as_bytes()).await.expect("write");
            let got = until_closed_or_answer(&mut next).await;
            if got.starts_with(b"HTTP/1.1 404 ") {
                break;
            }
            assert!(started.elapsed() < DEADLINE, "no place freed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The first bytes the server sends, or nothing if it closes first.
async fn until_closed_or_answer(tcp: &mut TcpStream) -> Vec<u8> {
    let mut buf = [0u8; 64];
    match tokio::time::timeout(DEADLINE, tcp.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].to_vec(),
        Ok(Err(_)) => Vec::new(),
        Err(_) => panic!("neither answered nor closed"),
    }
}

#[tokio::test]
async fn two_host_headers_are_a_bad_request_on_both_listeners() {
    let (mcp, _a) = mcp_server(FrontDoor::default(), ConnectionLimits::default()).await;
    let (admin, _b) = admin_server(AdminSettings::default(), ConnectionLimits::default()).await;
    for (addr, path) in [(mcp, "/sse"), (mcp, "/mcp"), (admin, "/admin/tools")] {
        for hosts in [
            "host: 127.0.0.1\r\nhost: evil.example.com\r\n",
            "host: evil.example.com\r\nhost: 127.0.0.1\r\n",
            "host: 127.0.0.1\r\nhost: 127.0.0.1\r\n",
        ] {
            let mut tcp = TcpStream::connect(addr).await.expect("connect");
            let request = format!(
                "GET {path} HTTP/1.1\r\n{hosts}authorization: Bearer {KEY}\r\naccept: text/event-stream\r\n\r\n"
            );
            assert_eq!(
                exchange(&mut tcp, &request).await.0,
                400,
                "{path} {hosts:?}"
            );
        }
    }
    // The admin API names the refusal.
    let mut tcp = TcpStream::connect(admin).await.expect("connect");
    let request = format!(
        "GET /admin/tools HTTP/1.1\r\nhost: 127.0.0.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {KEY}\r\n\r\n"
    );
    let (status, body) = exchange(&mut tcp, &request).await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(body["error"]["code"], json!("duplicate_host"));
}

/// An admin request from a client bound to `from` (any 127/8 address is
/// loopback on Linux), with `key`: the status and the error code.
async fn admin_request(addr: SocketAddr, from: [u8; 4], key: &str) -> (u16, Option<String>) {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a loopback address");
    let mut tcp = socket.connect(addr).await.expect("connect");
    let request = format!(
        "GET /admin/tools HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {key}\r\n\r\n"
    );
    let (status, body) = exchange(&mut tcp, &request).await;
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["error"]["code"].as_str().map(str::to_owned));
    (status, code)
}

#[tokio::test]
async fn failed_admin_keys_are_limited_per_address_before_any_comparison() {
    let settings = AdminSettings {
        auth_failure_burst: Some(3),
        auth_failure_refill_ms: Some(3_600_000),
        ..AdminSettings::default()
    };
    let (addr, _dir) = admin_server(settings, ConnectionLimits::default()).await;
    let wrong = "frontdoor-admin-key-0123456789abcdef-XXXX";
    let one = [127, 0, 0, 1];
    let two = [127, 0, 0, 2];

    // Successes spend nothing.
    for _ in 0..5 {
        assert_eq!(admin_request(addr, one, KEY).await.0, 200);
    }
    for _ in 0..3 {
        assert_eq!(
            admin_request(addr, one, wrong).await,
            (401, Some("unauthorized".into()))
        );
    }
    // The burst spent: 429 before the key is looked at, right key or not.
    for key in [wrong, KEY] {
        assert_eq!(
            admin_request(addr, one, key).await,
            (429, Some("too_many_failures".into()))
        );
    }
    // Another address has its own budget.
    assert_eq!(admin_request(addr, two, KEY).await.0, 200);
    assert_eq!(
        admin_request(addr, two, wrong).await,
        (401, Some("unauthorized".into()))
    );
}

async fn connect(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (sender, connection) = http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

/// `initialize` on a fresh connection: the status, the session id, and the
/// JSON-RPC error code of a refusal.
async fn initialize(addr: SocketAddr) -> (StatusCode, Option<String>, Option<i64>) {
    let mut conn = connect(addr).await;
    let request = Request::post("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(Full::new(Bytes::from(INITIALIZE)))
        .expect("request");
    let response = conn.send_request(request).await.expect("initialize");
    let status = response.status();
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let code = if status == StatusCode::OK {
        None
    } else {
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|b| b["error"]["code"].as_i64())
    };
    (status, session, code)
}

/// A request in `session`: its status.
async fn in_session(addr: SocketAddr, method: &str, session: &str) -> StatusCode {
    let mut conn = connect(addr).await;
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let request = Request::builder()
        .method(method)
        .uri("/mcp")
        .header("host", addr.to_string())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18")
        .body(Full::new(Bytes::from(ping.to_string())))
        .expect("request");
    conn.send_request(request).await.expect("request").status()
}

/// Polls `attempt` until it yields `Some`.
async fn eventually<T, F: Future<Output = Option<T>>>(mut attempt: impl FnMut() -> F) -> T {
    let started = Instant::now();
    loop {
        if let Some(done) = attempt().await {
            return done;
        }
        assert!(started.elapsed() < DEADLINE, "not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn live_sessions_are_capped_and_an_idle_one_expires() {
    let door = FrontDoor {
        limits: StreamLimits {
            max_sessions: 2,
            session_idle_timeout: HOUR,
            ..StreamLimits::default()
        },
        ..FrontDoor::default()
    };
    let (addr, _dir) = mcp_server(door, ConnectionLimits::default()).await;
    let (status, first, _) = initialize(addr).await;
    assert_eq!(status, StatusCode::OK);
    let first = first.expect("session id");
    assert_eq!(initialize(addr).await.0, StatusCode::OK);
    assert_eq!(
        initialize(addr).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some(TOO_MANY_SESSIONS)
        )
    );
    // A session its client ends frees its place; the end is 204, what
    // clients expect (not rmcp's 202), and the id is then unknown.
    assert_eq!(
        in_session(addr, "DELETE", &first).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        in_session(addr, "DELETE", &first).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(initialize(addr).await.0, StatusCode::OK);

    // With a short idle timeout, an unused session is closed and forgotten.
    let door = FrontDoor {
        limits: StreamLimits {
            max_sessions: 1,
            session_idle_timeout: Duration::from_millis(200),
            ..StreamLimits::default()
        },
        ..FrontDoor::default()
    };
    let (addr, _dir) = mcp_server(door, ConnectionLimits::default()).await;
    let (status, idle, _) = initialize(addr).await;
    assert_eq!(status, StatusCode::OK);
    let idle = idle.expect("session id");
    eventually(|| async { (initialize(addr).await.0 == StatusCode::OK).then_some(()) }).await;
    assert_eq!(in_session(addr, "POST", &idle).await, StatusCode::NOT_FOUND);
}

/// `GET /sse` on a fresh connection: the status, the JSON-RPC code of a
/// refusal, and the open stream.
async fn open_sse(addr: SocketAddr) -> (StatusCode, Option<i64>, Option<Incoming>) {
    let mut conn = connect(addr).await;
    let request = Request::get("/sse")
        .header("host", addr.to_string())
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .expect("request");
    let response = conn.send_request(request).await.expect("sse");
    let status = response.status();
    if status == StatusCode::OK {
        let mut body = response.into_body();
        // The endpoint event arrives first.
        let frame = tokio::time::timeout(DEADLINE, body.frame())
            .await
            .expect("endpoint in time");
        assert!(frame.is_some_and(|f| f.is_ok()));
        return (status, None, Some(body));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["error"]["code"].as_i64());
    (status, code, None)
}

#[tokio::test]
async fn legacy_streams_are_capped_freed_when_their_client_goes_and_expire_unused() {
    let door = FrontDoor {
        limits: StreamLimits {
            max_sse_streams: 1,
            sse_idle_timeout: HOUR,
            ..StreamLimits::default()
        },
        ..FrontDoor::default()
    };
    let (addr, _dir) = mcp_server(door, ConnectionLimits::default()).await;
    let (status, _, held) = open_sse(addr).await;
    assert_eq!(status, StatusCode::OK);
    let refused = open_sse(addr).await;
    assert_eq!(
        (refused.0, refused.1),
        (StatusCode::SERVICE_UNAVAILABLE, Some(TOO_MANY_STREAMS))
    );
    // The client goes (its connection closes): the place is free.
    drop(held);
    let _reopened = eventually(|| async { open_sse(addr).await.2 }).await;

    // Never used, a stream ends after the idle timeout and frees its place.
    let door = FrontDoor {
        limits: StreamLimits {
            max_sse_streams: 1,
            sse_idle_timeout: Duration::from_millis(200),
            ..StreamLimits::default()
        },
        ..FrontDoor::default()
    };
    let (addr, _dir) = mcp_server(door, ConnectionLimits::default()).await;
    let (_, _, stream) = open_sse(addr).await;
    let mut stream = stream.expect("open");
    loop {
        match tokio::time::timeout(DEADLINE, stream.frame()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(None | Some(Err(_))) => break,
            Err(_) => panic!("the idle stream is still open"),
        }
    }
    let _reopened = eventually(|| async { open_sse(addr).await.2 }).await;
}

/// The lines `gateway serve` writes to stderr, as they come.
async fn announced(
    lines: &mut tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
    prefix: &str,
) -> SocketAddr {
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.expect("read") {
            if let Some(rest) = line.split(prefix).nth(1) {
                let addr = rest.split('/').next().unwrap_or_default();
                return addr
                    .parse()
                    .unwrap_or_else(|_| panic!("no address in {line:?}"));
            }
        }
        panic!("gateway serve exited without {prefix:?}");
    })
    .await
    .expect("announced in time")
}

#[tokio::test]
async fn gateway_serve_applies_the_server_and_admin_limits_from_its_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("tools")).expect("mkdir");
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        "tools_dir = \"tools\"\nfields_dir = \"no-fields\"\ncache_dir = \"cache\"\n[server]\nmax_sessions = 1\nsession_idle_timeout_ms = 3600000\n[admin]\nauth_failure_burst = 1\nauth_failure_refill_ms = 3600000\n",
    )
    .expect("config");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"))
        .arg("--config")
        .arg(&config)
        .args(["serve", "--transport", "http", "--port", "0"])
        .args(["--admin-listen", "127.0.0.1:0"])
        .env_remove("GATEWAY_CONFIG")
        .env_remove("GATEWAY_TOOLS_DIR")
        .env_remove("MCP_TRANSPORT")
        .env_remove("MCP_SERVER_PORT")
        .env("GATEWAY_ADMIN_KEY", KEY)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn gateway");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let admin = announced(&mut lines, "admin API on http://").await;
    let mcp = announced(&mut lines, "listening on http://").await;

    assert_eq!(initialize(mcp).await.0, StatusCode::OK);
    assert_eq!(
        initialize(mcp).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            Some(TOO_MANY_SESSIONS)
        )
    );
    let wrong = "frontdoor-admin-key-0123456789abcdef-XXXX";
    let loopback = [127, 0, 0, 1];
    assert_eq!(admin_request(admin, loopback, wrong).await.0, 401);
    assert_eq!(
        admin_request(admin, loopback, KEY).await,
        (429, Some("too_many_failures".into()))
    );
    child.kill().await.expect("kill");
}

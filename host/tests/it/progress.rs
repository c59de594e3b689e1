//! docs/progress.md: WIT versions side by side (a real 0.1.0 guest built
//! with wit-bindgen against host/wit/0.1.0, and 0.2.0 guests built with the
//! SDK), progress reports reaching the caller as `notifications/progress`,
//! and a cancelled call's sandbox stopped with its upstream requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use gateway::capability::progress::ProgressReport;
use gateway::mcp::FieldSource;
use gateway::runtime::cache::CacheOutcome;
use gateway::runtime::{CallControl, CallError, Contract};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use rmcp::model::ContentBlock;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tower::ServiceExt;

use crate::harness::{component, env_with};
use crate::mcp::{in_session, json_body, open_session, serve_tools_with, stateless};

/// An upstream serving `/api/page/{i}` after `delay`, counting requests and
/// waking `seen` at each.
struct Pages {
    addr: std::net::SocketAddr,
    count: Arc<AtomicUsize>,
    seen: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Pages {
    async fn start(delay: Duration) -> Self {
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Notify::new());
        let (c, s) = (Arc::clone(&count), Arc::clone(&seen));
        let app = Router::new().route(
            "/api/page/{i}",
            axum::routing::get(move || {
                let (c, s) = (Arc::clone(&c), Arc::clone(&s));
                async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    s.notify_one();
                    tokio::time::sleep(delay).await;
                    "{}"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            count,
            seen,
            task,
        }
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests arrived.
    async fn wait_for(&self, n: usize) {
        while self.count() < n {
            let notified = self.seen.notified();
            if self.count() >= n {
                break;
            }
            tokio::time::timeout(Duration::from_secs(30), notified)
                .await
                .expect("the upstream sees requests");
        }
    }

    /// The `pages` tool's manifest lines (after `name`) for this upstream.
    fn manifest(&self) -> String {
        format!(
            "[config]\napi_base = \"http://{0}/api\"\n\n[[http]]\nurl = \"http://{0}/api/\"\n",
            self.addr
        )
    }
}

fn grant_loopback(s: &mut gateway::settings::Settings) {
    s.allow_private =
        gateway::outbound::addr::PrivateAllowList::parse(&["127.0.0.1/32"]).expect("allow list");
}

/// Every JSON-RPC message of an SSE or JSON response, in order.
async fn messages(response: axum::response::Response) -> Vec<Value> {
    let sse = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = tokio::time::timeout(Duration::from_secs(30), response.into_body().collect())
        .await
        .expect("the stream ends after the response")
        .expect("body")
        .to_bytes();
    let text = String::from_utf8(body.to_vec()).expect("utf-8");
    if !sse {
        return vec![serde_json::from_str(&text).expect("one JSON message")];
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(str::trim)
        .filter(|data| !data.is_empty())
        .map(|data| serde_json::from_str(data).expect("JSON event data"))
        .collect()
}

/// (progress, total, token) of each `notifications/progress`, and whether
/// the last message is the response to `id`.
fn progress_then_response(messages: &[Value], id: u64) -> (Vec<(f64, Option<f64>, Value)>, bool) {
    let progress = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| {
            let p = &m["params"];
            (
                p["progress"].as_f64().unwrap_or(f64::NAN),
                p["total"].as_f64(),
                p["progressToken"].clone(),
            )
        })
        .collect();
    let last_is_response = messages
        .last()
        .is_some_and(|m| m["id"] == json!(id) && m.get("result").is_some());
    (progress, last_is_response)
}

#[tokio::test]
async fn tools_built_against_0_1_0_and_0_2_0_load_and_answer_in_one_gateway() {
    let tools = [
        (
            "legacy",
            "[config]\ngreeting = \"hi\"\n".to_string(),
            component(gateway_test_programs::LEGACY),
        ),
        (
            "echo",
            String::new(),
            component(gateway_test_programs::ECHO),
        ),
        // Hand-written, also 0.1.0 (host/test-programs/src/wat.rs).
        ("edge", String::new(), gateway_test_programs::wat::echo()),
    ];
    let (app, _dir, gateway) =
        serve_tools_with(Default::default(), &tools, FieldSource::empty(), |_| {}).await;
    let catalog = gateway.catalog.current();
    let contract = |name: &str| catalog.get(name).map(|t| t.contract);
    assert_eq!(contract("legacy"), Some(Contract::V0_1));
    assert_eq!(contract("edge"), Some(Contract::V0_1));
    assert_eq!(contract("echo"), Some(Contract::V0_2));

    let call = |name: &str, arguments: Value, id: u64| {
        stateless(
            "tools/call",
            json!({"name": name, "arguments": arguments}),
            id,
        )
    };
    let (status, legacy) = json_body(
        app.clone()
            .oneshot(call("legacy", json!({"text": "a"}), 1))
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        legacy["result"]["structuredContent"],
        json!({"contract": "0.1.0", "greeting": "hi", "input": {"text": "a"}})
    );
    assert_eq!(legacy["result"]["isError"], json!(false));
    let (status, echo) = json_body(
        app.clone()
            .oneshot(call("echo", json!({"text": "b"}), 2))
            .await
            .expect("call"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echo["result"]["structuredContent"], json!({"text": "b"}));
}

#[tokio::test]
async fn a_0_1_0_component_compiled_before_loads_from_the_cache_and_answers() {
    let manifest = "name = \"legacy\"\n";
    let first = env_with(|_| {});
    let tool = first
        .load(manifest, component(gateway_test_programs::LEGACY))
        .await;
    assert_eq!(
        (tool.cache, tool.contract),
        (CacheOutcome::Compiled, Contract::V0_1)
    );
    // A second gateway over the same cache: the stored artifact is used as is.
    let cache = first.runtime.cache().dir().to_path_buf();
    let second = env_with(move |s| s.cache_dir = cache);
    let tool = second
        .load(manifest, component(gateway_test_programs::LEGACY))
        .await;
    assert_eq!(
        (tool.cache, tool.contract),
        (CacheOutcome::Hit, Contract::V0_1)
    );
    let report = second.runtime.call(&tool, r#"{"text": "c"}"#).await;
    assert_eq!(
        report.result,
        Ok(json!({"contract": "0.1.0", "greeting": "", "input": {"text": "c"}}))
    );
    assert!(report.content.is_empty());
    assert_eq!(report.logs.len(), 1);
    assert_eq!(report.logs[0].message, "legacy called");
}

#[tokio::test]
async fn progress_reports_reach_the_runtime_caller_in_order_then_the_content_block() {
    let upstream = Pages::start(Duration::ZERO).await;
    let env = env_with(grant_loopback);
    let tool = env
        .load(
            &format!("name = \"pages\"\n{}", upstream.manifest()),
            component(gateway_test_programs::PAGES),
        )
        .await;
    assert_eq!(tool.contract, Contract::V0_2);
    let (sender, mut receiver) = gateway::capability::progress::channel();
    let control = CallControl {
        progress: Some(sender),
        cancelled: None,
        ..CallControl::default()
    };
    let report = env
        .runtime
        .call_with(&tool, r#"{"pages": 3}"#, control)
        .await;
    assert_eq!(report.result, Ok(json!({"fetched": 3})));
    assert_eq!(upstream.count(), 3);
    let mut reports = Vec::new();
    while let Ok(r) = receiver.try_recv() {
        reports.push(r);
    }
    let page = |done: f64, message: &str| ProgressReport {
        done,
        total: Some(3.0),
        message: Some(message.into()),
    };
    assert_eq!(
        reports,
        [
            page(0.0, "page 1 of 3"),
            page(1.0, "page 2 of 3"),
            page(2.0, "page 3 of 3"),
            page(3.0, "done"),
        ]
    );
    assert!(
        matches!(report.content.as_slice(), [ContentBlock::Text(t)] if t.text == "fetched 3 pages")
    );
}

#[tokio::test]
async fn a_cancelled_call_stops_its_sandbox_and_sends_nothing_more() {
    let upstream = Pages::start(Duration::from_millis(20)).await;
    let env = env_with(grant_loopback);
    let tool = env
        .load(
            &format!("name = \"pages\"\n{}", upstream.manifest()),
            component(gateway_test_programs::PAGES),
        )
        .await;
    let cancel = Arc::new(Notify::new());
    let fire = Arc::clone(&cancel);
    let control = CallControl {
        progress: None,
        cancelled: Some(Box::pin(async move { fire.notified().await })),
        ..CallControl::default()
    };
    let call = env
        .runtime
        .call_with(&tool, r#"{"pages": 100000}"#, control);
    let (report, ()) = tokio::join!(call, async {
        upstream.wait_for(3).await;
        cancel.notify_one();
    });
    assert_eq!(report.result, Err(CallError::Cancelled));
    let at_cancel = upstream.count();
    assert!(at_cancel >= 3);
    // The sandbox is gone: nothing it could still send arrives later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(upstream.count(), at_cancel);
}

/// A gateway serving `pages` against `upstream`, with an audit trail.
async fn pages_gateway(
    upstream: &Pages,
) -> (
    Router,
    tempfile::TempDir,
    Arc<gateway::mcp::Gateway>,
    gateway::audit::AuditLog,
    std::path::PathBuf,
) {
    let tools = [(
        "pages",
        upstream.manifest(),
        component(gateway_test_programs::PAGES),
    )];
    let (app, dir, gateway) = serve_tools_with(
        Default::default(),
        &tools,
        FieldSource::empty(),
        grant_loopback,
    )
    .await;
    let file = dir.path().join("audit.jsonl");
    let log = gateway::audit::AuditLog::open(&file).expect("audit log");
    gateway.audit.set(log.clone()).expect("set once");
    (app, dir, gateway, log, file)
}

#[tokio::test]
async fn a_2025_session_call_with_a_progress_token_hears_each_page_before_its_result() {
    let upstream = Pages::start(Duration::ZERO).await;
    let (app, _dir, _gateway, _log, _file) = pages_gateway(&upstream).await;
    let session = open_session(&app, &[]).await;
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "pages", "arguments": {"pages": 3}, "_meta": {"progressToken": "tok-1"}}});
    let response = app
        .clone()
        .oneshot(in_session(&call, Some(&session), &[]))
        .await
        .expect("call");
    assert_eq!(response.status(), StatusCode::OK);
    let (progress, last_is_response) = progress_then_response(&messages(response).await, 7);
    let token = json!("tok-1");
    assert_eq!(
        progress,
        [
            (0.0, Some(3.0), token.clone()),
            (1.0, Some(3.0), token.clone()),
            (2.0, Some(3.0), token.clone()),
            (3.0, Some(3.0), token),
        ]
    );
    assert!(last_is_response);
}

#[tokio::test]
async fn a_stateless_call_gets_progress_as_events_of_its_response_and_none_without_a_token() {
    let upstream = Pages::start(Duration::ZERO).await;
    let (app, _dir, _gateway, _log, _file) = pages_gateway(&upstream).await;
    let with_token = stateless(
        "tools/call",
        json!({"name": "pages", "arguments": {"pages": 2}, "_meta": {"progressToken": 42}}),
        3,
    );
    let response = app.clone().oneshot(with_token).await.expect("call");
    assert_eq!(response.status(), StatusCode::OK);
    let (progress, last_is_response) = progress_then_response(&messages(response).await, 3);
    assert_eq!(
        progress,
        [
            (0.0, Some(2.0), json!(42)),
            (1.0, Some(2.0), json!(42)),
            (2.0, Some(2.0), json!(42)),
        ]
    );
    assert!(last_is_response);

    let without = stateless(
        "tools/call",
        json!({"name": "pages", "arguments": {"pages": 2}}),
        4,
    );
    let response = app.clone().oneshot(without).await.expect("call");
    let (progress, last_is_response) = progress_then_response(&messages(response).await, 4);
    assert!(progress.is_empty());
    assert!(last_is_response);
}

/// Audit lines as (tool, outcome), once the trail is closed.
async fn audited(log: gateway::audit::AuditLog, file: &std::path::Path) -> Vec<(String, String)> {
    log.close().await.expect("close");
    std::fs::read_to_string(file)
        .expect("read")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json line"))
        .map(|l| {
            (
                l["tool"].as_str().unwrap_or_default().to_string(),
                l["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Waits until the gateway's metrics count a `cancelled` call of `pages`.
async fn cancelled_in_metrics(gateway: &gateway::mcp::Gateway) -> String {
    let wanted = r#"outcome="cancelled""#;
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let text = gateway.metrics.render(1, 0);
            if text
                .lines()
                .any(|l| l.contains(wanted) && l.contains(r#"tool="pages""#))
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the call ends cancelled")
}

#[tokio::test]
async fn notifications_cancelled_ends_the_call_its_upstream_and_audits_it_cancelled() {
    let upstream = Pages::start(Duration::from_millis(20)).await;
    let (app, _dir, gateway, log, file) = pages_gateway(&upstream).await;
    let session = open_session(&app, &[]).await;
    let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {
        "name": "pages", "arguments": {"pages": 100000}}});
    let running = tokio::spawn(app.clone().oneshot(in_session(&call, Some(&session), &[])));
    upstream.wait_for(3).await;
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 9, "reason": "the user stopped it"}});
    let response = app
        .clone()
        .oneshot(in_session(&cancel, Some(&session), &[]))
        .await
        .expect("cancel");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    cancelled_in_metrics(&gateway).await;
    let at_end = upstream.count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(upstream.count(), at_end);
    assert_eq!(
        audited(log, &file).await,
        [("pages".to_string(), "cancelled".to_string())]
    );
    running.abort();
}

#[tokio::test]
async fn a_stateless_client_that_drops_its_request_cancels_the_call() {
    let upstream = Pages::start(Duration::from_millis(20)).await;
    let (app, _dir, gateway, log, file) = pages_gateway(&upstream).await;
    let request: Request<Body> = stateless(
        "tools/call",
        json!({"name": "pages", "arguments": {"pages": 100000}}),
        5,
    );
    let running = tokio::spawn(app.clone().oneshot(request));
    upstream.wait_for(3).await;
    // The client goes away: its request (and response, if any) is dropped.
    running.abort();
    let _ = running.await;
    cancelled_in_metrics(&gateway).await;
    let at_end = upstream.count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(upstream.count(), at_end);
    assert_eq!(
        audited(log, &file).await,
        [("pages".to_string(), "cancelled".to_string())]
    );
}

#[tokio::test]
async fn a_guest_spinning_without_host_calls_is_stopped_by_a_cancellation() {
    let env = env_with(|_| {});
    // A timeout far beyond the test: only the cancellation can end the call.
    let tool = env
        .load(
            "name = \"edge\"\n[limits]\ntimeout_ms = 120000\n",
            gateway_test_programs::wat::infinite_loop(),
        )
        .await;
    let (fire, wait) = tokio::sync::oneshot::channel::<()>();
    let control = CallControl {
        progress: None,
        cancelled: Some(Box::pin(async move {
            let _ = wait.await;
        })),
        ..CallControl::default()
    };
    let call = env.runtime.call_with(&tool, "{}", control);
    let (report, ()) = tokio::join!(call, async move {
        // Cancel once the call is running (the guest is spinning by then or soon).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = fire.send(());
    });
    assert_eq!(report.result, Err(CallError::Cancelled));
}

#[tokio::test]
async fn a_cancellable_call_still_times_out_on_its_own_budget() {
    let env = env_with(|_| {});
    let tool = env
        .load(
            "name = \"edge\"\n[limits]\ntimeout_ms = 200\n",
            gateway_test_programs::wat::infinite_loop(),
        )
        .await;
    let control = CallControl {
        progress: None,
        cancelled: Some(Box::pin(std::future::pending())),
        ..CallControl::default()
    };
    let report = env.runtime.call_with(&tool, "{}", control).await;
    assert_eq!(
        report.result,
        Err(CallError::Timeout(Duration::from_millis(200)))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_python_tool_reports_progress_through_the_sdk() {
    use gateway::build::Language;
    use gateway::build::scaffold::new_tool;
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = new_tool(parent.path(), "steps", Language::Python).expect("scaffold");
    std::fs::write(
        dir.join("scripts/steps.py"),
        r#"import gateway_tool
from gateway_tool import tool


@tool
def steps(n: int) -> dict:
    """Counts to n, reporting each step.

    Args:
        n: How many steps.
    """
    for i in range(n):
        gateway_tool.progress(i, total=n, message=f"step {i + 1}")
    gateway_tool.progress(n, total=n)
    return {"steps": n}
"#,
    )
    .expect("script");
    let component = crate::harness::python_component(&dir, "steps");
    let staged = crate::harness::stage(&dir, &component);
    let env = env_with(|_| {});
    let tool = env.runtime.load_dir(staged.path()).await.expect("loads");
    assert_eq!(tool.contract, Contract::V0_2);
    let (sender, mut receiver) = gateway::capability::progress::channel();
    let control = CallControl {
        progress: Some(sender),
        cancelled: None,
        ..CallControl::default()
    };
    let report = env.runtime.call_with(&tool, r#"{"n": 2}"#, control).await;
    assert_eq!(report.result, Ok(json!({"steps": 2})));
    assert!(report.content.is_empty());
    let mut reports = Vec::new();
    while let Ok(r) = receiver.try_recv() {
        reports.push(r);
    }
    let step = |done: f64, message: Option<&str>| ProgressReport {
        done,
        total: Some(2.0),
        message: message.map(str::to_string),
    };
    assert_eq!(
        reports,
        [
            step(0.0, Some("step 1")),
            step(1.0, Some("step 2")),
            step(2.0, None)
        ]
    );
}

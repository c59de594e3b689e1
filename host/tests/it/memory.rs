//! `limits.memory_mib` covers all linear memories and tables of a call
//! together, and `[runtime] memory_budget_mib` caps the memory of all calls in
//! flight: past it a call fails as overloaded, not as the tool's fault.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gateway::runtime::CallError;
use gateway::runtime::limits::WASM_PAGE_BYTES;
use gateway::settings::Settings;
use gateway_test_programs::wat;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::harness::{component, env_with};

const EDGE: &str = "name = \"edge\"\n";
/// Longest the test waits for a state it polls for; only a hang reaches it.
pub(crate) const PATIENCE: Duration = Duration::from_secs(120);

#[tokio::test]
async fn the_memory_limit_covers_every_memory_of_a_call_together() {
    let env = env_with(|_| {});
    let limit = 64 << 20;

    // 16 memories each growing towards 64 MiB: refused once they hold 64 MiB together.
    let bomb = env
        .load(
            &format!("{EDGE}[limits]\nmemory_mib = 64\n"),
            wat::memories(16, 1024),
        )
        .await;
    let report = env.runtime.call(&bomb, "{}").await;
    assert_eq!(report.result, Err(CallError::MemoryExhausted(limit)));
    assert!(
        report.peak_memory_bytes <= limit,
        "{}",
        report.peak_memory_bytes
    );
    assert!(report.peak_memory_bytes > limit - WASM_PAGE_BYTES);

    // Four memories of 8 MiB each fit, and are counted exactly.
    let four = env
        .load(
            &format!("{EDGE}[limits]\nmemory_mib = 64\n"),
            wat::memories(4, 128),
        )
        .await;
    let report = env.runtime.call(&four, "{}").await;
    assert_eq!(report.result, Ok(json!({})));
    assert_eq!(report.peak_memory_bytes, 32 << 20);
    assert_eq!(env.runtime.memory_budget().in_use(), 0);
}

#[tokio::test]
async fn a_single_memory_component_gets_its_full_limit() {
    let env = env_with(|_| {});
    let tool = env
        .load(
            &format!("{EDGE}[limits]\nmemory_mib = 16\n"),
            wat::memories(1, 256),
        )
        .await;
    let report = env.runtime.call(&tool, "{}").await;
    assert_eq!(report.result, Ok(json!({})));
    assert_eq!(report.peak_memory_bytes, 16 << 20);
}

#[tokio::test]
async fn tables_count_towards_the_memory_limit() {
    let env = env_with(|_| {});
    let tool = env
        .load(
            &format!("{EDGE}[limits]\nmemory_mib = 1\n"),
            wat::table_bomb(),
        )
        .await;
    let report = env.runtime.call(&tool, "{}").await;
    assert_eq!(report.result, Err(CallError::MemoryExhausted(1 << 20)));
    assert!(report.peak_memory_bytes <= 1 << 20);
    // Well past the one page of linear memory: the table's elements were charged.
    assert!(report.peak_memory_bytes > WASM_PAGE_BYTES);
}

/// An upstream on 127.0.0.1 that holds every request until `release`, so
/// calls stay in flight for as long as the test needs, then answers `{}`.
pub(crate) struct Hold {
    pub(crate) port: u16,
    pub(crate) held: Arc<AtomicUsize>,
    pub(crate) release: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hold {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let held = Arc::new(AtomicUsize::new(0));
        let (release, open) = watch::channel(false);
        let count = Arc::clone(&held);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (count, mut open) = (Arc::clone(&count), open.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    if open.wait_for(|open| *open).await.is_err() {
                        return;
                    }
                    let _ = stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                        .await;
                });
            }
        });
        Self {
            port,
            held,
            release,
            task,
        }
    }

    /// Waits until `n` requests are being held.
    pub(crate) async fn until_held(&self, n: usize) {
        tokio::time::timeout(PATIENCE, async {
            while self.held.load(Ordering::SeqCst) < n {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("requests reach the upstream");
    }
}

pub(crate) fn grant_loopback(s: &mut Settings) {
    s.allow_private =
        gateway::outbound::addr::PrivateAllowList::parse(&["127.0.0.1/32"]).expect("allow list");
    s.timeouts.first_byte = PATIENCE;
}

fn probe_manifest(port: u16) -> String {
    format!(
        "name = \"probe\"\n[limits]\ntimeout_ms = 120000\n[[http]]\nurl = \"http://127.0.0.1:{port}/api/\"\n"
    )
}

fn ok_probe(result: &Result<Value, CallError>) -> bool {
    matches!(result, Ok(outcome) if outcome["ok"] == json!(true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_memory_budget_a_call_is_overloaded_until_calls_in_flight_end() {
    let hold = Hold::start().await;
    let input = json!({"url": format!("http://127.0.0.1:{}/api/x", hold.port)}).to_string();

    // Calibrate on a runtime with the default budget: what one call holds
    // while its request is held, and its peak once answered.
    let (held_bytes, peak_bytes) = {
        let env = env_with(grant_loopback);
        let tool = Arc::new(
            env.load(
                &probe_manifest(hold.port),
                component(gateway_test_programs::PROBE),
            )
            .await,
        );
        let runtime = Arc::new(env.runtime);
        let call = {
            let (runtime, tool, input) = (runtime.clone(), tool.clone(), input.clone());
            tokio::spawn(async move { runtime.call(&tool, &input).await })
        };
        hold.until_held(1).await;
        let held_bytes = runtime.memory_budget().in_use();
        hold.release.send_replace(true);
        let report = call.await.expect("join");
        assert!(ok_probe(&report.result), "{:?}", report.result);
        assert_eq!(runtime.memory_budget().in_use(), 0);
        (held_bytes, report.peak_memory_bytes)
    };
    // A budget that three answered calls fit in but four held ones do not.
    assert!(4 * held_bytes > 3 * peak_bytes, "{held_bytes} {peak_bytes}");
    let budget = 3 * peak_bytes + (4 * held_bytes - 3 * peak_bytes) / 2;

    let hold = Hold::start().await;
    let input = json!({"url": format!("http://127.0.0.1:{}/api/x", hold.port)}).to_string();
    let env = env_with(|s| {
        grant_loopback(s);
        s.runtime.memory_budget_bytes = Some(budget);
    });
    let tool = Arc::new(
        env.load(
            &probe_manifest(hold.port),
            component(gateway_test_programs::PROBE),
        )
        .await,
    );
    let runtime = Arc::new(env.runtime);
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let (runtime, tool, input) = (runtime.clone(), tool.clone(), input.clone());
            tokio::spawn(async move { runtime.call(&tool, &input).await })
        })
        .collect();
    hold.until_held(3).await;
    let in_flight = runtime.memory_budget().in_use();

    // The fourth call does not fit: overloaded, and it gave back what it took.
    let extra = tokio::time::timeout(PATIENCE, runtime.call(&tool, &input))
        .await
        .expect("the extra call ends without being held");
    assert_eq!(extra.result, Err(CallError::Overloaded));
    assert_eq!(hold.held.load(Ordering::SeqCst), 3);
    assert_eq!(runtime.memory_budget().in_use(), in_flight);

    hold.release.send_replace(true);
    for call in calls {
        let report = call.await.expect("join");
        assert!(ok_probe(&report.result), "{:?}", report.result);
    }
    assert_eq!(runtime.memory_budget().in_use(), 0);
    let after = runtime.call(&tool, &input).await;
    assert!(ok_probe(&after.result), "{:?}", after.result);
}

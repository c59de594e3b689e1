//! Python tools through the sandbox: per-call latency of a trivial CPython
//! tool with a fresh instance per call, the start-up of a gateway with 10
//! Python tools and a warm compile cache, and resident memory when idle.
//!
//! ```sh
//! ./scripts/setup   # componentize-py
//! CARGO_TARGET_DIR=$HOME/.cache/agent-gateway/bench-target cargo bench -p agent-gateway --bench python
//! ```
//! The first run builds 10 components (~15 s each) and compiles them (~10 s
//! each); later runs reuse both caches.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::catalog::Catalog;
use gateway::runtime::Runtime;
use gateway::settings::Settings;

const TOOLS: usize = 10;
const LATENCY_CALLS: usize = 2000;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(5);
const THREADS: usize = 2;
const INPUT: &str = r#"{"text":"hello"}"#;

fn cache_root() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/agent-gateway/bench-python")
}

/// Writes tool folder `echo_<i>` and builds its component (cached).
fn tool_folder(tools: &Path, i: usize) -> anyhow::Result<()> {
    let name = format!("echo_{i}");
    let dir = tools.join(&name);
    std::fs::create_dir_all(dir.join("scripts"))?;
    std::fs::write(dir.join("tool.toml"), format!("name = \"{name}\"\n"))?;
    std::fs::write(dir.join("SKILL.md"), "Benchmark tool.\n")?;
    std::fs::write(
        dir.join(format!("scripts/{name}.py")),
        format!(
            "from gateway_tool import tool\n\n\n@tool\ndef {name}(text: str) -> dict:\n    \"\"\"Returns its input text.\n\n    Args:\n        text: Text to return.\n    \"\"\"\n    return {{\"text\": text}}\n"
        ),
    )?;
    let started = Instant::now();
    let component = gateway::build::python::build_cached(
        &dir,
        &name,
        &cache_root().join("components"),
        &mut |_| {},
    )?;
    std::fs::copy(component, dir.join("tool.wasm"))?;
    eprintln!(
        "{name}: component ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn settings(tools: &Path) -> Settings {
    Settings {
        tools_dir: tools.to_path_buf(),
        cache_dir: cache_root().join("cwasm"),
        ..Settings::default()
    }
}

async fn run() -> anyhow::Result<()> {
    let rss_before = rss_kib();
    let tools = tempfile::tempdir()?;
    for i in 0..TOOLS {
        tool_folder(tools.path(), i)?;
    }
    // Cold-cache load once (compiles whatever is missing), then measure warm loads.
    {
        let started = Instant::now();
        let runtime = Runtime::new(settings(tools.path()))?;
        let (catalog, errors) = Catalog::load(&runtime, tools.path()).await?;
        anyhow::ensure!(
            errors.is_empty() && catalog.len() == TOOLS,
            "load errors: {errors:?}"
        );
        eprintln!(
            "first load (compiling what the cache lacks): {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    let mut warm = Vec::new();
    let mut kept = None;
    for _ in 0..3 {
        let started = Instant::now();
        let runtime = Runtime::new(settings(tools.path()))?;
        let (catalog, errors) = Catalog::load(&runtime, tools.path()).await?;
        anyhow::ensure!(
            errors.is_empty() && catalog.len() == TOOLS,
            "load errors: {errors:?}"
        );
        warm.push(started.elapsed());
        kept = Some((runtime, catalog));
    }
    warm.sort();
    let (runtime, catalog) = kept.ok_or_else(|| anyhow::anyhow!("no load"))?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = rss_kib();

    let tool = Arc::clone(
        catalog
            .get("echo_0")
            .ok_or_else(|| anyhow::anyhow!("echo_0 missing"))?,
    );
    let runtime = Arc::new(runtime);
    for _ in 0..50 {
        runtime
            .call(&tool, INPUT)
            .await
            .result
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut samples = Vec::with_capacity(LATENCY_CALLS);
    for _ in 0..LATENCY_CALLS {
        let started = Instant::now();
        runtime
            .call(&tool, INPUT)
            .await
            .result
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        samples.push(started.elapsed());
    }
    samples.sort();
    let pct =
        |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;

    let deadline = Instant::now() + THROUGHPUT_WINDOW;
    let mut tasks = Vec::new();
    for _ in 0..THREADS {
        let (runtime, tool) = (Arc::clone(&runtime), Arc::clone(&tool));
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                runtime
                    .call(&tool, INPUT)
                    .await
                    .result
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut calls = 0;
    for t in tasks {
        calls += t.await??;
    }

    println!("| measure | result |");
    println!("|---|---|");
    println!(
        "| Python tool call, fresh instance per call: p50 | {:.2} ms |",
        pct(0.50)
    );
    println!("| Python tool call: p99 | {:.2} ms |", pct(0.99));
    println!(
        "| Python tool calls/s ({THREADS} threads) | {:.0} |",
        calls as f64 / THROUGHPUT_WINDOW.as_secs_f64()
    );
    println!(
        "| gateway start with {TOOLS} Python tools, warm cache (engine + load + describe each; median of 3) | {:.0} ms |",
        warm[1].as_secs_f64() * 1000.0
    );
    println!(
        "| resident memory, {TOOLS} Python tools loaded, idle | {} MiB (process at start: {} MiB) |",
        rss_idle / 1024,
        rss_before / 1024
    );
    println!();
    println!(
        "{LATENCY_CALLS} sequential calls after 50 warm-up calls; {}s throughput window",
        THROUGHPUT_WINDOW.as_secs()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()?
        .block_on(run())
}

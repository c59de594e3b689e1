//! Per-call cost of the gateway runtime against the raw wasmtime floor:
//! the same component on the same engine configuration, where "raw" is only
//! store + instantiate + call. Run:
//!
//! ```sh
//! cargo bench -p agent-gateway --bench runtime
//! ```
//!
//! Prints a Markdown table for BENCHMARKS.md. Runs interleave raw and gateway
//! rounds so machine noise hits both alike; compare the ratio, not absolutes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use gateway::manifest::Manifest;
use gateway::runtime::engine;
use gateway::runtime::{LoadedTool, Runtime};
use gateway::settings::Settings;
use wasmtime::component::{Component, ComponentExportIndex, ComponentType, Lift, Linker};
use wasmtime::{Engine, Store};

/// Calls per latency round.
const LATENCY_CALLS: usize = 20_000;
/// Wall time per throughput round.
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(3);
/// Concurrent callers in throughput rounds (one per core here).
const THREADS: usize = 2;
/// Interleaved rounds per mode.
const ROUNDS: usize = 3;
const INPUT: &str = r#"{"text":"hello"}"#;

/// The WIT `tool-error` variant, for the raw typed call.
#[derive(ComponentType, Lift, Debug)]
#[component(variant)]
#[allow(
    dead_code,
    reason = "the payloads are only lifted, to type the raw call"
)]
enum ToolErr {
    #[component(name = "invalid-input")]
    InvalidInput(String),
    #[component(name = "upstream")]
    Upstream(String),
    #[component(name = "denied")]
    Denied(String),
    #[component(name = "internal")]
    Internal(String),
}

/// wasmtime's error type (without its `anyhow` feature) into anyhow's.
fn w<T>(r: wasmtime::Result<T>) -> anyhow::Result<T> {
    r.map_err(|e| anyhow::anyhow!("{e:#}"))
}

/// The raw floor: a bare store per call, nothing else.
struct Raw {
    engine: Engine,
    pre: wasmtime::component::InstancePre<()>,
    call: ComponentExportIndex,
}

impl Raw {
    fn new(bytes: &[u8]) -> anyhow::Result<Self> {
        let engine = w(Engine::new(&engine::config()))?;
        let component = w(Component::new(&engine, bytes))?;
        let iface = component
            .get_export_index(None, "gateway:tool/tool@0.1.0")
            .context("interface export")?;
        let call = component
            .get_export_index(Some(&iface), "call")
            .context("call export")?;
        let pre = w(Linker::<()>::new(&engine).instantiate_pre(&component))?;
        Ok(Self { engine, pre, call })
    }

    async fn call(&self, input: &str) -> anyhow::Result<String> {
        let mut store = Store::new(&self.engine, ());
        store.set_epoch_deadline(u64::MAX / 2);
        let instance = w(self.pre.instantiate_async(&mut store).await)?;
        let func =
            w(instance
                .get_typed_func::<(&str,), (Result<String, ToolErr>,)>(&mut store, &self.call))?;
        let (result,) = w(func.call_async(&mut store, (input,)).await)?;
        result.map_err(|e| anyhow::anyhow!("{e:?}"))
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Raw,
    Gateway,
}

struct Subject {
    raw: Raw,
    runtime: Runtime,
    tool: LoadedTool,
}

impl Subject {
    async fn call(&self, mode: Mode) -> anyhow::Result<()> {
        match mode {
            Mode::Raw => self.raw.call(INPUT).await.map(drop),
            Mode::Gateway => self
                .runtime
                .call(&self.tool, INPUT)
                .await
                .result
                .map(drop)
                .map_err(|e| anyhow::anyhow!("{e}")),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn latency(subject: &Subject, mode: Mode) -> anyhow::Result<(Duration, Duration)> {
    let mut samples = Vec::with_capacity(LATENCY_CALLS);
    for _ in 0..LATENCY_CALLS {
        let start = Instant::now();
        subject.call(mode).await?;
        samples.push(start.elapsed());
    }
    samples.sort();
    Ok((percentile(&samples, 0.50), percentile(&samples, 0.99)))
}

async fn throughput(subject: &Arc<Subject>, mode: Mode) -> anyhow::Result<f64> {
    let deadline = Instant::now() + THROUGHPUT_WINDOW;
    let mut tasks = Vec::new();
    for _ in 0..THREADS {
        let subject = Arc::clone(subject);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                subject.call(mode).await?;
                n += 1;
            }
            anyhow::Ok(n)
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / THROUGHPUT_WINDOW.as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn run() -> anyhow::Result<()> {
    // The smallest component that speaks the gateway contract (the same
    // hand-written echo the integration tests use).
    let bytes = gateway_test_programs::wat::echo();
    let cache = tempfile::tempdir()?;
    let settings = Settings {
        cache_dir: cache.path().to_path_buf(),
        ..Settings::default()
    };
    let runtime = Runtime::new(settings)?;
    let manifest_file = cache.path().join("tool.toml");
    std::fs::write(&manifest_file, "name = \"edge\"\n")?;
    let manifest = Manifest::load(&manifest_file)?;
    let tool = runtime
        .load(manifest, cache.path().join("tool.wasm"), bytes.clone())
        .await?;
    let subject = Arc::new(Subject {
        raw: Raw::new(&bytes)?,
        runtime,
        tool,
    });
    for mode in [Mode::Raw, Mode::Gateway] {
        for _ in 0..2000 {
            subject.call(mode).await?;
        }
    }

    let (mut raw_p50, mut raw_p99, mut gw_p50, mut gw_p99) = (vec![], vec![], vec![], vec![]);
    let (mut raw_tp, mut gw_tp) = (vec![], vec![]);
    for round in 0..ROUNDS {
        let (p50, p99) = latency(&subject, Mode::Raw).await?;
        raw_p50.push(us(p50));
        raw_p99.push(us(p99));
        let (p50, p99) = latency(&subject, Mode::Gateway).await?;
        gw_p50.push(us(p50));
        gw_p99.push(us(p99));
        raw_tp.push(throughput(&subject, Mode::Raw).await?);
        gw_tp.push(throughput(&subject, Mode::Gateway).await?);
        eprintln!("round {} done", round + 1);
    }
    let (rp50, rp99, gp50, gp99) = (
        median(raw_p50),
        median(raw_p99),
        median(gw_p50),
        median(gw_p99),
    );
    let (rtp, gtp) = (median(raw_tp), median(gw_tp));
    println!("| path | p50 (µs) | p99 (µs) | calls/s ({THREADS} threads) |");
    println!("|---|---|---|---|");
    println!("| raw wasmtime (store + instantiate + call) | {rp50:.1} | {rp99:.1} | {rtp:.0} |");
    println!("| gateway runtime (`Runtime::call`) | {gp50:.1} | {gp99:.1} | {gtp:.0} |");
    println!(
        "| ratio gateway / raw | {:.2}× | {:.2}× | {:.2}× |",
        gp50 / rp50,
        gp99 / rp99,
        gtp / rtp
    );
    println!();
    println!(
        "medians of {ROUNDS} interleaved rounds; {LATENCY_CALLS} sequential calls per latency round, {}s per throughput round",
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

//! What the Python file view costs per call (docs/python-tools.md): a tool
//! that imports nothing new, with and without the view's read-only
//! preopens; a tool that imports standard-library modules inside its
//! function (the build pre-imports them into the snapshot); and the same
//! modules imported by name at call time (the view serves them each call).
//!
//! ```sh
//! ./scripts/setup   # componentize-py
//! CARGO_TARGET_DIR=$HOME/.cache/agent-gateway/bench-target cargo bench -p agent-gateway --bench pystdlib
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gateway::manifest::Manifest;
use gateway::runtime::{LoadedTool, Runtime, pyview};
use gateway::settings::Settings;

const CALLS: usize = 400;
const WARMUP: usize = 20;
const INPUT: &str = r#"{"text":"2026-10-01"}"#;
const LAZY: &str = "    import fractions\n    import statistics\n    import difflib\n";
/// The same modules imported by name at call time: the build cannot see
/// them, so the view serves them (as it does a package's own lazy imports).
const DYNAMIC: &str = "    import importlib\n    for m in ('fractions', 'statistics', 'difflib'):\n        importlib.import_module(m)\n";

fn cache_root() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/agent-gateway/bench-pystdlib")
}

/// A tool folder named `name` whose function body starts with `body_imports`
/// and whose script starts with `top_imports`; returns its component.
fn build(
    tools: &Path,
    name: &str,
    top_imports: &str,
    body_imports: &str,
) -> anyhow::Result<PathBuf> {
    let dir = tools.join(name);
    std::fs::create_dir_all(dir.join("scripts"))?;
    std::fs::write(dir.join("tool.toml"), format!("name = \"{name}\"\n"))?;
    std::fs::write(dir.join("SKILL.md"), "Benchmark tool.\n")?;
    std::fs::write(
        dir.join(format!("scripts/{name}.py")),
        format!(
            "{top_imports}from gateway_tool import tool\n\n\n@tool\ndef {name}(text: str) -> dict:\n    \"\"\"Returns its input text.\n\n    Args:\n        text: Text to return.\n    \"\"\"\n{body_imports}    return {{\"text\": text}}\n"
        ),
    )?;
    let started = Instant::now();
    let component = gateway::build::python::build_cached(
        &dir,
        name,
        &cache_root().join("components"),
        &mut |_| {},
    )?;
    eprintln!(
        "{name}: component ready in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(component)
}

/// The component without its view sections (which the build appends last):
/// what a tool cost before views existed.
fn without_view(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    use wasmparser::{Parser, Payload};
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::CustomSection(r)
                if depth == 0 && r.name().starts_with(pyview::SECTION_PREFIX) =>
            {
                let range = r.range();
                // The header before the contents: id 0, then the LEB128 size.
                for k in 1..=5 {
                    let Some(id) = range.start.checked_sub(k + 1) else {
                        break;
                    };
                    if bytes[id] == 0 && leb(&bytes[id + 1..range.start]) == Some(range.len()) {
                        return Ok(bytes[..id].to_vec());
                    }
                }
                anyhow::bail!("no section header before the first view section");
            }
            _ => {}
        }
    }
    anyhow::bail!("no view sections")
}

/// Decodes `b` as exactly one LEB128 number.
fn leb(b: &[u8]) -> Option<usize> {
    let mut value = 0usize;
    for (i, byte) in b.iter().enumerate() {
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return (i + 1 == b.len()).then_some(value);
        }
    }
    None
}

async fn load(
    runtime: &Runtime,
    dir: &Path,
    name: &str,
    bytes: Vec<u8>,
) -> anyhow::Result<LoadedTool> {
    let tool_dir = dir.join(format!("{name}-load"));
    std::fs::create_dir_all(&tool_dir)?;
    let manifest_file = tool_dir.join("tool.toml");
    std::fs::write(&manifest_file, format!("name = \"{name}\"\n"))?;
    let manifest = Manifest::load(&manifest_file)?;
    Ok(runtime
        .load(manifest, tool_dir.join("tool.wasm"), bytes)
        .await?)
}

async fn p50_p99(runtime: &Runtime, tool: &LoadedTool) -> anyhow::Result<(f64, f64)> {
    for _ in 0..WARMUP {
        runtime
            .call(tool, INPUT)
            .await
            .result
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        runtime
            .call(tool, INPUT)
            .await
            .result
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        samples.push(started.elapsed());
    }
    samples.sort();
    let pct =
        |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
    Ok((pct(0.5), pct(0.99)))
}

async fn run() -> anyhow::Result<()> {
    let tools = tempfile::tempdir()?;
    let echo = std::fs::read(build(tools.path(), "echo", "", "")?)?;
    let lazy = std::fs::read(build(tools.path(), "lazy", "", LAZY)?)?;
    let dynamic = std::fs::read(build(tools.path(), "dynamic", "", DYNAMIC)?)?;
    let runtime = Runtime::new(Settings {
        cache_dir: cache_root().join("cwasm"),
        ..Settings::default()
    })?;
    let stripped = without_view(&echo)?;
    anyhow::ensure!(stripped.len() < echo.len(), "no view sections found");
    println!("| Python call, fresh instance per call | p50 | p99 |");
    println!("|---|---|---|");
    for (label, name, bytes) in [
        (
            "imports nothing new, no file view (before)",
            "echo",
            stripped,
        ),
        ("imports nothing new, with the file view", "echo", echo),
        (
            "imports fractions, statistics, difflib inside the function (pre-imported at build)",
            "lazy",
            lazy,
        ),
        (
            "the same modules by importlib.import_module at call time (from the view)",
            "dynamic",
            dynamic,
        ),
    ] {
        let tool = load(&runtime, tools.path(), name, bytes).await?;
        let (p50, p99) = p50_p99(&runtime, &tool).await?;
        println!("| {label} | {p50:.2} ms | {p99:.2} ms |");
    }
    println!();
    println!("{CALLS} sequential calls after {WARMUP} warm-up calls each");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(run())
}

//! Compiling a new component off the request path, within a budget.
//!
//! Cranelift compiling an untrusted upload can take seconds (CPython takes
//! ~15 s on 2 cores) and a hostile component can make it take far longer or
//! allocate without bound. So the serving gateway does not compile uploads
//! itself: it runs `gateway precompile` as a child process with an
//! address-space limit the child sets on itself, kills it when the time
//! budget is spent, and loads the artifact the child wrote to the shared
//! cache (`runtime::cache`). An artifact already in the cache, compiled by
//! CI or by another gateway sharing the cache, is used without a child.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use crate::runtime::cache::{ArtifactCache, sha256_hex};

/// Exit status of `gateway precompile` when the component does not compile.
pub const EXIT_INVALID: i32 = 3;
/// Exit status of `gateway precompile` when it ran out of its memory budget.
pub const EXIT_MEMORY: i32 = 4;
/// The most of a failing child's stderr kept for the error.
const MAX_STDERR: u64 = 8 * 1024;

/// How long, and with how much address space, a compile may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileBudget {
    /// Wall time before the compile is killed.
    pub timeout: Duration,
    /// Address space the compiling process may add to what it has at start.
    pub memory_bytes: u64,
    /// The `gateway` executable that compiles (`gateway precompile`); `None`
    /// means this process's own executable.
    pub program: Option<PathBuf>,
}

impl Default for CompileBudget {
    fn default() -> Self {
        Self {
            // CPython components take ~15 s on 2 cores; an order of
            // magnitude of headroom, and still bounded.
            timeout: Duration::from_secs(180),
            // Compiling CPython (the largest components) stays well under
            // 1 GiB; the rest is headroom.
            memory_bytes: 2 << 30,
            program: None,
        }
    }
}

/// Why a component was not compiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// Not a component this engine can compile.
    #[error("not a valid component: {0}")]
    Invalid(String),
    /// The compile ran past its time budget and was stopped.
    #[error("compiling took longer than the budget of {} s and was stopped", .0.as_secs_f64())]
    Timeout(Duration),
    /// The compile needed more memory than its budget.
    #[error("compiling needed more than the memory budget of {} MiB", .0 >> 20)]
    Memory(u64),
    /// The compiling process could not run or failed unexpectedly.
    #[error("the compiler process failed: {0}")]
    Process(String),
}

/// Makes sure the cache holds an artifact for `bytes`, compiling it in a
/// child process within `budget` when it does not.
pub async fn precompile(
    cache: &ArtifactCache,
    bytes: &[u8],
    budget: &CompileBudget,
) -> Result<(), CompileError> {
    let sha = sha256_hex(bytes);
    if cache.adopt(&sha) {
        return Ok(());
    }
    let process = |e: std::io::Error| CompileError::Process(e.to_string());
    std::fs::create_dir_all(cache.dir()).map_err(process)?;
    let input = tempfile::Builder::new()
        .prefix(".upload-")
        .suffix(".wasm")
        .tempfile_in(cache.dir())
        .map_err(process)?;
    std::fs::write(input.path(), bytes).map_err(process)?;

    let program = match &budget.program {
        Some(program) => program.clone(),
        None => std::env::current_exe().map_err(process)?,
    };
    let mut child = tokio::process::Command::new(program)
        .arg("precompile")
        .arg("--cache-dir")
        .arg(cache.dir())
        .arg("--memory-bytes")
        .arg(budget.memory_bytes.to_string())
        .arg(input.path())
        .env_clear()
        // mimalloc reserves a 1 GiB arena up front, which an address-space
        // limit set afterwards would not cover; without it every heap
        // segment is its own mapping and counts against the budget.
        .env("MIMALLOC_ARENA_RESERVE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(process)?;
    let mut stderr = child.stderr.take();
    let status = match tokio::time::timeout(budget.timeout, child.wait()).await {
        Ok(status) => status.map_err(process)?,
        Err(_) => {
            let _ = child.kill().await;
            return Err(CompileError::Timeout(budget.timeout));
        }
    };
    let mut message = String::new();
    if let Some(stderr) = stderr.as_mut() {
        let _ = stderr.take(MAX_STDERR).read_to_string(&mut message).await;
    }
    let message = message.trim().to_owned();
    match status.code() {
        Some(0) if cache.artifact_path(&sha).is_file() => Ok(()),
        Some(0) => Err(CompileError::Process(
            "the compiler exited without writing an artifact".into(),
        )),
        Some(EXIT_INVALID) => Err(CompileError::Invalid(message)),
        Some(EXIT_MEMORY) => Err(CompileError::Memory(budget.memory_bytes)),
        // An allocation failure aborts the process (SIGABRT) rather than
        // returning: with an address-space limit, that is the budget.
        None if message.contains("memory allocation") => {
            Err(CompileError::Memory(budget.memory_bytes))
        }
        _ => Err(CompileError::Process(format!("{status}: {message}"))),
    }
}

/// The child's side (`gateway precompile`): limits its own address space
/// to what it uses at start plus `memory_bytes`, compiles `input` with the
/// compile-only engine, and stores the artifact in `cache_dir` where the
/// serving engine finds it. Returns the exit status.
pub fn run_child(input: &Path, cache_dir: &Path, memory_bytes: u64) -> i32 {
    let limit = address_space_now().saturating_add(memory_bytes);
    let limit = rustix::process::Rlimit {
        current: Some(limit),
        maximum: Some(limit),
    };
    if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::As, limit) {
        eprintln!("cannot set the memory budget: {e}");
        return 1;
    }
    let engine = match wasmtime::Engine::new(&crate::runtime::engine::compile_only_config()) {
        Ok(engine) => engine,
        Err(e) => {
            eprintln!("cannot create the compiler: {e:#}");
            return EXIT_MEMORY;
        }
    };
    let bytes = match std::fs::read(input) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("{}: {e}", input.display());
            return 1;
        }
    };
    let cache = ArtifactCache::new(cache_dir, &engine);
    match cache.compile_and_store(&engine, &bytes) {
        Ok(()) => 0,
        Err(crate::runtime::cache::CacheError::OutOfMemory) => {
            eprintln!("out of memory");
            EXIT_MEMORY
        }
        Err(e) => {
            eprintln!("{e}");
            EXIT_INVALID
        }
    }
}

/// This process's address-space size in bytes (`/proc/self/statm`), or 0
/// where that cannot be read.
fn address_space_now() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|statm| statm.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    pages.saturating_mul(rustix::param::page_size() as u64)
}

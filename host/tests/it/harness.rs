//! Shared set-up: runtimes with a private cache, manifests in temp folders.

use std::path::PathBuf;
use std::sync::Arc;

use gateway::manifest::Manifest;
use gateway::runtime::{LoadError, LoadedTool, Runtime};
use gateway::settings::Settings;
use tempfile::TempDir;

/// A runtime plus the temp folders it uses; dropping it cleans up.
pub struct Env {
    pub runtime: Runtime,
    pub dir: TempDir,
}

/// Settings with a fresh cache folder under `dir`, then `edit`.
pub fn env_with(edit: impl FnOnce(&mut Settings)) -> Env {
    env_with_secrets(edit, &[])
}

/// Like [`env_with`], with secret values served from `secrets` instead of the environment.
pub fn env_with_secrets(edit: impl FnOnce(&mut Settings), secrets: &[(&str, &str)]) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = Settings {
        cache_dir: dir.path().join("cache"),
        tools_dir: dir.path().join("tools"),
        ..Settings::default()
    };
    edit(&mut settings);
    let secrets: Vec<(String, String)> = secrets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let runtime = Runtime::with_secrets(
        settings,
        Arc::new(move |var| {
            secrets
                .iter()
                .find(|(k, _)| k == var)
                .map(|(_, v)| v.clone())
        }),
    )
    .expect("runtime");
    Env { runtime, dir }
}

/// A runtime with default settings.
pub fn env() -> Env {
    env_with(|_| {})
}

impl Env {
    /// Writes `toml` as a tool manifest in its own folder and parses it.
    pub fn manifest(&self, toml: &str) -> Manifest {
        let folder = tempfile::tempdir_in(self.dir.path())
            .expect("tool folder")
            .keep();
        let file = folder.join("tool.toml");
        std::fs::write(&file, toml).expect("write manifest");
        Manifest::load(&file).expect("manifest parses")
    }

    /// Loads `component` under a manifest made of `toml`.
    pub async fn try_load(&self, toml: &str, component: Vec<u8>) -> Result<LoadedTool, LoadError> {
        let manifest = self.manifest(toml);
        let path: PathBuf = manifest.dir().join("tool.wasm");
        self.runtime.load(manifest, path, component).await
    }

    /// Like [`Env::try_load`], panicking with the load error.
    pub async fn load(&self, toml: &str, component: Vec<u8>) -> LoadedTool {
        match self.try_load(toml, component).await {
            Ok(tool) => tool,
            Err(e) => panic!("load failed: {e}"),
        }
    }
}

/// Reads a built guest component.
pub fn component(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Builds the Python tool folder `dir` with componentize-py, once per content
/// (cached across test runs: a build takes 10-40 s). Builds are serialised:
/// each one uses both cores.
pub fn python_component(dir: &std::path::Path, name: &str) -> PathBuf {
    static BUILDS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _serial = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    let cache = shared_cache_dir().join("python-components");
    gateway::build::python::build_cached(dir, name, &cache, &mut |_| {})
        .unwrap_or_else(|e| panic!("building {}: {e}", dir.display()))
}

/// A cache that outlives test runs, for Python components and their
/// precompiled artifacts (content-addressed, so sharing is safe).
pub fn shared_cache_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/agent-gateway/test-artifacts")
}

/// Copies a tool folder's manifest, SKILL.md, scripts and fixtures into a
/// temp folder with `component` as its `tool.wasm` (the source tree stays clean).
pub fn stage(dir: &std::path::Path, component: &std::path::Path) -> TempDir {
    fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for entry in std::fs::read_dir(from).expect("read dir").flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if name == "tool.wasm" || name == "target" || name == "__pycache__" {
                continue;
            }
            if path.is_dir() {
                copy_tree(&path, &to.join(&name));
            } else {
                std::fs::copy(&path, to.join(&name)).expect("copy");
            }
        }
    }
    let staged = tempfile::tempdir().expect("tempdir");
    copy_tree(dir, staged.path());
    std::fs::copy(component, staged.path().join("tool.wasm")).expect("component");
    staged
}

/// Settings whose compile cache persists across runs.
pub fn persistent_settings() -> gateway::settings::Settings {
    gateway::settings::Settings {
        cache_dir: shared_cache_dir().join("cwasm"),
        ..gateway::settings::Settings::default()
    }
}

/// The compile budget of production, with the real `gateway` binary as the
/// compiling child (a test binary cannot be one).
pub fn compile_budget() -> gateway::hotload::compile::CompileBudget {
    gateway::hotload::compile::CompileBudget {
        program: Some(env!("CARGO_BIN_EXE_gateway").into()),
        ..Default::default()
    }
}

/// Collects a spawned process's stderr lines, as they come, into a string
/// the test can read at any time (a log to wait on or assert against).
pub fn capture_stderr(child: &mut std::process::Child) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr piped");
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&log);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let mut log = sink.lock().expect("log");
            log.push_str(&line);
            log.push('\n');
        }
    });
    log
}

/// The address a `gateway serve` announced on stderr (`listening on
/// http://ADDR/mcp …`), once `log` (from [`capture_stderr`]) holds it; at
/// most 30 s, then the test fails with the log.
pub async fn listening_addr(log: &std::sync::Mutex<String>) -> std::net::SocketAddr {
    let started = std::time::Instant::now();
    loop {
        let text = log.lock().expect("log").clone();
        if let Some(addr) = text
            .lines()
            .find_map(|l| l.split("listening on http://").nth(1))
            .and_then(|rest| rest.split('/').next())
            .and_then(|addr| addr.parse().ok())
        {
            return addr;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "never listened:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

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

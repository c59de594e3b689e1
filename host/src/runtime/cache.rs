//! Precompiled components on disk, keyed by component hash *and* engine
//! configuration: copy-on-write, epoch and pooling settings are baked into the
//! native code, so an artifact from another configuration must never load.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Errors from the precompiled-artifact cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The cache directory could not be created or written.
    #[error("compile cache {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The bytes are not a valid component, or compiling them failed.
    #[error("component does not compile: {0:#}")]
    Compile(#[source] wasmtime::Error),
    /// A stored artifact could not be loaded.
    #[error("component does not compile: {path}: {source:#}")]
    Artifact {
        /// The artifact file.
        path: PathBuf,
        /// Wasmtime's reason.
        #[source]
        source: wasmtime::Error,
    },
    /// The blocking task that compiles ended without an answer (it panicked).
    #[error("component does not compile: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// Compiling ran out of memory.
    #[error("component does not compile: out of memory")]
    OutOfMemory,
}

/// How a component was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a precompiled artifact.
    Hit,
    /// Compiled now and stored for next time.
    Compiled,
}

/// A directory of `.cwasm` files for one engine configuration.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
    /// Read on a miss, never written: see [`ArtifactCache::with_fallback`].
    fallback: Option<PathBuf>,
}

/// Feeds `Hash` output into SHA-256 so the engine key is stable across runs.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl ArtifactCache {
    /// A cache in `dir` for artifacts compiled by `engine`.
    pub fn new(dir: impl Into<PathBuf>, engine: &Engine) -> Self {
        let mut hasher = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = hex(&hasher.0.finalize()[..8]);
        Self {
            dir: dir.into(),
            engine_key,
            fallback: None,
        }
    }

    /// Also looks in `fallback` (another cache of the same engine, e.g. the
    /// per-user default that `gateway tool build` fills) on a miss: an
    /// artifact found there is copied into this cache and loaded from it.
    /// Only a folder the gateway's own user owns and nobody else may write
    /// is trusted, as for this cache (docs/hotload.md).
    pub fn with_fallback(mut self, fallback: Option<PathBuf>) -> Self {
        self.fallback = fallback.filter(|f| *f != self.dir);
        self
    }

    /// Whether the artifact for `component_sha256` is in this cache, after
    /// copying it in from the fallback cache when only that one has it.
    pub fn adopt(&self, component_sha256: &str) -> bool {
        let path = self.artifact_path(component_sha256);
        if path.is_file() {
            return true;
        }
        let Some(fallback) = &self.fallback else {
            return false;
        };
        let found = fallback.join(
            path.file_name()
                .map(std::path::Path::new)
                .unwrap_or(Path::new("")),
        );
        if !trusted(fallback) || !trusted(&found) {
            return false;
        }
        match std::fs::read(&found) {
            Ok(bytes) => self.store(&path, &bytes).is_ok(),
            Err(_) => false,
        }
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the artifact for a component with this content hash lives.
    pub fn artifact_path(&self, component_sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{component_sha256}-{}.cwasm", self.engine_key))
    }

    /// Loads the precompiled artifact for `bytes`, or compiles and stores it.
    /// Blocking: call from a blocking context.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
    ) -> Result<(Component, CacheOutcome), CacheError> {
        let sha = sha256_hex(bytes);
        let path = self.artifact_path(&sha);
        if self.adopt(&sha)
            && let Ok(component) = deserialize(engine, &path)
        {
            return Ok((component, CacheOutcome::Hit));
        }
        let serialized = engine
            .precompile_component(bytes)
            .map_err(CacheError::Compile)?;
        self.store(&path, &serialized)?;
        let component = deserialize(engine, &path)?;
        Ok((component, CacheOutcome::Compiled))
    }

    /// Compiles `bytes` and stores the artifact without loading it (the
    /// compile-only child process). Blocking.
    pub fn compile_and_store(&self, engine: &Engine, bytes: &[u8]) -> Result<(), CacheError> {
        let path = self.artifact_path(&sha256_hex(bytes));
        let serialized = engine.precompile_component(bytes).map_err(|e| {
            if e.is::<wasmtime::OutOfMemory>() {
                CacheError::OutOfMemory
            } else {
                CacheError::Compile(e)
            }
        })?;
        self.store(&path, &serialized)
    }

    fn store(&self, path: &Path, serialized: &[u8]) -> Result<(), CacheError> {
        let io = |source, p: &Path| CacheError::Io {
            path: p.to_path_buf(),
            source,
        };
        create_private_dir(&self.dir).map_err(|e| io(e, &self.dir))?;
        // Write a file of our own, then rename it into place: a reader never
        // sees half an artifact, and two compiles of the same component (two
        // threads, or two gateways sharing the cache) never write into one
        // file. The last rename wins; both artifacts are identical.
        let mut tmp = tempfile::Builder::new()
            .prefix(".artifact-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)
            .map_err(|e| io(e, &self.dir))?;
        std::io::Write::write_all(&mut tmp, serialized).map_err(|e| io(e, tmp.path()))?;
        tmp.persist(path).map_err(|e| io(e.error, path))?;
        Ok(())
    }
}

/// Whether `path` (a folder or a file) belongs to this process's user and
/// nobody else may write it.
fn trusted(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & 0o022 == 0
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[allow(
    unsafe_code,
    reason = "loading a precompiled artifact is unsafe by wasmtime's contract; see SAFETY below"
)]
fn deserialize(engine: &Engine, path: &Path) -> Result<Component, CacheError> {
    // SAFETY: wasmtime requires that the file was produced by
    // `precompile_component` of a compatible engine and is not modified while
    // mapped. Artifacts are written only by this cache (atomic rename into a
    // 0700 directory), and their name carries the engine-compatibility key;
    // wasmtime additionally checks the header and engine settings on load.
    // The cache directory is a trust boundary: only the gateway may write it.
    unsafe { Component::deserialize_file(engine, path) }.map_err(|source| CacheError::Artifact {
        path: path.to_path_buf(),
        source,
    })
}

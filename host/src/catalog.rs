//! The tools folder: one sub-folder per tool, each with `tool.toml` and, once
//! built, `tool.wasm`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::manifest::{COMPONENT_FILE, MANIFEST_FILE, Manifest, ManifestError};
use crate::runtime::{LoadError, LoadedTool, Runtime};

/// A tool folder as found on disk.
#[derive(Debug)]
pub struct ToolDir {
    /// The folder.
    pub dir: PathBuf,
    /// Its manifest, or why it was refused.
    pub manifest: Result<Manifest, ManifestError>,
    /// Whether `tool.wasm` exists.
    pub built: bool,
}

/// Every folder under `tools_dir` that holds a `tool.toml`, sorted by path.
/// Folders whose names start with `.` are skipped, as the tools-folder
/// watcher skips them: they hold staged uploads and previous versions, which
/// must not be served after a restart.
pub fn scan(tools_dir: &Path) -> std::io::Result<Vec<ToolDir>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(tools_dir)? {
        let entry = entry?;
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let dir = entry.path();
        let manifest_file = dir.join(MANIFEST_FILE);
        if dir.is_dir() && manifest_file.is_file() {
            found.push(ToolDir {
                manifest: Manifest::load(&manifest_file),
                built: dir.join(COMPONENT_FILE).is_file(),
                dir,
            });
        }
    }
    found.sort_by(|a, b| a.dir.cmp(&b.dir));
    Ok(found)
}

/// Loaded tools by name.
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    tools: BTreeMap<String, Arc<LoadedTool>>,
}

/// Why a tool folder was skipped when loading a catalog.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    /// The tool failed to load.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The folder has a manifest but no component yet.
    #[error("{0}: not built yet (run `gateway tool build {0}`)")]
    NotBuilt(PathBuf),
    /// Another folder already provides a tool with this name.
    #[error("{dir}: tool name {name:?} is already provided by {other}")]
    Duplicate {
        /// The refused folder.
        dir: PathBuf,
        /// The contested name.
        name: String,
        /// The folder that keeps it.
        other: PathBuf,
    },
}

impl Catalog {
    /// Loads every built tool under `tools_dir`; folders that fail are
    /// reported and skipped, so one bad tool never takes the others down.
    pub async fn load(
        runtime: &Runtime,
        tools_dir: &Path,
    ) -> std::io::Result<(Self, Vec<CatalogError>)> {
        let mut catalog = Self::default();
        let mut errors = Vec::new();
        for found in scan(tools_dir)? {
            if let Err(e) = found.manifest {
                errors.push(CatalogError::Load(e.into()));
                continue;
            }
            if !found.built {
                errors.push(CatalogError::NotBuilt(found.dir));
                continue;
            }
            match runtime.load_dir(&found.dir).await {
                Ok(tool) => {
                    let name = tool.definition.name.clone();
                    if let Some(other) = catalog.served_elsewhere(&name, &found.dir) {
                        errors.push(CatalogError::Duplicate {
                            name,
                            other: other.to_path_buf(),
                            dir: found.dir,
                        });
                    } else {
                        catalog.tools.insert(name, Arc::new(tool));
                    }
                }
                Err(e) => errors.push(e.into()),
            }
        }
        Ok((catalog, errors))
    }

    /// Adds or replaces a tool, returning the one it replaced.
    pub fn insert(&mut self, tool: Arc<LoadedTool>) -> Option<Arc<LoadedTool>> {
        self.tools.insert(tool.definition.name.clone(), tool)
    }

    /// Removes the tool called `name`, returning it.
    pub fn remove(&mut self, name: &str) -> Option<Arc<LoadedTool>> {
        self.tools.remove(name)
    }

    /// The tool called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<LoadedTool>> {
        self.tools.get(name)
    }

    /// The folder that serves `name`, when it is not `dir`. A tool name is
    /// served from one folder only: a second folder asking for it is refused,
    /// at start ([`Catalog::load`]), on a hot load and on an admin upload.
    pub fn served_elsewhere(&self, name: &str, dir: &Path) -> Option<&Path> {
        self.tools
            .get(name)
            .map(|tool| tool.manifest.dir())
            .filter(|served| !same_dir(served, dir))
    }

    /// The tools served from `dir` under a name other than `name` (the
    /// folder's tool was renamed).
    pub fn other_names_in<'a>(
        &'a self,
        name: &'a str,
        dir: &'a Path,
    ) -> impl Iterator<Item = &'a Arc<LoadedTool>> + 'a {
        self.tools
            .values()
            .filter(move |t| t.definition.name != name && same_dir(t.manifest.dir(), dir))
    }

    /// All tools, by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<LoadedTool>> {
        self.tools.values()
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }
}

/// The catalog being served. A change builds a new [`Catalog`] and swaps it
/// in whole: a call holds the `Arc<LoadedTool>` it started with and finishes
/// on that version, while new calls see the new one. Reads are lock-free.
#[derive(Debug)]
pub struct LiveCatalog {
    current: ArcSwap<Catalog>,
    generation: watch::Sender<u64>,
}

impl LiveCatalog {
    /// Serves `catalog` until it is replaced.
    pub fn new(catalog: Catalog) -> Self {
        Self {
            current: ArcSwap::from_pointee(catalog),
            generation: watch::channel(0).0,
        }
    }

    /// The catalog in use.
    pub fn current(&self) -> Arc<Catalog> {
        self.current.load_full()
    }

    /// Puts `catalog` in use and tells subscribers.
    pub fn replace(&self, catalog: Catalog) {
        self.current.store(Arc::new(catalog));
        self.generation.send_modify(|g| *g += 1);
    }

    /// A receiver that changes each time the catalog is replaced.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

/// Whether two tool folders are the same (paths as given, or canonical).
pub fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

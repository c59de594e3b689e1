//! Adding, replacing and removing tools while agents keep working.
//!
//! Every change goes through one [`Loader`]: the new version is read,
//! compiled within a budget in a separate process ([`compile`]), checked
//! (manifest, capabilities, exports, its self-description) and only then
//! swapped into the [`LiveCatalog`] in one step. A refused change leaves the
//! previous version serving. Calls already running finish on the version
//! they started with, because each holds its own `Arc<LoadedTool>`.
//!
//! Each tool is identified by its folder in the tools folder; its definition
//! hash ([`LoadedTool::definition_sha256`]) is logged whenever it changes.

pub mod compile;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use self::compile::{CompileBudget, CompileError};
use crate::catalog::{Catalog, LiveCatalog, same_dir};
use crate::manifest::{COMPONENT_FILE, MANIFEST_FILE, Manifest};
use crate::runtime::{LoadError, LoadedTool, Runtime};

/// What a change did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Change {
    /// A tool that was not served before.
    Added {
        /// Tool name.
        name: String,
        /// Its definition hash.
        definition_sha256: String,
    },
    /// A new version of a served tool.
    Replaced {
        /// Tool name.
        name: String,
        /// The previous definition hash.
        old_definition_sha256: String,
        /// The new definition hash (equal when only the code changed).
        new_definition_sha256: String,
    },
    /// The same component and definition as the version served.
    Unchanged {
        /// Tool name.
        name: String,
    },
    /// A tool no longer served.
    Removed {
        /// Tool name.
        name: String,
    },
}

impl Change {
    /// What kind of change this is, without its details.
    pub fn kind(&self) -> ChangeKind {
        match self {
            Change::Added { .. } => ChangeKind::Added,
            Change::Replaced { .. } => ChangeKind::Replaced,
            Change::Unchanged { .. } => ChangeKind::Unchanged,
            Change::Removed { .. } => ChangeKind::Removed,
        }
    }
}

/// The kinds of change a tool goes through, as the admin API names them
/// (`"change": "added"`): the Loader's four, and a rollback to a previous
/// version (which the Loader sees as a replacement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChangeKind {
    /// See [`Change::Added`].
    Added,
    /// See [`Change::Replaced`].
    Replaced,
    /// See [`Change::Unchanged`].
    Unchanged,
    /// See [`Change::Removed`].
    Removed,
    /// A previous version served again (an admin rollback).
    RolledBack,
}

impl ChangeKind {
    /// The name the admin API answers with.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Replaced => "replaced",
            ChangeKind::Unchanged => "unchanged",
            ChangeKind::Removed => "removed",
            ChangeKind::RolledBack => "rolled_back",
        }
    }
}

/// Why a change was refused. The previous version, if any, keeps serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoaderError {
    /// The folder has no `tool.toml` or no `tool.wasm`.
    #[error("{}: needs {MANIFEST_FILE} and {COMPONENT_FILE}", .0.display())]
    Incomplete(PathBuf),
    /// The manifest, capabilities, exports or description were refused.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The component did not compile within its budget.
    #[error("{}: {source}", path.display())]
    Compile {
        /// The component file.
        path: PathBuf,
        /// Why.
        source: CompileError,
    },
    /// Another folder already provides a tool with this name.
    #[error("{}: tool name {name:?} is already provided by {}", dir.display(), other.display())]
    NameTaken {
        /// The refused folder.
        dir: PathBuf,
        /// The contested name.
        name: String,
        /// The folder that keeps it.
        other: PathBuf,
    },
    /// No tool of that name is served.
    #[error("no tool named {0:?} is served")]
    NotFound(String),
}

/// Every value [`LoaderError::kind`] takes.
pub const REFUSAL_KINDS: [&str; 9] = [
    "incomplete",
    "manifest_invalid",
    "secret",
    "internal",
    "component_invalid",
    "compile_timeout",
    "compile_memory",
    "name_taken",
    "not_found",
];

impl LoaderError {
    /// The kind of refusal, as the `kind` label of
    /// `gateway_hotload_refusals_total` (docs/observability.md).
    pub fn kind(&self) -> &'static str {
        match self {
            LoaderError::Incomplete(_) => "incomplete",
            LoaderError::Load(LoadError::Manifest(_)) => "manifest_invalid",
            LoaderError::Load(LoadError::Secret { .. }) => "secret",
            LoaderError::Load(LoadError::Io { .. }) => "internal",
            LoaderError::Load(_) => "component_invalid",
            LoaderError::Compile { source, .. } => match source {
                CompileError::Invalid(_) => "component_invalid",
                CompileError::Timeout(_) => "compile_timeout",
                CompileError::Memory(_) => "compile_memory",
                CompileError::Process(_) => "internal",
            },
            LoaderError::NameTaken { .. } => "name_taken",
            LoaderError::NotFound(_) => "not_found",
        }
    }
}

/// The one way tools change while serving.
pub struct Loader {
    runtime: Arc<Runtime>,
    catalog: Arc<LiveCatalog>,
    budget: CompileBudget,
    /// One change at a time, so two changes never build on the same catalog.
    changing: tokio::sync::Mutex<()>,
    /// Where admin changes are recorded, when `[audit] file` is set.
    pub audit: std::sync::OnceLock<crate::audit::AuditLog>,
    /// Where changes and refusals are counted (docs/observability.md).
    pub metrics: std::sync::OnceLock<Arc<crate::telemetry::metrics::Metrics>>,
}

impl std::fmt::Debug for Loader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loader")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl Loader {
    /// A loader changing `catalog`, compiling within `budget`.
    pub fn new(runtime: Arc<Runtime>, catalog: Arc<LiveCatalog>, budget: CompileBudget) -> Self {
        Self {
            runtime,
            catalog,
            budget,
            changing: tokio::sync::Mutex::new(()),
            audit: std::sync::OnceLock::new(),
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// The runtime that loads the tools.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The catalog this loader changes.
    pub fn catalog(&self) -> &Arc<LiveCatalog> {
        &self.catalog
    }

    /// Serves the tool in `dir` (new or a new version), once it has compiled
    /// within the budget and passed every check.
    pub async fn install_dir(&self, dir: &Path) -> Result<Change, LoaderError> {
        let installed = match self.prepare(dir).await {
            Ok(tool) => self.swap_in(dir, Arc::new(tool)).await,
            Err(e) => Err(e),
        };
        self.count(&installed);
        installed
    }

    /// Counts a change, or a refusal, in the metrics.
    fn count(&self, outcome: &Result<Change, LoaderError>) {
        let Some(metrics) = self.metrics.get() else {
            return;
        };
        match outcome {
            Ok(Change::Unchanged { .. }) => {}
            Ok(change) => metrics.record_change(change.kind().as_str()),
            Err(e) => metrics.record_refusal(e.kind()),
        }
    }

    /// Every check [`Loader::install_dir`] makes, without serving anything:
    /// the tool in `dir` (a staging folder) is compiled within the budget,
    /// loaded and described, and its name must not be served from any folder
    /// other than `target`, where it is meant to live. The admin API checks
    /// an upload this way before it moves the files into place.
    pub async fn check_dir(&self, dir: &Path, target: &Path) -> Result<LoadedTool, LoaderError> {
        let tool = self.prepare(dir).await?;
        name_free(&self.catalog.current(), &tool.definition.name, target)?;
        Ok(tool)
    }

    /// Reads, compiles within the budget, loads and describes the tool in `dir`.
    async fn prepare(&self, dir: &Path) -> Result<LoadedTool, LoaderError> {
        let manifest_file = dir.join(MANIFEST_FILE);
        let component_file = dir.join(COMPONENT_FILE);
        if !manifest_file.is_file() || !component_file.is_file() {
            return Err(LoaderError::Incomplete(dir.to_path_buf()));
        }
        let manifest = Manifest::load(&manifest_file).map_err(LoadError::from)?;
        let bytes = tokio::fs::read(&component_file)
            .await
            .map_err(|source| LoadError::Io {
                path: component_file.clone(),
                source,
            })?;
        compile::precompile(self.runtime.cache(), &bytes, &self.budget)
            .await
            .map_err(|source| LoaderError::Compile {
                path: component_file.clone(),
                source,
            })?;
        let mut tool = self.runtime.load(manifest, component_file, bytes).await?;
        tool.skill = crate::runtime::read_skill(dir).await;
        Ok(tool)
    }

    async fn swap_in(&self, dir: &Path, tool: Arc<LoadedTool>) -> Result<Change, LoaderError> {
        let _one = self.changing.lock().await;
        let current = self.catalog.current();
        let name = tool.definition.name.clone();
        name_free(&current, &name, dir)?;
        let mut next = (*current).clone();
        // A folder whose tool was renamed no longer serves the old name.
        let renamed: Vec<String> = current
            .other_names_in(&name, dir)
            .map(|t| t.definition.name.clone())
            .collect();
        for old in &renamed {
            next.remove(old);
            tracing::info!(tool = %old, dir = %dir.display(), "tool renamed; old name removed");
        }
        let previous = next.insert(Arc::clone(&tool));
        let change = match previous {
            None => {
                tracing::info!(tool = %name, definition = %tool.definition_sha256,
                    component = %tool.component_sha256, "tool added");
                Change::Added {
                    name,
                    definition_sha256: tool.definition_sha256.clone(),
                }
            }
            Some(old)
                if old.component_sha256 == tool.component_sha256
                    && old.definition_sha256 == tool.definition_sha256
                    && same_settings(&old.manifest, &tool.manifest)
                    && old.skill == tool.skill
                    && renamed.is_empty() =>
            {
                return Ok(Change::Unchanged { name });
            }
            Some(old) => {
                if old.definition_sha256 == tool.definition_sha256 {
                    tracing::info!(tool = %name, definition = %tool.definition_sha256,
                        component = %tool.component_sha256, "tool replaced; definition unchanged");
                } else {
                    tracing::warn!(tool = %name, old = %old.definition_sha256,
                        new = %tool.definition_sha256, component = %tool.component_sha256,
                        "tool replaced; its definition changed");
                }
                Change::Replaced {
                    name,
                    old_definition_sha256: old.definition_sha256.clone(),
                    new_definition_sha256: tool.definition_sha256.clone(),
                }
            }
        };
        self.catalog.replace(next);
        Ok(change)
    }

    /// Stops serving the tool called `name`.
    pub async fn remove(&self, name: &str) -> Result<Change, LoaderError> {
        let removed = self.remove_now(name).await;
        self.count(&removed);
        removed
    }

    async fn remove_now(&self, name: &str) -> Result<Change, LoaderError> {
        let _one = self.changing.lock().await;
        let mut next = (*self.catalog.current()).clone();
        if next.remove(name).is_none() {
            return Err(LoaderError::NotFound(name.to_owned()));
        }
        self.catalog.replace(next);
        tracing::info!(tool = %name, "tool removed");
        Ok(Change::Removed {
            name: name.to_owned(),
        })
    }

    /// Stops serving the tool whose folder is `dir` (it was deleted or lost
    /// its files); `None` when no served tool lives there.
    pub async fn remove_dir(&self, dir: &Path) -> Option<Change> {
        let name = self
            .catalog
            .current()
            .iter()
            .find(|t| same_dir(t.manifest.dir(), dir))
            .map(|t| t.definition.name.clone())?;
        self.remove(&name).await.ok()
    }
}

/// Whether two manifests agree on what the definition hash leaves out but a
/// call still uses: `[config]` values no URL names, the read-only folder,
/// and the version an admin reads. A manifest changing only these is a new
/// version, not the same one.
fn same_settings(a: &Manifest, b: &Manifest) -> bool {
    a.config == b.config && a.files_dir == b.files_dir && a.version == b.version
}

/// [`Catalog::served_elsewhere`] as the Loader's refusal: `name` may be
/// served from `dir` only if no other folder serves it.
pub(crate) fn name_free(catalog: &Catalog, name: &str, dir: &Path) -> Result<(), LoaderError> {
    match catalog.served_elsewhere(name, dir) {
        Some(other) => Err(LoaderError::NameTaken {
            dir: dir.to_path_buf(),
            name: name.to_owned(),
            other: other.to_path_buf(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn change_kinds_serialize_as_their_names() {
        for kind in [
            ChangeKind::Added,
            ChangeKind::Replaced,
            ChangeKind::Unchanged,
            ChangeKind::Removed,
            ChangeKind::RolledBack,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        let removed = Change::Removed { name: "t".into() };
        assert_eq!(removed.kind(), ChangeKind::Removed);
        let json = serde_json::to_value(&removed).unwrap();
        assert_eq!(json["change"], removed.kind().as_str());
    }
}

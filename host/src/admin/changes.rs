//! What each admin change does on disk and in the catalog, one at a time:
//! install an upload, roll back to the newest previous version, remove.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::Admin;
use super::error::AdminError;
use super::store::{Staged, ToolName};
use crate::catalog::Catalog;
use crate::hotload::{ChangeKind, LoaderError, name_free};
use crate::manifest::{COMPONENT_FILE, MANIFEST_FILE};
use crate::runtime::LoadedTool;

/// A served tool as the admin API lists it.
#[derive(Debug, Serialize)]
pub(super) struct ToolInfo {
    pub(super) name: String,
    pub(super) version: Option<String>,
    pub(super) definition_sha256: String,
    pub(super) component_sha256: String,
    /// Relative to the tools folder when inside it.
    pub(super) folder: String,
    pub(super) integration: Option<String>,
    /// Versions a rollback can return to.
    pub(super) previous_versions: usize,
}

/// A version's identity, for the answer to a change.
#[derive(Debug, Serialize)]
pub(super) struct VersionInfo {
    pub(super) version: Option<String>,
    pub(super) definition_sha256: String,
    pub(super) component_sha256: String,
}

impl From<&LoadedTool> for VersionInfo {
    fn from(tool: &LoadedTool) -> Self {
        Self {
            version: tool.manifest.version.clone(),
            definition_sha256: tool.definition_sha256.clone(),
            component_sha256: tool.component_sha256.clone(),
        }
    }
}

/// What a change did.
#[derive(Debug, Serialize)]
pub(super) struct Outcome {
    /// What kind of change it was.
    pub(super) change: ChangeKind,
    /// The tool as now served (`null` once removed).
    pub(super) tool: Option<ToolInfo>,
    /// The version served before (`null` if none).
    pub(super) previous: Option<VersionInfo>,
}

impl Admin {
    pub(super) fn info(&self, tool: &LoadedTool) -> ToolInfo {
        let dir = tool.manifest.dir();
        let folder = dir
            .strip_prefix(self.store.tools_dir())
            .unwrap_or(dir)
            .display()
            .to_string();
        let previous_versions = ToolName::parse(&tool.definition.name)
            .ok()
            .and_then(|name| self.store.list_versions(&name).ok())
            .map_or(0, |v| v.len());
        ToolInfo {
            name: tool.definition.name.clone(),
            version: tool.manifest.version.clone(),
            definition_sha256: tool.definition_sha256.clone(),
            component_sha256: tool.component_sha256.clone(),
            folder,
            integration: tool.manifest.integration.clone(),
            previous_versions,
        }
    }

    pub(super) fn served(&self, name: &ToolName) -> Option<Arc<LoadedTool>> {
        self.loader.catalog().current().get(name.as_str()).cloned()
    }

    /// The tool `name` as served from its own folder (`None` when not
    /// served); refused when it is served from a folder not named after it,
    /// or when its folder serves another tool.
    fn managed(
        &self,
        name: &ToolName,
        catalog: &Catalog,
    ) -> Result<Option<Arc<LoadedTool>>, AdminError> {
        let target = self.store.folder(name);
        let before = catalog.get(name.as_str()).cloned();
        if let Some(folder) = catalog.served_elsewhere(name.as_str(), &target) {
            return Err(AdminError::NotManaged {
                name: name.to_string(),
                folder: folder.display().to_string(),
            });
        }
        if let Some(other) = catalog.other_names_in(name.as_str(), &target).next() {
            return Err(AdminError::FolderTaken {
                name: name.to_string(),
                folder: name.to_string(),
                other: other.definition.name.clone(),
            });
        }
        Ok(before)
    }

    /// The tool `name` as now served, for an answer.
    fn outcome(&self, change: ChangeKind, name: &ToolName, before: Option<&LoadedTool>) -> Outcome {
        Outcome {
            change,
            tool: self.served(name).map(|t| self.info(&t)),
            previous: before.map(VersionInfo::from),
        }
    }

    /// Puts the checked upload in `staged` in place of `name` and serves it.
    pub(super) async fn install(
        &self,
        name: &ToolName,
        staged: Staged,
    ) -> Result<Outcome, AdminError> {
        let _one = self.changing.lock().await;
        let target = self.store.folder(name);
        let tools_dir = self.store.tools_dir();
        let catalog = self.loader.catalog().current();
        // Served from another folder: the Loader's own refusal, before a
        // compile is spent on it.
        name_free(&catalog, name.as_str(), &target)
            .map_err(|e| AdminError::refused(e, &[tools_dir]))?;
        let before = self.managed(name, &catalog)?;
        self.loader
            .check_dir(staged.path(), &target)
            .await
            .map_err(|e| AdminError::refused(e, &[staged.path(), tools_dir]))?;
        if same_files(staged.path(), &target)? {
            // Nothing to move or keep: the folder already holds these files
            // (served, or refused earlier and fine now).
            self.loader
                .install_dir(&target)
                .await
                .map_err(|e| AdminError::refused(e, &[tools_dir]))?;
            return Ok(self.outcome(self.change(name, before.as_ref()), name, before.as_deref()));
        }
        // After the exchange the staging folder holds what was in place.
        let replaced = if target.exists() {
            self.store.exchange(staged.path(), &target)?;
            Some(staged)
        } else {
            self.store.rename(&staged.keep(), &target)?;
            None
        };
        if let Err(e) = self.loader.install_dir(&target).await {
            // Checked a moment ago, so this is rare (an environment change);
            // the previous version is still served: put its files back.
            match &replaced {
                Some(old) => self.store.exchange(old.path(), &target)?,
                None => std::fs::remove_dir_all(&target)?,
            }
            return Err(AdminError::refused(e, &[tools_dir]));
        }
        if let Some(old) = replaced {
            let old = old.keep();
            if let Err(e) = self.store.push_version(name, &old) {
                tracing::error!(tool = %name, kept = %old.display(),
                    "admin API: the previous version could not be kept for rollback: {e}");
            }
        }
        Ok(self.outcome(self.change(name, before.as_ref()), name, before.as_deref()))
    }

    /// What an install did to `name`, served as `before` until then: the
    /// Loader keeps the very same tool when nothing changed.
    fn change(&self, name: &ToolName, before: Option<&Arc<LoadedTool>>) -> ChangeKind {
        match (before, self.served(name)) {
            (None, _) => ChangeKind::Added,
            (Some(before), Some(now)) if Arc::ptr_eq(before, &now) => ChangeKind::Unchanged,
            _ => ChangeKind::Replaced,
        }
    }

    /// Serves the newest previous version of `name` again; the version it
    /// replaces is discarded (upload it again to roll forward).
    pub(super) async fn rollback(&self, name: &ToolName) -> Result<Outcome, AdminError> {
        let _one = self.changing.lock().await;
        let target = self.store.folder(name);
        let tools_dir = self.store.tools_dir();
        let before = self.managed(name, &self.loader.catalog().current())?;
        let Some(version) = self.store.newest_version(name)? else {
            return Err(if before.is_some() || target.exists() {
                AdminError::NoPreviousVersion(name.to_string())
            } else {
                AdminError::NotFound(name.to_string())
            });
        };
        self.loader
            .check_dir(&version, &target)
            .await
            .map_err(|e| AdminError::refused(e, &[&version, tools_dir]))?;
        let replacing = target.exists();
        if replacing {
            self.store.exchange(&version, &target)?;
        } else {
            self.store.rename(&version, &target)?;
        }
        if let Err(e) = self.loader.install_dir(&target).await {
            if replacing {
                self.store.exchange(&version, &target)?;
            } else {
                self.store.rename(&target, &version)?;
            }
            return Err(AdminError::refused(e, &[tools_dir]));
        }
        if replacing && let Err(e) = std::fs::remove_dir_all(&version) {
            tracing::warn!(dir = %version.display(), "admin API: cannot discard the rolled-back version: {e}");
        }
        Ok(self.outcome(ChangeKind::RolledBack, name, before.as_deref()))
    }

    /// Stops serving `name` and keeps its folder as its newest previous
    /// version (a rollback brings it back).
    pub(super) async fn remove(&self, name: &ToolName) -> Result<Outcome, AdminError> {
        let _one = self.changing.lock().await;
        let target = self.store.folder(name);
        let before = self.managed(name, &self.loader.catalog().current())?;
        if target.exists() {
            self.store.push_version(name, &target)?;
        } else if before.is_none() {
            return Err(AdminError::NotFound(name.to_string()));
        }
        match self.loader.remove(name.as_str()).await {
            // The watcher may have seen the folder go first.
            Ok(_) | Err(LoaderError::NotFound(_)) => {}
            Err(e) => return Err(AdminError::refused(e, &[])),
        }
        Ok(Outcome {
            change: ChangeKind::Removed,
            tool: None,
            previous: before.as_deref().map(VersionInfo::from),
        })
    }
}

/// Whether the staged upload is byte for byte what `target` holds.
fn same_files(staged: &Path, target: &Path) -> std::io::Result<bool> {
    for file in [MANIFEST_FILE, COMPONENT_FILE] {
        let theirs = match std::fs::read(target.join(file)) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        };
        if std::fs::read(staged.join(file))? != theirs {
            return Ok(false);
        }
    }
    // The optional SKILL.md: the same when both lack it.
    let read = |dir: &Path| match std::fs::read(dir.join("SKILL.md")) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    };
    Ok(read(staged)? == read(target)?)
}

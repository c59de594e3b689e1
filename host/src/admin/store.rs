//! Where the admin API keeps tools on disk, all inside the tools folder so
//! every move is a rename on one filesystem:
//!
//! - `<name>/` — the version served (what a restart loads);
//! - `.staging-<uuid>/` — an upload being received and checked;
//! - `.versions/<name>/<seq>/` — previous versions, newest = highest `seq`.
//!
//! Folders whose names start with `.` are never loaded, by the watcher or at
//! start (`catalog::scan`). Every path is built from a [`ToolName`], which
//! only a name passing `manifest::tool_name` becomes: no `/`, no `.`, no `..`.

use std::io;
use std::path::{Path, PathBuf};

/// Prefix of staging folders (hidden from the watcher and the catalog).
pub const STAGING_PREFIX: &str = ".staging-";
/// Folder of previous versions (hidden from the watcher and the catalog).
pub const VERSIONS_DIR: &str = ".versions";

/// A tool name that passed `manifest::tool_name`: safe as one path component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolName(String);

impl ToolName {
    /// Checks `name`; the error says why it is not a tool name.
    pub fn parse(name: &str) -> Result<Self, crate::manifest::NameError> {
        crate::manifest::tool_name(name)?;
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ToolName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A staging folder, removed when dropped unless [`Staged::keep`] was called.
#[derive(Debug)]
pub struct Staged {
    path: PathBuf,
    armed: bool,
}

impl Staged {
    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the folder on disk past this guard (it is being renamed away).
    pub fn keep(mut self) -> PathBuf {
        self.armed = false;
        std::mem::take(&mut self.path)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if self.armed
            && let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.path.display(), "cannot remove a staging folder: {e}");
        }
    }
}

/// The tools folder as the admin API manages it.
#[derive(Debug, Clone)]
pub struct Store {
    tools_dir: PathBuf,
    keep: usize,
}

impl Store {
    /// The tools folder `tools_dir`, keeping `keep` previous versions per tool.
    pub fn new(tools_dir: PathBuf, keep: usize) -> Self {
        Self { tools_dir, keep }
    }

    /// The tools folder.
    pub fn tools_dir(&self) -> &Path {
        &self.tools_dir
    }

    /// The folder the tool called `name` is served from.
    pub fn folder(&self, name: &ToolName) -> PathBuf {
        self.tools_dir.join(name.as_str())
    }

    /// The previous versions of `name`.
    fn versions(&self, name: &ToolName) -> PathBuf {
        self.tools_dir.join(VERSIONS_DIR).join(name.as_str())
    }

    /// A new, empty staging folder.
    pub fn stage(&self) -> io::Result<Staged> {
        let path = self
            .tools_dir
            .join(format!("{STAGING_PREFIX}{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&path)?;
        Ok(Staged { path, armed: true })
    }

    /// Previous versions of `name`, oldest first.
    pub fn list_versions(&self, name: &ToolName) -> io::Result<Vec<PathBuf>> {
        let dir = self.versions(name);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found: Vec<(u64, PathBuf)> = Vec::new();
        for entry in entries {
            let entry = entry?;
            // Anything not named by a sequence number is not ours.
            if let Some(seq) = entry.file_name().to_str().and_then(|s| s.parse().ok()) {
                found.push((seq, entry.path()));
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, path)| path).collect())
    }

    /// The newest previous version of `name`, if any.
    pub fn newest_version(&self, name: &ToolName) -> io::Result<Option<PathBuf>> {
        Ok(self.list_versions(name)?.pop())
    }

    /// Moves `folder` (a former version of `name`) into its versions as the
    /// newest, then drops the oldest beyond the number kept.
    pub fn push_version(&self, name: &ToolName, folder: &Path) -> io::Result<PathBuf> {
        let dir = self.versions(name);
        std::fs::create_dir_all(&dir)?;
        let versions = self.list_versions(name)?;
        let next = versions
            .last()
            .and_then(|p| p.file_name()?.to_str()?.parse::<u64>().ok())
            .map_or(1, |seq| seq + 1);
        let to = dir.join(format!("{next:06}"));
        std::fs::rename(folder, &to)?;
        sync_dir(&dir);
        let excess = (versions.len() + 1).saturating_sub(self.keep);
        for old in versions.iter().take(excess) {
            std::fs::remove_dir_all(old)?;
        }
        Ok(to)
    }

    /// Swaps the contents of two existing folders in one step where the
    /// filesystem can (Linux `renameat2(RENAME_EXCHANGE)`), so a crash
    /// leaves either the old or the new folder in place, never neither.
    pub fn exchange(&self, a: &Path, b: &Path) -> io::Result<()> {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::fs::{CWD, RenameFlags, renameat_with};
            match renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE) {
                Ok(()) => {
                    sync_dir(&self.tools_dir);
                    return Ok(());
                }
                // Filesystems without the flag (some network ones) get the
                // three renames below.
                Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS => {}
                Err(e) => return Err(e.into()),
            }
        }
        let aside = self
            .tools_dir
            .join(format!("{STAGING_PREFIX}{}-aside", uuid::Uuid::new_v4()));
        std::fs::rename(b, &aside)?;
        if let Err(e) = std::fs::rename(a, b) {
            std::fs::rename(&aside, b)?;
            return Err(e);
        }
        std::fs::rename(&aside, a)?;
        sync_dir(&self.tools_dir);
        Ok(())
    }

    /// Renames `from` to `to` and makes the rename durable.
    pub fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)?;
        sync_dir(&self.tools_dir);
        Ok(())
    }
}

/// Flushes a folder's entries (a rename) to disk; best effort: the rename
/// itself has happened either way.
fn sync_dir(dir: &Path) {
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), "cannot sync folder: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(parent: &Path, name: &str, content: &str) -> PathBuf {
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("tool.toml"), content).expect("write");
        dir
    }

    fn content(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("tool.toml")).expect("read")
    }

    #[test]
    fn names_that_are_not_one_safe_component_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            ".versions",
            "a/b",
            "../etc",
            "a\\b",
            "A",
            "a.b",
            "a-b",
            "a b",
            "1a",
        ] {
            assert!(ToolName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(ToolName::parse("swap_2").expect("ok").as_str(), "swap_2");
        assert!(ToolName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn versions_are_kept_newest_last_and_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path().to_path_buf(), 2);
        let name = ToolName::parse("swap").expect("name");
        assert_eq!(store.newest_version(&name).expect("list"), None);
        for v in 1..=4 {
            let old = folder(dir.path(), "old", &format!("v{v}"));
            store.push_version(&name, &old).expect("push");
        }
        let kept = store.list_versions(&name).expect("list");
        assert_eq!(kept.len(), 2);
        assert_eq!(content(&kept[0]), "v3");
        assert_eq!(content(&kept[1]), "v4");
        assert!(kept[1].ends_with(".versions/swap/000004"));
    }

    #[test]
    fn exchange_swaps_two_folders_and_staging_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path().to_path_buf(), 5);
        let live = folder(dir.path(), "swap", "new");
        let staged = store.stage().expect("stage");
        assert!(
            staged
                .path()
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(STAGING_PREFIX))
        );
        std::fs::write(staged.path().join("tool.toml"), "newer").expect("write");
        store.exchange(staged.path(), &live).expect("exchange");
        assert_eq!(content(&live), "newer");
        assert_eq!(content(staged.path()), "new");
        let path = staged.path().to_path_buf();
        drop(staged);
        assert!(!path.exists(), "a dropped staging folder is removed");
        let kept = store.stage().expect("stage");
        let path = kept.keep();
        assert!(path.is_dir(), "a kept staging folder stays");
    }
}

//! The tools folder, watched: a tool folder that appears, changes or goes
//! away is loaded, reloaded or removed through the [`Loader`] once the
//! folder has been quiet for a moment ([`crate::debounce`]).
//!
//! Friendly to how files really arrive: an admin (or the promotion job)
//! writes a folder under a name starting with `.` and renames it into place,
//! which is one event; a `cp` over an existing folder is several, and the
//! debounce waits for the last. A half-written component that fails to load
//! is refused and the previous version keeps serving until the write ends.
//! Folders whose names start with `.` are never loaded (staging, versions).

use std::collections::BTreeSet;
use std::path::{Component, Path};
use std::sync::Arc;

use notify::RecursiveMode;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Change, Loader};
use crate::debounce::FolderWatcher;
pub use crate::debounce::WatchError;
use crate::manifest::{COMPONENT_FILE, MANIFEST_FILE};

/// What changed under the tools folder.
#[derive(Debug)]
enum Seen {
    /// Something inside this top-level folder.
    Folder(String),
    /// The watcher lost track (overflow, the folder itself): look at everything.
    Everything,
}

/// Watches a tools folder until dropped.
pub struct ToolsWatcher {
    _watcher: FolderWatcher,
    task: JoinHandle<()>,
    applied: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for ToolsWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolsWatcher").finish_non_exhaustive()
    }
}

impl Drop for ToolsWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ToolsWatcher {
    /// Starts watching `tools_dir`, applying changes through `loader`.
    /// Must be called within a tokio runtime.
    pub fn start(loader: Arc<Loader>, tools_dir: &Path) -> Result<ToolsWatcher, WatchError> {
        let root = tools_dir.to_owned();
        let classify = move |event: notify::Result<notify::Event>| match event {
            Ok(event) if event.need_rescan() => vec![Seen::Everything],
            Ok(event) => event
                .paths
                .iter()
                .filter(|path| !hidden(&root, path))
                .map(|path| match top_folder(&root, path) {
                    Some(name) => Seen::Folder(name),
                    None => Seen::Everything,
                })
                .collect(),
            Err(_) => vec![Seen::Everything],
        };
        // Batches are gathered on the watcher's thread and applied here,
        // where loading is async.
        let (batches, mut receive) = mpsc::unbounded_channel::<Vec<Seen>>();
        let watcher = FolderWatcher::start(
            tools_dir,
            RecursiveMode::Recursive,
            "tools-watch",
            classify,
            move |batch| {
                // The receiver is gone only while shutting down.
                let _ = batches.send(batch);
            },
        )?;

        let dir = tools_dir.to_owned();
        let applied = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = Arc::clone(&applied);
        let task = tokio::spawn(async move {
            while let Some(batch) = receive.recv().await {
                let mut folders = BTreeSet::new();
                let mut everything = false;
                for seen in batch {
                    match seen {
                        Seen::Folder(name) => {
                            folders.insert(name);
                        }
                        Seen::Everything => everything = true,
                    }
                }
                if everything {
                    folders.extend(all_folders(&dir, &loader));
                }
                for name in folders {
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    apply(&loader, &dir.join(&name)).await;
                }
            }
        });
        tracing::info!(dir = %tools_dir.display(), "watching the tools folder");
        Ok(ToolsWatcher {
            _watcher: watcher,
            task,
            applied,
        })
    }

    /// How many times a folder has been brought in line with the disk
    /// (each a load attempt, whatever its outcome).
    pub fn applied(&self) -> u64 {
        self.applied.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The first path component of `path` under `root`, unless it is hidden.
fn top_folder(root: &Path, path: &Path) -> Option<String> {
    let relative = path.strip_prefix(root).ok()?;
    match relative.components().next()? {
        Component::Normal(name) => {
            let name = name.to_str()?;
            (!name.starts_with('.')).then(|| name.to_owned())
        }
        _ => None,
    }
}

/// Whether `path` lies in a folder of `root` whose name starts with `.`
/// (staged uploads, previous versions): writes there are nobody's tool, and
/// must not make the watcher look at every folder again.
fn hidden(root: &Path, path: &Path) -> bool {
    matches!(
        path.strip_prefix(root).ok().and_then(|r| r.components().next()),
        Some(Component::Normal(name)) if name.as_encoded_bytes().starts_with(b".")
    )
}

/// Every visible folder on disk and every folder a served tool came from.
fn all_folders(dir: &Path, loader: &Loader) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if let Some(name) = top_folder(dir, &entry.path()) {
                names.insert(name);
            }
        }
    }
    for tool in loader.catalog().current().iter() {
        if let Some(name) = top_folder(dir, tool.manifest.dir()) {
            names.insert(name);
        }
    }
    names
}

/// Brings one folder's tool in line with the disk.
async fn apply(loader: &Loader, folder: &Path) {
    let complete = folder.join(MANIFEST_FILE).is_file() && folder.join(COMPONENT_FILE).is_file();
    if !complete {
        if let Some(Change::Removed { name }) = loader.remove_dir(folder).await {
            tracing::info!(tool = %name, dir = %folder.display(), "tool folder gone; no longer served");
        }
        return;
    }
    match loader.install_dir(folder).await {
        Ok(Change::Unchanged { .. }) => {}
        Ok(change) => {
            tracing::info!(dir = %folder.display(), ?change, "tools folder change applied")
        }
        Err(e) => tracing::warn!("tools folder change refused, previous version kept: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_folders_are_ignored_and_the_rest_is_seen() {
        let root = Path::new("/srv/tools");
        for (path, hidden_, top) in [
            ("/srv/tools/swap/tool.wasm", false, Some("swap")),
            ("/srv/tools/.staging-1/tool.wasm", true, None),
            ("/srv/tools/.versions/swap/000001", true, None),
            ("/srv/tools", false, None),
            ("/elsewhere/x", false, None),
        ] {
            let path = Path::new(path);
            assert_eq!(hidden(root, path), hidden_, "{}", path.display());
            assert_eq!(top_folder(root, path).as_deref(), top, "{}", path.display());
        }
    }
}

//! The live registry: the fields folder watched, reloaded after a quiet
//! moment ([`crate::debounce`]), swapped in atomically, and announced to
//! subscribers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use notify::RecursiveMode;
use tokio::sync::watch;

use super::lint::LintError;
use super::registry::Registry;
use crate::debounce::FolderWatcher;
pub use crate::debounce::WatchError;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reload {
    /// The files define the registry already in use.
    Unchanged,
    /// A new registry is in use and subscribers were told.
    Applied,
    /// A file has errors: the previous registry stays in use.
    Rejected(Vec<LintError>),
}

struct Shared {
    dir: PathBuf,
    current: ArcSwap<Registry>,
    errors: ArcSwap<Vec<LintError>>,
    changes: watch::Sender<Arc<Registry>>,
    /// One reload at a time, so a manual reload and the watcher's never
    /// interleave their compare-and-swap.
    reloading: Mutex<()>,
}

/// The registry of a watched folder. Reads are lock-free; dropping it stops
/// the watcher and its thread.
pub struct Watched {
    shared: Arc<Shared>,
    _watcher: FolderWatcher,
}

impl std::fmt::Debug for Watched {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watched")
            .field("dir", &self.shared.dir)
            .field(
                "integrations",
                &self.shared.current.load().integrations().len(),
            )
            .finish_non_exhaustive()
    }
}

impl Watched {
    /// Loads the folder and watches it. Files with errors at start are left
    /// out and logged (there is no previous registry to keep); later, a
    /// change that introduces an error keeps the registry in use.
    pub fn start(dir: &Path) -> Result<Arc<Watched>, WatchError> {
        let (registry, errors) = Registry::load(dir);
        log_errors(&errors);
        let registry = Arc::new(registry);
        let (changes, _) = watch::channel(Arc::clone(&registry));
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            current: ArcSwap::new(registry),
            errors: ArcSwap::from_pointee(errors),
            changes,
            reloading: Mutex::new(()),
        });

        let worker = Arc::clone(&shared);
        let watcher = FolderWatcher::start(
            dir,
            RecursiveMode::NonRecursive,
            "fields-watch",
            |event| {
                note(event);
                vec![()]
            },
            // Every file is read again, so what changed does not matter.
            move |_| {
                worker.reload();
            },
        )?;
        tracing::info!(dir = %dir.display(), "watching the field registry");
        Ok(Arc::new(Watched {
            shared,
            _watcher: watcher,
        }))
    }

    /// The registry in use.
    pub fn current(&self) -> Arc<Registry> {
        self.shared.current.load_full()
    }

    /// The lint errors of the last load (empty when every file loaded).
    pub fn errors(&self) -> Arc<Vec<LintError>> {
        self.shared.errors.load_full()
    }

    /// A receiver that sees each new registry once it is in use.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Registry>> {
        self.shared.changes.subscribe()
    }

    /// Reloads now rather than on the next change (an admin request, a signal).
    pub fn reload(&self) -> Reload {
        self.shared.reload()
    }

    /// The watched folder.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }
}

impl Shared {
    fn reload(&self) -> Reload {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let (registry, errors) = Registry::load(&self.dir);
        if !errors.is_empty() {
            tracing::warn!(dir = %self.dir.display(), errors = errors.len(),
                "field registry changed but has errors; keeping the registry in use");
            log_errors(&errors);
            self.errors.store(Arc::new(errors.clone()));
            return Reload::Rejected(errors);
        }
        self.errors.store(Arc::new(Vec::new()));
        if **self.current.load() == registry {
            return Reload::Unchanged;
        }
        let registry = Arc::new(registry);
        self.current.store(Arc::clone(&registry));
        tracing::info!(
            integrations = registry.integrations().len(),
            "field registry reloaded"
        );
        self.changes.send_replace(registry);
        Reload::Applied
    }
}

fn log_errors(errors: &[LintError]) {
    for error in errors {
        tracing::warn!(%error, "field registry");
    }
}

fn note(event: notify::Result<notify::Event>) {
    match event {
        Ok(event) => {
            tracing::debug!(paths = ?event.paths, kind = ?event.kind, "field registry folder changed")
        }
        // Lost events (a queue overflow) still end in a reload of everything.
        Err(e) => tracing::warn!(error = %e, "field registry watcher"),
    }
}

#[cfg(test)]
mod tests;

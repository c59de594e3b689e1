//! The live registry: the fields folder watched, reloaded after a quiet
//! moment, swapped in atomically, and announced to subscribers.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::watch;

use super::lint::LintError;
use super::registry::Registry;

/// Editors and `git checkout` touch several files in a burst; reload once it
/// has been quiet this long.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// A folder that never goes quiet still reloads this often.
const MAX_DELAY: Duration = Duration::from_secs(2);

/// Why the folder cannot be watched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// The operating system's watcher refused the folder (it may not exist).
    #[error("cannot watch {}: {source}", dir.display())]
    Notify {
        /// The folder.
        dir: PathBuf,
        /// The watcher's reason.
        #[source]
        source: notify::Error,
    },
    /// The thread that reloads could not be started.
    #[error("cannot start the registry reload thread: {0}")]
    Thread(#[source] std::io::Error),
}

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
    _watcher: RecommendedWatcher,
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

        let (events, receive) = mpsc::channel();
        let notify_error = |source| WatchError::Notify {
            dir: dir.to_owned(),
            source,
        };
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                // Reading a file is not changing it: a reload's own reads would
                // otherwise trigger the next reload, forever.
                if event.as_ref().is_ok_and(|e| e.kind.is_access()) {
                    return;
                }
                // The receiver is gone only while shutting down.
                let _ = events.send(event);
            })
            .map_err(notify_error)?;
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .map_err(notify_error)?;

        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("fields-watch".to_owned())
            .spawn(move || debounce_loop(&receive, &worker))
            .map_err(WatchError::Thread)?;
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

/// Waits for a change, then for a quiet [`DEBOUNCE`] (at most [`MAX_DELAY`]),
/// then reloads. Returns when the watcher is dropped.
fn debounce_loop(events: &mpsc::Receiver<notify::Result<notify::Event>>, shared: &Shared) {
    while let Ok(first) = events.recv() {
        note(first);
        let started = Instant::now();
        let mut quiet_until = started + DEBOUNCE;
        loop {
            let now = Instant::now();
            let deadline = quiet_until.min(started + MAX_DELAY);
            if now >= deadline {
                break;
            }
            match events.recv_timeout(deadline - now) {
                Ok(event) => {
                    note(event);
                    quiet_until = Instant::now() + DEBOUNCE;
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        shared.reload();
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

//! One debounced folder watcher, shared by the tools folder
//! ([`crate::hotload::watch`]) and the fields folder ([`crate::fields`]).
//!
//! Editors, `cp` and `git checkout` touch several files in a burst: events
//! are gathered until the folder has been quiet for [`DEBOUNCE`] (at most
//! [`MAX_DELAY`] after the first), then handed over as one batch. Reads are
//! never changes: a reload's own reads would otherwise trigger the next one.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// Act once a folder has been quiet this long.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// A folder that never goes quiet is still acted on this often.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// Why a folder cannot be watched.
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
    /// The thread that gathers events could not be started.
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        /// The thread's name.
        name: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// A watched folder; dropping it stops the watcher, and with it the thread
/// that gathers its events.
pub struct FolderWatcher {
    _watcher: RecommendedWatcher,
}

impl std::fmt::Debug for FolderWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderWatcher").finish_non_exhaustive()
    }
}

impl FolderWatcher {
    /// Watches `dir`. Each event that is not a read goes through `classify`
    /// (on the watcher's thread), which says what it means to the caller;
    /// an event it maps to nothing is ignored and starts no batch. Once the
    /// folder is quiet, `on_batch` gets everything classified since the last
    /// batch, on a thread named `thread`.
    pub fn start<T: Send + 'static>(
        dir: &Path,
        mode: RecursiveMode,
        thread: &str,
        classify: impl Fn(notify::Result<notify::Event>) -> Vec<T> + Send + 'static,
        on_batch: impl FnMut(Vec<T>) + Send + 'static,
    ) -> Result<Self, WatchError> {
        let (events, receive) = mpsc::channel();
        let notify_error = |source| WatchError::Notify {
            dir: dir.to_owned(),
            source,
        };
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if event.as_ref().is_ok_and(|e| e.kind.is_access()) {
                    return;
                }
                for seen in classify(event) {
                    // The receiver is gone only while shutting down.
                    let _ = events.send(seen);
                }
            })
            .map_err(notify_error)?;
        watcher.watch(dir, mode).map_err(notify_error)?;
        std::thread::Builder::new()
            .name(thread.to_owned())
            .spawn(move || debounce_loop(&receive, on_batch))
            .map_err(|source| WatchError::Thread {
                name: thread.to_owned(),
                source,
            })?;
        Ok(Self { _watcher: watcher })
    }
}

/// Waits for an event, then for a quiet [`DEBOUNCE`] (at most [`MAX_DELAY`]),
/// then hands over the batch. Returns when the watcher is dropped.
fn debounce_loop<T>(events: &mpsc::Receiver<T>, mut on_batch: impl FnMut(Vec<T>)) {
    while let Ok(first) = events.recv() {
        let mut batch = vec![first];
        let started = Instant::now();
        let mut quiet_until = started + DEBOUNCE;
        loop {
            let now = Instant::now();
            let deadline = quiet_until.min(started + MAX_DELAY);
            if now >= deadline {
                break;
            }
            match events.recv_timeout(deadline - now) {
                Ok(seen) => {
                    batch.push(seen);
                    quiet_until = Instant::now() + DEBOUNCE;
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        on_batch(batch);
    }
}

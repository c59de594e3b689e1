//! One debounced folder watcher, shared by the tools folder
//! ([`crate::hotload::watch`]) and the fields folder ([`crate::fields`]).
//!
//! Editors, `cp` and `git checkout` touch several files in a burst: events
//! are gathered until the folder has been quiet for [`DEBOUNCE`] (at most
//! [`MAX_DELAY`] after the first), then handed over as one batch. Reads are
//! never changes: a reload's own reads would otherwise trigger the next one.
//!
//! The folder may be reached through symbolic links, as git-sync publishes
//! a repository: each revision is checked out into a new directory and a
//! symlink (`/git/current -> .worktrees/<sha>`) is atomically replaced by
//! rename(2). inotify watches directories, not paths, so a watch on
//! `/git/current/tools-wasm` would keep watching the old revision. The
//! watcher therefore resolves the path itself, watches the directory it
//! leads to, and also watches the folder holding each symlink on the way;
//! when one of those links is replaced it resolves the path again, moves its
//! watch to the new directory and hands the caller a rescan (an event with
//! [`notify::event::Flag::Rescan`]), so everything in the new tree is looked
//! at once (docs/hotload.md, "Folders behind a symlink").

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use notify::event::{EventKind, Flag};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};

/// Act once a folder has been quiet this long.
pub const DEBOUNCE: Duration = Duration::from_millis(200);
/// A folder that never goes quiet is still acted on this often.
pub const MAX_DELAY: Duration = Duration::from_secs(2);
/// Symlinks followed while resolving one path before giving up (Linux's
/// own limit, `ELOOP`).
const MAX_LINK_HOPS: usize = 40;

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

/// Where a path leads now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The directory the path resolves to, without symlinks; `None` while a
    /// component is missing, a link dangles or links loop.
    pub real: Option<PathBuf>,
    /// Every symlink passed on the way, each as a path free of symlinks
    /// (its folder resolved): replacing any of them may change `real`.
    pub links: Vec<PathBuf>,
}

/// One step of resolving a path.
enum Part {
    Root,
    Parent,
    Name(OsString),
}

fn parts(path: &Path) -> impl DoubleEndedIterator<Item = Part> + '_ {
    path.components().filter_map(|c| match c {
        Component::RootDir => Some(Part::Root),
        Component::ParentDir => Some(Part::Parent),
        Component::Normal(name) => Some(Part::Name(name.to_owned())),
        Component::CurDir | Component::Prefix(_) => None,
    })
}

/// Resolves `path` as the kernel would (a relative path against the current
/// directory), noting each symlink it passes.
pub fn resolve(path: &Path) -> Resolved {
    let absolute = match std::path::absolute(path) {
        Ok(absolute) => absolute,
        Err(_) => {
            return Resolved {
                real: None,
                links: Vec::new(),
            };
        }
    };
    let mut pending: VecDeque<Part> = parts(&absolute).collect();
    let mut real = PathBuf::from(std::path::MAIN_SEPARATOR_STR);
    let mut links: Vec<PathBuf> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        let name = match part {
            Part::Root => {
                real = PathBuf::from(std::path::MAIN_SEPARATOR_STR);
                continue;
            }
            Part::Parent => {
                real.pop();
                continue;
            }
            Part::Name(name) => name,
        };
        let next = real.join(&name);
        let is_link = match std::fs::symlink_metadata(&next) {
            Ok(meta) => meta.file_type().is_symlink(),
            Err(_) => return Resolved { real: None, links },
        };
        if !is_link {
            real = next;
            continue;
        }
        hops += 1;
        if !links.contains(&next) {
            links.push(next.clone());
        }
        let target = match std::fs::read_link(&next) {
            Ok(target) if hops <= MAX_LINK_HOPS => target,
            _ => return Resolved { real: None, links },
        };
        // The target's parts come next; a relative target starts from the
        // link's own folder, which `real` still is.
        for part in parts(&target).rev() {
            pending.push_front(part);
        }
    }
    Resolved {
        real: Some(real),
        links,
    }
}

/// What the handler and the debounce thread share about the watched path.
#[derive(Debug)]
struct Layout {
    /// The path as the caller gave it: events are reported under it.
    dir: PathBuf,
    /// Where it leads now, and the links on the way.
    now: Resolved,
}

impl Layout {
    /// The folders watched (non-recursively) for the links on the way.
    fn link_folders(&self) -> Vec<PathBuf> {
        let mut folders: Vec<PathBuf> = Vec::new();
        for link in &self.now.links {
            if let Some(parent) = link.parent()
                && !folders.iter().any(|f| f == parent)
                && self.now.real.as_deref() != Some(parent)
            {
                folders.push(parent.to_owned());
            }
        }
        folders
    }

    /// `path`, reported under the real directory, as a path under the
    /// caller's; `None` for a path elsewhere (a sibling of a link, a
    /// directory no longer served).
    fn translate(&self, path: &Path) -> Option<PathBuf> {
        let rest = path.strip_prefix(self.now.real.as_deref()?).ok()?;
        Some(if rest.as_os_str().is_empty() {
            self.dir.clone()
        } else {
            self.dir.join(rest)
        })
    }
}

/// What the watcher's thread hands the debounce thread.
enum Message<T> {
    /// Classified events.
    Seen(T),
    /// A link on the way was replaced: resolve again, then these (the
    /// caller's classification of a rescan).
    Relink(Vec<T>),
}

/// A watched folder; dropping it stops the watcher, and with it the thread
/// that gathers its events.
pub struct FolderWatcher {
    _watcher: Arc<Mutex<RecommendedWatcher>>,
}

impl std::fmt::Debug for FolderWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderWatcher").finish_non_exhaustive()
    }
}

impl FolderWatcher {
    /// Watches `dir`, following it through symlinks (see the module's
    /// documentation). Each event that is not a read goes through `classify`
    /// (on the watcher's thread) with its paths under `dir` as given, which
    /// says what it means to the caller; an event it maps to nothing is
    /// ignored and starts no batch. Once the folder is quiet, `on_batch` gets
    /// everything classified since the last batch, on a thread named
    /// `thread`.
    pub fn start<T: Send + 'static>(
        dir: &Path,
        mode: RecursiveMode,
        thread: &str,
        classify: impl Fn(notify::Result<notify::Event>) -> Vec<T> + Send + 'static,
        on_batch: impl FnMut(Vec<T>) + Send + 'static,
    ) -> Result<Self, WatchError> {
        let notify_error = |source| WatchError::Notify {
            dir: dir.to_owned(),
            source,
        };
        let now = resolve(dir);
        let Some(real) = now.real.clone() else {
            return Err(notify_error(
                notify::Error::path_not_found().add_path(dir.to_owned()),
            ));
        };
        let layout = Arc::new(Mutex::new(Layout {
            dir: dir.to_owned(),
            now,
        }));
        let (events, receive) = mpsc::channel();
        let seen_by = Arc::clone(&layout);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                for message in route(&seen_by, event, &classify) {
                    // The receiver is gone only while shutting down.
                    let _ = events.send(message);
                }
            })
            .map_err(notify_error)?;
        watcher.watch(&real, mode).map_err(notify_error)?;
        let folders = lock(&layout).link_folders();
        for folder in folders {
            watcher
                .watch(&folder, RecursiveMode::NonRecursive)
                .map_err(notify_error)?;
        }
        let watcher = Arc::new(Mutex::new(watcher));
        let relinker = Relinker {
            watcher: Arc::downgrade(&watcher),
            layout,
            mode,
        };
        std::thread::Builder::new()
            .name(thread.to_owned())
            .spawn(move || debounce_loop(&receive, &relinker, on_batch))
            .map_err(|source| WatchError::Thread {
                name: thread.to_owned(),
                source,
            })?;
        Ok(Self { _watcher: watcher })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one event from the operating system's watcher means: reads are
/// nothing, a replaced link is a relink, the rest is classified with its
/// paths moved under the caller's path.
fn route<T>(
    layout: &Mutex<Layout>,
    event: notify::Result<notify::Event>,
    classify: &impl Fn(notify::Result<notify::Event>) -> Vec<T>,
) -> Vec<Message<T>> {
    let mut event = match event {
        Ok(event) if event.kind.is_access() => return Vec::new(),
        Ok(event) => event,
        Err(e) => return classify(Err(e)).into_iter().map(Message::Seen).collect(),
    };
    if !event.paths.is_empty() {
        let layout = lock(layout);
        if event.paths.iter().any(|p| layout.now.links.contains(p)) {
            drop(layout);
            let rescan = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
            return vec![Message::Relink(classify(Ok(rescan)))];
        }
        event.paths = event
            .paths
            .iter()
            .filter_map(|p| layout.translate(p))
            .collect();
        if event.paths.is_empty() {
            // Beside a link, or in a directory no longer served.
            return Vec::new();
        }
    }
    classify(Ok(event)).into_iter().map(Message::Seen).collect()
}

/// Moves the watch when a link on the way is replaced.
struct Relinker {
    /// Weak: dropping the [`FolderWatcher`] must end the watcher, which ends
    /// this thread.
    watcher: Weak<Mutex<RecommendedWatcher>>,
    layout: Arc<Mutex<Layout>>,
    mode: RecursiveMode,
}

impl Relinker {
    /// Resolves the path again and watches where it leads now. Runs on the
    /// debounce thread: the watcher's own thread, which calls the handler,
    /// cannot also add watches. The layout is never locked while the watcher
    /// is asked something, since the handler locks it.
    fn relink(&self) {
        let Some(watcher) = self.watcher.upgrade() else {
            return;
        };
        let (dir, before, old_folders) = {
            let layout = lock(&self.layout);
            (
                layout.dir.clone(),
                layout.now.clone(),
                layout.link_folders(),
            )
        };
        let now = resolve(&dir);
        let mut watcher = lock(&watcher);
        if before.real != now.real {
            if let Some(old) = &before.real {
                // Gone already when its directory was deleted.
                let _ = watcher.unwatch(old);
            }
            match &now.real {
                Some(real) => {
                    if let Err(e) = watcher.watch(real, self.mode) {
                        tracing::warn!(dir = %dir.display(), real = %real.display(), error = %e,
                            "cannot watch the folder's new target");
                    }
                }
                None => tracing::warn!(dir = %dir.display(),
                    "the folder's symlink leads nowhere; watching its links until it does"),
            }
        }
        let next = Layout {
            dir: dir.clone(),
            now: now.clone(),
        };
        let new_folders = next.link_folders();
        for folder in new_folders.iter().filter(|f| !old_folders.contains(f)) {
            if let Err(e) = watcher.watch(folder, RecursiveMode::NonRecursive) {
                tracing::warn!(folder = %folder.display(), error = %e, "cannot watch a symlink's folder");
            }
        }
        for folder in old_folders.iter().filter(|f| !new_folders.contains(f)) {
            let _ = watcher.unwatch(folder);
        }
        drop(watcher);
        tracing::info!(dir = %dir.display(),
            from = ?before.real, to = ?now.real, "symlink replaced; rescanning the folder");
        lock(&self.layout).now = now;
    }
}

/// Waits for an event, then for a quiet [`DEBOUNCE`] (at most [`MAX_DELAY`]),
/// then hands over the batch. Returns when the watcher is dropped.
fn debounce_loop<T>(
    events: &mpsc::Receiver<Message<T>>,
    relinker: &Relinker,
    mut on_batch: impl FnMut(Vec<T>),
) {
    let add = |batch: &mut Vec<T>, message: Message<T>| match message {
        Message::Seen(seen) => batch.push(seen),
        Message::Relink(seen) => {
            relinker.relink();
            batch.extend(seen);
        }
    };
    while let Ok(first) = events.recv() {
        let mut batch = Vec::new();
        add(&mut batch, first);
        let started = Instant::now();
        let mut quiet_until = started + DEBOUNCE;
        loop {
            let now = Instant::now();
            let deadline = quiet_until.min(started + MAX_DELAY);
            if now >= deadline {
                break;
            }
            match events.recv_timeout(deadline - now) {
                Ok(message) => {
                    add(&mut batch, message);
                    quiet_until = Instant::now() + DEBOUNCE;
                }
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if !batch.is_empty() {
            on_batch(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn real(path: &Path) -> PathBuf {
        path.canonicalize().expect("canonical")
    }

    #[test]
    fn a_plain_folder_resolves_to_itself_with_no_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tools = dir.path().join("tools");
        std::fs::create_dir(&tools).expect("mkdir");
        assert_eq!(
            resolve(&tools),
            Resolved {
                real: Some(real(&tools)),
                links: Vec::new()
            }
        );
    }

    #[test]
    fn links_on_the_way_are_noted_relative_absolute_and_chained() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = real(dir.path());
        // git-sync's layout: root/current -> .worktrees/a (relative).
        std::fs::create_dir_all(root.join(".worktrees/a/tools-wasm")).expect("mkdir");
        symlink(".worktrees/a", root.join("current")).expect("link");
        // And a second, absolute link to the first: served -> root/current.
        symlink(root.join("current"), root.join("served")).expect("link");

        assert_eq!(
            resolve(&root.join("current/tools-wasm")),
            Resolved {
                real: Some(root.join(".worktrees/a/tools-wasm")),
                links: vec![root.join("current")],
            }
        );
        assert_eq!(
            resolve(&root.join("served/tools-wasm")),
            Resolved {
                real: Some(root.join(".worktrees/a/tools-wasm")),
                links: vec![root.join("served"), root.join("current")],
            }
        );
        // `..` after a link is taken in the link's target, as the kernel does.
        std::fs::create_dir_all(root.join(".worktrees/a/fields")).expect("mkdir");
        assert_eq!(
            resolve(&root.join("current/tools-wasm/../fields")).real,
            Some(root.join(".worktrees/a/fields"))
        );
    }

    #[test]
    fn dangling_and_looping_links_resolve_to_nothing_but_keep_their_links() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = real(dir.path());
        symlink(".worktrees/gone", root.join("current")).expect("link");
        assert_eq!(
            resolve(&root.join("current/tools-wasm")),
            Resolved {
                real: None,
                links: vec![root.join("current")]
            }
        );
        symlink("b", root.join("a")).expect("link");
        symlink("a", root.join("b")).expect("link");
        assert_eq!(
            resolve(&root.join("a")),
            Resolved {
                real: None,
                links: vec![root.join("a"), root.join("b")]
            }
        );
    }

    #[test]
    fn events_are_reported_under_the_callers_path_and_strangers_dropped() {
        let layout = Layout {
            dir: PathBuf::from("/srv/current/tools"),
            now: Resolved {
                real: Some(PathBuf::from("/srv/.worktrees/a/tools")),
                links: vec![PathBuf::from("/srv/current")],
            },
        };
        assert_eq!(
            layout.translate(Path::new("/srv/.worktrees/a/tools/swap/tool.wasm")),
            Some(PathBuf::from("/srv/current/tools/swap/tool.wasm"))
        );
        assert_eq!(
            layout.translate(Path::new("/srv/.worktrees/a/tools")),
            Some(PathBuf::from("/srv/current/tools"))
        );
        assert_eq!(
            layout.translate(Path::new("/srv/.worktrees/b/tools/x")),
            None
        );
        assert_eq!(layout.translate(Path::new("/srv/.current.tmp")), None);
        assert_eq!(layout.link_folders(), vec![PathBuf::from("/srv")]);
    }
}

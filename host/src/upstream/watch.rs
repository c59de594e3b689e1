//! The connections file and the pins file, watched: an edit to
//! `mcp_connections.json` starts, stops or restarts exactly the connections
//! it changes; an approval written to the pins file serves the approved
//! definitions at once. A connections file that no longer parses is
//! reported and the connections running keep running, as a tool folder
//! that fails to load leaves its previous version serving.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use notify::RecursiveMode;

use super::Upstreams;
use super::config::{self, Connection, ConnectionsError};
use crate::debounce::{FolderWatcher, WatchError};
use crate::settings::UpstreamSettings;

/// The connections in `file`; none when it does not exist.
pub fn read_connections(file: &Path) -> Result<Vec<Connection>, ConnectionsError> {
    match std::fs::metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        _ => config::load(file),
    }
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Seen {
    Connections,
    Pins,
}

/// Watches both files until dropped.
pub struct UpstreamWatcher {
    _watchers: Vec<FolderWatcher>,
}

impl std::fmt::Debug for UpstreamWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamWatcher").finish_non_exhaustive()
    }
}

impl UpstreamWatcher {
    /// Watches the folders of `settings`' two files, applying changes to
    /// `upstreams`. Must be called within a tokio runtime.
    pub fn start(
        upstreams: &Arc<Upstreams>,
        settings: &UpstreamSettings,
    ) -> Result<Self, WatchError> {
        let files = [
            (settings.connections_file.clone(), Seen::Connections),
            (settings.pins_file.clone(), Seen::Pins),
        ];
        let mut folders: Vec<(PathBuf, Vec<(OsString, Seen)>)> = Vec::new();
        for (file, seen) in files {
            let Some(name) = file.file_name().map(OsString::from) else {
                continue;
            };
            let folder = match file.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            match folders.iter_mut().find(|(f, _)| *f == folder) {
                Some((_, names)) => names.push((name, seen)),
                None => folders.push((folder, vec![(name, seen)])),
            }
        }
        let handle = tokio::runtime::Handle::current();
        let mut watchers = Vec::new();
        for (folder, names) in folders {
            let upstreams = Arc::clone(upstreams);
            let connections_file = settings.connections_file.clone();
            let handle = handle.clone();
            let classify = move |event: notify::Result<notify::Event>| match event {
                Ok(event) if event.need_rescan() => vec![Seen::Connections, Seen::Pins],
                Ok(event) => names
                    .iter()
                    .filter(|(name, _)| {
                        event
                            .paths
                            .iter()
                            .any(|p| p.file_name() == Some(name.as_os_str()))
                    })
                    .map(|(_, seen)| *seen)
                    .collect(),
                Err(_) => vec![Seen::Connections, Seen::Pins],
            };
            let on_batch = move |batch: Vec<Seen>| {
                let _runtime = handle.enter();
                let seen: BTreeSet<Seen> = batch.into_iter().collect();
                if seen.contains(&Seen::Connections) {
                    reload(&upstreams, &connections_file);
                } else if seen.contains(&Seen::Pins) {
                    upstreams.reapprove();
                }
            };
            watchers.push(FolderWatcher::start(
                &folder,
                RecursiveMode::NonRecursive,
                "upstream-watch",
                classify,
                on_batch,
            )?);
        }
        Ok(Self {
            _watchers: watchers,
        })
    }
}

/// Re-reads the connections file and applies it; a file that cannot be
/// used is reported and changes nothing.
fn reload(upstreams: &Arc<Upstreams>, file: &Path) {
    match read_connections(file) {
        Ok(connections) => {
            tracing::info!(
                file = %file.display(),
                connections = connections.len(),
                "connections file reloaded"
            );
            upstreams.apply(connections);
        }
        Err(error) => tracing::error!(
            "{error}; the upstream connections keep running as they were until the file is fixed"
        ),
    }
}

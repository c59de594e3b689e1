//! `/healthz` and `/readyz` (docs/observability.md): alive while the
//! process serves; ready once the catalog is loaded and the tools watcher
//! runs, and not ready again from the moment a shutdown begins, so a load
//! balancer sends new work elsewhere while the calls in flight drain.

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// What readiness depends on, set by `gateway serve` as it starts.
#[derive(Debug, Default)]
pub struct Readiness {
    catalog_loaded: AtomicBool,
    watcher_running: AtomicBool,
}

/// Why the gateway is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NotReady {
    /// The tools folder has not been read yet.
    CatalogLoading,
    /// The tools folder is not watched: promoted tools would not be served.
    WatcherNotRunning,
    /// A shutdown has begun: calls in flight drain, new work goes elsewhere.
    Draining,
}

impl NotReady {
    /// A sentence for the operator.
    pub fn describe(self) -> &'static str {
        match self {
            NotReady::CatalogLoading => "the tools folder is still being read",
            NotReady::WatcherNotRunning => {
                "the tools folder is not watched: promoted tools would not be served"
            }
            NotReady::Draining => "shutting down: calls in flight are draining",
        }
    }
}

impl Readiness {
    /// Marks the catalog as loaded.
    pub fn catalog_loaded(&self) {
        self.catalog_loaded.store(true, Ordering::Release);
    }

    /// Marks the tools watcher as running (or not).
    pub fn set_watcher_running(&self, running: bool) {
        self.watcher_running.store(running, Ordering::Release);
    }

    /// Ready, or the first reason not to be; `draining` is whether a
    /// shutdown has begun.
    pub fn check(&self, draining: bool) -> Result<(), NotReady> {
        if draining {
            return Err(NotReady::Draining);
        }
        if !self.catalog_loaded.load(Ordering::Acquire) {
            return Err(NotReady::CatalogLoading);
        }
        if !self.watcher_running.load(Ordering::Acquire) {
            return Err(NotReady::WatcherNotRunning);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_with_catalog_and_watcher_and_never_while_draining() {
        let ready = Readiness::default();
        assert_eq!(ready.check(false), Err(NotReady::CatalogLoading));
        ready.catalog_loaded();
        assert_eq!(ready.check(false), Err(NotReady::WatcherNotRunning));
        ready.set_watcher_running(true);
        assert_eq!(ready.check(false), Ok(()));
        assert_eq!(ready.check(true), Err(NotReady::Draining));
    }
}

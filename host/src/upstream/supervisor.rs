//! Keeps one connection up: connect, list, serve; re-list when the upstream
//! says its tools changed; when the session ends (the child died, the
//! server went away), wait with exponential backoff and jitter, then start
//! again. While it is down its tools stay listed and their calls fail with
//! the typed `upstream` error, so a restart does not churn every client's
//! tool list.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::client::{self, Session};
use super::{Connection, Link, Upstreams};

/// First wait before a restart.
pub const FIRST_DELAY: Duration = Duration::from_millis(500);
/// Longest wait before a restart.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A session that lasted this long was healthy: the next restart waits
/// [`FIRST_DELAY`] again.
pub const HEALTHY: Duration = Duration::from_secs(30);
/// How often a session's tools are listed again when the upstream says
/// nothing: a changed definition is caught without a `list_changed`, and a
/// remote server that went away is noticed (its transport does not close).
pub const RELIST_EVERY: Duration = Duration::from_secs(60);

/// One connection's supervising task. Dropping it does not stop the task;
/// [`Supervisor::stop`] does.
#[derive(Debug)]
pub struct Supervisor {
    connection: Arc<Connection>,
    link: Arc<Link>,
    stop: CancellationToken,
}

impl Supervisor {
    /// Starts supervising `connection` for `upstreams`.
    pub(crate) fn start(upstreams: Weak<Upstreams>, connection: Arc<Connection>) -> Self {
        let link = Arc::new(Link::default());
        let stop = CancellationToken::new();
        tokio::spawn(run(
            upstreams,
            Arc::clone(&connection),
            Arc::clone(&link),
            stop.clone(),
        ));
        Self {
            connection,
            link,
            stop,
        }
    }

    /// The connection it keeps up.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Its link (the session in use).
    pub fn link(&self) -> Arc<Link> {
        Arc::clone(&self.link)
    }

    /// Ends the session and the task.
    pub fn stop(self) {
        self.stop.cancel();
    }
}

/// Waits that grow ×2 from [`FIRST_DELAY`] to [`MAX_DELAY`], each drawn
/// between half and all of the current step, so many gateways restarting
/// the same server do not knock in step.
#[derive(Debug)]
pub struct Backoff {
    step: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { step: FIRST_DELAY }
    }
}

impl Backoff {
    /// The next wait.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (step * 2).min(MAX_DELAY);
        let half = step / 2;
        let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_micros(random() % spread)
    }

    /// Back to the first step.
    pub fn reset(&mut self) {
        self.step = FIRST_DELAY;
    }
}

/// A random number from the process's hashing keys (jitter needs no more).
fn random() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

async fn run(
    upstreams: Weak<Upstreams>,
    connection: Arc<Connection>,
    link: Arc<Link>,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::default();
    loop {
        let started = Instant::now();
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            attempt = client::connect(&connection) => attempt,
        };
        match attempt {
            Ok(session) => {
                if serve(&upstreams, &connection, &link, session, &stop).await {
                    return;
                }
                tracing::warn!(connection = %connection.name, "upstream session ended; restarting");
            }
            Err(error) => {
                tracing::warn!(connection = %connection.name, "upstream connection failed: {error}");
            }
        }
        if started.elapsed() >= HEALTHY {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Serves one session until it ends (false) or the supervisor is stopped
/// (true).
async fn serve(
    upstreams: &Weak<Upstreams>,
    connection: &Arc<Connection>,
    link: &Arc<Link>,
    session: Session,
    stop: &CancellationToken,
) -> bool {
    let Session {
        service,
        changed,
        child,
    } = session;
    let relist = |tools| {
        if let Some(upstreams) = upstreams.upgrade() {
            upstreams.listed(connection, link, tools);
        }
    };
    let peer = service.peer().clone();
    match client::list(&peer, connection).await {
        Ok(tools) => {
            tracing::info!(connection = %connection.name, tools = tools.len(), "upstream connected");
            relist(tools);
        }
        Err(error) => {
            tracing::warn!(connection = %connection.name, "upstream tools could not be listed: {error}");
            return false;
        }
    }
    link.up(peer.clone());
    let cancel = service.cancellation_token();
    let ended = service.waiting();
    tokio::pin!(ended);
    let mut every =
        tokio::time::interval_at(tokio::time::Instant::now() + RELIST_EVERY, RELIST_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stopped = loop {
        tokio::select! {
            () = stop.cancelled() => {
                cancel.cancel();
                break true;
            }
            _ = &mut ended => break false,
            () = changed.notified() => {}
            _ = every.tick() => {}
            () = link.suspect.notified() => {}
        }
        match client::list(&peer, connection).await {
            Ok(tools) => relist(tools),
            Err(error) if error.is_broken() => {
                tracing::warn!(connection = %connection.name, "upstream session is broken: {error}");
                cancel.cancel();
                break false;
            }
            Err(error) => {
                tracing::warn!(connection = %connection.name, "upstream tools could not be re-listed: {error}")
            }
        }
    };
    link.down();
    drop(child);
    stopped
}

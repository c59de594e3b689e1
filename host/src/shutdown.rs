//! Graceful shutdown of `gateway serve`, as Kubernetes and systemd expect it.
//!
//! With a shutdown delay (`[server] shutdown_delay_ms`, for replicas behind
//! a load balancer), a signal first only makes `/readyz` answer 503 while
//! everything is still served, so the balancer stops sending before any
//! connection is refused or closed; then the stop below follows.
//!
//! SIGTERM (or SIGINT) stops new connections at once. The tool calls in
//! flight get up to a grace period to deliver their results; as soon as none
//! is left, long-lived event streams and idle keep-alive connections close
//! and the process exits. When the grace period ends first, the process
//! exits anyway and says how many calls it cut off. A second signal exits at
//! once.
//!
//! [`Shutdown`] is what the transports share: they count the calls they owe
//! a result in [`Shutdown::calls`], stop taking new work once
//! [`Shutdown::stop`] is cancelled, and end their long-lived streams once
//! [`Shutdown::drained`] is. [`run`] drives those phases for one server.

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Default grace period. Kubernetes sends SIGKILL 30 s after SIGTERM (its
/// default `terminationGracePeriodSeconds`); stopping the drain at 25 s
/// leaves time to report the calls cut off and exit on our own terms, and
/// for a preStop hook, which spends the same 30 s. systemd waits 90 s.
pub const DEFAULT_GRACE_MS: u64 = 25_000;

/// Work owed a result: the tool calls a transport has accepted and not yet
/// answered. Cloning shares the count.
///
/// Entering and leaving are one atomic operation each: this runs on every
/// `tools/call`. Only once something waits for [`InFlight::idle`] does the
/// last call out also wake it.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<Count>);

#[derive(Debug, Default)]
struct Count {
    calls: AtomicUsize,
    /// Set by the first [`InFlight::idle`]; from then on the call that
    /// brings the count to zero wakes the waiters.
    awaited: AtomicBool,
    idle: Notify,
}

impl InFlight {
    /// Counts one call until the guard is dropped.
    pub fn enter(&self) -> CallGuard {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        CallGuard(Arc::clone(&self.0))
    }

    /// Calls in flight now.
    pub fn count(&self) -> usize {
        self.0.calls.load(Ordering::SeqCst)
    }

    /// Resolves once no call is in flight (at once if none is).
    pub async fn idle(&self) {
        self.0.awaited.store(true, Ordering::SeqCst);
        loop {
            let notified = self.0.idle.notified();
            tokio::pin!(notified);
            // Registered before the count is read: a last call leaving after
            // the read sees `awaited` and wakes this waiter.
            notified.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One call in flight; dropping it ends the call's count.
#[derive(Debug)]
#[must_use = "the call counts only while the guard lives"]
pub struct CallGuard(Arc<Count>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        let before = self.0.calls.fetch_sub(1, Ordering::SeqCst);
        if before == 1 && self.0.awaited.load(Ordering::SeqCst) {
            self.0.idle.notify_waiters();
        }
    }
}

/// The state of one server's shutdown, shared by its transports.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    stop: CancellationToken,
    drained: CancellationToken,
    calls: InFlight,
    draining: CancellationToken,
    delay: Duration,
}

impl Shutdown {
    /// This shutdown, announcing itself on [`Shutdown::draining`] for
    /// `delay` after a signal before it stops.
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Cancelled as soon as a signal arrives (before the stop, by the
    /// delay): `/readyz` answers 503 from then on.
    pub fn draining(&self) -> &CancellationToken {
        &self.draining
    }

    /// Cancelled when a signal arrives (after the delay, if any): accept no
    /// new connection, read no new request.
    pub fn stop(&self) -> &CancellationToken {
        &self.stop
    }

    /// Cancelled once no call is in flight after the stop (or when the grace
    /// period ends): long-lived streams end, as they owe nobody a result.
    pub fn drained(&self) -> &CancellationToken {
        &self.drained
    }

    /// The tool calls owed a result.
    pub fn calls(&self) -> &InFlight {
        &self.calls
    }
}

/// A signal that stops the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: Kubernetes, systemd, `kill`.
    Terminate,
    /// SIGINT: Ctrl-C.
    Interrupt,
}

impl Signal {
    /// The signal's number on Linux and the BSDs.
    fn number(self) -> u8 {
        match self {
            Signal::Terminate => 15,
            Signal::Interrupt => 2,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Terminate => "SIGTERM",
            Signal::Interrupt => "SIGINT",
        })
    }
}

/// SIGTERM and SIGINT, handled from [`Signals::listen`] on: from then on
/// they no longer kill the process, and [`Signals::next`] reports them.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts handling the signals (inside a Tokio runtime).
    pub fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next signal, including one that arrived since the last call.
    pub async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                Some(()) = self.terminate.recv() => Signal::Terminate,
                Some(()) = self.interrupt.recv() => Signal::Interrupt,
                else => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => Signal::Interrupt,
                Err(_) => std::future::pending().await,
            }
        }
    }
}

/// How a server ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ended by itself, before anything stopped it.
    Ended,
    /// A signal (or its transport: stdin closed) stopped it, and every call
    /// in flight delivered its result.
    Drained,
    /// The grace period ended first; `cut_off` calls were still in flight.
    GraceOver {
        /// Calls that never delivered their result.
        cut_off: usize,
    },
    /// A second signal ended the drain at once.
    Forced {
        /// The second signal.
        signal: Signal,
        /// Calls that never delivered their result.
        cut_off: usize,
    },
}

impl Outcome {
    /// The process status: 0 when no call was lost, 1 when the grace period
    /// cut calls off (so a supervisor records that the stop lost work), and
    /// 128 + the signal's number after a second signal, as if it had killed
    /// the process.
    pub fn exit_code(self) -> ExitCode {
        match self {
            Outcome::Ended | Outcome::Drained | Outcome::GraceOver { cut_off: 0 } => {
                ExitCode::SUCCESS
            }
            Outcome::GraceOver { .. } => ExitCode::FAILURE,
            Outcome::Forced { signal, .. } => ExitCode::from(128 + signal.number()),
        }
    }
}

/// Runs `server` until it ends by itself, or until it is stopped and
/// drains. A signal cancels `stop` (a transport whose input ends cancels it
/// itself); `drained` follows once no call is left in flight; `run` returns
/// when the server has finished too (it closed its last connection), when
/// `grace` has passed, or at a second signal, whichever comes first. What
/// happens is reported on stderr.
pub async fn run<E>(
    shutdown: &Shutdown,
    server: impl Future<Output = Result<(), E>>,
    mut signals: Signals,
    grace: Duration,
) -> Result<Outcome, E> {
    let mut server = std::pin::pin!(server);
    let cause = tokio::select! {
        ended = &mut server => return ended.map(|()| Outcome::Ended),
        signal = signals.next() => signal.to_string(),
        () = shutdown.stop.cancelled() => "input closed".to_string(),
    };
    shutdown.draining.cancel();
    if !shutdown.delay.is_zero() && !shutdown.stop.is_cancelled() {
        eprintln!(
            "shutdown: {cause}: not ready; still serving for {} ms while load balancers stop sending",
            shutdown.delay.as_millis()
        );
        tokio::select! {
            ended = &mut server => return ended.map(|()| Outcome::Ended),
            () = tokio::time::sleep(shutdown.delay) => {}
            () = shutdown.stop.cancelled() => {}
            second = signals.next() => {
                let cut_off = shutdown.calls.count();
                eprintln!("shutdown: second signal ({second}) with calls_cut_off={cut_off}; exiting at once");
                shutdown.stop.cancel();
                shutdown.drained.cancel();
                return Ok(Outcome::Forced { signal: second, cut_off });
            }
        }
    }
    let started = Instant::now();
    shutdown.stop.cancel();
    eprintln!(
        "shutdown: {cause}: taking no new connections or requests; {} call(s) in flight get up to {} ms to finish (a second signal exits at once)",
        shutdown.calls.count(),
        grace.as_millis()
    );
    let drain = async {
        shutdown.calls.idle().await;
        shutdown.drained.cancel();
    };
    let finished = async {
        let (ended, ()) = futures::future::join(&mut server, drain).await;
        ended
    };
    let outcome = tokio::select! {
        ended = finished => {
            ended?;
            eprintln!(
                "shutdown: drained in {:.1} s; exiting",
                started.elapsed().as_secs_f64()
            );
            Outcome::Drained
        }
        () = tokio::time::sleep(grace) => {
            let cut_off = shutdown.calls.count();
            eprintln!(
                "shutdown: grace period of {} ms over with calls_cut_off={cut_off}; exiting",
                grace.as_millis()
            );
            Outcome::GraceOver { cut_off }
        }
        second = signals.next() => {
            let cut_off = shutdown.calls.count();
            eprintln!("shutdown: second signal ({second}) with calls_cut_off={cut_off}; exiting at once");
            Outcome::Forced { signal: second, cut_off }
        }
    };
    // Whatever still streams has nobody left to answer.
    shutdown.drained.cancel();
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_count_while_their_guards_live() {
        let calls = InFlight::default();
        calls.idle().await;
        let first = calls.enter();
        let second = calls.clone().enter();
        assert_eq!(calls.count(), 2);
        drop(first);
        assert_eq!(calls.count(), 1);
        let idle = tokio::spawn({
            let calls = calls.clone();
            async move { calls.idle().await }
        });
        tokio::task::yield_now().await;
        assert!(!idle.is_finished());
        drop(second);
        idle.await.expect("idle resolves once the last call ends");
        assert_eq!(calls.count(), 0);
    }

    #[test]
    fn only_lost_work_or_a_second_signal_exits_non_zero() {
        assert_eq!(Outcome::Ended.exit_code(), ExitCode::SUCCESS);
        assert_eq!(Outcome::Drained.exit_code(), ExitCode::SUCCESS);
        assert_eq!(
            Outcome::GraceOver { cut_off: 0 }.exit_code(),
            ExitCode::SUCCESS
        );
        assert_eq!(
            Outcome::GraceOver { cut_off: 2 }.exit_code(),
            ExitCode::FAILURE
        );
        for (signal, status) in [(Signal::Terminate, 143), (Signal::Interrupt, 130)] {
            assert_eq!(
                Outcome::Forced { signal, cut_off: 1 }.exit_code(),
                ExitCode::from(status)
            );
        }
    }
}

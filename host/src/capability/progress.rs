//! `gateway:tool/progress` (0.2.0): a tool's progress reports, checked and
//! coalesced, on their way to the caller (docs/progress.md).
//!
//! The state is one call's [`ProgressSink`]: where reports go (nowhere when
//! the request carried no progress token, so reporting costs a branch), the
//! last `done` passed on, and a token bucket. A report is passed on only if
//! its numbers are finite and `done` did not decrease; at most
//! [`BURST`] at once and [`PER_SECOND`] a second after that. A report over
//! the rate is held, replacing any held before it, and goes out with the
//! call's end ([`ProgressSink::flush`]) unless a later one supersedes it:
//! the caller always hears the last word.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use wasmtime::component::{HasData, Linker};

use crate::bindings::gateway::tool::progress::{self as bindings, Host};
use crate::outbound::redact::Redactor;

/// Reports passed on at once before the rate applies.
pub const BURST: u32 = 10;
/// Reports passed on per second once the burst is spent.
pub const PER_SECOND: u32 = 10;
/// Longest message kept; the rest is cut.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// One progress report, as the caller will see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressReport {
    /// Units done so far.
    pub done: f64,
    /// Units in all, when known.
    pub total: Option<f64>,
    /// A short human-readable note, secrets scrubbed and control characters replaced.
    pub message: Option<String>,
}

/// The receiving end, read by whoever forwards reports to the caller.
pub type ProgressReceiver = mpsc::UnboundedReceiver<ProgressReport>;
/// The sending end a call's sink holds. Unbounded: the sink's rate bounds it.
pub type ProgressSender = mpsc::UnboundedSender<ProgressReport>;

/// A channel for one call's reports.
pub fn channel() -> (ProgressSender, ProgressReceiver) {
    mpsc::unbounded_channel()
}

/// One call's progress state.
#[derive(Debug)]
pub struct ProgressSink {
    to: Option<ProgressSender>,
    redactor: Arc<Redactor>,
    last_done: f64,
    tokens: f64,
    refilled: Instant,
    held: Option<ProgressReport>,
}

impl ProgressSink {
    /// A sink passing reports to `to`, or dropping them all when `None`.
    pub fn new(to: Option<ProgressSender>, redactor: Arc<Redactor>) -> Self {
        Self {
            to,
            redactor,
            last_done: f64::NEG_INFINITY,
            tokens: f64::from(BURST),
            refilled: Instant::now(),
            held: None,
        }
    }

    /// Takes one report from the guest.
    pub fn report(&mut self, done: f64, total: Option<f64>, message: Option<String>) {
        if self.to.is_none() || !done.is_finite() || done < self.last_done {
            return;
        }
        let total = total.filter(|t| t.is_finite() && *t >= 0.0);
        self.last_done = done;
        let message = message.map(|m| clean(&self.redactor, &m));
        let report = ProgressReport {
            done,
            total,
            message,
        };
        if self.take_token() {
            self.held = None;
            self.send(report);
        } else {
            self.held = Some(report);
        }
    }

    /// Passes on the report held back by the rate, if any (the call ended).
    pub fn flush(&mut self) {
        if let Some(report) = self.held.take() {
            self.send(report);
        }
    }

    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + elapsed * f64::from(PER_SECOND)).min(f64::from(BURST));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn send(&mut self, report: ProgressReport) {
        if let Some(to) = &self.to
            && to.send(report).is_err()
        {
            // Nobody listens any more (the caller went): stop trying.
            self.to = None;
        }
    }
}

/// Scrubs the tool's secrets, then cuts and sanitises like a log line.
fn clean(redactor: &Redactor, message: &str) -> String {
    let message = redactor.redact_str(message);
    super::log::sanitize_to(&message, MAX_MESSAGE_BYTES)
}

/// What `gateway:tool/progress` sees of a call: its sink.
pub struct GuestProgress<'a> {
    sink: &'a mut ProgressSink,
}

impl<'a> GuestProgress<'a> {
    /// The view over one call's sink.
    pub fn new(sink: &'a mut ProgressSink) -> Self {
        Self { sink }
    }
}

impl Host for GuestProgress<'_> {
    fn report(&mut self, done: f64, total: Option<f64>, message: Option<String>) {
        self.sink.report(done, total, message);
    }
}

struct HasGuestProgress;

impl HasData for HasGuestProgress {
    type Data<'a> = GuestProgress<'a>;
}

/// Links `gateway:tool/progress` (0.2.0 only); `view` lends the call's sink.
pub fn add_to_linker<T: 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> GuestProgress<'_>,
) -> wasmtime::Result<()> {
    bindings::add_to_linker::<T, HasGuestProgress>(linker, view)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink() -> (ProgressSink, ProgressReceiver) {
        let (tx, rx) = channel();
        (ProgressSink::new(Some(tx), Arc::default()), rx)
    }

    fn drain(rx: &mut ProgressReceiver) -> Vec<f64> {
        let mut out = Vec::new();
        while let Ok(r) = rx.try_recv() {
            out.push(r.done);
        }
        out
    }

    #[test]
    fn decreasing_and_non_finite_reports_are_dropped() {
        let (mut sink, mut rx) = sink();
        sink.report(1.0, Some(10.0), None);
        sink.report(0.5, Some(10.0), None);
        sink.report(f64::NAN, None, None);
        sink.report(f64::INFINITY, None, None);
        sink.report(2.0, Some(f64::NAN), None);
        let first = rx.try_recv().expect("first report");
        assert_eq!(first.total, Some(10.0));
        let second = rx.try_recv().expect("second report");
        assert_eq!((second.done, second.total), (2.0, None));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_burst_passes_then_the_last_report_waits_for_the_end() {
        let (mut sink, mut rx) = sink();
        for done in 0..100 {
            sink.report(f64::from(done), Some(100.0), None);
        }
        let passed = drain(&mut rx);
        assert!(passed.len() >= BURST as usize && passed.len() < 100);
        assert_eq!(
            passed[..BURST as usize],
            (0..10).map(f64::from).collect::<Vec<_>>()[..]
        );
        sink.flush();
        assert_eq!(drain(&mut rx), [99.0]);
    }

    #[test]
    fn messages_are_scrubbed_and_cut() {
        let (tx, mut rx) = channel();
        let redactor = Arc::new(Redactor::new([("KEY", "sk_live_0123456789")]));
        let mut sink = ProgressSink::new(Some(tx), redactor);
        let long = format!(
            "got sk_live_0123456789\n{}",
            "x".repeat(2 * MAX_MESSAGE_BYTES)
        );
        sink.report(1.0, None, Some(long));
        let message = rx.try_recv().expect("report").message.expect("message");
        assert!(message.starts_with("got [redacted:KEY]\u{fffd}"));
        // One byte of newline became the three of U+FFFD.
        assert_eq!(message.len(), MAX_MESSAGE_BYTES + 2);
    }

    #[test]
    fn without_a_receiver_nothing_is_kept() {
        let mut sink = ProgressSink::new(None, Arc::default());
        sink.report(1.0, None, Some("x".into()));
        sink.flush();
        assert!(sink.held.is_none());
    }
}

//! Limits agents can read (docs/limits.md): how often each team may call
//! each tool ([`rate`], token buckets), and how many tool calls the whole
//! gateway runs at once ([`CallSlots`]). Past either, a call is refused at
//! once with a [`Limited`] saying which budget ran out and when to come
//! back; nothing is ever queued.
//!
//! The MCP transports ask [`Limits::admit`] for every `tools/call` of a
//! tool that exists, with the caller's team (`crate::mcp::admission`), and
//! hold the [`CallSlot`] it gives until the call's response is on its way.

pub mod rate;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use rate::{RateLimiter, RateSettings};

/// Tool calls in flight at once per core by default (see
/// [`default_max_calls_in_flight`]).
pub const DEFAULT_CALLS_IN_FLIGHT_PER_CORE: usize = 128;
/// The largest `[limits] max_calls_in_flight` accepted.
pub const MAX_CALLS_IN_FLIGHT: usize = 1_000_000;
/// The retry hint of a call refused because the gateway is at its cap on
/// calls in flight: nothing says when a slot frees, and most calls take
/// well under a second.
pub const OVERLOADED_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Slowest rate accepted: one call every 1000 s.
pub const MIN_CALLS_PER_SECOND: f64 = 0.001;
/// Fastest rate accepted.
pub const MAX_CALLS_PER_SECOND: f64 = 1_000_000.0;
/// Largest burst accepted.
pub const MAX_BURST: u32 = 1_000_000;

/// The cap on tool calls in flight when `gateway.toml` sets none: 128 per
/// core this process may use (2 × 64: calls mostly wait on their upstream,
/// and each holds a sandbox instance; the runtime's memory budget bounds
/// their memory on its own).
pub fn default_max_calls_in_flight() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_mul(DEFAULT_CALLS_IN_FLIGHT_PER_CORE)
}

/// A call rate: `calls_per_second` on average, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    calls_per_second: f64,
    burst: u32,
}

/// Why a rate is refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RateError {
    /// Not a number of calls per second the gateway can keep.
    #[error("calls_per_second = {0} is outside {MIN_CALLS_PER_SECOND}..={MAX_CALLS_PER_SECOND}")]
    CallsPerSecond(f64),
    /// A burst of no call, or more than [`MAX_BURST`].
    #[error("burst = {0} is outside 1..={MAX_BURST}")]
    Burst(u64),
}

impl Rate {
    /// `calls_per_second`, with `burst` calls at once (default: one
    /// second's worth, at least 1).
    pub fn new(calls_per_second: f64, burst: Option<u32>) -> Result<Self, RateError> {
        if !(MIN_CALLS_PER_SECOND..=MAX_CALLS_PER_SECOND).contains(&calls_per_second) {
            return Err(RateError::CallsPerSecond(calls_per_second));
        }
        let burst = match burst {
            Some(b) if b == 0 || b > MAX_BURST => return Err(RateError::Burst(u64::from(b))),
            Some(b) => b,
            // In range above, so the cast cannot truncate.
            None => (calls_per_second.ceil() as u32).max(1),
        };
        Ok(Self {
            calls_per_second,
            burst,
        })
    }

    /// Calls per second on average.
    pub fn calls_per_second(&self) -> f64 {
        self.calls_per_second
    }

    /// Calls at once after an idle spell.
    pub fn burst(&self) -> u32 {
        self.burst
    }
}

/// Which budget a refused call ran out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    /// The caller's team, all its tools together (`[limits.teams.NAME]`).
    Team,
    /// The caller's team on this tool (`[limits]` or `[limits.tools.NAME]`).
    Tool,
    /// The whole gateway: its cap on calls in flight, or on the budgets it
    /// can track at once.
    Global,
}

impl LimitScope {
    /// The stable name in error data: `team`, `tool` or `gateway`.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitScope::Team => "team",
            LimitScope::Tool => "tool",
            LimitScope::Global => "gateway",
        }
    }
}

/// A call refused by a limit: which one, and when trying again may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}: retry in {:.3} s", self.describe(), self.retry_after.as_secs_f64())]
pub struct Limited {
    /// The budget that ran out.
    pub scope: LimitScope,
    /// How long until the call would be admitted (for a rate), or a hint
    /// (for the cap on calls in flight).
    pub retry_after: Duration,
}

impl Limited {
    /// The stable code agents act on: `rate_limited` (a team's or a tool's
    /// rate) or `overloaded` (the whole gateway).
    pub fn code(&self) -> &'static str {
        match self.scope {
            LimitScope::Team | LimitScope::Tool => "rate_limited",
            LimitScope::Global => "overloaded",
        }
    }

    fn describe(&self) -> &'static str {
        match self.scope {
            LimitScope::Team => "rate limited: your team's calls per second are used up",
            LimitScope::Tool => "rate limited: your calls per second to this tool are used up",
            LimitScope::Global => "overloaded: the gateway is running as many calls as it may",
        }
    }

    /// The retry hint in whole seconds, rounded up (HTTP `Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
    }

    /// The retry hint in seconds, rounded up to the millisecond (the
    /// JSON-RPC error's `retryAfter`).
    pub fn retry_after_seconds_f64(&self) -> f64 {
        let ms = self.retry_after.as_nanos().div_ceil(1_000_000);
        ms as f64 / 1000.0
    }
}

/// The cap on tool calls in flight, over every transport. Entering is one
/// atomic add on the shared count (and one more to back out past the cap),
/// plus the `Arc` count of the slot, which sits next to it in memory: all
/// calls share these two words, as they share the one cap.
#[derive(Debug, Clone)]
pub struct CallSlots(Arc<SlotCount>);

#[derive(Debug)]
struct SlotCount {
    used: AtomicUsize,
    max: usize,
}

impl CallSlots {
    /// At most `max` calls at once (at least 1).
    pub fn new(max: usize) -> Self {
        Self(Arc::new(SlotCount {
            used: AtomicUsize::new(0),
            max: max.max(1),
        }))
    }

    /// A slot for one call, or [`Limited`] with [`LimitScope::Global`] when
    /// all are taken. Never waits.
    pub fn try_acquire(&self) -> Result<CallSlot, Limited> {
        let before = self.0.used.fetch_add(1, Ordering::AcqRel);
        if before >= self.0.max {
            self.0.used.fetch_sub(1, Ordering::AcqRel);
            return Err(Limited {
                scope: LimitScope::Global,
                retry_after: OVERLOADED_RETRY_AFTER,
            });
        }
        Ok(CallSlot(Arc::clone(&self.0)))
    }

    /// Calls holding a slot now.
    pub fn in_use(&self) -> usize {
        self.0.used.load(Ordering::Acquire)
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.0.max
    }
}

/// One call's place under the cap; dropping it frees the place.
#[derive(Debug)]
#[must_use = "the call holds its place only while the slot lives"]
pub struct CallSlot(Arc<SlotCount>);

impl Drop for CallSlot {
    fn drop(&mut self) {
        self.0.used.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The `[limits]` settings, checked (settings.rs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LimitSettings {
    /// Tool calls in flight at once, all transports together
    /// [default: [`default_max_calls_in_flight`]].
    pub max_calls_in_flight: Option<usize>,
    /// Call rates per team and tool.
    pub rates: RateSettings,
}

/// Everything that can refuse a call before it runs: the rates and the cap
/// on calls in flight. One per gateway, shared by its transports.
#[derive(Debug)]
pub struct Limits {
    rates: RateLimiter,
    slots: CallSlots,
}

impl Default for Limits {
    /// No rate; the default cap on calls in flight.
    fn default() -> Self {
        Self::new(&LimitSettings::default())
    }
}

impl Limits {
    /// The limits `settings` describe.
    pub fn new(settings: &LimitSettings) -> Self {
        Self {
            rates: RateLimiter::new(settings.rates.clone()),
            slots: CallSlots::new(
                settings
                    .max_calls_in_flight
                    .unwrap_or_else(default_max_calls_in_flight),
            ),
        }
    }

    /// Admits one call of `team` (`None`: a caller without one) to `tool`:
    /// a place under the cap on calls in flight, then a token from its
    /// rates. Hold the slot until the call's response is on its way.
    /// Refused, the call has spent nothing.
    pub fn admit(&self, team: Option<&str>, tool: &str) -> Result<CallSlot, Limited> {
        let slot = self.slots.try_acquire()?;
        self.rates.check(team, tool)?;
        Ok(slot)
    }

    /// The call rates.
    pub fn rates(&self) -> &RateLimiter {
        &self.rates
    }

    /// The cap on calls in flight.
    pub fn slots(&self) -> &CallSlots {
        &self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_refuses_at_once_and_a_dropped_slot_frees_its_place() {
        let slots = CallSlots::new(2);
        let first = slots.try_acquire().expect("first");
        let second = slots.try_acquire().expect("second");
        let refused = slots.try_acquire().err();
        assert_eq!(refused.map(|l| l.scope), Some(LimitScope::Global));
        assert_eq!(refused.map(|l| l.code()), Some("overloaded"));
        assert_eq!(slots.in_use(), 2);
        drop(first);
        let third = slots.try_acquire().expect("a freed place");
        drop((second, third));
        assert_eq!(slots.in_use(), 0);
    }

    #[test]
    fn a_call_refused_by_its_rate_gives_its_slot_back() {
        let limits = Limits::new(&LimitSettings {
            max_calls_in_flight: Some(5),
            rates: RateSettings {
                per_tool: Some(Rate::new(1.0, Some(1)).expect("rate")),
                ..RateSettings::default()
            },
        });
        let held = limits.admit(None, "echo").expect("first");
        let refused = limits.admit(None, "echo").err();
        assert_eq!(refused.map(|l| l.scope), Some(LimitScope::Tool));
        assert_eq!(refused.map(|l| l.code()), Some("rate_limited"));
        assert_eq!(limits.slots().in_use(), 1);
        drop(held);
        assert_eq!(limits.slots().in_use(), 0);
    }

    #[test]
    fn rates_are_checked_and_default_their_burst_to_one_second() {
        assert_eq!(Rate::new(2.5, None).map(|r| r.burst()), Ok(3));
        assert_eq!(Rate::new(0.1, None).map(|r| r.burst()), Ok(1));
        assert_eq!(Rate::new(0.0, None), Err(RateError::CallsPerSecond(0.0)));
        assert!(matches!(
            Rate::new(f64::NAN, None),
            Err(RateError::CallsPerSecond(_))
        ));
        assert_eq!(Rate::new(1.0, Some(0)), Err(RateError::Burst(0)));
        assert_eq!(
            Rate::new(1.0, Some(MAX_BURST + 1)),
            Err(RateError::Burst(u64::from(MAX_BURST) + 1))
        );
    }

    #[test]
    fn retry_hints_round_up() {
        let limited = |ms| Limited {
            scope: LimitScope::Tool,
            retry_after: Duration::from_micros(ms),
        };
        assert_eq!(limited(200_000).retry_after_secs(), 1);
        assert_eq!(limited(1_000_000).retry_after_secs(), 1);
        assert_eq!(limited(1_000_001).retry_after_secs(), 2);
        assert_eq!(limited(1).retry_after_secs(), 1);
        assert_eq!(limited(1_500_000).retry_after_seconds_f64(), 1.5);
        assert_eq!(limited(1).retry_after_seconds_f64(), 0.001);
    }

    #[test]
    fn the_default_cap_scales_with_the_cores() {
        assert!(default_max_calls_in_flight() >= DEFAULT_CALLS_IN_FLIGHT_PER_CORE);
        assert_eq!(
            Limits::default().slots().max(),
            default_max_calls_in_flight()
        );
    }
}

//! Call rates: one token bucket per (team, tool) and per team, kept as a
//! GCRA "theoretical arrival time" in a single atomic (docs/limits.md).
//!
//! A bucket of `burst` tokens refilled at `rate` per second is the same as
//! this: each call moves the bucket's theoretical arrival time (`tat`) one
//! emission interval `T = 1/rate` later, starting from now when the bucket
//! has been idle; a call that would push `tat` more than `burst × T` past
//! now is refused, and told to come back when it would not. A bucket whose
//! `tat` is not after now is full and carries no information: it is
//! forgotten at the next sweep of its shard, and recreated full on demand.
//!
//! What is shared between concurrent calls, and nothing else:
//! - the shard's `RwLock`, taken for reading (one atomic on the lock word)
//!   to find a bucket, and for writing only to add a key or sweep idle
//!   ones; calls for different keys mostly land in different shards
//!   ([`SHARDS`]);
//! - the one `AtomicU64` of each bucket a call spends from, updated with a
//!   compare-and-swap. Calls of one team on one tool share it by nature:
//!   they spend the same budget.
//!
//! No call waits for another to finish, no call is queued, and a refused
//! call adds nothing: a refusal only happens for a key that already has a
//! bucket (or when no bucket can be added).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::{LimitScope, Limited, OVERLOADED_RETRY_AFTER, Rate};

/// Shards of the bucket table: each a lock and a map of its own.
pub const SHARDS: usize = 64;
/// Keys tracked at most by default, over all shards: each is a few dozen
/// bytes, so the table stays under ~10 MiB however many teams and tools
/// call at once.
pub const DEFAULT_MAX_KEYS: usize = 65_536;
/// A shard forgets its idle (full) buckets at most this often, when a key
/// is added to it; sooner when it is at its share of the cap.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Where "now" comes from: the monotonic clock in the gateway, a hand-moved
/// one in tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Time since a fixed origin of this clock.
    fn now(&self) -> Duration;
}

/// The monotonic clock, counted from its creation.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock(Instant);

impl Default for MonotonicClock {
    fn default() -> Self {
        Self(Instant::now())
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A clock that moves only when told to (unit tests of the arithmetic).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(nanos(by), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::SeqCst))
    }
}

impl<C: Clock> Clock for Arc<C> {
    fn now(&self) -> Duration {
        C::now(self)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The rates in force, as the settings give them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateSettings {
    /// Each team's calls to each tool, unless the tool has its own.
    pub per_tool: Option<Rate>,
    /// Tools whose calls (per team) have their own rate.
    pub tools: HashMap<String, Rate>,
    /// Teams whose calls, all tools together, are limited.
    pub teams: HashMap<String, Rate>,
}

impl RateSettings {
    /// Whether no rate applies to any call.
    pub fn is_unlimited(&self) -> bool {
        self.per_tool.is_none() && self.tools.is_empty() && self.teams.is_empty()
    }
}

/// A bucket's parameters in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cell {
    /// Time one token takes to come back.
    interval: u64,
    /// How far ahead of now `tat` may run: `burst × interval`.
    tolerance: u64,
}

impl From<Rate> for Cell {
    fn from(rate: Rate) -> Self {
        let interval = (1e9 / rate.calls_per_second()).round().max(1.0);
        // Settings bound the rate (settings.rs), so this fits; saturate anyway.
        let interval = if interval >= u64::MAX as f64 {
            u64::MAX
        } else {
            interval as u64
        };
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(rate.burst())),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    cell: Cell,
    tat: AtomicU64,
}

impl Bucket {
    fn new(cell: Cell) -> Self {
        Self {
            cell,
            tat: AtomicU64::new(0),
        }
    }

    /// Spends one token at `now`, or says how long until one is there.
    fn take(&self, now: u64) -> Result<(), Duration> {
        let Cell {
            interval,
            tolerance,
        } = self.cell;
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now).saturating_add(interval);
            let ahead = next - now;
            if ahead > tolerance {
                return Err(Duration::from_nanos(ahead - tolerance));
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(seen) => tat = seen,
            }
        }
    }

    /// Gives back the token [`Bucket::take`] spent (the call was refused by
    /// another bucket).
    fn give_back(&self) {
        let interval = self.cell.interval;
        let _ = self
            .tat
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |tat| {
                Some(tat.saturating_sub(interval))
            });
    }

    /// Full at `now`: nothing spent that has not come back.
    fn idle(&self, now: u64) -> bool {
        self.tat.load(Ordering::Relaxed) <= now
    }
}

#[derive(Debug, Default)]
struct Shard {
    buckets: RwLock<HashMap<Box<str>, Bucket>>,
    /// When this shard next forgets its full buckets (clock nanoseconds).
    next_sweep: AtomicU64,
}

/// Which budget a bucket holds.
#[derive(Debug, Clone, Copy)]
enum Key<'a> {
    /// One team's (or the callers without a team's) calls to one tool.
    Tool(Option<&'a str>, &'a str),
    /// One team's calls, all tools together.
    Team(&'a str),
}

impl Key<'_> {
    /// An unambiguous text for the key: names are length-prefixed, so no
    /// team or tool name can be made to read as another key.
    fn write(self, out: &mut String) {
        out.clear();
        let _ = match self {
            Key::Tool(None, tool) => write!(out, "a/{tool}"),
            Key::Tool(Some(team), tool) => write!(out, "t{}:{team}/{tool}", team.len()),
            Key::Team(team) => write!(out, "T{}:{team}", team.len()),
        };
    }

    fn scope(self) -> LimitScope {
        match self {
            Key::Tool(..) => LimitScope::Tool,
            Key::Team(_) => LimitScope::Team,
        }
    }
}

thread_local! {
    /// The key text of the call being checked on this thread: looked up
    /// without allocating.
    static KEY: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Token buckets for every (team, tool) and every team with a rate; see the
/// module documentation for what concurrent calls share.
#[derive(Debug)]
pub struct RateLimiter<C: Clock = MonotonicClock> {
    settings: RateSettings,
    /// No rate at all: every check answers at once.
    unlimited: bool,
    /// Parsed once: [`Rate`] → nanosecond cells.
    per_tool: Option<Cell>,
    tools: HashMap<String, Cell>,
    teams: HashMap<String, Cell>,
    shards: Box<[Shard]>,
    hasher: std::collections::hash_map::RandomState,
    max_per_shard: usize,
    clock: C,
}

impl RateLimiter<MonotonicClock> {
    /// Limits as `settings` say, tracking at most [`DEFAULT_MAX_KEYS`] keys.
    pub fn new(settings: RateSettings) -> Self {
        Self::with_clock(settings, DEFAULT_MAX_KEYS, MonotonicClock::default())
    }
}

impl<C: Clock> RateLimiter<C> {
    /// Limits as `settings` say, tracking at most `max_keys` keys (rounded
    /// up to a multiple of [`SHARDS`]), on `clock`.
    pub fn with_clock(settings: RateSettings, max_keys: usize, clock: C) -> Self {
        let cells = |rates: &HashMap<String, Rate>| {
            rates
                .iter()
                .map(|(name, rate)| (name.clone(), Cell::from(*rate)))
                .collect()
        };
        Self {
            per_tool: settings.per_tool.map(Cell::from),
            tools: cells(&settings.tools),
            teams: cells(&settings.teams),
            unlimited: settings.is_unlimited(),
            settings,
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            max_per_shard: max_keys.div_ceil(SHARDS).max(1),
            clock,
        }
    }

    /// The rates in force.
    pub fn settings(&self) -> &RateSettings {
        &self.settings
    }

    /// Spends one call of `team` (`None`: a caller without a team) on
    /// `tool`: from the (team, tool) bucket, then from the team's own, if
    /// each has a rate. Refused by either, nothing is spent and the answer
    /// says which budget ran out and when to try again.
    pub fn check(&self, team: Option<&str>, tool: &str) -> Result<(), Limited> {
        if self.unlimited {
            return Ok(());
        }
        let per_tool = self.tools.get(tool).copied().or(self.per_tool);
        let per_team = team.and_then(|t| self.teams.get(t).copied());
        if per_tool.is_none() && per_team.is_none() {
            return Ok(());
        }
        let now = nanos(self.clock.now());
        KEY.with_borrow_mut(|text| {
            let tool_key = Key::Tool(team, tool);
            let spent = match per_tool {
                Some(cell) => Some(self.take(tool_key, cell, now, text)?),
                None => None,
            };
            if let (Some(cell), Some(team)) = (per_team, team)
                && let Err(refused) = self.take(Key::Team(team), cell, now, text)
            {
                if spent.is_some() {
                    tool_key.write(text);
                    self.with_bucket(text, |bucket| bucket.give_back());
                }
                return Err(refused);
            }
            Ok(())
        })
    }

    /// Keys tracked now (tests and diagnostics).
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.buckets.read().map_or(0, |b| b.len()))
            .sum()
    }

    fn shard(&self, text: &str) -> &Shard {
        let hash = self.hasher.hash_one(text);
        &self.shards[(hash as usize) % SHARDS]
    }

    /// Runs `f` on the bucket of `text` if it exists.
    fn with_bucket<R>(&self, text: &str, f: impl FnOnce(&Bucket) -> R) -> Option<R> {
        let buckets = self
            .shard(text)
            .buckets
            .read()
            .unwrap_or_else(|e| e.into_inner());
        buckets.get(text).map(f)
    }

    /// Takes a token from the bucket of `key`, adding the bucket (full) if
    /// it is not tracked.
    fn take(&self, key: Key<'_>, cell: Cell, now: u64, text: &mut String) -> Result<(), Limited> {
        key.write(text);
        let refused = |retry_after| Limited {
            scope: key.scope(),
            retry_after,
        };
        if let Some(taken) = self.with_bucket(text, |bucket| bucket.take(now)) {
            return taken.map_err(refused);
        }
        let shard = self.shard(text);
        let mut buckets = shard.buckets.write().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(text.as_str()) {
            let due = shard.next_sweep.load(Ordering::Relaxed) <= now;
            if due || buckets.len() >= self.max_per_shard {
                buckets.retain(|_, bucket| !bucket.idle(now));
                shard
                    .next_sweep
                    .store(now.saturating_add(nanos(SWEEP_INTERVAL)), Ordering::Relaxed);
            }
            if buckets.len() >= self.max_per_shard {
                // Every bucket here is still counting: the gateway cannot
                // tell this caller's budget apart, so it does not guess.
                return Err(Limited {
                    scope: LimitScope::Global,
                    retry_after: OVERLOADED_RETRY_AFTER,
                });
            }
            buckets.insert(text.as_str().into(), Bucket::new(cell));
        }
        buckets
            .get(text.as_str())
            .map_or(Ok(()), |bucket| bucket.take(now).map_err(refused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(calls_per_second: f64, burst: u32) -> Rate {
        Rate::new(calls_per_second, Some(burst)).expect("rate")
    }

    fn limiter(
        settings: RateSettings,
        max_keys: usize,
    ) -> (RateLimiter<Arc<ManualClock>>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        // Not at zero: a bucket's `tat` of 0 must read as full.
        clock.advance(Duration::from_secs(1000));
        (
            RateLimiter::with_clock(settings, max_keys, Arc::clone(&clock)),
            clock,
        )
    }

    fn scope(result: Result<(), Limited>) -> Option<LimitScope> {
        result.err().map(|l| l.scope)
    }

    #[test]
    fn a_bucket_gives_its_burst_then_one_call_per_interval() {
        let (limits, clock) = limiter(
            RateSettings {
                per_tool: Some(rate(2.0, 3)),
                ..RateSettings::default()
            },
            1024,
        );
        for _ in 0..3 {
            assert_eq!(limits.check(None, "echo"), Ok(()));
        }
        // The fourth waits for one token: half a second at 2 per second.
        assert_eq!(
            limits.check(None, "echo"),
            Err(Limited {
                scope: LimitScope::Tool,
                retry_after: Duration::from_millis(500),
            })
        );
        clock.advance(Duration::from_millis(200));
        assert_eq!(
            limits.check(None, "echo").map_err(|l| l.retry_after),
            Err(Duration::from_millis(300))
        );
        clock.advance(Duration::from_millis(300));
        assert_eq!(limits.check(None, "echo"), Ok(()));
        assert_eq!(scope(limits.check(None, "echo")), Some(LimitScope::Tool));
        // Idle long enough, the bucket is full again, and no fuller.
        clock.advance(Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(limits.check(None, "echo"), Ok(()));
        }
        assert_eq!(scope(limits.check(None, "echo")), Some(LimitScope::Tool));
    }

    #[test]
    fn teams_and_tools_have_buckets_of_their_own() {
        let (limits, _clock) = limiter(
            RateSettings {
                per_tool: Some(rate(1.0, 2)),
                tools: HashMap::from([("cheap".to_owned(), rate(100.0, 5))]),
                teams: HashMap::from([("finance".to_owned(), rate(1.0, 3))]),
            },
            1024,
        );
        for _ in 0..2 {
            assert_eq!(limits.check(Some("sales"), "echo"), Ok(()));
        }
        assert_eq!(
            scope(limits.check(Some("sales"), "echo")),
            Some(LimitScope::Tool)
        );
        // Another tool, another team, callers without a team: untouched.
        assert_eq!(limits.check(Some("sales"), "other"), Ok(()));
        assert_eq!(limits.check(Some("ops"), "echo"), Ok(()));
        assert_eq!(limits.check(None, "echo"), Ok(()));
        // A tool's own rate replaces the default.
        for _ in 0..5 {
            assert_eq!(limits.check(Some("sales"), "cheap"), Ok(()));
        }
        assert_eq!(
            scope(limits.check(Some("sales"), "cheap")),
            Some(LimitScope::Tool)
        );
        // finance: 3 calls in all, whichever tools.
        assert_eq!(limits.check(Some("finance"), "a"), Ok(()));
        assert_eq!(limits.check(Some("finance"), "b"), Ok(()));
        assert_eq!(limits.check(Some("finance"), "c"), Ok(()));
        assert_eq!(
            scope(limits.check(Some("finance"), "d")),
            Some(LimitScope::Team)
        );
    }

    #[test]
    fn a_call_refused_by_its_team_gives_its_tool_token_back() {
        let (limits, clock) = limiter(
            RateSettings {
                per_tool: Some(rate(1.0, 1)),
                teams: HashMap::from([("finance".to_owned(), rate(1.0, 1))]),
                ..RateSettings::default()
            },
            1024,
        );
        assert_eq!(limits.check(Some("finance"), "a"), Ok(()));
        assert_eq!(
            scope(limits.check(Some("finance"), "b")),
            Some(LimitScope::Team)
        );
        clock.advance(Duration::from_secs(1));
        // "b" was not charged for the refused call.
        assert_eq!(limits.check(Some("finance"), "b"), Ok(()));
    }

    #[test]
    fn no_rate_means_no_bucket() {
        let (limits, _clock) = limiter(
            RateSettings {
                teams: HashMap::from([("finance".to_owned(), rate(1.0, 1))]),
                ..RateSettings::default()
            },
            1024,
        );
        for _ in 0..100 {
            assert_eq!(limits.check(None, "echo"), Ok(()));
            assert_eq!(limits.check(Some("sales"), "echo"), Ok(()));
        }
        assert_eq!(limits.tracked(), 0);
        assert!(RateSettings::default().is_unlimited());
    }

    #[test]
    fn idle_keys_are_forgotten_and_the_table_is_bounded() {
        let (limits, clock) = limiter(
            RateSettings {
                per_tool: Some(rate(1.0, 1)),
                ..RateSettings::default()
            },
            SHARDS,
        );
        // One key per shard at most: some of these land in a shard that is
        // already holding a counting bucket, and are refused as overloaded.
        let mut refused = 0;
        for i in 0..4 * SHARDS {
            match limits.check(None, &format!("tool{i}")) {
                Ok(()) => {}
                Err(l) => {
                    assert_eq!(l.scope, LimitScope::Global);
                    refused += 1;
                }
            }
        }
        assert!(refused > 0);
        assert!(limits.tracked() <= SHARDS);
        // Once every bucket is full again, they are forgotten as new keys come.
        clock.advance(Duration::from_secs(2));
        for i in 0..4 * SHARDS {
            let _ = limits.check(None, &format!("again{i}"));
        }
        assert!(limits.tracked() <= SHARDS);
        clock.advance(SWEEP_INTERVAL + Duration::from_secs(2));
        assert_eq!(limits.check(None, "last"), Ok(()));
        assert!(limits.tracked() <= SHARDS);
    }

    #[test]
    fn keys_cannot_be_confused() {
        let mut a = String::new();
        let mut b = String::new();
        Key::Tool(Some("a/b"), "c").write(&mut a);
        Key::Tool(Some("a"), "b/c").write(&mut b);
        assert_ne!(a, b);
        Key::Tool(None, "x").write(&mut a);
        Key::Tool(Some(""), "x").write(&mut b);
        assert_ne!(a, b);
        Key::Team("x").write(&mut a);
        Key::Tool(Some("x"), "").write(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn concurrent_calls_never_spend_more_than_the_burst() {
        let (limits, _clock) = limiter(
            RateSettings {
                per_tool: Some(rate(1.0, 100)),
                ..RateSettings::default()
            },
            1024,
        );
        let allowed = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..100 {
                        if limits.check(Some("t"), "echo").is_ok() {
                            allowed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.load(Ordering::SeqCst), 100);
    }
}

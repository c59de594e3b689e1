//! Failed admin-key checks, limited per client address (an IPv6 client's
//! /64 network, [`client_network`]) with a token bucket:
//! each address may fail [`DEFAULT_BURST`] times in a row, then once more
//! per [`DEFAULT_REFILL_MS`]. Past that, its requests are answered 429
//! before any key comparison, so guessing the key costs time even from one
//! address; a correct key does not spend a token, and other addresses are
//! unaffected. A locked-out address is locked out with the right key too:
//! otherwise the 429s would mark the wrong guesses and still let the right
//! one through.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Default failed checks an address may make in a row: room for an
/// operator's typos and a script's retries, far too few to guess a key.
pub const DEFAULT_BURST: u32 = 10;
/// Default time for one more failed check to be allowed back (10 a minute).
pub const DEFAULT_REFILL_MS: u64 = 6_000;
/// Addresses remembered at most: an attacker with many addresses must not
/// grow the table without bound. Full buckets are forgotten first; past it,
/// failures from new addresses are answered 429 (correct keys still pass).
const MAX_TRACKED: usize = 10_000;

/// The address a client's failures are counted under: an IPv4 address
/// (an IPv4-mapped IPv6 one read as IPv4), or an IPv6 address's /64
/// network, the smallest block a site or a single host is usually given:
/// a client must not get a fresh budget from each of its 2^64 addresses.
pub fn client_network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// The failures of each client address.
#[derive(Debug)]
pub struct FailureLimiter {
    burst: f64,
    refill: Duration,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
    /// Addresses in the table: while it is 0 (nobody has failed, or every
    /// failure has been paid back), a check takes no lock at all.
    tracked: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl FailureLimiter {
    /// `burst` failures in a row, then one per `refill`.
    pub fn new(burst: u32, refill: Duration) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            refill: refill.max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
        }
    }

    fn tokens(&self, bucket: Bucket, now: Instant) -> f64 {
        let earned =
            now.saturating_duration_since(bucket.at).as_secs_f64() / self.refill.as_secs_f64();
        (bucket.tokens + earned).min(self.burst)
    }

    /// `Err(seconds to wait)` when `peer` may not be checked now. `None`
    /// (no socket: in-process tests) is one address of its own.
    pub fn check(&self, peer: Option<IpAddr>) -> Result<(), u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        match buckets.get(&peer) {
            Some(&bucket) if self.tokens(bucket, now) < 1.0 => {
                let missing = 1.0 - self.tokens(bucket, now);
                Err((missing * self.refill.as_secs_f64()).ceil().max(1.0) as u64)
            }
            Some(&bucket) if self.tokens(bucket, now) >= self.burst => {
                // Paid back in full: forgotten, so quiet times cost no lock.
                buckets.remove(&peer);
                self.tracked.store(buckets.len(), Ordering::Relaxed);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `peer` failed the check: one token spent. `Err` when the table is
    /// full of addresses still paying for their failures.
    pub fn failed(&self, peer: Option<IpAddr>) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if !buckets.contains_key(&peer) && buckets.len() >= MAX_TRACKED {
            buckets.retain(|_, b| self.tokens(*b, now) < self.burst);
            if buckets.len() >= MAX_TRACKED {
                return Err(self.refill.as_secs().max(1));
            }
        }
        let bucket = buckets.entry(peer).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        bucket.tokens = (self.tokens(*bucket, now) - 1.0).max(0.0);
        bucket.at = now;
        self.tracked.store(buckets.len(), Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_stopped_after_its_burst_and_others_are_not() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(3600));
        let one = Some(IpAddr::from([127, 0, 0, 1]));
        let two = Some(IpAddr::from([127, 0, 0, 2]));
        for _ in 0..3 {
            assert_eq!(limiter.check(one), Ok(()));
            assert_eq!(limiter.failed(one), Ok(()));
        }
        assert!(limiter.check(one).is_err_and(|wait| wait > 0));
        assert_eq!(limiter.check(two), Ok(()));
        assert_eq!(limiter.check(None), Ok(()));
    }

    #[test]
    fn an_ipv6_client_is_counted_by_its_64_network() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(
            client_network(ip("2001:db8:1:2:aaaa::1")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            client_network(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            ip("2001:db8:1:2::")
        );
        assert_ne!(client_network(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_network(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(client_network(ip("10.0.0.1")), ip("10.0.0.1"));
        let limiter = FailureLimiter::new(1, Duration::from_secs(3600));
        assert_eq!(
            limiter.failed(Some(client_network(ip("2001:db8::1")))),
            Ok(())
        );
        assert!(
            limiter
                .check(Some(client_network(ip("2001:db8::2"))))
                .is_err()
        );
    }

    #[test]
    fn tokens_come_back_with_time() {
        let limiter = FailureLimiter::new(1, Duration::from_millis(1));
        let peer = Some(IpAddr::from([10, 0, 0, 1]));
        assert_eq!(limiter.failed(peer), Ok(()));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(limiter.check(peer), Ok(()));
    }
}

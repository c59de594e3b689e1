//! Per-call accounting: upstream bytes in, requests made, denials seen.
//! Bytes fetched versus bytes returned is the token-economy figure the
//! gateway exists to improve.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::confirm::Gate;
use super::policy::DeniedReason;

/// One refused request: which check refused it, and what was asked for
/// (method and URL without its query, so no secret in a query string is
/// kept), for the operator's explanation (`outbound::teach`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The check that refused it.
    pub reason: DeniedReason,
    /// The request's method, when the request was well-formed enough to have one.
    pub method: Option<String>,
    /// `scheme://host[:port]/path`, when the URL parsed.
    pub url: Option<String>,
}

/// Counters for one call; shared by every request the call makes. It also
/// carries the call's confirmation [`Gate`], when it has one, since it is
/// the one per-call value both doors hand to the outbound client.
#[derive(Debug)]
pub struct Meter {
    upstream_bytes: AtomicU64,
    requests: AtomicU32,
    upstream_limit: u64,
    request_limit: u32,
    denials: Mutex<Vec<Denial>>,
    gate: Option<Arc<Gate>>,
}

impl Meter {
    /// A meter enforcing the given per-call budgets.
    pub fn new(upstream_limit: u64, request_limit: u32) -> Self {
        Self {
            upstream_bytes: AtomicU64::new(0),
            requests: AtomicU32::new(0),
            upstream_limit,
            request_limit,
            denials: Mutex::new(Vec::new()),
            gate: None,
        }
    }

    /// The same meter, asking `gate` before a write that needs confirmation.
    #[must_use]
    pub fn with_gate(mut self, gate: Option<Arc<Gate>>) -> Self {
        self.gate = gate;
        self
    }

    /// The call's confirmation gate (none: such writes are refused).
    pub fn gate(&self) -> Option<&Arc<Gate>> {
        self.gate.as_ref()
    }

    /// Counts a request; false once the per-call budget is spent.
    pub fn begin_request(&self) -> bool {
        self.requests.fetch_add(1, Ordering::Relaxed) < self.request_limit
    }

    /// Adds received body bytes; false once the per-call byte budget is exceeded.
    pub fn add_upstream(&self, bytes: u64) -> bool {
        let total = self.upstream_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        total <= self.upstream_limit
    }

    /// Records a policy denial, with what was asked for when known.
    pub fn deny(&self, reason: DeniedReason, request: Option<(&http::Method, &url::Url)>) {
        let (method, url) = match request {
            Some((method, url)) => {
                let mut bare = url.clone();
                bare.set_query(None);
                bare.set_fragment(None);
                let _ = bare.set_username("");
                let _ = bare.set_password(None);
                (Some(method.to_string()), Some(bare.to_string()))
            }
            None => (None, None),
        };
        if let Ok(mut d) = self.denials.lock() {
            d.push(Denial {
                reason,
                method,
                url,
            });
        }
    }

    /// Upstream body bytes received so far (counting the chunk that crossed a limit).
    pub fn upstream_bytes(&self) -> u64 {
        self.upstream_bytes.load(Ordering::Relaxed)
    }

    /// Requests attempted so far, including refused ones.
    pub fn requests(&self) -> u32 {
        self.requests
            .load(Ordering::Relaxed)
            .min(self.request_limit.saturating_add(1))
    }

    /// Denials so far, in order.
    pub fn denials(&self) -> Vec<DeniedReason> {
        self.denied().into_iter().map(|d| d.reason).collect()
    }

    /// Denials so far with what each refused request asked for, in order.
    pub fn denied(&self) -> Vec<Denial> {
        self.denials.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

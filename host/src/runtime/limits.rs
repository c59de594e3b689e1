//! Per-call resource limits enforced inside the store, and the gateway-wide
//! memory budget of the calls in flight.
//!
//! A call's `limits.memory_mib` covers every linear memory and table of its
//! store together (docs/manifest.md): a component with many memories gets no
//! more than one with a single memory. wasmtime asks the limiter before it
//! creates a memory or table (`current` = 0, `desired` = its minimum) and
//! before every growth, and a store never shrinks or frees either before it
//! is dropped, so the running sum of what was granted is also the call's peak.
//! Every grant is also reserved from the runtime's [`MemoryBudget`] and
//! returned when the limiter is dropped with its store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use wasmtime::ResourceLimiter;

/// Hard cap on instances a single call may create; a tool component needs a
/// handful (componentize-py output has about a dozen core instances).
const MAX_INSTANCES: usize = 64;
/// Hard cap on tables per call (guest-controlled resource exhaustion).
const MAX_TABLES: usize = 64;
/// Hard cap on table elements per table (guest-controlled resource exhaustion).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// Bytes a table element is charged: wasmtime stores one pointer per element
/// (see `PoolingAllocationConfig::table_elements`).
pub const TABLE_ELEMENT_BYTES: usize = std::mem::size_of::<*const ()>();

/// A WebAssembly page: the unit memories are created and grown in.
pub const WASM_PAGE_BYTES: usize = 64 << 10;
/// Most the default memory budget takes: a large host is not committed to
/// tools unless its admin says so in `[runtime] memory_budget_mib`.
pub const DEFAULT_MEMORY_BUDGET_BYTES: usize = 4 << 30;

/// The memory budget when `gateway.toml` sets none: half of the memory this
/// process may use (the machine's, or its cgroup's limit if lower), leaving
/// the rest to the gateway itself and its neighbours, and at most
/// [`DEFAULT_MEMORY_BUDGET_BYTES`]; that cap where neither can be read.
pub fn default_memory_budget() -> usize {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let kib = text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
            let kib: usize = kib.trim().strip_suffix("kB")?.trim().parse().ok()?;
            kib.checked_mul(1024)
        });
    // cgroup v2; the file says "max" when there is no limit.
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok());
    match (meminfo, cgroup) {
        (None, None) => DEFAULT_MEMORY_BUDGET_BYTES,
        (a, b) => (a.unwrap_or(usize::MAX).min(b.unwrap_or(usize::MAX)) / 2)
            .min(DEFAULT_MEMORY_BUDGET_BYTES),
    }
}

/// The memory of all calls in flight together: one per runtime, shared by
/// every store. A call that would take it past its limit fails as
/// overloaded, which is the gateway's state, not the tool's fault.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    in_use: AtomicUsize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, none of it in use.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            in_use: AtomicUsize::new(0),
        }
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes granted to the calls in flight.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Bytes still free.
    pub fn available(&self) -> usize {
        self.limit.saturating_sub(self.in_use())
    }

    /// Takes `bytes` if they fit; a lone counter, so relaxed ordering suffices.
    fn try_reserve(&self, bytes: usize) -> bool {
        self.in_use
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .is_ok()
    }

    fn release(&self, bytes: usize) {
        self.in_use.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Limits one call's memory and remembers which limit the guest hit, so a
/// resulting trap is reported as memory exhaustion (the tool's limit) or as
/// overload (the gateway's budget) rather than as a bug.
#[derive(Debug)]
pub struct CallLimiter {
    memory_bytes: usize,
    /// Bytes of memories and tables granted so far, all reserved from `budget`.
    granted: usize,
    budget: Arc<MemoryBudget>,
    /// Set when a request was refused for the call's own limit.
    pub hit_memory_limit: bool,
    /// Set when a request was refused for the gateway's budget.
    pub hit_budget: bool,
}

impl CallLimiter {
    /// A limiter allowing at most `memory_bytes` across all memories and
    /// tables of the call, reserved from `budget` as they are granted.
    pub fn new(memory_bytes: usize, budget: Arc<MemoryBudget>) -> Self {
        Self {
            memory_bytes,
            granted: 0,
            budget,
            hit_memory_limit: false,
            hit_budget: false,
        }
    }

    /// Bytes of memories and tables granted to the call: its peak, since
    /// neither shrinks while the store lives.
    pub fn granted_bytes(&self) -> usize {
        self.granted
    }

    /// Charges `bytes` more to the call. Past the call's limit the request
    /// is refused (`memory.grow` returns -1, as the tool may handle); past
    /// the budget it traps, so the call stops holding memory at once.
    fn grant(&mut self, bytes: usize) -> wasmtime::Result<bool> {
        let Some(total) = self
            .granted
            .checked_add(bytes)
            .filter(|&total| total <= self.memory_bytes)
        else {
            self.hit_memory_limit = true;
            return Ok(false);
        };
        if !self.budget.try_reserve(bytes) {
            self.hit_budget = true;
            return Err(wasmtime::format_err!(
                "the gateway's memory budget for calls in flight is used up"
            ));
        }
        self.granted = total;
        Ok(true)
    }
}

impl Drop for CallLimiter {
    fn drop(&mut self) {
        self.budget.release(self.granted);
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // wasmtime refuses growth past the memory's own maximum after asking;
        // refusing first keeps the charge to what is actually granted.
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        self.grant(desired.saturating_sub(current))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS || maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let bytes = desired
            .saturating_sub(current)
            .saturating_mul(TABLE_ELEMENT_BYTES);
        self.grant(bytes)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_INSTANCES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = WASM_PAGE_BYTES;

    #[test]
    fn memories_and_tables_of_a_call_share_one_limit() {
        let budget = Arc::new(MemoryBudget::new(usize::MAX));
        let mut limiter = CallLimiter::new(4 * PAGE, Arc::clone(&budget));
        // Two memories created at one page each, then one grows by a page.
        assert!(limiter.memory_growing(0, PAGE, None).expect("grant"));
        assert!(limiter.memory_growing(0, PAGE, None).expect("grant"));
        assert!(limiter.memory_growing(PAGE, 2 * PAGE, None).expect("grant"));
        // A table of a page's worth of elements fills the limit ...
        let elements = PAGE / TABLE_ELEMENT_BYTES;
        assert!(limiter.table_growing(0, elements, None).expect("grant"));
        assert_eq!(limiter.granted_bytes(), 4 * PAGE);
        // ... so any further growth of either is refused as the call's own limit.
        assert!(
            !limiter
                .memory_growing(PAGE, 2 * PAGE, None)
                .expect("refusal")
        );
        assert!(
            !limiter
                .table_growing(elements, elements + 1, None)
                .expect("refusal")
        );
        assert!(limiter.hit_memory_limit);
        assert!(!limiter.hit_budget);
        assert_eq!(limiter.granted_bytes(), 4 * PAGE);
        assert_eq!(budget.in_use(), 4 * PAGE);
    }

    #[test]
    fn growth_past_a_declared_maximum_is_refused_without_a_charge() {
        let budget = Arc::new(MemoryBudget::new(usize::MAX));
        let mut limiter = CallLimiter::new(16 * PAGE, budget);
        assert!(
            !limiter
                .memory_growing(0, 2 * PAGE, Some(PAGE))
                .expect("refusal")
        );
        assert!(!limiter.table_growing(0, 11, Some(10)).expect("refusal"));
        assert!(
            !limiter
                .table_growing(0, MAX_TABLE_ELEMENTS + 1, None)
                .expect("refusal")
        );
        assert_eq!(limiter.granted_bytes(), 0);
        assert!(!limiter.hit_memory_limit);
    }

    #[test]
    fn the_budget_is_shared_by_calls_and_released_when_they_end() {
        let budget = Arc::new(MemoryBudget::new(3 * PAGE));
        let mut first = CallLimiter::new(2 * PAGE, Arc::clone(&budget));
        let mut second = CallLimiter::new(2 * PAGE, Arc::clone(&budget));
        assert!(first.memory_growing(0, 2 * PAGE, None).expect("grant"));
        assert!(second.memory_growing(0, PAGE, None).expect("grant"));
        assert_eq!(budget.available(), 0);
        // Within its own limit, but past the budget: an error, not a refusal.
        assert!(second.memory_growing(PAGE, 2 * PAGE, None).is_err());
        assert!(second.hit_budget);
        assert!(!second.hit_memory_limit);
        assert_eq!(second.granted_bytes(), PAGE);
        drop(first);
        assert_eq!(budget.in_use(), PAGE);
        assert!(second.memory_growing(PAGE, 2 * PAGE, None).expect("grant"));
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }
}

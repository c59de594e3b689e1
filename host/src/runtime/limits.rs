//! Per-call resource limits enforced inside the store.

use wasmtime::ResourceLimiter;

/// Hard cap on instances a single call may create; a tool component needs a
/// handful (componentize-py output has about a dozen core instances).
const MAX_INSTANCES: usize = 64;
/// Hard cap on tables per call (guest-controlled resource exhaustion).
const MAX_TABLES: usize = 64;
/// Hard cap on table elements per table (guest-controlled resource exhaustion).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Limits one call's memory and remembers whether the guest hit them, so a
/// resulting trap can be reported as memory exhaustion rather than a bug.
#[derive(Debug)]
pub struct CallLimiter {
    memory_bytes: usize,
    /// Set when a growth request was refused.
    pub hit_memory_limit: bool,
}

impl CallLimiter {
    /// A limiter allowing at most `memory_bytes` per linear memory.
    pub fn new(memory_bytes: usize) -> Self {
        Self {
            memory_bytes,
            hit_memory_limit: false,
        }
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit_memory_limit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
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

//! The one wasmtime engine the gateway runs every tool on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How often the epoch advances; the granularity of every wall-clock budget.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Component instances alive at once across all calls; also the concurrency ceiling.
const POOL_COMPONENT_INSTANCES: u32 = 1000;
/// Core instances across the pool (componentize-py components hold ~10 each).
const POOL_CORE_INSTANCES: u32 = 2000;
/// Linear memories across the pool.
const POOL_MEMORIES: u32 = 1000;
/// Tables across the pool.
const POOL_TABLES: u32 = 2000;
/// Largest linear memory the pool reserves, and so the largest
/// `memory_mib` (which covers all of a call's memories together).
pub const MAX_MEMORY_BYTES: usize = 1 << 30;
/// Elements per table slot (CPython's function table is large).
const POOL_TABLE_ELEMENTS: usize = 1 << 17;
/// Per-component metadata ceilings, sized for CPython components.
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MAX_MEMORIES_PER_COMPONENT: u32 = 16;
const MAX_TABLES_PER_COMPONENT: u32 = 64;
const MAX_COMPONENT_INSTANCE_SIZE: usize = 4 << 20;
const MAX_CORE_INSTANCE_SIZE: usize = 4 << 20;
/// Guest stack: deep enough for CPython, small enough that runaway recursion traps fast.
const MAX_WASM_STACK: usize = 1 << 20;
/// Host fiber stack must exceed the guest stack plus host frames.
const ASYNC_STACK: usize = 4 << 20;
/// Dirty linear-memory bytes a freed slot resets with `memset` instead of
/// `madvise`: a CPython call dirties a few MiB, and page faults plus TLB
/// shootdowns from `madvise` made concurrent calls slower than serial ones.
const KEEP_RESIDENT_MEMORY: usize = 16 << 20;
/// The same for tables and fiber stacks.
const KEEP_RESIDENT_TABLE: usize = 1 << 20;
const KEEP_RESIDENT_STACK: usize = 256 << 10;
/// Freed slots kept warm (each holds up to the bytes above resident).
const MAX_WARM_SLOTS: u32 = 32;

/// Builds the engine configuration. Everything that changes compiled code is
/// here, and [`Engine::precompile_compatibility_hash`] covers it for the cache key.
pub fn config() -> Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_COMPONENT_INSTANCES)
        .total_core_instances(POOL_CORE_INSTANCES)
        .total_memories(POOL_MEMORIES)
        .total_tables(POOL_TABLES)
        .total_stacks(POOL_COMPONENT_INSTANCES)
        .max_memory_size(MAX_MEMORY_BYTES)
        .table_elements(POOL_TABLE_ELEMENTS)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .max_component_instance_size(MAX_COMPONENT_INSTANCE_SIZE)
        .max_core_instance_size(MAX_CORE_INSTANCE_SIZE)
        .max_unused_warm_slots(MAX_WARM_SLOTS)
        .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
        .table_keep_resident(KEEP_RESIDENT_TABLE)
        .async_stack_keep_resident(KEEP_RESIDENT_STACK)
        // Reset only the pages a call dirtied (Linux 6.7+; ignored elsewhere).
        .pagemap_scan(wasmtime::Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// The configuration of a compile-only engine (`gateway` compiling an
/// upload in a separate process under a memory limit): [`config`] without
/// the pooling allocator, whose address-space reservation a memory limit
/// would refuse. Its artifacts are interchangeable with [`config`]'s: the
/// allocation strategy does not change compiled code, and
/// [`Engine::precompile_compatibility_hash`] agrees.
pub fn compile_only_config() -> Config {
    let mut config = config();
    config
        .allocation_strategy(InstanceAllocationStrategy::OnDemand)
        .parallel_compilation(false);
    config
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts the ticker thread for `engine`.
    pub fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Number of epoch ticks covering `budget`, rounded up, plus one so a
/// deadline never fires early.
pub fn ticks_for(budget: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos();
    let ticks = budget.as_nanos().div_ceil(tick);
    u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1)
}

#[cfg(test)]
mod compile_only_tests {
    use super::*;

    #[test]
    fn compile_only_artifacts_fit_the_serving_engine() {
        let serving = Engine::new(&config()).expect("serving engine");
        let compiling = Engine::new(&compile_only_config()).expect("compile-only engine");
        let hash = |e: &Engine| {
            use std::hash::{DefaultHasher, Hash, Hasher};
            let mut h = DefaultHasher::new();
            e.precompile_compatibility_hash().hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&serving), hash(&compiling));
        let bytes =
            wat::parse_str(r#"(component (core module (func (export "f"))))"#).expect("wat");
        let artifact = compiling.precompile_component(&bytes).expect("compile");
        #[allow(
            unsafe_code,
            reason = "loading a precompiled artifact is unsafe by wasmtime's contract"
        )]
        // SAFETY: the bytes were just produced by `precompile_component` of a
        // compatible engine and are not modified while in use.
        let loaded = unsafe { wasmtime::component::Component::deserialize(&serving, &artifact) };
        assert!(loaded.is_ok(), "{:?}", loaded.err());
    }
}

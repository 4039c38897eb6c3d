//! The one place the wasmtime `Engine` is configured (including its on-disk
//! compiled-code cache), plus the background thread that advances its epoch so
//! deadlines fire and long calls yield.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{
    Cache, CacheConfig, Config, Enabled, Engine, InstanceAllocationStrategy,
    PoolingAllocationConfig,
};

use crate::error::PluginError;
use crate::limits::{CompileCache, Limits};

/// How often the epoch advances: the granularity of deadlines and of yields
/// back to the async executor.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Concurrent plugin instances the pooling allocator holds slots for.
const POOL_INSTANCES: u32 = 64;

/// Bytes of each pooled linear memory and table kept resident between calls.
const KEEP_RESIDENT: usize = 4 << 20;

/// Builds one of the process's engines: async, epoch interruption, fuel
/// metering when `metered`, the pooling allocator with each memory capped at
/// `limits.max_memory_bytes`, and the on-disk compiled-code cache `cache`
/// (whose keys include the engine settings, so both engines share it).
pub(crate) fn new_engine(
    limits: &Limits,
    metered: bool,
    cache: Option<Cache>,
) -> Result<Engine, PluginError> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 4)
        .total_memories(POOL_INSTANCES * 2)
        .total_tables(POOL_INSTANCES * 4)
        .total_stacks(POOL_INSTANCES)
        .max_memory_size(limits.max_memory_bytes)
        // Every guest call runs in a fresh instance, and a mapping call touches
        // a few MiB of linear memory: reset that much with `memset` when a slot
        // is freed instead of `madvise`, so the next call does not page-fault
        // its way back in (page faults were ~4 % of a mapping call's time).
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        // Reset only the pages the call actually touched (Linux 6.7+ `PAGEMAP_SCAN`; where
        // it is missing, the whole resident region is reset as above). Clearing all 4 MiB
        // after every call was 7 % of the `webhooks` bench's CPU (`perf`). The instance is
        // still fresh per call: wasmtime restores every page the call dirtied.
        .pagemap_scan(Enabled::Auto);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(metered)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // `DIALSYNC_PERFMAP=1`: write /tmp/perf-<pid>.map so `perf report` names
    // the guest's functions (how plugin authors profile a mapping).
    if std::env::var_os("DIALSYNC_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config.cache(cache);
    Engine::new(&config)
        .map_err(|e| PluginError::Runtime(format!("creating the wasm engine: {e:#}")))
}

/// Opens wasmtime's compiled-code cache in the configured directory, or `None`
/// (compile in-process every time) when it is disabled or cannot be opened.
/// Reads and writes of entries already degrade to compiling inside wasmtime.
pub(crate) fn open_cache(setting: &CompileCache) -> Option<Cache> {
    let dir = setting.directory()?;
    let mut config = CacheConfig::new();
    config.with_directory(&dir);
    match Cache::new(config) {
        Ok(cache) => Some(cache),
        Err(e) => {
            tracing::warn!(
                directory = %dir.display(),
                error = %format!("{e:#}"),
                "compiled-plugin cache unavailable; plugins will be compiled in this process"
            );
            None
        }
    }
}

/// Increments the engines' epochs every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engines: Vec<Engine>) -> Result<Self, PluginError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("dialsync-plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    for engine in &engines {
                        engine.increment_epoch();
                    }
                }
            })
            .map_err(|e| PluginError::Runtime(format!("starting the epoch ticker: {e}")))?;
        Ok(EpochTicker {
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

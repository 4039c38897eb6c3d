//! The one place the wasmtime `Engine` is configured, plus the background
//! thread that advances its epoch so deadlines fire and long calls yield.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::error::PluginError;
use crate::limits::Limits;

/// How often the epoch advances: the granularity of deadlines and of yields
/// back to the async executor.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Concurrent plugin instances the pooling allocator holds slots for.
const POOL_INSTANCES: u32 = 64;

/// Builds the process's engine: async, fuel metering, epoch interruption and
/// the pooling allocator with each memory capped at `limits.max_memory_bytes`.
pub(crate) fn new_engine(limits: &Limits) -> Result<Engine, PluginError> {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_INSTANCES * 4)
        .total_memories(POOL_INSTANCES * 2)
        .total_tables(POOL_INSTANCES * 4)
        .total_stacks(POOL_INSTANCES)
        .max_memory_size(limits.max_memory_bytes);

    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
        .map_err(|e| PluginError::Runtime(format!("creating the wasm engine: {e:#}")))
}

/// Increments the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine) -> Result<Self, PluginError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("dialsync-plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
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

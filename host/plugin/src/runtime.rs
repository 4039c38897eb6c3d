//! The process-wide plugin runtime: one engine, one linker with only the WASI
//! p2 and `dialsync:plugin` imports, and a cache of compiled plugins keyed by
//! the sha256 of their bytes (in memory; wasmtime's on-disk cache, configured
//! in `engine`, sits under it across processes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Cache, Engine, Store, UpdateDeadline};

use crate::bindings::{Mapper, MapperPre};
use crate::engine::{EpochTicker, new_engine};
use crate::error::PluginError;
use crate::limits::Limits;
use crate::model::PluginInfo;
use crate::plugin::LoadedPlugin;
use crate::port::GenesysPort;
use crate::state::CallState;

/// Compiled-plugin cache counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Loads served from already-compiled code.
    pub hits: u64,
    /// Loads that had to compile.
    pub misses: u64,
    /// Distinct plugins compiled.
    pub entries: usize,
    /// In-memory misses served from the on-disk cache (no Cranelift run).
    pub disk_hits: u64,
    /// In-memory misses compiled and written to the on-disk cache.
    pub disk_misses: u64,
}

/// The plugin runtime; create one per process and share it (cheap clone).
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    linker: Linker<CallState>,
    pub(crate) limits: Limits,
    cache: Mutex<HashMap<String, MapperPre<CallState>>>,
    disk_cache: Option<Cache>,
    hits: AtomicU64,
    misses: AtomicU64,
    _ticker: EpochTicker,
}

impl Runtime {
    /// Creates the engine (pooling allocator, fuel, epochs, the on-disk
    /// compiled-code cache per `limits.compile_cache`), the epoch ticker thread
    /// and the linker.
    pub fn new(limits: Limits) -> Result<Self, PluginError> {
        let (engine, disk_cache) = new_engine(&limits)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| PluginError::Runtime(format!("linking WASI: {e:#}")))?;
        Mapper::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Runtime(format!("linking the plugin imports: {e:#}")))?;
        // Load the phone metadata now (a lazily parsed database), so the first
        // guest that normalises a phone does not pay for it inside its deadline.
        // The second number takes the crate's own parser (letters are not on the
        // fast path), so its lazily built patterns are ready too.
        let _ = dialsync_phone::normalize("+14155550100", None);
        let _ = dialsync_phone::normalize("1-800-FLOWERS", Some("US"));
        let ticker = EpochTicker::start(engine.clone())?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                limits,
                cache: Mutex::new(HashMap::new()),
                disk_cache,
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
                _ticker: ticker,
            }),
        })
    }

    /// The limits every call gets.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Compiled-code cache counters.
    pub fn cache_stats(&self) -> CacheStats {
        CacheStats {
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
            entries: self
                .inner
                .cache
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len(),
            disk_hits: self.disk_counter(Cache::cache_hits),
            disk_misses: self.disk_counter(Cache::cache_misses),
        }
    }

    /// The directory of the on-disk compiled-code cache, when it is in use.
    pub fn compile_cache_dir(&self) -> Option<&std::path::Path> {
        self.inner
            .disk_cache
            .as_ref()
            .map(|c| c.directory().as_path())
    }

    fn disk_counter(&self, counter: fn(&Cache) -> usize) -> u64 {
        self.inner
            .disk_cache
            .as_ref()
            .map_or(0, |c| counter(c) as u64)
    }

    /// Compiles (or reuses) the component, calls `describe`, compiles its
    /// schemas and validates `config` (an object, or `null` for `{}`) against
    /// its config schema.
    pub async fn load(
        &self,
        wasm: &[u8],
        config: serde_json::Value,
    ) -> Result<LoadedPlugin, PluginError> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        let pre = self.pre_for(&sha256, wasm)?;
        LoadedPlugin::new(self.clone(), pre, sha256, config).await
    }

    /// Compiles (or reuses) the component and checks its description and
    /// schemas, without a configuration: for listing and `info`. Returns the
    /// description and the sha256 of the bytes.
    pub async fn inspect(&self, wasm: &[u8]) -> Result<(PluginInfo, String), PluginError> {
        let sha256 = hex::encode(Sha256::digest(wasm));
        let pre = self.pre_for(&sha256, wasm)?;
        let described = crate::plugin::describe(self, &pre, &sha256, Arc::default()).await?;
        Ok((described.info, sha256))
    }

    /// Compiles the component without loading it and returns the compiled
    /// code as the on-disk cache would hold it (for measuring compile time and
    /// compiled size; the in-memory and on-disk caches are not touched).
    pub fn precompile(&self, wasm: &[u8]) -> Result<Vec<u8>, PluginError> {
        check_component_header(wasm)?;
        self.inner
            .engine
            .precompile_component(wasm)
            .map_err(|e| PluginError::Compile(format!("{e:#}")))
    }

    fn pre_for(&self, sha256: &str, wasm: &[u8]) -> Result<MapperPre<CallState>, PluginError> {
        if let Some(pre) = self
            .inner
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sha256)
        {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(pre.clone());
        }
        check_component_header(wasm)?;
        let component = Component::new(&self.inner.engine, wasm)
            .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        let instance_pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
        let pre =
            MapperPre::new(instance_pre).map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
        self.inner
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sha256.to_string(), pre.clone());
        Ok(pre)
    }

    /// A fresh store for one call: the given fuel, the memory cap, and an epoch
    /// callback that yields to the executor every tick and interrupts the guest
    /// once the wall-clock deadline has passed.
    pub(crate) fn store(
        &self,
        plugin: String,
        fuel: u64,
        config: Arc<serde_json::Map<String, serde_json::Value>>,
        genesys: Option<Arc<dyn GenesysPort>>,
    ) -> Store<CallState> {
        let limits = &self.inner.limits;
        let state = CallState::new(plugin, limits.max_memory_bytes, config, genesys);
        let mut store = Store::new(&self.inner.engine, state);
        store.limiter(|s| &mut s.limiter);
        if limits.fuel_per_record > 0 {
            // Fuel metering is enabled on the engine, so this cannot fail.
            let _ = store.set_fuel(fuel);
        }
        let deadline = Instant::now() + limits.deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut ctx| {
            if Instant::now() >= deadline {
                ctx.data_mut().deadline_hit = true;
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }
}

/// Tells a core module or non-wasm bytes apart from a component before
/// compiling, for a clearer error. Hand-written: it only reads the 8-byte
/// preamble (magic + version/layer) defined by the component-model binary spec.
fn check_component_header(wasm: &[u8]) -> Result<(), PluginError> {
    const MAGIC: &[u8] = b"\0asm";
    if wasm.len() < 8 || &wasm[..4] != MAGIC {
        return Err(PluginError::NotAComponent(
            "the bytes do not start with the wasm magic `\\0asm`".into(),
        ));
    }
    match &wasm[4..8] {
        [_, _, 0x01, 0x00] => Ok(()),
        [0x01, 0x00, 0x00, 0x00] => Err(PluginError::NotAComponent(
            "this is a core wasm module; build the plugin for wasm32-wasip2 so it is a component"
                .into(),
        )),
        other => Err(PluginError::NotAComponent(format!(
            "unknown wasm version/layer {other:02x?}"
        ))),
    }
}

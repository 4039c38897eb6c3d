//! The process-wide plugin runtime: a fuel-metered engine and an unmetered one
//! for big batches (see [`Metering`]), each with a linker holding only the WASI
//! p2 and `dialsync:plugin` imports and a cache of compiled plugins keyed by
//! the sha256 of their bytes (in memory; wasmtime's on-disk cache, configured
//! in `engine`, sits under both across processes).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Cache, Engine, Store, UpdateDeadline};

use crate::bindings::{Mapper, MapperPre};
use crate::engine::{EpochTicker, new_engine, open_cache};
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

/// Which compiled variant of a plugin a call runs on.
///
/// Fuel instrumentation costs about 12 % of a mapping call, and its verdict
/// only matters for small calls: a batch of `n` records gets `n + 1` records'
/// worth of fuel, so a looping record in a big batch runs for seconds either
/// way. Big batches therefore run on a second, unmetered compilation of the
/// plugin, bounded by the wall-clock deadline; a big batch that fails is
/// re-run record by record on the metered one, where a looping record fails
/// `out-of-fuel` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metering {
    /// The variant compiled at load: fuel-metered unless fuel is off.
    Fuel,
    /// The unmetered variant, compiled the first time a big batch needs it.
    DeadlineOnly,
}

/// One engine and the plugins compiled for it.
struct Lane {
    engine: Engine,
    linker: Linker<CallState>,
    cache: Mutex<HashMap<String, MapperPre<CallState>>>,
    /// Held while compiling lazily, so concurrent first calls compile once.
    compiling: tokio::sync::Mutex<()>,
}

impl Lane {
    fn new(engine: Engine) -> Result<Self, PluginError> {
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| PluginError::Runtime(format!("linking WASI: {e:#}")))?;
        Mapper::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Runtime(format!("linking the plugin imports: {e:#}")))?;
        Ok(Lane {
            engine,
            linker,
            cache: Mutex::new(HashMap::new()),
            compiling: tokio::sync::Mutex::new(()),
        })
    }

    fn cached(&self, sha256: &str) -> Option<MapperPre<CallState>> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sha256)
            .cloned()
    }

    fn compile(&self, sha256: &str, wasm: &[u8]) -> Result<MapperPre<CallState>, PluginError> {
        check_component_header(wasm)?;
        let component = Component::new(&self.engine, wasm)
            .map_err(|e| PluginError::Compile(format!("{e:#}")))?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
        let pre =
            MapperPre::new(instance_pre).map_err(|e| PluginError::WrongWorld(format!("{e:#}")))?;
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sha256.to_string(), pre.clone());
        Ok(pre)
    }
}

/// The plugin runtime; create one per process and share it (cheap clone).
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    /// Every plugin is compiled here at load (fuel-metered unless fuel is off).
    main: Lane,
    /// The unmetered engine for big batches; `None` when `main` is unmetered.
    unmetered: Option<Lane>,
    pub(crate) limits: Limits,
    disk_cache: Option<Cache>,
    hits: AtomicU64,
    misses: AtomicU64,
    _ticker: EpochTicker,
}

impl Runtime {
    /// Creates the engines (pooling allocator, epochs, fuel on the main one
    /// when `limits.fuel_per_record > 0`, the on-disk compiled-code cache per
    /// `limits.compile_cache`), the epoch ticker thread and the linkers.
    pub fn new(limits: Limits) -> Result<Self, PluginError> {
        let disk_cache = open_cache(&limits.compile_cache);
        let metered = limits.fuel_per_record > 0;
        let main = Lane::new(new_engine(&limits, metered, disk_cache.clone())?)?;
        let unmetered = if metered {
            Some(Lane::new(new_engine(&limits, false, disk_cache.clone())?)?)
        } else {
            None
        };
        // Load the phone metadata now (a lazily parsed database), so the first
        // guest that normalises a phone does not pay for it inside its deadline.
        // The second number takes the crate's own parser (letters are not on the
        // fast path), so its lazily built patterns are ready too.
        let _ = dialsync_phone::normalize("+14155550100", None);
        let _ = dialsync_phone::normalize("1-800-FLOWERS", Some("US"));
        let engines = std::iter::once(&main)
            .chain(&unmetered)
            .map(|lane| lane.engine.clone())
            .collect();
        let ticker = EpochTicker::start(engines)?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                main,
                unmetered,
                limits,
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
                .main
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
        LoadedPlugin::new(self.clone(), pre, wasm, sha256, config).await
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
            .main
            .engine
            .precompile_component(wasm)
            .map_err(|e| PluginError::Compile(format!("{e:#}")))
    }

    fn pre_for(&self, sha256: &str, wasm: &[u8]) -> Result<MapperPre<CallState>, PluginError> {
        if let Some(pre) = self.inner.main.cached(sha256) {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(pre);
        }
        let pre = self.inner.main.compile(sha256, wasm)?;
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
        Ok(pre)
    }

    /// Whether big batches have an unmetered variant to run on (fuel is on).
    pub(crate) fn has_unmetered_lane(&self) -> bool {
        self.inner.unmetered.is_some()
    }

    /// The plugin compiled for the unmetered engine, compiling it (on a
    /// blocking thread, through the on-disk cache) the first time.
    pub(crate) async fn unmetered_pre(
        &self,
        sha256: &str,
        wasm: Arc<[u8]>,
    ) -> Result<MapperPre<CallState>, PluginError> {
        let Some(lane) = &self.inner.unmetered else {
            return Err(PluginError::Runtime("fuel metering is off".into()));
        };
        if let Some(pre) = lane.cached(sha256) {
            return Ok(pre);
        }
        // One compile at a time: calls that arrive meanwhile find it cached.
        let _compiling = lane.compiling.lock().await;
        if let Some(pre) = lane.cached(sha256) {
            return Ok(pre);
        }
        let runtime = self.clone();
        let sha256 = sha256.to_string();
        tokio::task::spawn_blocking(move || match &runtime.inner.unmetered {
            Some(lane) => lane.compile(&sha256, &wasm),
            None => Err(PluginError::Runtime("fuel metering is off".into())),
        })
        .await
        .map_err(|e| PluginError::Compile(format!("compiling the unmetered variant: {e}")))?
    }

    /// A fresh store for one call: the given fuel, the memory cap, and an epoch
    /// callback that yields to the executor every tick and interrupts the guest
    /// once the wall-clock deadline has passed.
    pub(crate) fn store(
        &self,
        metering: Metering,
        plugin: String,
        fuel: u64,
        config: Arc<serde_json::Map<String, serde_json::Value>>,
        genesys: Option<Arc<dyn GenesysPort>>,
    ) -> Store<CallState> {
        let limits = &self.inner.limits;
        let state = CallState::new(plugin, limits.max_memory_bytes, config, genesys);
        let engine = match (metering, &self.inner.unmetered) {
            (Metering::DeadlineOnly, Some(lane)) => &lane.engine,
            _ => &self.inner.main.engine,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limiter);
        if metering == Metering::Fuel && limits.fuel_per_record > 0 {
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

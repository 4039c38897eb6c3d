//! Resource limits applied to every plugin call, and where compiled plugin
//! code is cached on disk.

use std::path::PathBuf;
use std::time::Duration;

/// Resource limits for one plugin call (one `map` batch or one `action`), plus
/// the runtime's on-disk compiled-code cache setting.
///
/// A guest exceeding any of the limits gets a per-record failure naming the
/// limit; the host and later calls are unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wasm fuel (roughly instructions) granted per input record; a batch of
    /// `n` records gets `fuel_per_record * (n + 1)` (one record's worth of
    /// slack for per-call overhead). `0` turns fuel metering off: calls are then
    /// bounded by the wall-clock deadline only, and a looping guest fails with
    /// `deadline` after it instead of `out-of-fuel` at once (the benchmark uses
    /// this to measure what metering costs).
    pub fuel_per_record: u64,
    /// Cap on the guest's linear memory, in bytes.
    pub max_memory_bytes: usize,
    /// Wall-clock deadline for one call, including host calls it makes.
    pub deadline: Duration,
    /// Cap on the total size of the strings a call returns, in bytes.
    pub max_output_bytes: usize,
    /// Cap on the number of records re-run one by one after a batch fails, so a
    /// batch full of hostile records costs bounded work.
    pub max_isolation_reruns: usize,
    /// Where compiled plugin code is kept between processes.
    pub compile_cache: CompileCache,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel_per_record: 50_000_000,
            max_memory_bytes: 64 << 20,
            deadline: Duration::from_secs(10),
            max_output_bytes: 4 << 20,
            max_isolation_reruns: 256,
            compile_cache: CompileCache::Default,
        }
    }
}

/// The on-disk cache of compiled plugin code (wasmtime's cache, keyed by the
/// plugin bytes and the engine settings), so a process loading a plugin that
/// an earlier process compiled skips Cranelift.
///
/// The cache is an optimisation only: a directory that cannot be created,
/// read or written, or an entry that is corrupt, means the plugin is compiled
/// again (with a warning), never an error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CompileCache {
    /// `$DIALSYNC_HOME/cache/wasmtime` when `DIALSYNC_HOME` is set, else
    /// `$XDG_CACHE_HOME/dialsync/wasmtime`, else
    /// `$HOME/.cache/dialsync/wasmtime`; off when none of them is set.
    #[default]
    Default,
    /// This directory (created if missing; relative paths are taken from the
    /// current directory).
    Dir(PathBuf),
    /// Compile in every process.
    Disabled,
}

impl CompileCache {
    /// The directory this setting resolves to, or `None` when caching is off.
    pub fn directory(&self) -> Option<PathBuf> {
        let dir = match self {
            CompileCache::Disabled => return None,
            CompileCache::Dir(dir) => dir.clone(),
            CompileCache::Default => default_directory()?,
        };
        std::path::absolute(&dir).ok()
    }
}

fn default_directory() -> Option<PathBuf> {
    let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(home) = non_empty("DIALSYNC_HOME") {
        return Some(PathBuf::from(home).join("cache").join("wasmtime"));
    }
    let cache_home = non_empty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(cache_home.join("dialsync").join("wasmtime"))
}

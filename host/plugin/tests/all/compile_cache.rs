//! The on-disk compiled-code cache: a second process (here, a second runtime)
//! reuses what the first compiled, and a broken cache only means compiling
//! again.

use std::path::{Path, PathBuf};

use dialsync_plugin_host::{CompileCache, Limits, LoadedPlugin, Runtime};
use serde_json::json;

use crate::{external_id, rec};

fn limits(cache: CompileCache) -> Limits {
    Limits {
        compile_cache: cache,
        ..Limits::default()
    }
}

async fn load_hostile(runtime: &Runtime) -> LoadedPlugin {
    runtime
        .load(dialsync_bundled_plugins::testing::HOSTILE, json!({}))
        .await
        .expect("the hostile guest loads")
}

async fn assert_maps(plugin: &LoadedPlugin) {
    let out = plugin.map(&[rec("ok", "a")], None).await;
    assert_eq!(external_id(&out[0]), "h_a");
}

/// The compiled-code entries wasmtime wrote under `dir/modules` (not their
/// usage stats; the cache root also holds the cleanup worker's lock files). Nor the
/// temporary file of a write in progress (`<name>.wip-atomic-write-<reason>`, renamed
/// over the entry when done): wasmtime's cache worker updates an entry's stats file on
/// its own thread, and a count taken mid-write saw two entries.
fn entries(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_none_or(|e| {
                let e = e.to_string_lossy();
                e != "stats" && !e.starts_with("wip-atomic-write")
            }) {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join("modules"), &mut out);
    out
}

#[tokio::test]
async fn a_second_runtime_loads_the_compiled_code_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let first = Runtime::new(limits(CompileCache::Dir(dir.path().into()))).unwrap();
    assert_maps(&load_hostile(&first).await).await;
    let stats = first.cache_stats();
    assert_eq!((stats.disk_hits, stats.disk_misses), (0, 1));
    assert_eq!(entries(dir.path()).len(), 1);

    let second = Runtime::new(limits(CompileCache::Dir(dir.path().into()))).unwrap();
    assert_maps(&load_hostile(&second).await).await;
    let stats = second.cache_stats();
    assert_eq!((stats.disk_hits, stats.disk_misses), (1, 0));
}

#[tokio::test]
async fn a_corrupt_entry_is_compiled_again() {
    let dir = tempfile::tempdir().unwrap();
    let first = Runtime::new(limits(CompileCache::Dir(dir.path().into()))).unwrap();
    load_hostile(&first).await;
    let written = entries(dir.path());
    assert_eq!(written.len(), 1);
    std::fs::write(&written[0], b"not zstd, not an ELF").unwrap();

    let second = Runtime::new(limits(CompileCache::Dir(dir.path().into()))).unwrap();
    assert_maps(&load_hostile(&second).await).await;
    let stats = second.cache_stats();
    assert_eq!((stats.disk_hits, stats.disk_misses), (0, 1));
}

#[tokio::test]
async fn an_unusable_directory_means_no_cache_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"").unwrap();
    // A directory cannot be created inside a regular file.
    let runtime = Runtime::new(limits(CompileCache::Dir(file.join("cache")))).unwrap();
    assert_eq!(runtime.compile_cache_dir(), None);
    assert_maps(&load_hostile(&runtime).await).await;
    let stats = runtime.cache_stats();
    assert_eq!(
        (stats.misses, stats.disk_hits, stats.disk_misses),
        (1, 0, 0)
    );
}

#[tokio::test]
async fn disabled_writes_nothing() {
    let runtime = Runtime::new(limits(CompileCache::Disabled)).unwrap();
    assert_eq!(runtime.compile_cache_dir(), None);
    assert_maps(&load_hostile(&runtime).await).await;
    assert_eq!(runtime.cache_stats().disk_misses, 0);
}

#[test]
fn a_relative_directory_is_made_absolute() {
    let dir = CompileCache::Dir("rel/cache".into()).directory().unwrap();
    assert!(dir.is_absolute(), "{}", dir.display());
    assert!(dir.ends_with("rel/cache"));
    assert_eq!(CompileCache::Disabled.directory(), None);
}

//! Tests of the plugin runtime against real components built for
//! wasm32-wasip2 (dialsync-bundled-plugins), one module per feature.

mod actions;
mod bundled;
mod compile_cache;
mod hostile;
mod languages;
mod loading;

use std::sync::{Arc, OnceLock};

use dialsync_plugin_host::{
    CompileCache, FailureKind, Limits, LoadedPlugin, RecordOutcome, Runtime,
};
use serde_json::{Value, json};

/// The default limits with the compiled-code cache in a temporary directory
/// shared by this test process (never the user's cache).
pub fn test_limits() -> Limits {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("temporary cache directory"));
    Limits {
        compile_cache: CompileCache::Dir(dir.path().to_path_buf()),
        ..Limits::default()
    }
}

/// One runtime shared by the tests, as in production (one per process).
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(test_limits()).expect("runtime starts"))
}

pub async fn hostile(config: Value) -> LoadedPlugin {
    runtime()
        .load(dialsync_bundled_plugins::testing::HOSTILE, config)
        .await
        .expect("the hostile guest loads")
}

/// The hostile guest on a runtime of its own with these limits.
pub async fn hostile_with(limits: Limits) -> LoadedPlugin {
    Runtime::new(limits)
        .expect("runtime starts")
        .load(dialsync_bundled_plugins::testing::HOSTILE, json!({}))
        .await
        .expect("the hostile guest loads")
}

pub fn rec(mode: &str, id: &str) -> Value {
    json!({"mode": mode, "id": id})
}

/// The failure kind of a `Failed` outcome, panicking with the outcome otherwise.
pub fn failure_kind(outcome: &RecordOutcome) -> FailureKind {
    match outcome {
        RecordOutcome::Failed(f) => f.kind,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// The externalId of a single-change outcome, panicking otherwise.
pub fn external_id(outcome: &RecordOutcome) -> &str {
    match outcome {
        RecordOutcome::Change { changes } if changes.len() == 1 => &changes[0].external_id,
        other => panic!("expected one change, got {other:?}"),
    }
}

pub fn arc<T>(t: T) -> Arc<T> {
    Arc::new(t)
}

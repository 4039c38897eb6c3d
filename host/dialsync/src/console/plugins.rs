//! Plugins in the console: list (bundled and installed, with version and sha256, and
//! what each source runs), upload a component, try a plugin on a pasted sample (the
//! `dialsync plugin test` output as rows), hot-swap a source onto a plugin, and roll a
//! source back to the plugin it ran before.
//!
//! Each source's swaps, the plugins it can roll back to (their exact components and
//! configs) and the plugin a swap left running are kept on disk and survive a restart:
//! see [`super::swaps`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dialsync_plugin_host::RecordOutcome;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Console;
use super::swaps::{PluginRef, SwapError};
use crate::server::error::ApiError;
use crate::server::state::{AppState, PluginSlot, load_plugin};

/// Most records one console test maps.
pub const MAX_TEST_RECORDS: usize = 1000;

fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

fn unknown_source(source: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "unknown-source",
        format!("no source named {source:?}"),
    )
}

/// `GET /console/api/plugins`.
pub async fn list(State(console): State<Arc<Console>>) -> Result<Json<Value>, ApiError> {
    let app = &console.app;
    let mut bundled = Vec::new();
    for (name, bytes) in dialsync_bundled_plugins::bundled() {
        match app.runtime.inspect(bytes).await {
            Ok((info, sha256)) => bundled.push(json!({
                "name": name, "version": info.version, "sha256": sha256,
                "columns": info.columns, "kind": "bundled",
            })),
            Err(e) => {
                bundled.push(json!({"name": name, "kind": "bundled", "error": e.to_string()}))
            }
        }
    }
    let installed: Vec<Value> = app
        .registry
        .list()
        .map_err(|e| ApiError::unavailable("registry-error", e.to_string()))?
        .into_iter()
        .map(|e| {
            json!({"name": e.name, "version": e.version, "sha256": e.sha256,
                   "installedAt": e.installed_at, "kind": "installed"})
        })
        .collect();
    let mut sources: Vec<Value> = Vec::with_capacity(app.sources.len());
    for (name, s) in &app.sources {
        let slot = s.plugin();
        let (history, can_roll_back) = app.swaps.log(name).await;
        sources.push(json!({
            "name": name,
            "listId": s.list_id,
            "plugin": PluginRef::of(&slot),
            "history": history,
            "canRollBack": can_roll_back,
        }));
    }
    Ok(Json(
        json!({"bundled": bundled, "installed": installed, "sources": sources}),
    ))
}

/// `POST /console/api/plugins`: the admin API's upload (raw `.wasm` body).
pub async fn upload(
    State(console): State<Arc<Console>>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    crate::server::admin::upload_plugin(State(console.app.clone()), body).await
}

/// Body of `POST /console/api/plugins/test`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// Bundled or installed plugin name.
    pub plugin: String,
    /// The sample: a JSON array, JSON Lines, one object, or a CRM envelope.
    pub records: String,
    /// The plugin's config object (default `{}`).
    #[serde(default)]
    pub config: Option<Value>,
}

/// `POST /console/api/plugins/test`: maps the sample and answers what `plugin test`
/// prints — one row per outcome — plus the parsed records (to point at a field error),
/// the plugin's logs and the call's fuel, memory and time.
pub async fn test(
    State(console): State<Arc<Console>>,
    Json(req): Json<TestRequest>,
) -> Result<Json<Value>, ApiError> {
    let records = crate::plugin_test::parse_records(&req.records)
        .map_err(|e| bad_request("bad-sample", format!("the sample: {e}")))?;
    if records.len() > MAX_TEST_RECORDS {
        return Err(bad_request(
            "bad-sample",
            format!(
                "the sample has {} records; the console tries at most {MAX_TEST_RECORDS}",
                records.len()
            ),
        ));
    }
    let config = req.config.unwrap_or_else(|| json!({}));
    let slot = load_plugin(
        &console.app.runtime,
        &console.app.registry,
        &req.plugin,
        config,
    )
    .await
    .map_err(|e| bad_request("plugin-refused", format!("plugin {:?}: {e}", req.plugin)))?;
    let started = std::time::Instant::now();
    // Metered, so the fuel it shows covers every record.
    let report = slot.plugin.metered().map_with_report(&records, None).await;
    let elapsed = started.elapsed();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    let mut rows = Vec::new();
    for (index, outcome) in report.outcomes.iter().enumerate() {
        *counts
            .entry(match outcome {
                RecordOutcome::Change { .. } => "change",
                RecordOutcome::Skip { .. } => "skip",
                RecordOutcome::Reject { .. } => "reject",
                RecordOutcome::Failed(_) => "failed",
            })
            .or_default() += 1;
        rows.extend(crate::plugin_test::outcome_lines(index as u64, outcome));
    }
    Ok(Json(json!({
        "plugin": PluginRef::of(&slot),
        "records": records,
        "outcomes": rows,
        "counts": counts,
        "logs": report.logs,
        "logsDropped": report.logs_dropped,
        "stats": {
            "elapsedMs": elapsed.as_secs_f64() * 1000.0,
            "fuel": report.stats.fuel_used,
            "peakMemoryBytes": report.stats.peak_memory_bytes,
        },
    })))
}

/// Body of `POST /console/api/sources/{source}/plugin`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapRequest {
    /// Bundled or installed plugin name.
    pub plugin: String,
    /// The plugin's config object; default: the source's current config.
    #[serde(default)]
    pub config: Option<Value>,
}

/// Resolves and loads `reference` with `config`; also answers the component's bytes
/// (kept on disk for a later roll back).
async fn load_with_bytes(
    app: &AppState,
    reference: &str,
    config: Value,
) -> Result<(PluginSlot, Vec<u8>), String> {
    let resolved = app.registry.resolve(reference).map_err(|e| e.to_string())?;
    let plugin = app
        .runtime
        .load(&resolved.bytes, config.clone())
        .await
        .map_err(|e| e.to_string())?;
    let slot = PluginSlot {
        plugin,
        reference: reference.to_owned(),
        config,
    };
    Ok((slot, resolved.bytes.into_owned()))
}

fn swap_error(e: SwapError) -> ApiError {
    match e {
        SwapError::NothingToRollBack(_) => {
            ApiError::new(StatusCode::CONFLICT, "nothing-to-roll-back", e.to_string())
        }
        SwapError::CannotKeepCurrent { .. } => {
            ApiError::new(StatusCode::CONFLICT, "cannot-keep-current", e.to_string())
        }
        SwapError::Load { .. } => bad_request("plugin-refused", e.to_string()),
        SwapError::Disk(_) => ApiError::unavailable("swap-state-unwritable", e.to_string()),
    }
}

/// `POST /console/api/sources/{source}/plugin`: hot-swaps the source onto a plugin; one
/// that fails to load or to validate its config is refused and the source keeps its own.
pub async fn swap(
    State(console): State<Arc<Console>>,
    Path(source): Path<String>,
    Json(req): Json<SwapRequest>,
) -> Result<Json<Value>, ApiError> {
    let app = &console.app;
    let src = app
        .sources
        .get(&source)
        .ok_or_else(|| unknown_source(&source))?;
    let current = src.plugin();
    let config = req.config.unwrap_or_else(|| current.config.clone());
    let (slot, bytes) = load_with_bytes(app, &req.plugin, config)
        .await
        .map_err(|e| {
            bad_request(
                "plugin-refused",
                format!(
                    "source {source:?} keeps {}: {e}",
                    current.plugin.info().id()
                ),
            )
        })?;
    let record = app
        .swaps
        .swap(&app.registry, src, slot, bytes)
        .await
        .map_err(swap_error)?;
    tracing::info!(source = %source, old = %record.from.id, new = %record.to.id, "plugin swapped from the console");
    Ok(Json(json!({"source": source, "swap": record})))
}

/// `POST /console/api/sources/{source}/rollback`: swaps back the plugin the source ran
/// before its last console swap (its stored component and config).
pub async fn rollback(
    State(console): State<Arc<Console>>,
    Path(source): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let app = &console.app;
    let src = app
        .sources
        .get(&source)
        .ok_or_else(|| unknown_source(&source))?;
    let record = app
        .swaps
        .rollback(&app.runtime, src)
        .await
        .map_err(swap_error)?;
    tracing::info!(source = %source, old = %record.from.id, new = %record.to.id, "plugin rolled back from the console");
    Ok(Json(json!({"source": source, "swap": record})))
}

//! Plugins in the console: list (bundled and installed, with version and sha256, and
//! what each source runs), upload a component, try a plugin on a pasted sample (the
//! `dialsync plugin test` output as rows), hot-swap a source onto a plugin, and roll a
//! source back to the plugin it ran before.
//!
//! Each source keeps a history of the swaps made here, newest last, and the previous
//! loaded plugins themselves, so a rollback swaps back to exactly the bytes and config
//! that ran before (even if an installed plugin of that name was replaced since). Like
//! every hot swap, this lives in memory: `dialsync.toml` is the truth at the next start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use dialsync_plugin_host::RecordOutcome;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Console;
use crate::server::error::ApiError;
use crate::server::state::{PluginSlot, load_plugin};

/// Most records one console test maps.
pub const MAX_TEST_RECORDS: usize = 1000;

/// A plugin as shown in a swap record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SlotSummary {
    /// How it was named (bundled name, installed name or path).
    pub reference: String,
    /// `name@version`.
    pub id: String,
    /// sha256 of the component.
    pub sha256: String,
}

impl SlotSummary {
    fn of(slot: &PluginSlot) -> SlotSummary {
        SlotSummary {
            reference: slot.reference.clone(),
            id: slot.plugin.info().id(),
            sha256: slot.plugin.sha256().to_owned(),
        }
    }
}

/// One swap of a source's plugin.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapRecord {
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// `swap` or `rollback`.
    pub kind: &'static str,
    /// The plugin before.
    pub from: SlotSummary,
    /// The plugin after.
    pub to: SlotSummary,
}

#[derive(Default)]
struct SourceSwaps {
    previous: Vec<PluginSlot>,
    log: Vec<SwapRecord>,
}

/// Swap history per source.
#[derive(Default)]
pub struct SwapHistory {
    by_source: Mutex<HashMap<String, SourceSwaps>>,
}

impl SwapHistory {
    fn with<T>(&self, source: &str, f: impl FnOnce(&mut SourceSwaps) -> T) -> T {
        let mut all = self.by_source.lock().unwrap_or_else(|p| p.into_inner());
        f(all.entry(source.to_owned()).or_default())
    }

    /// The source's swap records, oldest first, and whether it can roll back.
    pub fn log(&self, source: &str) -> (Vec<SwapRecord>, bool) {
        self.with(source, |s| (s.log.clone(), !s.previous.is_empty()))
    }
}

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
    let sources: Vec<Value> = app
        .sources
        .iter()
        .map(|(name, s)| {
            let slot = s.plugin();
            let (history, can_roll_back) = console.swaps.log(name);
            json!({
                "name": name,
                "listId": s.list_id,
                "plugin": SlotSummary::of(&slot),
                "config": slot.config,
                "history": history,
                "canRollBack": can_roll_back,
            })
        })
        .collect();
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
    let report = slot.plugin.map_with_report(&records, None).await;
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
        "plugin": SlotSummary::of(&slot),
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

fn swap_in(console: &Console, source: &str, slot: PluginSlot, kind: &'static str) -> Value {
    let src = &console.app.sources[source];
    let to = SlotSummary::of(&slot);
    let old = src.swap_plugin(slot);
    let from = SlotSummary::of(&old);
    tracing::info!(source = %source, old = %from.id, new = %to.id, kind, "plugin swapped from the console");
    let record = SwapRecord {
        at_ms: chrono::Utc::now().timestamp_millis(),
        kind,
        from,
        to,
    };
    console.swaps.with(source, |s| {
        if kind == "swap" {
            s.previous.push(old);
        }
        s.log.push(record.clone());
    });
    json!({"source": source, "swap": record})
}

/// `POST /console/api/sources/{source}/plugin`: hot-swaps the source onto a plugin; one
/// that fails to load or to validate its config is refused and the source keeps its own.
pub async fn swap(
    State(console): State<Arc<Console>>,
    Path(source): Path<String>,
    Json(req): Json<SwapRequest>,
) -> Result<Json<Value>, ApiError> {
    let src = console
        .app
        .sources
        .get(&source)
        .ok_or_else(|| unknown_source(&source))?;
    let current = src.plugin();
    let config = req.config.unwrap_or_else(|| current.config.clone());
    let slot = load_plugin(
        &console.app.runtime,
        &console.app.registry,
        &req.plugin,
        config,
    )
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
    Ok(Json(swap_in(&console, &source, slot, "swap")))
}

/// `POST /console/api/sources/{source}/rollback`: swaps back the plugin the source ran
/// before its last console swap.
pub async fn rollback(
    State(console): State<Arc<Console>>,
    Path(source): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !console.app.sources.contains_key(&source) {
        return Err(unknown_source(&source));
    }
    let Some(previous) = console.swaps.with(&source, |s| s.previous.pop()) else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "nothing-to-roll-back",
            format!("source {source:?} has no earlier plugin to roll back to"),
        ));
    };
    Ok(Json(swap_in(&console, &source, previous, "rollback")))
}

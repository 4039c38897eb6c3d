//! The server's door onto the engine's one ingest path ([`crate::sync::Engine::ingest`]):
//! runs a source's current plugin over inbound records through the engine, which journals
//! the changes with their delivery ids, and records plugin time and fuel in the metrics.
//! Shared by webhook ingress, the `sync-record` data action and CRM pulls.

use crate::sync::{EngineError, Ingest, Ingested, Mapper};

pub use crate::sync::RecordResult;

use super::AppState;
use super::state::{PluginSlot, SourceState};

/// Ingests `ingest` for `source` with the plugin `slot` the caller holds for the whole
/// request; returns once everything accepted is durable.
pub async fn ingest(
    state: &AppState,
    source: &SourceState,
    slot: &PluginSlot,
    ingest: Ingest,
) -> Result<Ingested, EngineError> {
    let mapper = Mapper {
        plugin: slot.plugin.clone(),
        port: source.port.clone(),
    };
    let ingested = state.engine.ingest(&source.name, &mapper, ingest).await?;
    metrics::histogram!("dialsync_plugin_map_seconds", "source" => source.name.clone())
        .record(ingested.stats.elapsed.as_secs_f64());
    metrics::counter!("dialsync_plugin_fuel_total", "source" => source.name.clone())
        .increment(ingested.stats.fuel_used);
    Ok(ingested)
}

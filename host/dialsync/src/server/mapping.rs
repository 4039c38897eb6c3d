//! Runs a source's plugin over inbound records and sorts the outcomes into what the
//! journal takes (engine [`Change`]s) and what the caller is told per record
//! (accepted, skipped, rejected with field errors, failed naming the plugin and limit).
//! Shared by webhook ingress and the `sync-record` data action.

use std::sync::Arc;
use std::time::Instant;

use dialsync_plugin_host::{GenesysPort, RecordOutcome};
use serde::Serialize;
use serde_json::Value;

use crate::sync::Change;

use super::state::PluginSlot;

/// What became of one inbound record (before journalling).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RecordResult {
    /// Mapped to these changes; journalled by the caller.
    Accepted {
        /// The changes' externalIds, in order.
        #[serde(rename = "externalIds")]
        external_ids: Vec<String>,
        /// Journal sequence numbers, filled in once durable.
        seqs: Vec<i64>,
    },
    /// Well-formed but nothing to sync.
    Skipped {
        /// The plugin's reason.
        reason: String,
    },
    /// Invalid: every problem, one per field.
    Rejected {
        /// The field errors.
        errors: Vec<dialsync_plugin_host::FieldError>,
    },
    /// The plugin failed on this record (trap, fuel, memory, deadline, garbage).
    Failed {
        /// Names the plugin and the limit.
        error: String,
    },
    /// Already delivered earlier (same notification id); not journalled again.
    Duplicate {
        /// The sender's id for the record.
        #[serde(rename = "deliveryId")]
        delivery_id: String,
    },
}

/// The mapped batch: per-record results plus the changes to journal, with for each
/// change the index of the record it came from.
pub struct Mapped {
    /// One result per input record.
    pub results: Vec<RecordResult>,
    /// Changes to journal, in record order.
    pub changes: Vec<Change>,
    /// For each change, its record's index in `results`.
    pub origin: Vec<usize>,
}

/// Maps `records` with the source's current plugin `slot` (giving it the source's
/// Genesys `port`), recording plugin time and fuel in the metrics under `source`.
pub async fn map_records(
    source: &str,
    slot: &PluginSlot,
    port: Option<Arc<dyn GenesysPort>>,
    records: &[Value],
) -> Mapped {
    let started = Instant::now();
    let report = slot.plugin.map_with_report(records, port).await;
    metrics::histogram!("dialsync_plugin_map_seconds", "source" => source.to_owned())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!("dialsync_plugin_fuel_total", "source" => source.to_owned())
        .increment(report.stats.fuel_used);
    let mut results = Vec::with_capacity(records.len());
    let mut changes = Vec::new();
    let mut origin = Vec::new();
    for (index, outcome) in report.outcomes.into_iter().enumerate() {
        let result = match outcome {
            RecordOutcome::Change { changes: mapped } => {
                let external_ids = mapped.iter().map(|c| c.external_id.clone()).collect();
                for c in mapped {
                    changes.push(Change::from(c));
                    origin.push(index);
                }
                RecordResult::Accepted {
                    external_ids,
                    seqs: Vec::new(),
                }
            }
            RecordOutcome::Skip { reason } => RecordResult::Skipped { reason },
            RecordOutcome::Reject { errors } => RecordResult::Rejected { errors },
            RecordOutcome::Failed(failure) => RecordResult::Failed {
                error: failure.to_string(),
            },
        };
        results.push(result);
    }
    Mapped {
        results,
        changes,
        origin,
    }
}

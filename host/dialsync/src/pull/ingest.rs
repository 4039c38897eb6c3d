//! The one way records read from a CRM (pull sweeps, subscriptions) enter dialsync:
//! through the engine's single ingest path (`Engine::ingest`: mapped by the source's
//! plugin, journalled in one durable transaction). Every pull path calls [`ingest`].

use serde_json::Value;

use crate::server::AppState;
use crate::server::mapping::{self, RecordResult};
use crate::server::state::SourceState;
use crate::sync::{Inbound, Ingest};

use super::http::CrmError;

/// What became of one batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct IngestCounts {
    /// Records mapped to changes (now durable).
    pub accepted: usize,
    /// Records the plugin skipped (nothing to sync).
    pub skipped: usize,
    /// Records the plugin rejected (logged with their field errors).
    pub rejected: usize,
    /// Records the plugin failed on (logged with the failure).
    pub failed: usize,
}

impl std::ops::AddAssign for IngestCounts {
    fn add_assign(&mut self, o: Self) {
        self.accepted += o.accepted;
        self.skipped += o.skipped;
        self.rejected += o.rejected;
        self.failed += o.failed;
    }
}

/// Maps `records` with `source`'s plugin and journals the changes durably; returns when
/// they are durable (or with [`CrmError::Journal`], nothing stored). Rejected and failed
/// records are logged naming the record's position in the batch and the reasons. A
/// record the plugin failed on for a passing reason (deadline, no free instance) fails
/// the batch with [`CrmError::Journal`] after the others are durable, so the caller does
/// not move its position past it and reads it again.
pub async fn ingest(
    state: &AppState,
    source: &SourceState,
    records: &[Value],
) -> Result<IngestCounts, CrmError> {
    if records.is_empty() {
        return Ok(IngestCounts::default());
    }
    let slot = source.plugin();
    let ingest = Ingest {
        records: records.iter().cloned().map(Inbound::new).collect(),
        ..Ingest::default()
    };
    let ingested = mapping::ingest(state, source, &slot, ingest)
        .await
        .map_err(|e| CrmError::Journal(e.to_string()))?;
    if let Some((i, RecordResult::Failed { error, .. })) = ingested
        .results
        .iter()
        .enumerate()
        .find(|(_, r)| r.is_transient())
    {
        return Err(CrmError::Journal(format!(
            "record {i} (id {}): {error}; the position was not moved, it is read again",
            record_id(&records[i])
        )));
    }
    let mut counts = IngestCounts::default();
    for (i, r) in ingested.results.iter().enumerate() {
        match r {
            RecordResult::Accepted { .. } => counts.accepted += 1,
            RecordResult::Skipped { .. } | RecordResult::Duplicate { .. } => counts.skipped += 1,
            RecordResult::Rejected { errors } => {
                counts.rejected += 1;
                tracing::warn!(source = %source.name, record = i, id = %record_id(&records[i]), errors = ?errors, "pulled record rejected");
            }
            RecordResult::Failed { error, .. } => {
                counts.failed += 1;
                tracing::warn!(source = %source.name, record = i, id = %record_id(&records[i]), error = %error, "plugin failed on a pulled record");
            }
        }
    }
    metrics::counter!("dialsync_pull_records_total", "source" => source.name.clone())
        .increment(records.len() as u64);
    Ok(counts)
}

/// The record's CRM id for logs (`sys_id`, `documentkey` or `Id`).
pub fn record_id(record: &Value) -> String {
    ["sys_id", "Id", "documentkey"]
        .iter()
        .find_map(|k| record.get(*k).and_then(Value::as_str))
        .unwrap_or("(no id)")
        .to_owned()
}

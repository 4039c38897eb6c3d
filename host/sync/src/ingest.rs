//! The one ingest path: [`Engine::ingest`] maps inbound CRM records with the source's
//! plugin, checks the mapped changes, and journals them durably together with the
//! delivery ids they carry; it answers one [`RecordResult`] per input record. Webhooks,
//! the `sync-record` data action, CRM pulls, `import` and `demo` all come through here.
//!
//! Delivery rules decided here:
//! * a record whose delivery id is already in the journal is a `duplicate` and is not
//!   mapped again;
//! * the changes and the delivery ids (per record, and the whole delivery's) are written
//!   in the same transaction, so an id is never remembered for changes that were lost,
//!   and changes are never stored without their id;
//! * a record the plugin failed on for a transient reason (deadline, no free instance
//!   slot, not re-run alone) is `failed` with `transient: true`: its id — and the whole
//!   delivery's id — is not remembered, so the sender's retry maps it again.

use std::sync::Arc;

use dialsync_plugin_host::{CallStats, GenesysPort, LoadedPlugin, RecordOutcome};
use serde::Serialize;
use serde_json::Value;

use chrono::{DateTime, Utc};

use crate::change::{Change, Operation};
use crate::engine::{Engine, EngineError};
use crate::journal::NewBatch;

/// How a source's records are mapped: its plugin and the Genesys port the plugin may
/// read through.
#[derive(Clone)]
pub struct Mapper {
    /// The source's plugin (the one in use for this request).
    pub plugin: LoadedPlugin,
    /// Read-only Genesys access for the plugin, if any.
    pub port: Option<Arc<dyn GenesysPort>>,
}

/// One inbound record.
#[derive(Debug, Clone)]
pub struct Inbound {
    /// The record as the CRM sent it.
    pub value: Value,
    /// The sender's id for this record (a Salesforce Outbound Message notification id).
    pub delivery_id: Option<String>,
}

impl Inbound {
    /// A record without an id of its own.
    pub fn new(value: Value) -> Inbound {
        Inbound {
            value,
            delivery_id: None,
        }
    }
}

/// Builds the response summary stored with a delivery id (answered again to a retry),
/// from the final per-record results. Runs inside the journal transaction.
pub type SummaryFn = Box<dyn FnOnce(&[RecordResult]) -> String + Send>;

/// What to ingest.
#[derive(Default)]
pub struct Ingest {
    /// The records, in the sender's order.
    pub records: Vec<Inbound>,
    /// The whole delivery's id (`webhook-id`, `Idempotency-Key`, ...), if any.
    pub delivery_id: Option<String>,
    /// The import run the changes belong to.
    pub run_id: Option<i64>,
    /// Builds the summary stored with the delivery ids (default: the results as JSON).
    pub summary: Option<SummaryFn>,
}

/// What became of one inbound record.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum RecordResult {
    /// Mapped to these changes, now durable.
    Accepted {
        /// The changes' externalIds, in order.
        #[serde(rename = "externalIds")]
        external_ids: Vec<String>,
        /// Their journal sequence numbers.
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
        /// A later try may succeed (deadline, no free instance): the record is not
        /// remembered as delivered and the sender should retry it.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        transient: bool,
    },
    /// Already delivered earlier (same delivery id); not journalled again.
    Duplicate {
        /// The sender's id for the record.
        #[serde(rename = "deliveryId")]
        delivery_id: String,
    },
}

impl RecordResult {
    /// Whether the sender should send this record again later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RecordResult::Failed {
                transient: true,
                ..
            }
        )
    }
}

/// One change an ingest journalled.
#[derive(Debug, Clone, PartialEq)]
pub struct IngestedChange {
    /// Index of the record it came from.
    pub record: usize,
    /// Journal sequence number.
    pub seq: i64,
    /// Its externalId.
    pub external_id: String,
    /// What it asks for.
    pub operation: Operation,
    /// The source's time of the change.
    pub source_updated_at: DateTime<Utc>,
}

/// The result of one ingest.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// One result per input record, in order.
    pub results: Vec<RecordResult>,
    /// The journalled changes, in order.
    pub changes: Vec<IngestedChange>,
    /// Whether the whole delivery's id was recorded (false when a record failed
    /// transiently, or when there was no id).
    pub delivery_recorded: bool,
    /// What the plugin call cost (fuel, time).
    pub stats: CallStats,
}

impl Ingested {
    /// Whether any record failed for a reason a retry may cure.
    pub fn has_transient_failures(&self) -> bool {
        self.results.iter().any(RecordResult::is_transient)
    }
}

impl Engine {
    /// Maps `ingest.records` with `mapper`, journals the changes and the delivery ids
    /// durably (one transaction, shared with concurrent ingests when group commit is on)
    /// and returns one result per record. Returns only once everything accepted is
    /// durable; on an error nothing of this ingest was stored.
    pub async fn ingest(
        &self,
        source: &str,
        mapper: &Mapper,
        ingest: Ingest,
    ) -> Result<Ingested, EngineError> {
        let list_id = self.list_of(source)?;
        let Ingest {
            records,
            delivery_id,
            run_id,
            summary,
        } = ingest;

        // Records already delivered (by their own id) are not mapped again.
        let record_ids: Vec<String> = records
            .iter()
            .filter_map(|r| r.delivery_id.clone())
            .collect();
        let known = if record_ids.is_empty() {
            Vec::new()
        } else {
            self.store().known_deliveries(source, record_ids).await?
        };
        let mut results: Vec<Option<RecordResult>> = vec![None; records.len()];
        let mut to_map = Vec::new();
        let mut to_map_index = Vec::new();
        // The records' values move to the plugin; only their ids are needed afterwards.
        let mut record_delivery_ids = Vec::with_capacity(records.len());
        for (i, record) in records.into_iter().enumerate() {
            if let Some(id) = &record.delivery_id
                && known.contains(id)
            {
                results[i] = Some(RecordResult::Duplicate {
                    delivery_id: id.clone(),
                });
            } else {
                to_map.push(record.value);
                to_map_index.push(i);
            }
            record_delivery_ids.push(record.delivery_id);
        }

        let report = if to_map.is_empty() {
            None
        } else {
            Some(
                mapper
                    .plugin
                    .map_with_report(&to_map, mapper.port.clone())
                    .await,
            )
        };
        let stats = report.as_ref().map(|r| r.stats.clone()).unwrap_or_default();
        let mut changes: Vec<Change> = Vec::new();
        let mut origin: Vec<usize> = Vec::new();
        if let Some(report) = report {
            for (outcome, &index) in report.outcomes.into_iter().zip(&to_map_index) {
                results[index] = Some(match outcome {
                    RecordOutcome::Change { changes: mapped } => {
                        match mapped.iter().find(|c| c.external_id.trim().is_empty()) {
                            Some(_) => RecordResult::Rejected {
                                errors: vec![dialsync_plugin_host::FieldError {
                                    field: "/externalId".into(),
                                    code: "missing".into(),
                                    message: "the mapped change has an empty externalId".into(),
                                }],
                            },
                            None => {
                                let external_ids =
                                    mapped.iter().map(|c| c.external_id.clone()).collect();
                                for c in mapped {
                                    changes.push(Change::from(c));
                                    origin.push(index);
                                }
                                RecordResult::Accepted {
                                    external_ids,
                                    seqs: Vec::new(),
                                }
                            }
                        }
                    }
                    RecordOutcome::Skip { reason } => RecordResult::Skipped { reason },
                    RecordOutcome::Reject { errors } => RecordResult::Rejected { errors },
                    RecordOutcome::Failed(failure) => RecordResult::Failed {
                        transient: failure.kind.is_transient(),
                        error: failure.to_string(),
                    },
                });
            }
        }
        let mut results: Vec<RecordResult> = results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| RecordResult::Failed {
                    error: "the plugin returned no outcome for this record".into(),
                    transient: true,
                })
            })
            .collect();

        // Remember the ids of what was handled for good; never of a transient failure.
        let transient = results.iter().any(RecordResult::is_transient);
        let mut deliveries: Vec<String> = record_delivery_ids
            .into_iter()
            .zip(&results)
            .filter(|(_, r)| !matches!(r, RecordResult::Duplicate { .. }) && !r.is_transient())
            .filter_map(|(id, _)| id)
            .collect();
        let delivery_recorded = delivery_id.is_some() && !transient;
        if let Some(id) = delivery_id.filter(|_| !transient) {
            deliveries.push(id);
        }
        if changes.is_empty() && deliveries.is_empty() {
            return Ok(Ingested {
                results,
                changes: Vec::new(),
                delivery_recorded,
                stats,
            });
        }
        let described: Vec<(String, Operation, DateTime<Utc>)> = changes
            .iter()
            .map(|c| (c.external_id.clone(), c.operation, c.source_updated_at))
            .collect();

        let template = results.clone();
        let origin_for_summary = origin.clone();
        let summary: crate::journal::BatchSummary = Box::new(move |seqs: &[i64]| {
            let mut filled = template;
            fill_seqs(&mut filled, &origin_for_summary, seqs);
            match summary {
                Some(f) => f(&filled),
                None => serde_json::to_string(&filled).expect("results serialise"),
            }
        });
        let seqs = self
            .commit(NewBatch {
                source: source.to_string(),
                list_id,
                changes,
                run_id,
                deliveries,
                summary: Some(summary),
            })
            .await?;
        fill_seqs(&mut results, &origin, &seqs);
        let changes = described
            .into_iter()
            .zip(origin)
            .zip(&seqs)
            .map(
                |(((external_id, operation, source_updated_at), record), &seq)| IngestedChange {
                    record,
                    seq,
                    external_id,
                    operation,
                    source_updated_at,
                },
            )
            .collect();
        Ok(Ingested {
            results,
            changes,
            delivery_recorded,
            stats,
        })
    }

    /// The stored response summary of a delivery id of `source`, if it was delivered.
    pub async fn delivery(&self, source: &str, id: &str) -> Result<Option<String>, EngineError> {
        Ok(self.store().delivery(source, id).await?)
    }
}

/// Puts each change's seq into its record's `Accepted` result.
fn fill_seqs(results: &mut [RecordResult], origin: &[usize], seqs: &[i64]) {
    for (&seq, &record) in seqs.iter().zip(origin) {
        if let RecordResult::Accepted { seqs, .. } = &mut results[record] {
            seqs.push(seq);
        }
    }
}

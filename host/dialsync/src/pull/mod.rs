//! Reading a source's records back from its CRM: `dialsync pull --source X`, the
//! `[sources.X.pull] interval_secs` schedule in `serve`, and completing thin webhooks
//! (a body with only `sys_id` / `Id`) by fetching the record.
//!
//! Delivery rule: a sweep hands each page to [`ingest::ingest`] and stores the position
//! after the page (in [`cursors`]) only once the page's changes are durable in the
//! journal. A crash re-reads at most one page; nothing read is skipped. ServiceNow sweeps
//! two streams — the table by `sys_updated_on` and `sys_audit_delete` by
//! `sys_created_on` (deleted records become removes) — and Salesforce one `queryAll` by
//! `SystemModstamp` (deleted records arrive with `IsDeleted: true`).

pub mod cursors;
pub mod http;
pub mod ingest;
pub mod salesforce;
pub mod servicenow;
pub mod settings;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use http::CrmError;
pub use ingest::{IngestCounts, ingest};
pub use settings::PullConfig;

use crate::server::AppState;
use cursors::CursorStore;
use salesforce::SalesforceClient;
use servicenow::{Position, ServiceNowClient};

/// The API client of a source.
#[derive(Debug)]
pub enum CrmClient {
    /// ServiceNow Table API.
    ServiceNow(ServiceNowClient),
    /// Salesforce REST API.
    Salesforce(SalesforceClient),
}

/// A source's pull side: its client, settings, and a lock so one sweep runs at a time.
#[derive(Debug)]
pub struct PullSource {
    /// The client.
    pub client: CrmClient,
    /// `[sources.X.pull]`.
    pub config: PullConfig,
    sweeping: tokio::sync::Mutex<()>,
}

impl PullSource {
    /// Builds the client for `source` (secrets from the environment).
    pub fn new(source: &str, config: &PullConfig) -> Result<Self, CrmError> {
        let client = match config.kind {
            settings::PullKind::Servicenow => {
                CrmClient::ServiceNow(ServiceNowClient::new(source, config)?)
            }
            settings::PullKind::Salesforce => {
                CrmClient::Salesforce(SalesforceClient::new(source, config)?)
            }
        };
        Ok(Self {
            client,
            config: config.clone(),
            sweeping: tokio::sync::Mutex::new(()),
        })
    }

    /// Replaces each thin record (an id and nothing to map) with the record fetched from
    /// the CRM; others pass through unchanged. A record the CRM does not know stays
    /// thin, so the plugin rejects it naming the missing fields.
    pub async fn complete_thin(&self, records: Vec<Value>) -> Result<Vec<Value>, CrmError> {
        let mut out = Vec::with_capacity(records.len());
        for record in records {
            let fetched = match (&self.client, thin_id(&self.client, &record)) {
                (CrmClient::ServiceNow(c), Some(id)) => Some((id.clone(), c.fetch(&id).await?)),
                (CrmClient::Salesforce(c), Some(id)) => Some((id.clone(), c.fetch(&id).await?)),
                (_, None) => None,
            };
            match fetched {
                Some((_, Some(full))) => out.push(full),
                Some((id, None)) => {
                    tracing::warn!(id, "thin webhook names a record the CRM does not return");
                    out.push(record);
                }
                None => out.push(record),
            }
        }
        Ok(out)
    }
}

/// The id of a thin record: one with the CRM id and none of the fields the plugins map.
fn thin_id(client: &CrmClient, record: &Value) -> Option<String> {
    let obj = record.as_object()?;
    let (id_key, data_keys): (&str, &[&str]) = match client {
        CrmClient::ServiceNow(_) => (
            "sys_id",
            &[
                "first_name",
                "last_name",
                "email",
                "phone",
                "mobile_phone",
                "home_phone",
                "active",
                "documentkey",
            ],
        ),
        CrmClient::Salesforce(_) => (
            "Id",
            &[
                "FirstName",
                "LastName",
                "Email",
                "Phone",
                "MobilePhone",
                "HomePhone",
                "DoNotCall",
                "IsDeleted",
                "ChangeEventHeader",
            ],
        ),
    };
    if obj.contains_key("operation")
        && obj.get("operation").and_then(Value::as_str) == Some("delete")
    {
        return None;
    }
    if data_keys.iter().any(|k| obj.contains_key(*k)) {
        return None;
    }
    let id = obj.get(id_key)?;
    id.as_str()
        .or_else(|| id.get("value").and_then(Value::as_str))
        .map(str::to_owned)
}

/// What one pull did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct PullReport {
    /// The source.
    pub source: String,
    /// Rows read per stream (`customer_contact`, `sys_audit_delete`, `Contact`).
    pub read: Vec<(String, usize)>,
    /// What the plugin and journal made of them.
    pub counts: IngestCounts,
}

/// Sweeps `source` once from its stored positions (see the module docs).
pub async fn pull_source(state: &Arc<AppState>, source: &str) -> Result<PullReport, CrmError> {
    let src = state.sources.get(source).ok_or_else(|| CrmError::Config {
        key: format!("sources.{source}"),
        message: "no such source".into(),
    })?;
    let pull = src.pull.as_ref().ok_or_else(|| CrmError::Config {
        key: format!("sources.{source}.pull"),
        message: "the source has no [sources.X.pull] table".into(),
    })?;
    let _one_at_a_time = pull.sweeping.lock().await;
    let cursors = match &state.pg {
        Some(pool) => CursorStore::postgres(pool.clone()),
        None => CursorStore::open(&state.store_path)?,
    };
    // One sweeper per source across all workers of a PostgreSQL store.
    let lock = cursors.sweep_lock(source).await?;
    let swept = sweep(state, source, src, pull, &cursors).await;
    lock.release().await;
    swept
}

/// One sweep of every stream of `source` from the stored positions.
async fn sweep(
    state: &Arc<AppState>,
    source: &str,
    src: &crate::server::state::SourceState,
    pull: &PullSource,
    cursors: &CursorStore,
) -> Result<PullReport, CrmError> {
    let mut report = PullReport {
        source: source.to_owned(),
        ..PullReport::default()
    };
    match &pull.client {
        CrmClient::ServiceNow(client) => {
            let filter = client.audit_filter();
            for (name, stream) in [
                (client.table.clone(), client.records_stream()),
                ("sys_audit_delete".to_owned(), client.audit_stream(&filter)),
            ] {
                let from: Option<Position> = cursors
                    .get(source, &name)
                    .await?
                    .and_then(|p| serde_json::from_str(&p).ok());
                let (cursors_ref, name_ref) = (cursors, name.as_str());
                let (read, counts) = client
                    .sweep(stream, from, move |rows, pos| async move {
                        let counts = ingest(state, src, &rows).await?;
                        let text = serde_json::to_string(&pos).unwrap_or_default();
                        cursors_ref.set(&src.name, name_ref, &text).await?;
                        Ok(counts)
                    })
                    .await?;
                report.counts += counts;
                report.read.push((name, read));
            }
        }
        CrmClient::Salesforce(client) => {
            let name = client.object.clone();
            let from = cursors.get(source, &name).await?;
            let (cursors_ref, name_ref) = (cursors, name.as_str());
            let (read, counts) = client
                .sweep(from, move |rows, pos| async move {
                    let counts = ingest(state, src, &rows).await?;
                    cursors_ref.set(&src.name, name_ref, &pos).await?;
                    Ok(counts)
                })
                .await?;
            report.counts += counts;
            report.read.push((name, read));
        }
    }
    tracing::info!(source, read = ?report.read, counts = ?report.counts, "pull finished");
    Ok(report)
}

/// Starts one task per source with `pull.interval_secs`: a sweep at start, then one per
/// interval, until `stop` turns true. A failed sweep is logged and retried next interval.
pub fn spawn_schedules(
    state: &Arc<AppState>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    for (name, src) in &state.sources {
        let Some(every) = src.pull.as_ref().and_then(|p| p.config.interval_secs) else {
            continue;
        };
        let (state, name, mut stop) = (state.clone(), name.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                if let Err(e) = pull_source(&state, &name).await {
                    tracing::warn!(source = %name, error = %e, "scheduled pull failed; retrying next interval");
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(every.max(1))) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        }));
    }
    tasks
}

/// Builds each source's pull side; fails naming the key.
pub fn build(
    source: &str,
    config: Option<&PullConfig>,
) -> Result<Option<Arc<PullSource>>, CrmError> {
    config
        .map(|c| PullSource::new(source, c).map(Arc::new))
        .transpose()
}

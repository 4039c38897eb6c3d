//! Bulk contact jobs, contact-list export and import status: the asynchronous endpoints
//! that save requests on large lists (SDK `OutboundApi` 269.0.0:
//! `post_outbound_contactlist_contacts_bulk_remove|update`,
//! `get_outbound_contactlist_contacts_bulk_job`, `post|get_outbound_contactlist_export`,
//! `get_outbound_contactlist_importstatus`).
//!
//! Both bulk jobs have one shape: started with one POST (`submit_job`), then polled
//! (`GET …/contacts/bulk/jobs/{jobId}`, through [`super::jobs::poll_job`]) with a doubling
//! pause (250 ms up to 5 s) until it reads `Complete` or `Failed`, or the caller's time
//! limit passes; a run of jobs over chunks is `run_jobs`. `bulk/remove` selects by criteria only, so removing known
//! contacts goes through a column they are keyed by (dialsync: the `externalId` column),
//! [`BULK_IN_SET`] values per job.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::jobs::{Pacing, Step, poll_job};
use crate::client::{Call, GenesysClient};
use crate::error::GenesysError;
use crate::model::{
    ContactBulkEditRequest, ContactBulkSearchCriteria, ContactBulkSearchParameters,
    ContactsBulkOperationJob, ExportUri, ImportStatus, JobState,
};

/// Values per `IN` predicate of one bulk job (Genesys documents no cap; UNVERIFIED, so a
/// conservative size that keeps a request body small).
pub const BULK_IN_SET: usize = 1000;
/// Contact ids per `bulk/update` job.
pub const BULK_UPDATE_IDS: usize = 1000;

/// How bulk jobs and exports are polled: 250 ms, doubling up to 5 s.
const POLL: Pacing = Pacing {
    first: Duration::from_millis(250),
    max: Duration::from_secs(5),
};

const BULK_JOB: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts/bulk/jobs/{jobId}";
const EXPORT: &str = "/api/v2/outbound/contactlists/{contactListId}/export";
const IMPORT_STATUS: &str = "/api/v2/outbound/contactlists/{contactListId}/importstatus";

/// The two bulk contact jobs: each starts with one POST and is polled the same way.
#[derive(Clone, Copy, Debug)]
enum BulkJob {
    /// `POST …/contacts/bulk/remove` with a `ContactBulkSearchParameters`.
    Remove,
    /// `POST …/contacts/bulk/update` with a `ContactBulkEditRequest`.
    Update,
}

impl BulkJob {
    fn segment(self) -> &'static str {
        match self {
            BulkJob::Remove => "remove",
            BulkJob::Update => "update",
        }
    }

    fn route(self) -> &'static str {
        match self {
            BulkJob::Remove => "/api/v2/outbound/contactlists/{contactListId}/contacts/bulk/remove",
            BulkJob::Update => "/api/v2/outbound/contactlists/{contactListId}/contacts/bulk/update",
        }
    }
}

/// What a run of bulk jobs did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    /// Jobs started.
    pub jobs: usize,
    /// Contacts the jobs affected (their `totalRecords`).
    pub records: u64,
}

impl GenesysClient {
    /// Starts a bulk job of `kind` on the list with `body`.
    async fn submit_job<B: Serialize + ?Sized>(
        &self,
        list_id: &str,
        kind: BulkJob,
        body: &B,
    ) -> Result<ContactsBulkOperationJob, GenesysError> {
        let url = self.list_url(list_id, &["contacts", "bulk", kind.segment()]);
        let body = Self::json_body(kind.route(), body)?;
        self.call_json(Call {
            method: Method::POST,
            route: kind.route(),
            url,
            body,
        })
        .await
    }

    /// Starts a bulk delete (`POST …/contacts/bulk/remove`); poll it with
    /// [`GenesysClient::wait_for_bulk_job`].
    pub async fn start_bulk_remove(
        &self,
        list_id: &str,
        params: &ContactBulkSearchParameters,
    ) -> Result<ContactsBulkOperationJob, GenesysError> {
        self.submit_job(list_id, BulkJob::Remove, params).await
    }

    /// Starts a bulk edit (`POST …/contacts/bulk/update`).
    pub async fn start_bulk_update(
        &self,
        list_id: &str,
        request: &ContactBulkEditRequest,
    ) -> Result<ContactsBulkOperationJob, GenesysError> {
        self.submit_job(list_id, BulkJob::Update, request).await
    }

    /// One bulk job's current state.
    pub async fn get_bulk_job(
        &self,
        list_id: &str,
        job_id: &str,
    ) -> Result<ContactsBulkOperationJob, GenesysError> {
        let url = self.list_url(list_id, &["contacts", "bulk", "jobs", job_id]);
        self.call_json(Call {
            method: Method::GET,
            route: BULK_JOB,
            url,
            body: None,
        })
        .await
    }

    /// Polls a bulk job until it is `Complete` (returned) or `Failed` (an error with its
    /// failure reason), or `limit` passes (an error that says it may still finish).
    pub async fn wait_for_bulk_job(
        &self,
        list_id: &str,
        job: ContactsBulkOperationJob,
        limit: Duration,
    ) -> Result<ContactsBulkOperationJob, GenesysError> {
        let id = job.id.clone();
        let mut first = Some(job);
        poll_job(
            POLL,
            Instant::now() + limit,
            || {
                let first = first.take();
                let id = id.as_str();
                async move {
                    let job = match first {
                        Some(job) => job,
                        None => self.get_bulk_job(list_id, id).await?,
                    };
                    match job.state {
                        JobState::Complete => Ok(Step::Done(job)),
                        JobState::Failed => Err(GenesysError::Job {
                            what: "bulk contact job",
                            id: job.id.clone(),
                            message: format!(
                                "failed: {}",
                                job.failure_reason
                                    .as_ref()
                                    .map_or_else(|| "no reason given".to_owned(), Value::to_string)
                            ),
                            timed_out: false,
                        }),
                        JobState::InProgress => Ok(Step::Pending(job)),
                    }
                }
            },
            |job| {
                Err(GenesysError::Job {
                    what: "bulk contact job",
                    id: job.id,
                    message: format!(
                        "still in progress after {} s ({} of {} records); it may yet finish",
                        limit.as_secs(),
                        job.completed_records.unwrap_or(0),
                        job.total_records.unwrap_or(0)
                    ),
                    timed_out: true,
                })
            },
        )
        .await
    }

    /// Runs one bulk job per body, one after the other, each polled to completion within
    /// `limit`; adds up what they did.
    async fn run_jobs<B: Serialize>(
        &self,
        list_id: &str,
        kind: BulkJob,
        bodies: impl IntoIterator<Item = B>,
        limit: Duration,
    ) -> Result<BulkOutcome, GenesysError> {
        let mut outcome = BulkOutcome::default();
        for body in bodies {
            let job = self.submit_job(list_id, kind, &body).await?;
            let done = self.wait_for_bulk_job(list_id, job, limit).await?;
            outcome.jobs += 1;
            outcome.records += done.total_records.unwrap_or(0);
        }
        Ok(outcome)
    }

    /// Hard-deletes the contacts whose `column` holds one of `values`: one
    /// `bulk/remove` job per [`BULK_IN_SET`] values, each polled to completion within
    /// `limit`. Contacts a running campaign's dialer holds are skipped by Genesys.
    pub async fn bulk_remove_by_column(
        &self,
        list_id: &str,
        column: &str,
        values: &[String],
        limit: Duration,
    ) -> Result<BulkOutcome, GenesysError> {
        // Built up front: a lazy iterator's closure held across the awaits would keep the
        // future from being `Send` (the engine runs it on a multi-threaded runtime).
        let bodies: Vec<ContactBulkSearchParameters> = values
            .chunks(BULK_IN_SET)
            .map(|chunk| ContactBulkSearchParameters {
                criteria: Some(ContactBulkSearchCriteria::column_in(column, chunk)),
                generate_download_uri: Some(false),
                ..ContactBulkSearchParameters::default()
            })
            .collect();
        self.run_jobs(list_id, BulkJob::Remove, bodies, limit).await
    }

    /// Sets `fields` (e.g. `{"callable": false}`) on the contacts `ids`: one `bulk/update`
    /// job per [`BULK_UPDATE_IDS`] ids, each polled to completion within `limit`.
    pub async fn bulk_update_contacts(
        &self,
        list_id: &str,
        ids: &[String],
        fields: &Map<String, Value>,
        limit: Duration,
    ) -> Result<BulkOutcome, GenesysError> {
        let bodies = ids
            .chunks(BULK_UPDATE_IDS)
            .map(|chunk| ContactBulkEditRequest {
                contact_ids: Some(chunk.to_vec()),
                contact: fields.clone(),
                generate_download_uri: Some(false),
                ..ContactBulkEditRequest::default()
            });
        self.run_jobs(list_id, BulkJob::Update, bodies, limit).await
    }

    /// Starts an export of the whole list (`POST …/export`).
    pub async fn start_contact_list_export(&self, list_id: &str) -> Result<(), GenesysError> {
        let url = self.list_url(list_id, &["export"]);
        self.call_empty(Call {
            method: Method::POST,
            route: EXPORT,
            url,
            body: None,
        })
        .await
    }

    /// Where the list's latest export is (`GET …/export`); `None` before any export.
    pub async fn get_contact_list_export(
        &self,
        list_id: &str,
    ) -> Result<Option<ExportUri>, GenesysError> {
        let url = self.list_url(list_id, &["export"]);
        match self
            .call_json(Call {
                method: Method::GET,
                route: EXPORT,
                url,
                body: None,
            })
            .await
        {
            Ok(uri) => Ok(Some(uri)),
            Err(GenesysError::Rejected(f)) if f.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads back a whole list the way Genesys offers it: starts an export, polls until an
    /// export newer than the request is ready (within `limit`), downloads the CSV and
    /// returns one map per row (header → cell; `inin-outbound-id` is the contact id).
    pub async fn export_contact_list(
        &self,
        list_id: &str,
        limit: Duration,
    ) -> Result<Vec<BTreeMap<String, String>>, GenesysError> {
        let previous = self
            .get_contact_list_export(list_id)
            .await?
            .and_then(|e| e.export_timestamp);
        self.start_contact_list_export(list_id).await?;
        let ready = poll_job(
            POLL,
            Instant::now() + limit,
            || {
                let previous = previous.clone();
                async move {
                    Ok(match self.get_contact_list_export(list_id).await? {
                        Some(e)
                            if e.export_timestamp.is_some() && e.export_timestamp != previous =>
                        {
                            Step::Done(e)
                        }
                        _ => Step::Pending(()),
                    })
                }
            },
            |()| {
                Err(GenesysError::Job {
                    what: "contact list export of",
                    id: list_id.to_owned(),
                    message: format!("not ready after {} s", limit.as_secs()),
                    timed_out: true,
                })
            },
        )
        .await?;
        let text = self.download_text(&ready.uri).await?;
        parse_export(list_id, &text)
    }

    /// The list's import status (`GET …/importstatus`).
    pub async fn get_import_status(&self, list_id: &str) -> Result<ImportStatus, GenesysError> {
        let url = self.list_url(list_id, &["importstatus"]);
        self.call_json(Call {
            method: Method::GET,
            route: IMPORT_STATUS,
            url,
            body: None,
        })
        .await
    }
}

/// Parses an export CSV into header → cell maps.
fn parse_export(list_id: &str, text: &str) -> Result<Vec<BTreeMap<String, String>>, GenesysError> {
    let bad = |e: csv::Error| GenesysError::Decode {
        route: format!("export of contact list {list_id}"),
        message: format!("the export file is not CSV: {e}"),
        correlation_id: None,
    };
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().map_err(bad)?.clone();
    reader
        .records()
        .map(|r| {
            r.map(|row| {
                headers
                    .iter()
                    .zip(row.iter())
                    .map(|(h, v)| (h.to_owned(), v.to_owned()))
                    .collect()
            })
            .map_err(bad)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_rows_map_headers_to_cells() {
        let rows = parse_export("l", "inin-outbound-id,name,phone\nc1,\"Ann, B\",+1\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["inin-outbound-id"], "c1");
        assert_eq!(rows[0]["name"], "Ann, B");
        assert!(
            parse_export("l", "a,b\n1,2,3\n").is_err(),
            "ragged rows are an error"
        );
    }
}

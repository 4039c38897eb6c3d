//! Bulk contact jobs, contact-list export and import status, on their real paths (SDK
//! `outbound_api.py` 269.0.0; models `ContactBulkSearchParameters`, `ContactBulkEditRequest`,
//! `ContactsBulkOperationJob`, `ContactsExportRequest`, `ExportUri`, `ImportStatus`):
//!
//! - `POST …/contactlists/{id}/contacts/bulk/remove` (criteria or a contact-list filter)
//!   and `…/bulk/update` (criteria, filter or `contactIds`, and the `contact` fields to set)
//!   answer a `ContactsBulkOperationJob` in state `InProgress`. The job works through its
//!   matches at [`EmulatorConfig::bulk_job_records_per_sec`](crate::EmulatorConfig) (as
//!   requests arrive and when polled), then reads `Complete`; contacts the dialer holds are
//!   skipped by a delete, as `DELETE …/contacts?contactIds=` does. Poll
//!   `GET …/contacts/bulk/jobs/{jobId}`; `GET …/contacts/bulk/jobs` lists the 10 most recent.
//! - `POST …/export` snapshots the list as CSV and answers a `DomainEntityRef`;
//!   `GET …/export` answers `ExportUri {uri, exportTimestamp}` (404 before any export) and,
//!   with `download=true`, redirects to the file. The file is served unauthenticated at
//!   `/_emulator/downloads/{token}`, like the presigned URL Genesys hands out. Columns:
//!   `inin-outbound-id`, the list's columns, `ContactCallable` (the exact system columns of
//!   a real export are UNVERIFIED beyond these).
//! - `GET …/importstatus` answers `ImportStatus`; the emulator has no CSV upload, so it is
//!   the finished state of the list's creation (`percentComplete` 100, the SDK's enum having
//!   no "complete" value — genesys-api.md §1.2).
//!
//! Criteria with more than [`MAX_IN_SET`] values in one `IN` predicate answer 400 (the real
//! cap is UNVERIFIED; clients chunk to it).

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::app::AppState;
use crate::error::{ApiError, ApiResult};
use crate::routes::outbound::{Criteria, check_columns, get_list, matches};
use crate::routes::{Params, json};
use crate::store::Store;

/// Largest `inSet` of one `IN` predicate the emulator accepts.
pub const MAX_IN_SET: usize = 1000;
/// Jobs `GET …/contacts/bulk/jobs` lists ("10 most recent").
const LISTED_JOBS: usize = 10;

/// What a bulk job does to each matched contact.
#[derive(Clone, Debug)]
pub(crate) enum JobKind {
    /// Remove it (`BulkDelete`).
    Delete,
    /// Set these `DialerContact` fields (`BulkEdit`).
    Edit(Map<String, Value>),
}

/// One bulk contact job.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    id: String,
    list_id: String,
    kind: JobKind,
    /// Matched contact ids, in list order, fixed when the job starts.
    targets: Vec<String>,
    done: usize,
    started: Instant,
}

impl Job {
    fn complete(&self) -> bool {
        self.done >= self.targets.len()
    }

    /// The `ContactsBulkOperationJob` answer.
    fn view(&self) -> Value {
        let total = self.targets.len();
        let percent = (self.done * 100).checked_div(total).unwrap_or(100);
        json!({
            "id": self.id,
            "state": if self.complete() { "Complete" } else { "InProgress" },
            "type": match self.kind { JobKind::Delete => "BulkDelete", JobKind::Edit(_) => "BulkEdit" },
            "totalRecords": total,
            "completedRecords": self.done,
            "percentComplete": percent,
            "selfUri": format!("/api/v2/outbound/contactlists/{}/contacts/bulk/jobs/{}", self.list_id, self.id),
        })
    }
}

/// A list's latest export.
#[derive(Clone, Debug)]
pub(crate) struct Export {
    token: String,
    timestamp: DateTime<Utc>,
    csv: String,
}

impl Store {
    /// Lets every running job process the records due by now at `rate` records/second.
    pub(crate) fn advance_jobs(&mut self, rate: f64) {
        let now = Instant::now();
        let mut work: Vec<(String, JobKind, Vec<String>)> = Vec::new();
        for jobs in self.jobs.values_mut() {
            for job in jobs.iter_mut().filter(|j| !j.complete()) {
                let due = (now.duration_since(job.started).as_secs_f64() * rate).floor() as usize;
                let due = due.clamp(job.done, job.targets.len());
                if due > job.done {
                    work.push((
                        job.list_id.clone(),
                        job.kind.clone(),
                        job.targets[job.done..due].to_vec(),
                    ));
                    job.done = due;
                }
            }
        }
        for (list_id, kind, ids) in work {
            let busy = self.in_use_of_list(&list_id);
            let Some(contacts) = self.contacts.get_mut(&list_id) else {
                continue;
            };
            for id in ids {
                match &kind {
                    JobKind::Delete if !busy.contains(&id) => {
                        contacts.remove(&id);
                    }
                    JobKind::Delete => {}
                    JobKind::Edit(fields) => {
                        if let Some(s) = contacts.get_mut(&id) {
                            apply_edit(&mut s.contact, fields);
                        }
                    }
                }
            }
        }
    }
}

/// Sets the edited fields of a contact: `data` entries are merged; `callable`,
/// `phoneNumberStatus` and `contactableStatus` replaced when given.
fn apply_edit(c: &mut crate::model::Contact, fields: &Map<String, Value>) {
    if let Some(Value::Object(data)) = fields.get("data") {
        for (k, v) in data {
            c.data.insert(k.clone(), v.clone());
        }
    }
    if let Some(b) = fields.get("callable").and_then(Value::as_bool) {
        c.callable = b;
    }
    if let Some(Value::Object(m)) = fields.get("phoneNumberStatus") {
        c.phone_number_status = m.clone().into_iter().collect();
    }
    if let Some(Value::Object(m)) = fields.get("contactableStatus") {
        c.contactable_status = m.clone().into_iter().collect();
    }
}

/// `ContactBulkSearchParameters` / `ContactBulkEditRequest` (one type: the remove body is
/// the edit body without `contactIds` and `contact`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkRequest {
    #[serde(default)]
    contact_list_filter_id: Option<String>,
    #[serde(default)]
    criteria: Option<Criteria>,
    #[serde(default)]
    contact_ids: Option<Vec<String>>,
    #[serde(default)]
    contact: Option<Map<String, Value>>,
}

/// The contact ids a bulk request selects, in list order.
fn select(store: &Store, list_id: &str, req: &BulkRequest) -> ApiResult<Vec<String>> {
    get_list(store, list_id)?;
    if let Some(f) = &req.contact_list_filter_id {
        return Err(ApiError::invalid_value(
            "contactListFilterId",
            format!(
                "contact list filter '{f}': the emulator has no contact list filters; send criteria"
            ),
        ));
    }
    let mut stored: Vec<_> = store
        .contacts
        .get(list_id)
        .into_iter()
        .flat_map(|m| m.values())
        .collect();
    stored.sort_by_key(|s| s.seq);
    match (&req.criteria, &req.contact_ids) {
        (Some(c), _) => {
            check_columns(store, list_id, c)?;
            let mut out = Vec::new();
            for s in stored {
                if matches(c, &s.contact)? {
                    out.push(s.contact.id.clone());
                }
            }
            Ok(out)
        }
        (None, Some(ids)) => Ok(stored
            .into_iter()
            .filter(|s| ids.contains(&s.contact.id))
            .map(|s| s.contact.id.clone())
            .collect()),
        (None, None) => Err(ApiError::invalid_value(
            "criteria",
            "one of contactListFilterId, criteria (or, for an update, contactIds) is required",
        )),
    }
}

fn check_in_sets(body: &Value) -> ApiResult<()> {
    for clause in body["criteria"]["clauses"].as_array().into_iter().flatten() {
        for p in clause["predicates"].as_array().into_iter().flatten() {
            let n = p["range"]["inSet"].as_array().map_or(0, Vec::len);
            if n > MAX_IN_SET {
                return Err(ApiError::invalid_value(
                    "criteria.clauses.predicates.range.inSet",
                    format!("{n} values in one IN predicate exceed the maximum of {MAX_IN_SET}"),
                )
                .limit("max.in.set.values", "outbound", MAX_IN_SET as i64));
            }
        }
    }
    Ok(())
}

fn start_job(
    sh: &AppState,
    list_id: &str,
    body: &[u8],
    model: &str,
    edit: bool,
) -> ApiResult<Json<Value>> {
    let raw: Value = json(body, model)?;
    check_in_sets(&raw)?;
    let req: BulkRequest =
        serde_json::from_value(raw).map_err(|e| ApiError::bad_request(format!("{model}: {e}")))?;
    let kind = if edit {
        let Some(fields) = req.contact.clone() else {
            return Err(ApiError::invalid_value(
                "contact",
                "contact (the fields to set) is required",
            ));
        };
        JobKind::Edit(fields)
    } else {
        if req.contact_ids.is_some() {
            return Err(ApiError::invalid_value(
                "contactIds",
                "contactIds is not a field of ContactBulkSearchParameters",
            ));
        }
        JobKind::Delete
    };
    let mut store = sh.store();
    let targets = select(&store, list_id, &req)?;
    let job = Job {
        id: store.new_id(),
        list_id: list_id.to_owned(),
        kind,
        targets,
        done: 0,
        started: Instant::now(),
    };
    let view = job.view();
    store.jobs.entry(list_id.to_owned()).or_default().push(job);
    Ok(Json(view))
}

/// `POST …/contacts/bulk/remove`.
pub(crate) async fn bulk_remove(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    start_job(&sh, &list_id, &body, "ContactBulkSearchParameters", false)
}

/// `POST …/contacts/bulk/update`.
pub(crate) async fn bulk_update(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    start_job(&sh, &list_id, &body, "ContactBulkEditRequest", true)
}

/// `GET …/contacts/bulk/jobs/{jobId}`.
pub(crate) async fn get_job(
    State(sh): State<AppState>,
    Path((list_id, job_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let rate = sh.config().bulk_job_records_per_sec;
    let mut store = sh.store();
    get_list(&store, &list_id)?;
    store.advance_jobs(rate);
    store
        .jobs
        .get(&list_id)
        .and_then(|jobs| jobs.iter().find(|j| j.id == job_id))
        .map(|j| Json(j.view()))
        .ok_or_else(|| ApiError::not_found("bulk job", &job_id))
}

/// `GET …/contacts/bulk/jobs`: the 10 most recent, newest first.
pub(crate) async fn list_jobs(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let rate = sh.config().bulk_job_records_per_sec;
    let mut store = sh.store();
    get_list(&store, &list_id)?;
    store.advance_jobs(rate);
    let entities: Vec<Value> = store
        .jobs
        .get(&list_id)
        .into_iter()
        .flat_map(|jobs| jobs.iter().rev().take(LISTED_JOBS))
        .map(Job::view)
        .collect();
    Ok(Json(json!({ "entities": entities })))
}

/// `POST …/export` (optional `ContactsExportRequest`: `contactIds` or criteria narrow it).
pub(crate) async fn export_start(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let req: Option<BulkRequest> = if body.is_empty() {
        None
    } else {
        let raw: Value = json(&body, "ContactsExportRequest")?;
        check_in_sets(&raw)?;
        Some(
            serde_json::from_value(raw)
                .map_err(|e| ApiError::bad_request(format!("ContactsExportRequest: {e}")))?,
        )
    };
    let mut store = sh.store();
    let list = get_list(&store, &list_id)?.clone();
    let ids = match &req {
        Some(r) if r.criteria.is_some() || r.contact_ids.is_some() => {
            Some(select(&store, &list_id, r)?)
        }
        _ => None,
    };
    let mut stored: Vec<_> = store
        .contacts
        .get(&list_id)
        .into_iter()
        .flat_map(|m| m.values())
        .filter(|s| ids.as_ref().is_none_or(|ids| ids.contains(&s.contact.id)))
        .collect();
    stored.sort_by_key(|s| s.seq);
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = vec!["inin-outbound-id".to_owned()];
    header.extend(list.column_names.iter().cloned());
    header.push("ContactCallable".to_owned());
    let csv_err = |e: csv::Error| ApiError::bad_request(format!("export: {e}"));
    w.write_record(&header).map_err(csv_err)?;
    for s in stored {
        let mut row = vec![s.contact.id.clone()];
        for col in &list.column_names {
            row.push(
                s.contact
                    .data
                    .get(col)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
        row.push(s.contact.callable.to_string());
        w.write_record(&row).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ApiError::bad_request(format!("export: {e}")))?;
    let token = store.new_id();
    store.exports.insert(
        list_id.clone(),
        Export {
            token,
            timestamp: Utc::now(),
            csv: String::from_utf8_lossy(&bytes).into_owned(),
        },
    );
    Ok(Json(json!({
        "id": list_id,
        "name": list.name,
        "selfUri": format!("/api/v2/outbound/contactlists/{list_id}"),
    })))
}

/// `GET …/export`: `ExportUri`, or with `download=true` a redirect to the file.
pub(crate) async fn export_get(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let download = Params::parse(q).flag("download")?;
    let store = sh.store();
    get_list(&store, &list_id)?;
    let Some(export) = store.exports.get(&list_id) else {
        return Err(ApiError::not_found("contact list export", &list_id));
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let uri = format!("http://{host}/_emulator/downloads/{}", export.token);
    if download {
        return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, uri)]).into_response());
    }
    Ok(Json(json!({"uri": uri, "exportTimestamp": export.timestamp.to_rfc3339()})).into_response())
}

/// `GET /_emulator/downloads/{token}`: an export file (no auth, like a presigned URL).
pub(crate) async fn download(
    State(sh): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let store = sh.store();
    let export = store
        .exports
        .values()
        .find(|e| e.token == token)
        .ok_or_else(|| ApiError::not_found("download", &token))?;
    Ok(([(header::CONTENT_TYPE, "text/csv")], export.csv.clone()).into_response())
}

/// `GET …/importstatus`.
pub(crate) async fn import_status(
    State(sh): State<AppState>,
    Path(list_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let store = sh.store();
    get_list(&store, &list_id)?;
    let total = store.contacts.get(&list_id).map_or(0, |m| m.len());
    Ok(Json(json!({
        "totalRecords": total,
        "completedRecords": total,
        "percentComplete": 100,
        "targetContactListIds": [list_id],
    })))
}

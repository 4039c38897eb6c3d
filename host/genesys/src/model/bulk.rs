//! Bulk contact jobs, contact-list export and import status (SDK models
//! `ContactBulkSearchParameters`, `ContactBulkEditRequest`, `ContactsBulkOperationJob`,
//! `ContactsExportRequest`, `ExportUri`, `ImportStatus`; PureCloudPlatformClientV2 269.0.0).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::contact_list::{
    ColumnType, ContactBulkSearchCriteria, ContactListFilterClause, ContactListFilterPredicate,
    FilterOperator, FilterType,
};

/// Body of `POST …/contacts/bulk/remove`: which contacts to delete (a filter or criteria).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactBulkSearchParameters {
    /// A saved contact-list filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_list_filter_id: Option<String>,
    /// Ad-hoc criteria.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criteria: Option<ContactBulkSearchCriteria>,
    /// Whether the job produces a download of the affected contacts (Genesys default true).
    #[serde(
        rename = "generateDownloadURI",
        skip_serializing_if = "Option::is_none"
    )]
    pub generate_download_uri: Option<bool>,
}

/// Body of `POST …/contacts/bulk/update`: which contacts, and the fields to set on them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactBulkEditRequest {
    /// A saved contact-list filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_list_filter_id: Option<String>,
    /// Ad-hoc criteria.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub criteria: Option<ContactBulkSearchCriteria>,
    /// The contacts by id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_ids: Option<Vec<String>>,
    /// `DialerContact` fields to set (e.g. `{"callable": false}`).
    pub contact: Map<String, Value>,
    /// Whether the job produces a download of the affected contacts.
    #[serde(
        rename = "generateDownloadURI",
        skip_serializing_if = "Option::is_none"
    )]
    pub generate_download_uri: Option<bool>,
}

/// A bulk job's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Still working.
    InProgress,
    /// Done.
    Complete,
    /// Stopped with `failureReason`.
    Failed,
}

/// `ContactsBulkOperationJob`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactsBulkOperationJob {
    /// Job id (poll `GET …/contacts/bulk/jobs/{jobId}`).
    pub id: String,
    /// State.
    pub state: JobState,
    /// `BulkDelete` or `BulkEdit`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Contacts the job affects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_records: Option<u64>,
    /// Contacts done so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_records: Option<u64>,
    /// 0–100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_complete: Option<u32>,
    /// Why the job failed (an `ErrorInfo`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<Value>,
    /// Download of the affected contacts, when asked for.
    #[serde(rename = "downloadURI", skip_serializing_if = "Option::is_none")]
    pub download_uri: Option<String>,
}

/// `ExportUri`: where the latest export of a list can be downloaded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportUri {
    /// Download URL (presigned; fetched without the bearer token).
    pub uri: String,
    /// When the export was taken (ISO-8601).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_timestamp: Option<String>,
}

/// `ImportStatus` of a contact list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportStatus {
    /// `IN_PROGRESS` or `FAILED` (absent when no import runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Records in the import.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_records: Option<u64>,
    /// Records imported so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_records: Option<u64>,
    /// 0–100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent_complete: Option<u32>,
    /// Why the import failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

impl ContactBulkSearchCriteria {
    /// Contacts whose `column` is one of `values` (`IN` with `range.inSet`, as the SDK's
    /// `ContactListFilterRange` documents for `IN`).
    pub fn column_in(column: impl Into<String>, values: &[String]) -> Self {
        Self {
            filter_type: Some(FilterType::And),
            clauses: vec![ContactListFilterClause {
                filter_type: Some(FilterType::And),
                predicates: vec![ContactListFilterPredicate {
                    column: column.into(),
                    column_type: Some(ColumnType::Alphabetic),
                    operator: FilterOperator::In,
                    value: None,
                    range: Some(serde_json::json!({ "inSet": values })),
                    inverted: None,
                }],
            }],
        }
    }
}

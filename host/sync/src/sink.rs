//! The Genesys operations the engine needs, as a narrow port.
//!
//! The engine speaks only this trait; [`super::genesys_sink`] implements it over the typed
//! Genesys client. Keeping the port narrow keeps retry-class decisions (park, reject,
//! bisect) in one place and out of the HTTP client.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use thiserror::Error;

use super::change::Row;

/// A contact list's shape, fetched once per list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListShape {
    /// All data columns.
    pub columns: BTreeSet<String>,
    /// The phone columns (a subset of `columns`).
    pub phone_columns: BTreeSet<String>,
}

/// One contact to upsert by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactWrite {
    /// The derived contact id.
    pub contact_id: String,
    /// Data and callable flag.
    pub row: Row,
}

/// How the engine treats a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkErrorKind {
    /// The API refused the request (4xx other than 409/429/401): never retried.
    Rejected,
    /// 409: the contact is locked (e.g. by the dialer); park and retry later.
    Conflict,
    /// 5xx, timeouts, 429s or auth failures left after the client's own retries.
    Transient,
}

/// A failed Genesys call, classified.
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct SinkError {
    /// The class.
    pub kind: SinkErrorKind,
    /// The API's message (never a secret).
    pub message: String,
}

/// The Genesys operations the sync engine performs.
pub trait ContactSink: Send + Sync {
    /// The list's columns and phone columns.
    fn list_shape<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<ListShape, SinkError>>;
    /// Adds-or-updates contacts by id (one call).
    fn upsert<'a>(
        &'a self,
        list_id: &'a str,
        shape: &'a ListShape,
        contacts: &'a [ContactWrite],
    ) -> BoxFuture<'a, Result<(), SinkError>>;
    /// Reads contacts by id; absent ids are missing from the map.
    fn fetch<'a>(
        &'a self,
        list_id: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, Row>, SinkError>>;
    /// Deletes contacts by id.
    fn delete<'a>(
        &'a self,
        list_id: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>>;
    /// Deletes the contacts whose `column` holds one of `values` in one asynchronous bulk
    /// job, waited for until it completes (fewer requests than [`ContactSink::delete`] for
    /// a big delete).
    fn delete_by_column<'a>(
        &'a self,
        list_id: &'a str,
        column: &'a str,
        values: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>>;
    /// Adds numbers to a DNC list.
    fn dnc_add<'a>(
        &'a self,
        dnc_list_id: &'a str,
        numbers: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>>;
    /// Whether a running campaign uses the list.
    fn list_in_use<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<bool, SinkError>>;
}

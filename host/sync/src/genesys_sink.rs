//! [`ContactSink`] over the typed Genesys client.
//!
//! The client already retries 429s, 5xx and 401s within its budget; whatever error is left
//! is classified here for the engine: 409 → park (conflict), other 4xx → reject, the rest →
//! retry later (transient). A bulk remove job that Genesys reports failed, or that does
//! not finish in time, is transient too.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dialsync_genesys::model::PhoneNumberStatus;
use dialsync_genesys::{
    AddContactsOptions, GenesysClient, GenesysError, RetryClass, WritableDialerContact,
};
use futures::future::BoxFuture;

use super::change::Row;
use super::sink::{ContactSink, ContactWrite, ListShape, SinkError, SinkErrorKind};

/// How long a bulk remove job may run before the round gives up on it (the keys are
/// retried later; removing again is harmless).
const BULK_JOB_LIMIT: Duration = Duration::from_secs(120);

/// The engine's port onto one org's Genesys client.
#[derive(Clone)]
pub struct GenesysSink {
    client: GenesysClient,
}

impl GenesysSink {
    /// Wraps a client.
    pub fn new(client: GenesysClient) -> GenesysSink {
        GenesysSink { client }
    }

    /// The client (for its request statistics).
    pub fn client(&self) -> &GenesysClient {
        &self.client
    }
}

fn classify(e: GenesysError) -> SinkError {
    let kind = match e.retry_class() {
        RetryClass::Conflict => SinkErrorKind::Conflict,
        RetryClass::Rejected => SinkErrorKind::Rejected,
        RetryClass::RateLimited | RetryClass::Transient | RetryClass::Unauthorized => {
            SinkErrorKind::Transient
        }
    };
    SinkError {
        kind,
        message: e.to_string(),
    }
}

fn writable(list_id: &str, shape: &ListShape, c: &ContactWrite) -> WritableDialerContact {
    let statuses: BTreeMap<String, PhoneNumberStatus> = shape
        .phone_columns
        .iter()
        .filter(|col| c.row.data.contains_key(*col))
        .map(|col| {
            (
                col.clone(),
                PhoneNumberStatus {
                    callable: Some(c.row.callable),
                },
            )
        })
        .collect();
    WritableDialerContact {
        id: Some(c.contact_id.clone()),
        contact_list_id: list_id.to_string(),
        data: c.row.data.clone(),
        callable: Some(c.row.callable),
        phone_number_status: (!statuses.is_empty()).then_some(statuses),
        ..Default::default()
    }
}

impl ContactSink for GenesysSink {
    fn list_shape<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<ListShape, SinkError>> {
        Box::pin(async move {
            let list = self
                .client
                .get_contact_list(list_id)
                .await
                .map_err(classify)?;
            Ok(ListShape {
                columns: list.column_names.into_iter().collect(),
                phone_columns: list
                    .phone_columns
                    .into_iter()
                    .map(|p| p.column_name)
                    .collect::<BTreeSet<_>>(),
            })
        })
    }

    fn upsert<'a>(
        &'a self,
        list_id: &'a str,
        shape: &'a ListShape,
        contacts: &'a [ContactWrite],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let body: Vec<WritableDialerContact> = contacts
                .iter()
                .map(|c| writable(list_id, shape, c))
                .collect();
            // Updated contacts keep their place in the dialer's queue (doNotQueue): a CRM
            // edit must not make the dialer call someone again.
            let opts = AddContactsOptions {
                do_not_queue: Some(true),
                ..Default::default()
            };
            self.client
                .add_contacts(list_id, &body, opts)
                .await
                .map_err(classify)?;
            Ok(())
        })
    }

    fn fetch<'a>(
        &'a self,
        list_id: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, Row>, SinkError>> {
        Box::pin(async move {
            let found = self
                .client
                .get_contacts_bulk(list_id, ids)
                .await
                .map_err(classify)?;
            Ok(found
                .into_iter()
                .filter_map(|c| {
                    let id = c.id?;
                    Some((
                        id,
                        Row {
                            data: c.data,
                            callable: c.callable.unwrap_or(true),
                        },
                    ))
                })
                .collect())
        })
    }

    fn delete<'a>(
        &'a self,
        list_id: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.client
                .delete_contacts(list_id, ids)
                .await
                .map_err(classify)
        })
    }

    fn delete_by_column<'a>(
        &'a self,
        list_id: &'a str,
        column: &'a str,
        values: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            match self
                .client
                .bulk_remove_by_column(list_id, column, values, BULK_JOB_LIMIT)
                .await
            {
                Ok(_) => Ok(()),
                // A job that failed on Genesys's side says nothing against the request
                // (that would have been a 400 on submit): try again later, as for a 5xx.
                Err(e @ GenesysError::Job { .. }) => Err(SinkError {
                    kind: SinkErrorKind::Transient,
                    message: e.to_string(),
                }),
                Err(e) => Err(classify(e)),
            }
        })
    }

    fn dnc_add<'a>(
        &'a self,
        dnc_list_id: &'a str,
        numbers: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            self.client
                .dnc_add(dnc_list_id, numbers)
                .await
                .map_err(classify)
        })
    }

    fn list_in_use<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<bool, SinkError>> {
        Box::pin(async move {
            let campaigns = self.client.list_campaigns().await.map_err(classify)?;
            Ok(campaigns.iter().any(|c| {
                c.is_running()
                    && c.contact_list.as_ref().and_then(|l| l.id.as_deref()) == Some(list_id)
            }))
        })
    }
}

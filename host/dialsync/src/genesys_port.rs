//! The plugin host's [`GenesysPort`] over the typed Genesys client, restricted to the
//! contact lists of the source the plugin runs for: a plugin can read its own tenant's
//! contacts (to resolve identities) and nothing else.

use std::collections::BTreeSet;

use dialsync_genesys::{
    ContactListingRequest, DialerContact, GenesysClient, GenesysError, RetryClass,
};
use dialsync_plugin_host::{GenesysPort, PortContact, PortError};
use futures::future::BoxFuture;

/// Search results a plugin gets at most (one page).
const MAX_SEARCH_RESULTS: u32 = 100;

/// A [`GenesysPort`] for one source: its org's client, its list(s) only.
#[derive(Clone)]
pub struct SourceGenesysPort {
    client: GenesysClient,
    lists: BTreeSet<String>,
}

impl SourceGenesysPort {
    /// A port allowing only `lists`.
    pub fn new(client: GenesysClient, lists: impl IntoIterator<Item = String>) -> Self {
        SourceGenesysPort {
            client,
            lists: lists.into_iter().collect(),
        }
    }

    fn allow(&self, list_id: &str) -> Result<(), PortError> {
        if self.lists.contains(list_id) {
            Ok(())
        } else {
            Err(PortError::Forbidden(format!(
                "contact list {list_id} is not one of this source's lists"
            )))
        }
    }
}

fn port_error(e: GenesysError) -> PortError {
    match e.retry_class() {
        RetryClass::Rejected | RetryClass::Conflict => PortError::Rejected(e.to_string()),
        RetryClass::RateLimited | RetryClass::Transient | RetryClass::Unauthorized => {
            PortError::Unavailable(e.to_string())
        }
    }
}

fn port_contact(list_id: &str, c: DialerContact) -> Option<PortContact> {
    Some(PortContact {
        id: c.id?,
        contact_list_id: if c.contact_list_id.is_empty() {
            list_id.to_string()
        } else {
            c.contact_list_id
        },
        data: c.data,
        callable: c.callable.unwrap_or(true),
    })
}

impl GenesysPort for SourceGenesysPort {
    fn get_contact<'a>(
        &'a self,
        list_id: &'a str,
        contact_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<PortContact>, PortError>> {
        Box::pin(async move {
            self.allow(list_id)?;
            let found = self
                .client
                .get_contact(list_id, contact_id)
                .await
                .map_err(port_error)?;
            Ok(found.and_then(|c| port_contact(list_id, c)))
        })
    }

    fn search_contacts<'a>(
        &'a self,
        list_id: &'a str,
        column: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PortContact>, PortError>> {
        Box::pin(async move {
            self.allow(list_id)?;
            let request = ContactListingRequest::column_equals(column, value, MAX_SEARCH_RESULTS);
            let page = self
                .client
                .search_contacts(list_id, &request)
                .await
                .map_err(port_error)?;
            Ok(page
                .entities
                .into_iter()
                .filter_map(|c| port_contact(list_id, c))
                .collect())
        })
    }
}

//! The Genesys Cloud calls a plugin may make, as a trait the `dialsync` crate
//! implements over its Genesys client (with the tenant's token, rate limit,
//! retries, and restricted to the tenant's contact lists). The runtime only
//! forwards the guest's `genesys` imports to it.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

/// A contact as Genesys Cloud holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortContact {
    /// Contact id.
    pub id: String,
    /// The list it belongs to.
    pub contact_list_id: String,
    /// Column → value.
    pub data: BTreeMap<String, String>,
    /// Whether it may be dialled.
    pub callable: bool,
}

/// Why a Genesys call made on a plugin's behalf failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The list is not one this plugin's tenant may read.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Genesys Cloud refused the request (4xx).
    #[error("rejected: {0}")]
    Rejected(String),
    /// Genesys Cloud could not answer after the host's retries.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// Genesys Cloud access given to a plugin during one call.
pub trait GenesysPort: Send + Sync {
    /// One contact by id; `None` when it does not exist.
    fn get_contact<'a>(
        &'a self,
        list_id: &'a str,
        contact_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<PortContact>, PortError>>;

    /// Contacts whose `column` equals `value` (first page, at most 100).
    fn search_contacts<'a>(
        &'a self,
        list_id: &'a str,
        column: &'a str,
        value: &'a str,
    ) -> BoxFuture<'a, Result<Vec<PortContact>, PortError>>;
}

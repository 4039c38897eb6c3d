//! Contact lists, contacts and DNC lists (`/api/v2/outbound/contactlists/…`,
//! `/api/v2/outbound/dnclists/…`).

use std::collections::HashMap;

use reqwest::Method;

use super::jobs::{Pacing, Step, poll_job};
use crate::client::{Call, GenesysClient};
use crate::consistency::{FIRST_PAUSE, MAX_PAUSE, Wrote};
use crate::error::GenesysError;
use crate::model::{
    AddContactsOptions, ContactList, ContactListingRequest, ContactListingResponse, DialerContact,
    DncAction, DncPatchPhoneNumbersRequest, WritableDialerContact,
};

/// Ids per `DELETE …/contacts?contactIds=` call (query-string length; the commonly quoted cap).
const DELETE_IDS_PER_CALL: usize = 100;
/// Ids per `POST …/contacts/bulk` call.
const GET_IDS_PER_CALL: usize = 100;

const CONTACTS: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts";
const CONTACT: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts/{contactId}";
const CONTACTS_BULK: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts/bulk";
const CONTACTS_SEARCH: &str = "/api/v2/outbound/contactlists/{contactListId}/contacts/search";
const CONTACT_LIST: &str = "/api/v2/outbound/contactlists/{contactListId}";
const CONTACT_LISTS: &str = "/api/v2/outbound/contactlists";
const DNC_PHONE_NUMBERS: &str = "/api/v2/outbound/dnclists/{dncListId}/phonenumbers";

impl GenesysClient {
    /// Adds or updates contacts: `POST …/contactlists/{listId}/contacts` (upsert keyed on
    /// `id`). Returns the resulting contacts in request order.
    ///
    /// Retried on 429/5xx/timeouts like every call. Retrying this POST is safe only because
    /// dialsync supplies every contact's `id` (derived from its externalId): a repeat updates
    /// the same contacts. Callers that leave `id` out risk duplicates on a retried timeout.
    /// The per-call size cap (1000, configurable in dialsync) is the caller's to respect.
    pub async fn add_contacts(
        &self,
        list_id: &str,
        contacts: &[WritableDialerContact],
        opts: AddContactsOptions,
    ) -> Result<Vec<DialerContact>, GenesysError> {
        let mut url = self.list_url(list_id, &["contacts"]);
        {
            let mut q = url.query_pairs_mut();
            if let Some(v) = opts.priority {
                q.append_pair("priority", bool_str(v));
            }
            if let Some(v) = opts.clear_system_data {
                q.append_pair("clearSystemData", bool_str(v));
            }
            if let Some(v) = opts.do_not_queue {
                q.append_pair("doNotQueue", bool_str(v));
            }
        }
        let body = Self::json_body(CONTACTS, contacts)?;
        let added: Vec<DialerContact> = self
            .call_json(Call {
                method: Method::POST,
                route: CONTACTS,
                url,
                body,
            })
            .await?;
        self.note_writes(
            list_id,
            added.iter().filter_map(|c| c.id.as_deref()),
            Wrote::Present,
        );
        Ok(added)
    }

    /// One contact, or `None` when the list or contact does not exist (404).
    ///
    /// Read-after-write: when this client wrote the contact within
    /// [`OrgSettings::read_after_write`](crate::OrgSettings::read_after_write) and the answer
    /// contradicts it (a 404 after a write, the contact still there after a delete), the
    /// contact is re-read with a doubling pause (100 ms up to 1 s) until the answer agrees or
    /// the window ends; the last answer is returned. Other 404s are answered at once.
    pub async fn get_contact(
        &self,
        list_id: &str,
        contact_id: &str,
    ) -> Result<Option<DialerContact>, GenesysError> {
        let Some((wrote, end)) = self.expected_write(list_id, contact_id) else {
            return self.get_contact_once(list_id, contact_id).await;
        };
        let pacing = Pacing {
            first: FIRST_PAUSE,
            max: MAX_PAUSE,
        };
        poll_job(
            pacing,
            end,
            || async move {
                let got = self.get_contact_once(list_id, contact_id).await?;
                let contradicts = match wrote {
                    Wrote::Present => got.is_none(),
                    Wrote::Deleted => got.is_some(),
                };
                if !contradicts {
                    return Ok(Step::Done(got));
                }
                tracing::debug!(org = %self.org(), list_id, contact_id, "re-reading a contact written moments ago");
                Ok(Step::Pending(got))
            },
            Ok,
        )
        .await
    }

    async fn get_contact_once(
        &self,
        list_id: &str,
        contact_id: &str,
    ) -> Result<Option<DialerContact>, GenesysError> {
        let url = self.contact_url(list_id, contact_id);
        let result = self
            .call_json(Call {
                method: Method::GET,
                route: CONTACT,
                url,
                body: None,
            })
            .await;
        match result {
            Ok(contact) => Ok(Some(contact)),
            Err(GenesysError::Rejected(f)) if f.status == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces one contact: `PUT …/contacts/{contactId}` with the full contact.
    pub async fn put_contact(
        &self,
        list_id: &str,
        contact_id: &str,
        contact: &DialerContact,
    ) -> Result<DialerContact, GenesysError> {
        let url = self.contact_url(list_id, contact_id);
        let body = Self::json_body(CONTACT, contact)?;
        let put = self
            .call_json(Call {
                method: Method::PUT,
                route: CONTACT,
                url,
                body,
            })
            .await?;
        self.note_writes(list_id, [contact_id], Wrote::Present);
        Ok(put)
    }

    /// Deletes one contact.
    pub async fn delete_contact(
        &self,
        list_id: &str,
        contact_id: &str,
    ) -> Result<(), GenesysError> {
        let url = self.contact_url(list_id, contact_id);
        self.call_empty(Call {
            method: Method::DELETE,
            route: CONTACT,
            url,
            body: None,
        })
        .await?;
        self.note_writes(list_id, [contact_id], Wrote::Deleted);
        Ok(())
    }

    /// Deletes contacts by id (`DELETE …/contacts?contactIds=…`, 100 ids per call). Genesys
    /// silently skips contacts in use by a running campaign.
    pub async fn delete_contacts(&self, list_id: &str, ids: &[String]) -> Result<(), GenesysError> {
        for chunk in ids.chunks(DELETE_IDS_PER_CALL) {
            let mut url = self.list_url(list_id, &["contacts"]);
            {
                let mut q = url.query_pairs_mut();
                for id in chunk {
                    q.append_pair("contactIds", id);
                }
            }
            self.call_empty(Call {
                method: Method::DELETE,
                route: CONTACTS,
                url,
                body: None,
            })
            .await?;
            // Not noted for read-after-write: Genesys silently skips contacts in use, so
            // which ones went is unknown.
        }
        Ok(())
    }

    /// Contacts by id (`POST …/contacts/bulk`, 100 ids per call); unknown ids are absent.
    pub async fn get_contacts_bulk(
        &self,
        list_id: &str,
        ids: &[String],
    ) -> Result<Vec<DialerContact>, GenesysError> {
        let mut all = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(GET_IDS_PER_CALL) {
            let url = self.list_url(list_id, &["contacts", "bulk"]);
            let body = Self::json_body(CONTACTS_BULK, chunk)?;
            let page: Vec<DialerContact> = self
                .call_json(Call {
                    method: Method::POST,
                    route: CONTACTS_BULK,
                    url,
                    body,
                })
                .await?;
            all.extend(page);
        }
        Ok(all)
    }

    /// One page of a contact search (`POST …/contacts/search`).
    pub async fn search_contacts(
        &self,
        list_id: &str,
        request: &ContactListingRequest,
    ) -> Result<ContactListingResponse, GenesysError> {
        let url = self.list_url(list_id, &["contacts", "search"]);
        let body = Self::json_body(CONTACTS_SEARCH, request)?;
        self.call_json(Call {
            method: Method::POST,
            route: CONTACTS_SEARCH,
            url,
            body,
        })
        .await
    }

    /// A contact list (with its `size`).
    pub async fn get_contact_list(&self, id: &str) -> Result<ContactList, GenesysError> {
        let mut url = self.url(&["api", "v2", "outbound", "contactlists", id]);
        url.query_pairs_mut().append_pair("includeSize", "true");
        self.call_json(Call {
            method: Method::GET,
            route: CONTACT_LIST,
            url,
            body: None,
        })
        .await
    }

    /// Creates a contact list (`columnNames` and `phoneColumns` are fixed from then on).
    pub async fn create_contact_list(
        &self,
        list: &ContactList,
    ) -> Result<ContactList, GenesysError> {
        let url = self.url(&["api", "v2", "outbound", "contactlists"]);
        let body = Self::json_body(CONTACT_LISTS, list)?;
        self.call_json(Call {
            method: Method::POST,
            route: CONTACT_LISTS,
            url,
            body,
        })
        .await
    }

    /// Puts numbers on a DNC list (`PATCH …/dnclists/{id}/phonenumbers`, action `Add`).
    pub async fn dnc_add(&self, dnc_list_id: &str, numbers: &[String]) -> Result<(), GenesysError> {
        self.dnc_patch(dnc_list_id, DncAction::Add, numbers).await
    }

    /// Takes numbers off a DNC list (`PATCH …/dnclists/{id}/phonenumbers`, action `Remove`).
    pub async fn dnc_remove(
        &self,
        dnc_list_id: &str,
        numbers: &[String],
    ) -> Result<(), GenesysError> {
        self.dnc_patch(dnc_list_id, DncAction::Remove, numbers)
            .await
    }

    async fn dnc_patch(
        &self,
        dnc_list_id: &str,
        action: DncAction,
        numbers: &[String],
    ) -> Result<(), GenesysError> {
        if numbers.is_empty() {
            return Ok(());
        }
        let url = self.url(&[
            "api",
            "v2",
            "outbound",
            "dnclists",
            dnc_list_id,
            "phonenumbers",
        ]);
        let request = DncPatchPhoneNumbersRequest {
            action,
            phone_numbers: numbers.to_vec(),
            expiration_date_time: None,
        };
        let body = Self::json_body(DNC_PHONE_NUMBERS, &request)?;
        self.call_empty(Call {
            method: Method::PATCH,
            route: DNC_PHONE_NUMBERS,
            url,
            body,
        })
        .await
    }

    fn contact_url(&self, list_id: &str, contact_id: &str) -> url::Url {
        self.list_url(list_id, &["contacts", contact_id])
    }

    /// `…/api/v2/outbound/contactlists/{list_id}/` + `tail` (each segment escaped).
    pub(crate) fn list_url(&self, list_id: &str, tail: &[&str]) -> url::Url {
        let mut segments = vec!["api", "v2", "outbound", "contactlists", list_id];
        segments.extend_from_slice(tail);
        self.url(&segments)
    }
}

fn bool_str(v: bool) -> &'static str {
    if v { "true" } else { "false" }
}

/// Keeps the last entry per id, in first-seen order (merging chunked bulk answers).
pub(crate) fn merge_by_id<T>(items: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        match index.get(id(&item)) {
            Some(&i) => out[i] = item,
            None => {
                index.insert(id(&item).to_owned(), out.len());
                out.push(item);
            }
        }
    }
    out
}

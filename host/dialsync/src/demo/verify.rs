//! The demo's final checks: what the emulator holds (contacts per list, duplicates by
//! externalId, uncallable contacts, DNC numbers), and a read-back of every contact the
//! journal says it wrote, through the Genesys API, compared with what it wrote.

use std::collections::BTreeSet;

use dialsync_emulator::StateDump;
use dialsync_genesys::GenesysClient;
use futures::StreamExt;

use super::DemoError;
use super::report::ListState;
use crate::sync::{EXTERNAL_ID_COLUMN, Engine};

/// Read-backs in flight at once.
const READ_CONCURRENCY: usize = 8;

/// One list's contacts as the emulator holds them.
pub fn list_state(state: &StateDump, source: &str, list_id: &str) -> ListState {
    let contacts = state
        .contact_list(list_id)
        .map(|l| l.contacts.as_slice())
        .unwrap_or_default();
    let distinct: BTreeSet<&str> = contacts
        .iter()
        .filter_map(|c| c.data.get(EXTERNAL_ID_COLUMN).and_then(|v| v.as_str()))
        .collect();
    let total = contacts.len() as u64;
    ListState {
        source: source.to_string(),
        list_id: list_id.to_string(),
        contacts: total,
        distinct_external_ids: distinct.len() as u64,
        duplicates: total - distinct.len() as u64,
        uncallable: contacts.iter().filter(|c| !c.callable).count() as u64,
    }
}

/// A key to read back: (source, contact list, externalId).
pub type Key = (String, String, String);

/// Reads every key's contact through the API and compares it with the journal's last
/// written row; returns how many were read and a line per difference.
pub async fn read_back(
    engine: &Engine,
    client: &GenesysClient,
    keys: Vec<Key>,
) -> Result<(u64, Vec<String>), DemoError> {
    let checks = futures::stream::iter(keys)
        .map(|(source, list_id, external_id)| async move {
            check_one(engine, client, &source, &list_id, &external_id).await
        })
        .buffer_unordered(READ_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut read = 0;
    let mut mismatches = Vec::new();
    for check in checks {
        if let Some(problem) = check? {
            mismatches.push(problem);
        }
        read += 1;
    }
    mismatches.sort();
    Ok((read, mismatches))
}

async fn check_one(
    engine: &Engine,
    client: &GenesysClient,
    source: &str,
    list_id: &str,
    external_id: &str,
) -> Result<Option<String>, DemoError> {
    let statuses = engine.status(external_id, Some(source)).await?;
    let Some(status) = statuses.into_iter().find(|s| s.list_id == list_id) else {
        return Ok(Some(format!(
            "{source} {external_id}: the journal has no record of it"
        )));
    };
    let contact = client.get_contact(list_id, &status.contact_id).await?;
    Ok(match (status.row, contact) {
        (None, None) => None,
        (None, Some(_)) => Some(format!(
            "{source} {external_id}: in Genesys although nothing was ever written for it"
        )),
        (Some(_), None) => Some(format!(
            "{source} {external_id}: written but missing from Genesys"
        )),
        (Some(row), Some(contact)) => {
            let differing: Vec<&str> = row
                .data
                .iter()
                .filter(|(k, v)| contact.data.get(*k).map(String::as_str).unwrap_or("") != *v)
                .map(|(k, _)| k.as_str())
                .collect();
            if !differing.is_empty() {
                Some(format!(
                    "{source} {external_id}: columns {} differ from what was written",
                    differing.join(", ")
                ))
            } else if contact.callable.unwrap_or(true) != row.callable {
                Some(format!(
                    "{source} {external_id}: callable is {:?}, {} was written",
                    contact.callable, row.callable
                ))
            } else {
                None
            }
        }
    })
}

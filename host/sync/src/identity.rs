//! Contact identity and change detection.
//!
//! A contact's Genesys id is derived from (contact list id, externalId) with UUIDv5, so the
//! same CRM record always maps to the same contact: the real add endpoint
//! (`POST .../contacts` with ids) then acts as an idempotent upsert — no GET-before-write,
//! safe to replay after a crash. The content hash lets the engine skip writes that would
//! not change anything.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::change::Target;

/// Namespace for dialsync contact ids (a fixed random UUID; changing it would re-key every
/// contact, so it never changes).
const CONTACT_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_2a0e_5b7d_4c3e_9a41_d2e8_0b6f_7c15);

/// The Genesys contact id for an externalId in a contact list: a lowercase hyphenated
/// UUID (the API's id format), stable across runs and machines.
pub fn contact_id(list_id: &str, external_id: &str) -> String {
    // Length-prefix the list id so ("a", "bc") and ("ab", "c") never collide.
    let name = format!("{}:{}:{}", list_id.len(), list_id, external_id);
    Uuid::new_v5(&CONTACT_NAMESPACE, name.as_bytes()).to_string()
}

/// A hex sha256 over what would be written for a contact: equal hashes mean a write
/// would change nothing.
pub fn content_hash(target: &Target) -> String {
    let canonical = serde_json::to_vec(target).expect("a target always serialises");
    hex::encode(Sha256::digest(&canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_id_is_stable_and_uuid_shaped() {
        let a = contact_id("list-1", "SN_abc");
        assert_eq!(a, contact_id("list-1", "SN_abc"));
        assert_eq!(Uuid::parse_str(&a).unwrap().get_version_num(), 5);
        assert_eq!(a, a.to_lowercase());
        assert_ne!(a, contact_id("list-2", "SN_abc"));
        assert_ne!(a, contact_id("list-1", "SN_abd"));
        assert_ne!(contact_id("a", "bc"), contact_id("ab", "c"));
    }
}

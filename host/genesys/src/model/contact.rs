//! Outbound contacts: `WritableDialerContact` (add/upsert body), `DialerContact` (read / PUT).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{callable}` of one phone column.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneNumberStatus {
    /// Whether this number may be dialled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callable: Option<bool>,
}

/// Per-column contactable flag inside a [`ContactableStatus`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnStatus {
    /// Whether this column may be contacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contactable: Option<bool>,
}

/// Contactable flags of one media type (`Voice`, `SMS`, `Email`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactableStatus {
    /// Whole-contact flag for this media type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contactable: Option<bool>,
    /// Per-column flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column_status: Option<BTreeMap<String, ColumnStatus>>,
}

/// Last dial attempt on one phone column (system data).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    /// ISO-8601 time of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<String>,
    /// Result of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_result: Option<String>,
}

/// `{priority}`: front or back of the dial queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationOverrides {
    /// Dial next when true.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<bool>,
}

/// Body element of `POST /api/v2/outbound/contactlists/{id}/contacts` (add-or-update by `id`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WritableDialerContact {
    /// Contact id. Supply it (dialsync derives it from the externalId) so the add is an
    /// idempotent upsert and retrying it cannot create a duplicate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The list the contact belongs to (required).
    pub contact_list_id: String,
    /// Column name → value; keys must be the list's `columnNames`.
    pub data: BTreeMap<String, String>,
    /// Contact-level "may be dialled" flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callable: Option<bool>,
    /// Per phone column callable flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_status: Option<BTreeMap<String, PhoneNumberStatus>>,
    /// Per media type contactable flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contactable_status: Option<BTreeMap<String, ContactableStatus>>,
    /// `Never`, `Today`, `RetentionDays`, `DateExpiration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_type: Option<String>,
    /// Days kept when `retentionType = RetentionDays`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Expiry when `retentionType = DateExpiration`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_expiration: Option<String>,
}

/// A contact as Genesys returns it (and the body of `PUT …/contacts/{contactId}`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialerContact {
    /// Contact id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The list the contact belongs to.
    #[serde(default)]
    pub contact_list_id: String,
    /// Column name → value.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// Contact-level "may be dialled" flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callable: Option<bool>,
    /// Per phone column callable flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number_status: Option<BTreeMap<String, PhoneNumberStatus>>,
    /// Per media type contactable flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contactable_status: Option<BTreeMap<String, ContactableStatus>>,
    /// Last attempt per phone column (system data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_records: Option<BTreeMap<String, CallRecord>>,
    /// Queue position override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configuration_overrides: Option<ConfigurationOverrides>,
    /// ISO-8601 creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_created: Option<String>,
    /// API URI of the contact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// Fields this crate does not model, kept for round trips.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Query flags of the add-contacts call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddContactsOptions {
    /// `priority`: true dials the contacts next, false puts them at the end of the queue.
    pub priority: Option<bool>,
    /// `clearSystemData`: true clears attempts/callable status of contacts that already exist.
    pub clear_system_data: Option<bool>,
    /// `doNotQueue`: true leaves updated contacts' queue positions alone.
    pub do_not_queue: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dialer_contact_tolerates_and_keeps_unknown_fields() {
        let json = r#"{"id":"c1","contactListId":"L","data":{"a":"1"},"callable":true,
            "latestSmsEvaluations":{"x":{"y":1}},"phoneNumberStatus":{"phone":{"callable":false}}}"#;
        let c: DialerContact = serde_json::from_str(json).unwrap();
        assert_eq!(c.id.as_deref(), Some("c1"));
        assert_eq!(
            c.phone_number_status.as_ref().unwrap()["phone"].callable,
            Some(false)
        );
        assert!(c.extra.contains_key("latestSmsEvaluations"));
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["latestSmsEvaluations"]["x"]["y"], 1);
        assert!(back.get("name").is_none(), "None fields are skipped");
    }

    #[test]
    fn writable_contact_is_camel_case() {
        let c = WritableDialerContact {
            id: Some("c1".into()),
            contact_list_id: "L".into(),
            data: [("k".to_owned(), "v".to_owned())].into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id":"c1","contactListId":"L","data":{"k":"v"}})
        );
    }
}

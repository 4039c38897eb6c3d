//! Do-not-call list edits (`PATCH /api/v2/outbound/dnclists/{id}/phonenumbers`).

use serde::{Deserialize, Serialize};

/// Add or remove numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DncAction {
    /// Put the numbers on the list.
    Add,
    /// Take the numbers off the list.
    Remove,
}

/// Body of the DNC phone-number PATCH.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DncPatchPhoneNumbersRequest {
    /// Add or Remove.
    pub action: DncAction,
    /// E.164 numbers.
    pub phone_numbers: Vec<String>,
    /// Expiry of added numbers (`yyyy-MM-ddTHH:mmZ`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date_time: Option<String>,
}

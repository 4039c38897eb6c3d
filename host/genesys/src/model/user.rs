//! Users and the versioned partial update (`PATCH /api/v2/users/{id}`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::DomainEntityRef;

/// A Genesys Cloud user.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// User id.
    pub id: String,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Primary email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Login name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `active|inactive|deleted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Current version; send it back on PATCH.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Department.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Job title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Manager (a user reference).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<DomainEntityRef>,
    /// ACD auto-answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acd_auto_answer: Option<bool>,
    /// Division.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub division: Option<DomainEntityRef>,
    /// API URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Body of `PATCH /api/v2/users/{id}`: only supplied fields change; `version` is required
/// and must be the user's current version (stale → 409 Conflict).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUser {
    /// The user's current version (from a GET).
    pub version: i64,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Department.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Job title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Preferred name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_name: Option<String>,
    /// Manager's user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<String>,
    /// `active|inactive|deleted`; if given it must be the only field changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// ACD auto-answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acd_auto_answer: Option<bool>,
    /// Other UpdateUser fields, sent as given.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

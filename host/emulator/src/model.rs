//! Wire models (camelCase, as in the Genesys Cloud API) for what the emulator stores.
//! Fields the emulator does not interpret are kept verbatim in `extra` so a client that
//! writes them reads them back.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `DomainEntityRef`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EntityRef {
    /// Id.
    pub id: String,
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Self URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// `ContactPhoneNumberColumn`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PhoneColumn {
    /// Column holding the number.
    pub column_name: String,
    /// `cell`, `home`, `work`, ...
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Column with callable times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callable_time_column: Option<String>,
}

/// `ContactList`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContactList {
    /// Id.
    #[serde(default)]
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Optimistic-locking version.
    #[serde(default)]
    pub version: i64,
    /// Data columns.
    #[serde(default)]
    pub column_names: Vec<String>,
    /// Phone columns (each also in `column_names`).
    #[serde(default)]
    pub phone_columns: Vec<PhoneColumn>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_created: Option<DateTime<Utc>>,
    /// Last modification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_modified: Option<DateTime<Utc>>,
    /// Number of contacts (only with `includeSize=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Self URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// Everything else, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `DialerContact`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// Contact id.
    #[serde(default)]
    pub id: String,
    /// The list it belongs to.
    #[serde(default)]
    pub contact_list_id: String,
    /// Column values (all strings).
    #[serde(default)]
    pub data: Map<String, Value>,
    /// Contact-level callable flag.
    #[serde(default = "yes")]
    pub callable: bool,
    /// Per phone column callable flags.
    #[serde(default)]
    pub phone_number_status: BTreeMap<String, Value>,
    /// Per media type contactable flags.
    #[serde(default)]
    pub contactable_status: BTreeMap<String, Value>,
    /// System data: last attempt per phone column.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub call_records: BTreeMap<String, Value>,
    /// `{priority}` queue placement of the last write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_overrides: Option<Value>,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_created: Option<DateTime<Utc>>,
    /// Self URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// Everything else, kept verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn yes() -> bool {
    true
}

/// `DncList`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DncList {
    /// Id.
    #[serde(default)]
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Version.
    #[serde(default)]
    pub version: i64,
    /// `rds` (internal), `rds_custom`, `dnc.com`, `gryphon`.
    #[serde(default = "rds")]
    pub dnc_source_type: String,
    /// Creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_created: Option<DateTime<Utc>>,
    /// Number of entries (only with `includeSize=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Self URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn rds() -> String {
    "rds".into()
}

/// `Campaign` (the fields the emulator interprets; the rest kept in `extra`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Campaign {
    /// Id.
    #[serde(default)]
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Version.
    #[serde(default)]
    pub version: i64,
    /// The contact list it dials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_list: Option<EntityRef>,
    /// `on|stopping|off|complete|invalid|forced_off|forced_stopping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_status: Option<String>,
    /// `agentless|preview|power|predictive|progressive|external`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dialing_mode: Option<String>,
    /// DNC lists consulted before dialling.
    #[serde(default)]
    pub dnc_lists: Vec<EntityRef>,
    /// Lines: how many contacts the simulated dialer holds at once (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outbound_line_count: Option<u32>,
    /// Self URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `User` (the fields the emulator interprets; the rest kept in `extra`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Id.
    #[serde(default)]
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Email (also the login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `active|inactive|deleted`.
    #[serde(default = "active")]
    pub state: String,
    /// Optimistic-locking version.
    #[serde(default = "one")]
    pub version: i64,
    /// Self URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
    /// Everything else (department, title, acdAutoAnswer, ...).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn active() -> String {
    "active".into()
}
fn one() -> i64 {
    1
}

/// `RoutingSkill` / `Language` (same shape).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NamedEntity {
    /// Id.
    #[serde(default)]
    pub id: String,
    /// Name.
    pub name: String,
    /// `active|inactive|deleted`.
    #[serde(default = "active")]
    pub state: String,
    /// Self URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_uri: Option<String>,
}

/// `UtilizationRequest` as stored per agent.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Utilization {
    /// mediaType → `MediaUtilization`.
    #[serde(default)]
    pub utilization: BTreeMap<String, MediaUtilization>,
    /// labelId → label utilization.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub label_utilizations: BTreeMap<String, Value>,
    /// Max inbound calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inbound_calls: Option<u32>,
}

/// `MediaUtilization`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MediaUtilization {
    /// Capacity.
    pub maximum_capacity: u32,
    /// Media types that may interrupt this one.
    #[serde(default)]
    pub interruptable_media_types: Vec<String>,
    /// Count non-ACD interactions.
    #[serde(default)]
    pub include_non_acd: bool,
}

/// The utilization media types Genesys knows.
pub const MEDIA_TYPES: [&str; 5] = ["call", "callback", "chat", "email", "message"];

/// The org default utilization (what Genesys ships with).
pub fn org_default_utilization() -> Utilization {
    let mut utilization = BTreeMap::new();
    for m in MEDIA_TYPES {
        let cap = if m == "chat" || m == "message" { 4 } else { 1 };
        utilization.insert(
            m.to_string(),
            MediaUtilization {
                maximum_capacity: cap,
                interruptable_media_types: Vec::new(),
                include_non_acd: false,
            },
        );
    }
    Utilization {
        utilization,
        label_utilizations: BTreeMap::new(),
        max_inbound_calls: None,
    }
}

/// A paged `*EntityListing` envelope.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Listing<T> {
    /// This page.
    pub entities: Vec<T>,
    /// Page size.
    pub page_size: usize,
    /// 1-based page number.
    pub page_number: usize,
    /// Total entities.
    pub total: usize,
    /// Pages.
    pub page_count: usize,
    /// First page URI.
    pub first_uri: String,
    /// Last page URI.
    pub last_uri: String,
    /// This page URI.
    pub self_uri: String,
    /// Next page URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_uri: Option<String>,
    /// Previous page URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_uri: Option<String>,
}

impl<T: Clone> Listing<T> {
    /// Pages `all` (1-based `page_number`).
    pub fn page(all: &[T], page_size: usize, page_number: usize, base: &str) -> Self {
        let total = all.len();
        let page_count = total.div_ceil(page_size.max(1));
        let start = (page_number - 1).saturating_mul(page_size).min(total);
        let end = (start + page_size).min(total);
        let uri = |n: usize| format!("{base}?pageSize={page_size}&pageNumber={n}");
        Self {
            entities: all[start..end].to_vec(),
            page_size,
            page_number,
            total,
            page_count,
            first_uri: uri(1),
            last_uri: uri(page_count.max(1)),
            self_uri: uri(page_number),
            next_uri: (page_number < page_count).then(|| uri(page_number + 1)),
            previous_uri: (page_number > 1).then(|| uri(page_number - 1)),
        }
    }
}

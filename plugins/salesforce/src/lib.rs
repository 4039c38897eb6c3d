//! dialsync mapping plugin for Salesforce Contacts and Leads.
//!
//! Accepts three shapes (see `schemas/salesforce-record.schema.json`):
//!
//! * a **REST record** (`attributes.type` Contact or Lead): a full change keyed
//!   `sf_<18-char Id>` (15-char Ids are widened, case-mangled 18-char Ids
//!   repaired); `SystemModstamp` (else `LastModifiedDate`) is the updated-at;
//!   `IsDeleted` → remove, `DoNotCall` → do-not-call;
//! * a **Change Data Capture event** in its CometD envelope
//!   (`{"data": {"payload": ...}, "channel": ...}`), or
//! * a bare **CDC payload** (`{"ChangeEventHeader": ..., ...fields}`).
//!
//! CDC events map by `changeType`: CREATE → full change; UPDATE → *partial*
//! change carrying only the fields present in the event (`nulledFields` become
//! `""`), so the host never blanks columns the event did not mention; DELETE →
//! remove; UNDELETE and every GAP event → skip with "re-fetch needed", since they
//! carry no field values. An event naming several `recordIds` yields one change
//! per record. The updated-at is `commitTimestamp`.

mod cdc;
mod fields;
mod rest;

use dialsync_plugin_sdk::serde_json::Value;
use dialsync_plugin_sdk::{Host, MapOutcome, Mapper, PluginInfo};

/// The Salesforce mapper.
pub struct Salesforce;

/// Data columns other than phones, in list order.
const DATA_COLUMNS: [&str; 6] = [
    "firstName",
    "lastName",
    "email",
    "title",
    "company",
    "sourceObject",
];

/// Phone columns: (contact-list column, Salesforce field).
const PHONES: [(&str, &str); 3] = [
    ("phone", "Phone"),
    ("mobilePhone", "MobilePhone"),
    ("homePhone", "HomePhone"),
];

const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "salesforce plugin configuration",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "default_region": {
      "description": "ISO 3166-1 alpha-2 region for phone numbers without +country prefix when the record has no MailingCountryCode/CountryCode.",
      "type": "string",
      "pattern": "^[A-Za-z]{2}$"
    }
  }
}"#;

impl Mapper for Salesforce {
    fn describe(_host: &dyn Host) -> PluginInfo {
        let mut columns = vec!["externalId".to_owned()];
        columns.extend(DATA_COLUMNS.map(str::to_owned));
        columns.extend(PHONES.map(|(c, _)| c.to_owned()));
        PluginInfo {
            name: "salesforce".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "salesforce".into(),
            input_schema: include_str!("../../../schemas/salesforce-record.schema.json").into(),
            config_schema: CONFIG_SCHEMA.into(),
            columns,
            phone_columns: PHONES.map(|(c, _)| c.to_owned()).to_vec(),
            actions: Vec::new(),
        }
    }

    fn map_record(host: &dyn Host, record: &Value) -> MapOutcome {
        if let Some(payload) = record.get("data").and_then(|d| d.get("payload")) {
            cdc::map_event(host, payload, "/data/payload")
        } else if record.get("ChangeEventHeader").is_some() {
            cdc::map_event(host, record, "")
        } else {
            rest::map_record(host, record)
        }
    }
}

dialsync_plugin_sdk::export_plugin!(Salesforce);

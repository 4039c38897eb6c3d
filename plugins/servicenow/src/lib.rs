//! dialsync mapping plugin for ServiceNow people records (`sys_user`,
//! `customer_contact`) read through the Table API.
//!
//! Input: one Table API record. Every scalar is a string, `sys_updated_on` is UTC
//! `YYYY-MM-DD HH:MM:SS`, references are `{link, value}` or `""`, and with
//! `sysparm_display_value=all` every field is `{display_value, value}` — the
//! database `value` is always the one used (display values follow the caller's
//! locale and time zone).
//!
//! Output: externalId `sn_<sys_id>`; `active == "false"` → do-not-call; phones
//! `phone`, `mobile_phone`, `home_phone` normalised with the record's `country`
//! (when it is an ISO alpha-2 code) or the configured `default_region`. A phone
//! that cannot be normalised rejects the record at that field; a record with no
//! phone at all is still an upsert with no phones (the host clears the phone
//! columns and makes the contact uncallable: the numbers were cleared in the CRM).
//!
//! Deletes ([`deletes`]): a business-rule payload with `"operation": "delete"` or a
//! `sys_audit_delete` row becomes a `remove` of the contact.

pub mod deletes;

use dialsync_plugin_sdk::record::region_code;
use dialsync_plugin_sdk::serde_json::Value;
use dialsync_plugin_sdk::servicenow::{field_boolean, field_value, value};
use dialsync_plugin_sdk::{
    ChangeBuilder, ContactChange, FieldError, Host, MapOutcome, Mapper, Operation, PluginInfo,
    external_id, time,
};

/// The ServiceNow mapper.
pub struct ServiceNow;

/// Data columns: (contact-list column, ServiceNow field).
const COLUMNS: [(&str, &str); 7] = [
    ("firstName", "first_name"),
    ("lastName", "last_name"),
    ("email", "email"),
    ("title", "title"),
    ("timeZone", "time_zone"),
    ("preferredLanguage", "preferred_language"),
    ("userName", "user_name"),
];

/// Phone columns: (contact-list column, ServiceNow field).
const PHONES: [(&str, &str); 3] = [
    ("businessPhone", "phone"),
    ("mobilePhone", "mobile_phone"),
    ("homePhone", "home_phone"),
];

const CONFIG_SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "servicenow plugin configuration",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "default_region": {
      "description": "ISO 3166-1 alpha-2 region for phone numbers without +country prefix, used when the record's country is empty or not an alpha-2 code.",
      "type": "string",
      "pattern": "^[A-Za-z]{2}$"
    }
  }
}"#;

impl Mapper for ServiceNow {
    fn describe(_host: &dyn Host) -> PluginInfo {
        let mut columns = vec!["externalId".to_owned()];
        columns.extend(COLUMNS.iter().map(|(c, _)| (*c).to_owned()));
        columns.extend(["company", "sourceTable"].map(str::to_owned));
        columns.extend(PHONES.iter().map(|(c, _)| (*c).to_owned()));
        PluginInfo {
            name: "servicenow".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "servicenow".into(),
            input_schema: include_str!("../../../schemas/servicenow-record.schema.json").into(),
            config_schema: CONFIG_SCHEMA.into(),
            columns,
            phone_columns: PHONES.iter().map(|(c, _)| (*c).to_owned()).collect(),
            actions: Vec::new(),
        }
    }

    fn map_record(host: &dyn Host, record: &Value) -> MapOutcome {
        let fields = Fields::of(record);
        if fields.may_be_a_delete
            && let Some(outcome) = deletes::map_delete(record)
        {
            return outcome;
        }
        let country = field_value(fields.country, "country").ok().flatten();
        let region = region_code(country).or_else(|| host.config("default_region"));
        let mut b = ChangeBuilder::new(host, region);

        let sys_id = match field_value(fields.sys_id, "sys_id") {
            Err(e) => {
                b.error(e);
                None
            }
            Ok(None) => {
                b.error(FieldError::missing("/sys_id", "the record's 32-hex sys_id"));
                None
            }
            Ok(Some(id)) if is_sys_id(id) => Some(id),
            Ok(Some(id)) => {
                b.error(FieldError::new(
                    "/sys_id",
                    "invalid-id",
                    format!("/sys_id must be 32 lowercase hex characters, got {id:?}"),
                ));
                None
            }
        };
        let updated_at = match b
            .check(field_value(fields.sys_updated_on, "sys_updated_on"))
            .flatten()
        {
            None => {
                b.error(FieldError::missing(
                    "/sys_updated_on",
                    "UTC \"YYYY-MM-DD HH:MM:SS\"",
                ));
                None
            }
            Some(raw) => b.check(
                time::servicenow_datetime(raw)
                    .map_err(|e| FieldError::new("/sys_updated_on", "invalid-date", e.message)),
            ),
        };
        let active = b.check(field_boolean(fields.active, "active")).flatten();

        for ((column, field), found) in COLUMNS.into_iter().zip(fields.columns) {
            let v = b.check(field_value(found, field)).flatten();
            b.column(column, field, v);
        }
        let (company, company_field) = company(record);
        b.column("company", company_field, company);
        let table = b
            .check(field_value(fields.sys_class_name, "sys_class_name"))
            .flatten();
        b.column("sourceTable", "/sys_class_name", table);
        for ((column, field), found) in PHONES.into_iter().zip(fields.phones) {
            let raw = b.check(field_value(found, field)).flatten();
            b.phone(column, field, raw);
        }

        // Every way sys_id or updated_at can be `None` has recorded an error, so
        // only the first arm can see them missing.
        let (columns, phones, sys_id, updated_at) = match (b.finish(), sys_id, updated_at) {
            (Err(errors), _, _) => return MapOutcome::Reject(errors),
            (Ok((columns, phones)), Some(id), Some(at)) => (columns, phones, id, at),
            (Ok(_), _, _) => {
                return MapOutcome::Reject(vec![FieldError::missing(
                    "/sys_id",
                    "sys_id and sys_updated_on",
                )]);
            }
        };
        let external_id = match external_id("sn", &[sys_id]) {
            Ok(id) => id,
            Err(e) => {
                return MapOutcome::Reject(vec![FieldError::new(
                    "/sys_id",
                    "invalid-id",
                    e.to_string(),
                )]);
            }
        };
        let do_not_call = active == Some(false);
        MapOutcome::Change(ContactChange {
            external_id,
            source_id: sys_id.to_owned(),
            source_updated_at: updated_at,
            operation: if do_not_call {
                Operation::DoNotCall
            } else {
                Operation::Upsert
            },
            partial: false,
            columns,
            phones,
            callable: Some(!do_not_call),
        })
    }
}

/// The fields a record maps from, found in one pass over its keys: looking
/// each of about twenty up by name hashed the name (SipHash) every time, 8 %
/// of a mapping call in a `perf` profile.
#[derive(Default)]
struct Fields<'a> {
    /// The record has a field only deletes carry (`operation` of a business
    /// rule payload, `documentkey` of a `sys_audit_delete` row).
    may_be_a_delete: bool,
    country: Option<&'a Value>,
    sys_id: Option<&'a Value>,
    sys_updated_on: Option<&'a Value>,
    active: Option<&'a Value>,
    sys_class_name: Option<&'a Value>,
    columns: [Option<&'a Value>; COLUMNS.len()],
    phones: [Option<&'a Value>; PHONES.len()],
}

impl<'a> Fields<'a> {
    fn of(record: &'a Value) -> Self {
        let mut fields = Fields::default();
        let Some(object) = record.as_object() else {
            return fields;
        };
        for (key, v) in object {
            let key = key.as_str();
            let slot = match key {
                "operation" | "documentkey" => {
                    fields.may_be_a_delete = true;
                    continue;
                }
                "country" => &mut fields.country,
                "sys_id" => &mut fields.sys_id,
                "sys_updated_on" => &mut fields.sys_updated_on,
                "active" => &mut fields.active,
                "sys_class_name" => &mut fields.sys_class_name,
                _ => {
                    if let Some(i) = COLUMNS.iter().position(|(_, f)| *f == key) {
                        &mut fields.columns[i]
                    } else if let Some(i) = PHONES.iter().position(|(_, f)| *f == key) {
                        &mut fields.phones[i]
                    } else {
                        continue;
                    }
                }
            };
            *slot = Some(v);
        }
        fields
    }
}

/// `customer_contact.account`, else `sys_user.company`: the display value (the
/// account's name) when the record carries one, else the reference's sys_id.
fn company(record: &Value) -> (Option<&str>, &'static str) {
    for (field, pointer) in [("account", "/account"), ("company", "/company")] {
        let display = record
            .get(field)
            .and_then(|v| v.get("display_value"))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty());
        if let Some(name) = display.or_else(|| value(record, field).ok().flatten()) {
            return (Some(name), pointer);
        }
    }
    (None, "/account")
}

/// ServiceNow sys_ids are 32 lowercase hex characters.
pub(crate) fn is_sys_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

dialsync_plugin_sdk::export_plugin!(ServiceNow);

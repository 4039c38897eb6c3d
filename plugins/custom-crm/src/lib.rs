//! dialsync mapping plugin for a custom CRM — the configurable mapper, and the
//! example to copy when writing your own plugin.
//!
//! # Default record shape
//!
//! With no configuration it maps records like:
//!
//! ```json
//! {"id": "C-1001", "updated_at": "2026-11-20T14:01:07Z", "first_name": "Ann",
//!  "last_name": "Lee", "email": "ann@example.com", "phone": "(281) 332-2575",
//!  "mobile": null, "country": "US", "do_not_call": false, "deleted": false}
//! ```
//!
//! to a change with externalId `crm_C_1001__<hash>` (see
//! [`dialsync_plugin_sdk::external_id`]), columns `firstName`, `lastName`,
//! `email` and phone columns `phone`, `mobile`.
//!
//! # Configuration
//!
//! Every key of `config.schema.json` is optional: `key_fields` (the stable key —
//! never a phone or email), `updated_at_field` + `updated_at_format`, `columns`
//! and `phone_fields` (column → field path), `default_region` / `region_field`,
//! and the `do_not_call` / `deleted` rules (`{"field": "status", "equals":
//! ["opted_out"]}`). Field paths are top-level names or JSON pointers.
//!
//! # Outcomes
//!
//! * any problem with a field — a configured field the record lacks, a wrong
//!   type, an unusable phone or date — rejects the record with one field error per
//!   problem, at the field's JSON pointer;
//! * `deleted` rule matches → remove; `do_not_call` rule matches → do-not-call;
//! * otherwise upsert — also when the record has no phone number at all (the
//!   host clears the phone columns and makes the contact uncallable).

mod config;

use dialsync_plugin_sdk::record::region_code;
use dialsync_plugin_sdk::serde_json::Value;
use dialsync_plugin_sdk::{
    ChangeBuilder, ContactChange, FieldError, Host, LogLevel, MapOutcome, Mapper, Operation,
    PluginInfo, external_id, json,
};

pub use config::{Config, ConfigError, Rule};

/// The configurable custom-CRM mapper.
pub struct CustomCrm;

impl Mapper for CustomCrm {
    fn describe(host: &dyn Host) -> PluginInfo {
        // describe cannot fail; with a broken configuration the defaults' columns
        // are described and every record is rejected with the config error.
        let config = Config::load(host).unwrap_or_else(|e| {
            host.log(LogLevel::Error, &format!("invalid configuration: {}", e.0));
            Config::default()
        });
        let mut columns = vec!["externalId".to_owned()];
        columns.extend(config.column_names().map(str::to_owned));
        PluginInfo {
            name: "custom-crm".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            source_kind: "custom".into(),
            input_schema: include_str!("../../../schemas/custom-crm-record.schema.json").into(),
            config_schema: include_str!("../config.schema.json").into(),
            columns,
            phone_columns: config.phone_fields.iter().map(|(c, _)| c.clone()).collect(),
            actions: Vec::new(),
        }
    }

    fn map_record(host: &dyn Host, record: &Value) -> MapOutcome {
        match Config::load(host) {
            Ok(config) => map_with(host, &config, record),
            Err(e) => config_rejection(&e),
        }
    }

    /// The configuration is read and checked once per batch.
    fn map_records(host: &dyn Host, records: &[Value]) -> Vec<MapOutcome> {
        match Config::load(host) {
            Ok(config) => records
                .iter()
                .map(|record| map_with(host, &config, record))
                .collect(),
            Err(e) => vec![config_rejection(&e); records.len()],
        }
    }
}

/// Every record is rejected while the plugin configuration is invalid.
fn config_rejection(e: &ConfigError) -> MapOutcome {
    MapOutcome::Reject(vec![FieldError::new(
        "",
        "invalid-config",
        format!("plugin configuration {}", e.0),
    )])
}

fn map_with(host: &dyn Host, config: &Config, record: &Value) -> MapOutcome {
    let region = scalar(record, &config.region_field)
        .ok()
        .flatten()
        .and_then(|c| region_code(Some(&c)))
        .or_else(|| config.default_region.clone());
    let mut b = ChangeBuilder::new(host, region);

    // The stable key: every part must be present and scalar.
    let mut key = Vec::new();
    for path in &config.key_fields {
        match required(record, path) {
            Ok(part) => key.push(part),
            Err(e) => b.error(e),
        }
    }
    let updated_at = required_value(record, &config.updated_at_field).and_then(|v| {
        config.updated_at_format.parse_value(v).map_err(|e| {
            FieldError::new(
                json::to_pointer(&config.updated_at_field),
                "invalid-date",
                e.message,
            )
        })
    });
    let updated_at = b.check(updated_at);

    for (column, path) in &config.columns {
        if let Some(value) = b.check(present(record, path).and_then(|_| scalar(record, path))) {
            b.column(column, path, value.as_deref());
        }
    }
    for (column, path) in &config.phone_fields {
        let raw = present(record, path).and_then(|_| phone_text(record, path));
        if let Some(raw) = b.check(raw) {
            b.phone(column, path, raw);
        }
    }

    let (columns, phones) = match b.finish() {
        Ok(parts) => parts,
        Err(errors) => return MapOutcome::Reject(errors),
    };
    let Some(updated_at) = updated_at else {
        // Unreachable in practice (a failed check records an error), but a
        // rejection is always a safe answer.
        return MapOutcome::Reject(vec![FieldError::missing(
            json::to_pointer(&config.updated_at_field),
            "the record's last-modified time",
        )]);
    };
    let parts: Vec<&str> = key.iter().map(String::as_str).collect();
    let external_id = match external_id("crm", &parts) {
        Ok(id) => id,
        Err(e) => {
            return MapOutcome::Reject(vec![FieldError::new(
                json::to_pointer(&config.key_fields[0]),
                "invalid-id",
                e.to_string(),
            )]);
        }
    };

    let operation = if config.deleted.matches(record) {
        Operation::Remove
    } else if config.do_not_call.matches(record) {
        Operation::DoNotCall
    } else {
        Operation::Upsert
    };
    MapOutcome::Change(ContactChange {
        external_id,
        source_id: parts.join("/"),
        source_updated_at: updated_at,
        operation,
        partial: false,
        columns,
        phones,
        callable: match operation {
            Operation::Remove => None,
            other => Some(other == Operation::Upsert),
        },
    })
}

/// The value at `path`, or a `missing` error when the record lacks it.
fn present<'a>(record: &'a Value, path: &str) -> Result<&'a Value, FieldError> {
    json::get(record, path).ok_or_else(|| {
        FieldError::missing(
            json::to_pointer(path),
            "the plugin configuration maps this field, but the record lacks it",
        )
    })
}

/// A required non-empty value at `path`.
fn required_value<'a>(record: &'a Value, path: &str) -> Result<&'a Value, FieldError> {
    match json::get(record, path) {
        None | Some(Value::Null) => Err(FieldError::missing(json::to_pointer(path), "a value")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(FieldError::missing(
            json::to_pointer(path),
            "a non-empty value",
        )),
        Some(v) => Ok(v),
    }
}

/// A required non-empty scalar at `path`, as text.
fn required(record: &Value, path: &str) -> Result<String, FieldError> {
    required_value(record, path)?;
    scalar(record, path)?.ok_or_else(|| FieldError::missing(json::to_pointer(path), "a value"))
}

/// A scalar at `path` as text: strings as they are, numbers and booleans
/// written out, absent/`null` → `None`; arrays and objects are an error.
fn scalar(record: &Value, path: &str) -> Result<Option<String>, FieldError> {
    match json::get(record, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Ok(Some(v.to_string())),
        Some(other) => Err(FieldError::new(
            json::to_pointer(path),
            "invalid-type",
            format!(
                "{} must be a string, number or boolean, got {}",
                json::to_pointer(path),
                json::type_name(other)
            ),
        )),
    }
}

/// A phone field: a string or `null`. Numbers are refused because JSON numbers
/// lose the leading `+` and zeros a phone number needs.
fn phone_text<'a>(record: &'a Value, path: &str) -> Result<Option<&'a str>, FieldError> {
    match json::get(record, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(FieldError::new(
            json::to_pointer(path),
            "invalid-type",
            format!(
                "{} must be a phone number string, got {}",
                json::to_pointer(path),
                json::type_name(other)
            ),
        )),
    }
}

dialsync_plugin_sdk::export_plugin!(CustomCrm);

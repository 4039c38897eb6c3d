//! Change Data Capture events (`/data/ContactChangeEvent`, `/data/LeadChangeEvent`).

use dialsync_plugin_sdk::serde_json::Value;
use dialsync_plugin_sdk::{
    ChangeBuilder, ContactChange, FieldError, Host, MapOutcome, Operation, time,
};

use crate::PHONES;
use crate::fields::{flag, ids, region, text};

/// Data columns a CDC payload can carry: (column, compound parent, field).
/// `Name` is a compound field in change events.
const CDC_COLUMNS: [(&str, Option<&str>, &str); 5] = [
    ("firstName", Some("Name"), "FirstName"),
    ("lastName", Some("Name"), "LastName"),
    ("email", None, "Email"),
    ("title", None, "Title"),
    ("company", None, "Company"),
];

/// Map one CDC payload; `base` is its JSON pointer inside the input record.
pub fn map_event(host: &dyn Host, payload: &Value, base: &str) -> MapOutcome {
    let header_ptr = format!("{base}/ChangeEventHeader");
    let header = &payload["ChangeEventHeader"];
    let mut errors = Vec::new();
    let mut field = |pointer: String, key: &str, what: &str| {
        let v = header.get(key).and_then(Value::as_str);
        if v.is_none() {
            errors.push(FieldError::missing(format!("{header_ptr}/{pointer}"), what));
        }
        v
    };
    let entity = field(
        "entityName".into(),
        "entityName",
        "the changed object, e.g. Contact",
    );
    let change_type = field(
        "changeType".into(),
        "changeType",
        "CREATE, UPDATE, DELETE, ...",
    );
    let (Some(entity), Some(change_type)) = (entity, change_type) else {
        return MapOutcome::Reject(errors);
    };
    if !["Contact", "Lead"].contains(&entity) {
        return MapOutcome::Skip(format!("change event for {entity}, not Contact or Lead"));
    }
    let raw_ids: Vec<&str> = header["recordIds"]
        .as_array()
        .map(|ids| ids.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();

    if change_type.starts_with("GAP_") {
        let which = if raw_ids.is_empty() {
            format!("all {entity} records")
        } else {
            raw_ids.join(", ")
        };
        return MapOutcome::Skip(format!(
            "gap event ({change_type}): re-fetch needed for {which}"
        ));
    }
    if change_type == "UNDELETE" {
        return MapOutcome::Skip(format!(
            "undelete of {}: re-fetch needed (the event carries no field values)",
            raw_ids.join(", ")
        ));
    }
    let partial = match change_type {
        "CREATE" => false,
        "UPDATE" => true,
        "DELETE" => false,
        other => {
            return MapOutcome::Reject(vec![FieldError::new(
                format!("{header_ptr}/changeType"),
                "invalid-value",
                format!("{header_ptr}/changeType {other:?} is not a known change type"),
            )]);
        }
    };
    if raw_ids.iter().any(|id| id.ends_with('*')) {
        return MapOutcome::Skip(format!(
            "wildcard recordIds {raw_ids:?}: re-fetch needed for all {entity} records"
        ));
    }

    let mut errors = Vec::new();
    let ids_ptr = format!("{header_ptr}/recordIds");
    if raw_ids.is_empty() || header["recordIds"].as_array().map(Vec::len) != Some(raw_ids.len()) {
        errors.push(FieldError::new(
            ids_ptr.clone(),
            "invalid-value",
            format!("{ids_ptr} must be a non-empty list of record Id strings"),
        ));
    }
    let ids: Vec<(String, String)> = raw_ids
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            ids(raw, &format!("{ids_ptr}/{i}"))
                .map_err(|e| errors.push(e))
                .ok()
        })
        .collect();
    let updated_at = match header.get("commitTimestamp").and_then(Value::as_i64) {
        Some(ms) => time::epoch_ms(ms)
            .map_err(|e| {
                errors.push(FieldError::new(
                    format!("{header_ptr}/commitTimestamp"),
                    "invalid-date",
                    e.message,
                ))
            })
            .ok(),
        None => {
            errors.push(FieldError::missing(
                format!("{header_ptr}/commitTimestamp"),
                "epoch milliseconds",
            ));
            None
        }
    };

    let mut b = ChangeBuilder::new(host, None);
    for e in errors {
        b.error(e);
    }
    let (operation, callable, phones) = if change_type == "DELETE" {
        (Operation::Remove, None, Vec::new())
    } else {
        fields(host, &mut b, payload, base, partial, entity)
    };
    let columns = match b.finish() {
        Ok((columns, _)) => columns,
        Err(errors) => return MapOutcome::Reject(errors),
    };
    let Some(updated_at) = updated_at else {
        return MapOutcome::Reject(vec![FieldError::missing(
            format!("{header_ptr}/commitTimestamp"),
            "epoch milliseconds",
        )]);
    };
    let mut changes: Vec<ContactChange> = ids
        .into_iter()
        .map(|(id18, external_id)| ContactChange {
            external_id,
            source_id: id18,
            source_updated_at: updated_at.clone(),
            operation,
            partial,
            columns: columns.clone(),
            phones: phones.clone(),
            callable,
        })
        .collect();
    if changes.len() == 1 {
        MapOutcome::Change(changes.remove(0))
    } else {
        MapOutcome::Changes(changes)
    }
}

/// Put into `b` the columns a CREATE (all, absent → `""`) or UPDATE (only the
/// fields present, `nulledFields` → `""`) carries, and return the operation,
/// callability and normalised phones. Problems are recorded in `b`.
fn fields(
    host: &dyn Host,
    b: &mut ChangeBuilder<'_>,
    payload: &Value,
    base: &str,
    partial: bool,
    entity: &str,
) -> (Operation, Option<bool>, Vec<dialsync_plugin_sdk::Phone>) {
    let nulled: Vec<&str> = payload["ChangeEventHeader"]["nulledFields"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // Compound sub-fields may be listed as `Name.FirstName` or just `FirstName`.
    let is_nulled = |parent: Option<&str>, key: &str| {
        nulled.iter().any(|n| {
            *n == key
                || parent.is_some_and(|p| {
                    n.strip_prefix(p).and_then(|r| r.strip_prefix('.')) == Some(key)
                })
        })
    };
    for (column, compound, key) in CDC_COLUMNS {
        let (parent, pointer) = match compound {
            Some(c) => (&payload[c], format!("{base}/{c}/{key}")),
            None => (payload, format!("{base}/{key}")),
        };
        let present = parent.get(key).is_some();
        if partial && !present {
            if is_nulled(compound, key) {
                b.column(column, &pointer, None);
            }
            continue;
        }
        if let Some(value) = b.check(text(parent, key, &pointer)) {
            b.column(column, &pointer, value);
        }
    }
    if !partial {
        b.column(
            "sourceObject",
            &format!("{base}/ChangeEventHeader/entityName"),
            Some(entity),
        );
    }

    let countries = [
        payload
            .pointer("/MailingAddress/CountryCode")
            .and_then(Value::as_str),
        payload
            .pointer("/Address/CountryCode")
            .and_then(Value::as_str),
    ];
    let mut phone_builder = ChangeBuilder::new(host, region(host, &countries));
    for (column, field) in PHONES {
        let pointer = format!("{base}/{field}");
        match b.check(text(payload, field, &pointer)) {
            Some(Some(raw)) if !raw.trim().is_empty() => {
                phone_builder.phone(column, &pointer, Some(raw))
            }
            // Present but null/blank in an UPDATE, or nulled: clear the column.
            Some(_) if partial && (payload.get(field).is_some() || is_nulled(None, field)) => {
                b.column(column, &pointer, None)
            }
            _ => {}
        }
    }
    let do_not_call = b.check(flag(payload, "DoNotCall", &format!("{base}/DoNotCall")));
    let phones = match phone_builder.finish() {
        Ok((_, phones)) => phones,
        Err(errors) => {
            errors.into_iter().for_each(|e| b.error(e));
            Vec::new()
        }
    };
    let (operation, callable) = match do_not_call.flatten() {
        Some(true) => (Operation::DoNotCall, Some(false)),
        Some(false) => (Operation::Upsert, Some(true)),
        // A partial change that does not touch DoNotCall leaves callability alone.
        None if partial => (Operation::Upsert, None),
        None => (Operation::Upsert, Some(true)),
    };
    (operation, callable, phones)
}

//! ServiceNow deletes, in the two shapes they reach dialsync:
//!
//! - A business-rule payload with `"operation": "delete"` — the value of
//!   `current.operation()` in an *after delete* rule (`insert` / `update` map as usual).
//!   The rule sends `sys_id` and `sys_updated_on` (the rule script is in the README).
//! - A `sys_audit_delete` row read by a pull: `tablename`, `documentkey` (the deleted
//!   record's sys_id) and `sys_created_on` (when it was deleted).
//!
//! Both become a `remove` of `sn_<sys_id>`; the host applies it per the source's
//! `delete_mode`. An unknown `operation` value rejects the record at `/operation`.

use dialsync_plugin_sdk::serde_json::Value;
use dialsync_plugin_sdk::servicenow::value;
use dialsync_plugin_sdk::{ContactChange, FieldError, MapOutcome, Operation, external_id, time};

use crate::is_sys_id;

/// `Some(outcome)` when `record` is a delete (business-rule `delete` or a
/// `sys_audit_delete` row) or carries an invalid `operation`; `None` for an ordinary
/// record, which the caller maps.
pub fn map_delete(record: &Value) -> Option<MapOutcome> {
    if record.get("documentkey").is_some() && record.get("tablename").is_some() {
        return Some(audit_delete(record));
    }
    match value(record, "operation") {
        Err(e) => Some(MapOutcome::Reject(vec![e])),
        Ok(None) | Ok(Some("insert")) | Ok(Some("update")) => None,
        Ok(Some("delete")) => Some(remove(record, "sys_id", "sys_updated_on")),
        Ok(Some(other)) => Some(MapOutcome::Reject(vec![FieldError::new(
            "/operation",
            "invalid-value",
            format!(
                "/operation must be \"insert\", \"update\" or \"delete\" (current.operation()), got {other:?}"
            ),
        )])),
    }
}

fn audit_delete(record: &Value) -> MapOutcome {
    match value(record, "tablename") {
        Ok(Some(_)) => remove(record, "documentkey", "sys_created_on"),
        Ok(None) => MapOutcome::Reject(vec![FieldError::missing(
            "/tablename",
            "the table the record was deleted from",
        )]),
        Err(e) => MapOutcome::Reject(vec![e]),
    }
}

/// A remove of `sn_<record[id_field]>` at `record[time_field]`.
fn remove(record: &Value, id_field: &str, time_field: &str) -> MapOutcome {
    let mut errors = Vec::new();
    let id_ptr = format!("/{id_field}");
    let sys_id = match value(record, id_field) {
        Ok(Some(id)) if is_sys_id(id) => Some(id),
        Ok(Some(id)) => {
            errors.push(FieldError::new(
                id_ptr.clone(),
                "invalid-id",
                format!("{id_ptr} must be 32 lowercase hex characters, got {id:?}"),
            ));
            None
        }
        Ok(None) => {
            errors.push(FieldError::missing(
                id_ptr.clone(),
                "the deleted record's sys_id",
            ));
            None
        }
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let time_ptr = format!("/{time_field}");
    let at = match value(record, time_field) {
        Ok(Some(raw)) => match time::servicenow_datetime(raw) {
            Ok(at) => Some(at),
            Err(e) => {
                errors.push(FieldError::new(time_ptr, "invalid-date", e.message));
                None
            }
        },
        Ok(None) => {
            errors.push(FieldError::missing(time_ptr, "UTC \"YYYY-MM-DD HH:MM:SS\""));
            None
        }
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let (Some(sys_id), Some(at)) = (sys_id, at) else {
        return MapOutcome::Reject(errors);
    };
    match external_id("sn", &[sys_id]) {
        Ok(external_id) => MapOutcome::Change(ContactChange {
            external_id,
            source_id: sys_id.to_owned(),
            source_updated_at: at,
            operation: Operation::Remove,
            partial: false,
            columns: Vec::new(),
            phones: Vec::new(),
            callable: None,
        }),
        Err(e) => MapOutcome::Reject(vec![FieldError::new(id_ptr, "invalid-id", e.to_string())]),
    }
}

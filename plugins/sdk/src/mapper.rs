//! The trait a plugin implements, and the batch driver around it.
//!
//! The WIT `map` export takes a batch of JSON texts; plugins only ever see one
//! parsed record at a time. [`map_batch`] does the parsing and rejects text that
//! is not a JSON object with a field error at `""` (the whole record), so every
//! plugin treats garbage the same way.

use serde_json::Value;

use crate::{ActionError, FieldError, Host, MapOutcome, PluginInfo};

/// A CRM mapping: what the plugin is, and how one record becomes a change.
pub trait Mapper {
    /// Name, version, schemas, columns and actions. Called once at load.
    fn describe(host: &dyn Host) -> PluginInfo;

    /// Map one input record (always a JSON object) to an outcome. Must not panic:
    /// every problem with the record becomes a [`MapOutcome::Reject`] naming the
    /// field, or a [`MapOutcome::Skip`] with a reason.
    fn map_record(host: &dyn Host, record: &Value) -> MapOutcome;

    /// Run one of the plugin's own data actions. The default knows none.
    fn action(host: &dyn Host, name: &str, input: &Value) -> Result<Value, ActionError> {
        let _ = (host, input);
        Err(ActionError {
            code: "unknown-action".into(),
            message: format!("this plugin offers no data action named {name:?}"),
        })
    }
}

/// Map a batch of JSON texts: one outcome per record, in order.
pub fn map_batch<M: Mapper + ?Sized, S: AsRef<str>>(
    host: &dyn Host,
    records: &[S],
) -> Vec<MapOutcome> {
    records
        .iter()
        .map(|text| match serde_json::from_str::<Value>(text.as_ref()) {
            Ok(record @ Value::Object(_)) => M::map_record(host, &record),
            Ok(other) => MapOutcome::Reject(vec![FieldError::new(
                "",
                "invalid-type",
                format!(
                    "a record must be a JSON object, got {}",
                    crate::json::type_name(&other)
                ),
            )]),
            Err(e) => MapOutcome::Reject(vec![FieldError::new(
                "",
                "invalid-type",
                format!("the record is not valid JSON: {e}"),
            )]),
        })
        .collect()
}

/// Run a data action on JSON input text, returning JSON output text.
pub fn run_action<M: Mapper + ?Sized>(
    host: &dyn Host,
    name: &str,
    input: &str,
) -> Result<String, ActionError> {
    let input: Value = serde_json::from_str(input).map_err(|e| ActionError {
        code: "bad-input".into(),
        message: format!("action {name:?}: input is not valid JSON: {e}"),
    })?;
    M::action(host, name, &input).map(|out| out.to_string())
}

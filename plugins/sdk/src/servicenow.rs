//! ServiceNow Table API value shapes.
//!
//! Every scalar is a JSON string (`"active": "true"`), empty is `""`, reference
//! fields are `{"link": ..., "value": "<sys_id>"}` (or `""` when empty), and with
//! `sysparm_display_value=all` every field becomes `{"display_value", "value"}`.
//! [`value`] reads any of these as the database value.

use serde_json::Value;

use crate::FieldError;

/// The database value of field `key` of a ServiceNow record: plain strings as
/// they are, `{display_value, value}` and `{link, value}` → `value`; absent,
/// `null`, `""` (or an object whose `value` is one of those) → `None`.
///
/// A JSON type ServiceNow never sends is an `invalid-type` error at the field.
pub fn value<'a>(record: &'a Value, key: &str) -> Result<Option<&'a str>, FieldError> {
    field_value(record.get(key), key)
}

/// [`value`] for a field already looked up: `field` is `record.get(key)`, found
/// some other way (e.g. in one pass over the record's keys, which saves hashing
/// each name when a plugin reads many fields).
pub fn field_value<'a>(field: Option<&'a Value>, key: &str) -> Result<Option<&'a str>, FieldError> {
    let wrong = |got: &Value| {
        let pointer = crate::json::to_pointer(key);
        FieldError::new(
            pointer.clone(),
            "invalid-type",
            format!(
                "{pointer} must be a string or an object with a string \"value\", got {}",
                crate::json::type_name(got)
            ),
        )
    };
    let raw = match field {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(obj)) => match obj.get("value") {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => v,
        },
        Some(v) => v,
    };
    match raw {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.as_str())),
        other => Err(wrong(other)),
    }
}

/// A ServiceNow boolean string: `"true"`/`"false"` (any case, or `"1"`/`"0"`).
pub fn boolean(record: &Value, key: &str) -> Result<Option<bool>, FieldError> {
    field_boolean(record.get(key), key)
}

/// [`boolean`] for a field already looked up (see [`field_value`]).
pub fn field_boolean(field: Option<&Value>, key: &str) -> Result<Option<bool>, FieldError> {
    match field_value(field, key)? {
        None => Ok(None),
        Some(s) => match s.trim() {
            t if t == "1" || t.eq_ignore_ascii_case("true") => Ok(Some(true)),
            t if t == "0" || t.eq_ignore_ascii_case("false") => Ok(Some(false)),
            _ => Err(FieldError::new(
                crate::json::to_pointer(key),
                "invalid-value",
                format!("/{key} must be \"true\" or \"false\", got {s:?}"),
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shape_reads_as_the_database_value() {
        let r = json!({
            "plain": "x",
            "empty": "",
            "dv": {"display_value": "16/04/2025 17:52:19", "value": "2025-04-16 15:52:19"},
            "dv_empty": {"display_value": "", "value": ""},
            "reference": {"link": "https://i.service-now.com/api/now/table/core_company/abc", "value": "abc"},
            "null": null,
            "number": 5,
            "obj_number": {"value": 5}
        });
        assert_eq!(value(&r, "plain").unwrap(), Some("x"));
        assert_eq!(value(&r, "empty").unwrap(), None);
        assert_eq!(value(&r, "dv").unwrap(), Some("2025-04-16 15:52:19"));
        assert_eq!(value(&r, "dv_empty").unwrap(), None);
        assert_eq!(value(&r, "reference").unwrap(), Some("abc"));
        assert_eq!(value(&r, "null").unwrap(), None);
        assert_eq!(value(&r, "absent").unwrap(), None);
        assert_eq!(value(&r, "number").unwrap_err().field, "/number");
        assert_eq!(value(&r, "obj_number").unwrap_err().code, "invalid-type");
    }

    #[test]
    fn booleans() {
        let r = json!({"a": "true", "b": {"display_value": "false", "value": "false"}, "c": "yes"});
        assert_eq!(boolean(&r, "a").unwrap(), Some(true));
        assert_eq!(boolean(&r, "b").unwrap(), Some(false));
        assert_eq!(boolean(&r, "c").unwrap_err().code, "invalid-value");
        assert_eq!(boolean(&r, "d").unwrap(), None);
    }
}

//! Reading Salesforce field values with errors that name the field.

use dialsync_plugin_sdk::record::region_code;
use dialsync_plugin_sdk::serde_json::Value;
use dialsync_plugin_sdk::{FieldError, Host, external_id, salesforce};

/// A text field: absent or `null` → `None`; anything but a string is an error
/// at `pointer`.
pub fn text<'a>(obj: &'a Value, key: &str, pointer: &str) -> Result<Option<&'a str>, FieldError> {
    text_at(obj, key, || pointer.to_owned())
}

/// [`text`] for a top-level field, named `/<key>` only if it is an error
/// (the pointer is not built for every field of every record).
pub fn top_text<'a>(obj: &'a Value, key: &str) -> Result<Option<&'a str>, FieldError> {
    text_at(obj, key, || dialsync_plugin_sdk::json::to_pointer(key))
}

fn text_at<'a>(
    obj: &'a Value,
    key: &str,
    pointer: impl FnOnce() -> String,
) -> Result<Option<&'a str>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(type_error(&pointer(), "a string", other)),
    }
}

/// A checkbox field: absent or `null` → `None`; anything but a boolean is an error.
pub fn flag(obj: &Value, key: &str, pointer: &str) -> Result<Option<bool>, FieldError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(type_error(pointer, "true or false", other)),
    }
}

fn type_error(pointer: &str, expected: &str, got: &Value) -> FieldError {
    FieldError::new(
        pointer,
        "invalid-type",
        format!(
            "{pointer} must be {expected}, got {}",
            dialsync_plugin_sdk::json::type_name(got)
        ),
    )
}

/// The 18-char Id and the externalId `sf_<Id18>` of a 15- or 18-char Id.
pub fn ids(raw: &str, pointer: &str) -> Result<(String, String), FieldError> {
    let invalid = |message: String| FieldError::new(pointer, "invalid-id", message);
    let id18 = salesforce::id18(raw).map_err(|e| invalid(format!("{pointer}: {e}")))?;
    let ext = external_id("sf", &[&id18]).map_err(|e| invalid(format!("{pointer}: {e}")))?;
    Ok((id18, ext))
}

/// The phone region: the first record country code that is ISO alpha-2, else
/// the configured `default_region`.
pub fn region(host: &dyn Host, codes: &[Option<&str>]) -> Option<String> {
    codes
        .iter()
        .find_map(|c| region_code(*c))
        .or_else(|| host.config("default_region"))
}

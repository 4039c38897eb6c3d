//! JSON helpers: RFC 6901 pointers and type names for error messages.
//!
//! Field errors name fields by JSON pointer, and configurable plugins let admins
//! name fields either by pointer (`/account/id`) or plain top-level name
//! (`status`); [`to_pointer`] turns both into a pointer.

use serde_json::Value;

/// `"/a/b"` stays as is; a plain field name becomes the pointer to that
/// top-level key, with `~` and `/` escaped (`"a/b"` → `"/a~1b"`); `""` is the
/// whole document.
pub fn to_pointer(path: &str) -> String {
    if path.is_empty() || path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{}", escape(path))
    }
}

/// Escape one key for use as a JSON pointer segment.
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The value at `path` (a pointer or plain field name, see [`to_pointer`]).
pub fn get<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    record.pointer(&to_pointer(path))
}

/// `null`, `boolean`, `number`, `string`, `array` or `object`.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_and_names() {
        let v = json!({"a": {"b": 1}, "x/y": 2, "m~n": 3});
        assert_eq!(get(&v, "/a/b"), Some(&json!(1)));
        assert_eq!(get(&v, "x/y"), Some(&json!(2)));
        assert_eq!(get(&v, "m~n"), Some(&json!(3)));
        assert_eq!(get(&v, "missing"), None);
        assert_eq!(to_pointer("x/y"), "/x~1y");
        assert_eq!(type_name(&json!([])), "array");
    }
}

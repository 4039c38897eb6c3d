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
///
/// Looks the value up without allocating: a plain name is one object look-up,
/// and a pointer's segments are unescaped only when they contain `~` (mapping
/// a record looks up every configured field, so this is on every record's path).
pub fn get<'a>(record: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(record);
    }
    let Some(pointer) = path.strip_prefix('/') else {
        return record.as_object()?.get(path);
    };
    pointer.split('/').try_fold(record, |value, segment| {
        let key: std::borrow::Cow<'_, str> = if segment.contains('~') {
            segment.replace("~1", "/").replace("~0", "~").into()
        } else {
            segment.into()
        };
        match value {
            Value::Object(map) => map.get(key.as_ref()),
            Value::Array(items) => items.get(array_index(&key)?),
            _ => None,
        }
    })
}

/// An RFC 6901 array index: `0` or digits without a leading zero.
fn array_index(segment: &str) -> Option<usize> {
    if segment.is_empty()
        || (segment.len() > 1 && segment.starts_with('0'))
        || !segment.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    segment.parse().ok()
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
        assert_eq!(get(&v, ""), Some(&v));
        assert_eq!(get(&v, "/x~1y"), Some(&json!(2)));
        assert_eq!(get(&v, "/m~0n"), Some(&json!(3)));
        assert_eq!(get(&v, "/a/b/c"), None);
        assert_eq!(to_pointer("x/y"), "/x~1y");
        assert_eq!(type_name(&json!([])), "array");
        let list = json!({"l": [10, 20], "": {"": 5}});
        assert_eq!(get(&list, "/l/1"), Some(&json!(20)));
        assert_eq!(get(&list, "/l/01"), None);
        assert_eq!(get(&list, "/l/-"), None);
        assert_eq!(get(&list, "//"), Some(&json!(5)));
    }

    #[test]
    fn pointers_resolve_as_serde_json_resolves_them() {
        let v = json!({"a": {"b": [1, {"c~/d": 2}], "": 3}, "x/y": 4, "m~n": 5, "0": 6,
                       "l": [7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]});
        for pointer in [
            "",
            "/",
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1",
            "/a/b/1/c~0~1d",
            "/a/b/1/c~/d",
            "/a/b/01",
            "/a/b/+1",
            "/a/b/-1",
            "/a/b/2",
            "/a/b/",
            "/a/",
            "/x~1y",
            "/x/y",
            "/m~0n",
            "/m~n",
            "/m~01",
            "/0",
            "/l/10",
            "/l/010",
            "/l/1e1",
            "/missing/deeper",
        ] {
            assert_eq!(get(&v, pointer), v.pointer(pointer), "{pointer:?}");
        }
    }
}

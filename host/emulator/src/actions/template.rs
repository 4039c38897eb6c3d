//! The template language of data actions, as Genesys Cloud runs it: a Velocity subset for
//! the request (`requestUrlTemplate`, `requestTemplate`, header values) and the
//! `successTemplate`, the JSONPath subset of `translationMap`, and Architect's flattening.
//!
//! Sources: Genesys resource centre "Request configuration for data actions" / "Response
//! configuration for data actions" and "Velocity macros for data actions"; the SDK's
//! `RequestConfig`/`ResponseConfig` models (PureCloudPlatformClientV2 269.0.0); the public
//! Terraform provider's examples and the GenesysCloudDevOps data-action modules, e.g.
//! `success_template = "{\"messageId\": $${messageId}}"` with a string `messageId`
//! (a translation-map value is inserted as JSON, strings with their quotes) and
//! `request_template = "{\"code\": \"$${input.wrapupCode}\"}"` (an input is inserted as its
//! bare text; the template supplies the quotes).
//!
//! Quoting rules implemented here:
//! - `${input.x}` / `$input.x` / `$!{input.x}` in a *request* template: the input's text
//!   (a string without quotes, a number or boolean as written).
//! - `$esc.jsonString(REF)`: the text JSON-escaped without surrounding quotes;
//!   `$esc.url(REF)`: form-URL-encoded.
//! - `${name}` / `$name` in the *success* template, for a `translationMap` name: the
//!   value's JSON (strings quoted, objects and arrays as JSON). `${rawResult}`: the whole
//!   answer as JSON. `${input.x}` there is the input's bare text, as in a request.
//! - An unknown reference is left as written, as Velocity does (`$!{...}` renders empty).

use serde_json::{Map, Value};

/// What a template can refer to: `input.*` and `credentials.*` (request side), or the
/// translation-map names and `rawResult` (success side).
pub(crate) enum Scope<'a> {
    /// Request templates.
    Request {
        /// The execute input.
        input: &'a Value,
        /// The integration's credential fields.
        credentials: &'a Map<String, Value>,
    },
    /// The success template.
    Success {
        /// The translated values by name.
        translated: &'a Map<String, Value>,
        /// The raw answer.
        raw: &'a Value,
        /// The execute input (`${input.x}` inserted bare, as in a request template).
        input: &'a Value,
    },
}

impl Scope<'_> {
    /// The rendered text of reference `name` (e.g. `input.x`), or `None` if unknown.
    fn lookup(&self, name: &str) -> Option<String> {
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self {
            Scope::Request { input, credentials } => {
                if name == "input.rawRequest" {
                    return Some(input.to_string());
                }
                let (scope, key) = name.split_once('.')?;
                match scope {
                    "input" => input.get(key).map(text),
                    "credentials" => credentials.get(key).map(text),
                    _ => None,
                }
            }
            Scope::Success {
                translated,
                raw,
                input,
            } => {
                if name == "rawResult" {
                    return Some(raw.to_string());
                }
                if let Some(key) = name.strip_prefix("input.") {
                    return input.get(key).map(text);
                }
                translated.get(name).map(Value::to_string)
            }
        }
    }
}

/// A Velocity reference starting at `$`: `${a.b}`, `$!{a.b}`, `$a.b` (identifiers joined by
/// dots). Returns (name, quiet, bytes consumed).
fn reference(tail: &str) -> Option<(&str, bool, usize)> {
    let body = tail.strip_prefix('$')?;
    let (quiet, body, skip) = match body.strip_prefix('!') {
        Some(b) => (true, b, 2),
        None => (false, body, 1),
    };
    if let Some(inner) = body.strip_prefix('{') {
        let end = inner.find('}')?;
        let name = inner[..end].trim();
        return is_name(name).then_some((name, quiet, skip + end + 2));
    }
    // Shorthand: `$input.x` — identifier segments joined by dots; a trailing dot is text.
    let mut end = 0;
    let bytes = body.as_bytes();
    while end < bytes.len() {
        let c = bytes[end] as char;
        let word = c.is_ascii_alphanumeric() || c == '_' || c == '-';
        // A dot joins two identifiers; a trailing dot is text.
        let joining_dot = c == '.'
            && end > 0
            && bytes
                .get(end + 1)
                .is_some_and(|n| (*n as char).is_ascii_alphabetic() || *n == b'_');
        if !(word || joining_dot) {
            break;
        }
        end += 1;
    }
    let name = &body[..end];
    (!name.is_empty() && (name.as_bytes()[0] as char).is_ascii_alphabetic()).then_some((
        name,
        quiet,
        skip + end,
    ))
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// Renders `template` in `scope` (see the module doc for the rules).
pub(crate) fn render(template: &str, scope: &Scope<'_>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        if let Some((escape, after)) = [("$esc.jsonString(", true), ("$esc.url(", false)]
            .into_iter()
            .find_map(|(p, e)| tail.strip_prefix(p).map(|a| (e, a)))
            && let Some(end) = after.find(')')
        {
            let arg = after[..end].trim();
            let value = reference(arg)
                .and_then(|(name, _, _)| scope.lookup(name))
                .unwrap_or_default();
            if escape {
                let quoted = Value::String(value).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            } else {
                out.extend(url::form_urlencoded::byte_serialize(value.as_bytes()));
            }
            rest = &after[end + 1..];
            continue;
        }
        match reference(tail) {
            Some((name, quiet, used)) => {
                match scope.lookup(name) {
                    Some(v) => out.push_str(&v),
                    None if quiet => {}
                    None => out.push_str(&tail[..used]),
                }
                rest = &tail[used..];
            }
            None => {
                out.push('$');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The JSONPath subset translation maps use: `$`, `$.a.b`, `$.a[0].b`, `$['a']`,
/// `$.a[*].b` (collects into an array). `None` when the path does not resolve.
pub(crate) fn json_path(value: &Value, path: &str) -> Option<Value> {
    let rest = path.trim().strip_prefix('$')?;
    let mut current = vec![value.clone()];
    let mut wildcard = false;
    let mut segments = Vec::new();
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        let mut p = part;
        let name_end = p.find('[').unwrap_or(p.len());
        if name_end > 0 {
            segments.push(Seg::Key(p[..name_end].to_owned()));
        }
        p = &p[name_end..];
        while let Some(inner) = p.strip_prefix('[') {
            let end = inner.find(']')?;
            let idx = inner[..end].trim();
            segments.push(if idx == "*" {
                Seg::All
            } else if let Ok(i) = idx.parse::<usize>() {
                Seg::Index(i)
            } else {
                Seg::Key(idx.trim_matches(|c| c == '\'' || c == '"').to_owned())
            });
            p = &inner[end + 1..];
        }
    }
    for seg in segments {
        let mut next = Vec::new();
        for v in &current {
            match &seg {
                Seg::Key(k) => next.extend(v.get(k).cloned()),
                Seg::Index(i) => next.extend(v.get(i).cloned()),
                Seg::All => {
                    wildcard = true;
                    next.extend(v.as_array().cloned().unwrap_or_default());
                }
            }
        }
        current = next;
    }
    if wildcard {
        Some(Value::Array(current))
    } else {
        current.into_iter().next()
    }
}

enum Seg {
    Key(String),
    Index(usize),
    All,
}

/// Architect's flattening of a result (`?flatten=true`): nested object properties become
/// dotted keys (`customer.address.city`); an array of objects becomes one array per inner
/// key (`orders.id` → `[..]`); arrays of primitives stay arrays.
pub(crate) fn flatten(value: &Value) -> Value {
    let mut out = Map::new();
    if let Value::Object(m) = value {
        for (k, v) in m {
            flatten_into(k, v, &mut out);
        }
        Value::Object(out)
    } else {
        value.clone()
    }
}

fn flatten_into(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, inner) in m {
                flatten_into(&format!("{prefix}.{k}"), inner, out);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            let mut columns: Map<String, Value> = Map::new();
            for item in items {
                let mut flat = Map::new();
                if let Value::Object(m) = item {
                    for (k, inner) in m {
                        flatten_into(&format!("{prefix}.{k}"), inner, &mut flat);
                    }
                }
                for (k, inner) in flat {
                    let column = columns.entry(k).or_insert_with(|| Value::Array(Vec::new()));
                    if let Value::Array(col) = column {
                        col.push(inner);
                    }
                }
            }
            out.extend(columns);
        }
        other => {
            out.insert(prefix.to_owned(), other.clone());
        }
    }
}

/// The flattened form of a JSON Schema (`inputSchemaFlattened`, `successSchemaFlattened`):
/// the same flattening applied to `properties`; properties inside an array of objects
/// become arrays of their type.
pub(crate) fn flatten_schema(schema: &Value) -> Value {
    let mut flat = schema.clone();
    let mut props = Map::new();
    if let Some(m) = schema["properties"].as_object() {
        for (k, v) in m {
            flatten_schema_into(k, v, false, &mut props);
        }
    }
    flat["properties"] = Value::Object(props);
    if let Some(o) = flat.as_object_mut() {
        o.remove("required");
    }
    flat
}

fn flatten_schema_into(prefix: &str, s: &Value, in_array: bool, out: &mut Map<String, Value>) {
    let is = |t: &str| s["type"] == t;
    if is("object") && s["properties"].is_object() {
        for (k, v) in s["properties"].as_object().into_iter().flatten() {
            flatten_schema_into(&format!("{prefix}.{k}"), v, in_array, out);
        }
    } else if is("array") && s["items"]["type"] == "object" {
        for (k, v) in s["items"]["properties"].as_object().into_iter().flatten() {
            flatten_schema_into(&format!("{prefix}.{k}"), v, true, out);
        }
    } else if in_array {
        out.insert(
            prefix.to_owned(),
            serde_json::json!({"type": "array", "items": s}),
        );
    } else {
        out.insert(prefix.to_owned(), s.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request<'a>(input: &'a Value, creds: &'a Map<String, Value>) -> Scope<'a> {
        Scope::Request {
            input,
            credentials: creds,
        }
    }

    #[test]
    fn request_templates_insert_bare_text_and_take_the_shorthand() {
        let input = json!({"name": "A \"b\"", "q": "x y&z", "n": 3});
        let creds = Map::from_iter([("token".to_owned(), json!("t0k"))]);
        let ctx = request(&input, &creds);
        assert_eq!(render("${input.rawRequest}", &ctx), input.to_string());
        assert_eq!(render("/p/$input.n/x", &ctx), "/p/3/x");
        assert_eq!(
            render("/p/${input.n}?q=$esc.url(${input.q})", &ctx),
            "/p/3?q=x+y%26z"
        );
        assert_eq!(render("$esc.url($input.q)", &ctx), "x+y%26z");
        assert_eq!(
            render("{\"a\": \"$esc.jsonString(${input.name})\"}", &ctx),
            "{\"a\": \"A \\\"b\\\"\"}"
        );
        assert_eq!(render("Bearer ${credentials.token}", &ctx), "Bearer t0k");
        assert_eq!(
            render("$5 ${unknown.x} $!{unknown.y}.", &ctx),
            "$5 ${unknown.x} ."
        );
        assert_eq!(render("end $input.n.", &ctx), "end 3.");
    }

    #[test]
    fn success_templates_insert_translated_values_as_json() {
        let raw = json!({"queue": {"id": "q-1"}, "n": 2});
        let translated = Map::from_iter([
            ("queueId".to_owned(), json!("q-1")),
            ("n".to_owned(), json!(2)),
        ]);
        let input = json!({"q": "sales"});
        let ctx = Scope::Success {
            translated: &translated,
            raw: &raw,
            input: &input,
        };
        // The template that works in Genesys: no quotes around a string value.
        assert_eq!(
            render("{ \"queueId\": ${queueId}, \"n\": $n }", &ctx),
            "{ \"queueId\": \"q-1\", \"n\": 2 }"
        );
        assert_eq!(render("${rawResult}", &ctx), raw.to_string());
        assert_eq!(render("\"$input.q\"", &ctx), "\"sales\"");
    }

    #[test]
    fn json_path_subset() {
        let v = json!({"a": {"b": [1, {"c": "x"}]}, "items": [{"id": 1}, {"id": 2}]});
        assert_eq!(json_path(&v, "$.a.b[1].c"), Some(json!("x")));
        assert_eq!(json_path(&v, "$['a'].b[0]"), Some(json!(1)));
        assert_eq!(json_path(&v, "$"), Some(v.clone()));
        assert_eq!(json_path(&v, "$.items[*].id"), Some(json!([1, 2])));
        assert_eq!(json_path(&v, "$.nope"), None);
    }

    #[test]
    fn flattening_follows_architect() {
        let v = json!({"customer": {"name": "Ann", "address": {"city": "Oslo"}},
                       "orders": [{"id": "o1", "total": 3}, {"id": "o2", "total": 4}],
                       "tags": ["a", "b"], "n": 1});
        assert_eq!(
            flatten(&v),
            json!({"customer.name": "Ann", "customer.address.city": "Oslo",
                   "orders.id": ["o1", "o2"], "orders.total": [3, 4], "tags": ["a", "b"], "n": 1})
        );
        let schema = json!({"type": "object", "required": ["customer"], "properties": {
            "customer": {"type": "object", "properties": {"name": {"type": "string"}}},
            "orders": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "string"}}}}}});
        let flat = flatten_schema(&schema);
        assert_eq!(
            flat["properties"]["customer.name"],
            json!({"type": "string"})
        );
        assert_eq!(
            flat["properties"]["orders.id"],
            json!({"type": "array", "items": {"type": "string"}})
        );
    }
}

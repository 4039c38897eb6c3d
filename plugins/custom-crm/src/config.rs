//! The plugin's configuration: which record fields mean what.
//!
//! Read from the host on every call (cheap, and never stale if the admin
//! changes it). Every key is optional; the defaults describe the default record
//! shape documented in the crate docs. A bad value is reported as a
//! [`ConfigError`] naming the key, which the mapper turns into a rejection of the
//! record (the host normally catches these first with `config.schema.json`).

use dialsync_plugin_sdk::Host;
use dialsync_plugin_sdk::serde_json::{self, Value, json};
use dialsync_plugin_sdk::time::TimestampFormat;

/// A configuration problem, naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

/// "When `field` equals one of `equals`": the do-not-call and deleted rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Field path (name or JSON pointer).
    pub field: String,
    /// Values that make the rule match.
    pub equals: Vec<Value>,
}

impl Rule {
    /// Whether `record` matches. An absent field never matches: rules are
    /// conditions, not required data. Strings compare trimmed and
    /// case-insensitively, and a string matches a number or boolean with the same
    /// text (`"TRUE"` matches `true`), since CRMs export flags as either.
    pub fn matches(&self, record: &Value) -> bool {
        let Some(value) = dialsync_plugin_sdk::json::get(record, &self.field) else {
            return false;
        };
        self.equals.iter().any(|want| {
            want == value
                || match (value, want) {
                    (Value::String(got), Value::String(want)) => {
                        got.trim().eq_ignore_ascii_case(want.trim())
                    }
                    (Value::String(got), other) | (other, Value::String(got)) => {
                        got.trim().eq_ignore_ascii_case(&as_text(other))
                    }
                    _ => false,
                }
        })
    }
}

/// A non-string JSON value as its JSON text (`true`, `3`, `null`), without
/// allocating for the common booleans.
fn as_text(value: &Value) -> std::borrow::Cow<'static, str> {
    match value {
        Value::Bool(true) => "true".into(),
        Value::Bool(false) => "false".into(),
        Value::Null => "null".into(),
        other => other.to_string().into(),
    }
}

/// The whole configuration, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Fields forming the stable key.
    pub key_fields: Vec<String>,
    /// Field holding the last-modified time.
    pub updated_at_field: String,
    /// How that time is written.
    pub updated_at_format: TimestampFormat,
    /// Data column → field path, in list order.
    pub columns: Vec<(String, String)>,
    /// Phone column → field path, in list order.
    pub phone_fields: Vec<(String, String)>,
    /// Region for numbers without a country prefix.
    pub default_region: Option<String>,
    /// Field holding the record's own region, preferred over `default_region`.
    pub region_field: String,
    /// When the contact must not be called.
    pub do_not_call: Rule,
    /// When the record was deleted.
    pub deleted: Rule,
}

impl Default for Config {
    /// The documented default record shape.
    fn default() -> Self {
        let pairs = |list: &[(&str, &str)]| {
            list.iter()
                .map(|(c, p)| ((*c).to_owned(), (*p).to_owned()))
                .collect()
        };
        Self {
            key_fields: vec!["id".into()],
            updated_at_field: "updated_at".into(),
            updated_at_format: TimestampFormat::Rfc3339,
            columns: pairs(&[
                ("firstName", "first_name"),
                ("lastName", "last_name"),
                ("email", "email"),
            ]),
            phone_fields: pairs(&[("phone", "phone"), ("mobile", "mobile")]),
            default_region: None,
            region_field: "country".into(),
            do_not_call: Rule {
                field: "do_not_call".into(),
                equals: vec![json!(true), json!("true"), json!("yes"), json!("1")],
            },
            deleted: Rule {
                field: "deleted".into(),
                equals: vec![json!(true), json!("true")],
            },
        }
    }
}

impl Config {
    /// Read the configuration from the host; absent keys keep their defaults.
    pub fn load(host: &dyn Host) -> Result<Self, ConfigError> {
        let mut config = Self::default();
        if let Some(v) = structured(host, "key_fields")? {
            config.key_fields = paths(v, "key_fields")?;
        }
        if let Some(field) = host.config("updated_at_field") {
            config.updated_at_field = field;
        }
        if let Some(format) = host.config("updated_at_format") {
            config.updated_at_format = format
                .parse()
                .map_err(|e| ConfigError(format!("updated_at_format: {e}")))?;
        }
        if let Some(v) = structured(host, "columns")? {
            config.columns = column_map(v, "columns")?;
        }
        if let Some(v) = structured(host, "phone_fields")? {
            config.phone_fields = column_map(v, "phone_fields")?;
        }
        config.default_region = host.config("default_region");
        if let Some(field) = host.config("region_field") {
            config.region_field = field;
        }
        if let Some(v) = structured(host, "do_not_call")? {
            config.do_not_call = rule(v, "do_not_call")?;
        }
        if let Some(v) = structured(host, "deleted")? {
            config.deleted = rule(v, "deleted")?;
        }
        if config.phone_fields.is_empty() {
            return Err(ConfigError(
                "phone_fields: at least one phone column is needed".into(),
            ));
        }
        if let Some((name, _)) = config
            .phone_fields
            .iter()
            .find(|(p, _)| config.columns.iter().any(|(c, _)| c == p))
        {
            return Err(ConfigError(format!(
                "column {name:?} is in both columns and phone_fields"
            )));
        }
        Ok(config)
    }

    /// Data columns then phone columns, as described to the host.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .chain(&self.phone_fields)
            .map(|(name, _)| name.as_str())
    }
}

/// A JSON-valued key (the host hands non-strings over as JSON text).
fn structured(host: &dyn Host, key: &str) -> Result<Option<Value>, ConfigError> {
    host.config(key)
        .map(|text| {
            serde_json::from_str(&text)
                .map_err(|_| ConfigError(format!("{key}: expected a JSON value, got {text:?}")))
        })
        .transpose()
}

fn paths(value: Value, key: &str) -> Result<Vec<String>, ConfigError> {
    let list = match value {
        Value::Array(items) if !items.is_empty() => items,
        _ => {
            return Err(ConfigError(format!(
                "{key}: expected a non-empty list of field paths"
            )));
        }
    };
    list.into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) if !s.is_empty() => Ok(s),
            other => Err(ConfigError(format!(
                "{key}[{i}]: expected a field path, got {other}"
            ))),
        })
        .collect()
}

fn column_map(value: Value, key: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let Value::Object(map) = value else {
        return Err(ConfigError(format!(
            "{key}: expected an object of column name → field path"
        )));
    };
    map.into_iter()
        .map(|(column, path)| {
            if column.is_empty() || column.len() > 128 || column == "externalId" {
                return Err(ConfigError(format!(
                    "{key}: {column:?} is not a usable column name (1..=128 chars, not the reserved externalId)"
                )));
            }
            match path {
                Value::String(p) if !p.is_empty() => Ok((column, p)),
                other => Err(ConfigError(format!("{key}.{column}: expected a field path, got {other}"))),
            }
        })
        .collect()
}

fn rule(value: Value, key: &str) -> Result<Rule, ConfigError> {
    let field = value
        .get("field")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty());
    let equals = value
        .get("equals")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty());
    match (field, equals) {
        (Some(field), Some(equals)) => Ok(Rule {
            field: field.to_owned(),
            equals: equals.clone(),
        }),
        _ => Err(ConfigError(format!(
            "{key}: expected {{\"field\": <path>, \"equals\": [<values>...]}}, got {value}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialsync_plugin_sdk::NativeHost;

    #[test]
    fn defaults_describe_the_default_shape() {
        let c = Config::load(&NativeHost::default()).unwrap();
        assert_eq!(c.key_fields, ["id"]);
        assert_eq!(
            c.column_names().collect::<Vec<_>>(),
            ["firstName", "lastName", "email", "phone", "mobile"]
        );
        assert_eq!(c.updated_at_format, TimestampFormat::Rfc3339);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (config, key) in [
            (json!({"key_fields": []}), "key_fields"),
            (json!({"key_fields": "id"}), "key_fields"),
            (json!({"columns": {"externalId": "id"}}), "columns"),
            (json!({"columns": {"x": 5}}), "columns.x"),
            (
                json!({"updated_at_format": "%d/%m/%Y"}),
                "updated_at_format",
            ),
            (json!({"do_not_call": {"field": "dnc"}}), "do_not_call"),
            (json!({"phone_fields": {}}), "phone_fields"),
            (json!({"columns": {"phone": "p"}}), "\"phone\""),
        ] {
            let err = Config::load(&NativeHost::new(config.clone())).unwrap_err();
            assert!(err.0.contains(key), "{config}: {}", err.0);
        }
    }

    #[test]
    fn rules_compare_loosely_but_need_the_field() {
        let r = Rule {
            field: "status".into(),
            equals: vec![json!("opted_out"), json!(true)],
        };
        assert!(r.matches(&json!({"status": " Opted_Out "})));
        assert!(r.matches(&json!({"status": "TRUE"})));
        assert!(r.matches(&json!({"status": true})));
        assert!(!r.matches(&json!({"status": "active"})));
        assert!(!r.matches(&json!({})));
    }
}

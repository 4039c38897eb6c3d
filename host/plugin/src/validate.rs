//! JSON Schema validation of plugin inputs and outputs, and the checks that a
//! mapped change keeps to the contract (declared columns, externalId shape).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;

use crate::model::{ContactChange, EXTERNAL_ID_COLUMN, FieldError, PluginInfo};

/// The schema every mapped change must satisfy, shared with the SDK and docs.
const CONTACT_CHANGE_SCHEMA: &str = include_str!("../../../schemas/contact-change.schema.json");

static CONTACT_CHANGE: LazyLock<Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(CONTACT_CHANGE_SCHEMA)
        .expect("schemas/contact-change.schema.json is valid JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("schemas/contact-change.schema.json is a valid JSON Schema")
});

/// Compiles a plugin-supplied schema, or says why it is not one.
pub(crate) fn compile(schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| format!("{e} (at {})", pointer_or_root(e.instance_path.as_str())))
}

/// Every way `instance` fails `validator`, as field errors with JSON pointers.
pub(crate) fn errors(validator: &Validator, instance: &Value) -> Vec<FieldError> {
    // Nearly every record is valid: `is_valid` stops at the first failure and
    // allocates nothing, while `iter_errors` builds an error for every keyword
    // it checks, so the full walk only runs for records that fail.
    if validator.is_valid(instance) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for e in validator.iter_errors(instance) {
        flatten(e.to_owned(), &mut out);
    }
    out
}

/// Longest schema-error message kept: jsonschema quotes the failing value,
/// which can be a whole record.
const MAX_MESSAGE: usize = 300;

/// Turns one jsonschema error into field errors that name the field itself:
/// a missing property becomes `<path>/<property>`, an unexpected one likewise,
/// and for `anyOf`/`oneOf` the branch with the fewest errors (the first on a
/// tie, so schema authors order branches by likelihood) is reported instead
/// of "not valid under any of the schemas".
fn flatten(e: ValidationError<'static>, out: &mut Vec<FieldError>) {
    let path = e.instance_path.as_str().to_string();
    let message = short(e.to_string());
    let child = |name: &str| format!("{path}/{}", name.replace('~', "~0").replace('/', "~1"));
    match e.kind {
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| property.to_string());
            out.push(FieldError {
                field: child(&name),
                code: "missing".into(),
                message: format!("`{name}` is required"),
            });
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for name in unexpected {
                out.push(FieldError {
                    field: child(&name),
                    code: "invalid-value".into(),
                    message: format!("`{name}` is not an allowed property"),
                });
            }
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context }
            if context.iter().any(|branch| !branch.is_empty()) =>
        {
            let best = context
                .into_iter()
                .filter(|branch| !branch.is_empty())
                .min_by_key(Vec::len)
                .unwrap_or_default();
            for sub in best {
                flatten(sub, out);
            }
        }
        ValidationErrorKind::Type { .. } => {
            out.push(FieldError {
                field: path,
                code: "invalid-type".into(),
                message,
            });
        }
        _ => {
            out.push(FieldError {
                field: path,
                code: "invalid-value".into(),
                message,
            });
        }
    }
}

fn short(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

fn pointer_or_root(p: &str) -> &str {
    if p.is_empty() { "/" } else { p }
}

/// A plugin's declared data and phone columns, for checking every change.
pub(crate) struct DeclaredColumns {
    data: BTreeSet<String>,
    phones: BTreeSet<String>,
}

impl DeclaredColumns {
    pub(crate) fn new(info: &PluginInfo) -> Self {
        DeclaredColumns {
            data: info.columns.iter().cloned().collect(),
            phones: info.phone_columns.iter().cloned().collect(),
        }
    }
}

/// Problems with one mapped change: the shared contact-change schema, then the
/// plugin's own declared columns.
pub(crate) fn check_change(declared: &DeclaredColumns, change: &ContactChange) -> Vec<String> {
    let mut problems = Vec::new();
    // The schema's rules, checked on the typed change without building a JSON
    // tree; only a change that may break one is walked by the schema validator
    // (for its messages).
    match (!keeps_to_the_schema(change)).then(|| serde_json::to_value(change)) {
        None => {}
        Some(Ok(json)) if CONTACT_CHANGE.is_valid(&json) => {}
        Some(Ok(json)) => {
            for e in CONTACT_CHANGE.iter_errors(&json) {
                problems.push(format!(
                    "{}: {e}",
                    pointer_or_root(e.instance_path.as_str())
                ));
            }
        }
        Some(Err(e)) => problems.push(format!("change does not serialise: {e}")),
    }
    let phone_columns = &declared.phones;
    for (column, value) in &change.columns {
        if column == EXTERNAL_ID_COLUMN {
            problems.push(format!(
                "/columns/{column}: `{EXTERNAL_ID_COLUMN}` is written by the host from externalId"
            ));
        } else if phone_columns.contains(column) {
            // An empty value clears the phone column (e.g. a CDC update that
            // nulled it); numbers themselves must go in `phones`.
            if !value.is_empty() {
                problems.push(format!(
                    "/columns/{column}: phone column `{column}` must go in `phones`"
                ));
            }
        } else if !declared.data.contains(column) {
            problems.push(format!(
                "/columns/{column}: column `{column}` is not in the plugin's declared columns"
            ));
        }
    }
    for (i, phone) in change.phones.iter().enumerate() {
        if !phone_columns.contains(&phone.column) {
            problems.push(format!(
                "/phones/{i}/column: `{}` is not one of the plugin's phone columns",
                phone.column
            ));
        }
    }
    problems
}

/// True only if `change`, as JSON, is valid against
/// `schemas/contact-change.schema.json`: each rule here is at least as strict as
/// the schema's (the test `the_fast_check_never_passes_what_the_schema_refuses`
/// holds them together). The types already give the rest: `operation` is one
/// of the enum's values, `partial` and `callable` are booleans, and
/// `sourceUpdatedAt` is a UTC time, which serialises as RFC 3339 ending `Z`.
fn keeps_to_the_schema(change: &ContactChange) -> bool {
    let chars_within = |s: &str, min: usize, max: usize| {
        // Byte length bounds the char count from above.
        (s.len() <= max || s.chars().count() <= max) && s.chars().take(min).count() == min
    };
    let id = change.external_id.as_bytes();
    (1..=64).contains(&id.len())
        && id.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && chars_within(&change.source_id, 1, 256)
        && change
            .columns
            .iter()
            .all(|(name, value)| chars_within(name, 1, 128) && chars_within(value, 0, 512))
        && change.phones.iter().all(|phone| {
            let digits = phone.number.as_bytes();
            chars_within(&phone.column, 1, 128)
                && (3..=16).contains(&digits.len())
                && digits[0] == b'+'
                && (b'1'..=b'9').contains(&digits[1])
                && digits[2..].iter().all(u8::is_ascii_digit)
        })
}

/// The checks `describe` output must pass beyond being valid JSON.
pub(crate) fn check_info(info: &PluginInfo) -> Result<(), String> {
    if info.name.is_empty()
        || !info
            .name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(format!(
            "name {:?} must be non-empty lowercase letters, digits and `-`",
            info.name
        ));
    }
    if info.version.is_empty() {
        return Err("version is empty".to_string());
    }
    if !info.columns.iter().any(|c| c == EXTERNAL_ID_COLUMN) {
        return Err(format!(
            "columns {:?} lack the reserved `{EXTERNAL_ID_COLUMN}` column",
            info.columns
        ));
    }
    let mut seen = BTreeSet::new();
    if let Some(dup) = info.columns.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(format!("column `{dup}` is declared twice"));
    }
    if let Some(missing) = info
        .phone_columns
        .iter()
        .find(|p| !seen.contains(p.as_str()))
    {
        return Err(format!("phone column `{missing}` is not in columns"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Operation, Phone};

    fn change() -> ContactChange {
        ContactChange {
            external_id: "crm_C000001".into(),
            source_id: "C000001".into(),
            source_updated_at: "2026-11-20T14:01:07Z".parse().unwrap(),
            operation: Operation::Upsert,
            partial: false,
            columns: [("firstName".to_string(), "Ann".to_string())].into(),
            phones: vec![Phone {
                column: "phone".into(),
                number: "+14155550100".into(),
            }],
            callable: Some(true),
        }
    }

    /// Every variant either passes both checks, or fails the fast one (and is
    /// then judged by the schema): the fast check never lets through a change
    /// the schema refuses, and it passes the ordinary ones.
    #[test]
    fn the_fast_check_never_passes_what_the_schema_refuses() {
        let long = |n: usize, c: char| std::iter::repeat_n(c, n).collect::<String>();
        let mut variants: Vec<(&str, ContactChange)> = vec![("plain", change())];
        let mut add = |what: &'static str, edit: &dyn Fn(&mut ContactChange)| {
            let mut c = change();
            edit(&mut c);
            variants.push((what, c));
        };
        for id in ["", "a-b", "é", "a b", "x\n"] {
            add("bad externalId", &move |c| c.external_id = id.into());
        }
        add("64-char externalId", &|c| c.external_id = long(64, 'a'));
        add("65-char externalId", &|c| c.external_id = long(65, 'a'));
        add("empty sourceId", &|c| c.source_id.clear());
        add("256-char sourceId", &|c| c.source_id = long(256, 'é'));
        add("257-char sourceId", &|c| c.source_id = long(257, 'a'));
        add("empty column name", &|c| {
            c.columns.insert(String::new(), "x".into());
        });
        add("128-char column name", &|c| {
            c.columns.insert(long(128, 'ü'), "x".into());
        });
        add("129-char column name", &|c| {
            c.columns.insert(long(129, 'a'), "x".into());
        });
        add("512-char value", &|c| {
            c.columns.insert("v".into(), long(512, 'ß'));
        });
        add("513-char value", &|c| {
            c.columns.insert("v".into(), long(513, 'a'));
        });
        add("empty value", &|c| {
            c.columns.insert("v".into(), String::new());
        });
        for number in [
            "+1",
            "+12",
            "+123456789012345",
            "+1234567890123456",
            "14155550100",
            "+04155550100",
            "+1415555010a",
            "+1 415",
            "+１４１５",
            "",
        ] {
            add("phone number", &move |c| c.phones[0].number = number.into());
        }
        add("empty phone column", &|c| c.phones[0].column.clear());
        add("129-char phone column", &|c| {
            c.phones[0].column = long(129, 'a')
        });
        add("no callable", &|c| c.callable = None);
        add("partial do-not-call", &|c| {
            c.partial = true;
            c.operation = Operation::DoNotCall;
        });
        let mut passed = 0;
        for (what, c) in &variants {
            let json = serde_json::to_value(c).unwrap();
            let schema = CONTACT_CHANGE.is_valid(&json);
            if keeps_to_the_schema(c) {
                assert!(
                    schema,
                    "{what}: the fast check passes {json} but the schema refuses it"
                );
                passed += 1;
            }
            if *what == "plain" || *what == "no callable" || *what == "partial do-not-call" {
                assert!(keeps_to_the_schema(c) && schema, "{what}: {json}");
            }
        }
        assert!(passed >= 10, "only {passed} variants passed the fast check");
    }
}

//! Data-action contracts: the built-in actions' input and success schemas (JSON Schema
//! draft-04, kept in `schemas/data-actions/`), plugin-declared actions' contracts, and
//! the check that a contract stays within what Genesys Cloud accepts — flat inputs of
//! primitive types with safe, unreserved names, no `$ref`, outputs without nested arrays.

use serde_json::Value;

/// One data action's contract.
#[derive(Debug, Clone)]
pub struct Contract {
    /// The action's URL name (`sync-record`, or `<source>.<plugin action>`).
    pub name: String,
    /// What it does.
    pub description: String,
    /// Draft-04 schema of the flat input object.
    pub input: Value,
    /// Draft-04 schema of the success output.
    pub output: Value,
}

const BUILTIN_FILES: [&str; 3] = [
    include_str!("../../../../schemas/data-actions/sync-record.json"),
    include_str!("../../../../schemas/data-actions/lookup-contact.json"),
    include_str!("../../../../schemas/data-actions/set-do-not-call.json"),
];

/// The built-in actions' contracts, in a fixed order.
pub fn builtins() -> Vec<Contract> {
    BUILTIN_FILES
        .iter()
        .map(|text| {
            // The files are part of the build; a broken one fails every test at once.
            let v: Value =
                serde_json::from_str(text).expect("embedded data-action contract parses");
            Contract {
                name: v["name"].as_str().unwrap_or_default().to_owned(),
                description: v["description"].as_str().unwrap_or_default().to_owned(),
                input: v["input"].clone(),
                output: v["output"].clone(),
            }
        })
        .collect()
}

/// Input names Genesys reserves.
const RESERVED: [&str; 3] = ["orgId", "integrationId", "rawRequest"];

/// Every way `contract` breaks Genesys Cloud's rules for data-action contracts (empty
/// when it is importable).
pub fn genesys_rule_violations(contract: &Contract) -> Vec<String> {
    let mut problems = Vec::new();
    let name = &contract.name;
    for (which, schema) in [("input", &contract.input), ("output", &contract.output)] {
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            problems.push(format!("{name} {which}: top-level type must be \"object\""));
        }
        if schema.to_string().contains("\"$ref\"") {
            problems.push(format!("{name} {which}: $ref is not supported"));
        }
        if let Some(s) = schema.get("$schema").and_then(Value::as_str)
            && s != "http://json-schema.org/draft-04/schema#"
        {
            problems.push(format!("{name} {which}: $schema must be draft-04, not {s}"));
        }
    }
    let props = contract
        .input
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (prop, schema) in &props {
        let valid_name = prop.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && prop
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            problems.push(format!(
                "{name} input /{prop}: name must match ^[A-Za-z][A-Za-z0-9_-]*$"
            ));
        }
        if RESERVED.contains(&prop.as_str()) {
            problems.push(format!(
                "{name} input /{prop}: the name is reserved by Genesys"
            ));
        }
        let types: Vec<&str> = match schema.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if types.is_empty() {
            problems.push(format!("{name} input /{prop}: needs a primitive type"));
        }
        for t in types {
            if !matches!(t, "string" | "integer" | "number" | "boolean" | "null") {
                problems.push(format!(
                    "{name} input /{prop}: type {t:?} is not a primitive (inputs must be flat)"
                ));
            }
        }
    }
    nested_arrays(&contract.output, "", false, name, &mut problems);
    problems
}

/// Flags an array inside an array anywhere in an output schema.
fn nested_arrays(schema: &Value, path: &str, in_array: bool, name: &str, out: &mut Vec<String>) {
    let is_array = match schema.get("type") {
        Some(Value::String(t)) => t == "array",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "array"),
        _ => false,
    };
    if is_array && in_array {
        out.push(format!("{name} output {path}: arrays may not nest"));
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            nested_arrays(v, &format!("{path}/{k}"), in_array, name, out);
        }
    }
    if let Some(items) = schema.get("items") {
        nested_arrays(
            items,
            &format!("{path}/items"),
            in_array || is_array,
            name,
            out,
        );
    }
}

/// A compiled draft-04 validator for `schema`.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft4::new(schema).map_err(|e| e.to_string())
}

/// Every validation error of `instance` against `validator`, as `"<pointer>: <reason>"`.
pub fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .map(|e| {
            let path = e.instance_path.to_string();
            format!("{}: {e}", if path.is_empty() { "/" } else { &path })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_builtin_contract_obeys_genesys_rules() {
        let all = builtins();
        assert_eq!(all.len(), 3);
        for c in &all {
            assert!(!c.name.is_empty());
            assert_eq!(
                genesys_rule_violations(c),
                Vec::<String>::new(),
                "{}",
                c.name
            );
            compile(&c.input).unwrap();
            compile(&c.output).unwrap();
        }
    }

    #[test]
    fn violations_are_found() {
        let bad = Contract {
            name: "bad".into(),
            description: String::new(),
            input: json!({"type": "object", "properties": {
                "nested": {"type": "object"},
                "rawRequest": {"type": "string"},
                "1x": {"type": "string"}
            }}),
            output: json!({"type": "object", "properties": {
                "rows": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
            }}),
        };
        let v = genesys_rule_violations(&bad);
        assert!(
            v.iter()
                .any(|p| p.contains("/nested") && p.contains("primitive")),
            "{v:?}"
        );
        assert!(v.iter().any(|p| p.contains("reserved")), "{v:?}");
        assert!(v.iter().any(|p| p.contains("/1x")), "{v:?}");
        assert!(v.iter().any(|p| p.contains("may not nest")), "{v:?}");
    }

    #[test]
    fn validation_errors_name_the_field() {
        let c = &builtins()[0];
        let v = compile(&c.input).unwrap();
        let errs = errors(&v, &json!({"source": 3}));
        assert!(errs.iter().any(|e| e.starts_with("/source")), "{errs:?}");
        assert!(errs.iter().any(|e| e.contains("recordJson")), "{errs:?}");
    }
}

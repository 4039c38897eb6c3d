//! A native [`Host`] for unit tests and benchmarks (feature `native`).
//!
//! Configuration comes from a JSON object and phones go through the same
//! `dialsync-phone` normaliser the runtime uses, so a plugin tested natively
//! behaves exactly as it will under wasmtime.

use std::cell::RefCell;

use serde_json::{Map, Value};

use crate::{Host, LogLevel, MapOutcome, Mapper, PhoneError, PluginInfo};

/// A host living in the test process.
#[derive(Debug, Default)]
pub struct NativeHost {
    /// The plugin's configuration object.
    pub config: Map<String, Value>,
    /// Every message the plugin logged, in order.
    pub logs: RefCell<Vec<(LogLevel, String)>>,
}

impl NativeHost {
    /// A host with this configuration object (anything but an object means none).
    pub fn new(config: Value) -> Self {
        Self {
            config: match config {
                Value::Object(map) => map,
                _ => Map::new(),
            },
            logs: RefCell::default(),
        }
    }

    /// `M::describe` against this host.
    pub fn describe<M: Mapper>(&self) -> PluginInfo {
        M::describe(self)
    }

    /// Map records as the runtime would: each serialised to JSON text and run
    /// through [`crate::map_batch`].
    pub fn map<M: Mapper>(&self, records: &[Value]) -> Vec<MapOutcome> {
        let texts: Vec<String> = records.iter().map(Value::to_string).collect();
        crate::map_batch::<M, _>(self, &texts)
    }
}

impl Host for NativeHost {
    fn log(&self, level: LogLevel, msg: &str) {
        self.logs.borrow_mut().push((level, msg.to_owned()));
    }

    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    fn normalize_phone(&self, raw: &str, region: Option<&str>) -> Result<String, PhoneError> {
        dialsync_phone::normalize(raw, region).map_err(|e| PhoneError {
            code: e.code.as_str().to_owned(),
            message: e.message,
        })
    }
}

/// Compare outcomes with a fixture's `expected.json` and list every mismatch.
///
/// `expected` is an array of `{index, kind, ...}`: `change` entries carry
/// `externalId`, `operation` and `partial`; `changes` entries a `changes` array of
/// those; `reject` entries the `fields` (JSON pointers) every error names, in
/// order; `skip` entries a `reasonContains` substring. The runtime's wasm tests
/// check the same files.
pub fn check_expected(outcomes: &[MapOutcome], expected: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(entries) = expected.as_array() else {
        return vec!["expected.json must be an array".into()];
    };
    if entries.len() != outcomes.len() {
        problems.push(format!(
            "{} expected outcomes for {} records",
            entries.len(),
            outcomes.len()
        ));
    }
    for (i, (want, got)) in entries.iter().zip(outcomes).enumerate() {
        let mut fail = |what: String| problems.push(format!("record {i}: {what}; got {got:?}"));
        if want["index"].as_u64() != Some(i as u64) {
            fail(format!("entry has index {}", want["index"]));
        }
        let kind = want["kind"].as_str().unwrap_or("");
        if kind != got.kind() {
            fail(format!("expected a {kind:?} outcome"));
            continue;
        }
        match got {
            MapOutcome::Change(c) => {
                if let Some(why) = change_mismatch(want, c) {
                    fail(why);
                }
            }
            MapOutcome::Changes(cs) => {
                let wants = want["changes"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                if wants.len() != cs.len() {
                    fail(format!("expected {} changes", wants.len()));
                }
                for (w, c) in wants.iter().zip(cs) {
                    if let Some(why) = change_mismatch(w, c) {
                        fail(why);
                    }
                }
            }
            MapOutcome::Reject(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                let wanted: Vec<&str> = want["fields"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if fields != wanted {
                    fail(format!("expected errors at {wanted:?}"));
                }
            }
            MapOutcome::Skip(reason) => {
                let needle = want["reasonContains"].as_str().unwrap_or("");
                if !reason.contains(needle) {
                    fail(format!("expected a skip reason containing {needle:?}"));
                }
            }
        }
    }
    problems
}

/// A change as JSON in the shape of `schemas/contact-change.schema.json`
/// (camelCase, columns as an object), for checking plugin output against it.
pub fn contact_change_json(change: &crate::ContactChange) -> Value {
    serde_json::json!({
        "externalId": change.external_id,
        "sourceId": change.source_id,
        "sourceUpdatedAt": change.source_updated_at,
        "operation": change.operation.as_str(),
        "partial": change.partial,
        "columns": change
            .columns
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect::<Map<String, Value>>(),
        "phones": change.phones.iter()
            .map(|p| serde_json::json!({"column": p.column, "number": p.number}))
            .collect::<Vec<_>>(),
        "callable": change.callable,
    })
}

fn change_mismatch(want: &Value, got: &crate::ContactChange) -> Option<String> {
    let ok = want["externalId"].as_str() == Some(got.external_id.as_str())
        && want["operation"].as_str() == Some(got.operation.as_str())
        && want["partial"].as_bool() == Some(got.partial);
    (!ok).then(|| {
        format!(
            "expected change {} {} partial={}",
            want["externalId"], want["operation"], want["partial"]
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ContactChange, FieldError, Operation};
    use serde_json::json;

    fn change(id: &str) -> ContactChange {
        ContactChange {
            external_id: id.into(),
            source_id: id.into(),
            source_updated_at: "2026-01-01T00:00:00Z".into(),
            operation: Operation::Upsert,
            partial: false,
            columns: vec![],
            phones: vec![],
            callable: None,
        }
    }

    #[test]
    fn check_expected_finds_every_kind_of_mismatch() {
        let outcomes = vec![
            MapOutcome::Change(change("a")),
            MapOutcome::Reject(vec![FieldError::missing("/x", "x")]),
            MapOutcome::Skip("no phone".into()),
            MapOutcome::Changes(vec![change("b"), change("c")]),
        ];
        let good = json!([
            {"index": 0, "kind": "change", "externalId": "a", "operation": "upsert", "partial": false},
            {"index": 1, "kind": "reject", "fields": ["/x"]},
            {"index": 2, "kind": "skip", "reasonContains": "phone"},
            {"index": 3, "kind": "changes", "changes": [
                {"externalId": "b", "operation": "upsert", "partial": false},
                {"externalId": "c", "operation": "upsert", "partial": false}]}
        ]);
        assert_eq!(check_expected(&outcomes, &good), Vec::<String>::new());
        let mut bad = good.clone();
        bad[0]["externalId"] = json!("z");
        bad[1]["fields"] = json!(["/y"]);
        bad[2]["reasonContains"] = json!("gap");
        bad[3]["changes"][1]["operation"] = json!("remove");
        assert_eq!(check_expected(&outcomes, &bad).len(), 4);
        bad[0]["kind"] = json!("skip");
        assert!(check_expected(&outcomes, &bad)[0].contains("expected a \"skip\""));
        assert_eq!(check_expected(&outcomes[..3], &good).len(), 1);
    }
}

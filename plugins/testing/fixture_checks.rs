//! Fixture checks every bundled plugin's `tests/mapping.rs` shares, generic over its
//! [`Mapper`]: included with `#[path]` so each plugin's test binary runs them against
//! its own `fixtures/` (`env!("CARGO_MANIFEST_DIR")` is the including plugin's).

use dialsync_plugin_sdk::serde_json::Value;
use dialsync_plugin_sdk::{Mapper, NativeHost};

/// A JSON file from the including plugin's `fixtures/`.
pub fn load(name: &str) -> Value {
    let path = format!("{}/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    dialsync_plugin_sdk::serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn load_schema(name: &str) -> Value {
    let path = format!("{}/../../schemas/{name}", env!("CARGO_MANIFEST_DIR"));
    dialsync_plugin_sdk::serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Every change `M` maps from the fixtures passes `schemas/contact-change.schema.json`
/// (formats checked); at least `min` changes are checked.
pub fn changes_satisfy_contact_change_schema<M: Mapper>(min: usize) {
    let schema = load_schema("contact-change.schema.json");
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let records = load("records.json");
    let host = NativeHost::new(load("config.json"));
    let mut checked = 0;
    for outcome in host.map::<M>(records.as_array().unwrap()) {
        for change in outcome.changes() {
            let doc = dialsync_plugin_sdk::contact_change_json(change);
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{doc}: {errors:?}");
            checked += 1;
        }
    }
    assert!(checked >= min, "only {checked} changes checked");
}

/// Every fixture record not expected to be rejected passes `M`'s own input schema.
pub fn non_rejected_records_pass_the_input_schema<M: Mapper>() {
    let info = M::describe(&NativeHost::default());
    let schema: Value = dialsync_plugin_sdk::serde_json::from_str(&info.input_schema).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let records = load("records.json");
    let expected = load("expected.json");
    for (i, (record, want)) in records
        .as_array()
        .unwrap()
        .iter()
        .zip(expected.as_array().unwrap())
        .enumerate()
    {
        if want["kind"] != "reject" {
            let errors: Vec<String> = validator
                .iter_errors(record)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "record {i}: {errors:?}");
        }
    }
}

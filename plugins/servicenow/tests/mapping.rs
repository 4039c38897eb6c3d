//! Native tests of the ServiceNow mapping: the shared fixtures produce the
//! expected outcomes (the runtime checks the same files under wasmtime), and the
//! properties the sync engine relies on hold.

use dialsync_plugin_sdk::serde_json::{Value, json};
use dialsync_plugin_sdk::{MapOutcome, Mapper, NativeHost, Operation, check_expected};
use dialsync_plugin_servicenow::ServiceNow;

#[path = "../../testing/fixture_checks.rs"]
mod fixture_checks;
use fixture_checks::load;

fn map_one(host: &NativeHost, record: Value) -> MapOutcome {
    host.map::<ServiceNow>(&[record]).remove(0)
}

fn record() -> Value {
    json!({
        "sys_id": "a9e30c7dc61122760116894de7bcc7bd",
        "sys_updated_on": "2026-11-20 14:01:07",
        "sys_class_name": "customer_contact",
        "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
        "phone": "(281) 332-2575", "mobile_phone": "", "home_phone": "",
        "active": "true", "country": "US",
        "account": {"link": "https://x.service-now.com/api/now/table/customer_account/1", "value": "0123"}
    })
}

#[test]
fn fixtures_produce_the_expected_outcomes() {
    let records = load("records.json");
    let outcomes = NativeHost::default().map::<ServiceNow>(records.as_array().unwrap());
    let problems = check_expected(&outcomes, &load("expected.json"));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn maps_a_record_to_a_full_change() {
    let MapOutcome::Change(c) = map_one(&NativeHost::default(), record()) else {
        panic!("expected a change")
    };
    assert_eq!(c.external_id, "sn_a9e30c7dc61122760116894de7bcc7bd");
    assert_eq!(c.source_updated_at, "2026-11-20T14:01:07Z");
    assert_eq!(c.operation, Operation::Upsert);
    assert_eq!(c.phone("businessPhone"), Some("+12813322575"));
    assert_eq!(c.column("company"), Some("0123"));
    assert_eq!(
        c.column("title"),
        Some(""),
        "a full change clears empty columns"
    );
    assert!(!c.partial);
}

#[test]
fn reformatted_phone_keeps_the_external_id() {
    let host = NativeHost::default();
    let mut other = record();
    other["phone"] = json!("+1 281-332-2575");
    other["sys_updated_on"] = json!("2026-11-21 09:00:00");
    let (a, b) = (map_one(&host, record()), map_one(&host, other));
    assert_eq!(a.changes()[0].external_id, b.changes()[0].external_id);
    assert_eq!(a.changes()[0].phones, b.changes()[0].phones);
}

#[test]
fn different_records_never_share_an_external_id() {
    let records = load("records.json");
    let outcomes = NativeHost::default().map::<ServiceNow>(records.as_array().unwrap());
    let mut seen = std::collections::BTreeMap::new();
    for (record, outcome) in records.as_array().unwrap().iter().zip(&outcomes) {
        let sys_id = dialsync_plugin_sdk::servicenow::value(record, "sys_id").unwrap();
        for change in outcome.changes() {
            let prior = seen.insert(change.external_id.clone(), sys_id);
            assert!(
                prior.is_none() || prior == Some(sys_id),
                "{} shared",
                change.external_id
            );
        }
    }
    assert!(seen.len() >= 10);
}

#[test]
fn invalid_phone_is_a_field_error_at_its_pointer() {
    let mut r = record();
    r["mobile_phone"] = json!("555-0143");
    let MapOutcome::Reject(errors) = map_one(&NativeHost::default(), r) else {
        panic!("expected a reject")
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].field, "/mobile_phone");
    assert_eq!(errors[0].code, "invalid-phone");
    assert!(errors[0].message.contains("555-0143"));
}

#[test]
fn default_region_config_applies_when_the_record_has_no_country() {
    let mut r = record();
    r["country"] = json!("");
    r["phone"] = json!("020 7946 0958");
    let host = NativeHost::new(json!({"default_region": "GB"}));
    assert_eq!(
        map_one(&host, r.clone()).changes()[0].phones[0].number,
        "+442079460958"
    );
    assert!(matches!(
        map_one(&NativeHost::default(), r),
        MapOutcome::Reject(_)
    ));
}

#[test]
fn garbage_input_is_rejected_not_panicking() {
    let host = NativeHost::default();
    let outcomes =
        dialsync_plugin_sdk::map_batch::<ServiceNow, _>(&host, &["not json", "[1]", "{}"]);
    assert!(outcomes.iter().all(|o| matches!(o, MapOutcome::Reject(_))));
    let MapOutcome::Reject(e) = &outcomes[2] else {
        unreachable!()
    };
    let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["/sys_id", "/sys_updated_on"]);
}

#[test]
fn describe_lists_columns_and_an_input_schema() {
    let info = ServiceNow::describe(&NativeHost::default());
    assert_eq!(info.columns[0], "externalId");
    assert!(info.phone_columns.iter().all(|p| info.columns.contains(p)));
    let schema: Value = dialsync_plugin_sdk::serde_json::from_str(&info.input_schema).unwrap();
    assert_eq!(schema["type"], "object");
    let _: Value = dialsync_plugin_sdk::serde_json::from_str(&info.config_schema).unwrap();
}

#[test]
fn fixture_changes_satisfy_the_contact_change_schema() {
    fixture_checks::changes_satisfy_contact_change_schema::<ServiceNow>(8);
}

#[test]
fn fixture_records_not_expected_to_be_rejected_pass_the_input_schema() {
    fixture_checks::non_rejected_records_pass_the_input_schema::<ServiceNow>();
}

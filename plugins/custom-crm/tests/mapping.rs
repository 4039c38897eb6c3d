//! Native tests of the custom-CRM mapping: the default shape's fixtures (also
//! checked under wasmtime by the runtime) and configured mappings.

use dialsync_plugin_custom_crm::CustomCrm;
use dialsync_plugin_sdk::serde_json::{Value, json};
use dialsync_plugin_sdk::{MapOutcome, Mapper, NativeHost, Operation, check_expected};

#[path = "../../testing/fixture_checks.rs"]
mod fixture_checks;
use fixture_checks::load;

fn map_one(host: &NativeHost, record: Value) -> MapOutcome {
    host.map::<CustomCrm>(&[record]).remove(0)
}

/// A CRM export whose shape differs from the default one.
fn configured() -> NativeHost {
    NativeHost::new(json!({
        "key_fields": ["/account/id", "contact_no"],
        "updated_at_field": "modified",
        "updated_at_format": "epoch_ms",
        "columns": {"name": "full_name", "tier": "/account/tier"},
        "phone_fields": {"cell": "cell_phone", "work": "work_phone"},
        "default_region": "GB",
        "do_not_call": {"field": "status", "equals": ["opted_out", "inactive"]},
        "deleted": {"field": "status", "equals": ["purged"]}
    }))
}

fn crm_record() -> Value {
    json!({
        "account": {"id": "ACME-1", "tier": "gold"},
        "contact_no": 7,
        "modified": 1760013296789i64,
        "full_name": "Ann Lee",
        "cell_phone": "07911 123456",
        "work_phone": null,
        "status": "active"
    })
}

#[test]
fn fixtures_produce_the_expected_outcomes() {
    let records = load("records.json");
    let host = NativeHost::new(load("config.json"));
    let outcomes = host.map::<CustomCrm>(records.as_array().unwrap());
    let problems = check_expected(&outcomes, &load("expected.json"));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn configured_mapping() {
    let MapOutcome::Change(c) = map_one(&configured(), crm_record()) else {
        panic!("expected a change")
    };
    assert!(
        c.external_id.starts_with("crm_ACME_1_7__"),
        "{}",
        c.external_id
    );
    assert_eq!(c.source_id, "ACME-1/7");
    assert_eq!(c.source_updated_at, "2025-10-09T12:34:56.789Z");
    assert_eq!(c.column("name"), Some("Ann Lee"));
    assert_eq!(c.column("tier"), Some("gold"));
    assert_eq!(c.phone("cell"), Some("+447911123456"));
    assert_eq!(c.operation, Operation::Upsert);

    let info = CustomCrm::describe(&configured());
    assert_eq!(info.columns, ["externalId", "name", "tier", "cell", "work"]);
    assert_eq!(info.phone_columns, ["cell", "work"]);
}

#[test]
fn configured_rules() {
    let mut r = crm_record();
    r["status"] = json!("Opted_Out");
    assert_eq!(
        map_one(&configured(), r.clone()).changes()[0].operation,
        Operation::DoNotCall
    );
    r["status"] = json!("purged");
    assert_eq!(
        map_one(&configured(), r).changes()[0].operation,
        Operation::Remove
    );
}

#[test]
fn a_mapped_field_the_record_lacks_is_a_field_error() {
    let mut r = crm_record();
    r["account"].as_object_mut().unwrap().remove("tier");
    r.as_object_mut().unwrap().remove("work_phone");
    let MapOutcome::Reject(errors) = map_one(&configured(), r) else {
        panic!("expected a reject")
    };
    let fields: Vec<_> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.code.as_str()))
        .collect();
    assert_eq!(
        fields,
        [("/account/tier", "missing"), ("/work_phone", "missing")]
    );
}

#[test]
fn bad_config_rejects_records_with_the_key_named() {
    let host = NativeHost::new(json!({"updated_at_format": "%d/%m/%Y"}));
    let MapOutcome::Reject(errors) = map_one(&host, crm_record()) else {
        panic!("expected a reject")
    };
    assert_eq!(errors[0].code, "invalid-config");
    assert!(errors[0].message.contains("updated_at_format"));
    // describe still answers, with the default columns, and logs the problem.
    assert_eq!(CustomCrm::describe(&host).columns.len(), 6);
    assert!(host.logs.borrow()[0].1.contains("updated_at_format"));
}

#[test]
fn reformatted_phone_keeps_the_external_id() {
    let host = configured();
    let mut other = crm_record();
    other["cell_phone"] = json!("+44 7911 123456");
    let (a, b) = (map_one(&host, crm_record()), map_one(&host, other));
    assert_eq!(a.changes()[0].external_id, b.changes()[0].external_id);
    assert_eq!(a.changes()[0].phones, b.changes()[0].phones);
}

#[test]
fn different_keys_never_share_an_external_id() {
    let host = configured();
    let mut ids = std::collections::BTreeSet::new();
    for (account, no) in [
        ("ACME-1", json!(7)),
        ("ACME_1", json!(7)),
        ("ACME-1", json!("7")),
        ("ACME-17", json!("")),
    ] {
        let mut r = crm_record();
        r["account"]["id"] = json!(account);
        r["contact_no"] = no;
        if let MapOutcome::Change(c) = map_one(&host, r) {
            ids.insert(c.external_id);
        }
    }
    // ACME-1/7 as number and as string is the same key; ACME-17 with an empty part is rejected.
    assert_eq!(ids.len(), 2, "{ids:?}");
}

#[test]
fn invalid_phone_is_a_field_error_at_its_pointer() {
    let mut r = crm_record();
    r["work_phone"] = json!("555-0143");
    let MapOutcome::Reject(errors) = map_one(&configured(), r) else {
        panic!("expected a reject")
    };
    assert_eq!(
        (errors[0].field.as_str(), errors[0].code.as_str()),
        ("/work_phone", "invalid-phone")
    );
}

#[test]
fn fixture_changes_satisfy_the_contact_change_schema() {
    fixture_checks::changes_satisfy_contact_change_schema::<CustomCrm>(8);
}

#[test]
fn fixture_records_not_expected_to_be_rejected_pass_the_input_schema() {
    fixture_checks::non_rejected_records_pass_the_input_schema::<CustomCrm>();
}

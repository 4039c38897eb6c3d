//! Native tests of the Salesforce mapping: shared fixtures (also checked under
//! wasmtime by the runtime), Id canonicalisation, CDC partial updates.

use dialsync_plugin_salesforce::Salesforce;
use dialsync_plugin_sdk::serde_json::{Value, json};
use dialsync_plugin_sdk::{MapOutcome, Mapper, NativeHost, Operation, check_expected};

#[path = "../../testing/fixture_checks.rs"]
mod fixture_checks;
use fixture_checks::load;

fn map_one(host: &NativeHost, record: Value) -> MapOutcome {
    host.map::<Salesforce>(&[record]).remove(0)
}

fn contact() -> Value {
    json!({
        "attributes": {"type": "Contact", "url": "/services/data/v62.0/sobjects/Contact/003D000000QO2vNIAT"},
        "Id": "003D000000QO2vNIAT",
        "FirstName": "Jo", "LastName": "Bloggs", "Email": "jo@example.com", "Title": "Buyer",
        "Phone": "(281) 332-2575", "MobilePhone": null, "MailingCountryCode": "US",
        "DoNotCall": false, "IsDeleted": false,
        "LastModifiedDate": "2026-10-09T12:34:56.000+0000",
        "SystemModstamp": "2026-10-09T12:35:00.000+0000"
    })
}

#[test]
fn fixtures_produce_the_expected_outcomes() {
    let records = load("records.json");
    let outcomes = NativeHost::default().map::<Salesforce>(records.as_array().unwrap());
    let problems = check_expected(&outcomes, &load("expected.json"));
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn rest_record_maps_with_system_modstamp_and_18_char_id() {
    let MapOutcome::Change(c) = map_one(&NativeHost::default(), contact()) else {
        panic!("expected a change")
    };
    assert_eq!(c.external_id, "sf_003D000000QO2vNIAT");
    assert_eq!(c.source_updated_at, "2026-10-09T12:35:00Z");
    assert_eq!(c.phone("phone"), Some("+12813322575"));
    assert_eq!(c.column("sourceObject"), Some("Contact"));
    assert_eq!(c.callable, Some(true));
}

#[test]
fn fifteen_char_and_mangled_ids_share_one_external_id() {
    let host = NativeHost::default();
    let mut short = contact();
    short["Id"] = json!("003D000000QO2vN");
    let mut mangled = contact();
    mangled["Id"] = json!("003d000000qo2vniat");
    let ids: Vec<String> = [contact(), short, mangled]
        .into_iter()
        .map(|r| map_one(&host, r).changes()[0].external_id.clone())
        .collect();
    assert!(
        ids.iter().all(|id| id == "sf_003D000000QO2vNIAT"),
        "{ids:?}"
    );
}

#[test]
fn reformatted_phone_keeps_the_external_id() {
    let host = NativeHost::default();
    let mut other = contact();
    other["Phone"] = json!("+1 281 332 2575");
    let (a, b) = (map_one(&host, contact()), map_one(&host, other));
    assert_eq!(a.changes()[0].external_id, b.changes()[0].external_id);
    assert_eq!(a.changes()[0].phones, b.changes()[0].phones);
}

#[test]
fn different_records_never_share_an_external_id() {
    let host = NativeHost::default();
    let mut ids = std::collections::BTreeSet::new();
    for short in [
        "003D000000QO2vN",
        "003D000000QO2vn",
        "003D000000Qo2vN",
        "00QD000000QO2vN",
    ] {
        let mut r = contact();
        r["Id"] = json!(short);
        assert!(ids.insert(map_one(&host, r).changes()[0].external_id.clone()));
    }
}

#[test]
fn cdc_update_is_partial_and_clears_nulled_fields() {
    let event = json!({
        "ChangeEventHeader": {
            "entityName": "Contact", "changeType": "UPDATE",
            "recordIds": ["003D000000QO2vNIAT"], "changedFields": ["Title", "MobilePhone"],
            "nulledFields": ["MobilePhone", "Name.FirstName"], "commitTimestamp": 1760013296789i64
        },
        "Title": "CTO",
        "MobilePhone": null
    });
    let MapOutcome::Change(c) = map_one(&NativeHost::default(), event) else {
        panic!("expected a change")
    };
    assert!(c.partial);
    assert_eq!(c.source_updated_at, "2025-10-09T12:34:56.789Z");
    let mut columns = c.columns.clone();
    columns.sort();
    assert_eq!(
        columns,
        [("firstName", ""), ("mobilePhone", ""), ("title", "CTO")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert!(c.phones.is_empty());
    assert_eq!((c.operation, c.callable), (Operation::Upsert, None));
}

#[test]
fn invalid_phone_is_a_field_error_at_its_pointer() {
    let mut r = contact();
    r["MobilePhone"] = json!("555-0143");
    let MapOutcome::Reject(errors) = map_one(&NativeHost::default(), r) else {
        panic!("expected a reject")
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].field.as_str(), errors[0].code.as_str()),
        ("/MobilePhone", "invalid-phone")
    );

    let event = json!({"data": {"payload": {
        "ChangeEventHeader": {"entityName": "Lead", "changeType": "CREATE", "recordIds": ["00QD000000QO2vN"], "commitTimestamp": 1},
        "Phone": "call me"
    }}});
    let MapOutcome::Reject(errors) = map_one(&NativeHost::default(), event) else {
        panic!("expected a reject")
    };
    assert_eq!(errors[0].field, "/data/payload/Phone");
}

#[test]
fn region_falls_back_to_config() {
    let mut r = contact();
    r["MailingCountryCode"] = json!(null);
    r["Phone"] = json!("020 7946 0958");
    let host = NativeHost::new(json!({"default_region": "GB"}));
    assert_eq!(
        map_one(&host, r.clone()).changes()[0].phones[0].number,
        "+442079460958"
    );
    let MapOutcome::Reject(e) = map_one(&NativeHost::default(), r) else {
        panic!()
    };
    assert!(e[0].message.contains("no-region"), "{}", e[0].message);
}

#[test]
fn describe_is_consistent() {
    let info = Salesforce::describe(&NativeHost::default());
    assert_eq!(info.columns[0], "externalId");
    assert!(info.phone_columns.iter().all(|p| info.columns.contains(p)));
    let _: Value = dialsync_plugin_sdk::serde_json::from_str(&info.input_schema).unwrap();
    let _: Value = dialsync_plugin_sdk::serde_json::from_str(&info.config_schema).unwrap();
}

#[test]
fn fixture_changes_satisfy_the_contact_change_schema() {
    fixture_checks::changes_satisfy_contact_change_schema::<Salesforce>(8);
}

#[test]
fn fixture_records_not_expected_to_be_rejected_pass_the_input_schema() {
    fixture_checks::non_rejected_records_pass_the_input_schema::<Salesforce>();
}

#[test]
fn every_bad_rest_field_is_named_by_its_pointer() {
    let mut record = contact();
    record["FirstName"] = json!(7);
    record["Phone"] = json!(["(281) 332-2575"]);
    record["MobilePhone"] = json!("555-0143");
    record["SystemModstamp"] = json!("yesterday");
    record["Account"] = json!({"Name": "Acme"});
    let MapOutcome::Reject(errors) = map_one(&NativeHost::default(), record) else {
        panic!("expected a rejection")
    };
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.code.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("/SystemModstamp", "invalid-date"),
            ("/FirstName", "invalid-type"),
            ("/Phone", "invalid-type"),
            ("/MobilePhone", "invalid-phone"),
        ]
    );
}

//! The bundled CRM plugins under wasm: their fixtures (ServiceNow,
//! Salesforce, the custom CRM), externalId stability
//! across phone reformatting, and externalId uniqueness.

use std::collections::BTreeSet;
use std::path::PathBuf;

use dialsync_plugin_host::{ContactChange, LoadedPlugin, RecordOutcome};
use serde_json::{Value, json};

async fn load(name: &str) -> LoadedPlugin {
    load_with(name, json!({})).await
}

async fn load_with(name: &str, config: Value) -> LoadedPlugin {
    let bytes = dialsync_bundled_plugins::by_name(name).expect("bundled plugin");
    crate::runtime()
        .load(bytes, config)
        .await
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

fn fixture(plugin: &str, file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../plugins")
        .join(plugin)
        .join("fixtures")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares outcomes with a fixture's `expected.json` (the format the SDK's
/// `native::check_expected` reads) and lists every mismatch.
fn mismatches(outcomes: &[RecordOutcome], expected: &Value) -> Vec<String> {
    let entries = expected.as_array().expect("expected.json is an array");
    let mut problems = Vec::new();
    if entries.len() != outcomes.len() {
        problems.push(format!(
            "{} expected outcomes for {} records",
            entries.len(),
            outcomes.len()
        ));
    }
    let change_ok = |want: &Value, got: &ContactChange| {
        want["externalId"].as_str() == Some(got.external_id.as_str())
            && want["operation"].as_str() == Some(got.operation.as_str())
            && want["partial"].as_bool() == Some(got.partial)
    };
    for (i, (want, got)) in entries.iter().zip(outcomes).enumerate() {
        let ok = match (want["kind"].as_str(), got) {
            (Some("change"), RecordOutcome::Change { changes }) => {
                changes.len() == 1 && change_ok(want, &changes[0])
            }
            (Some("changes"), RecordOutcome::Change { changes }) => {
                let wants = want["changes"].as_array().cloned().unwrap_or_default();
                wants.len() == changes.len()
                    && wants.iter().zip(changes).all(|(w, c)| change_ok(w, c))
            }
            (Some("reject"), RecordOutcome::Reject { errors }) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                let wanted: Vec<&str> = want["fields"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                fields == wanted
            }
            (Some("skip"), RecordOutcome::Skip { reason }) => {
                reason.contains(want["reasonContains"].as_str().unwrap_or(""))
            }
            _ => false,
        };
        if !ok {
            problems.push(format!("record {i}: expected {want}, got {got:?}"));
        }
    }
    problems
}

/// Maps a plugin's fixture records with its fixture config under wasm and
/// compares the outcomes with its `expected.json`.
async fn check_fixtures(plugin: &str) {
    let loaded = load_with(plugin, fixture(plugin, "config.json")).await;
    let records = fixture(plugin, "records.json");
    let records = records.as_array().expect("records.json is an array");
    assert!(records.len() >= 20, "{plugin}: at least 20 fixture records");
    let outcomes = loaded.map(records, None).await;
    let problems = mismatches(&outcomes, &fixture(plugin, "expected.json"));
    assert!(
        problems.is_empty(),
        "{plugin} fixtures under wasm:\n{}",
        problems.join("\n")
    );
}

#[tokio::test]
async fn servicenow_fixtures_map_as_expected() {
    check_fixtures("servicenow").await;
}

#[tokio::test]
async fn salesforce_fixtures_map_as_expected() {
    check_fixtures("salesforce").await;
}

#[tokio::test]
async fn custom_crm_fixtures_map_as_expected() {
    check_fixtures("custom-crm").await;
}

/// Four spellings of the same US number, by variant.
fn us_phone(n: usize, variant: usize) -> String {
    let line = 100 + n;
    match variant % 4 {
        0 => format!("(415) 555-0{line}"),
        1 => format!("415.555.0{line}"),
        2 => format!("+1 415 555 0{line}"),
        _ => format!("1-415-555-0{line}"),
    }
}

fn servicenow_record(n: usize, variant: usize) -> Value {
    json!({
        "sys_id": format!("{:032x}", 0x5eed_0000_u64 + n as u64 * 7919),
        "sys_updated_on": format!("2026-11-20 14:{:02}:07", n % 60),
        "sys_class_name": "customer_contact",
        "first_name": "Ann",
        "last_name": format!("Person{n}"),
        "email": format!("p{n}@example.com"),
        "phone": us_phone(n, variant),
        "mobile_phone": "",
        "home_phone": "",
        "active": "true",
        "country": "US",
    })
}

fn salesforce_record(n: usize, variant: usize) -> Value {
    json!({
        "attributes": {"type": "Contact"},
        "Id": format!("003Dn{:010}", 4_000_000 + n),
        "FirstName": "Jo",
        "LastName": format!("Contact{n}"),
        "Phone": us_phone(n, variant),
        "MailingCountryCode": "US",
        "DoNotCall": false,
        "IsDeleted": false,
        "LastModifiedDate": format!("2026-10-09T12:{:02}:56.000+0000", n % 60),
    })
}

fn single_change(outcome: &RecordOutcome) -> &ContactChange {
    match outcome {
        RecordOutcome::Change { changes } if changes.len() == 1 => &changes[0],
        other => panic!("expected one change, got {other:?}"),
    }
}

async fn stable_and_unique(plugin: &str, make: fn(usize, usize) -> Value) {
    const N: usize = 24;
    let loaded = load(plugin).await;
    let mut by_variant = Vec::new();
    for variant in 0..4 {
        let records: Vec<Value> = (0..N).map(|n| make(n, variant)).collect();
        let outcomes = loaded.map(&records, None).await;
        let changes: Vec<ContactChange> =
            outcomes.iter().map(|o| single_change(o).clone()).collect();
        by_variant.push(changes);
    }
    let first = &by_variant[0];
    let ids: BTreeSet<&str> = first.iter().map(|c| c.external_id.as_str()).collect();
    assert_eq!(
        ids.len(),
        N,
        "{plugin}: {N} different records must get {N} different externalIds"
    );
    for (variant, changes) in by_variant.iter().enumerate().skip(1) {
        for (a, b) in first.iter().zip(changes) {
            assert_eq!(
                a.external_id, b.external_id,
                "{plugin}: variant {variant} changed the externalId"
            );
            assert_eq!(
                a.phones, b.phones,
                "{plugin}: variant {variant} normalised differently"
            );
        }
    }
    assert_eq!(first[0].phones[0].number, "+14155550100");
}

#[tokio::test]
async fn servicenow_external_ids_are_stable_and_unique() {
    stable_and_unique("servicenow", servicenow_record).await;
}

#[tokio::test]
async fn salesforce_external_ids_are_stable_and_unique() {
    stable_and_unique("salesforce", salesforce_record).await;
}

#[tokio::test]
async fn a_configurable_plugin_declares_the_columns_of_its_configuration() {
    let config = json!({
        "columns": {"givenName": "first_name"},
        "phone_fields": {"tel": "phone"},
        "default_region": "US"
    });
    let plugin = crate::runtime()
        .load(dialsync_bundled_plugins::CUSTOM_CRM, config)
        .await
        .expect("custom-crm loads with its configuration");
    assert_eq!(plugin.info().columns, ["externalId", "givenName", "tel"]);
    assert_eq!(plugin.info().phone_columns, ["tel"]);
    let record = json!({"id": "C1", "updated_at": "2026-11-20T14:01:07Z",
                        "first_name": "Ann", "phone": "(281) 332-2575"});
    let out = plugin.map(&[record], None).await;
    let RecordOutcome::Change { changes } = &out[0] else {
        panic!("expected a change, got {:?}", out[0]);
    };
    assert_eq!(changes[0].columns["givenName"], "Ann");
    assert_eq!(changes[0].phones[0].number, "+12813322575");
}

/// The SDK's guest allocator bumps small blocks in a call of 16 or more
/// records, up to 8 MiB of regions per instance, then falls back to dlmalloc
/// (plugins/sdk/src/wasm.rs). A batch far past that cap maps in one call, to
/// the same outcomes as calls too small to bump, within the memory limit.
#[tokio::test]
async fn a_batch_past_the_guest_bump_regions_maps_like_small_calls() {
    let loaded = load("salesforce").await;
    // About 4 KiB of guest allocations per record: 5,000 records need more
    // than twice the 8 MiB the bump regions may take.
    let records: Vec<Value> = (0..5000)
        .map(|n| {
            // Phones repeat (the fixture numbers stay valid below 900); Ids do not.
            let mut record = salesforce_record(n % 800, n % 4);
            record["Id"] = json!(format!("003Dn{:010}", 4_000_000 + n));
            record
        })
        .collect();
    let big = loaded.map_with_report(&records, None).await;
    assert_eq!(big.stats.guest_calls, 1, "one call, no isolation re-runs");
    // Unbounded bumping would take 20 MiB or more; capped, the regions are
    // 8 MiB and dlmalloc reuses memory for the rest.
    let peak = big.stats.peak_memory_bytes;
    assert!(
        (8 << 20..16 << 20).contains(&peak),
        "peak guest memory {peak} bytes: the bump regions must be used and capped"
    );
    let mut small = Vec::new();
    for chunk in records.chunks(8) {
        small.extend(loaded.map(chunk, None).await);
    }
    assert_eq!(big.outcomes.len(), small.len());
    for (n, (a, b)) in big.outcomes.iter().zip(&small).enumerate() {
        single_change(a);
        assert_eq!(a, b, "record {n} maps differently in a batch of 5,000");
    }
}

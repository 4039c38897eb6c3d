//! Pull connectors end to end, over real HTTP on loopback: the ServiceNow Table API and
//! Salesforce REST emulators (`dialsync-crm-emulator`) as the CRMs, `dialsync serve`'s
//! state with the real servicenow / salesforce plugins under wasmtime, a real SQLite
//! journal, and the Genesys emulator as the target.
//!
//! - A ServiceNow webhook outage: changes made while no webhook arrived are applied by
//!   a pull sweep (keyset paging through a page boundary inside one second), the
//!   watermark is persisted, and a second sweep reads only the boundary second again.
//! - ServiceNow deletes: a `sys_audit_delete` row found by a pull removes the contact
//!   (`delete_mode = "hard-when-idle"`); an *after delete* business-rule payload makes it
//!   uncallable (`soft`).
//! - Salesforce: `queryAll` by `SystemModstamp` through several `nextRecordsUrl` pages,
//!   a deleted record (`IsDeleted`) removed, injected 503s retried.
//! - Thin webhooks (only `sys_id`) completed by a fetch through the same client.

mod server_support;

use std::collections::BTreeMap;

use dialsync_crm_emulator::Faults;
use dialsync_crm_emulator::salesforce::{SalesforceConfig, SalesforceEmulator};
use dialsync_crm_emulator::servicenow::{ServiceNowConfig, ServiceNowEmulator};
use serde_json::{Map, Value, json};
use server_support::*;

const TABLE: &str = "customer_contact";

fn sn_config() -> ServiceNowConfig {
    ServiceNowConfig {
        password: SN_PASSWORD.into(),
        client_secret: SN_PASSWORD.into(),
        ..ServiceNowConfig::default()
    }
}

fn person(i: u32, at: &str) -> Map<String, Value> {
    let v = json!({
        "sys_id": format!("{:032x}", 0xab_0000_u32 + i),
        "sys_updated_on": at,
        "first_name": "Pat",
        "last_name": format!("Pull{i}"),
        "email": format!("p{i}@example.com"),
        "phone": format!("(281) 332-{:04}", 4000 + i),
        "mobile_phone": "",
        "home_phone": "",
        "active": "true",
        "country": "US"
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn ext(i: u32) -> String {
    format!("sn_{:032x}", 0xab_0000_u32 + i)
}

fn sn_pull_source(base: &str, auth: &str) -> String {
    format!(
        r#"
[sources.sn-pull]
plugin = "servicenow"
org = "acme"
contact_list_id = "list-sn"
delete_mode = "hard-when-idle"
[sources.sn-pull.auth]
scheme = "bearer"
secret_env = "{SN_TOKEN_ENV}"
[sources.sn-pull.pull]
kind = "servicenow"
base_url = "{base}"
table = "{TABLE}"
auth = "{auth}"
username = "dialsync.integration"
password_env = "{SN_PASSWORD_ENV}"
client_id = "dialsync-oauth-client"
client_secret_env = "{SN_PASSWORD_ENV}"
page_size = 2
"#
    )
}

fn cursor(h: &Harness, source: &str, stream: &str) -> Option<String> {
    let conn = rusqlite::Connection::open(h.dir.path().join("journal.db")).unwrap();
    conn.query_row(
        "SELECT position FROM crm_source_cursors WHERE source = ?1 AND stream = ?2",
        [source, stream],
        |r| r.get(0),
    )
    .ok()
}

async fn post_sn(h: &Harness, source: &str, body: &Value) -> (u16, Value) {
    let resp = h
        .http
        .post(h.url(&format!("/v1/sources/{source}/events")))
        .header("authorization", format!("Bearer {SN_TOKEN}"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_sweep_after_a_webhook_outage_applies_missed_changes_and_deletes() {
    let sn = ServiceNowEmulator::new(sn_config())
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let h = Harness::start_with(&sn_pull_source(&sn.base_url(), "basic")).await;
    let crm = &sn.emulator;

    // Before the outage: record 1 arrives by webhook as usual.
    crm.upsert(TABLE, person(1, "2026-11-20 10:00:00"));
    let r1 = Value::Object(crm.records(TABLE)[&format!("{:032x}", 0xab_0001)].clone());
    let (s, v) = post_sn(&h, "sn-pull", &r1).await;
    assert_eq!(s, 202, "{v}");

    // The outage: five records change within one second (more than a page), one later,
    // and record 1's phone changes; no webhook reaches dialsync.
    for i in 2..=6 {
        crm.upsert(TABLE, person(i, "2026-11-20 10:05:00"));
    }
    crm.upsert(TABLE, person(7, "2026-11-20 10:06:30"));
    let mut changed = person(1, "2026-11-20 10:07:00");
    changed.insert("phone".into(), json!("(281) 332-9999"));
    crm.upsert(TABLE, changed);

    let report = dialsync::pull::pull_source(&h.state, "sn-pull")
        .await
        .unwrap();
    assert_eq!(report.read[0], (TABLE.to_owned(), 7), "{report:?}");
    assert_eq!(report.counts.accepted, 7, "{report:?}");
    h.wait_idle().await;
    let contacts = contacts_by_external_id(&h.emulator, "list-sn");
    for i in 1..=7 {
        assert!(
            contacts.contains_key(&ext(i)),
            "record {i} applied: {contacts:?}"
        );
    }
    assert_eq!(
        contacts[&ext(1)].data["businessPhone"],
        json!("+12813329999"),
        "the missed update applied"
    );
    // The watermark is the last durable row.
    let pos: Value = serde_json::from_str(&cursor(&h, "sn-pull", TABLE).unwrap()).unwrap();
    assert_eq!(pos["at"], "2026-11-20 10:07:00");
    assert_eq!(pos["sys_id"], format!("{:032x}", 0xab_0001));

    // A second sweep with nothing new re-reads only the boundary second.
    let again = dialsync::pull::pull_source(&h.state, "sn-pull")
        .await
        .unwrap();
    assert_eq!(again.read[0].1, 1, "{again:?}");

    // A delete in ServiceNow: found in sys_audit_delete, the contact is removed
    // (hard-when-idle, no campaign uses the list).
    assert!(crm.delete(
        TABLE,
        &format!("{:032x}", 0xab_0003),
        Some("2026-11-20 11:00:00")
    ));
    let report = dialsync::pull::pull_source(&h.state, "sn-pull")
        .await
        .unwrap();
    assert_eq!(
        report.read[1],
        ("sys_audit_delete".to_owned(), 1),
        "{report:?}"
    );
    h.wait_idle().await;
    let contacts = contacts_by_external_id(&h.emulator, "list-sn");
    assert!(
        !contacts.contains_key(&ext(3)),
        "deleted record's contact removed"
    );
    assert!(contacts.contains_key(&ext(4)));
    assert!(cursor(&h, "sn-pull", "sys_audit_delete").is_some());
    h.stop().await;
    sn.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servicenow_business_rule_delete_and_thin_webhook() {
    let sn = ServiceNowEmulator::new(sn_config())
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let h = Harness::start_with(&sn_pull_source(&sn.base_url(), "oauth")).await;
    let crm = &sn.emulator;
    crm.upsert(TABLE, person(11, "2026-11-20 12:00:00"));
    // Thin webhook: only the sys_id; completed through the Table API (OAuth token),
    // after two injected 503s.
    crm.set_faults(Faults {
        fail_next: 2,
        ..Faults::default()
    })
    .unwrap();
    let (s, v) = post_sn(
        &h,
        "sn-pull",
        &json!({"sys_id": format!("{:032x}", 0xab_000b)}),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    h.wait_idle().await;
    assert!(contacts_by_external_id(&h.emulator, "list-sn").contains_key(&ext(11)));

    // The after-delete business rule's payload on a soft-delete source: the contact
    // stays in the list, uncallable.
    let (s, v) = post_sn(
        &h,
        "servicenow",
        &Value::Object(person(12, "2026-11-20 12:01:00")),
    )
    .await;
    assert_eq!(s, 202, "{v}");
    let mut gone = person(12, "2026-11-20 12:02:00");
    gone.insert("operation".into(), json!("delete"));
    let (s, v) = post_sn(&h, "servicenow", &Value::Object(gone)).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["records"][0]["status"], "accepted", "{v}");
    h.wait_idle().await;
    let contacts = contacts_by_external_id(&h.emulator, "list-sn");
    assert!(!contacts[&ext(12)].callable, "soft delete: uncallable");
    h.stop().await;
    sn.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_query_all_sweep_pages_and_removes_deleted_records() {
    let cfg = SalesforceConfig {
        client_secret: SN_PASSWORD.into(),
        page_size: 200,
        ..SalesforceConfig::default()
    };
    let sf = SalesforceEmulator::new(cfg.clone())
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let h = Harness::start_with(&format!(
        r#"
[sources.sf-pull]
plugin = "salesforce"
org = "acme"
contact_list_id = "list-sf"
delete_mode = "hard-when-idle"
[sources.sf-pull.pull]
kind = "salesforce"
base_url = "{}"
client_id = "{}"
client_secret_env = "{SN_PASSWORD_ENV}"
page_size = 200
"#,
        sf.base_url(),
        cfg.client_id
    ))
    .await;
    let crm = &sf.emulator;
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut ids = Vec::new();
    for i in 0..450u32 {
        let fields = json!({
            "FirstName": "Sam", "LastName": format!("Force{i}"), "Email": format!("s{i}@example.com"),
            "Phone": format!("(415) 555-{:04}", i), "MailingCountryCode": "US", "DoNotCall": false
        });
        let Value::Object(fields) = fields else {
            unreachable!()
        };
        ids.push(crm.upsert(
            "Contact",
            fields,
            Some(t0 + chrono::Duration::milliseconds(i as i64 * 10)),
        ));
    }
    crm.set_faults(Faults {
        fail_next: 1,
        ..Faults::default()
    })
    .unwrap();
    let report = dialsync::pull::pull_source(&h.state, "sf-pull")
        .await
        .unwrap();
    assert_eq!(report.read[0], ("Contact".to_owned(), 450), "{report:?}");
    assert_eq!(report.counts.accepted, 450);
    h.wait_idle().await;
    let contacts = contacts_by_external_id(&h.emulator, "list-sf");
    assert_eq!(contacts.len(), 450);
    let stamp = cursor(&h, "sf-pull", "Contact").unwrap();
    assert_eq!(stamp, "2026-11-20T10:00:04.490+0000");

    // Deleted in Salesforce: queryAll returns it with IsDeleted; the contact is removed.
    assert!(crm.delete("Contact", &ids[7], Some(t0 + chrono::Duration::seconds(60))));
    let report = dialsync::pull::pull_source(&h.state, "sf-pull")
        .await
        .unwrap();
    // The boundary record again, and the deleted one.
    assert_eq!(report.read[0].1, 2, "{report:?}");
    h.wait_idle().await;
    let contacts: BTreeMap<_, _> = contacts_by_external_id(&h.emulator, "list-sf");
    assert_eq!(contacts.len(), 449);
    assert!(
        !contacts.keys().any(|k| k.contains(&ids[7])),
        "deleted contact removed"
    );
    h.stop().await;
    sf.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_config_errors_name_the_key() {
    set_env();
    let emulator = start_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let text = sn_pull_source("http://127.0.0.1:9", "basic")
        .replace(SN_PASSWORD_ENV, "DS_TEST_UNSET_PULL_PASSWORD");
    let path = write_config(dir.path(), &emulator.base_url(), &text);
    let config = dialsync::config::Config::load(&path).unwrap();
    let err = dialsync::server::AppState::build(
        &config,
        dialsync::plugin_registry::Registry::new(&dir.path().join("home")),
    )
    .await
    .err()
    .expect("a missing password is refused");
    assert!(
        err.to_string()
            .starts_with("sources.sn-pull.pull.password_env:"),
        "{err}"
    );
    let bad = write_config(
        dir.path(),
        &emulator.base_url(),
        &sn_pull_source("ftp://x", "basic"),
    );
    let e = dialsync::config::Config::load(&bad)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("sources.sn-pull.pull.base_url:"), "{e}");
    emulator.shutdown().await;
}

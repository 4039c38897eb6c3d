//! Pull connector throughput: records/second read from the CRM emulators
//! (`dialsync-crm-emulator`) over loopback HTTP, mapped by the bundled plugin under
//! wasmtime and journalled durably (SQLite, `synchronous=FULL`), with the watermark
//! stored after every page — everything `dialsync pull` does before the Genesys writes.
//!
//! - ServiceNow: Table API sweep, keyset paging, 1000 records per page, Basic auth.
//! - Salesforce: `queryAll` with `nextRecordsUrl` paging, 2000 records per page.
//!
//! Bounded: 5000 records per CRM, one sweep each.
//!
//! Run: `cargo bench -p dialsync --bench crm_pull --profile dev`

use std::path::Path;
use std::time::Instant;

use dialsync::config::Config;
use dialsync::plugin_registry::Registry;
use dialsync::server::AppState;
use dialsync_crm_emulator::salesforce::{SalesforceConfig, SalesforceEmulator};
use dialsync_crm_emulator::servicenow::{ServiceNowConfig, ServiceNowEmulator};
use serde_json::{Value, json};

const SECRET_ENV: &str = "DS_BENCH_CRM_SECRET";
const SECRET: &str = "crm-bench-secret";
const RECORDS: u32 = 5_000;

fn object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

fn write_config(dir: &Path, sn: &str, sf: &str, sf_client: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[store]
path = "journal.db"

[orgs.acme]
base_url = "http://127.0.0.1:9"
client_id = "dialsync"
client_secret_env = "{SECRET_ENV}"

[sources.sn]
plugin = "servicenow"
org = "acme"
contact_list_id = "list-sn"
[sources.sn.pull]
kind = "servicenow"
base_url = "{sn}"
username = "dialsync.integration"
password_env = "{SECRET_ENV}"
page_size = 1000

[sources.sf]
plugin = "salesforce"
org = "acme"
contact_list_id = "list-sf"
[sources.sf.pull]
kind = "salesforce"
base_url = "{sf}"
client_id = "{sf_client}"
client_secret_env = "{SECRET_ENV}"
page_size = 2000
"#
    );
    let path = dir.join("dialsync.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // SAFETY: set once at start, before any other thread reads the environment.
    unsafe { std::env::set_var(SECRET_ENV, SECRET) };
    let sn = ServiceNowEmulator::new(ServiceNowConfig {
        password: SECRET.into(),
        ..ServiceNowConfig::default()
    })
    .start("127.0.0.1:0".parse().unwrap())
    .await
    .expect("ServiceNow emulator starts");
    let sf_config = SalesforceConfig {
        client_secret: SECRET.into(),
        ..SalesforceConfig::default()
    };
    let sf = SalesforceEmulator::new(sf_config.clone())
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("Salesforce emulator starts");
    let t0 = chrono::Utc::now() - chrono::Duration::hours(1);
    for i in 0..RECORDS {
        sn.emulator.upsert(
            "customer_contact",
            object(json!({
                "sys_id": format!("{:032x}", 0xbe_0000_u64 + u64::from(i)),
                "sys_updated_on": (t0 + chrono::Duration::milliseconds(i64::from(i) * 300)).format("%Y-%m-%d %H:%M:%S").to_string(),
                "first_name": "Ann", "last_name": format!("Bench{i}"), "email": format!("b{i}@example.com"),
                "phone": format!("(281) 5{:02}-{:04}", i / 10_000, i % 10_000),
                "mobile_phone": "", "home_phone": "", "active": "true", "country": "US"
            })),
        );
        sf.emulator.upsert(
            "Contact",
            object(json!({
                "FirstName": "Sam", "LastName": format!("Bench{i}"), "Email": format!("s{i}@example.com"),
                "Phone": format!("(415) 5{:02}-{:04}", i / 10_000, i % 10_000),
                "MailingCountryCode": "US", "DoNotCall": false
            })),
            Some(t0 + chrono::Duration::milliseconds(i64::from(i))),
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(
        dir.path(),
        &sn.base_url(),
        &sf.base_url(),
        &sf_config.client_id,
    );
    let config = Config::load(&path).expect("config loads");
    let state = AppState::build(&config, Registry::new(&dir.path().join("home")))
        .await
        .expect("state builds");

    println!("| CRM | records | pages | seconds | records/s |");
    println!("|---|---:|---:|---:|---:|");
    for (source, label, page) in [
        ("sn", "ServiceNow Table API", 1000),
        ("sf", "Salesforce queryAll", 2000),
    ] {
        let started = Instant::now();
        let report = dialsync::pull::pull_source(&state, source)
            .await
            .expect("pull succeeds");
        let secs = started.elapsed().as_secs_f64();
        let read: usize = report.read.iter().map(|(_, n)| n).sum();
        assert_eq!(report.counts.accepted, RECORDS as usize, "{report:?}");
        println!(
            "| {label} | {read} | {} | {secs:.2} | {:.0} |",
            read.div_ceil(page),
            read as f64 / secs
        );
    }
    sn.shutdown().await;
    sf.shutdown().await;
}

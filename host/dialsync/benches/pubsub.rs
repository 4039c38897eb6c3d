//! Pub/Sub subscriber throughput: Change Data Capture events/second received from the
//! Salesforce emulator's Pub/Sub server over loopback gRPC, Avro-decoded (bitmaps
//! included), mapped by the bundled salesforce plugin under wasmtime, journalled durably
//! (SQLite, `synchronous=FULL`) and checkpointed after every batch — everything the
//! subscriber does before the Genesys writes.
//!
//! Bounded: 10,000 events (5,000 creates, 5,000 partial updates), batches of 100
//! (`num_requested`), one run.
//!
//! Run: `cargo bench -p dialsync --bench pubsub --profile dev` (or without `--profile dev`
//! for an optimised build)

use std::path::Path;
use std::time::{Duration, Instant};

use dialsync::config::Config;
use dialsync::plugin_registry::Registry;
use dialsync::server::AppState;
use dialsync_crm_emulator::pubsub::CONTACT_TOPIC;
use dialsync_crm_emulator::salesforce::{SalesforceConfig, SalesforceEmulator};
use serde_json::{Value, json};

const SECRET_ENV: &str = "DS_BENCH_PUBSUB_SECRET";
const SECRET: &str = "pubsub-bench-secret";
const CONTACTS: u32 = 5_000;

fn object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

fn write_config(dir: &Path, rest: &str, grpc: &str, client: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
[store]
path = "journal.db"

[orgs.acme]
base_url = "http://127.0.0.1:9"
client_id = "dialsync"
client_secret_env = "{SECRET_ENV}"

[sources.sf]
plugin = "salesforce"
org = "acme"
contact_list_id = "list-sf"
[sources.sf.subscribe]
topic = "{CONTACT_TOPIC}"
pubsub_url = "{grpc}"
base_url = "{rest}"
client_id = "{client}"
client_secret_env = "{SECRET_ENV}"
start_at = "earliest"
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
    let sf_config = SalesforceConfig {
        client_secret: SECRET.into(),
        ..SalesforceConfig::default()
    };
    let sf = SalesforceEmulator::new(sf_config.clone())
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("Salesforce emulator starts");
    let t0 = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut ids = Vec::new();
    for i in 0..CONTACTS {
        ids.push(sf.emulator.upsert(
            "Contact",
            object(json!({
                "FirstName": "Sam", "LastName": format!("Bench{i}"), "Email": format!("s{i}@example.com"),
                "Phone": format!("(415) 5{:02}-{:04}", i / 10_000, i % 10_000),
                "MailingCountryCode": "US", "DoNotCall": false
            })),
            Some(t0 + chrono::Duration::milliseconds(i64::from(i))),
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        sf.emulator.upsert(
            "Contact",
            object(json!({"Id": id, "Email": format!("changed{i}@example.com")})),
            Some(t0 + chrono::Duration::seconds(10) + chrono::Duration::milliseconds(i as i64)),
        );
    }
    let events = sf.emulator.published_events() as u64;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_config(
        dir.path(),
        &sf.base_url(),
        &sf.pubsub_url(),
        &sf_config.client_id,
    );
    let config = Config::load(&path).expect("config loads");
    let state = AppState::build(&config, Registry::new(&dir.path().join("home")))
        .await
        .expect("state builds");
    let journal = dir.path().join("journal.db");
    let store = dialsync::subscribe::replay::ReplayStore::open(&journal).expect("store");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let task = tokio::spawn(dialsync::subscribe::run(state.clone(), "sf", stopped));
    // Bounded wait: 10 minutes at most.
    let deadline = started + Duration::from_secs(600);
    loop {
        let at = store
            .get("sf", CONTACT_TOPIC)
            .await
            .expect("checkpoint")
            .map_or(0, |b| {
                u64::from_be_bytes(b.try_into().expect("8-byte replay id"))
            });
        if at >= events {
            break;
        }
        assert!(Instant::now() < deadline, "the subscriber stalled at {at}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    stop.send(true).expect("stop");
    let progress = task.await.expect("task").expect("run");
    assert_eq!(progress.received, events, "{progress:?}");
    assert_eq!(progress.counts.accepted as u64, events, "{progress:?}");
    println!("| events | batch | seconds | events/s |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {events} | 100 | {secs:.2} | {:.0} |",
        events as f64 / secs
    );
    sf.shutdown().await;
}

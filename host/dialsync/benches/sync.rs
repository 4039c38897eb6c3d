//! Sync-engine throughput against the emulator at a fixed rate limit, compared in the same
//! run with the naive approach users write by hand (seed 004): GET each contact, then POST
//! it if missing or PUT it if present. Prints a table: contacts/second and requests per
//! change for a create pass and an update pass. Bounded: fixed counts, 10-minute cap.
//!
//! Run: `cargo bench -p dialsync --bench sync`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use dialsync::config::DeleteMode;
use dialsync::sync::{
    Change, Engine, EngineOptions, GenesysSink, Operation, Phone, SourceBinding, SourceRules,
    contact_id,
};
use dialsync_emulator::{EmulatorConfig, FixtureContactList, Fixtures, PhoneColumn};
use dialsync_genesys::{
    AddContactsOptions, DialerContact, Endpoint, GenesysClient, OrgSettings, Secret,
    WritableDialerContact,
};

const LIST: &str = "bench-list";
const CONTACTS: usize = 1_000;
const RATE_PER_MINUTE: u32 = 6_000;

fn fixtures() -> Fixtures {
    Fixtures {
        contact_lists: vec![FixtureContactList {
            id: Some(LIST.into()),
            name: "bench".into(),
            column_names: vec!["externalId".into(), "name".into(), "phone".into()],
            phone_columns: vec![
                serde_json::from_value::<PhoneColumn>(
                    serde_json::json!({"columnName": "phone", "type": "cell"}),
                )
                .unwrap(),
            ],
            contacts: vec![],
        }],
        ..Default::default()
    }
}

fn client(base: &str) -> GenesysClient {
    let mut settings = OrgSettings::new(
        "bench",
        Endpoint::BaseUrl(base.parse().unwrap()),
        "dialsync",
        Secret::new("emulator-secret"),
    );
    settings.requests_per_minute = RATE_PER_MINUTE;
    GenesysClient::new(settings).unwrap()
}

fn row(i: usize, pass: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("externalId".to_string(), format!("B{i}")),
        ("name".to_string(), format!("name {i} pass {pass}")),
        ("phone".to_string(), format!("+1650253{:04}", i)),
    ])
}

struct Measured {
    requests: u64,
    seconds: f64,
}

async fn naive(client: &GenesysClient, pass: u32) -> Measured {
    let before = client.stats().total_responses();
    let started = Instant::now();
    for i in 0..CONTACTS {
        let id = contact_id(LIST, &format!("B{i}"));
        match client.get_contact(LIST, &id).await.unwrap() {
            None => {
                let c = WritableDialerContact {
                    id: Some(id),
                    contact_list_id: LIST.into(),
                    data: row(i, pass),
                    ..Default::default()
                };
                client
                    .add_contacts(LIST, &[c], AddContactsOptions::default())
                    .await
                    .unwrap();
            }
            Some(existing) => {
                let c = DialerContact {
                    data: row(i, pass),
                    ..existing
                };
                client.put_contact(LIST, &id, &c).await.unwrap();
            }
        }
    }
    Measured {
        requests: client.stats().total_responses() - before,
        seconds: started.elapsed().as_secs_f64(),
    }
}

async fn engine_pass(engine: &Engine, client: &GenesysClient, pass: u32) -> Measured {
    let before = client.stats().total_responses();
    let started = Instant::now();
    let changes: Vec<Change> = (0..CONTACTS)
        .map(|i| Change {
            external_id: format!("B{i}"),
            source_id: format!("B{i}"),
            source_updated_at: Utc.timestamp_opt(1_700_000_000 + pass as i64, 0).unwrap(),
            operation: Operation::Upsert,
            partial: false,
            columns: BTreeMap::from([("name".to_string(), format!("name {i} pass {pass}"))]),
            phones: vec![Phone {
                column: "phone".into(),
                number: format!("+1650253{:04}", i),
            }],
            callable: None,
        })
        .collect();
    engine.accept("bench", changes).await.unwrap();
    engine.run_until_idle().await.unwrap();
    Measured {
        requests: client.stats().total_responses() - before,
        seconds: started.elapsed().as_secs_f64(),
    }
}

async fn start() -> dialsync_emulator::RunningEmulator {
    dialsync_emulator::start(
        EmulatorConfig {
            rate_limit_per_minute: RATE_PER_MINUTE,
            latency: Duration::from_millis(2)..=Duration::from_millis(5),
            fixtures: Some(fixtures()),
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

async fn bench() {
    let mut rows = Vec::new();

    let emu = start().await;
    let naive_client = client(&emu.base_url());
    naive_client.ensure_token().await.unwrap();
    for (pass, label) in [(1, "create"), (2, "update")] {
        rows.push((
            "naive GET+POST/PUT",
            label,
            naive(&naive_client, pass).await,
        ));
    }
    emu.shutdown().await;

    let emu = start().await;
    let engine_client = client(&emu.base_url());
    engine_client.ensure_token().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(
        &dir.path().join("journal.db"),
        vec![SourceBinding {
            name: "bench".into(),
            list_id: LIST.into(),
            sink: Arc::new(GenesysSink::new(engine_client.clone())),
            rules: SourceRules {
                dnc_list_id: None,
                delete_mode: DeleteMode::Soft,
            },
        }],
        EngineOptions::default(),
    )
    .unwrap();
    for (pass, label) in [(1, "create"), (2, "update")] {
        rows.push((
            "dialsync engine",
            label,
            engine_pass(&engine, &engine_client, pass).await,
        ));
    }
    emu.shutdown().await;

    println!(
        "{CONTACTS} contacts per pass, emulator limit {RATE_PER_MINUTE} requests/minute, 2-5 ms latency"
    );
    println!(
        "{:<20} {:<7} {:>9} {:>12} {:>9} {:>12}",
        "approach", "pass", "requests", "req/change", "seconds", "contacts/s"
    );
    for (approach, pass, m) in &rows {
        println!(
            "{:<20} {:<7} {:>9} {:>12.3} {:>9.2} {:>12.0}",
            approach,
            pass,
            m.requests,
            m.requests as f64 / CONTACTS as f64,
            m.seconds,
            CONTACTS as f64 / m.seconds
        );
    }
    for pass in ["create", "update"] {
        let naive = rows
            .iter()
            .find(|r| r.0.starts_with("naive") && r.1 == pass)
            .unwrap();
        let ours = rows
            .iter()
            .find(|r| r.0.starts_with("dialsync") && r.1 == pass)
            .unwrap();
        println!(
            "{pass}: engine is {:.1}x faster with {:.1}x fewer requests",
            naive.2.seconds / ours.2.seconds,
            naive.2.requests as f64 / ours.2.requests.max(1) as f64
        );
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(600), bench())
            .await
            .expect("benchmark finished within 10 minutes")
    });
}

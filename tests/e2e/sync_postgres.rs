//! The sync engine on the PostgreSQL store (the tests' shared server, a database each) against
//! the emulator over loopback: several workers on one store, faults on, a dead worker's
//! claims taken over. The final emulator state must equal the state computed from the input.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use dialsync::config::DeleteMode;
use dialsync::sync::{
    Change, Engine, EngineOptions, GenesysSink, JournalStore, Operation, Outcome, RetryRules,
    SourceBinding, SourceRules, contact_id,
};
use dialsync_emulator::{EmulatorConfig, RunningEmulator};
use dialsync_pg::{PgJournal, PgSettings, connect, migrate};

use super::support::{DNC, LIST, client, emulator, fixtures, pg_database, upsert};

fn options() -> EngineOptions {
    EngineOptions {
        retry: RetryRules {
            max_attempts: 30,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            per_call: 50,
            concurrent_batches: 4,
        },
        keys_per_round: 100,
        idle_poll: Duration::from_millis(200),
        ..EngineOptions::default()
    }
}

/// A worker: its own store handle (owner id, lease, LISTEN connection) and Genesys client.
async fn worker(url: &str, emu: &RunningEmulator, lease: Duration) -> (Engine, PgJournal) {
    let settings = PgSettings::new(url);
    let pool = connect(&settings).unwrap();
    migrate(&pool).await.unwrap();
    let journal = PgJournal::new(pool, lease).with_listener(settings.config().unwrap());
    let binding = SourceBinding {
        name: "crm".into(),
        list_id: LIST.into(),
        sink: Arc::new(GenesysSink::new(client(emu, 20_000))),
        rules: SourceRules {
            dnc_list_id: Some(DNC.into()),
            delete_mode: DeleteMode::Soft,
        },
    };
    let engine = Engine::with_store(Arc::new(journal.clone()), vec![binding], options());
    (engine, journal)
}

/// (data, callable) per contact id.
type Contacts = HashMap<String, (BTreeMap<String, String>, bool)>;

/// The emulator's contacts; a contact id seen twice fails the test.
fn contacts(emu: &RunningEmulator) -> Contacts {
    super::support::contacts(&emu.state(), LIST)
}

/// `n` records, 3 versions each, interleaved by time; every 10th ends do-not-call.
fn input(n: usize) -> (Vec<Change>, Contacts) {
    let mut changes = Vec::new();
    let mut expected = HashMap::new();
    for i in 0..n {
        let id = format!("E{i:04}");
        let phone = format!("+1415555{i:04}");
        for v in [2, 0, 1] {
            changes.push(upsert(&id, v * 10, &format!("name-{i}-v{v}"), &phone));
        }
        if i % 10 == 0 {
            let mut dnc = upsert(&id, 25, &format!("name-{i}-v2"), &phone);
            dnc.operation = Operation::DoNotCall;
            changes.push(dnc);
        }
        let data = BTreeMap::from([
            ("externalId".to_string(), id.clone()),
            ("name".to_string(), format!("name-{i}-v2")),
            ("phone".to_string(), phone),
        ]);
        expected.insert(contact_id(LIST, &id), (data, i % 10 != 0));
    }
    // Interleave keys so both workers see every contact's versions arrive over time.
    changes.sort_by_key(|c| (c.source_updated_at, c.external_id.clone()));
    (changes, expected)
}

async fn wait_idle(store: &dyn JournalStore) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while store.unfinished().await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "work finished in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_store_apply_everything_once_under_faults() {
    let (_server, url) = pg_database();
    let emu = emulator(EmulatorConfig {
        rate_limit_per_minute: 20_000,
        error_rate: 0.1,
        burst_429_rate: 0.05,
        seed: 11,
        fixtures: Some(fixtures(false, vec![])),
        ..Default::default()
    })
    .await;
    let (a, store_a) = worker(&url, &emu, Duration::from_secs(30)).await;
    let (b, _) = worker(&url, &emu, Duration::from_secs(30)).await;
    let workers = [a.spawn_workers(), b.spawn_workers()];
    let (changes, expected) = input(300);
    // Both workers accept (webhooks land on either), in small batches over time.
    for (i, chunk) in changes.chunks(40).enumerate() {
        let target = if i % 2 == 0 { &a } else { &b };
        target.accept("crm", chunk.to_vec()).await.unwrap();
    }
    wait_idle(&store_a).await;
    for w in workers {
        w.shutdown().await.unwrap();
    }
    assert_eq!(contacts(&emu), expected, "final state = newest versions");
    let counts: BTreeMap<Outcome, u64> = store_a
        .outcome_counts(None)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(counts.get(&Outcome::DeadLettered), None, "{counts:?}");
    assert_eq!(
        counts.values().sum::<u64>(),
        changes.len() as u64,
        "one outcome each"
    );
    assert!(store_a.dead_letters().await.unwrap().is_empty());
    emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_workers_claims_are_taken_over_after_its_lease() {
    let (_server, url) = pg_database();
    let emu = emulator(EmulatorConfig {
        fixtures: Some(fixtures(false, vec![])),
        ..Default::default()
    })
    .await;
    let lease = Duration::from_millis(800);
    let (dead, dead_store) = worker(&url, &emu, lease).await;
    let (alive, alive_store) = worker(&url, &emu, lease).await;
    let (changes, expected) = input(40);
    dead.accept("crm", changes.clone()).await.unwrap();
    // The first worker claims everything and dies before finishing (never renews).
    let now = dead.now_ms();
    let claimed = dead_store
        .claim_ready(now, 1000, &[LIST.to_string()])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 40);
    // Under the live lease the other worker finds nothing to do.
    assert_eq!(alive.run_once().await.unwrap(), 0);
    tokio::time::sleep(lease + Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(30), alive.run_until_idle())
        .await
        .expect("bounded")
        .unwrap();
    assert_eq!(contacts(&emu), expected);
    let takeovers = alive_store.takeovers().await.unwrap();
    assert_eq!(takeovers, vec![(alive_store.owner().to_string(), 40)]);
    // The dead worker's late finish writes nothing: the keys are no longer its own.
    let stale: Vec<_> = claimed
        .into_iter()
        .map(|k| {
            let seqs = k.changes.iter().map(|c| c.seq).collect();
            (
                k.list_id,
                k.external_id,
                dialsync::sync::KeyResult::Park {
                    seqs,
                    next_attempt_at: 0,
                    error: "late".into(),
                },
            )
        })
        .collect();
    assert_eq!(dead_store.finish(&stale, dead.now_ms()).await.unwrap(), 0);
    assert_eq!(alive_store.unfinished().await.unwrap(), 0);
    emu.shutdown().await;
}

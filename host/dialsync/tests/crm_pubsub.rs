//! Salesforce Change Data Capture over the Pub/Sub API, end to end over real gRPC on
//! loopback: the Salesforce emulator (`dialsync-crm-emulator`: OAuth, REST, and the
//! Pub/Sub server with Avro events and replay ids) as the CRM, the subscriber
//! (`dialsync::subscribe`) with the real salesforce plugin under wasmtime, a real SQLite
//! journal, and the Genesys emulator as the target.
//!
//! 5,000 Contact changes — creates, partial updates (names, e-mails, phones set and
//! cleared), deletes, undeletes — with injected GAP events, one overflow transaction
//! (a `GAP_OVERFLOW`), streams dropped by the server every 700 events, and the whole
//! subscriber process restarted in the middle (a new `AppState` on the same journal,
//! resuming with the `CUSTOM` replay preset): every event is received exactly once,
//! every record is journaled once, and Genesys ends equal to Salesforce.

mod server_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dialsync::config::Config;
use dialsync::plugin_registry::Registry;
use dialsync::server::AppState;
use dialsync::subscribe::replay::ReplayStore;
use dialsync::subscribe::{Progress, run};
use dialsync_crm_emulator::pubsub::{CONTACT_TOPIC, PubSubFaults};
use dialsync_crm_emulator::salesforce::{RunningSalesforce, SalesforceConfig, SalesforceEmulator};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use server_support::*;

const SOURCE: &str = "sf-cdc";

fn source_toml(sf: &RunningSalesforce, client_id: &str) -> String {
    format!(
        r#"
[sources.{SOURCE}]
plugin = "salesforce"
org = "acme"
contact_list_id = "list-sf"
delete_mode = "hard-when-idle"
# An UPDATE event carries only the changed fields: a changed Phone comes without the
# mailing country, so the plugin needs its default region.
[sources.{SOURCE}.config]
default_region = "US"
[sources.{SOURCE}.subscribe]
topic = "{CONTACT_TOPIC}"
pubsub_url = "{}"
base_url = "{}"
client_id = "{client_id}"
client_secret_env = "{SN_PASSWORD_ENV}"
num_requested = 100
start_at = "earliest"
refetch_per_second = 1000
overflow_lookback_secs = 0
reconnect_min_ms = 20
reconnect_max_ms = 200
"#,
        sf.pubsub_url(),
        sf.base_url()
    )
}

/// One "process": the server state on the journal and its sync workers.
async fn boot(config_path: &Path, home: &Path) -> (Arc<AppState>, dialsync::sync::Workers) {
    let config = Config::load(config_path).expect("config loads");
    let state = AppState::build(&config, Registry::new(home))
        .await
        .expect("state builds");
    let workers = state.engine.spawn_workers();
    (state, workers)
}

async fn checkpoint(journal: &Path) -> u64 {
    ReplayStore::open(journal)
        .unwrap()
        .get(SOURCE, CONTACT_TOPIC)
        .await
        .unwrap()
        .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()))
}

/// Waits (bounded) until the checkpoint reaches `replay`.
async fn wait_checkpoint(journal: &Path, replay: u64) {
    for _ in 0..1200 {
        if checkpoint(journal).await >= replay {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the checkpoint stayed at {} (wanted {replay}) for 30 s",
        checkpoint(journal).await
    );
}

async fn wait_idle(state: &AppState) {
    for _ in 0..1200 {
        if state.engine.with_journal(|j| j.unfinished()).await.unwrap() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the journal did not drain within 30 s");
}

fn fields(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn phone(n: u32) -> String {
    format!("(415) 555-{:04}", n % 10_000)
}

/// Makes `count` random changes to the org's Contacts (`ids` grows with creates).
fn changes(
    crm: &SalesforceEmulator,
    rng: &mut SmallRng,
    ids: &mut Vec<String>,
    clock: &mut chrono::DateTime<chrono::Utc>,
    count: usize,
) {
    for n in 0..count {
        *clock += chrono::Duration::milliseconds(3);
        let at = Some(*clock);
        if n % 400 == 0 {
            crm.set_pubsub_faults(PubSubFaults {
                gap_next: 4,
                ..PubSubFaults::default()
            });
        }
        let roll = rng.random_range(0..100);
        if ids.len() < 300 || roll < 15 {
            let i = ids.len() as u32;
            ids.push(crm.upsert(
                "Contact",
                fields(json!({
                    "FirstName": "Cee", "LastName": format!("Dee{i}"),
                    "Email": format!("c{i}@example.com"), "Phone": phone(i),
                    "MobilePhone": phone(5000 + i), "MailingCountryCode": "US", "DoNotCall": false
                })),
                at,
            ));
            continue;
        }
        let id = ids[rng.random_range(0..ids.len())].clone();
        let deleted = crm.is_deleted("Contact", &id);
        match roll {
            _ if deleted && roll < 40 => {
                crm.undelete("Contact", &id, at);
            }
            _ if deleted => {}
            15..25 => {
                crm.delete("Contact", &id, at);
            }
            25..45 => {
                crm.upsert(
                    "Contact",
                    fields(json!({"Id": id, "LastName": format!("Renamed{n}")})),
                    at,
                );
            }
            45..65 => {
                crm.upsert(
                    "Contact",
                    fields(json!({"Id": id, "Email": format!("e{n}@example.com")})),
                    at,
                );
            }
            65..80 => {
                crm.upsert(
                    "Contact",
                    fields(json!({"Id": id, "Phone": phone(rng.random_range(0..9999))})),
                    at,
                );
            }
            _ => {
                // Cleared in Salesforce: the event lists Phone in nulledFields.
                crm.upsert("Contact", fields(json!({"Id": id, "Phone": null})), at);
            }
        }
    }
}

/// Both emulators running and a `dialsync.toml` (SQLite journal) subscribing to the
/// Salesforce one's Contact changes.
struct Rig {
    sf: RunningSalesforce,
    crm: SalesforceEmulator,
    genesys: dialsync_emulator::RunningEmulator,
    dir: tempfile::TempDir,
    config_path: std::path::PathBuf,
}

async fn rig() -> Rig {
    let cfg = SalesforceConfig {
        client_secret: SN_PASSWORD.into(),
        ..SalesforceConfig::default()
    };
    let sf = SalesforceEmulator::new(cfg.clone())
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let crm = sf.emulator.clone();
    let genesys = start_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let config_path = write_config(
        dir.path(),
        &genesys.base_url(),
        &source_toml(&sf, &cfg.client_id),
    );
    Rig {
        sf,
        crm,
        genesys,
        dir,
        config_path,
    }
}

/// The journal's changes of the contact with Salesforce `id` (for failure messages).
fn history(journal: &Path, id: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(journal).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT seq, op, source_updated_at, outcome, coalesce(error, payload) FROM changes
             WHERE external_id LIKE '%' || ?1 ORDER BY seq",
        )
        .unwrap();
    stmt.query_map([id], |r| {
        Ok(format!(
            "#{} {} at {} → {:?} {}",
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, Option<String>>(3)?,
            r.get::<_, String>(4)?
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn e164(raw: &str) -> String {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    format!("+1{digits}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_changes_over_pubsub_with_gaps_overflow_drops_and_a_restart() {
    set_env();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let Rig {
        sf,
        crm,
        genesys,
        dir,
        config_path,
    } = rig().await;
    let journal = dir.path().join("journal.db");
    let home = dir.path().join("home");

    let mut rng = SmallRng::seed_from_u64(20261130);
    let mut ids = Vec::new();
    let mut clock = chrono::DateTime::parse_from_rfc3339("2026-11-30T09:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);

    // First process: 2,500 changes published, streams dropped every 700 events.
    changes(&crm, &mut rng, &mut ids, &mut clock, 2500);
    crm.set_pubsub_faults(PubSubFaults {
        drop_stream_after: Some(700),
        ..PubSubFaults::default()
    });
    let (state, workers) = boot(&config_path, &home).await;
    create_lists(&genesys, &state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first = tokio::spawn(run(state.clone(), SOURCE, stopped));
    // Stop it in the middle of the backlog: a restart.
    wait_checkpoint(&journal, 1000).await;
    stop.send(true).unwrap();
    let p1: Progress = first.await.unwrap().unwrap();
    let resumed_after = checkpoint(&journal).await;
    assert!(
        resumed_after < crm.published_events() as u64,
        "stopped mid-stream"
    );
    workers.shutdown().await.unwrap();
    drop(state);

    // While it is down: 2,400 more changes, then one transaction of 100 changes that
    // overflows into a GAP_OVERFLOW.
    changes(&crm, &mut rng, &mut ids, &mut clock, 2400);
    clock += chrono::Duration::seconds(1);
    crm.set_pubsub_faults(PubSubFaults {
        overflow_next: 100,
        drop_stream_after: Some(700),
        ..PubSubFaults::default()
    });
    for i in 0..100usize {
        let id = ids[i * 3].clone();
        if crm.is_deleted("Contact", &id) {
            crm.undelete("Contact", &id, Some(clock));
        } else {
            crm.upsert(
                "Contact",
                fields(json!({"Id": id, "Title": "Bulk", "LastName": format!("Bulk{i}")})),
                Some(clock),
            );
        }
    }

    // Second process on the same journal: resumes after the checkpoint (CUSTOM).
    let (state, workers) = boot(&config_path, &home).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let second = tokio::spawn(run(state.clone(), SOURCE, stopped));
    let published = crm.published_events() as u64;
    wait_checkpoint(&journal, published).await;
    stop.send(true).unwrap();
    let p2 = second.await.unwrap().unwrap();
    wait_idle(&state).await;
    workers.shutdown().await.unwrap();

    // Every event exactly once, across drops and the restart.
    assert_eq!(p1.received + p2.received, published, "{p1:?} {p2:?}");
    assert_eq!(p1.duplicates + p2.duplicates, 0);
    assert_eq!(p1.undecodable + p2.undecodable, 0);
    assert!(p1.refetched + p2.refetched > 0, "GAP events re-fetched");
    assert_eq!(p1.resyncs + p2.resyncs, 1, "one GAP_OVERFLOW re-read");
    assert!(
        p1.covered + p2.covered > 0,
        "events behind a re-fetch not handed on"
    );
    assert_eq!(p1.counts.rejected + p2.counts.rejected, 0, "{p1:?} {p2:?}");
    assert_eq!(p1.counts.failed + p2.counts.failed, 0, "{p1:?} {p2:?}");
    // Each record handed over was journaled once: nothing replayed into the journal.
    let accepted = (p1.counts.accepted + p2.counts.accepted) as i64;
    assert_eq!(journal_count(&journal), accepted);

    // Genesys equals Salesforce.
    assert_genesys_equals_salesforce(&genesys, &crm, &|id| history(&journal, id));
    genesys.shutdown().await;
    sf.shutdown().await;
}

/// Every live Salesforce Contact is in Genesys with the same fields, no deleted one is,
/// and there is no other contact. `history` describes a record's journal on failure.
fn assert_genesys_equals_salesforce(
    genesys: &dialsync_emulator::RunningEmulator,
    crm: &SalesforceEmulator,
    history: &dyn Fn(&str) -> Vec<String>,
) {
    let contacts = contacts_by_external_id(genesys, "list-sf");
    let records = crm.records("Contact");
    let mut live = 0;
    for (id, r) in &records {
        let ext = contacts.keys().find(|k| k.ends_with(id.as_str())).cloned();
        if r["IsDeleted"] == json!(true) {
            assert!(
                ext.is_none(),
                "{id} is deleted in Salesforce but in Genesys"
            );
            continue;
        }
        live += 1;
        let ext = ext.unwrap_or_else(|| {
            panic!(
                "{id} missing in Genesys: {r:?}; journal: {:#?}",
                history(id)
            )
        });
        let data = &contacts[&ext].data;
        let want: BTreeMap<&str, String> = BTreeMap::from([
            ("lastName", r["LastName"].as_str().unwrap().to_owned()),
            ("email", r["Email"].as_str().unwrap().to_owned()),
            ("phone", r["Phone"].as_str().map(e164).unwrap_or_default()),
            ("mobilePhone", e164(r["MobilePhone"].as_str().unwrap())),
            (
                "title",
                r.get("Title")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            ),
        ]);
        for (col, want) in want {
            assert_eq!(
                data.get(col).and_then(Value::as_str).unwrap_or(""),
                want,
                "{id} column {col}: {data:?} vs {r:?}"
            );
        }
    }
    assert_eq!(contacts.len(), live, "no extra contacts in Genesys");
}

/// An event that does not decode (its Avro payload cut short) is not skipped: the
/// subscriber re-reads the object's records changed since the events before it, before
/// its checkpoint moves past it, so the renames those events carried reach Genesys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_events_are_recovered_by_re_reading_the_records() {
    set_env();
    let Rig {
        sf: _sf,
        crm,
        genesys,
        dir,
        config_path,
    } = rig().await;
    let journal = dir.path().join("journal.db");
    let mut rng = SmallRng::seed_from_u64(7);
    let mut ids = Vec::new();
    let mut clock = chrono::DateTime::parse_from_rfc3339("2026-11-30T09:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    // 300 creates, then three renames whose events are corrupted, then more changes.
    changes(&crm, &mut rng, &mut ids, &mut clock, 300);
    crm.set_pubsub_faults(PubSubFaults {
        corrupt_next: 3,
        ..PubSubFaults::default()
    });
    for (i, id) in ids[10..13].iter().enumerate() {
        clock += chrono::Duration::milliseconds(3);
        crm.upsert(
            "Contact",
            fields(json!({"Id": id, "LastName": format!("Lost{i}")})),
            Some(clock),
        );
    }
    changes(&crm, &mut rng, &mut ids, &mut clock, 100);

    let (state, workers) = boot(&config_path, &dir.path().join("home")).await;
    create_lists(&genesys, &state);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(run(state.clone(), SOURCE, stopped));
    wait_checkpoint(&journal, crm.published_events() as u64).await;
    stop.send(true).unwrap();
    let p: Progress = task.await.unwrap().unwrap();
    wait_idle(&state).await;
    workers.shutdown().await.unwrap();

    assert_eq!(p.undecodable, 3, "{p:?}");
    assert!(p.resyncs >= 1, "the records were re-read: {p:?}");
    assert_eq!(p.counts.failed + p.counts.rejected, 0, "{p:?}");
    assert_genesys_equals_salesforce(&genesys, &crm, &|id| history(&journal, id));
}

/// Two workers with the same `[sources.X.subscribe]` on one PostgreSQL store: one holds
/// the subscriber lock and subscribes, the other waits; when the active one is aborted
/// in the middle of the stream (its lock's connection closes), the other takes over from
/// the shared checkpoint (`CUSTOM`). Every event's change reaches the journal, a repeat
/// (the batch the aborted worker had made durable but not yet checkpointed) is never
/// applied twice, and Genesys ends equal to Salesforce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_one_pubsub_subscription_on_postgres() {
    set_env();
    let pg_server = dialsync_pg_harness::PgServer::start().expect("PostgreSQL test server");
    let url = pg_server.create_database("pubsub_takeover").unwrap();
    let pool = dialsync_pg::connect(&dialsync_pg::PgSettings::new(url.clone())).unwrap();
    dialsync_pg::migrate(&pool).await.unwrap();
    let store = ReplayStore::postgres(pool.clone());
    let Rig {
        sf,
        crm,
        genesys,
        dir,
        config_path,
    } = rig().await;
    let text = std::fs::read_to_string(&config_path).unwrap();
    assert!(text.contains("path = \"journal.db\""));
    std::fs::write(
        &config_path,
        text.replace("path = \"journal.db\"", &format!("url = \"{url}\"")),
    )
    .unwrap();
    let checkpoint = async || {
        store
            .get(SOURCE, CONTACT_TOPIC)
            .await
            .unwrap()
            .map_or(0, |b| u64::from_be_bytes(b.try_into().unwrap()))
    };

    let mut rng = SmallRng::seed_from_u64(20261201);
    let mut ids = Vec::new();
    let mut clock = chrono::DateTime::parse_from_rfc3339("2026-12-01T09:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    changes(&crm, &mut rng, &mut ids, &mut clock, 1500);

    // Two workers ("processes"): each its own state, pool and sync workers.
    let (a, a_workers) = boot(&config_path, &dir.path().join("home-a")).await;
    let (b, b_workers) = boot(&config_path, &dir.path().join("home-b")).await;
    create_lists(&genesys, &a);
    let (stop_a, stopped_a) = tokio::sync::watch::channel(false);
    let first = tokio::spawn(run(a.clone(), SOURCE, stopped_a));
    for _ in 0..1200 {
        if checkpoint().await >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(checkpoint().await >= 100, "worker a subscribes");
    let (stop_b, stopped_b) = tokio::sync::watch::channel(false);
    let second = tokio::spawn(run(b.clone(), SOURCE, stopped_b));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        crm.pubsub_streams(),
        (1, 1),
        "one Subscribe stream while both workers run"
    );
    // Worker a dies in the middle of the backlog (its task is aborted; the lock's
    // connection closes).
    let published = crm.published_events() as u64;
    let at_abort = checkpoint().await;
    assert!(at_abort < published, "a stopped mid-stream ({at_abort})");
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    drop(stop_a);

    // Worker b takes over from the shared checkpoint; more changes arrive meanwhile.
    changes(&crm, &mut rng, &mut ids, &mut clock, 500);
    let published = crm.published_events() as u64;
    for _ in 0..3000 {
        if checkpoint().await >= published {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(checkpoint().await, published, "worker b reached the end");
    stop_b.send(true).unwrap();
    let pb: Progress = second.await.unwrap().unwrap();
    assert!(
        pb.received > 0 && pb.received <= published - at_abort,
        "b resumed after a's checkpoint, not from the start: {pb:?} (a stopped at {at_abort} of {published})"
    );
    assert_eq!(pb.undecodable, 0);
    assert_eq!(pb.counts.rejected + pb.counts.failed, 0, "{pb:?}");
    assert_eq!(crm.pubsub_streams().1, 1, "never two streams at once");

    // Drained by both workers' sync workers.
    let db = pool.get().await.unwrap();
    for _ in 0..3000 {
        let pending: i64 = db
            .query_one("SELECT count(*) FROM changes WHERE state = 'pending'", &[])
            .await
            .unwrap()
            .get(0);
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a_workers.shutdown().await.unwrap();
    b_workers.shutdown().await.unwrap();
    // A change is journaled again only as a repeat of one a already journaled: the
    // batch a had made durable but not checkpointed, and later events for records a had
    // re-fetched (a's memory of those re-fetches died with it). A repeat never applies
    // the state a second time, and nothing is rejected or dead-lettered.
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT (external_id, op, source_updated_at)),
                    count(*) FILTER (WHERE state = 'pending'),
                    count(*) FILTER (WHERE outcome IN ('rejected', 'dead-lettered'))
             FROM changes",
            &[],
        )
        .await
        .unwrap();
    let (rows, distinct, pending, refused): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(pending, 0, "the journal drained");
    assert_eq!(refused, 0, "nothing rejected or dead-lettered");
    let applied_twice: i64 = db
        .query_one(
            "SELECT count(*) FROM (
                 SELECT count(*) FILTER (WHERE outcome = 'applied') AS applied
                 FROM changes GROUP BY external_id, op, source_updated_at
             ) g WHERE applied > 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        applied_twice, 0,
        "{rows} journal rows for {distinct} changes: a repeat was applied again"
    );
    assert!(
        rows - distinct < published as i64 - at_abort as i64,
        "{rows} journal rows for {distinct} changes: more repeats than events after a's checkpoint"
    );
    assert_genesys_equals_salesforce(&genesys, &crm, &|_| Vec::new());
    genesys.shutdown().await;
    sf.shutdown().await;
}

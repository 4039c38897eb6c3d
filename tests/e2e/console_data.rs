//! The admin console's journal reads (activity, search, history, change states, import
//! runs) on both stores: the same journal content written through the `JournalStore`
//! boundary into a SQLite file and into a PostgreSQL database must read back the same.

use std::sync::Arc;

use chrono::TimeZone;
use dialsync::console::data::{ConsoleData, HOURS, RecordKey, SearchBy, SqliteData};
use dialsync::console::pg_data::PgData;
use dialsync::sync::{
    Change, Journal, JournalStore, KeyResult, NewBatch, NewState, Operation, Outcome, Phone, Row,
    Seen, SqliteStore,
};
use serde_json::Value;

use super::support::pg_database;

const HOUR_MS: i64 = 3_600_000;
const NOW: i64 = 1_800_000_000_000;

fn change(id: &str, phone: &str) -> Change {
    Change {
        external_id: id.into(),
        source_id: format!("crm-{id}"),
        source_updated_at: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        operation: Operation::Upsert,
        partial: false,
        columns: [("name".to_string(), id.to_string())].into(),
        phones: vec![Phone {
            column: "phone".into(),
            number: phone.into(),
        }],
        callable: None,
    }
}

fn batch(source: &str, list: &str, c: Change, run_id: Option<i64>) -> NewBatch {
    NewBatch {
        source: source.into(),
        list_id: list.into(),
        changes: vec![c],
        run_id,
        deliveries: vec![],
        summary: None,
    }
}

/// Writes the same journal through `store`: an import run; OLD three days ago, A two hours
/// ago, B and C just now on list L (source `crm`), D on list M (source `other`); then A
/// applied, B rejected, OLD and C left claimed, D never claimed. Returns every seq.
async fn fill(store: &dyn JournalStore) -> Vec<i64> {
    let run = store
        .start_run("crm", "contacts.csv", NOW - 3 * HOUR_MS)
        .await
        .unwrap();
    let mut seqs = Vec::new();
    for (source, list, id, phone, at) in [
        ("crm", "L", "OLD", "+14155550100", NOW - 3 * 24 * HOUR_MS),
        ("crm", "L", "A", "+14155550101", NOW - 2 * HOUR_MS - 5),
        ("crm", "L", "B", "+14155550102", NOW - 1000),
        ("crm", "L", "C", "+14155550104", NOW - 900),
        ("other", "M", "D", "+14155550103", NOW - 10),
    ] {
        let run_id = (source == "crm").then_some(run);
        let got = store
            .accept_group(vec![batch(source, list, change(id, phone), run_id)], at)
            .await
            .unwrap();
        seqs.extend(got.into_iter().flatten());
    }
    let claimed = store
        .claim_ready(NOW - 500, 10, vec!["L".into()])
        .await
        .unwrap();
    assert_eq!(claimed.len(), 4, "OLD, A, B and C claimed");
    let seq_of = |id: &str| {
        claimed
            .iter()
            .find(|k| k.external_id == id)
            .map(|k| k.changes[0].seq)
            .unwrap()
    };
    let seen = |at| Seen {
        source: "crm".into(),
        seen_at: at,
        compliance: Default::default(),
        removed: Some(false),
    };
    let updated = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
    let row = Row {
        data: [
            ("externalId".to_string(), "A".to_string()),
            ("name".to_string(), "A".to_string()),
            ("phone".to_string(), "+14155550101".to_string()),
        ]
        .into(),
        callable: true,
    };
    let a = seq_of("A");
    let results = vec![
        (
            "L".to_string(),
            "A".to_string(),
            KeyResult::Finished {
                outcomes: vec![(a, Outcome::Applied, None)],
                applied: Some(NewState {
                    source: "crm".into(),
                    contact_id: "contact-a".into(),
                    updated_at: updated,
                    content_hash: "hash-a".into(),
                    row: Some(row),
                    removed: false,
                    seq: a,
                }),
                seen: Some(seen(updated)),
            },
        ),
        (
            "L".to_string(),
            "B".to_string(),
            KeyResult::Finished {
                outcomes: vec![(
                    seq_of("B"),
                    Outcome::Rejected,
                    Some(r#"[{"field":"phone","reason":"not a number"}]"#.into()),
                )],
                applied: None,
                seen: Some(seen(updated)),
            },
        ),
    ];
    assert_eq!(store.finish(results, NOW - 100).await.unwrap(), 2);
    store
        .finish_run(run, r#"{"applied":1,"rejected":1}"#, NOW - 50)
        .await
        .unwrap();
    seqs
}

/// Everything the console reads, as JSON (to compare the two stores whole).
async fn read_all(data: &ConsoleData, seqs: &[i64]) -> Value {
    let mut searches = Vec::new();
    for (by, q) in [
        (SearchBy::ExternalId, "A"),
        (SearchBy::ExternalId, "nope"),
        (SearchBy::SourceId, "crm-B"),
        (SearchBy::Phone, "+14155550103"),
        (SearchBy::Phone, "+1999"),
    ] {
        searches.push(serde_json::to_value(data.search(by, q, 10).await.unwrap()).unwrap());
    }
    let mut histories = Vec::new();
    for (list, id) in [("L", "OLD"), ("L", "A"), ("L", "B"), ("L", "C"), ("M", "D")] {
        let key = RecordKey {
            list_id: list.into(),
            external_id: id.into(),
        };
        histories.push(serde_json::to_value(data.history(&key).await.unwrap()).unwrap());
    }
    let mut asked = seqs.to_vec();
    asked.push(9999);
    serde_json::json!({
        "activity": data.activity(NOW).await.unwrap(),
        "searches": searches,
        "histories": histories,
        "missing": serde_json::to_value(data.history(&RecordKey {
            list_id: "L".into(),
            external_id: "nope".into(),
        }).await.unwrap()).unwrap(),
        "changes": data.changes(&asked).await.unwrap(),
        "runs": data.runs().await.unwrap(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_reads_the_same_on_sqlite_and_postgres() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let sqlite = SqliteStore::new(Journal::open(&path).unwrap());
    let sqlite_seqs = fill(&sqlite).await;

    let (_server, url) = pg_database();
    let pool = dialsync_pg::connect(&dialsync_pg::PgSettings::new(url)).unwrap();
    dialsync_pg::migrate(&pool).await.unwrap();
    let pg: Arc<dyn JournalStore> = Arc::new(dialsync_pg::PgJournal::new(
        pool.clone(),
        std::time::Duration::from_secs(30),
    ));
    let pg_seqs = fill(&*pg).await;
    assert_eq!(sqlite_seqs, pg_seqs, "both journals number changes alike");

    let on_sqlite = read_all(&ConsoleData::Sqlite(SqliteData::new(&path)), &sqlite_seqs).await;
    let on_pg = read_all(&ConsoleData::Postgres(PgData::new(pool)), &pg_seqs).await;
    for read in [
        "activity",
        "searches",
        "histories",
        "missing",
        "changes",
        "runs",
    ] {
        assert_eq!(
            on_sqlite[read], on_pg[read],
            "the console's {read} reads the same on both stores (left SQLite, right PostgreSQL)"
        );
    }
    assert_eq!(
        on_sqlite, on_pg,
        "the console reads the same on both stores"
    );

    // And what they agree on is the journal's content, not two empty answers.
    let crm = &on_pg["activity"]["crm"];
    let hourly = crm["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), HOURS);
    let last = &hourly[HOURS - 1];
    assert_eq!(
        (&last["accepted"], &last["applied"], &last["rejected"]),
        (&2.into(), &1.into(), &1.into()),
        "B and C accepted, A applied and B rejected in the last hour"
    );
    assert_eq!(hourly[HOURS - 3]["accepted"], 1, "A two hours ago");
    assert_eq!(crm["queue"], 2, "OLD and C still claimed");
    assert_eq!(crm["lastError"]["externalId"], "B");
    assert_eq!(crm["lastError"]["error"][0]["field"], "phone");
    assert_eq!(on_pg["activity"]["other"]["queue"], 1);
    let searches = on_pg["searches"].as_array().unwrap();
    assert_eq!(searches[0][0]["externalId"], "A");
    assert_eq!(searches[1], serde_json::json!([]));
    assert_eq!(searches[2][0]["externalId"], "B");
    assert_eq!(searches[3][0]["listId"], "M");
    assert_eq!(searches[4], serde_json::json!([]));
    assert_eq!(on_pg["histories"][1]["row"]["data"]["name"], "A");
    assert_eq!(on_pg["histories"][1]["lastOutcome"], "applied");
    assert_eq!(on_pg["histories"][1]["changes"][0]["written"], true);
    assert_eq!(on_pg["histories"][3]["changes"][0]["state"], "claimed");
    assert_eq!(on_pg["histories"][4]["changes"][0]["state"], "pending");
    assert_eq!(on_pg["missing"], Value::Null);
    assert_eq!(
        on_pg["changes"].as_array().unwrap().len(),
        5,
        "9999 left out"
    );
    assert_eq!(on_pg["changes"][2]["outcome"], "rejected");
    assert_eq!(on_pg["runs"][0]["report"]["applied"], 1);
    assert_eq!(on_pg["runs"][0]["finishedAtMs"], NOW - 50);
}

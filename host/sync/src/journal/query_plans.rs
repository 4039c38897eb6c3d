//! Every statement the journal runs on `changes` is served by an index: a test records
//! the SQL of each statement a workload through the whole [`Journal`] API executes
//! (SQLite's statement trace) and checks its query plan. The table grows with traffic, so
//! one full scan on a hot path would slow every accept and round as the journal fills;
//! dropping an index a query still needs fails here.

use std::collections::BTreeSet;
use std::ffi::{CStr, c_int, c_uint, c_void};
use std::sync::Mutex;

use chrono::{TimeZone, Utc};
use rusqlite::ffi;

use super::{Journal, KeyResult, NewBatch, NewState, Seen};
use crate::change::{Change, Compliance, Operation, Outcome};

/// Tables a statement may read in full, and why: dead letters are few and listed whole by
/// design; retention walks the delivery ids once an hour (an index on their time would cost
/// every webhook's insert); `status` finds an externalId's contact rows across lists by
/// walking the contacts' primary key (an index on externalId alone would cost every new
/// contact's insert). `json_each` (alias `k`), `ready` and constant rows are the statements'
/// own inputs. Anything else read in full — above all `changes` — fails the test.
const ALLOWED_SCANS: &[&str] = &[
    "json_each",
    "k",
    "ready",
    "CONSTANT",
    "d",
    "dead_letters",
    "server_webhook_deliveries",
    "contacts",
];

/// Collects the original SQL of each statement the connection starts.
unsafe extern "C" fn record_statement(
    mask: c_uint,
    ctx: *mut c_void,
    stmt: *mut c_void,
    _sql: *mut c_void,
) -> c_int {
    if mask == ffi::SQLITE_TRACE_STMT as c_uint {
        // SAFETY: `ctx` is the `Mutex` registered below, alive while tracing is on;
        // for SQLITE_TRACE_STMT `stmt` is the statement being run.
        unsafe {
            let seen = &*(ctx as *const Mutex<BTreeSet<String>>);
            let text = ffi::sqlite3_sql(stmt as *mut ffi::sqlite3_stmt);
            if !text.is_null() {
                let sql = CStr::from_ptr(text).to_string_lossy().into_owned();
                seen.lock().unwrap().insert(sql);
            }
        }
    }
    0
}

fn change(id: &str, op: Operation, secs: i64) -> Change {
    Change {
        external_id: id.into(),
        source_id: format!("src-{id}"),
        source_updated_at: Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap(),
        operation: op,
        partial: false,
        columns: Default::default(),
        phones: vec![],
        callable: None,
    }
}

/// Drives every public journal operation once (accept with delivery ids and a run,
/// lookups, claim, renew, finish with each kind of result, release, replay, status,
/// counts, retention).
fn workload(j: &mut Journal) {
    let lists = vec!["L".to_string()];
    let run = j.start_run("sn", "file.csv", 0).unwrap();
    let batch = NewBatch {
        source: "sn".into(),
        list_id: "L".into(),
        changes: vec![
            change("A", Operation::Upsert, 1),
            change("B", Operation::Upsert, 1),
            change("C", Operation::DoNotCall, 1),
        ],
        run_id: Some(run),
        deliveries: vec!["d-1".into()],
        summary: None,
    };
    j.accept_group(vec![batch], 0).unwrap();
    j.accept("sn", "L", &[change("D", Operation::Upsert, 1)], None, 0)
        .unwrap();
    j.delivery("sn", "d-1").unwrap();
    j.known_deliveries("sn", &["d-1".into(), "d-2".into()])
        .unwrap();
    let keys = j.claim_ready(0, 10, &lists).unwrap();
    assert_eq!(keys.len(), 4);
    j.renew(1).unwrap();
    let seq = |id: &str| keys.iter().find(|k| k.external_id == id).unwrap().changes[0].seq;
    let at = Utc.timestamp_opt(1_700_000_001, 0).unwrap();
    let results = vec![
        (
            "L".to_string(),
            "A".to_string(),
            KeyResult::Finished {
                outcomes: vec![(seq("A"), Outcome::Applied, None)],
                applied: Some(NewState {
                    source: "sn".into(),
                    contact_id: "id-a".into(),
                    updated_at: at,
                    content_hash: "h".into(),
                    row: None,
                    removed: false,
                    seq: seq("A"),
                }),
                seen: Some(Seen {
                    source: "sn".into(),
                    seen_at: at,
                    compliance: Compliance::default(),
                    removed: Some(false),
                }),
            },
        ),
        (
            "L".to_string(),
            "B".to_string(),
            KeyResult::Finished {
                outcomes: vec![(seq("B"), Outcome::Unchanged, None)],
                applied: None,
                seen: Some(Seen {
                    source: "sn".into(),
                    seen_at: at,
                    compliance: Compliance::default(),
                    removed: None,
                }),
            },
        ),
        (
            "L".to_string(),
            "C".to_string(),
            KeyResult::Park {
                seqs: vec![seq("C")],
                next_attempt_at: 5,
                error: "409".into(),
            },
        ),
        (
            "L".to_string(),
            "D".to_string(),
            KeyResult::DeadLetter {
                seqs: vec![seq("D")],
                source: "sn".into(),
                error: "400".into(),
                attempts: 1,
            },
        ),
    ];
    j.finish(&results, 2).unwrap();
    j.unfinished().unwrap();
    j.unfinished_in(&lists, 8).unwrap();
    j.compliance_alerts(1).unwrap();
    j.next_ready_at(&lists).unwrap();
    let letters = j.dead_letters().unwrap();
    j.replay(Some(&[letters[0].id]), 3).unwrap();
    j.claim_ready(10, 10, &lists).unwrap();
    j.release().unwrap();
    j.status("A", None).unwrap();
    j.status("A", Some("sn")).unwrap();
    j.outcome_counts(Some(run)).unwrap();
    j.outcome_counts(None).unwrap();
    j.run_failures(run, Outcome::Rejected).unwrap();
    j.finish_run(run, "{}", 4).unwrap();
    j.prune(1_000).unwrap();
}

#[test]
fn every_journal_query_uses_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(&dir.path().join("journal.db")).unwrap();
    let seen: Box<Mutex<BTreeSet<String>>> = Box::default();
    let ctx = &*seen as *const Mutex<BTreeSet<String>> as *mut c_void;
    // SAFETY: `seen` outlives the trace, which is switched off before it is dropped.
    let rc = unsafe {
        ffi::sqlite3_trace_v2(
            j.conn.handle(),
            ffi::SQLITE_TRACE_STMT as c_uint,
            Some(record_statement),
            ctx,
        )
    };
    assert_eq!(rc, ffi::SQLITE_OK);
    workload(&mut j);
    // SAFETY: switches the trace off.
    unsafe { ffi::sqlite3_trace_v2(j.conn.handle(), 0, None, std::ptr::null_mut()) };

    let statements = seen.lock().unwrap().clone();
    assert!(
        statements.len() >= 25,
        "the workload should run most of the journal's statements, ran {}",
        statements.len()
    );
    let mut scans = Vec::new();
    for sql in &statements {
        let head = sql.trim_start().to_ascii_uppercase();
        if [
            "BEGIN",
            "COMMIT",
            "ROLLBACK",
            "PRAGMA",
            "SAVEPOINT",
            "RELEASE",
        ]
        .iter()
        .any(|k| head.starts_with(k))
        {
            continue;
        }
        let mut stmt = j
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        // The plan does not depend on the values (no `ANALYZE` statistics): bind NULLs.
        for index in 1..=stmt.parameter_count() {
            stmt.raw_bind_parameter(index, rusqlite::types::Null)
                .unwrap();
        }
        let mut rows = stmt.raw_query();
        let mut details = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            details.push(row.get::<_, String>(3).unwrap());
        }
        for detail in details {
            let Some(rest) = detail.strip_prefix("SCAN ") else {
                continue;
            };
            let table = rest.split_whitespace().next().unwrap_or("");
            if !ALLOWED_SCANS.contains(&table) && !table.starts_with("(subquery") {
                scans.push(format!("{detail}\n    in: {}", sql.trim()));
            }
        }
    }
    assert!(scans.is_empty(), "full scans:\n{}", scans.join("\n"));
}

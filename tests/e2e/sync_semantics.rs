//! Delivery semantics of the engine, each rule against the real emulator over loopback
//! (with faults on: 503s, writes applied then answered 500, a dialer holding contacts, a
//! locked journal) with a real SQLite journal: the cases issue 10 reported (late deliveries, an unchanged
//! newer version, cleared phones, a second process on the journal) and the ones read in the
//! code (a do-not-call joining a parked key, a do-not-call coalesced with a hard delete,
//! claims left behind by a failed finish). The README's table of delivery rules points here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::support::*;
use dialsync::config::DeleteMode;
use dialsync::sync::{
    Change, ChangeState, ContactSink, ContactWrite, Engine, EngineOptions, GenesysSink,
    JournalOptions, ListShape, Operation, Outcome, RetryRules, Row, SinkError, contact_id,
};
use dialsync_emulator::{EmulatorConfig, FixtureContact, RunningEmulator, StateDump};
use dialsync_genesys::{GenesysClient, RetryPolicy};
use futures::future::BoxFuture;

fn client(emu: &RunningEmulator) -> GenesysClient {
    let retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(5),
    };
    client_with(emu, 6_000, retry)
}

/// The emulator with faults on: a quarter of the calls answer 503, and about one write in
/// seven is applied and then answers 500 (the retry re-sends it). No rule may change.
fn faulty() -> EmulatorConfig {
    EmulatorConfig {
        error_rate: 0.25,
        applied_then_error_rate: 0.15,
        // A seed under which each of these short tests meets at least one fault (checked
        // by `assert_faults_were_met`); their requests are sequential, so it is stable.
        seed: 3,
        fixtures: Some(fixtures(false, vec![])),
        ..Default::default()
    }
}

/// The faults of [`faulty`] were met (so the test's rules held through them).
fn assert_faults_were_met(emu: &RunningEmulator) {
    let stats = emu.stats();
    let faults: u64 = [500, 503]
        .iter()
        .filter_map(|s| stats.by_status.get(s))
        .sum();
    assert!(faults > 0, "no fault was injected: {stats:?}");
}

fn options(max_attempts: u32) -> EngineOptions {
    EngineOptions {
        retry: RetryRules {
            max_attempts,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            per_call: 50,
            concurrent_batches: 2,
        },
        keys_per_round: 200,
        ..EngineOptions::default()
    }
}

/// [`support::upsert`] with consent stated (`callable: some(true)`).
fn upsert(id: &str, secs: i64, name: &str, phone: &str) -> Change {
    Change {
        callable: Some(true),
        ..super::support::upsert(id, secs, name, phone)
    }
}

fn dnc_numbers(state: &StateDump) -> Vec<String> {
    let mut numbers: Vec<String> = state
        .dnc_lists
        .iter()
        .find(|d| d.list.id == DNC)
        .unwrap()
        .phone_numbers
        .iter()
        .map(|n| n.to_string())
        .collect();
    numbers.sort();
    numbers
}

/// The outcome of one journal sequence.
async fn outcome(engine: &Engine, id: &str, seq: i64) -> Option<String> {
    engine.status(id, None).await.unwrap()[0]
        .changes
        .iter()
        .find(|c| c.seq == seq)
        .and_then(|c| c.outcome.map(|o| o.as_str().to_string()))
}

async fn idle(engine: &Engine) {
    tokio::time::timeout(Duration::from_secs(60), engine.run_until_idle())
        .await
        .expect("bounded")
        .unwrap();
}

/// Issue 10, case 2: a delete, then an older create delivered late, stays deleted.
async fn a_late_older_create_never_resurrects_a_tombstone(backend: Backend) {
    let emu = emulator(faulty()).await;
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_on(backend, &dir, &client, DeleteMode::Soft, options(5)).await;
    // Deleted at 10:00 on day 20, never synced before → unchanged, but the tombstone stays.
    let del = engine
        .accept("crm", vec![op("R", 20 * 86_400, Operation::Remove)])
        .await
        .unwrap();
    idle(&engine).await;
    assert_eq!(
        outcome(&engine, "R", del[0].seq).await.as_deref(),
        Some("unchanged")
    );
    // The record as of day 19 arrives afterwards.
    let late = engine
        .accept("crm", vec![upsert("R", 19 * 86_400, "old", "+14155550101")])
        .await
        .unwrap();
    idle(&engine).await;
    assert_eq!(
        outcome(&engine, "R", late[0].seq).await.as_deref(),
        Some("stale")
    );
    assert!(!contacts(&emu.state(), LIST).contains_key(&contact_id(LIST, "R")));
    let status = engine.status("R", None).await.unwrap();
    assert!(status[0].removed, "the tombstone is kept");
    // A newer create is a re-creation in the source: it goes through.
    engine
        .accept(
            "crm",
            vec![upsert("R", 21 * 86_400, "back", "+14155550101")],
        )
        .await
        .unwrap();
    idle(&engine).await;
    let got = contacts(&emu.state(), LIST);
    assert_eq!(got[&contact_id(LIST, "R")].0["name"], "back");
    assert!(got[&contact_id(LIST, "R")].1);
    assert_faults_were_met(&emu);
    emu.shutdown().await;
}

/// Issue 10, case 3: a newer version that ends `unchanged` still moves the mark.
async fn an_unchanged_newer_version_still_wins_over_an_older_one(backend: Backend) {
    let emu = emulator(faulty()).await;
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_on(backend, &dir, &client, DeleteMode::Soft, options(5)).await;
    engine
        .accept("crm", vec![upsert("A", 10, "same", "+14155550102")])
        .await
        .unwrap();
    idle(&engine).await;
    let same = engine
        .accept(
            "crm",
            vec![upsert("A", 21 * 86_400, "same", "+14155550102")],
        )
        .await
        .unwrap();
    idle(&engine).await;
    assert_eq!(
        outcome(&engine, "A", same[0].seq).await.as_deref(),
        Some("unchanged")
    );
    let older = engine
        .accept(
            "crm",
            vec![upsert("A", 20 * 86_400 + 7_200, "other", "+14155550102")],
        )
        .await
        .unwrap();
    idle(&engine).await;
    assert_eq!(
        outcome(&engine, "A", older[0].seq).await.as_deref(),
        Some("stale")
    );
    assert_eq!(
        contacts(&emu.state(), LIST)[&contact_id(LIST, "A")].0["name"],
        "same"
    );
    assert_faults_were_met(&emu);
    emu.shutdown().await;
}

/// Issue 10, case 4 (engine side): a full change without phones clears the phone columns
/// and makes the contact uncallable; a number coming back makes it callable again.
async fn cleared_phones_clear_the_columns_and_the_contact_is_not_dialled(backend: Backend) {
    let emu = emulator(faulty()).await;
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_on(backend, &dir, &client, DeleteMode::Soft, options(5)).await;
    engine
        .accept("crm", vec![upsert("P", 1, "p", "+14155550103")])
        .await
        .unwrap();
    idle(&engine).await;
    let mut cleared = upsert("P", 2, "p", "");
    cleared.phones.clear();
    engine.accept("crm", vec![cleared]).await.unwrap();
    idle(&engine).await;
    let (data, callable) = contacts(&emu.state(), LIST)[&contact_id(LIST, "P")].clone();
    assert_eq!(data["phone"], "", "the old number is gone");
    assert!(!callable, "a contact with no number is not dialled");
    engine
        .accept("crm", vec![upsert("P", 3, "p", "+14155550104")])
        .await
        .unwrap();
    idle(&engine).await;
    let (data, callable) = contacts(&emu.state(), LIST)[&contact_id(LIST, "P")].clone();
    assert_eq!(data["phone"], "+14155550104");
    assert!(callable);
    assert_faults_were_met(&emu);
    emu.shutdown().await;
}

/// Issue 10, read in the code: a do-not-call that joins a parked key used to inherit its
/// attempts (dead-lettered on its first try) and, replayed later, end `stale`. Now it has
/// its own lane and attempt count, is never dead-lettered, is an alert while Genesys
/// refuses it, and a late one is never stale.
async fn do_not_call_has_its_own_lane_and_is_never_dead_lettered(backend: Backend) {
    let id = contact_id(LIST, "LOCKED");
    let held = FixtureContact {
        id: Some(id.clone()),
        data: BTreeMap::from([
            ("externalId".to_string(), "LOCKED".to_string()),
            ("name".to_string(), "old".to_string()),
            ("phone".to_string(), "+14155550111".to_string()),
        ]),
        callable: Some(true),
    };
    let emu = emulator(EmulatorConfig {
        dialer_lock_rate: 1.0,
        fixtures: Some(fixtures(true, vec![held])),
        ..Default::default()
    })
    .await;
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_on(backend, &dir, &client, DeleteMode::Soft, options(3)).await;
    engine
        .accept("crm", vec![upsert("LOCKED", 5, "new", "+14155550111")])
        .await
        .unwrap();
    // Two failed attempts: the key is parked with attempts = 2 (one short of the budget).
    for _ in 0..2 {
        assert_eq!(engine.run_once().await.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut dnc = upsert("LOCKED", 6, "new", "+14155550111");
    dnc.operation = Operation::DoNotCall;
    dnc.callable = Some(false);
    let dnc_seq = engine.accept("crm", vec![dnc]).await.unwrap()[0].seq;
    idle(&engine).await;

    let letters = engine.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1, "only the ordinary change gave up");
    assert!(!letters[0].seqs.contains(&dnc_seq));
    let alerts = engine.compliance_alerts().await.unwrap();
    assert_eq!(alerts.len(), 1, "the refused do-not-call is an alert");
    assert_eq!(alerts[0].seq, dnc_seq);
    assert!(alerts[0].attempts >= 3);
    assert_eq!(dnc_numbers(&emu.state()), vec!["+14155550111"]);

    // The dialer lets go: the do-not-call lane gets through on its own.
    let mut cfg = emu.emulator().config();
    cfg.dialer_lock_rate = 0.0;
    emu.set_config(cfg);
    tokio::time::timeout(Duration::from_secs(30), async {
        while !engine.compliance_alerts().await.unwrap().is_empty()
            || outcome(&engine, "LOCKED", dnc_seq).await.is_none()
        {
            engine.run_once().await.unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the do-not-call is applied once Genesys accepts it");
    assert_eq!(
        outcome(&engine, "LOCKED", dnc_seq).await.as_deref(),
        Some("applied")
    );
    assert!(!contacts(&emu.state(), LIST)[&id].1, "uncallable");

    // Replaying the older dead letter is stale and leaves the contact uncallable.
    engine.replay(None).await.unwrap();
    idle(&engine).await;
    let (data, callable) = contacts(&emu.state(), LIST)[&id].clone();
    assert!(!callable);
    assert_eq!(data["name"], "new");

    // A do-not-call delivered late (older than what was applied) still closes the door,
    // and an ordinary newer edit does not reopen it.
    engine
        .accept("crm", vec![upsert("LATE", 30, "late", "+14155550112")])
        .await
        .unwrap();
    idle(&engine).await;
    let mut late = op("LATE", 25, Operation::DoNotCall);
    late.callable = Some(false);
    let late_seq = engine.accept("crm", vec![late]).await.unwrap()[0].seq;
    idle(&engine).await;
    assert_eq!(
        outcome(&engine, "LATE", late_seq).await.as_deref(),
        Some("applied")
    );
    let (data, callable) = contacts(&emu.state(), LIST)[&contact_id(LIST, "LATE")].clone();
    assert!(!callable, "a late do-not-call is never stale");
    assert_eq!(data["name"], "late", "and it never makes older content win");
    assert!(dnc_numbers(&emu.state()).contains(&"+14155550112".to_string()));
    engine
        .accept("crm", vec![upsert("LATE", 40, "new title", "+14155550112")])
        .await
        .unwrap();
    idle(&engine).await;
    let (data, callable) = contacts(&emu.state(), LIST)[&contact_id(LIST, "LATE")].clone();
    assert_eq!(data["name"], "new title");
    assert!(!callable, "an ordinary edit never reopens a do-not-call");
    // The source's consent field flips back (false → true, newer): consent restored.
    let mut off = upsert("LATE", 50, "new title", "+14155550112");
    off.callable = Some(false);
    let mut on = upsert("LATE", 60, "new title", "+14155550112");
    on.callable = Some(true);
    engine.accept("crm", vec![off]).await.unwrap();
    idle(&engine).await;
    engine.accept("crm", vec![on]).await.unwrap();
    idle(&engine).await;
    assert!(contacts(&emu.state(), LIST)[&contact_id(LIST, "LATE")].1);
    emu.shutdown().await;
}

/// Issue 10, read in the code: a do-not-call coalesced with a hard delete used to never
/// reach the DNC list.
async fn do_not_call_coalesced_with_a_hard_delete_reaches_the_dnc_list(backend: Backend) {
    let emu = emulator(faulty()).await;
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_on(backend, &dir, &client, DeleteMode::HardWhenIdle, options(5)).await;
    engine
        .accept("crm", vec![upsert("D", 1, "d", "+14155550123")])
        .await
        .unwrap();
    idle(&engine).await;
    // The `set-do-not-call` data action (no columns, no consent statement), then the CRM
    // deletes the record; both are worked in one round.
    engine
        .accept(
            "crm",
            vec![
                op("D", 2, Operation::DoNotCall),
                op("D", 3, Operation::Remove),
            ],
        )
        .await
        .unwrap();
    idle(&engine).await;
    let state = emu.state();
    assert!(
        !contacts(&state, LIST).contains_key(&contact_id(LIST, "D")),
        "hard-deleted"
    );
    assert_eq!(dnc_numbers(&state), vec!["+14155550123"]);
    // Re-created later in the CRM: still do-not-call.
    engine
        .accept("crm", vec![upsert("D", 4, "d", "+14155550123")])
        .await
        .unwrap();
    idle(&engine).await;
    assert!(!contacts(&emu.state(), LIST)[&contact_id(LIST, "D")].1);
    assert_faults_were_met(&emu);
    emu.shutdown().await;
}

/// A sink that, on its first upsert, has another connection take the journal's write lock
/// for a while: the round's `finish` then fails with SQLite busy.
struct LockJournalOnce {
    inner: GenesysSink,
    path: std::path::PathBuf,
    hold: Duration,
    done: std::sync::atomic::AtomicBool,
}

impl ContactSink for LockJournalOnce {
    fn list_shape<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<ListShape, SinkError>> {
        self.inner.list_shape(list_id)
    }
    fn upsert<'a>(
        &'a self,
        list_id: &'a str,
        shape: &'a ListShape,
        contacts: &'a [ContactWrite],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let result = self.inner.upsert(list_id, shape, contacts).await;
            if !self.done.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let (locked_tx, locked_rx) = std::sync::mpsc::channel();
                let (path, hold) = (self.path.clone(), self.hold);
                std::thread::spawn(move || {
                    let conn = rusqlite::Connection::open(path).unwrap();
                    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
                    locked_tx.send(()).unwrap();
                    std::thread::sleep(hold);
                    conn.execute_batch("COMMIT").unwrap();
                });
                locked_rx.recv().unwrap();
            }
            result
        })
    }
    fn fetch<'a>(
        &'a self,
        list_id: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, Row>, SinkError>> {
        self.inner.fetch(list_id, ids)
    }
    fn delete<'a>(
        &'a self,
        list_id: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        self.inner.delete(list_id, ids)
    }
    fn delete_by_column<'a>(
        &'a self,
        list_id: &'a str,
        column: &'a str,
        values: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        self.inner.delete_by_column(list_id, column, values)
    }
    fn dnc_add<'a>(
        &'a self,
        list_id: &'a str,
        numbers: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        self.inner.dnc_add(list_id, numbers)
    }
    fn list_in_use<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<bool, SinkError>> {
        self.inner.list_in_use(list_id)
    }
}

/// Issue 10, read in the code: claimed keys stayed claimed forever when `finish` failed.
/// Now the round's claims are released, or — if the journal is still locked — they expire
/// with their lease and are taken over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_of_a_round_whose_finish_failed_are_taken_over() {
    let emu = emulator(EmulatorConfig {
        fixtures: Some(fixtures(false, vec![])),
        ..Default::default()
    })
    .await;
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let sink = Arc::new(LockJournalOnce {
        inner: GenesysSink::new(client.clone()),
        path: path.clone(),
        hold: Duration::from_millis(700),
        done: Default::default(),
    });
    let mut opts = options(5);
    opts.journal = JournalOptions {
        busy_timeout: Duration::from_millis(100),
        lease: Duration::from_millis(500),
    };
    let engine = Engine::open(
        &path,
        vec![binding("crm", LIST, sink, DeleteMode::Soft)],
        opts,
    )
    .unwrap();
    engine
        .accept("crm", vec![upsert("F", 1, "f", "+14155550130")])
        .await
        .unwrap();
    assert!(
        engine.run_once().await.is_err(),
        "finish fails: the journal is locked"
    );
    tokio::time::timeout(Duration::from_secs(20), engine.run_until_idle())
        .await
        .expect("the claims are taken over after the lease")
        .unwrap();
    let status = engine.status("F", None).await.unwrap();
    assert_eq!(status[0].changes[0].outcome, Some(Outcome::Applied));
    assert!(engine.dead_letters().await.unwrap().is_empty());
    emu.shutdown().await;
}

/// Issue 10, case 1 (engine side): a second process on the journal (an `import` next to
/// `serve`) neither resets the first one's claims nor dead-letters work of a source it
/// has no binding for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_leaves_the_first_ones_work_alone() {
    let emu = emulator(faulty()).await;
    let client = client(&emu);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let sink: Arc<dyn ContactSink> = Arc::new(GenesysSink::new(client.clone()));
    let serve = Engine::open(
        &path,
        vec![binding("hooks", LIST, sink.clone(), DeleteMode::Soft)],
        options(2),
    )
    .unwrap();
    let hooks: Vec<Change> = (0..6)
        .map(|i| upsert(&format!("H{i}"), 1, "h", "+14155550140"))
        .collect();
    serve.accept("hooks", hooks).await.unwrap();
    // `serve` is mid-round: it holds the claims.
    let held = serve
        .with_journal(|j| {
            j.claim_ready(
                chrono::Utc::now().timestamp_millis(),
                100,
                &[LIST.to_string()],
            )
        })
        .await
        .unwrap();
    assert_eq!(held.len(), 6);

    // `import` for another source starts on the same journal and works to the end.
    let import = Engine::open(
        &path,
        vec![binding("servicenow", LIST2, sink.clone(), DeleteMode::Soft)],
        options(2),
    )
    .unwrap();
    import
        .accept("servicenow", vec![upsert("S1", 1, "s", "+14155550150")])
        .await
        .unwrap();
    idle(&import).await;
    assert!(
        import.dead_letters().await.unwrap().is_empty(),
        "no dead letters"
    );
    let claimed = import
        .with_journal(|j| Ok(j.status("H0", None)?[0].changes[0].state))
        .await
        .unwrap();
    assert_eq!(
        claimed,
        ChangeState::Claimed,
        "serve's claims were not reset"
    );
    assert_eq!(contacts(&emu.state(), LIST2).len(), 1);

    // `serve`'s round fails and releases its claims; its next round applies them.
    serve.with_journal(|j| j.release()).await.unwrap();
    idle(&serve).await;
    assert_eq!(contacts(&emu.state(), LIST).len(), 6);
    let counts: BTreeMap<Outcome, u64> = serve
        .with_journal(|j| j.outcome_counts(None))
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(counts.get(&Outcome::DeadLettered), None);
    assert_eq!(counts[&Outcome::Applied], 7);
    assert_faults_were_met(&emu);
    emu.shutdown().await;
}

/// Accepts `n` one-change batches at once while the journal is held busy, so they queue;
/// returns each batch's seq and the commit statistics.
async fn accept_concurrently(engine: &Engine, n: usize) -> (Vec<i64>, dialsync::sync::CommitStats) {
    let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
    let hold = {
        let engine = engine.clone();
        tokio::spawn(async move {
            engine
                .with_journal(move |_| {
                    let _ = held_tx.send(());
                    std::thread::sleep(Duration::from_millis(300));
                    Ok(())
                })
                .await
                .unwrap()
        })
    };
    held_rx.await.unwrap();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let change = upsert(&format!("G{i}"), 1, "g", "+14155550170");
                engine.accept("crm", vec![change]).await.unwrap()[0].seq
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    hold.await.unwrap();
    (seqs, engine.commit_stats())
}

/// Group commit: concurrent accepts share one transaction, and each returns only once
/// its own rows are durable (read back through a separate connection). With group
/// commit off, each accept is a transaction of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_accepts_share_one_commit_and_are_durable_on_return() {
    let emu = emulator(EmulatorConfig {
        fixtures: Some(fixtures(false, vec![])),
        ..Default::default()
    })
    .await;
    let client = client(&emu);
    for group_commit in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine(
            &dir,
            &client,
            DeleteMode::Soft,
            EngineOptions {
                group_commit,
                ..options(3)
            },
        );
        let (seqs, stats) = accept_concurrently(&engine, 16).await;
        assert_eq!(stats.batches, 16);
        if group_commit {
            assert!(
                stats.transactions <= 2,
                "16 queued accepts share their commits: {stats:?}"
            );
        } else {
            assert_eq!(stats.transactions, 16, "{stats:?}");
        }
        let conn = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
        for seq in &seqs {
            let found: i64 = conn
                .query_row("SELECT COUNT(*) FROM changes WHERE seq = ?1", [seq], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(found, 1, "seq {seq} durable once accept returned");
        }
        idle(&engine).await;
    }
    emu.shutdown().await;
}

on_both_backends!(
    a_late_older_create_never_resurrects_a_tombstone,
    an_unchanged_newer_version_still_wins_over_an_older_one,
    cleared_phones_clear_the_columns_and_the_contact_is_not_dialled,
    do_not_call_has_its_own_lane_and_is_never_dead_lettered,
    do_not_call_coalesced_with_a_hard_delete_reaches_the_dnc_list,
);

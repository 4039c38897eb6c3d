//! The storage boundary: everything the engine (and the commands built on it) keeps in the
//! journal, behind one object-safe async trait with two implementations — the embedded
//! SQLite [`Journal`] ([`SqliteStore`], the default) and the PostgreSQL store of the
//! `dialsync-pg` crate for several workers on several machines.
//!
//! Both keep the same contract: an accepted batch (changes and their webhook delivery ids)
//! is durable when `accept_group` returns (or, from `accept_group_pipelined`, when the
//! future it returns resolves); a delivery id is reported as known only once it is
//! durable; claims are per key (contact list, externalId)
//! under a lease owned by this store handle, renewed while a round runs and taken over
//! once expired; `finish` writes only keys this handle still owns.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;

use crate::change::Outcome;
use crate::journal::{
    ClaimedKey, ComplianceAlert, ContactStatus, DeadLetter, Journal, JournalError, KeyResult,
    NewBatch,
};
use crate::wal_sync::WalSyncer;

/// Resolves once a pipelined accept's batches are durable (see
/// [`JournalStore::accept_group_pipelined`]).
pub type Durable = Pin<Box<dyn Future<Output = Result<(), JournalError>> + Send>>;

/// A [`Durable`] for batches that were durable on return.
fn already_durable() -> Durable {
    Box::pin(std::future::ready(Ok(())))
}

/// The journal, whichever database holds it.
#[async_trait]
pub trait JournalStore: Send + Sync {
    /// `sqlite` or `postgres` (for `/readyz` and logs).
    fn backend(&self) -> &'static str;
    /// This handle's lease owner id.
    fn owner(&self) -> &str;
    /// Durably records several batches (changes and delivery ids) in one transaction;
    /// returns each batch's seqs.
    async fn accept_group(
        &self,
        batches: Vec<NewBatch>,
        now_ms: i64,
    ) -> Result<Vec<Vec<i64>>, JournalError>;
    /// Records batches like [`JournalStore::accept_group`] but returns once they are
    /// written, with a future that resolves when they are durable; nobody may be told of
    /// them before it does. The SQLite store flushes its log on a separate thread
    /// meanwhile, so the next group is written while this one's fsync runs
    /// ([`crate::wal_sync`]); the default is `accept_group`, durable on return.
    async fn accept_group_pipelined(
        &self,
        batches: Vec<NewBatch>,
        now_ms: i64,
    ) -> Result<(Vec<Vec<i64>>, Durable), JournalError> {
        let seqs = self.accept_group(batches, now_ms).await?;
        Ok((seqs, already_durable()))
    }
    /// The stored summary of a delivery id of `source`, if it was delivered.
    async fn delivery(&self, source: &str, id: &str) -> Result<Option<String>, JournalError>;
    /// Which of `ids` of `source` were already delivered.
    async fn known_deliveries(
        &self,
        source: &str,
        ids: Vec<String>,
    ) -> Result<Vec<String>, JournalError>;
    /// Claims up to `max_keys` ready keys of `lists` under this handle's lease.
    async fn claim_ready(
        &self,
        now_ms: i64,
        max_keys: usize,
        lists: Vec<String>,
    ) -> Result<Vec<ClaimedKey>, JournalError>;
    /// Extends every lease this handle holds.
    async fn renew(&self, now_ms: i64) -> Result<(), JournalError>;
    /// Returns every claim this handle holds (a failed round, or draining on shutdown).
    async fn release(&self) -> Result<(), JournalError>;
    /// Writes back claimed keys' results (only keys still owned); returns how many.
    async fn finish(
        &self,
        results: Vec<(String, String, KeyResult)>,
        now_ms: i64,
    ) -> Result<usize, JournalError>;
    /// Changes not yet finished.
    async fn unfinished(&self) -> Result<u64, JournalError>;
    /// Unfinished changes of `lists` that still need work (do-not-call alerts excluded).
    async fn unfinished_in(
        &self,
        lists: Vec<String>,
        alert_attempts: u32,
    ) -> Result<u64, JournalError>;
    /// Do-not-call changes not applied after `min_attempts` attempts.
    async fn compliance_alerts(
        &self,
        min_attempts: u32,
    ) -> Result<Vec<ComplianceAlert>, JournalError>;
    /// When a key of `lists` becomes ready next (ms since the epoch).
    async fn next_ready_at(&self, lists: Vec<String>) -> Result<Option<i64>, JournalError>;
    /// Everything known about an externalId.
    async fn status(
        &self,
        external_id: String,
        source: Option<String>,
    ) -> Result<Vec<ContactStatus>, JournalError>;
    /// Dead letters not yet replayed.
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, JournalError>;
    /// Puts dead letters back in the queue (`None` = all): (replayed, unknown ids).
    async fn replay(
        &self,
        ids: Option<Vec<i64>>,
        now_ms: i64,
    ) -> Result<(Vec<i64>, Vec<i64>), JournalError>;
    /// Retention: prunes what finished before `before_ms`; returns changes deleted.
    async fn prune(&self, before_ms: i64) -> Result<u64, JournalError>;
    /// Starts an import run.
    async fn start_run(&self, source: &str, input: &str, now_ms: i64) -> Result<i64, JournalError>;
    /// Stores a run's report.
    async fn finish_run(&self, id: i64, report: &str, now_ms: i64) -> Result<(), JournalError>;
    /// Outcome counts of a run (or of everything).
    async fn outcome_counts(
        &self,
        run_id: Option<i64>,
    ) -> Result<Vec<(Outcome, u64)>, JournalError>;
    /// A run's finished changes with `outcome`: (seq, externalId, error JSON).
    async fn run_failures(
        &self,
        run_id: i64,
        outcome: Outcome,
    ) -> Result<Vec<(i64, String, Option<String>)>, JournalError>;
    /// Waits until another process may have queued work (PostgreSQL: a NOTIFY). `None`
    /// when the store has no such signal (the engine then polls).
    fn work_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
    /// The SQLite journal, when this is one (for tools below the boundary).
    fn as_sqlite(&self) -> Option<&SqliteStore> {
        None
    }
}

/// The embedded SQLite journal behind the trait: each call runs on tokio's blocking
/// threads (a commit fsyncs). Writes go through one connection; reads that need no lease
/// (delivery-id lookups, status, metrics) may use a second one, so a webhook's dedup
/// lookup never waits behind a worker's commit (WAL readers do not block the writer).
///
/// Accepts through the group committer and workers' finishes commit without an fsync of
/// their own and are flushed by one thread per store ([`crate::wal_sync`]); the accepts
/// wait for the flush, the finishes do not (they ride on the next accept's flush, or are
/// flushed within 100 ms).
#[derive(Clone)]
pub struct SqliteStore {
    journal: Arc<Mutex<Journal>>,
    reader: Arc<Mutex<Journal>>,
    owner: String,
    /// The journal's WAL file (`None` in memory: every commit then fsyncs itself).
    wal: Option<PathBuf>,
    /// The WAL flushing thread, started on first use (`None`: it could not start).
    syncer: Arc<OnceLock<Option<Arc<WalSyncer>>>>,
}

impl SqliteStore {
    /// Wraps an open journal (reads and writes on its one connection).
    pub fn new(journal: Journal) -> SqliteStore {
        let owner = journal.owner().to_string();
        let wal = journal.wal_path();
        let journal = Arc::new(Mutex::new(journal));
        SqliteStore {
            reader: journal.clone(),
            journal,
            owner,
            wal,
            syncer: Arc::new(OnceLock::new()),
        }
    }

    /// The WAL flushing thread, started on first use; `None` for an in-memory journal or
    /// when the thread could not start (commits then fsync themselves).
    fn syncer(&self) -> Option<Arc<WalSyncer>> {
        self.syncer
            .get_or_init(|| {
                let wal = self.wal.clone()?;
                WalSyncer::start(wal)
                    .map_err(|e| {
                        tracing::warn!(error = %e, "could not start the WAL flushing thread; \
                            every journal commit fsyncs itself");
                    })
                    .ok()
                    .map(Arc::new)
            })
            .clone()
    }

    /// Waits until everything any connection has committed to the WAL so far is on disk
    /// (a row another process wrote and is still flushing is then durable too).
    async fn flush_now(&self) -> Result<(), JournalError> {
        match self.syncer() {
            Some(syncer) => {
                let ticket = syncer.written();
                syncer.durable(ticket).await
            }
            None => Ok(()),
        }
    }

    /// How many times the WAL flushing thread has flushed the log (0 before first use).
    pub fn wal_flushes(&self) -> u64 {
        self.syncer
            .get()
            .and_then(|s| s.as_ref().map(|s| s.flushes()))
            .unwrap_or(0)
    }

    /// Wraps an open journal, with a second connection to the same file for reads.
    pub fn with_reader(journal: Journal, reader: Journal) -> SqliteStore {
        SqliteStore {
            reader: Arc::new(Mutex::new(reader)),
            ..SqliteStore::new(journal)
        }
    }

    /// Runs `f` on the journal off the async threads.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        on_blocking_thread(self.journal.clone(), f).await
    }

    /// Runs the read-only `f` on the reading connection.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        on_blocking_thread(self.reader.clone(), f).await
    }
}

async fn on_blocking_thread<T: Send + 'static>(
    journal: Arc<Mutex<Journal>>,
    f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
) -> Result<T, JournalError> {
    tokio::task::spawn_blocking(move || {
        let mut guard = journal.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    })
    .await
    .map_err(|e| JournalError::Task(e.to_string()))?
}

#[async_trait]
impl JournalStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    fn as_sqlite(&self) -> Option<&SqliteStore> {
        Some(self)
    }
    fn owner(&self) -> &str {
        &self.owner
    }
    async fn accept_group(
        &self,
        batches: Vec<NewBatch>,
        now_ms: i64,
    ) -> Result<Vec<Vec<i64>>, JournalError> {
        self.run(move |j| j.accept_group(batches, now_ms)).await
    }
    async fn accept_group_pipelined(
        &self,
        batches: Vec<NewBatch>,
        now_ms: i64,
    ) -> Result<(Vec<Vec<i64>>, Durable), JournalError> {
        let Some(syncer) = self.syncer() else {
            let seqs = self.accept_group(batches, now_ms).await?;
            return Ok((seqs, already_durable()));
        };
        let writer = syncer.clone();
        let (seqs, ticket) = self
            .run(move |j| {
                let seqs = j.accept_group_unsynced(batches, now_ms)?;
                Ok((seqs, writer.written()))
            })
            .await?;
        Ok((seqs, Box::pin(async move { syncer.durable(ticket).await })))
    }
    async fn delivery(&self, source: &str, id: &str) -> Result<Option<String>, JournalError> {
        let (source, id) = (source.to_string(), id.to_string());
        let found = self.read(move |j| j.delivery(&source, &id)).await?;
        if found.is_some() {
            // It may be a commit still being flushed: answer "duplicate" only once durable.
            self.flush_now().await?;
        }
        Ok(found)
    }
    async fn known_deliveries(
        &self,
        source: &str,
        ids: Vec<String>,
    ) -> Result<Vec<String>, JournalError> {
        let source = source.to_string();
        let known = self
            .read(move |j| j.known_deliveries(&source, &ids))
            .await?;
        if !known.is_empty() {
            self.flush_now().await?;
        }
        Ok(known)
    }
    async fn claim_ready(
        &self,
        now_ms: i64,
        max_keys: usize,
        lists: Vec<String>,
    ) -> Result<Vec<ClaimedKey>, JournalError> {
        let raw = self
            .run(move |j| j.claim_ready_raw(now_ms, max_keys, &lists))
            .await?;
        // Parsed after the write connection is free again (accepts go on meanwhile).
        let parsed = tokio::task::spawn_blocking(move || raw.parse())
            .await
            .map_err(|e| JournalError::Task(e.to_string()))?;
        if parsed.is_err() {
            // The claim is committed: give it back rather than hold it for a lease.
            if let Err(e) = self.release().await {
                tracing::warn!(error = %e, "could not release claims; they expire with their lease");
            }
        }
        parsed
    }
    async fn renew(&self, now_ms: i64) -> Result<(), JournalError> {
        self.run(move |j| j.renew(now_ms)).await
    }
    async fn release(&self) -> Result<(), JournalError> {
        self.run(|j| j.release()).await
    }
    async fn finish(
        &self,
        results: Vec<(String, String, KeyResult)>,
        now_ms: i64,
    ) -> Result<usize, JournalError> {
        match self.syncer() {
            // Not waited for: a finish lost in a power cut only means its changes are
            // sent again (see `journal::rounds`).
            Some(syncer) => {
                self.run(move |j| {
                    let written = j.finish_unsynced(&results, now_ms)?;
                    syncer.written_lazily();
                    Ok(written)
                })
                .await
            }
            None => self.run(move |j| j.finish(&results, now_ms)).await,
        }
    }
    async fn unfinished(&self) -> Result<u64, JournalError> {
        self.read(|j| j.unfinished()).await
    }
    async fn unfinished_in(
        &self,
        lists: Vec<String>,
        alert_attempts: u32,
    ) -> Result<u64, JournalError> {
        self.read(move |j| j.unfinished_in(&lists, alert_attempts))
            .await
    }
    async fn compliance_alerts(
        &self,
        min_attempts: u32,
    ) -> Result<Vec<ComplianceAlert>, JournalError> {
        self.run(move |j| j.compliance_alerts(min_attempts)).await
    }
    async fn next_ready_at(&self, lists: Vec<String>) -> Result<Option<i64>, JournalError> {
        self.run(move |j| j.next_ready_at(&lists)).await
    }
    async fn status(
        &self,
        external_id: String,
        source: Option<String>,
    ) -> Result<Vec<ContactStatus>, JournalError> {
        self.read(move |j| j.status(&external_id, source.as_deref()))
            .await
    }
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>, JournalError> {
        self.read(|j| j.dead_letters()).await
    }
    async fn replay(
        &self,
        ids: Option<Vec<i64>>,
        now_ms: i64,
    ) -> Result<(Vec<i64>, Vec<i64>), JournalError> {
        self.run(move |j| j.replay(ids.as_deref(), now_ms)).await
    }
    async fn prune(&self, before_ms: i64) -> Result<u64, JournalError> {
        self.run(move |j| j.prune(before_ms)).await
    }
    async fn start_run(&self, source: &str, input: &str, now_ms: i64) -> Result<i64, JournalError> {
        let (source, input) = (source.to_string(), input.to_string());
        self.run(move |j| j.start_run(&source, &input, now_ms))
            .await
    }
    async fn finish_run(&self, id: i64, report: &str, now_ms: i64) -> Result<(), JournalError> {
        let report = report.to_string();
        self.run(move |j| j.finish_run(id, &report, now_ms)).await
    }
    async fn outcome_counts(
        &self,
        run_id: Option<i64>,
    ) -> Result<Vec<(Outcome, u64)>, JournalError> {
        self.read(move |j| j.outcome_counts(run_id)).await
    }
    async fn run_failures(
        &self,
        run_id: i64,
        outcome: Outcome,
    ) -> Result<Vec<(i64, String, Option<String>)>, JournalError> {
        self.run(move |j| j.run_failures(run_id, outcome)).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::{Change, Operation};

    fn batch(id: &str, delivery: &str) -> NewBatch {
        NewBatch {
            source: "sn".into(),
            list_id: "L".into(),
            changes: vec![Change {
                external_id: id.into(),
                source_id: format!("src-{id}"),
                source_updated_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
                operation: Operation::Upsert,
                partial: false,
                columns: BTreeMap::from([("name".to_string(), "Ann".to_string())]),
                phones: vec![],
                callable: None,
            }],
            run_id: None,
            deliveries: vec![delivery.into()],
            summary: None,
        }
    }

    fn store(path: &std::path::Path) -> SqliteStore {
        SqliteStore::with_reader(Journal::open(path).unwrap(), Journal::open(path).unwrap())
    }

    #[tokio::test]
    async fn a_pipelined_accept_is_durable_only_after_a_flush_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir.path().join("journal.db"));
        let (seqs, durable) = store
            .accept_group_pipelined(vec![batch("A", "d-1"), batch("B", "d-2")], 1)
            .await
            .unwrap();
        assert_eq!(seqs, vec![vec![1], vec![2]]);
        durable.await.unwrap();
        assert!(store.wal_flushes() >= 1, "acknowledged before any flush");
        // The connection is back to fsyncing its own commits.
        assert_eq!(store.run(|j| j.synchronous()).await.unwrap(), 2, "FULL");
    }

    #[tokio::test]
    async fn a_known_delivery_id_is_answered_only_once_the_log_is_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        // Another process wrote the delivery and has not flushed it yet.
        Journal::open(&path)
            .unwrap()
            .accept_group_unsynced(vec![batch("A", "d-1")], 1)
            .unwrap();
        let store = store(&path);
        assert_eq!(store.wal_flushes(), 0);
        assert!(store.delivery("sn", "d-1").await.unwrap().is_some());
        assert_eq!(
            store.wal_flushes(),
            1,
            "flushed before answering `duplicate`"
        );
        let known = store
            .known_deliveries("sn", vec!["d-1".into(), "d-9".into()])
            .await
            .unwrap();
        assert_eq!(known, vec!["d-1".to_string()]);
        assert_eq!(store.wal_flushes(), 2);
        // An unknown id needs no flush.
        assert!(store.delivery("sn", "d-9").await.unwrap().is_none());
        assert_eq!(store.wal_flushes(), 2);
    }
}

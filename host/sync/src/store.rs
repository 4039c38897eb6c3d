//! The storage boundary: everything the engine (and the commands built on it) keeps in the
//! journal, behind one object-safe async trait with two implementations — the embedded
//! SQLite [`Journal`] ([`SqliteStore`], the default) and the PostgreSQL store of the
//! `dialsync-pg` crate for several workers on several machines.
//!
//! Both keep the same contract: an accepted batch (changes and their webhook delivery ids)
//! is durable when `accept_group` returns; claims are per key (contact list, externalId)
//! under a lease owned by this store handle, renewed while a round runs and taken over
//! once expired; `finish` writes only keys this handle still owns.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::change::Outcome;
use crate::journal::{
    ClaimedKey, ComplianceAlert, ContactStatus, DeadLetter, Journal, JournalError, KeyResult,
    NewBatch,
};

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
#[derive(Clone)]
pub struct SqliteStore {
    journal: Arc<Mutex<Journal>>,
    reader: Arc<Mutex<Journal>>,
    owner: String,
}

impl SqliteStore {
    /// Wraps an open journal (reads and writes on its one connection).
    pub fn new(journal: Journal) -> SqliteStore {
        let owner = journal.owner().to_string();
        let journal = Arc::new(Mutex::new(journal));
        SqliteStore {
            reader: journal.clone(),
            journal,
            owner,
        }
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
    async fn delivery(&self, source: &str, id: &str) -> Result<Option<String>, JournalError> {
        let (source, id) = (source.to_string(), id.to_string());
        self.read(move |j| j.delivery(&source, &id)).await
    }
    async fn known_deliveries(
        &self,
        source: &str,
        ids: Vec<String>,
    ) -> Result<Vec<String>, JournalError> {
        let source = source.to_string();
        self.read(move |j| j.known_deliveries(&source, &ids)).await
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
        self.run(move |j| j.finish(&results, now_ms)).await
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

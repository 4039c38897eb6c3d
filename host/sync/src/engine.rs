//! The engine: accepts changes durably, then works the journal until every change has
//! its outcome. One `Engine` per process and journal file; it is cheap to clone.
//!
//! Several engines (processes) may share one journal: each claims work under a lease
//! (see [`super::journal`]), renews it while a round runs, releases it when a round fails,
//! and only claims work of the contact lists it has a binding for — every other process's
//! work is left alone, never dead-lettered for want of a binding.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::Notify;

use super::apply::{ListRound, RetryRules, SourceRules};
use super::change::Change;
use super::committer::{self, CommitStats, Counters, Pending};
use super::journal::{
    ClaimedKey, ComplianceAlert, ContactStatus, DeadLetter, Journal, JournalError, JournalOptions,
    KeyResult, NewBatch,
};
use super::sink::{ContactSink, ListShape, SinkError};
use super::store::{JournalStore, SqliteStore};

/// An engine failure (not a record's: those are outcomes).
#[derive(Debug, Error)]
pub enum EngineError {
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A change named a source the engine was not given.
    #[error("unknown source {0:?}")]
    UnknownSource(String),
    /// A change could not be accepted.
    #[error("record {index} (externalId {external_id:?}): {field}: {reason}")]
    InvalidChange {
        /// Position in the accepted batch.
        index: usize,
        /// Its externalId.
        external_id: String,
        /// The field at fault.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A blocking journal task panicked or was cancelled.
    #[error("journal task failed: {0}")]
    Task(String),
    /// The group commit this batch was part of failed; nothing of it was stored.
    #[error("the journal could not commit: {0}")]
    Commit(String),
}

impl EngineError {
    /// The journal was locked by another process for longer than the busy timeout: the
    /// round can simply be tried again.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            EngineError::Journal(JournalError::Sqlite(rusqlite::Error::SqliteFailure(e, _)))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    }
}

/// One source the engine syncs: its list, its Genesys port and its rules.
#[derive(Clone)]
pub struct SourceBinding {
    /// Source name (config key).
    pub name: String,
    /// Contact list it feeds.
    pub list_id: String,
    /// Genesys port for the source's org.
    pub sink: Arc<dyn ContactSink>,
    /// DNC list and delete mode.
    pub rules: SourceRules,
}

/// Engine tuning.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Retry and batching rules.
    pub retry: RetryRules,
    /// Keys claimed per round (across lists).
    pub keys_per_round: usize,
    /// Journal connection settings: busy timeout and claim lease.
    pub journal: JournalOptions,
    /// How long a contact list's shape (columns) is cached before it is read again.
    pub shape_ttl: Duration,
    /// How often idle workers look for work queued by other processes.
    pub idle_poll: Duration,
    /// Shortest time between the starts of two background rounds that did not fill
    /// `keys_per_round`: under a steady stream of accepts each round (two journal
    /// transactions and the Genesys calls) then carries the changes of this whole window
    /// instead of one each. A full round is followed at once; an idle worker starts at
    /// once on new work. The window trades worker commits for their size, and on the
    /// SQLite journal webhook accepts wait behind each finish (one writer). In the
    /// `webhooks` bench at 8 senders 10 ms beat 50 ms in one interleaved comparison (p99
    /// 4–7 ms against 8–13 ms) and by less in another (median p99 8.1 against 8.9 ms);
    /// 0 ms (a round after every change) was no better than 10.
    pub round_interval: Duration,
    /// Finished changes and webhook delivery ids older than this are pruned by the workers.
    pub retention: Duration,
    /// Concurrent accepts share one transaction (one fsync); off, each accept commits
    /// on its own (kept for the benchmark's before/after).
    pub group_commit: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            retry: RetryRules {
                max_attempts: 8,
                base_delay: Duration::from_secs(2),
                max_delay: Duration::from_secs(300),
                per_call: 1000,
                concurrent_batches: 4,
            },
            keys_per_round: 4000,
            journal: JournalOptions::default(),
            shape_ttl: Duration::from_secs(300),
            idle_poll: Duration::from_secs(1),
            round_interval: Duration::from_millis(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            group_commit: true,
        }
    }
}

/// The settings of an application's configuration the engine's options follow (the
/// `dialsync` crate implements it for `dialsync.toml`).
pub trait EngineConfig {
    /// How long finished changes and webhook delivery ids are kept.
    fn retention(&self) -> Duration;
    /// How long a claim stays valid without renewal.
    fn lease(&self) -> Duration;
    /// Whether concurrent accepts share one transaction.
    fn group_commit(&self) -> bool;
    /// The smallest per-call contact maximum of the configured orgs, if any org is set.
    fn max_contacts_per_call(&self) -> Option<usize>;
}

impl EngineOptions {
    /// Defaults, with the config's retention and batches no larger than the smallest
    /// `max_contacts_per_call` of its orgs.
    pub fn for_config(config: &impl EngineConfig) -> EngineOptions {
        let mut options = EngineOptions {
            retention: config.retention(),
            ..EngineOptions::default()
        };
        options.journal.lease = config.lease();
        options.group_commit = config.group_commit();
        if let Some(per_call) = config.max_contacts_per_call() {
            options.retry.per_call = per_call;
            options.keys_per_round = per_call * options.retry.concurrent_batches;
        }
        options
    }
}

/// A durably accepted change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Accepted {
    /// Journal sequence number.
    pub seq: i64,
    /// The change's externalId.
    pub external_id: String,
}

/// Wall-clock milliseconds that follow tokio's clock, so paused-clock tests step retry
/// times exactly.
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    wall0_ms: i64,
    t0: tokio::time::Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            wall0_ms: chrono::Utc::now().timestamp_millis(),
            t0: tokio::time::Instant::now(),
        }
    }
    pub(crate) fn now_ms(&self) -> i64 {
        self.wall0_ms + self.t0.elapsed().as_millis() as i64
    }
}

struct Inner {
    store: Arc<dyn JournalStore>,
    sources: HashMap<String, SourceBinding>,
    rules: HashMap<String, SourceRules>,
    /// The contact lists this engine writes (it claims only their work).
    lists: Vec<String>,
    shapes: tokio::sync::Mutex<HashMap<String, (ListShape, tokio::time::Instant)>>,
    options: EngineOptions,
    clock: Clock,
    wake: Notify,
    /// The group committer, started on first use (on the caller's runtime).
    committer: OnceLock<tokio::sync::mpsc::UnboundedSender<Pending>>,
    /// Accepting transactions and the batches they carried.
    commits: Arc<Counters>,
}

/// The sync engine. See the [module docs](super) for the lifecycle.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// Background workers started by [`Engine::spawn_workers`].
pub struct Workers {
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<Result<(), EngineError>>,
}

impl Workers {
    /// Stops after the current round and returns the worker's result.
    pub async fn shutdown(self) -> Result<(), EngineError> {
        self.stop.notify_one();
        self.task
            .await
            .map_err(|e| EngineError::Task(e.to_string()))?
    }
}

impl Engine {
    /// Opens the journal at `path`. Other processes' claims are left alone; claims of a
    /// process that died are taken over once their lease expires.
    pub fn open(
        path: &Path,
        sources: Vec<SourceBinding>,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        let journal = Journal::open_with(path, &options.journal)?;
        let reader = Journal::open_with(path, &options.journal)?;
        Ok(Engine::with_store(
            Arc::new(SqliteStore::with_reader(journal, reader)),
            sources,
            options,
        ))
    }

    /// An engine on any journal store (the PostgreSQL store of `dialsync-pg`, or a
    /// [`SqliteStore`]). Its lease is the store's; `options.journal` is not used.
    pub fn with_store(
        store: Arc<dyn JournalStore>,
        sources: Vec<SourceBinding>,
        options: EngineOptions,
    ) -> Engine {
        let rules = sources
            .iter()
            .map(|s| (s.name.clone(), s.rules.clone()))
            .collect();
        let mut lists: Vec<String> = sources.iter().map(|s| s.list_id.clone()).collect();
        lists.sort();
        lists.dedup();
        let sources = sources.into_iter().map(|s| (s.name.clone(), s)).collect();
        Engine {
            inner: Arc::new(Inner {
                store,
                sources,
                rules,
                lists,
                shapes: tokio::sync::Mutex::new(HashMap::new()),
                options,
                clock: Clock::new(),
                wake: Notify::new(),
                committer: OnceLock::new(),
                commits: Arc::new(Counters::default()),
            }),
        }
    }

    /// The journal store this engine works on.
    pub fn store(&self) -> &Arc<dyn JournalStore> {
        &self.inner.store
    }

    /// The engine clock (ms since the epoch; follows tokio's clock).
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Durably journals a source's changes (one transaction) and wakes the workers.
    pub async fn accept(
        &self,
        source: &str,
        changes: Vec<Change>,
    ) -> Result<Vec<Accepted>, EngineError> {
        self.accept_in_run(source, changes, None).await
    }

    /// Like [`Engine::accept`], tagging the changes with an import run.
    pub async fn accept_in_run(
        &self,
        source: &str,
        changes: Vec<Change>,
        run_id: Option<i64>,
    ) -> Result<Vec<Accepted>, EngineError> {
        let list_id = self.list_of(source)?;
        for (index, c) in changes.iter().enumerate() {
            if c.external_id.trim().is_empty() {
                return Err(EngineError::InvalidChange {
                    index,
                    external_id: c.external_id.clone(),
                    field: "external_id",
                    reason: "is empty".to_string(),
                });
            }
        }
        let ids: Vec<String> = changes.iter().map(|c| c.external_id.clone()).collect();
        let seqs = self
            .commit(NewBatch {
                source: source.to_string(),
                list_id,
                changes,
                run_id,
                deliveries: Vec::new(),
                summary: None,
            })
            .await?;
        Ok(seqs
            .into_iter()
            .zip(ids)
            .map(|(seq, external_id)| Accepted { seq, external_id })
            .collect())
    }

    /// Commits one batch in a transaction of its own.
    async fn commit_alone(&self, batch: NewBatch) -> Result<Vec<i64>, EngineError> {
        let now = self.now_ms();
        let seqs = self
            .inner
            .store
            .accept_group(vec![batch], now)
            .await?
            .remove(0);
        self.inner.commits.count(1);
        Ok(seqs)
    }

    /// How many accepting transactions ran and how many batches they carried.
    pub fn commit_stats(&self) -> CommitStats {
        self.inner.commits.stats()
    }

    /// The contact list a source feeds.
    pub(crate) fn list_of(&self, source: &str) -> Result<String, EngineError> {
        self.inner
            .sources
            .get(source)
            .map(|b| b.list_id.clone())
            .ok_or_else(|| EngineError::UnknownSource(source.to_string()))
    }

    /// Makes a batch durable — through the group committer when group commit is on —
    /// wakes the workers and returns the batch's seqs.
    pub(crate) async fn commit(&self, batch: NewBatch) -> Result<Vec<i64>, EngineError> {
        let seqs = if self.inner.options.group_commit {
            let committer = self.inner.committer.get_or_init(|| {
                committer::start(
                    self.inner.store.clone(),
                    self.inner.clock,
                    self.inner.commits.clone(),
                )
            });
            let (reply, answer) = tokio::sync::oneshot::channel();
            match committer.send(Pending { batch, reply }) {
                Ok(()) => answer
                    .await
                    .map_err(|_| EngineError::Task("the group committer stopped".into()))??,
                // The runtime the committer was started on is gone: commit directly.
                Err(tokio::sync::mpsc::error::SendError(pending)) => {
                    self.commit_alone(pending.batch).await?
                }
            }
        } else {
            self.commit_alone(batch).await?
        };
        self.inner.wake.notify_waiters();
        Ok(seqs)
    }

    /// Claims one round of ready keys and processes them; returns how many keys it took.
    /// While the round runs its leases are renewed; if writing the results fails, the
    /// round's claims are released (and, if even that fails, they expire with the lease).
    pub async fn run_once(&self) -> Result<usize, EngineError> {
        let now = self.now_ms();
        let max = self.inner.options.keys_per_round.max(1);
        let lists = self.inner.lists.clone();
        let claimed = self.inner.store.claim_ready(now, max, lists).await?;
        let count = claimed.len();
        if count == 0 {
            return Ok(0);
        }
        let mut by_list: BTreeMap<String, Vec<ClaimedKey>> = BTreeMap::new();
        for key in claimed {
            by_list.entry(key.list_id.clone()).or_default().push(key);
        }
        let rounds = by_list
            .into_iter()
            .map(|(list_id, keys)| self.run_list(list_id, keys));
        let work = futures::future::join_all(rounds);
        tokio::pin!(work);
        let renew_every =
            Duration::from_millis((self.inner.options.journal.lease.as_millis() / 3).max(1) as u64);
        let results: Vec<_> = loop {
            tokio::select! {
                done = &mut work => break done.into_iter().flatten().collect(),
                _ = tokio::time::sleep(renew_every) => {
                    let now = self.now_ms();
                    if let Err(e) = self.inner.store.renew(now).await {
                        tracing::warn!(error = %e, "could not renew claim leases");
                    }
                }
            }
        };
        let now = self.now_ms();
        match self.inner.store.finish(results, now).await {
            Ok(_) => Ok(count),
            Err(e) => {
                if let Err(release) = self.inner.store.release().await {
                    tracing::warn!(error = %release, "could not release claims; they expire with their lease");
                }
                Err(e.into())
            }
        }
    }

    async fn run_list(
        &self,
        list_id: String,
        keys: Vec<ClaimedKey>,
    ) -> Vec<(String, String, KeyResult)> {
        let binding = self
            .inner
            .sources
            .values()
            .find(|b| b.list_id == list_id)
            .expect("only lists with a binding are claimed");
        let sink = binding.sink.clone();
        let shape = self.shape(&list_id, sink.as_ref()).await;
        let empty = ListShape {
            columns: Default::default(),
            phone_columns: Default::default(),
        };
        let round = ListRound {
            list_id: &list_id,
            sink: sink.as_ref(),
            shape: shape.as_ref().unwrap_or(&empty),
            sources: &self.inner.rules,
            retry: &self.inner.options.retry,
            clock: self.inner.clock,
        };
        match &shape {
            Ok(_) => round.run(keys).await,
            Err(e) => round.fail_keys(keys, e),
        }
    }

    /// The list's shape, read again once it is older than the configured TTL (columns
    /// added to a list in Genesys are picked up without a restart).
    async fn shape(&self, list_id: &str, sink: &dyn ContactSink) -> Result<ListShape, SinkError> {
        let mut shapes = self.inner.shapes.lock().await;
        if let Some((shape, at)) = shapes.get(list_id)
            && at.elapsed() < self.inner.options.shape_ttl
        {
            return Ok(shape.clone());
        }
        let shape = sink.list_shape(list_id).await?;
        shapes.insert(
            list_id.to_string(),
            (shape.clone(), tokio::time::Instant::now()),
        );
        Ok(shape)
    }

    /// Works until every accepted change of this engine's lists has its outcome (waiting
    /// out retry delays and other processes' leases). Do-not-call changes that keep
    /// failing do not hold it up: they stay queued as [`Engine::compliance_alerts`].
    pub async fn run_until_idle(&self) -> Result<(), EngineError> {
        let alert = self.inner.options.retry.max_attempts;
        loop {
            match self.run_once().await {
                Ok(0) => {}
                Ok(_) => continue,
                Err(e) if e.is_busy() => {
                    tracing::warn!(error = %e, "journal busy; retrying the round");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            let lists = self.inner.lists.clone();
            let store = &self.inner.store;
            let found = async {
                let unfinished = store.unfinished_in(lists.clone(), alert).await?;
                Ok::<_, EngineError>((unfinished, store.next_ready_at(lists).await?))
            };
            let (unfinished, next) = match found.await {
                Ok(found) => found,
                Err(e) if e.is_busy() => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if unfinished == 0 {
                return Ok(());
            }
            // Never sleep longer than `idle_poll`: a concurrent round of this engine may
            // finish, or another process may release its claims, before then.
            let idle = self.inner.options.idle_poll.as_millis().max(1) as i64;
            let wait = match next {
                Some(at) => Duration::from_millis((at - self.now_ms()).clamp(1, idle) as u64),
                None => Duration::from_millis(50),
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Starts a background worker that processes changes as they are accepted.
    pub fn spawn_workers(&self) -> Workers {
        let stop = Arc::new(Notify::new());
        let engine = self.clone();
        let stop2 = stop.clone();
        let task = tokio::spawn(async move {
            // Retention runs when the workers start and then about once an hour.
            let mut next_prune = tokio::time::Instant::now();
            let mut last_round: Option<tokio::time::Instant> = None;
            loop {
                if let Some(started) = last_round {
                    let due = started + engine.inner.options.round_interval;
                    tokio::select! {
                        biased;
                        _ = stop2.notified() => {
                            if let Err(e) = engine.inner.store.release().await {
                                tracing::warn!(error = %e, "could not release claims; they expire with their lease");
                            }
                            return Ok(());
                        }
                        _ = tokio::time::sleep_until(due) => {}
                    }
                }
                if tokio::time::Instant::now() >= next_prune {
                    next_prune += Duration::from_secs(3600);
                    if let Err(e) = engine.prune().await {
                        tracing::warn!(error = %e, "journal retention failed; retrying in an hour");
                    }
                }
                let wake = engine.inner.wake.notified();
                tokio::pin!(wake);
                wake.as_mut().enable();
                // A failed round (e.g. the journal briefly busy) is logged and retried:
                // the workers must outlive any one error, or accepted work would sit idle.
                // Idle workers look again every `idle_poll`: another process (an import
                // that died, a CLI replay) may have queued work for these lists.
                let idle = engine.inner.options.idle_poll;
                let started = tokio::time::Instant::now();
                let round = engine.work_round().await;
                // Only a round that found work paces the next one.
                last_round = matches!(round, Ok((n, _)) if n > 0).then_some(started);
                let wait = match round.map(|(_, next)| next) {
                    Ok(Some(at)) => Duration::from_millis(
                        (at - engine.now_ms()).clamp(1, idle.as_millis().max(1) as i64) as u64,
                    ),
                    Ok(None) => idle,
                    Err(e) => {
                        tracing::warn!(error = %e, "sync round failed; retrying in 1 s");
                        Duration::from_secs(1)
                    }
                };
                // Another worker's accept (PostgreSQL NOTIFY) wakes this one too.
                let signal = engine.inner.store.work_signal();
                let elsewhere = async {
                    match &signal {
                        Some(n) => n.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = stop2.notified() => {
                        // Draining: the last round finished and freed its keys; anything
                        // still claimed goes back for the other workers now, not after
                        // the lease.
                        if let Err(e) = engine.inner.store.release().await {
                            tracing::warn!(error = %e, "could not release claims; they expire with their lease");
                        }
                        return Ok(());
                    }
                    _ = &mut wake => {}
                    _ = elsewhere => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        });
        Workers { stop, task }
    }

    /// Runs rounds while they come back full (a backlog), then says how many keys they
    /// took and when the next parked work is due.
    async fn work_round(&self) -> Result<(usize, Option<i64>), EngineError> {
        let full = self.inner.options.keys_per_round.max(1);
        let mut taken = 0;
        loop {
            let n = self.run_once().await?;
            taken += n;
            if n < full {
                break;
            }
        }
        let lists = self.inner.lists.clone();
        Ok((taken, self.inner.store.next_ready_at(lists).await?))
    }

    /// Prunes finished changes and webhook delivery ids older than the retention window;
    /// returns the number of changes deleted.
    pub async fn prune(&self) -> Result<u64, EngineError> {
        let before = self.now_ms() - self.inner.options.retention.as_millis() as i64;
        Ok(self.inner.store.prune(before).await?)
    }

    /// Do-not-call changes not applied after the retry budget: they keep retrying on their
    /// own lane and are reported (metric, `status`, `import`'s exit code) until applied.
    pub async fn compliance_alerts(&self) -> Result<Vec<ComplianceAlert>, EngineError> {
        let min = self.inner.options.retry.max_attempts;
        Ok(self.inner.store.compliance_alerts(min).await?)
    }

    /// Everything known about an externalId, optionally only for one source.
    pub async fn status(
        &self,
        external_id: &str,
        source: Option<&str>,
    ) -> Result<Vec<ContactStatus>, EngineError> {
        let external_id = external_id.to_string();
        let source = source.map(str::to_string);
        Ok(self.inner.store.status(external_id, source).await?)
    }

    /// Dead letters not yet replayed.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, EngineError> {
        Ok(self.inner.store.dead_letters().await?)
    }

    /// Puts dead letters back in the queue (`None` = all); returns (replayed, unknown ids).
    pub async fn replay(&self, ids: Option<Vec<i64>>) -> Result<(Vec<i64>, Vec<i64>), EngineError> {
        let now = self.now_ms();
        let out = self.inner.store.replay(ids, now).await?;
        self.inner.wake.notify_waiters();
        Ok(out)
    }

    /// Runs a closure on the SQLite journal (benchmarks and tools that reach below the
    /// store boundary). Fails on another store.
    pub async fn with_journal<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let Some(sqlite) = self.inner.store.as_sqlite() else {
            return Err(EngineError::Journal(JournalError::Backend {
                backend: self.inner.store.backend(),
                message: "this operation needs the SQLite journal".into(),
            }));
        };
        Ok(sqlite.run(f).await?)
    }
}

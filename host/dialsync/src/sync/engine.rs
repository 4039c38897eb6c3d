//! The engine: accepts changes durably, then works the journal until every change has
//! its outcome. One `Engine` per process and journal file; it is cheap to clone.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::Notify;

use super::apply::{ListRound, RetryRules, SourceRules};
use super::change::Change;
use super::change::Row;
use super::journal::{ClaimedKey, ContactStatus, DeadLetter, Journal, JournalError, KeyResult};
use super::sink::{ContactSink, ContactWrite, ListShape, SinkError, SinkErrorKind};
use futures::future::BoxFuture;

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
        }
    }
}

impl EngineOptions {
    /// Defaults, with batches no larger than the smallest `max_contacts_per_call` of the
    /// config's orgs.
    pub fn for_config(config: &crate::config::Config) -> EngineOptions {
        let mut options = EngineOptions::default();
        if let Some(per_call) = config.orgs.values().map(|o| o.max_contacts_per_call).min() {
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

/// The port for a list no configured source writes to (its source was removed from the
/// config): every call fails as transient, so the changes wait, then dead-letter.
struct Unbound;

impl ContactSink for Unbound {
    fn list_shape<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<ListShape, SinkError>> {
        Box::pin(async move { Err(unbound(list_id)) })
    }
    fn upsert<'a>(
        &'a self,
        list_id: &'a str,
        _: &'a ListShape,
        _: &'a [ContactWrite],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move { Err(unbound(list_id)) })
    }
    fn fetch<'a>(
        &'a self,
        list_id: &'a str,
        _: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, Row>, SinkError>> {
        Box::pin(async move { Err(unbound(list_id)) })
    }
    fn delete<'a>(
        &'a self,
        list_id: &'a str,
        _: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move { Err(unbound(list_id)) })
    }
    fn dnc_add<'a>(
        &'a self,
        list_id: &'a str,
        _: &'a [String],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move { Err(unbound(list_id)) })
    }
    fn list_in_use<'a>(&'a self, list_id: &'a str) -> BoxFuture<'a, Result<bool, SinkError>> {
        Box::pin(async move { Err(unbound(list_id)) })
    }
}

fn unbound(list_id: &str) -> SinkError {
    SinkError {
        kind: SinkErrorKind::Transient,
        message: format!("no configured source writes to contact list {list_id}"),
    }
}

/// Wall-clock milliseconds that follow tokio's clock, so paused-clock tests step retry
/// times exactly.
struct Clock {
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
    fn now_ms(&self) -> i64 {
        self.wall0_ms + self.t0.elapsed().as_millis() as i64
    }
}

struct Inner {
    journal: Arc<Mutex<Journal>>,
    sources: HashMap<String, SourceBinding>,
    rules: HashMap<String, SourceRules>,
    shapes: tokio::sync::Mutex<HashMap<String, ListShape>>,
    options: EngineOptions,
    clock: Clock,
    wake: Notify,
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
    /// Opens the journal at `path` (claimed work from a dead process goes back to pending).
    pub fn open(
        path: &Path,
        sources: Vec<SourceBinding>,
        options: EngineOptions,
    ) -> Result<Engine, EngineError> {
        let journal = Journal::open(path)?;
        let rules = sources
            .iter()
            .map(|s| (s.name.clone(), s.rules.clone()))
            .collect();
        let sources = sources.into_iter().map(|s| (s.name.clone(), s)).collect();
        Ok(Engine {
            inner: Arc::new(Inner {
                journal: Arc::new(Mutex::new(journal)),
                sources,
                rules,
                shapes: tokio::sync::Mutex::new(HashMap::new()),
                options,
                clock: Clock::new(),
                wake: Notify::new(),
            }),
        })
    }

    /// Runs a journal operation off the async threads (commits fsync).
    async fn journal<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let journal = self.inner.journal.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = journal.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| EngineError::Task(e.to_string()))?
        .map_err(EngineError::from)
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
        let binding = self
            .inner
            .sources
            .get(source)
            .ok_or_else(|| EngineError::UnknownSource(source.to_string()))?;
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
        let list_id = binding.list_id.clone();
        let source = source.to_string();
        let now = self.now_ms();
        let ids: Vec<String> = changes.iter().map(|c| c.external_id.clone()).collect();
        let seqs = self
            .journal(move |j| j.accept(&source, &list_id, &changes, run_id, now))
            .await?;
        self.inner.wake.notify_waiters();
        Ok(seqs
            .into_iter()
            .zip(ids)
            .map(|(seq, external_id)| Accepted { seq, external_id })
            .collect())
    }

    /// Claims one round of ready keys and processes them; returns how many keys it took.
    pub async fn run_once(&self) -> Result<usize, EngineError> {
        let now = self.now_ms();
        let max = self.inner.options.keys_per_round.max(1);
        let claimed = self.journal(move |j| j.claim_ready(now, max)).await?;
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
        let results: Vec<_> = futures::future::join_all(rounds)
            .await
            .into_iter()
            .flatten()
            .collect();
        let now = self.now_ms();
        self.journal(move |j| j.finish(&results, now)).await?;
        Ok(count)
    }

    async fn run_list(
        &self,
        list_id: String,
        keys: Vec<ClaimedKey>,
    ) -> Vec<(String, String, KeyResult)> {
        let sink = keys
            .iter()
            .flat_map(|k| k.changes.iter())
            .find_map(|c| self.inner.sources.get(&c.source))
            .map(|b| b.sink.clone());
        let shape = match &sink {
            Some(sink) => self.shape(&list_id, sink.as_ref()).await,
            None => Err(SinkError {
                kind: SinkErrorKind::Transient,
                message: format!("no configured source writes to contact list {list_id}"),
            }),
        };
        let empty = ListShape {
            columns: Default::default(),
            phone_columns: Default::default(),
        };
        let unbound = Unbound;
        let round = ListRound {
            list_id: &list_id,
            sink: sink.as_deref().unwrap_or(&unbound),
            shape: shape.as_ref().unwrap_or(&empty),
            sources: &self.inner.rules,
            retry: &self.inner.options.retry,
            now_ms: self.now_ms(),
        };
        match &shape {
            Ok(_) => round.run(keys).await,
            Err(e) => round.fail_keys(keys, e),
        }
    }

    async fn shape(&self, list_id: &str, sink: &dyn ContactSink) -> Result<ListShape, SinkError> {
        let mut shapes = self.inner.shapes.lock().await;
        if let Some(shape) = shapes.get(list_id) {
            return Ok(shape.clone());
        }
        let shape = sink.list_shape(list_id).await?;
        shapes.insert(list_id.to_string(), shape.clone());
        Ok(shape)
    }

    /// Works until every accepted change has its outcome (waiting out retry delays).
    pub async fn run_until_idle(&self) -> Result<(), EngineError> {
        loop {
            if self.run_once().await? > 0 {
                continue;
            }
            let (unfinished, next) = self
                .journal(|j| Ok((j.unfinished()?, j.next_ready_at()?)))
                .await?;
            if unfinished == 0 {
                return Ok(());
            }
            let wait = match next {
                Some(at) => Duration::from_millis((at - self.now_ms()).clamp(1, 60_000) as u64),
                // Everything left is claimed by another worker: look again shortly.
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
            loop {
                let wake = engine.inner.wake.notified();
                tokio::pin!(wake);
                wake.as_mut().enable();
                // A failed round (e.g. the journal briefly busy) is logged and retried:
                // the workers must outlive any one error, or accepted work would sit idle.
                let wait = match engine.work_round().await {
                    Ok(Some(at)) => {
                        Duration::from_millis((at - engine.now_ms()).clamp(1, 60_000) as u64)
                    }
                    Ok(None) => Duration::from_secs(60),
                    Err(e) => {
                        tracing::warn!(error = %e, "sync round failed; retrying in 1 s");
                        Duration::from_secs(1)
                    }
                };
                tokio::select! {
                    _ = stop2.notified() => return Ok(()),
                    _ = &mut wake => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        });
        Workers { stop, task }
    }

    /// Runs rounds until nothing is ready, then says when the next parked work is due.
    async fn work_round(&self) -> Result<Option<i64>, EngineError> {
        while self.run_once().await? > 0 {}
        self.journal(|j| j.next_ready_at()).await
    }

    /// Everything known about an externalId, optionally only for one source.
    pub async fn status(
        &self,
        external_id: &str,
        source: Option<&str>,
    ) -> Result<Vec<ContactStatus>, EngineError> {
        let external_id = external_id.to_string();
        let source = source.map(str::to_string);
        self.journal(move |j| j.status(&external_id, source.as_deref()))
            .await
    }

    /// Dead letters not yet replayed.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, EngineError> {
        self.journal(|j| j.dead_letters()).await
    }

    /// Puts dead letters back in the queue (`None` = all); returns (replayed, unknown ids).
    pub async fn replay(&self, ids: Option<Vec<i64>>) -> Result<(Vec<i64>, Vec<i64>), EngineError> {
        let now = self.now_ms();
        let out = self.journal(move |j| j.replay(ids.as_deref(), now)).await?;
        self.inner.wake.notify_waiters();
        Ok(out)
    }

    /// Runs a closure on the journal (import runs, counts).
    pub async fn with_journal<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, EngineError> {
        self.journal(f).await
    }
}

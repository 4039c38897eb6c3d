//! One round of work for one contact list: coalesce each claimed key, validate, then write
//! with as few calls as possible — DNC numbers first, then deletes, then upserts in batches
//! of up to the per-call maximum. A batch the API rejects (400) or refuses with 409 is
//! bisected to find the records at fault; the rest go through. Every key ends the round
//! with a [`KeyResult`]: finished with outcomes, parked for a later retry, or dead-lettered.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::BoxFuture;
use rand::Rng;

use super::change::{FieldError, NeedsBase, Operation, Outcome, Row, Target, fold};
use super::identity::{contact_id, content_hash};
use super::journal::{ClaimedKey, KeyResult, NewState, StoredChange};
use super::sink::{ContactSink, ContactWrite, ListShape, SinkError, SinkErrorKind};
use super::validate::validate;
use crate::config::DeleteMode;

/// Per-source settings the writer needs.
#[derive(Debug, Clone)]
pub struct SourceRules {
    /// DNC list that do-not-call numbers also go on.
    pub dnc_list_id: Option<String>,
    /// What a CRM delete does.
    pub delete_mode: DeleteMode,
}

/// Retry and batching settings.
#[derive(Debug, Clone)]
pub struct RetryRules {
    /// Attempts before a key is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay (doubles each attempt, full jitter).
    pub base_delay: Duration,
    /// Longest retry delay.
    pub max_delay: Duration,
    /// Contacts per add call.
    pub per_call: usize,
    /// Add calls in flight at once per list.
    pub concurrent_batches: usize,
}

/// Ids per bulk get / bulk delete call.
const IDS_PER_CALL: usize = 100;
/// Numbers per DNC patch call.
const NUMBERS_PER_CALL: usize = 1000;

/// Everything one round for one list needs.
pub struct ListRound<'a> {
    /// The list.
    pub list_id: &'a str,
    /// Its Genesys port.
    pub sink: &'a dyn ContactSink,
    /// Its shape.
    pub shape: &'a ListShape,
    /// Rules per source name.
    pub sources: &'a HashMap<String, SourceRules>,
    /// Retry rules.
    pub retry: &'a RetryRules,
    /// Now (ms since the epoch, engine clock).
    pub now_ms: i64,
}

/// A key being worked on.
struct Work {
    key: ClaimedKey,
    /// Non-stale changes in source order (the last one wins).
    live: Vec<StoredChange>,
    /// Stale changes' outcomes.
    done: Vec<ChangeOutcome>,
    target: Option<Target>,
}

impl Work {
    fn winner(&self) -> &StoredChange {
        self.live.last().expect("work always has a live change")
    }
    fn contact_id(&self, list_id: &str) -> String {
        contact_id(list_id, &self.key.external_id)
    }
}

/// A write to make for a key.
enum Write {
    Upsert(Row),
    Delete,
}

type Results = Vec<(String, String, KeyResult)>;
/// (seq, outcome, error JSON) for one change.
type ChangeOutcome = (i64, Outcome, Option<String>);
/// A sent row and how its batch fared.
type Sent = (Work, Row, Result<(), SinkError>);

impl ListRound<'_> {
    /// Processes the claimed keys of this list and returns one result per key.
    pub async fn run(&self, keys: Vec<ClaimedKey>) -> Results {
        let mut results: Results = Vec::new();
        let mut work: Vec<Work> = Vec::new();
        for key in keys {
            let (live, done) = split_stale(&key);
            if live.is_empty() {
                self.finish(&mut results, &key, done, None);
                continue;
            }
            let target = fold(
                &key.external_id,
                key.applied.row.as_ref(),
                live.iter().map(|c| &c.change),
            )
            .ok();
            work.push(Work {
                key,
                live,
                done,
                target,
            });
        }

        self.fill_missing_bases(&mut work, &mut results).await;

        // Decide each key's write.
        let mut in_use: Option<Result<bool, SinkError>> = None;
        let mut writes: Vec<(Work, Write)> = Vec::new();
        for w in work {
            let target = w
                .target
                .clone()
                .expect("bases were filled or the key finished");
            let hash = content_hash(&target);
            if w.key.applied.content_hash.as_deref() == Some(hash.as_str()) {
                let mut done = w.done.clone();
                done.extend(superseded(&w.live, Outcome::Unchanged, None));
                self.finish(&mut results, &w.key, done, None);
                continue;
            }
            let write = match target {
                Target::Present(row) => {
                    let errors = validate(&row, self.shape);
                    if !errors.is_empty() {
                        self.reject(&mut results, w, &errors);
                        continue;
                    }
                    Write::Upsert(row)
                }
                Target::Removed { last } => {
                    let hard =
                        self.rules(&w.winner().source).delete_mode == DeleteMode::HardWhenIdle;
                    let hard = if hard {
                        let answer = match &in_use {
                            Some(answer) => answer.clone(),
                            None => {
                                let answer = self.sink.list_in_use(self.list_id).await;
                                in_use = Some(answer.clone());
                                answer
                            }
                        };
                        match answer {
                            Ok(in_use) => !in_use,
                            Err(e) => {
                                self.fail(&mut results, w, &e);
                                continue;
                            }
                        }
                    } else {
                        false
                    };
                    match (hard, last) {
                        (true, _) => Write::Delete,
                        (false, Some(mut row)) => {
                            row.callable = false;
                            Write::Upsert(row)
                        }
                        // Never synced: there is nothing in Genesys to make uncallable.
                        (false, None) => {
                            let mut done = w.done.clone();
                            done.extend(superseded(&w.live, Outcome::Unchanged, None));
                            self.finish(&mut results, &w.key, done, None);
                            continue;
                        }
                    }
                }
            };
            writes.push((w, write));
        }

        let writes = self.add_dnc_numbers(writes, &mut results).await;

        let (deletes, upserts): (Vec<_>, Vec<_>) = writes
            .into_iter()
            .partition(|(_, write)| matches!(write, Write::Delete));
        for chunk in chunks(deletes, IDS_PER_CALL) {
            let ids: Vec<String> = chunk
                .iter()
                .map(|(w, _)| w.contact_id(self.list_id))
                .collect();
            match self.sink.delete(self.list_id, &ids).await {
                Ok(()) => {
                    for (w, _) in chunk {
                        self.applied(&mut results, w, None);
                    }
                }
                Err(e) => {
                    for (w, _) in chunk {
                        self.fail(&mut results, w, &e);
                    }
                }
            }
        }

        let batches: Vec<Vec<(Work, Row)>> = chunks(
            upserts
                .into_iter()
                .map(|(w, write)| match write {
                    Write::Upsert(row) => (w, row),
                    Write::Delete => unreachable!("deletes were split off above"),
                })
                .collect(),
            self.retry.per_call.max(1),
        );
        let sent: Vec<Vec<Sent>> = futures::stream::iter(batches)
            .map(|batch| self.send_bisect(batch))
            .buffer_unordered(self.retry.concurrent_batches.max(1))
            .collect()
            .await;
        for (w, row, result) in sent.into_iter().flatten() {
            match result {
                Ok(()) => self.applied(&mut results, w, Some(row)),
                Err(e) => self.fail(&mut results, w, &e),
            }
        }
        results
    }

    /// Ends the round for keys that could not be worked at all (the list's shape could
    /// not be read): stale changes end, the rest are parked or rejected by `e`'s class.
    pub fn fail_keys(&self, keys: Vec<ClaimedKey>, e: &SinkError) -> Results {
        let mut results = Vec::new();
        for key in keys {
            let (live, done) = split_stale(&key);
            if live.is_empty() {
                self.finish(&mut results, &key, done, None);
                continue;
            }
            let w = Work {
                key,
                live,
                done,
                target: None,
            };
            self.fail(&mut results, w, e);
        }
        results
    }

    fn rules(&self, source: &str) -> SourceRules {
        self.sources.get(source).cloned().unwrap_or(SourceRules {
            dnc_list_id: None,
            delete_mode: DeleteMode::Soft,
        })
    }

    /// Partial changes for contacts never seen in full merge into Genesys' current content.
    async fn fill_missing_bases(&self, work: &mut Vec<Work>, results: &mut Results) {
        let missing: Vec<usize> = (0..work.len())
            .filter(|&i| work[i].target.is_none())
            .collect();
        if missing.is_empty() {
            return;
        }
        let mut bases: BTreeMap<String, Row> = BTreeMap::new();
        let mut failed: Option<SinkError> = None;
        let ids: Vec<String> = missing
            .iter()
            .map(|&i| work[i].contact_id(self.list_id))
            .collect();
        for chunk in ids.chunks(IDS_PER_CALL) {
            match self.sink.fetch(self.list_id, chunk).await {
                Ok(found) => bases.extend(found),
                Err(e) => failed = Some(e),
            }
        }
        let mut keep = Vec::with_capacity(work.len());
        for (i, mut w) in std::mem::take(work).into_iter().enumerate() {
            if w.target.is_some() {
                keep.push(w);
                continue;
            }
            if let Some(e) = &failed {
                debug_assert!(missing.contains(&i));
                self.fail(results, w, e);
                continue;
            }
            let base = bases.get(&w.contact_id(self.list_id));
            match fold(&w.key.external_id, base, w.live.iter().map(|c| &c.change)) {
                Ok(target) => {
                    w.target = Some(target);
                    keep.push(w);
                }
                Err(NeedsBase) => {
                    let error = FieldError {
                        field: String::new(),
                        code: "unknown_contact".to_string(),
                        message: "a partial change for a record that was never synced in full and that Genesys does not have; send the full record".to_string(),
                    };
                    self.reject(results, w, &[error]);
                }
            }
        }
        *work = keep;
    }

    /// Adds the numbers of do-not-call changes to their sources' DNC lists; keys whose
    /// numbers could not be added are failed and dropped from the writes.
    async fn add_dnc_numbers(
        &self,
        writes: Vec<(Work, Write)>,
        results: &mut Results,
    ) -> Vec<(Work, Write)> {
        let mut by_list: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut key_list: Vec<Option<String>> = Vec::with_capacity(writes.len());
        for (w, write) in &writes {
            let dnc = w
                .live
                .iter()
                .any(|c| c.change.operation == Operation::DoNotCall);
            let list = self.rules(&w.winner().source).dnc_list_id;
            match (dnc, list, write) {
                (true, Some(list), Write::Upsert(row)) => {
                    let numbers: Vec<String> = self
                        .shape
                        .phone_columns
                        .iter()
                        .filter_map(|c| row.data.get(c))
                        .filter(|n| !n.is_empty())
                        .cloned()
                        .collect();
                    by_list.entry(list.clone()).or_default().extend(numbers);
                    key_list.push(Some(list));
                }
                _ => key_list.push(None),
            }
        }
        let mut failures: BTreeMap<String, SinkError> = BTreeMap::new();
        for (list, mut numbers) in by_list {
            numbers.sort();
            numbers.dedup();
            for chunk in numbers.chunks(NUMBERS_PER_CALL) {
                if let Err(e) = self.sink.dnc_add(&list, chunk).await {
                    failures.insert(list.clone(), e);
                    break;
                }
            }
        }
        let mut keep = Vec::with_capacity(writes.len());
        for ((w, write), list) in writes.into_iter().zip(key_list) {
            match list.and_then(|l| failures.get(&l)) {
                Some(e) => self.fail(results, w, e),
                None => keep.push((w, write)),
            }
        }
        keep
    }

    /// Sends one batch; a batch refused as a whole (400 or 409) is split in halves until
    /// the records at fault are isolated.
    fn send_bisect<'s>(&'s self, batch: Vec<(Work, Row)>) -> BoxFuture<'s, Vec<Sent>> {
        Box::pin(async move {
            let contacts: Vec<ContactWrite> = batch
                .iter()
                .map(|(w, row)| ContactWrite {
                    contact_id: w.contact_id(self.list_id),
                    row: row.clone(),
                })
                .collect();
            match self.sink.upsert(self.list_id, self.shape, &contacts).await {
                Ok(()) => batch.into_iter().map(|(w, r)| (w, r, Ok(()))).collect(),
                Err(e)
                    if batch.len() > 1
                        && matches!(e.kind, SinkErrorKind::Rejected | SinkErrorKind::Conflict) =>
                {
                    let mut left = batch;
                    let right = left.split_off(left.len() / 2);
                    let mut out = self.send_bisect(left).await;
                    out.extend(self.send_bisect(right).await);
                    out
                }
                Err(e) => batch
                    .into_iter()
                    .map(|(w, r)| (w, r, Err(e.clone())))
                    .collect(),
            }
        })
    }

    fn finish(
        &self,
        results: &mut Results,
        key: &ClaimedKey,
        outcomes: Vec<ChangeOutcome>,
        applied: Option<NewState>,
    ) {
        results.push((
            key.list_id.clone(),
            key.external_id.clone(),
            KeyResult::Finished { outcomes, applied },
        ));
    }

    fn applied(&self, results: &mut Results, w: Work, row: Option<Row>) {
        let winner = w.winner();
        let target = w.target.clone().expect("applied work has a target");
        let state = NewState {
            source: winner.source.clone(),
            contact_id: w.contact_id(self.list_id),
            updated_at: winner.change.source_updated_at,
            content_hash: content_hash(&target),
            removed: matches!(target, Target::Removed { .. }),
            row: row.or(match target {
                Target::Present(row) => Some(row),
                Target::Removed { .. } => None,
            }),
            seq: winner.seq,
        };
        let mut done = w.done.clone();
        done.extend(superseded(&w.live, Outcome::Applied, None));
        self.finish(results, &w.key, done, Some(state));
    }

    fn reject(&self, results: &mut Results, w: Work, errors: &[FieldError]) {
        let json = serde_json::to_string(errors).expect("field errors serialise");
        let mut done = w.done.clone();
        done.extend(
            w.live
                .iter()
                .map(|c| (c.seq, Outcome::Rejected, Some(json.clone()))),
        );
        self.finish(results, &w.key, done, None);
    }

    /// A failed write: rejected for good, or parked / dead-lettered by attempts.
    fn fail(&self, results: &mut Results, w: Work, e: &SinkError) {
        if e.kind == SinkErrorKind::Rejected {
            let error = FieldError {
                field: String::new(),
                code: "api_rejected".to_string(),
                message: e.message.clone(),
            };
            return self.reject(results, w, &[error]);
        }
        // Stale changes end now; the live ones wait or give up together.
        if !w.done.is_empty() {
            self.finish(results, &w.key, w.done.clone(), None);
        }
        let attempts = w.live.iter().map(|c| c.attempts).max().unwrap_or(0) + 1;
        let seqs: Vec<i64> = w.live.iter().map(|c| c.seq).collect();
        let result = if attempts >= self.retry.max_attempts {
            KeyResult::DeadLetter {
                seqs,
                source: w.winner().source.clone(),
                error: e.message.clone(),
                attempts,
            }
        } else {
            KeyResult::Park {
                seqs,
                next_attempt_at: self.now_ms + backoff(self.retry, attempts).as_millis() as i64,
                error: e.message.clone(),
            }
        };
        results.push((w.key.list_id.clone(), w.key.external_id.clone(), result));
    }
}

/// Splits a key's changes into live ones and those older than what was applied.
fn split_stale(key: &ClaimedKey) -> (Vec<StoredChange>, Vec<ChangeOutcome>) {
    let applied_at: Option<DateTime<Utc>> = key.applied.updated_at;
    let mut live = Vec::new();
    let mut done = Vec::new();
    for c in &key.changes {
        match applied_at {
            Some(at) if c.change.source_updated_at < at => done.push((c.seq, Outcome::Stale, None)),
            _ => live.push(c.clone()),
        }
    }
    (live, done)
}

/// The winner gets `winner_outcome`; every earlier live change was folded into it.
fn superseded(
    live: &[StoredChange],
    winner_outcome: Outcome,
    error: Option<String>,
) -> Vec<ChangeOutcome> {
    let last = live.len().saturating_sub(1);
    live.iter()
        .enumerate()
        .map(|(i, c)| {
            if i == last {
                (c.seq, winner_outcome, error.clone())
            } else {
                (c.seq, Outcome::Superseded, None)
            }
        })
        .collect()
}

/// Exponential backoff with equal jitter: uniform in [cap/2, cap], cap = min(max, base * 2^(attempt-1)).
fn backoff(rules: &RetryRules, attempt: u32) -> Duration {
    let exp = rules
        .base_delay
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let cap = exp.min(rules.max_delay);
    let ms = cap.as_millis() as u64;
    Duration::from_millis(rand::rng().random_range(ms / 2..=ms.max(1)))
}

fn chunks<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut iter = items.into_iter().peekable();
    while iter.peek().is_some() {
        out.push(iter.by_ref().take(size).collect());
    }
    out
}

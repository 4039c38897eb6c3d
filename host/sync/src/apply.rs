//! One round of work for one contact list: coalesce each claimed key, validate, then write
//! with as few calls as possible — DNC numbers first, then deletes (100 ids per call, or
//! bulk remove jobs by externalId for more than 200), then upserts in batches of up to the
//! per-call maximum. A batch the API rejects (400) or refuses with 409 is
//! bisected to find the records at fault; the rest go through. Every key ends the round
//! with a [`KeyResult`]: finished with outcomes, parked for a later retry, or dead-lettered.
//!
//! Delivery rules decided here, from the key's per-contact state:
//! * a change older than the newest source time ever finished for the contact is `stale`,
//!   whatever that newer change's outcome was (so a late create never resurrects a
//!   tombstone, and an `unchanged` newer version still wins);
//! * a do-not-call is never stale while no newer consent restore was seen: a late one is
//!   carried as compliance only (the contact becomes uncallable, its numbers go on the DNC
//!   list) and it never makes older content win;
//! * a full change's phone columns it does not carry are written empty, and a contact with
//!   no number left is uncallable;
//! * do-not-call work has its own lane: its own attempt count, never dead-lettered.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use rand::Rng;

use super::change::{
    Compliance, EXTERNAL_ID_COLUMN, FieldError, NeedsBase, Operation, Outcome, Row, Target,
    complete_phones, fold, is_do_not_call,
};
use super::engine::Clock;
use super::identity::{contact_id, content_hash};
use super::journal::{ClaimedKey, KeyResult, NewState, Seen, StoredChange};
use super::sink::{ContactSink, ContactWrite, ListShape, SinkError, SinkErrorKind};
use super::validate::validate;

/// What a CRM delete does to the Genesys contact (`sources.NAME.delete_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteMode {
    /// Always a soft delete: the contact is made uncallable and stays in the list.
    #[default]
    Soft,
    /// Really delete, but only when no running campaign uses the list; otherwise soft.
    HardWhenIdle,
}

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
/// Hard deletes in one round above which bulk remove jobs are used: a job costs a POST and
/// at least one poll, so it saves requests once `?contactIds=` would need three calls.
const BULK_REMOVE_ABOVE: usize = 2 * IDS_PER_CALL;
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
    /// The engine clock: retry times are counted from when a write failed, not from when
    /// the round started (a round's calls can take long, e.g. waiting out a rate limit).
    pub(crate) clock: Clock,
}

/// A key being worked on.
struct Work {
    key: ClaimedKey,
    /// Changes to carry in source order (the last one wins); late do-not-call changes
    /// are carried as compliance-only changes.
    live: Vec<StoredChange>,
    /// Stale changes' outcomes.
    done: Vec<ChangeOutcome>,
    target: Option<Target>,
    /// Compliance after the live changes.
    compliance: Compliance,
    /// Numbers the live do-not-call changes carried.
    dnc_numbers: Vec<String>,
}

impl Work {
    fn winner(&self) -> &StoredChange {
        self.live.last().expect("work always has a live change")
    }
    fn contact_id(&self, list_id: &str) -> String {
        contact_id(list_id, &self.key.external_id)
    }
    /// Folds the live changes onto `base`, completing phone columns from the list shape.
    fn fold(&mut self, base: Option<&Row>, shape: &ListShape) -> Result<(), NeedsBase> {
        let mut compliance = self.key.state.compliance.clone();
        let mut target = fold(
            &self.key.external_id,
            base,
            &mut compliance,
            self.live.iter().map(|c| &c.change),
        )?;
        if let Target::Present(row) = &mut target {
            complete_phones(row, &shape.phone_columns);
        }
        self.target = Some(target);
        self.compliance = compliance;
        Ok(())
    }
    /// What the finished live changes teach about the contact.
    fn seen(&self) -> Seen {
        let newest = self
            .live
            .iter()
            .map(|c| c.change.source_updated_at)
            .max()
            .expect("work always has a live change");
        Seen {
            source: self.winner().source.clone(),
            seen_at: newest,
            compliance: self.compliance.clone(),
            removed: self
                .target
                .as_ref()
                .map(|t| matches!(t, Target::Removed { .. })),
        }
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
            let Some(mut w) = self.split(key, &mut results) else {
                continue;
            };
            let base = w.key.state.row.clone();
            // A partial change for a contact never seen in full gets its base below.
            let _ = w.fold(base.as_ref(), self.shape);
            work.push(w);
        }

        self.fill_missing_bases(&mut work, &mut results).await;
        let work = self.add_dnc_numbers(work, &mut results).await;

        // Decide each key's write.
        let mut in_use: Option<Result<bool, SinkError>> = None;
        let mut writes: Vec<(Work, Write)> = Vec::new();
        for w in work {
            let target = w
                .target
                .clone()
                .expect("bases were filled or the key finished");
            let hash = content_hash(&target);
            if w.key.state.content_hash.as_deref() == Some(hash.as_str()) {
                self.unchanged(&mut results, w);
                continue;
            }
            let write = match target {
                // Never synced and no number: nothing to dial and nothing to clear.
                Target::Present(row)
                    if w.key.state.row.is_none()
                        && !row.callable
                        && !w.compliance.do_not_call
                        && w.live.iter().all(|c| !c.change.partial) =>
                {
                    let reason = serde_json::json!([{
                        "field": "",
                        "code": "no_phone",
                        "message": "the record has no phone number and was never synced: nothing to dial or clear",
                    }])
                    .to_string();
                    let mut done = w.done.clone();
                    done.extend(superseded(&w.live, Outcome::Skipped, Some(reason)));
                    self.finish(&mut results, &w.key, done, None, Some(w.seen()));
                    continue;
                }
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
                    let hard = if hard && last.is_some() {
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
                        // Never synced: there is nothing in Genesys to make uncallable;
                        // the tombstone (and any do-not-call) is kept in the contact state.
                        (false, None) => {
                            self.unchanged(&mut results, w);
                            continue;
                        }
                    }
                }
            };
            writes.push((w, write));
        }

        let (deletes, upserts): (Vec<_>, Vec<_>) = writes
            .into_iter()
            .partition(|(_, write)| matches!(write, Write::Delete));
        // Hard deletes: `DELETE …/contacts?contactIds=` per 100 contacts; a bigger delete
        // goes through bulk remove jobs (a POST and its polls per 1000 externalIds), which
        // take fewer requests.
        let by_job = deletes.len() > BULK_REMOVE_ABOVE;
        for chunk in chunks(
            deletes,
            if by_job {
                dialsync_genesys::BULK_IN_SET
            } else {
                IDS_PER_CALL
            },
        ) {
            let deleted = if by_job {
                let values: Vec<String> = chunk
                    .iter()
                    .map(|(w, _)| w.key.external_id.clone())
                    .collect();
                self.sink
                    .delete_by_column(self.list_id, EXTERNAL_ID_COLUMN, &values)
                    .await
            } else {
                let ids: Vec<String> = chunk
                    .iter()
                    .map(|(w, _)| w.contact_id(self.list_id))
                    .collect();
                self.sink.delete(self.list_id, &ids).await
            };
            match deleted {
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
            if let Some(w) = self.split(key, &mut results) {
                self.fail(&mut results, w, e);
            }
        }
        results
    }

    /// Splits a key's changes by the contact's last-write-wins mark (the newest source
    /// time ever finished): older changes are stale, except a do-not-call newer than the
    /// last consent restore, which is carried as a compliance-only change (the door
    /// closes; the content stays newer). Finishes the key when nothing is live.
    fn split(&self, key: ClaimedKey, results: &mut Results) -> Option<Work> {
        let mark = key.state.mark();
        let restored = key.state.compliance.restored_at;
        let mut live = Vec::new();
        let mut done = Vec::new();
        let mut dnc_numbers = Vec::new();
        for c in &key.changes {
            let at = c.change.source_updated_at;
            let dnc = is_do_not_call(&c.change);
            let older = mark.is_some_and(|m| at < m);
            if dnc && restored.is_none_or(|r| at > r) {
                dnc_numbers.extend(c.change.phones.iter().map(|p| p.number.clone()));
            }
            if !older {
                live.push(c.clone());
            } else if dnc && restored.is_none_or(|r| at > r) {
                let mut late = c.clone();
                late.change.operation = Operation::DoNotCall;
                late.change.partial = true;
                late.change.columns.clear();
                late.change.phones.clear();
                late.change.callable = None;
                live.push(late);
            } else {
                done.push((c.seq, Outcome::Stale, None));
            }
        }
        if live.is_empty() {
            self.finish(results, &key, done, None, None);
            return None;
        }
        Some(Work {
            key,
            live,
            done,
            target: None,
            compliance: Compliance::default(),
            dnc_numbers,
        })
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
        for mut w in std::mem::take(work) {
            if w.target.is_some() {
                keep.push(w);
                continue;
            }
            if let Some(e) = &failed {
                self.fail(results, w, e);
                continue;
            }
            let base = bases.get(&w.contact_id(self.list_id)).cloned();
            match w.fold(base.as_ref(), self.shape) {
                Ok(()) => keep.push(w),
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

    /// Puts the numbers of do-not-call contacts on their sources' DNC lists — the numbers
    /// the do-not-call changes carried and those of the contact's row (also the last row
    /// of a deleted contact, so a do-not-call coalesced with a hard delete still lands).
    /// Keys whose numbers could not be added are failed (on the do-not-call lane).
    async fn add_dnc_numbers(&self, work: Vec<Work>, results: &mut Results) -> Vec<Work> {
        let mut by_list: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut key_list: Vec<Option<String>> = Vec::with_capacity(work.len());
        for w in &work {
            let list = self.rules(&w.winner().source).dnc_list_id;
            let has_dnc = w.live.iter().any(|c| is_do_not_call(&c.change));
            match list {
                Some(list) if w.compliance.do_not_call && has_dnc => {
                    let row = match &w.target {
                        Some(Target::Present(row)) => Some(row),
                        Some(Target::Removed { last }) => last.as_ref(),
                        None => None,
                    };
                    let mut numbers = w.dnc_numbers.clone();
                    if let Some(row) = row.or(w.key.state.row.as_ref()) {
                        numbers.extend(
                            self.shape
                                .phone_columns
                                .iter()
                                .filter_map(|c| row.data.get(c))
                                .cloned(),
                        );
                    }
                    numbers.retain(|n| !n.trim().is_empty());
                    if numbers.is_empty() {
                        key_list.push(None);
                    } else {
                        by_list.entry(list.clone()).or_default().extend(numbers);
                        key_list.push(Some(list));
                    }
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
        let mut keep = Vec::with_capacity(work.len());
        for (w, list) in work.into_iter().zip(key_list) {
            match list.and_then(|l| failures.get(&l)) {
                Some(e) => self.fail(results, w, e),
                None => keep.push(w),
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
        seen: Option<Seen>,
    ) {
        results.push((
            key.list_id.clone(),
            key.external_id.clone(),
            KeyResult::Finished {
                outcomes,
                applied,
                seen,
            },
        ));
    }

    fn unchanged(&self, results: &mut Results, w: Work) {
        let mut done = w.done.clone();
        done.extend(superseded(&w.live, Outcome::Unchanged, None));
        self.finish(results, &w.key, done, None, Some(w.seen()));
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
        self.finish(results, &w.key, done, Some(state), Some(w.seen()));
    }

    /// Rejected changes end for good; the contact's mark and compliance still move (a
    /// do-not-call in a rejected record keeps the contact do-not-call from now on).
    fn reject(&self, results: &mut Results, w: Work, errors: &[FieldError]) {
        let json = serde_json::to_string(errors).expect("field errors serialise");
        let mut done = w.done.clone();
        done.extend(
            w.live
                .iter()
                .map(|c| (c.seq, Outcome::Rejected, Some(json.clone()))),
        );
        let seen = w.target.is_some().then(|| w.seen());
        self.finish(results, &w.key, done, None, seen);
    }

    /// A failed write: rejected for good, or parked / dead-lettered by attempts. The
    /// do-not-call lane counts its own attempts and is never dead-lettered: it keeps
    /// retrying (an alert once it failed `max_attempts` times).
    fn fail(&self, results: &mut Results, w: Work, e: &SinkError) {
        if e.kind == SinkErrorKind::Rejected {
            let error = FieldError {
                field: String::new(),
                code: "api_rejected".to_string(),
                message: e.message.clone(),
            };
            return self.reject(results, w, &[error]);
        }
        let failed_at = self.clock.now_ms();
        // Stale changes end now; the live ones wait or give up together.
        if !w.done.is_empty() {
            self.finish(results, &w.key, w.done.clone(), None, None);
        }
        let (dnc, ordinary): (Vec<&StoredChange>, Vec<&StoredChange>) =
            w.live.iter().partition(|c| is_do_not_call(&c.change));
        let list_id = w.key.list_id.clone();
        let external_id = w.key.external_id.clone();
        if !ordinary.is_empty() {
            let attempts = ordinary.iter().map(|c| c.attempts).max().unwrap_or(0) + 1;
            let seqs: Vec<i64> = ordinary.iter().map(|c| c.seq).collect();
            let result = if attempts >= self.retry.max_attempts {
                KeyResult::DeadLetter {
                    seqs,
                    source: ordinary[ordinary.len() - 1].source.clone(),
                    error: e.message.clone(),
                    attempts,
                }
            } else {
                KeyResult::Park {
                    seqs,
                    next_attempt_at: failed_at + backoff(self.retry, attempts).as_millis() as i64,
                    error: e.message.clone(),
                }
            };
            results.push((list_id.clone(), external_id.clone(), result));
        }
        if !dnc.is_empty() {
            let attempts = dnc.iter().map(|c| c.attempts).max().unwrap_or(0) + 1;
            if attempts >= self.retry.max_attempts {
                tracing::error!(
                    list_id = %list_id, external_id = %external_id, attempts,
                    error = %e.message,
                    "do-not-call not yet applied; still retrying"
                );
            }
            results.push((
                list_id,
                external_id,
                KeyResult::Park {
                    seqs: dnc.iter().map(|c| c.seq).collect(),
                    next_attempt_at: failed_at + backoff(self.retry, attempts).as_millis() as i64,
                    error: e.message.clone(),
                },
            ));
        }
    }
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

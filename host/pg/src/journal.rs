//! The journal on PostgreSQL: the same contract as the SQLite journal (accept durably,
//! claim per key under a lease, finish fenced by owner, park, dead letters, replay, runs,
//! retention), for many workers on many machines.
//!
//! Claims: one `work_keys` row per key (contact list, externalId) with unfinished changes.
//! A worker claims ready rows with `FOR UPDATE SKIP LOCKED` — workers never wait on each
//! other's claims and never claim the same key — and stamps them with its owner id and a
//! lease expiry; a row whose lease expired (its worker died) is claimed like a free one and
//! counted as a takeover. Finishing locks the key's row and writes only if this worker
//! still owns it, so one writer per (list, externalId) across all workers.
//!
//! Wake-ups: accepting (and replaying) work sends `NOTIFY dialsync_work` in the same
//! transaction, delivered at commit; [`PgJournal::listen`] keeps a connection that LISTENs
//! and wakes a [`tokio::sync::Notify`], so an idle worker starts as soon as work arrives.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, NoTls};

use dialsync_sync::{
    ChangeRecord, ChangeState, ClaimedKey, Compliance, ComplianceAlert, ContactState,
    ContactStatus, DeadLetter, KeyResult, Lane, NewBatch, Outcome, StoredChange, contact_id,
    parse_operation,
};

use crate::{PgError, Pool};

/// The NOTIFY channel of new work.
pub const WORK_CHANNEL: &str = "dialsync_work";

/// The keys owned by `$1`, locked in the one global key order every writer uses
/// ((list, externalId) by bytes: `COLLATE "C"` is the order of Rust's `String`), so a
/// renewal or release that touches many keys never deadlocks with an accept or a finish
/// (which lock their keys sorted the same way). An unordered `UPDATE ... WHERE owner`
/// locks rows in scan order and did deadlock under load.
const MINE: &str = r#"SELECT list_id, external_id FROM work_keys WHERE owner = $1
    ORDER BY list_id COLLATE "C", external_id COLLATE "C" FOR UPDATE"#;

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

fn rfc3339_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339()
}

fn corrupt(what: &'static str) -> impl Fn(serde_json::Error) -> PgError {
    move |source| PgError::Corrupt { what, source }
}

/// Accepted changes as column arrays, for one bulk `INSERT ... SELECT FROM UNNEST`.
#[derive(Default)]
struct ChangeRows {
    seq: Vec<i64>,
    source: Vec<String>,
    list_id: Vec<String>,
    external_id: Vec<String>,
    op: Vec<&'static str>,
    priority: Vec<i16>,
    updated_at: Vec<i64>,
    payload: Vec<String>,
    run_id: Vec<Option<i64>>,
}

impl ChangeRows {
    fn push(&mut self, batch: &NewBatch, change: &dialsync_sync::Change, seq: i64, priority: i16) {
        self.seq.push(seq);
        self.source.push(batch.source.clone());
        self.list_id.push(batch.list_id.clone());
        self.external_id.push(change.external_id.clone());
        self.op.push(change.operation.as_str());
        self.priority.push(priority);
        self.updated_at.push(micros(change.source_updated_at));
        self.payload
            .push(serde_json::to_string(change).expect("a change always serialises"));
        self.run_id.push(batch.run_id);
    }
}

/// One worker's handle on the shared journal.
#[derive(Clone)]
pub struct PgJournal {
    pool: Pool,
    owner: String,
    lease_ms: i64,
    signal: Option<Arc<Notify>>,
}

impl std::fmt::Debug for PgJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgJournal")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// Recomputes a key's `work_keys` row from its unfinished changes inside `tx`: deletes it
/// when nothing is left, else frees it (no owner) with its priority, first seq and ready
/// time (the parked retry time, or the do-not-call lane's when sooner).
async fn refresh_key(
    tx: &tokio_postgres::Transaction<'_>,
    list_id: &str,
    external_id: &str,
) -> Result<bool, PgError> {
    let row = tx
        .query_one(
            "SELECT MIN(priority)::SMALLINT, MIN(seq),
                    LEAST(MAX(next_attempt_at), MIN(CASE WHEN priority = 0 THEN next_attempt_at END))
             FROM changes WHERE list_id = $1 AND external_id = $2 AND state = 'pending'",
            &[&list_id, &external_id],
        )
        .await?;
    let first: Option<i64> = row.get(1);
    match first {
        None => {
            tx.execute(
                "DELETE FROM work_keys WHERE list_id = $1 AND external_id = $2",
                &[&list_id, &external_id],
            )
            .await?;
            Ok(false)
        }
        Some(first) => {
            let priority: i16 = row.get(0);
            let ready_at: i64 = row.get::<_, Option<i64>>(2).unwrap_or(0);
            tx.execute(
                "INSERT INTO work_keys (list_id, external_id, priority, first_seq, ready_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (list_id, external_id) DO UPDATE SET priority = excluded.priority,
                    first_seq = excluded.first_seq, ready_at = excluded.ready_at,
                    owner = NULL, lease_expires_at = NULL",
                &[&list_id, &external_id, &priority, &first, &ready_at],
            )
            .await?;
            Ok(true)
        }
    }
}

/// `work_keys` rows as column arrays, for one bulk upsert.
#[derive(Default)]
struct KeyRows {
    list_id: Vec<String>,
    external_id: Vec<String>,
    priority: Vec<i16>,
    first_seq: Vec<i64>,
    ready_at: Vec<i64>,
}

/// [`refresh_key`] for many keys at once (already locked by this transaction, in key
/// order): one read of their unfinished changes, one delete of the keys with none left,
/// one upsert of the rest. Returns whether any key still has work.
async fn refresh_keys(
    tx: &tokio_postgres::Transaction<'_>,
    keys: &[(&str, &str)],
) -> Result<bool, PgError> {
    if keys.is_empty() {
        return Ok(false);
    }
    let (lists_of, ids_of): (Vec<&str>, Vec<&str>) = keys.iter().copied().unzip();
    let rows = tx
        .query(
            "SELECT k.l, k.e, MIN(c.priority)::SMALLINT, MIN(c.seq),
                    LEAST(MAX(c.next_attempt_at),
                          MIN(CASE WHEN c.priority = 0 THEN c.next_attempt_at END))
             FROM UNNEST($1::TEXT[], $2::TEXT[]) WITH ORDINALITY AS k(l, e, n)
             LEFT JOIN changes c
               ON c.list_id = k.l AND c.external_id = k.e AND c.state = 'pending'
             GROUP BY k.l, k.e, k.n
             ORDER BY k.n",
            &[&lists_of, &ids_of],
        )
        .await?;
    let mut gone: (Vec<String>, Vec<String>) = Default::default();
    let mut left = KeyRows::default();
    for row in &rows {
        match row.get::<_, Option<i64>>(3) {
            None => {
                gone.0.push(row.get(0));
                gone.1.push(row.get(1));
            }
            Some(first) => {
                left.list_id.push(row.get(0));
                left.external_id.push(row.get(1));
                left.priority.push(row.get(2));
                left.first_seq.push(first);
                left.ready_at
                    .push(row.get::<_, Option<i64>>(4).unwrap_or(0));
            }
        }
    }
    if !gone.0.is_empty() {
        tx.execute(
            "DELETE FROM work_keys w USING UNNEST($1::TEXT[], $2::TEXT[]) AS k(l, e)
             WHERE w.list_id = k.l AND w.external_id = k.e",
            &[&gone.0, &gone.1],
        )
        .await?;
    }
    if !left.list_id.is_empty() {
        tx.execute(
            "INSERT INTO work_keys (list_id, external_id, priority, first_seq, ready_at)
             SELECT l, e, p, s, r
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::SMALLINT[], $4::BIGINT[], $5::BIGINT[])
                  AS u(l, e, p, s, r)
             ON CONFLICT (list_id, external_id) DO UPDATE SET priority = excluded.priority,
                first_seq = excluded.first_seq, ready_at = excluded.ready_at,
                owner = NULL, lease_expires_at = NULL",
            &[
                &left.list_id,
                &left.external_id,
                &left.priority,
                &left.first_seq,
                &left.ready_at,
            ],
        )
        .await?;
    }
    Ok(!left.list_id.is_empty())
}

impl PgJournal {
    /// A handle with a new owner id (host, process id and a random suffix; one per worker) and a claim lease.
    pub fn new(pool: Pool, lease: Duration) -> PgJournal {
        PgJournal {
            pool,
            owner: dialsync_sync::lease_owner_id(),
            lease_ms: lease.as_millis() as i64,
            signal: None,
        }
    }

    /// Starts a LISTEN connection (see [`listen`]) on the current runtime, so idle workers
    /// wake when any worker accepts or frees work. The task ends with the runtime.
    pub fn with_listener(mut self, config: tokio_postgres::Config) -> PgJournal {
        let notify = Arc::new(Notify::new());
        tokio::spawn(listen(config, notify.clone()));
        self.signal = Some(notify);
        self
    }

    /// The wake-up signal of the LISTEN connection, when one was started.
    pub fn signal(&self) -> Option<Arc<Notify>> {
        self.signal.clone()
    }

    /// This worker's lease owner id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The pool (for the dedup ids and cursors that live beside the journal).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Durably records several batches — changes and the webhook delivery ids they carry —
    /// in one transaction (committed on return) and wakes idle workers; returns each
    /// batch's seqs. Delivery ids already recorded keep their first summary.
    pub async fn accept_group(
        &self,
        batches: Vec<NewBatch>,
        now_ms: i64,
    ) -> Result<Vec<Vec<i64>>, PgError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Bulk statements (arrays through UNNEST): a round trip per statement, not per
        // change. Seqs are drawn first, ascending, so each batch's seqs follow its order.
        let total: i64 = batches.iter().map(|b| b.changes.len() as i64).sum();
        let mut seqs: Vec<i64> = tx
            .query(
                "SELECT nextval(pg_get_serial_sequence('changes', 'seq'))
                 FROM generate_series(1, $1::BIGINT)",
                &[&total],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        seqs.sort_unstable();
        let mut rows = ChangeRows::default();
        let mut keys: std::collections::BTreeMap<(String, String), (i16, i64)> =
            std::collections::BTreeMap::new();
        let mut out = Vec::with_capacity(batches.len());
        let mut lists = Vec::new();
        let mut delivered: (Vec<String>, Vec<String>, Vec<String>) = Default::default();
        let mut next = seqs.into_iter();
        for batch in batches {
            let mut batch_seqs = Vec::with_capacity(batch.changes.len());
            for change in &batch.changes {
                let seq = next.next().expect("one seq per change");
                let priority = Lane::of(change).priority() as i16;
                rows.push(&batch, change, seq, priority);
                let key = keys
                    .entry((batch.list_id.clone(), change.external_id.clone()))
                    .or_insert((priority, seq));
                key.0 = key.0.min(priority);
                key.1 = key.1.min(seq);
                batch_seqs.push(seq);
            }
            if !batch.deliveries.is_empty() {
                let summary = match batch.summary {
                    Some(f) => f(&batch_seqs),
                    None => "{}".to_string(),
                };
                for id in &batch.deliveries {
                    delivered.0.push(batch.source.clone());
                    delivered.1.push(id.clone());
                    delivered.2.push(summary.clone());
                }
            }
            if !batch_seqs.is_empty() && !lists.contains(&batch.list_id) {
                lists.push(batch.list_id.clone());
            }
            out.push(batch_seqs);
        }
        if total > 0 {
            tx.execute(
                "INSERT INTO changes (seq, source, list_id, external_id, op, priority,
                    source_updated_at, payload, state, accepted_at, run_id)
                 SELECT s, src, l, e, op, p, t, pl, 'pending', $9, r
                 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[],
                             $6::SMALLINT[], $7::BIGINT[], $8::TEXT[], $10::BIGINT[])
                      AS u(s, src, l, e, op, p, t, pl, r)",
                &[
                    &rows.seq,
                    &rows.source,
                    &rows.list_id,
                    &rows.external_id,
                    &rows.op,
                    &rows.priority,
                    &rows.updated_at,
                    &rows.payload,
                    &now_ms,
                    &rows.run_id,
                ],
            )
            .await?;
        }
        if !delivered.0.is_empty() {
            // A delivery id already recorded keeps its first summary.
            tx.execute(
                "INSERT INTO server_webhook_deliveries (source, delivery_id, received_at, summary)
                 SELECT src, id, $3, sm FROM UNNEST($1::TEXT[], $2::TEXT[], $4::TEXT[])
                      AS u(src, id, sm)
                 ON CONFLICT DO NOTHING",
                &[&delivered.0, &delivered.1, &now_ms, &delivered.2],
            )
            .await?;
        }
        if !keys.is_empty() {
            // Key rows are locked in one global order (list, externalId by bytes: the
            // BTreeMap's order, rows inserted in array order) by every writer, so
            // concurrent accepts and finishes never deadlock.
            let mut k = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for ((list_id, external_id), (priority, seq)) in keys {
                k.0.push(list_id);
                k.1.push(external_id);
                k.2.push(priority);
                k.3.push(seq);
            }
            tx.execute(
                "INSERT INTO work_keys (list_id, external_id, priority, first_seq, ready_at)
                 SELECT l, e, p, s, 0
                 FROM UNNEST($1::TEXT[], $2::TEXT[], $3::SMALLINT[], $4::BIGINT[]) AS u(l, e, p, s)
                 ON CONFLICT (list_id, external_id) DO UPDATE SET
                    priority = LEAST(work_keys.priority, excluded.priority),
                    first_seq = LEAST(work_keys.first_seq, excluded.first_seq),
                    ready_at = CASE WHEN excluded.priority = 0 THEN 0 ELSE work_keys.ready_at END",
                &[&k.0, &k.1, &k.2, &k.3],
            )
            .await?;
        }
        for list_id in &lists {
            tx.execute("SELECT pg_notify($1, $2)", &[&WORK_CHANNEL, list_id])
                .await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The stored summary of a delivery id of `source`, if it was delivered.
    pub async fn delivery(&self, source: &str, id: &str) -> Result<Option<String>, PgError> {
        Ok(self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT summary FROM server_webhook_deliveries
                 WHERE source = $1 AND delivery_id = $2",
                &[&source, &id],
            )
            .await?
            .map(|r| r.get(0)))
    }

    /// Which of `ids` of `source` were already delivered.
    pub async fn known_deliveries(
        &self,
        source: &str,
        ids: &[String],
    ) -> Result<Vec<String>, PgError> {
        Ok(self
            .pool
            .get()
            .await?
            .query(
                "SELECT delivery_id FROM server_webhook_deliveries
                 WHERE source = $1 AND delivery_id = ANY($2)",
                &[&source, &ids],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    /// Claims up to `max_keys` ready keys of the given lists (do-not-call first, then
    /// oldest) with all their pending changes and state, under this worker's lease. Keys
    /// under another worker's live lease are skipped (`SKIP LOCKED` for rows being claimed
    /// right now); keys under an expired lease are taken over.
    pub async fn claim_ready(
        &self,
        now_ms: i64,
        max_keys: usize,
        lists: &[String],
    ) -> Result<Vec<ClaimedKey>, PgError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let expires = now_ms + self.lease_ms;
        let claimed = tx
            .query(
                "WITH picked AS (
                    SELECT list_id, external_id, owner AS previous FROM work_keys
                    WHERE list_id = ANY($3) AND ready_at <= $1
                      AND (owner IS NULL OR lease_expires_at <= $1)
                    ORDER BY priority, first_seq
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED)
                 UPDATE work_keys w SET owner = $4, lease_expires_at = $5
                 FROM picked WHERE w.list_id = picked.list_id AND w.external_id = picked.external_id
                 RETURNING w.list_id, w.external_id, picked.previous",
                &[&now_ms, &(max_keys as i64), &lists, &self.owner, &expires],
            )
            .await?;
        let takeovers = claimed
            .iter()
            .filter(|r| r.get::<_, Option<String>>(2).is_some())
            .count() as i64;
        if takeovers > 0 {
            tx.execute(
                "INSERT INTO lease_takeovers (worker, count) VALUES ($1, $2)
                 ON CONFLICT (worker) DO UPDATE SET count = lease_takeovers.count + excluded.count",
                &[&self.owner, &takeovers],
            )
            .await?;
            metrics::counter!("dialsync_lease_takeovers_total").increment(takeovers as u64);
        }
        // Every claimed key's pending changes and state in two bulk reads.
        let (lists_of, ids_of): (Vec<String>, Vec<String>) =
            claimed.iter().map(|r| (r.get(0), r.get(1))).unzip();
        let mut pending: std::collections::HashMap<(String, String), Vec<StoredChange>> =
            std::collections::HashMap::new();
        if !claimed.is_empty() {
            for c in tx
                .query(
                    "SELECT c.list_id, c.external_id, c.seq, c.source, c.payload, c.attempts
                     FROM changes c
                     JOIN UNNEST($1::TEXT[], $2::TEXT[]) AS k(l, e)
                       ON c.list_id = k.l AND c.external_id = k.e
                     WHERE c.state = 'pending'
                     ORDER BY c.source_updated_at, c.seq",
                    &[&lists_of, &ids_of],
                )
                .await?
            {
                let payload: String = c.get(4);
                pending
                    .entry((c.get(0), c.get(1)))
                    .or_default()
                    .push(StoredChange {
                        seq: c.get(2),
                        source: c.get(3),
                        change: serde_json::from_str(&payload)
                            .map_err(corrupt("changes.payload"))?,
                        attempts: c.get::<_, i32>(5) as u32,
                    });
            }
        }
        let mut states: std::collections::HashMap<(String, String), ContactState> =
            std::collections::HashMap::new();
        if !claimed.is_empty() {
            for s in tx
                .query(
                    "SELECT c.list_id, c.external_id, applied_updated_at, content_hash, row,
                        seen_updated_at, removed, do_not_call, do_not_call_at,
                        consent_statement, consent_restored_at
                     FROM contacts c
                     JOIN UNNEST($1::TEXT[], $2::TEXT[]) AS k(l, e)
                       ON c.list_id = k.l AND c.external_id = k.e",
                    &[&lists_of, &ids_of],
                )
                .await?
            {
                let state = ContactState {
                    updated_at: s.get::<_, Option<i64>>(2).map(from_micros),
                    content_hash: s.get(3),
                    row: s
                        .get::<_, Option<String>>(4)
                        .map(|r| serde_json::from_str(&r))
                        .transpose()
                        .map_err(corrupt("contacts.row"))?,
                    seen_at: s.get::<_, Option<i64>>(5).map(from_micros),
                    removed: s.get(6),
                    compliance: Compliance {
                        do_not_call: s.get(7),
                        do_not_call_at: s.get::<_, Option<i64>>(8).map(from_micros),
                        statement: s.get(9),
                        restored_at: s.get::<_, Option<i64>>(10).map(from_micros),
                    },
                };
                states.insert((s.get(0), s.get(1)), state);
            }
        }
        let mut keys = Vec::with_capacity(claimed.len());
        for (list_id, external_id) in lists_of.into_iter().zip(ids_of) {
            let key = (list_id, external_id);
            let changes = pending.remove(&key).unwrap_or_default();
            let state = states.remove(&key).unwrap_or_default();
            keys.push(ClaimedKey {
                list_id: key.0,
                external_id: key.1,
                changes,
                state,
            });
        }
        tx.commit().await?;
        Ok(keys)
    }

    /// Extends every lease this worker holds.
    pub async fn renew(&self, now_ms: i64) -> Result<(), PgError> {
        self.pool
            .get()
            .await?
            .execute(
                &format!(
                    "UPDATE work_keys w SET lease_expires_at = $2 FROM ({MINE}) mine
                     WHERE w.list_id = mine.list_id AND w.external_id = mine.external_id"
                ),
                &[&self.owner, &(now_ms + self.lease_ms)],
            )
            .await?;
        Ok(())
    }

    /// Returns every claim this worker holds (a failed round, or draining on SIGTERM) and
    /// wakes the other workers; returns how many keys were released.
    pub async fn release(&self) -> Result<u64, PgError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                &format!(
                    "UPDATE work_keys w SET owner = NULL, lease_expires_at = NULL FROM ({MINE}) mine
                     WHERE w.list_id = mine.list_id AND w.external_id = mine.external_id"
                ),
                &[&self.owner],
            )
            .await?;
        if n > 0 {
            tx.execute("SELECT pg_notify($1, '')", &[&WORK_CHANNEL])
                .await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Writes back the results of claimed keys in one transaction; a key this worker no
    /// longer owns (its lease was taken over) is left to its new owner. Returns how many
    /// keys were written.
    pub async fn finish(
        &self,
        results: &[(String, String, KeyResult)],
        now_ms: i64,
    ) -> Result<usize, PgError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let mut written = 0;
        let mut more_work = false;
        // The same lock order as `accept_group` (list, externalId by bytes), all the keys
        // this worker still owns locked by one statement.
        let mut ordered: Vec<&(String, String, KeyResult)> = results.iter().collect();
        ordered.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        let (lists_of, ids_of): (Vec<&str>, Vec<&str>) = ordered
            .iter()
            .map(|(l, e, _)| (l.as_str(), e.as_str()))
            .unzip();
        let owned: std::collections::HashSet<(String, String)> = tx
            .query(
                "SELECT w.list_id, w.external_id
                 FROM UNNEST($1::TEXT[], $2::TEXT[]) WITH ORDINALITY AS k(l, e, n)
                 JOIN work_keys w ON w.list_id = k.l AND w.external_id = k.e AND w.owner = $3
                 ORDER BY k.n
                 FOR UPDATE OF w",
                &[&lists_of, &ids_of, &self.owner],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        // Every finished change's outcome, written by one statement after the loop.
        let mut done: (Vec<i64>, Vec<&str>, Vec<Option<&str>>) = Default::default();
        let mut touched: Vec<(&str, &str)> = Vec::new();
        for (list_id, external_id, result) in ordered {
            if !owned.contains(&(list_id.clone(), external_id.clone())) {
                continue;
            }
            written += 1;
            touched.push((list_id, external_id));
            match result {
                KeyResult::Finished {
                    outcomes,
                    applied,
                    seen,
                } => {
                    for (seq, outcome, error) in outcomes {
                        done.0.push(*seq);
                        done.1.push(outcome.as_str());
                        done.2.push(error.as_deref());
                    }
                    let last = outcomes.iter().max_by_key(|(seq, ..)| *seq);
                    if let Some(seen) = seen {
                        let c = &seen.compliance;
                        tx.execute(
                            "INSERT INTO contacts (list_id, external_id, source, contact_id,
                                seen_updated_at, removed, do_not_call, do_not_call_at,
                                consent_statement, consent_restored_at, updated_at)
                             VALUES ($1, $2, $3, $4, $5, COALESCE($6, FALSE), $7, $8, $9, $10, $11)
                             ON CONFLICT (list_id, external_id) DO UPDATE SET
                                source = excluded.source,
                                seen_updated_at = GREATEST(contacts.seen_updated_at,
                                                           excluded.seen_updated_at),
                                removed = COALESCE($6, contacts.removed),
                                do_not_call = excluded.do_not_call,
                                do_not_call_at = excluded.do_not_call_at,
                                consent_statement = excluded.consent_statement,
                                consent_restored_at = excluded.consent_restored_at,
                                updated_at = excluded.updated_at",
                            &[
                                list_id,
                                external_id,
                                &seen.source,
                                &contact_id(list_id, external_id),
                                &micros(seen.seen_at),
                                &seen.removed,
                                &c.do_not_call,
                                &c.do_not_call_at.map(micros),
                                &c.statement,
                                &c.restored_at.map(micros),
                                &now_ms,
                            ],
                        )
                        .await?;
                    }
                    if let Some(state) = applied {
                        let row = state
                            .row
                            .as_ref()
                            .map(|r| serde_json::to_string(r).expect("rows serialise"));
                        tx.execute(
                            "INSERT INTO contacts (list_id, external_id, source, contact_id,
                                applied_updated_at, content_hash, row, removed, last_outcome,
                                last_seq, updated_at)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                             ON CONFLICT (list_id, external_id) DO UPDATE SET
                                source = excluded.source, contact_id = excluded.contact_id,
                                applied_updated_at = GREATEST(contacts.applied_updated_at,
                                                              excluded.applied_updated_at),
                                content_hash = excluded.content_hash, row = excluded.row,
                                removed = excluded.removed, last_outcome = excluded.last_outcome,
                                last_seq = excluded.last_seq, updated_at = excluded.updated_at",
                            &[
                                list_id,
                                external_id,
                                &state.source,
                                &state.contact_id,
                                &micros(state.updated_at),
                                &state.content_hash,
                                &row,
                                &state.removed,
                                &Outcome::Applied.as_str(),
                                &state.seq,
                                &now_ms,
                            ],
                        )
                        .await?;
                    } else if let Some((seq, outcome, _)) = last {
                        tx.execute(
                            "UPDATE contacts SET last_outcome = $3, last_seq = $4, updated_at = $5
                             WHERE list_id = $1 AND external_id = $2",
                            &[list_id, external_id, &outcome.as_str(), seq, &now_ms],
                        )
                        .await?;
                    }
                }
                KeyResult::Park {
                    seqs,
                    next_attempt_at,
                    error,
                } => {
                    tx.execute(
                        "UPDATE changes SET attempts = attempts + 1, next_attempt_at = $2,
                            error = $3
                         WHERE seq = ANY($1) AND state = 'pending'",
                        &[seqs, next_attempt_at, error],
                    )
                    .await?;
                }
                KeyResult::DeadLetter {
                    seqs,
                    source,
                    error,
                    attempts,
                } => {
                    let attempts = *attempts as i32;
                    let id: i64 = tx
                        .query_one(
                            "INSERT INTO dead_letters (source, list_id, external_id, error,
                                attempts, created_at)
                             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                            &[source, list_id, external_id, error, &attempts, &now_ms],
                        )
                        .await?
                        .get(0);
                    tx.execute(
                        "UPDATE changes SET state = 'done', outcome = $2, error = $3,
                            attempts = $4, finished_at = $5, dead_letter_id = $6
                         WHERE seq = ANY($1) AND state = 'pending'",
                        &[
                            seqs,
                            &Outcome::DeadLettered.as_str(),
                            error,
                            &attempts,
                            &now_ms,
                            &id,
                        ],
                    )
                    .await?;
                    tx.execute(
                        "UPDATE contacts SET last_outcome = $3, updated_at = $4
                         WHERE list_id = $1 AND external_id = $2",
                        &[
                            list_id,
                            external_id,
                            &Outcome::DeadLettered.as_str(),
                            &now_ms,
                        ],
                    )
                    .await?;
                }
            }
        }
        if !done.0.is_empty() {
            tx.execute(
                "UPDATE changes c SET state = 'done', outcome = u.o, error = u.e,
                    finished_at = $4
                 FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[]) AS u(s, o, e)
                 WHERE c.seq = u.s AND c.state = 'pending'",
                &[&done.0, &done.1, &done.2, &now_ms],
            )
            .await?;
        }
        // The keys are free again (or gone); changes accepted meanwhile keep them listed.
        // (A key can have two results, one per lane: refreshed once.)
        touched.dedup();
        more_work |= refresh_keys(&tx, &touched).await?;
        if more_work {
            tx.execute("SELECT pg_notify($1, '')", &[&WORK_CHANNEL])
                .await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Number of changes not yet finished.
    pub async fn unfinished(&self) -> Result<u64, PgError> {
        let n: i64 = self
            .pool
            .get()
            .await?
            .query_one("SELECT COUNT(*) FROM changes WHERE state = 'pending'", &[])
            .await?
            .get(0);
        Ok(n as u64)
    }

    /// Unfinished changes of `lists` that still need work (do-not-call alerts excluded).
    pub async fn unfinished_in(
        &self,
        lists: &[String],
        alert_attempts: u32,
    ) -> Result<u64, PgError> {
        let n: i64 = self
            .pool
            .get()
            .await?
            .query_one(
                "SELECT COUNT(*) FROM changes WHERE state = 'pending' AND list_id = ANY($1)
                    AND NOT (priority = 0 AND attempts >= $2)",
                &[&lists, &(alert_attempts as i32)],
            )
            .await?
            .get(0);
        Ok(n as u64)
    }

    /// Do-not-call changes not yet applied after `min_attempts` attempts or more.
    pub async fn compliance_alerts(
        &self,
        min_attempts: u32,
    ) -> Result<Vec<ComplianceAlert>, PgError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT seq, source, list_id, external_id, attempts, error FROM changes
                 WHERE state = 'pending' AND priority = 0 AND attempts >= $1 ORDER BY seq",
                &[&(min_attempts as i32)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ComplianceAlert {
                seq: r.get(0),
                source: r.get(1),
                list_id: r.get(2),
                external_id: r.get(3),
                attempts: r.get::<_, i32>(4) as u32,
                error: r.get(5),
            })
            .collect())
    }

    /// Earliest time a key of `lists` becomes ready: a parked key's retry time, or another
    /// worker's lease expiry (this worker's own claims are left out).
    pub async fn next_ready_at(&self, lists: &[String]) -> Result<Option<i64>, PgError> {
        Ok(self
            .pool
            .get()
            .await?
            .query_one(
                "SELECT MIN(CASE WHEN owner = $2 THEN NULL
                                 WHEN owner IS NOT NULL THEN lease_expires_at
                                 ELSE ready_at END)
                 FROM work_keys WHERE list_id = ANY($1)",
                &[&lists, &self.owner],
            )
            .await?
            .get(0))
    }

    /// Everything known about an externalId (in every list, or only `source`'s).
    pub async fn status(
        &self,
        external_id: &str,
        source: Option<&str>,
    ) -> Result<Vec<ContactStatus>, PgError> {
        let client = self.pool.get().await?;
        let lists: Vec<String> = client
            .query(
                "SELECT list_id FROM changes WHERE external_id = $1 AND ($2::TEXT IS NULL OR source = $2)
                 UNION
                 SELECT list_id FROM contacts WHERE external_id = $1 AND ($2::TEXT IS NULL OR source = $2)
                 ORDER BY list_id",
                &[&external_id, &source],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut out = Vec::new();
        for list_id in lists {
            let contact = client
                .query_opt(
                    "SELECT row, removed, applied_updated_at, last_outcome, seen_updated_at,
                        do_not_call
                     FROM contacts WHERE list_id = $1 AND external_id = $2",
                    &[&list_id, &external_id],
                )
                .await?;
            let (row, removed, applied_at, last_outcome, seen_at, do_not_call) = match contact {
                Some(r) => (
                    r.get::<_, Option<String>>(0),
                    r.get::<_, bool>(1),
                    r.get::<_, Option<i64>>(2),
                    r.get::<_, Option<String>>(3)
                        .as_deref()
                        .and_then(Outcome::parse),
                    r.get::<_, Option<i64>>(4),
                    r.get::<_, bool>(5),
                ),
                None => (None, false, None, None, None, false),
            };
            let row = row
                .map(|r| serde_json::from_str(&r))
                .transpose()
                .map_err(corrupt("contacts.row"))?;
            let changes = client
                .query(
                    "SELECT c.seq, c.source, c.op, c.source_updated_at,
                        CASE WHEN c.state = 'pending' AND w.owner IS NOT NULL THEN 'claimed'
                             ELSE c.state END,
                        c.outcome, c.error, c.attempts
                     FROM changes c LEFT JOIN work_keys w
                        ON w.list_id = c.list_id AND w.external_id = c.external_id
                     WHERE c.list_id = $1 AND c.external_id = $2 ORDER BY c.seq",
                    &[&list_id, &external_id],
                )
                .await?
                .iter()
                .map(|r| {
                    let error: Option<String> = r.get(6);
                    Ok(ChangeRecord {
                        seq: r.get(0),
                        source: r.get(1),
                        op: parse_operation(r.get(2)).ok_or_else(|| PgError::Unknown {
                            what: "changes.op",
                            value: r.get(2),
                        })?,
                        source_updated_at: from_micros(r.get(3)).to_rfc3339(),
                        state: ChangeState::parse(r.get(4)).ok_or_else(|| PgError::Unknown {
                            what: "changes.state",
                            value: r.get(4),
                        })?,
                        outcome: r.get::<_, Option<&str>>(5).and_then(Outcome::parse),
                        error: error.map(|e| {
                            serde_json::from_str(&e).unwrap_or(serde_json::Value::String(e))
                        }),
                        attempts: r.get::<_, i32>(7) as u32,
                    })
                })
                .collect::<Result<Vec<_>, PgError>>()?;
            out.push(ContactStatus {
                contact_id: contact_id(&list_id, external_id),
                list_id,
                external_id: external_id.to_string(),
                row,
                removed,
                applied_updated_at: applied_at.map(|v| from_micros(v).to_rfc3339()),
                seen_updated_at: seen_at.map(|v| from_micros(v).to_rfc3339()),
                do_not_call,
                last_outcome,
                changes,
            });
        }
        Ok(out)
    }

    /// Dead letters not yet replayed, oldest first.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, PgError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT d.id, d.source, d.list_id, d.external_id, d.error, d.attempts, d.created_at,
                    COALESCE((SELECT array_agg(seq ORDER BY seq) FROM changes c
                              WHERE c.dead_letter_id = d.id), '{}')
                 FROM dead_letters d WHERE d.replayed_at IS NULL ORDER BY d.id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DeadLetter {
                id: r.get(0),
                source: r.get(1),
                list_id: r.get(2),
                external_id: r.get(3),
                error: r.get(4),
                attempts: r.get::<_, i32>(5) as u32,
                created_at: rfc3339_ms(r.get(6)),
                seqs: r.get(7),
            })
            .collect())
    }

    /// Puts dead letters' changes back to pending (attempts reset); `None` replays all.
    /// Returns (replayed ids, unknown or already replayed ids).
    pub async fn replay(
        &self,
        ids: Option<&[i64]>,
        now_ms: i64,
    ) -> Result<(Vec<i64>, Vec<i64>), PgError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // In key order (see `MINE`): the keys' work rows are locked below.
        let open: Vec<i64> = tx
            .query(
                r#"SELECT id FROM dead_letters WHERE replayed_at IS NULL
                   ORDER BY list_id COLLATE "C", external_id COLLATE "C", id FOR UPDATE"#,
                &[],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // Worked in that order; answered by id.
        let (work, missing): (Vec<i64>, Vec<i64>) = match ids {
            None => (open, vec![]),
            Some(ids) => (
                open.iter().copied().filter(|id| ids.contains(id)).collect(),
                ids.iter()
                    .copied()
                    .filter(|id| !open.contains(id))
                    .collect(),
            ),
        };
        for id in &work {
            let key = tx
                .query_one(
                    "UPDATE dead_letters SET replayed_at = $2 WHERE id = $1
                     RETURNING list_id, external_id",
                    &[id, &now_ms],
                )
                .await?;
            tx.execute(
                "UPDATE changes SET state = 'pending', outcome = NULL, attempts = 0,
                    next_attempt_at = 0, finished_at = NULL, dead_letter_id = NULL
                 WHERE dead_letter_id = $1",
                &[id],
            )
            .await?;
            let (list_id, external_id): (String, String) = (key.get(0), key.get(1));
            // Keep a live claim on the key (its worker finishes the rest); else list it.
            let claimed = tx
                .query_opt(
                    "SELECT 1 FROM work_keys WHERE list_id = $1 AND external_id = $2
                        AND owner IS NOT NULL FOR UPDATE",
                    &[&list_id, &external_id],
                )
                .await?
                .is_some();
            if claimed {
                tx.execute(
                    "UPDATE work_keys SET ready_at = 0 WHERE list_id = $1 AND external_id = $2",
                    &[&list_id, &external_id],
                )
                .await?;
            } else {
                refresh_key(&tx, &list_id, &external_id).await?;
            }
        }
        if !work.is_empty() {
            tx.execute("SELECT pg_notify($1, '')", &[&WORK_CHANNEL])
                .await?;
        }
        tx.commit().await?;
        let mut replayed = work;
        replayed.sort_unstable();
        Ok((replayed, missing))
    }

    /// Retention: deletes changes finished before `before_ms` (except those of open dead
    /// letters) and webhook delivery ids received before then; the per-contact state stays.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, PgError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let deleted = tx
            .execute(
                "DELETE FROM changes WHERE state = 'done' AND finished_at < $1
                    AND (dead_letter_id IS NULL OR dead_letter_id IN
                         (SELECT id FROM dead_letters WHERE replayed_at IS NOT NULL))",
                &[&before_ms],
            )
            .await?;
        tx.execute(
            "DELETE FROM dead_letters WHERE replayed_at IS NOT NULL AND replayed_at < $1",
            &[&before_ms],
        )
        .await?;
        tx.execute(
            "DELETE FROM server_webhook_deliveries WHERE received_at < $1",
            &[&before_ms],
        )
        .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Starts an import run and returns its id.
    pub async fn start_run(&self, source: &str, input: &str, now_ms: i64) -> Result<i64, PgError> {
        Ok(self
            .pool
            .get()
            .await?
            .query_one(
                "INSERT INTO import_runs (source, input, started_at) VALUES ($1, $2, $3)
                 RETURNING id",
                &[&source, &input, &now_ms],
            )
            .await?
            .get(0))
    }

    /// Stores a run's final report.
    pub async fn finish_run(&self, id: i64, report: &str, now_ms: i64) -> Result<(), PgError> {
        self.pool
            .get()
            .await?
            .execute(
                "UPDATE import_runs SET finished_at = $2, report = $3 WHERE id = $1",
                &[&id, &now_ms, &report],
            )
            .await?;
        Ok(())
    }

    /// Counts of finished outcomes for a run (or for the whole journal).
    pub async fn outcome_counts(
        &self,
        run_id: Option<i64>,
    ) -> Result<Vec<(Outcome, u64)>, PgError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT outcome, COUNT(*) FROM changes
                 WHERE state = 'done' AND ($1::BIGINT IS NULL OR run_id = $1) GROUP BY outcome",
                &[&run_id],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let o: String = r.get(0);
                Outcome::parse(&o).map(|o| (o, r.get::<_, i64>(1) as u64))
            })
            .collect())
    }

    /// Finished changes of a run with the given outcome: (seq, externalId, error JSON).
    pub async fn run_failures(
        &self,
        run_id: i64,
        outcome: Outcome,
    ) -> Result<Vec<(i64, String, Option<String>)>, PgError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT seq, external_id, error FROM changes
                 WHERE run_id = $1 AND outcome = $2 ORDER BY seq",
                &[&run_id, &outcome.as_str()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Unfinished changes per contact list, and how many keys each worker holds (for
    /// `/metrics`: queue depth per org is the sum over its sources' lists).
    pub async fn queue_depths(&self) -> Result<Vec<(String, i64)>, PgError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT list_id, COUNT(*) FROM changes WHERE state = 'pending' GROUP BY list_id",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Keys claimed per worker (owner id) right now.
    pub async fn claims_by_worker(&self) -> Result<Vec<(String, i64)>, PgError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT owner, COUNT(*) FROM work_keys WHERE owner IS NOT NULL GROUP BY owner",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Lease takeovers per worker that took over, since the store was created.
    pub async fn takeovers(&self) -> Result<Vec<(String, i64)>, PgError> {
        let rows = self
            .pool
            .get()
            .await?
            .query(
                "SELECT worker, count FROM lease_takeovers ORDER BY worker",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

/// Keeps a connection LISTENing on [`WORK_CHANNEL`] and wakes `notify` on every
/// notification (and after every reconnect, in case one was missed). Runs until the task
/// is dropped; reconnects with a capped backoff when the connection is lost.
pub async fn listen(config: tokio_postgres::Config, notify: Arc<Notify>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                let driver = tokio::spawn(async move {
                    let mut messages =
                        futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(message) = futures::StreamExt::next(&mut messages).await {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => {
                                if tx.send(()).is_err() {
                                    break;
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "work listener connection failed");
                                break;
                            }
                        }
                    }
                });
                if let Err(e) = client
                    .batch_execute(&format!("LISTEN {WORK_CHANNEL}"))
                    .await
                {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    backoff = Duration::from_millis(100);
                    notify.notify_one();
                    while rx.recv().await.is_some() {
                        notify.notify_one();
                    }
                }
                driver.abort();
            }
            Err(e) => tracing::warn!(error = %e, "work listener cannot connect"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

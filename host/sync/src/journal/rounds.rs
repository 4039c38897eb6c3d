//! A worker round's journal statements — claim, renew, release, finish — set-based: a
//! claim is one `UPDATE … RETURNING` over every ready key plus one read of their contact
//! states, and a finish is one statement per kind of write (outcomes, parks, contact
//! upserts, leftovers) whatever the number of keys. One statement per change (a load, an
//! UPDATE and a state read per key; an ownership check, an UPDATE per change and two
//! upserts per key) was the worker's biggest share of CPU in the `webhooks` bench, and it
//! held the journal's one write lock — and so every webhook's accept — for the whole loop.
//!
//! A round's keys and rows reach SQLite as one JSON array bound as a parameter and read
//! with `json_each` (SQLite's JSON functions are built in; `rusqlite`'s `array` module
//! binds only one column, and a temp table would cost a create and a drop per round).
//!
//! Durability: claims, renewals and releases are leases, not data — losing one in a power
//! cut leaves the change pending (or claimed until its lease expires), and whoever claims
//! it next sends it again, which is safe (writes are idempotent by contact id). So those
//! transactions commit without their own fsync (`synchronous=NORMAL` for that commit;
//! WAL frames are appended in order and every later flush of the log makes them durable).
//! A finish records what was already written to Genesys; losing it in a power cut means
//! its changes are sent again, which is just as safe. So the store's workers finish
//! without an fsync of their own too, and the store's WAL flushing thread
//! ([`crate::wal_sync`]) flushes right after, nobody waiting for it — a finish no longer
//! holds the write lock, and every webhook accept behind it, for a disk flush.
//! [`Journal::finish`] itself (used directly, without the store) stays `FULL`.

use std::collections::{HashMap, HashSet};

use rusqlite::{Transaction, TransactionBehavior, params};

use super::{
    ClaimedKey, Journal, JournalError, KeyResult, NewState, Seen, StoredChange, exec_cached,
    from_micros, micros, unsynced_transaction,
};
use crate::change::{Compliance, Outcome};

/// Claims every pending or expired-claimed change of up to `?2` ready keys of the lists in
/// `?3` for owner `?4` until `?5`, returning the claimed rows. The key choice is the
/// same as a `SELECT … GROUP BY … LIMIT` followed by one UPDATE per key, in one statement.
const CLAIM: &str = "
WITH ready AS (
    SELECT list_id, external_id FROM changes
    WHERE state IN ('pending', 'claimed')
      AND list_id IN (SELECT value FROM json_each(?3))
    GROUP BY list_id, external_id
    HAVING SUM(state = 'claimed' AND COALESCE(claim_expires_at, 0) > ?1) = 0
       AND (MAX(next_attempt_at) <= ?1
            OR MIN(CASE WHEN priority = 0 THEN next_attempt_at END) <= ?1)
    ORDER BY MIN(priority), MIN(seq)
    LIMIT ?2)
UPDATE changes SET state = 'claimed', claim_owner = ?4, claim_expires_at = ?5
WHERE state IN ('pending', 'claimed')
  AND (list_id, external_id) IN (SELECT list_id, external_id FROM ready)
RETURNING seq, list_id, external_id, source, payload, attempts, priority, source_updated_at";

/// The contact states of the keys in `?1` (`[[list, externalId], …]`).
const STATES: &str = "
SELECT c.list_id, c.external_id, c.applied_updated_at, c.content_hash, c.row,
       c.seen_updated_at, c.removed, c.do_not_call, c.do_not_call_at, c.consent_statement,
       c.consent_restored_at
FROM json_each(?1) AS k
JOIN contacts AS c ON c.list_id = k.value ->> 0 AND c.external_id = k.value ->> 1";

/// Finished changes `?1` (`[[seq, outcome, error], …]`) still claimed by `?3`.
const FINISH_CHANGES: &str = "
UPDATE changes SET state = 'done', outcome = k.value ->> 1, error = k.value ->> 2,
    finished_at = ?2, claim_owner = NULL, claim_expires_at = NULL
FROM json_each(?1) AS k
WHERE changes.seq = k.value ->> 0 AND changes.claim_owner = ?3";

/// Parked changes `?1` (`[[seq, next_attempt_at, error], …]`) still claimed by `?2`.
const PARK_CHANGES: &str = "
UPDATE changes SET state = 'pending', attempts = attempts + 1,
    next_attempt_at = k.value ->> 1, error = k.value ->> 2, claim_owner = NULL,
    claim_expires_at = NULL
FROM json_each(?1) AS k
WHERE changes.seq = k.value ->> 0 AND changes.claim_owner = ?2";

/// What finished changes taught (`[[list, externalId, source, contact_id, seen µs,
/// removed, do_not_call, do_not_call_at µs, consent_statement, consent_restored_at µs],
/// …]`), for keys whose deleted state is known: `removed` is overwritten.
const SEEN_REMOVED_KNOWN: &str = "
INSERT INTO contacts (list_id, external_id, source, contact_id, seen_updated_at, removed,
    do_not_call, do_not_call_at, consent_statement, consent_restored_at, updated_at)
SELECT k.value ->> 0, k.value ->> 1, k.value ->> 2, k.value ->> 3, k.value ->> 4,
       k.value ->> 5, k.value ->> 6, k.value ->> 7, k.value ->> 8, k.value ->> 9, ?2
FROM json_each(?1) AS k WHERE true
ON CONFLICT (list_id, external_id) DO UPDATE SET
    source = excluded.source,
    seen_updated_at = MAX(COALESCE(seen_updated_at, excluded.seen_updated_at),
                          excluded.seen_updated_at),
    removed = excluded.removed,
    do_not_call = excluded.do_not_call,
    do_not_call_at = excluded.do_not_call_at,
    consent_statement = excluded.consent_statement,
    consent_restored_at = excluded.consent_restored_at,
    updated_at = excluded.updated_at";

/// As [`SEEN_REMOVED_KNOWN`] for keys whose deleted state is unknown: a new contact is
/// not removed, an existing one keeps its `removed`.
const SEEN_REMOVED_UNKNOWN: &str = "
INSERT INTO contacts (list_id, external_id, source, contact_id, seen_updated_at, removed,
    do_not_call, do_not_call_at, consent_statement, consent_restored_at, updated_at)
SELECT k.value ->> 0, k.value ->> 1, k.value ->> 2, k.value ->> 3, k.value ->> 4,
       0, k.value ->> 6, k.value ->> 7, k.value ->> 8, k.value ->> 9, ?2
FROM json_each(?1) AS k WHERE true
ON CONFLICT (list_id, external_id) DO UPDATE SET
    source = excluded.source,
    seen_updated_at = MAX(COALESCE(seen_updated_at, excluded.seen_updated_at),
                          excluded.seen_updated_at),
    do_not_call = excluded.do_not_call,
    do_not_call_at = excluded.do_not_call_at,
    consent_statement = excluded.consent_statement,
    consent_restored_at = excluded.consent_restored_at,
    updated_at = excluded.updated_at";

/// Applied contact states (`[[list, externalId, source, contact_id, updated µs, hash,
/// row JSON, removed, seq], …]`); `?3` is the `applied` outcome.
const APPLIED: &str = "
INSERT INTO contacts (list_id, external_id, source, contact_id, applied_updated_at,
    content_hash, row, removed, last_outcome, last_seq, updated_at)
SELECT k.value ->> 0, k.value ->> 1, k.value ->> 2, k.value ->> 3, k.value ->> 4,
       k.value ->> 5, k.value ->> 6, k.value ->> 7, ?3, k.value ->> 8, ?2
FROM json_each(?1) AS k WHERE true
ON CONFLICT (list_id, external_id) DO UPDATE SET
    source = excluded.source, contact_id = excluded.contact_id,
    applied_updated_at = MAX(COALESCE(applied_updated_at, excluded.applied_updated_at),
                             excluded.applied_updated_at),
    content_hash = excluded.content_hash, row = excluded.row,
    removed = excluded.removed, last_outcome = excluded.last_outcome,
    last_seq = excluded.last_seq, updated_at = excluded.updated_at";

/// The newest finished change of keys with nothing applied (`[[list, externalId,
/// outcome, seq], …]`).
const LAST_OUTCOME: &str = "
UPDATE contacts SET last_outcome = k.value ->> 2, last_seq = k.value ->> 3, updated_at = ?2
FROM json_each(?1) AS k
WHERE contacts.list_id = k.value ->> 0 AND contacts.external_id = k.value ->> 1";

/// Which of the keys `?2` (`[[list, externalId], …]`) `?1` still claims. `CROSS JOIN`
/// keeps the keys as the outer loop (SQLite never reorders it), so each key is one
/// lookup in `changes_by_key`.
const OWNED: &str = "
SELECT DISTINCT c.list_id, c.external_id
FROM json_each(?2) AS k
CROSS JOIN changes AS c
WHERE c.external_id = k.value ->> 1 AND c.list_id = k.value ->> 0
  AND c.state = 'claimed' AND c.claim_owner = ?1";

/// Whatever of the keys `?2` (`[[list, externalId], …]`) `?1` still claims goes back to
/// pending (a result that named only some of a key's changes).
/// Looked up per key, as [`OWNED`].
const RELEASE_LEFTOVERS: &str = "
UPDATE changes SET state = 'pending', claim_owner = NULL, claim_expires_at = NULL
WHERE seq IN (
    SELECT c.seq FROM json_each(?2) AS k
    CROSS JOIN changes AS c
    WHERE c.external_id = k.value ->> 1 AND c.list_id = k.value ->> 0
      AND c.state = 'claimed' AND c.claim_owner = ?1)";

/// (list, externalId).
type Key = (String, String);

/// A row of [`SEEN_REMOVED_KNOWN`] / [`SEEN_REMOVED_UNKNOWN`].
type SeenRow<'a> = (
    &'a str,
    &'a str,
    &'a str,
    String,
    i64,
    Option<bool>,
    bool,
    Option<i64>,
    Option<bool>,
    Option<i64>,
);

/// A row of [`APPLIED`].
type AppliedRow<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    i64,
    &'a str,
    Option<String>,
    bool,
    i64,
);

/// A claimed change as read, its payload still JSON text.
struct RawRow {
    seq: i64,
    list_id: String,
    external_id: String,
    source: String,
    payload: String,
    attempts: u32,
    priority: i64,
    source_updated_at: i64,
}

/// A claim as committed, JSON not yet parsed (see [`Journal::claim_ready_raw`]).
pub(crate) struct RawClaim {
    rows: Vec<RawRow>,
    states: HashMap<Key, RawState>,
}

impl RawClaim {
    /// The claimed keys (do-not-call first, then oldest) with their parsed changes and
    /// contact states.
    pub(crate) fn parse(self) -> Result<Vec<ClaimedKey>, JournalError> {
        let rows = self
            .rows
            .into_iter()
            .map(|r| {
                let change =
                    serde_json::from_str(&r.payload).map_err(|source| JournalError::Corrupt {
                        what: "changes.payload",
                        source,
                    })?;
                Ok(ClaimedRow {
                    change: StoredChange {
                        seq: r.seq,
                        source: r.source,
                        change,
                        attempts: r.attempts,
                    },
                    list_id: r.list_id,
                    external_id: r.external_id,
                    priority: r.priority,
                    source_updated_at: r.source_updated_at,
                })
            })
            .collect::<Result<Vec<_>, JournalError>>()?;
        let mut states = self.states;
        let mut keys = group_by_key(rows);
        for key in &mut keys {
            if let Some(state) = states.remove(&(key.list_id.clone(), key.external_id.clone())) {
                key.state = state.parse()?;
            }
        }
        Ok(keys)
    }
}

/// A claimed row and the sort keys its key's order and its place in the key come from.
struct ClaimedRow {
    change: StoredChange,
    list_id: String,
    external_id: String,
    priority: i64,
    source_updated_at: i64,
}

impl Journal {
    /// Claims up to `max_keys` ready keys of the given contact lists (do-not-call first,
    /// then oldest), with all their pending changes, under a lease owned by this journal.
    /// A key is ready when none of its changes is under a live lease and either nothing is
    /// waiting for a retry time still in the future or a do-not-call change is due (the
    /// do-not-call lane never waits behind a parked ordinary change). Changes under an
    /// expired lease (their owner crashed) are taken over.
    pub fn claim_ready(
        &mut self,
        now_ms: i64,
        max_keys: usize,
        lists: &[String],
    ) -> Result<Vec<ClaimedKey>, JournalError> {
        self.claim_ready_raw(now_ms, max_keys, lists)?.parse()
    }

    /// The claim of [`Journal::claim_ready`] with its JSON not yet parsed: the store
    /// parses it after giving the write connection back, so webhook accepts do not wait
    /// behind the parsing of a round's payloads and contact rows.
    pub(crate) fn claim_ready_raw(
        &mut self,
        now_ms: i64,
        max_keys: usize,
        lists: &[String],
    ) -> Result<RawClaim, JournalError> {
        let lists_json = serde_json::to_string(lists).expect("strings serialise");
        let expires = now_ms + self.lease_ms;
        let owner = self.owner.clone();
        unsynced_transaction(&mut self.conn, |tx| {
            let rows = {
                let mut stmt = tx.prepare_cached(CLAIM)?;
                stmt.query_map(
                    params![now_ms, max_keys as i64, lists_json, owner, expires],
                    |r| {
                        Ok(RawRow {
                            seq: r.get(0)?,
                            list_id: r.get(1)?,
                            external_id: r.get(2)?,
                            source: r.get(3)?,
                            payload: r.get(4)?,
                            attempts: r.get(5)?,
                            priority: r.get(6)?,
                            source_updated_at: r.get(7)?,
                        })
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?
            };
            let mut distinct = HashSet::new();
            let keys_json = keys_json(
                rows.iter()
                    .map(|r| (&r.list_id, &r.external_id))
                    .filter(|k| distinct.insert(*k)),
            );
            let states = load_states(tx, &keys_json)?;
            Ok(RawClaim { rows, states })
        })
    }

    /// Extends every lease this journal holds (called while a round is in progress).
    pub fn renew(&mut self, now_ms: i64) -> Result<(), JournalError> {
        let (owner, expires) = (self.owner.clone(), now_ms + self.lease_ms);
        unsynced_transaction(&mut self.conn, |tx| {
            exec_cached(
                tx,
                "UPDATE changes SET claim_expires_at = ?2 WHERE state = 'claimed' AND claim_owner = ?1",
                params![owner, expires],
            )?;
            Ok(())
        })
    }

    /// Returns every claim this journal holds to pending (a failed round).
    pub fn release(&mut self) -> Result<(), JournalError> {
        let owner = self.owner.clone();
        unsynced_transaction(&mut self.conn, |tx| {
            exec_cached(
                tx,
                "UPDATE changes SET state = 'pending', claim_owner = NULL, claim_expires_at = NULL
                 WHERE state = 'claimed' AND claim_owner = ?1",
                params![owner],
            )?;
            Ok(())
        })
    }

    /// Writes back the results of processing claimed keys, in one durable transaction. Only
    /// changes still claimed by this journal are written (a key whose lease was taken over
    /// is left to its new owner); returns how many results were written.
    ///
    /// A key may have several results (its stale changes finished, its ordinary and its
    /// do-not-call lanes parked): they are written in phases — every key's first result,
    /// then every second one — so each key's results land in the order given, exactly as
    /// if they were written one after another, while each phase is a few statements.
    pub fn finish(
        &mut self,
        results: &[(String, String, KeyResult)],
        now_ms: i64,
    ) -> Result<usize, JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let written = finish_in(&tx, &self.owner, results, now_ms)?;
        tx.commit()?;
        Ok(written)
    }

    /// [`Journal::finish`] committed without an fsync of its own (see the module docs):
    /// what the store's workers use, with the WAL synced right after by
    /// [`crate::wal_sync`] without anyone waiting for it.
    pub(crate) fn finish_unsynced(
        &mut self,
        results: &[(String, String, KeyResult)],
        now_ms: i64,
    ) -> Result<usize, JournalError> {
        let owner = &self.owner;
        unsynced_transaction(&mut self.conn, |tx| finish_in(tx, owner, results, now_ms))
    }
}

/// Writes a finish's phases and releases the leftovers, in `tx`.
fn finish_in(
    tx: &Transaction<'_>,
    owner: &str,
    results: &[(String, String, KeyResult)],
    now_ms: i64,
) -> Result<usize, JournalError> {
    let mut written = 0;
    for phase in phases(results) {
        written += finish_phase(tx, owner, &phase, now_ms)?;
    }
    let all_keys = keys_json(results.iter().map(|(l, e, _)| (l, e)));
    exec_cached(tx, RELEASE_LEFTOVERS, params![owner, all_keys])?;
    Ok(written)
}

/// A key being grouped: (min priority, min seq, the key, each change's (source
/// updated-at, seq)).
type KeyGroup = (i64, i64, ClaimedKey, Vec<(i64, i64)>);

/// Groups claimed rows into keys — do-not-call first, then by the oldest seq — each with
/// its changes in (source updated-at, seq) order.
fn group_by_key(rows: Vec<ClaimedRow>) -> Vec<ClaimedKey> {
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut groups: Vec<KeyGroup> = Vec::new();
    for row in rows {
        let key = (row.list_id, row.external_id);
        let at = *index.entry(key.clone()).or_insert_with(|| {
            groups.push((
                i64::MAX,
                i64::MAX,
                ClaimedKey {
                    list_id: key.0.clone(),
                    external_id: key.1.clone(),
                    changes: Vec::new(),
                    state: Default::default(),
                },
                Vec::new(),
            ));
            groups.len() - 1
        });
        let group = &mut groups[at];
        group.0 = group.0.min(row.priority);
        group.1 = group.1.min(row.change.seq);
        group.3.push((row.source_updated_at, row.change.seq));
        group.2.changes.push(row.change);
    }
    groups.sort_by_key(|g| (g.0, g.1));
    groups
        .into_iter()
        .map(|(_, _, mut key, order)| {
            let mut paired: Vec<_> = order.into_iter().zip(key.changes).collect();
            paired.sort_by_key(|(order, _)| *order);
            key.changes = paired.into_iter().map(|(_, c)| c).collect();
            key
        })
        .collect()
}

/// `[[list, externalId], …]`.
fn keys_json<'a>(keys: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    serde_json::to_string(&keys.collect::<Vec<_>>()).expect("strings serialise")
}

/// A contact state as read, its last full row still JSON text.
struct RawState {
    updated_at: Option<i64>,
    content_hash: Option<String>,
    row: Option<String>,
    seen_at: Option<i64>,
    removed: bool,
    compliance: Compliance,
}

impl RawState {
    fn parse(self) -> Result<super::ContactState, JournalError> {
        Ok(super::ContactState {
            updated_at: self.updated_at.map(from_micros),
            seen_at: self.seen_at.map(from_micros),
            content_hash: self.content_hash,
            row: super::parse_row(self.row)?,
            removed: self.removed,
            compliance: self.compliance,
        })
    }
}

/// The contact states of `keys_json`'s keys (keys without one are left out), unparsed.
fn load_states(
    tx: &Transaction<'_>,
    keys_json: &str,
) -> Result<HashMap<Key, RawState>, JournalError> {
    let mut stmt = tx.prepare_cached(STATES)?;
    let rows = stmt
        .query_map(params![keys_json], |r| {
            Ok((
                (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
                RawState {
                    updated_at: r.get(2)?,
                    content_hash: r.get(3)?,
                    row: r.get(4)?,
                    seen_at: r.get(5)?,
                    removed: r.get(6)?,
                    compliance: Compliance {
                        do_not_call: r.get(7)?,
                        do_not_call_at: r.get::<_, Option<i64>>(8)?.map(from_micros),
                        statement: r.get(9)?,
                        restored_at: r.get::<_, Option<i64>>(10)?.map(from_micros),
                    },
                },
            ))
        })?
        .collect::<Result<HashMap<_, _>, _>>()?;
    Ok(rows)
}

/// Splits results into phases in which each key appears at most once: a key's n-th result
/// goes into phase n.
fn phases(results: &[(String, String, KeyResult)]) -> Vec<Vec<&(String, String, KeyResult)>> {
    let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
    let mut phases: Vec<Vec<&(String, String, KeyResult)>> = Vec::new();
    for result in results {
        let n = seen
            .entry((result.0.as_str(), result.1.as_str()))
            .or_insert(0);
        if phases.len() <= *n {
            phases.push(Vec::new());
        }
        phases[*n].push(result);
        *n += 1;
    }
    phases
}

/// Writes one phase (each key at most once); returns how many results were written.
fn finish_phase(
    tx: &Transaction<'_>,
    owner: &str,
    phase: &[&(String, String, KeyResult)],
    now_ms: i64,
) -> Result<usize, JournalError> {
    // Keys of this phase this journal still holds a claim on (a taken-over key is left
    // alone). Looked up per key of the phase: reading every claim of the owner instead
    // cost each phase a pass over all of the round's claims.
    let owned: HashSet<Key> = {
        let phase_keys = keys_json(phase.iter().map(|r| (&r.0, &r.1)));
        let mut stmt = tx.prepare_cached(OWNED)?;
        stmt.query_map(params![owner, phase_keys], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut written = 0;
    let mut done: Vec<(i64, &str, Option<&str>)> = Vec::new();
    let mut parked: Vec<(i64, i64, &str)> = Vec::new();
    let mut seen_known: Vec<SeenRow<'_>> = Vec::new();
    let mut seen_unknown: Vec<SeenRow<'_>> = Vec::new();
    let mut applied_rows: Vec<AppliedRow<'_>> = Vec::new();
    let mut last_outcomes: Vec<(&str, &str, &str, i64)> = Vec::new();
    for (list_id, external_id, result) in phase.iter().map(|r| (&r.0, &r.1, &r.2)) {
        if !owned.contains(&(list_id.clone(), external_id.clone())) {
            continue;
        }
        written += 1;
        match result {
            KeyResult::Finished {
                outcomes,
                applied,
                seen,
            } => {
                for (seq, outcome, error) in outcomes {
                    done.push((*seq, outcome.as_str(), error.as_deref()));
                }
                if let Some(seen) = seen {
                    let row = seen_row(list_id, external_id, seen);
                    if seen.removed.is_some() {
                        seen_known.push(row);
                    } else {
                        seen_unknown.push(row);
                    }
                }
                if let Some(state) = applied {
                    applied_rows.push(applied_row(list_id, external_id, state));
                } else if let Some((seq, outcome, _)) = outcomes.iter().max_by_key(|(s, ..)| *s) {
                    last_outcomes.push((list_id, external_id, outcome.as_str(), *seq));
                }
            }
            KeyResult::Park {
                seqs,
                next_attempt_at,
                error,
            } => {
                for seq in seqs {
                    parked.push((*seq, *next_attempt_at, error));
                }
            }
            KeyResult::DeadLetter {
                seqs,
                source,
                error,
                attempts,
            } => dead_letter(
                tx,
                owner,
                (list_id, external_id),
                seqs,
                source,
                error,
                *attempts,
                now_ms,
            )?,
        }
    }
    if !done.is_empty() {
        exec_cached(tx, FINISH_CHANGES, params![json(&done), now_ms, owner])?;
    }
    if !parked.is_empty() {
        exec_cached(tx, PARK_CHANGES, params![json(&parked), owner])?;
    }
    if !seen_known.is_empty() {
        exec_cached(tx, SEEN_REMOVED_KNOWN, params![json(&seen_known), now_ms])?;
    }
    if !seen_unknown.is_empty() {
        exec_cached(
            tx,
            SEEN_REMOVED_UNKNOWN,
            params![json(&seen_unknown), now_ms],
        )?;
    }
    if !applied_rows.is_empty() {
        exec_cached(
            tx,
            APPLIED,
            params![json(&applied_rows), now_ms, Outcome::Applied],
        )?;
    }
    if !last_outcomes.is_empty() {
        exec_cached(tx, LAST_OUTCOME, params![json(&last_outcomes), now_ms])?;
    }
    Ok(written)
}

/// A phase's rows as the JSON array parameter its statement reads with `json_each`.
fn json<T: serde::Serialize>(rows: &T) -> String {
    serde_json::to_string(rows).expect("journal rows serialise")
}

fn seen_row<'a>(list_id: &'a str, external_id: &'a str, seen: &'a Seen) -> SeenRow<'a> {
    let c = &seen.compliance;
    (
        list_id,
        external_id,
        &seen.source,
        crate::identity::contact_id(list_id, external_id),
        micros(seen.seen_at),
        seen.removed,
        c.do_not_call,
        c.do_not_call_at.map(micros),
        c.statement,
        c.restored_at.map(micros),
    )
}

fn applied_row<'a>(list_id: &'a str, external_id: &'a str, state: &'a NewState) -> AppliedRow<'a> {
    (
        list_id,
        external_id,
        &state.source,
        &state.contact_id,
        micros(state.updated_at),
        &state.content_hash,
        state
            .row
            .as_ref()
            .map(|r| serde_json::to_string(r).expect("rows serialise")),
        state.removed,
        state.seq,
    )
}

/// A dead-lettered result: its letter, its changes and the contact's last outcome (rare;
/// one statement per change).
#[allow(clippy::too_many_arguments)]
fn dead_letter(
    tx: &Transaction<'_>,
    owner: &str,
    (list_id, external_id): (&str, &str),
    seqs: &[i64],
    source: &str,
    error: &str,
    attempts: u32,
    now_ms: i64,
) -> Result<(), JournalError> {
    exec_cached(
        tx,
        "INSERT INTO dead_letters (source, list_id, external_id, error, attempts, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![source, list_id, external_id, error, attempts, now_ms],
    )?;
    let id = tx.last_insert_rowid();
    for seq in seqs {
        exec_cached(
            tx,
            "UPDATE changes SET state = 'done', outcome = ?2, error = ?3,
                attempts = ?4, finished_at = ?5, dead_letter_id = ?6,
                claim_owner = NULL, claim_expires_at = NULL
             WHERE seq = ?1 AND claim_owner = ?7",
            params![
                seq,
                Outcome::DeadLettered,
                error,
                attempts,
                now_ms,
                id,
                owner
            ],
        )?;
    }
    exec_cached(
        tx,
        "UPDATE contacts SET last_outcome = ?3, updated_at = ?4
         WHERE list_id = ?1 AND external_id = ?2",
        params![list_id, external_id, Outcome::DeadLettered, now_ms],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The set-based statements against the per-change path they replaced (kept here as
    //! the reference): on random journals — several lists and keys, both lanes, parked
    //! retries, live and expired claims of another owner, existing contact states — a
    //! claim must take exactly the keys, changes and states the per-key loop took, and a
    //! finish (with several results per key, partial results, parks, dead letters and a
    //! key taken over) must leave exactly the same tables.

    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::change::{Change, Operation};
    use crate::journal::{ContactState, query_row_cached};

    #[test]
    fn results_of_one_key_fall_into_successive_phases() {
        let park = |seq| KeyResult::Park {
            seqs: vec![seq],
            next_attempt_at: 0,
            error: String::new(),
        };
        let results = vec![
            ("L".to_string(), "A".to_string(), park(1)),
            ("L".to_string(), "B".to_string(), park(2)),
            ("L".to_string(), "A".to_string(), park(3)),
            ("M".to_string(), "A".to_string(), park(4)),
            ("L".to_string(), "A".to_string(), park(5)),
        ];
        let seqs: Vec<Vec<i64>> = phases(&results)
            .iter()
            .map(|p| {
                p.iter()
                    .map(|r| match &r.2 {
                        KeyResult::Park { seqs, .. } => seqs[0],
                        _ => unreachable!(),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(seqs, vec![vec![1, 2, 4], vec![3], vec![5]]);
    }

    /// The claim as it was: one SELECT of keys, then per key a load, an UPDATE and a
    /// state read.
    fn reference_claim(
        j: &mut Journal,
        now_ms: i64,
        max_keys: usize,
        lists: &[String],
    ) -> Vec<ClaimedKey> {
        let lists_json = serde_json::to_string(lists).unwrap();
        let tx = j
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let keys: Vec<(String, String)> = tx
            .prepare(
                "SELECT list_id, external_id FROM changes
                 WHERE state IN ('pending', 'claimed')
                   AND list_id IN (SELECT value FROM json_each(?3))
                 GROUP BY list_id, external_id
                 HAVING SUM(state = 'claimed' AND COALESCE(claim_expires_at, 0) > ?1) = 0
                    AND (MAX(next_attempt_at) <= ?1
                         OR MIN(CASE WHEN priority = 0 THEN next_attempt_at END) <= ?1)
                 ORDER BY MIN(priority), MIN(seq)
                 LIMIT ?2",
            )
            .unwrap()
            .query_map(params![now_ms, max_keys as i64, lists_json], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut claimed = Vec::new();
        for (list_id, external_id) in keys {
            let changes = tx
                .prepare(
                    "SELECT seq, source, payload, attempts FROM changes
                     WHERE list_id = ?1 AND external_id = ?2 AND state IN ('pending', 'claimed')
                     ORDER BY source_updated_at, seq",
                )
                .unwrap()
                .query_map(params![list_id, external_id], |r| {
                    Ok(StoredChange {
                        seq: r.get(0)?,
                        source: r.get(1)?,
                        change: serde_json::from_str(&r.get::<_, String>(2)?).unwrap(),
                        attempts: r.get(3)?,
                    })
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            tx.execute(
                "UPDATE changes SET state = 'claimed', claim_owner = ?3, claim_expires_at = ?4
                 WHERE list_id = ?1 AND external_id = ?2 AND state IN ('pending', 'claimed')",
                params![list_id, external_id, j.owner, now_ms + j.lease_ms],
            )
            .unwrap();
            let keys = keys_json([(&list_id, &external_id)].into_iter());
            let state = load_states(&tx, &keys)
                .unwrap()
                .remove(&(list_id.clone(), external_id.clone()))
                .map(|raw| raw.parse().unwrap())
                .unwrap_or_default();
            claimed.push(ClaimedKey {
                list_id,
                external_id,
                changes,
                state,
            });
        }
        tx.commit().unwrap();
        claimed
    }

    /// The finish as it was: per result an ownership check, an UPDATE per change and the
    /// contact upserts; then per key the leftovers released.
    fn reference_finish(j: &mut Journal, results: &[(String, String, KeyResult)], now_ms: i64) {
        let owner = j.owner.clone();
        let tx = j
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        for (list_id, external_id, result) in results {
            let owned: bool = query_row_cached(
                &tx,
                "SELECT EXISTS (SELECT 1 FROM changes WHERE list_id = ?1 AND external_id = ?2
                    AND state = 'claimed' AND claim_owner = ?3)",
                params![list_id, external_id, owner],
                |r| r.get(0),
            )
            .unwrap();
            if !owned {
                continue;
            }
            match result {
                KeyResult::Finished {
                    outcomes,
                    applied,
                    seen,
                } => {
                    for (seq, outcome, error) in outcomes {
                        tx.execute(
                            "UPDATE changes SET state = 'done', outcome = ?2, error = ?3,
                                finished_at = ?4, claim_owner = NULL, claim_expires_at = NULL
                             WHERE seq = ?1 AND claim_owner = ?5",
                            params![seq, outcome, error, now_ms, owner],
                        )
                        .unwrap();
                    }
                    let last = outcomes.iter().max_by_key(|(seq, ..)| *seq);
                    if let Some(seen) = seen {
                        let c = &seen.compliance;
                        tx.execute(
                            "INSERT INTO contacts (list_id, external_id, source, contact_id,
                                seen_updated_at, removed, do_not_call, do_not_call_at,
                                consent_statement, consent_restored_at, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, COALESCE(?6, 0), ?7, ?8, ?9, ?10, ?11)
                             ON CONFLICT (list_id, external_id) DO UPDATE SET
                                source = excluded.source,
                                seen_updated_at = MAX(COALESCE(seen_updated_at, excluded.seen_updated_at),
                                                      excluded.seen_updated_at),
                                removed = COALESCE(?6, removed),
                                do_not_call = excluded.do_not_call,
                                do_not_call_at = excluded.do_not_call_at,
                                consent_statement = excluded.consent_statement,
                                consent_restored_at = excluded.consent_restored_at,
                                updated_at = excluded.updated_at",
                            params![
                                list_id,
                                external_id,
                                seen.source,
                                crate::identity::contact_id(list_id, external_id),
                                micros(seen.seen_at),
                                seen.removed,
                                c.do_not_call,
                                c.do_not_call_at.map(micros),
                                c.statement,
                                c.restored_at.map(micros),
                                now_ms
                            ],
                        )
                        .unwrap();
                    }
                    if let Some(state) = applied {
                        let row = state
                            .row
                            .as_ref()
                            .map(|r| serde_json::to_string(r).unwrap());
                        tx.execute(
                            "INSERT INTO contacts (list_id, external_id, source, contact_id, applied_updated_at,
                                content_hash, row, removed, last_outcome, last_seq, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                             ON CONFLICT (list_id, external_id) DO UPDATE SET
                                source = excluded.source, contact_id = excluded.contact_id,
                                applied_updated_at = MAX(COALESCE(applied_updated_at, excluded.applied_updated_at),
                                                         excluded.applied_updated_at),
                                content_hash = excluded.content_hash, row = excluded.row,
                                removed = excluded.removed, last_outcome = excluded.last_outcome,
                                last_seq = excluded.last_seq, updated_at = excluded.updated_at",
                            params![
                                list_id,
                                external_id,
                                state.source,
                                state.contact_id,
                                micros(state.updated_at),
                                state.content_hash,
                                row,
                                state.removed,
                                Outcome::Applied,
                                state.seq,
                                now_ms
                            ],
                        )
                        .unwrap();
                    } else if let Some((seq, outcome, _)) = last {
                        tx.execute(
                            "UPDATE contacts SET last_outcome = ?3, last_seq = ?4, updated_at = ?5
                             WHERE list_id = ?1 AND external_id = ?2",
                            params![list_id, external_id, outcome, seq, now_ms],
                        )
                        .unwrap();
                    }
                }
                KeyResult::Park {
                    seqs,
                    next_attempt_at,
                    error,
                } => {
                    for seq in seqs {
                        tx.execute(
                            "UPDATE changes SET state = 'pending', attempts = attempts + 1,
                                next_attempt_at = ?2, error = ?3, claim_owner = NULL,
                                claim_expires_at = NULL
                             WHERE seq = ?1 AND claim_owner = ?4",
                            params![seq, next_attempt_at, error, owner],
                        )
                        .unwrap();
                    }
                }
                KeyResult::DeadLetter {
                    seqs,
                    source,
                    error,
                    attempts,
                } => dead_letter(
                    &tx,
                    &owner,
                    (list_id, external_id),
                    seqs,
                    source,
                    error,
                    *attempts,
                    now_ms,
                )
                .unwrap(),
            }
        }
        for (list_id, external_id, _) in results {
            tx.execute(
                "UPDATE changes SET state = 'pending', claim_owner = NULL, claim_expires_at = NULL
                 WHERE list_id = ?1 AND external_id = ?2 AND state = 'claimed' AND claim_owner = ?3",
                params![list_id, external_id, owner],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }

    /// Every row of the journal's tables, with this journal's owner id written `me`. A
    /// dead letter is shown by its content, not its id: letters written in one finish may
    /// be numbered in another order (nothing orders them within a transaction).
    fn dump(j: &Journal) -> Vec<String> {
        let mut out = Vec::new();
        for sql in [
            "SELECT c.*, d.list_id, d.external_id, d.error, d.attempts, d.created_at
             FROM changes c LEFT JOIN dead_letters d ON d.id = c.dead_letter_id ORDER BY c.seq",
            "SELECT * FROM contacts ORDER BY list_id, external_id",
            "SELECT source, list_id, external_id, error, attempts, created_at, replayed_at
             FROM dead_letters ORDER BY list_id, external_id, error, attempts",
        ] {
            let mut stmt = j.conn.prepare(sql).unwrap();
            let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
            let rows = stmt
                .query_map([], |r| {
                    let mut cells = Vec::new();
                    for (i, name) in names.iter().enumerate() {
                        let v: rusqlite::types::Value = r.get(i)?;
                        let cell = match v {
                            _ if name == "dead_letter_id" => String::new(),
                            rusqlite::types::Value::Text(t) if t == j.owner => "me".to_string(),
                            other => format!("{other:?}"),
                        };
                        cells.push(cell);
                    }
                    Ok(cells.join("|"))
                })
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            out.extend(rows);
        }
        out
    }

    fn describe(keys: &[ClaimedKey]) -> Vec<String> {
        keys.iter()
            .map(|k| {
                format!(
                    "{}/{} {:?} {:?}",
                    k.list_id,
                    k.external_id,
                    k.changes
                        .iter()
                        .map(|c| (c.seq, c.attempts, &c.source, &c.change))
                        .collect::<Vec<_>>(),
                    state_text(&k.state)
                )
            })
            .collect()
    }

    fn state_text(s: &ContactState) -> String {
        format!(
            "{:?} {:?} {:?} {:?} {} {:?}",
            s.updated_at, s.seen_at, s.content_hash, s.row, s.removed, s.compliance
        )
    }

    /// The same random journal in two files: the same accepted changes and the same
    /// direct edits (claims of another owner, parked retries, finished rows, contacts).
    fn random_pair(rng: &mut SmallRng, dir: &tempfile::TempDir, round: u32) -> [Journal; 2] {
        let opts = crate::journal::JournalOptions {
            lease: std::time::Duration::from_millis(1_000),
            ..Default::default()
        };
        let mut pair = [0, 1].map(|i| {
            Journal::open_with(&dir.path().join(format!("{round}-{i}.db")), &opts).unwrap()
        });
        let lists = ["L", "M", "N"];
        let mut batches = Vec::new();
        for _ in 0..rng.random_range(1..6) {
            let list = lists[rng.random_range(0..3)];
            let changes: Vec<Change> = (0..rng.random_range(1..12))
                .map(|_| {
                    let id = format!("E{}", rng.random_range(0..10));
                    let operation = match rng.random_range(0..6) {
                        0 => Operation::DoNotCall,
                        1 => Operation::Remove,
                        _ => Operation::Upsert,
                    };
                    Change {
                        external_id: id.clone(),
                        source_id: format!("src-{id}"),
                        source_updated_at: Utc
                            .timestamp_opt(1_700_000_000 + rng.random_range(0..5), 0)
                            .unwrap(),
                        operation,
                        partial: rng.random_bool(0.2),
                        columns: BTreeMap::from([(
                            "name".to_string(),
                            format!("n{}", rng.random_range(0..100)),
                        )]),
                        phones: vec![],
                        callable: None,
                    }
                })
                .collect();
            batches.push((list, changes));
        }
        let mut edits = Vec::new();
        for _ in 0..rng.random_range(0..8) {
            let seq = rng.random_range(1..40);
            edits.push(match rng.random_range(0..4) {
                0 => format!(
                    "UPDATE changes SET state = 'claimed', claim_owner = 'other',
                        claim_expires_at = {} WHERE seq = {seq}",
                    rng.random_range(0..2_000)
                ),
                1 => format!(
                    "UPDATE changes SET next_attempt_at = {}, attempts = {} WHERE seq = {seq}",
                    rng.random_range(0..2_000),
                    rng.random_range(0..3)
                ),
                2 => format!(
                    "UPDATE changes SET state = 'done', outcome = 'applied', finished_at = 5
                     WHERE seq = {seq}"
                ),
                _ => format!(
                    "INSERT OR REPLACE INTO contacts (list_id, external_id, source, contact_id,
                        applied_updated_at, content_hash, row, removed, seen_updated_at,
                        do_not_call, updated_at)
                     VALUES ('{}', 'E{}', 'sn', 'c', {}, 'h{}', NULL, {}, {}, {}, 1)",
                    lists[rng.random_range(0..3)],
                    rng.random_range(0..10),
                    1_700_000_001_000_000i64,
                    rng.random_range(0..3),
                    rng.random_range(0..2),
                    1_700_000_002_000_000i64,
                    rng.random_range(0..2)
                ),
            });
        }
        for j in &mut pair {
            for (list, changes) in &batches {
                j.accept("sn", list, changes, None, 0).unwrap();
            }
            for edit in &edits {
                j.conn.execute(edit, []).unwrap();
            }
        }
        pair
    }

    /// Random results for claimed keys: finished (with or without applied state and
    /// seen facts), parked, dead-lettered, several per key, or naming only some changes.
    fn random_results(rng: &mut SmallRng, keys: &[ClaimedKey]) -> Vec<(String, String, KeyResult)> {
        let mut results = Vec::new();
        let at = |secs: i64| Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap();
        // A result for a key nobody claimed is ignored by both.
        results.push((
            "L".to_string(),
            "nobody".to_string(),
            KeyResult::Park {
                seqs: vec![9_999],
                next_attempt_at: 1,
                error: "x".into(),
            },
        ));
        for k in keys {
            let seqs: Vec<i64> = k.changes.iter().map(|c| c.seq).collect();
            let cut = rng.random_range(0..=seqs.len());
            let (first, rest) = seqs.split_at(cut);
            let mut parts = vec![first.to_vec(), rest.to_vec()];
            if rng.random_bool(0.2) {
                parts.pop(); // only some changes named: the rest goes back to pending
            }
            for part in parts.into_iter().filter(|p| !p.is_empty()) {
                let result = match rng.random_range(0..5) {
                    0 => KeyResult::Park {
                        seqs: part,
                        next_attempt_at: rng.random_range(0..5_000),
                        error: format!("e{}", rng.random_range(0..9)),
                    },
                    1 => KeyResult::DeadLetter {
                        seqs: part,
                        source: "sn".into(),
                        error: "gone".into(),
                        attempts: rng.random_range(1..9),
                    },
                    _ => {
                        let last = *part.last().unwrap();
                        KeyResult::Finished {
                            outcomes: part
                                .iter()
                                .map(|&s| {
                                    let o = [Outcome::Applied, Outcome::Stale, Outcome::Unchanged]
                                        [rng.random_range(0..3)];
                                    (s, o, rng.random_bool(0.3).then(|| "{\"e\":1}".to_string()))
                                })
                                .collect(),
                            applied: rng.random_bool(0.5).then(|| NewState {
                                source: "sn".into(),
                                contact_id: format!("id-{}", k.external_id),
                                updated_at: at(rng.random_range(0..5)),
                                content_hash: format!("h{}", rng.random_range(0..3)),
                                row: None,
                                removed: rng.random_bool(0.3),
                                seq: last,
                            }),
                            seen: rng.random_bool(0.7).then(|| Seen {
                                source: "sn".into(),
                                seen_at: at(rng.random_range(0..5)),
                                compliance: Compliance {
                                    do_not_call: rng.random_bool(0.3),
                                    do_not_call_at: rng.random_bool(0.3).then(|| at(2)),
                                    statement: [None, Some(true), Some(false)]
                                        [rng.random_range(0..3)],
                                    restored_at: rng.random_bool(0.2).then(|| at(3)),
                                },
                                removed: [None, Some(true), Some(false)][rng.random_range(0..3)],
                            }),
                        }
                    }
                };
                results.push((k.list_id.clone(), k.external_id.clone(), result));
            }
        }
        // Interleave keys' results the way a round may (not grouped by key).
        if rng.random_bool(0.5) {
            results.reverse();
        }
        results
    }

    #[test]
    fn set_based_claims_and_finishes_match_the_per_change_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = SmallRng::seed_from_u64(0x5e7_ba5ed);
        let mut claimed_keys = 0;
        let mut multi_result_keys = 0;
        for round in 0..60 {
            let [mut new, mut reference] = random_pair(&mut rng, &dir, round);
            let now = rng.random_range(0..2_500);
            let max = rng.random_range(1..12);
            let lists: Vec<String> = if rng.random_bool(0.5) {
                vec!["L".into(), "M".into()]
            } else {
                vec!["L".into(), "M".into(), "N".into()]
            };
            let a = new.claim_ready(now, max, &lists).unwrap();
            let b = reference_claim(&mut reference, now, max, &lists);
            assert_eq!(describe(&a), describe(&b), "round {round}: claimed keys");
            assert_eq!(dump(&new), dump(&reference), "round {round}: after claim");
            claimed_keys += a.len();

            // Another owner takes one key over before the finish (its lease expired).
            if let Some(k) = a.first().filter(|_| rng.random_bool(0.3)) {
                for j in [&new, &reference] {
                    j.conn
                        .execute(
                            "UPDATE changes SET claim_owner = 'thief'
                             WHERE list_id = ?1 AND external_id = ?2 AND state = 'claimed'",
                            params![k.list_id, k.external_id],
                        )
                        .unwrap();
                }
            }
            let results = random_results(&mut rng, &a);
            multi_result_keys += phases(&results).len().saturating_sub(1);
            new.finish(&results, now + 10).unwrap();
            reference_finish(&mut reference, &results, now + 10);
            assert_eq!(dump(&new), dump(&reference), "round {round}: after finish");
        }
        assert!(
            claimed_keys > 100,
            "the rounds claimed work ({claimed_keys} keys)"
        );
        assert!(
            multi_result_keys > 10,
            "keys had several results ({multi_result_keys})"
        );
    }

    #[test]
    fn lease_statements_leave_the_connection_durable() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open(&dir.path().join("j.db")).unwrap();
        assert_eq!(j.synchronous().unwrap(), 2, "FULL");
        j.claim_ready(0, 10, &["L".to_string()]).unwrap();
        j.renew(0).unwrap();
        j.release().unwrap();
        j.finish_unsynced(&[], 0).unwrap();
        assert_eq!(
            j.synchronous().unwrap(),
            2,
            "FULL again after the lease statements and an unsynced finish"
        );
    }
}

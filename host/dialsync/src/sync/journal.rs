//! The durable journal (SQLite, WAL, `synchronous=FULL`).
//!
//! An accepted batch of changes is one transaction, committed before `accept` returns, so
//! an acknowledged change survives a crash. Workers claim all pending changes of a key
//! (contact list, externalId) at once — one in-flight write per key — and finish them in
//! one transaction together with the key's contact state. On open, claimed-but-unfinished
//! work goes back to pending: re-sending is safe because writes are idempotent by contact id.
//!
//! Schema changes are numbered migrations tracked in `PRAGMA user_version`; add new ones
//! at the end of [`MIGRATIONS`] (the webhook ingress adds its dedup table that way).

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use thiserror::Error;

use super::change::{Change, Operation, Outcome, Row};

/// Ordered schema migrations; migration `i` brings the schema to `user_version = i + 1`.
pub const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE changes (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    source            TEXT    NOT NULL,
    list_id           TEXT    NOT NULL,
    external_id       TEXT    NOT NULL,
    op                TEXT    NOT NULL,
    priority          INTEGER NOT NULL,           -- 0 = do-not-call first, 1 = ordinary
    source_updated_at INTEGER NOT NULL,           -- microseconds since the Unix epoch
    payload           TEXT    NOT NULL,           -- the Change as JSON
    state             TEXT    NOT NULL,           -- pending | claimed | done
    outcome           TEXT,                       -- set when state = done
    error             TEXT,                       -- JSON: field errors or the last error
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL DEFAULT 0, -- ms since the Unix epoch
    accepted_at       INTEGER NOT NULL,
    finished_at       INTEGER,
    run_id            INTEGER,
    dead_letter_id    INTEGER
);
CREATE INDEX changes_by_state ON changes(state, list_id, external_id);
CREATE INDEX changes_by_key ON changes(list_id, external_id, seq);
CREATE INDEX changes_by_external_id ON changes(external_id);
CREATE INDEX changes_by_run ON changes(run_id, outcome);

CREATE TABLE contacts (
    list_id           TEXT    NOT NULL,
    external_id       TEXT    NOT NULL,
    source            TEXT    NOT NULL,
    contact_id        TEXT    NOT NULL,
    applied_updated_at INTEGER,
    content_hash      TEXT,
    row               TEXT,                       -- last full row written (JSON Row)
    removed           INTEGER NOT NULL DEFAULT 0,
    last_outcome      TEXT,
    last_seq          INTEGER,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (list_id, external_id)
);

CREATE TABLE dead_letters (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT    NOT NULL,
    list_id     TEXT    NOT NULL,
    external_id TEXT    NOT NULL,
    error       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    replayed_at INTEGER
);

CREATE TABLE import_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT    NOT NULL,
    input       TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    report      TEXT
);
"#];

/// A journal failure (the store itself, not a record).
#[derive(Debug, Error)]
pub enum JournalError {
    /// SQLite failed.
    #[error("journal database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON value did not parse (the file was edited or corrupted).
    #[error("journal holds unreadable data in {what}: {source}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The file was written by a newer dialsync.
    #[error("journal schema version {found} is newer than this dialsync supports ({supported})")]
    TooNew {
        /// Version in the file.
        found: i64,
        /// Newest version known here.
        supported: i64,
    },
}

/// A change read back from the journal.
#[derive(Debug, Clone)]
pub struct StoredChange {
    /// Journal sequence number.
    pub seq: i64,
    /// Source name.
    pub source: String,
    /// The change.
    pub change: Change,
    /// Delivery attempts so far.
    pub attempts: u32,
}

/// What was last applied for a key.
#[derive(Debug, Clone, Default)]
pub struct AppliedState {
    /// Source updated-at of the newest applied change.
    pub updated_at: Option<DateTime<Utc>>,
    /// Hash of the last written content.
    pub content_hash: Option<String>,
    /// Last full row written.
    pub row: Option<Row>,
}

/// All pending changes of one key, claimed for processing.
#[derive(Debug, Clone)]
pub struct ClaimedKey {
    /// Contact list.
    pub list_id: String,
    /// externalId.
    pub external_id: String,
    /// The key's changes in (source updated-at, seq) order.
    pub changes: Vec<StoredChange>,
    /// What was last applied.
    pub applied: AppliedState,
}

/// How one key's processing ended, written back in one transaction.
#[derive(Debug, Clone)]
pub enum KeyResult {
    /// Each change gets its terminal outcome; `applied` updates the contact state.
    Finished {
        /// (seq, outcome, error JSON).
        outcomes: Vec<(i64, Outcome, Option<String>)>,
        /// New contact state, when something was applied.
        applied: Option<NewState>,
    },
    /// Retry later (409 or exhausted transient error); the listed changes go back to pending.
    Park {
        /// The changes to park.
        seqs: Vec<i64>,
        /// When to try again (ms since the epoch).
        next_attempt_at: i64,
        /// The error, kept for status.
        error: String,
    },
    /// Give up: the listed changes end dead-lettered with the last error.
    DeadLetter {
        /// The changes.
        seqs: Vec<i64>,
        /// The source.
        source: String,
        /// The last error.
        error: String,
        /// Attempts made.
        attempts: u32,
    },
}

/// The contact state after a successful write.
#[derive(Debug, Clone)]
pub struct NewState {
    /// Source of the winning change.
    pub source: String,
    /// Genesys contact id.
    pub contact_id: String,
    /// Source updated-at of the winning change.
    pub updated_at: DateTime<Utc>,
    /// Hash of what was written.
    pub content_hash: String,
    /// What was written (None after a hard delete).
    pub row: Option<Row>,
    /// Whether the CRM record is deleted.
    pub removed: bool,
    /// The winning change.
    pub seq: i64,
}

/// One change as shown by `status`.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRecord {
    /// Sequence number.
    pub seq: i64,
    /// Source name.
    pub source: String,
    /// Operation.
    pub op: String,
    /// Source updated-at (RFC 3339).
    pub source_updated_at: String,
    /// pending | claimed | done.
    pub state: String,
    /// Terminal outcome, once done.
    pub outcome: Option<String>,
    /// Field errors or last error (JSON).
    pub error: Option<serde_json::Value>,
    /// Attempts so far.
    pub attempts: u32,
}

/// Everything the journal knows about one externalId in one list.
#[derive(Debug, Clone, Serialize)]
pub struct ContactStatus {
    /// Contact list.
    pub list_id: String,
    /// externalId.
    pub external_id: String,
    /// Genesys contact id (derived).
    pub contact_id: String,
    /// Last applied content, if anything was applied.
    pub row: Option<Row>,
    /// Whether the CRM record was deleted.
    pub removed: bool,
    /// Source updated-at of the newest applied change.
    pub applied_updated_at: Option<String>,
    /// Outcome of the newest finished change.
    pub last_outcome: Option<String>,
    /// Every change for this key, oldest first.
    pub changes: Vec<ChangeRecord>,
}

/// A dead letter.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// Id (for replay).
    pub id: i64,
    /// Source.
    pub source: String,
    /// Contact list.
    pub list_id: String,
    /// externalId.
    pub external_id: String,
    /// Last error.
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
    /// When it was dead-lettered (RFC 3339).
    pub created_at: String,
    /// Journal seqs of its changes.
    pub seqs: Vec<i64>,
}

/// The journal: one SQLite connection.
pub struct Journal {
    conn: Connection,
}

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

impl Journal {
    /// Opens (creating if needed) a journal file, migrates it, and returns claimed work to
    /// pending (a previous process may have died mid-write).
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let journal = Journal::inspect(path)?;
        journal.conn.execute(
            "UPDATE changes SET state = 'pending' WHERE state = 'claimed'",
            [],
        )?;
        Ok(journal)
    }

    /// Opens a journal to read or requeue (status, dead letters) without touching claims,
    /// so it is safe while an engine works on the same file.
    pub fn inspect(path: &Path) -> Result<Journal, JournalError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut conn)?;
        Ok(Journal { conn })
    }

    /// Durably records a batch of changes (one transaction) and returns their seqs.
    pub fn accept(
        &mut self,
        source: &str,
        list_id: &str,
        changes: &[Change],
        run_id: Option<i64>,
        now_ms: i64,
    ) -> Result<Vec<i64>, JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut seqs = Vec::with_capacity(changes.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO changes (source, list_id, external_id, op, priority, source_updated_at,
                    payload, state, accepted_at, run_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9)",
            )?;
            for change in changes {
                let payload =
                    serde_json::to_string(change).expect("a change always serialises to JSON");
                let priority = if change.operation == Operation::DoNotCall {
                    0
                } else {
                    1
                };
                insert.execute(params![
                    source,
                    list_id,
                    change.external_id,
                    change.operation.as_str(),
                    priority,
                    micros(change.source_updated_at),
                    payload,
                    now_ms,
                    run_id
                ])?;
                seqs.push(tx.last_insert_rowid());
            }
        }
        tx.commit()?;
        Ok(seqs)
    }

    /// Claims up to `max_keys` ready keys (do-not-call first, then oldest), with all their
    /// pending changes. A key is ready when none of its changes is in flight and none is
    /// waiting for a retry time still in the future.
    pub fn claim_ready(
        &mut self,
        now_ms: i64,
        max_keys: usize,
    ) -> Result<Vec<ClaimedKey>, JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let keys: Vec<(String, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT list_id, external_id FROM changes
                 WHERE state IN ('pending', 'claimed')
                 GROUP BY list_id, external_id
                 HAVING SUM(state = 'claimed') = 0 AND MAX(next_attempt_at) <= ?1
                 ORDER BY MIN(priority), MIN(seq)
                 LIMIT ?2",
            )?;
            stmt.query_map(params![now_ms, max_keys as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let mut claimed = Vec::with_capacity(keys.len());
        for (list_id, external_id) in keys {
            let changes = load_changes(&tx, &list_id, &external_id, "pending")?;
            tx.execute(
                "UPDATE changes SET state = 'claimed'
                 WHERE list_id = ?1 AND external_id = ?2 AND state = 'pending'",
                params![list_id, external_id],
            )?;
            let applied = load_applied(&tx, &list_id, &external_id)?;
            claimed.push(ClaimedKey {
                list_id,
                external_id,
                changes,
                applied,
            });
        }
        tx.commit()?;
        Ok(claimed)
    }

    /// Writes back the results of processing claimed keys, in one transaction.
    pub fn finish(
        &mut self,
        results: &[(String, String, KeyResult)],
        now_ms: i64,
    ) -> Result<(), JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (list_id, external_id, result) in results {
            match result {
                KeyResult::Finished { outcomes, applied } => {
                    for (seq, outcome, error) in outcomes {
                        tx.execute(
                            "UPDATE changes SET state = 'done', outcome = ?2, error = ?3, finished_at = ?4
                             WHERE seq = ?1",
                            params![seq, outcome.as_str(), error, now_ms],
                        )?;
                    }
                    let last = outcomes.iter().max_by_key(|(seq, ..)| *seq);
                    if let Some(state) = applied {
                        let row = state
                            .row
                            .as_ref()
                            .map(|r| serde_json::to_string(r).expect("rows serialise"));
                        tx.execute(
                            "INSERT INTO contacts (list_id, external_id, source, contact_id, applied_updated_at,
                                content_hash, row, removed, last_outcome, last_seq, updated_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                             ON CONFLICT (list_id, external_id) DO UPDATE SET
                                source = excluded.source, contact_id = excluded.contact_id,
                                applied_updated_at = excluded.applied_updated_at,
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
                                Outcome::Applied.as_str(),
                                state.seq,
                                now_ms
                            ],
                        )?;
                    } else if let Some((seq, outcome, _)) = last {
                        tx.execute(
                            "UPDATE contacts SET last_outcome = ?3, last_seq = ?4, updated_at = ?5
                             WHERE list_id = ?1 AND external_id = ?2",
                            params![list_id, external_id, outcome.as_str(), seq, now_ms],
                        )?;
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
                                next_attempt_at = ?2, error = ?3
                             WHERE seq = ?1",
                            params![seq, next_attempt_at, error],
                        )?;
                    }
                }
                KeyResult::DeadLetter {
                    seqs,
                    source,
                    error,
                    attempts,
                } => {
                    tx.execute(
                        "INSERT INTO dead_letters (source, list_id, external_id, error, attempts, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![source, list_id, external_id, error, attempts, now_ms],
                    )?;
                    let id = tx.last_insert_rowid();
                    for seq in seqs {
                        tx.execute(
                            "UPDATE changes SET state = 'done', outcome = ?2, error = ?3,
                                attempts = ?4, finished_at = ?5, dead_letter_id = ?6
                             WHERE seq = ?1",
                            params![
                                seq,
                                Outcome::DeadLettered.as_str(),
                                error,
                                attempts,
                                now_ms,
                                id
                            ],
                        )?;
                    }
                    tx.execute(
                        "UPDATE contacts SET last_outcome = ?3, updated_at = ?4
                         WHERE list_id = ?1 AND external_id = ?2",
                        params![list_id, external_id, Outcome::DeadLettered.as_str(), now_ms],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Number of changes not yet finished (pending or claimed).
    pub fn unfinished(&self) -> Result<u64, JournalError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM changes WHERE state != 'done'",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Earliest retry time among pending changes, if any are pending.
    pub fn next_ready_at(&self) -> Result<Option<i64>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT MIN(t) FROM (SELECT MAX(next_attempt_at) AS t FROM changes
                 WHERE state = 'pending' GROUP BY list_id, external_id)",
                [],
                |r| r.get::<_, Option<i64>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Everything known about an externalId (in every list, or only `source`'s).
    pub fn status(
        &self,
        external_id: &str,
        source: Option<&str>,
    ) -> Result<Vec<ContactStatus>, JournalError> {
        let mut lists: Vec<String> = {
            let mut stmt = self.conn.prepare(
                "SELECT DISTINCT list_id FROM changes
                 WHERE external_id = ?1 AND (?2 IS NULL OR source = ?2) ORDER BY list_id",
            )?;
            stmt.query_map(params![external_id, source], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        lists.dedup();
        let mut out = Vec::new();
        for list_id in lists {
            let (row, removed, applied_at, last_outcome) = self
                .conn
                .query_row(
                    "SELECT row, removed, applied_updated_at, last_outcome FROM contacts
                     WHERE list_id = ?1 AND external_id = ?2",
                    params![list_id, external_id],
                    |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?,
                            r.get::<_, bool>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                            r.get::<_, Option<String>>(3)?,
                        ))
                    },
                )
                .optional()?
                .unwrap_or((None, false, None, None));
            let row = row
                .map(|r| serde_json::from_str(&r))
                .transpose()
                .map_err(|source| JournalError::Corrupt {
                    what: "contacts.row",
                    source,
                })?;
            let mut stmt = self.conn.prepare(
                "SELECT seq, source, op, source_updated_at, state, outcome, error, attempts
                 FROM changes WHERE list_id = ?1 AND external_id = ?2 ORDER BY seq",
            )?;
            let changes = stmt
                .query_map(params![list_id, external_id], |r| {
                    let error: Option<String> = r.get(6)?;
                    Ok(ChangeRecord {
                        seq: r.get(0)?,
                        source: r.get(1)?,
                        op: r.get(2)?,
                        source_updated_at: from_micros(r.get(3)?).to_rfc3339(),
                        state: r.get(4)?,
                        outcome: r.get(5)?,
                        error: error.map(|e| {
                            serde_json::from_str(&e).unwrap_or(serde_json::Value::String(e))
                        }),
                        attempts: r.get(7)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            out.push(ContactStatus {
                contact_id: super::identity::contact_id(&list_id, external_id),
                list_id,
                external_id: external_id.to_string(),
                row,
                removed,
                applied_updated_at: applied_at.map(|v| from_micros(v).to_rfc3339()),
                last_outcome,
                changes,
            });
        }
        Ok(out)
    }

    /// Dead letters not yet replayed, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT d.id, d.source, d.list_id, d.external_id, d.error, d.attempts, d.created_at,
                    (SELECT group_concat(seq) FROM changes c WHERE c.dead_letter_id = d.id)
             FROM dead_letters d WHERE d.replayed_at IS NULL ORDER BY d.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let seqs: Option<String> = r.get(7)?;
                Ok(DeadLetter {
                    id: r.get(0)?,
                    source: r.get(1)?,
                    list_id: r.get(2)?,
                    external_id: r.get(3)?,
                    error: r.get(4)?,
                    attempts: r.get(5)?,
                    created_at: rfc3339_ms(r.get(6)?),
                    seqs: seqs
                        .unwrap_or_default()
                        .split(',')
                        .filter_map(|s| s.parse().ok())
                        .collect(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Puts dead letters' changes back to pending (attempts reset); `None` replays all.
    /// Returns the ids replayed; unknown or already-replayed ids are returned in the error list.
    pub fn replay(
        &mut self,
        ids: Option<&[i64]>,
        now_ms: i64,
    ) -> Result<(Vec<i64>, Vec<i64>), JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let open: Vec<i64> = {
            let mut stmt =
                tx.prepare("SELECT id FROM dead_letters WHERE replayed_at IS NULL ORDER BY id")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        let (wanted, missing): (Vec<i64>, Vec<i64>) = match ids {
            None => (open.clone(), vec![]),
            Some(ids) => ids.iter().partition(|id| open.contains(id)),
        };
        for id in &wanted {
            tx.execute(
                "UPDATE changes SET state = 'pending', outcome = NULL, attempts = 0,
                    next_attempt_at = 0, finished_at = NULL, dead_letter_id = NULL
                 WHERE dead_letter_id = ?1",
                params![id],
            )?;
            tx.execute(
                "UPDATE dead_letters SET replayed_at = ?2 WHERE id = ?1",
                params![id, now_ms],
            )?;
        }
        tx.commit()?;
        Ok((wanted, missing))
    }

    /// Starts an import run and returns its id.
    pub fn start_run(
        &mut self,
        source: &str,
        input: &str,
        now_ms: i64,
    ) -> Result<i64, JournalError> {
        self.conn.execute(
            "INSERT INTO import_runs (source, input, started_at) VALUES (?1, ?2, ?3)",
            params![source, input, now_ms],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Stores a run's final report.
    pub fn finish_run(&mut self, id: i64, report: &str, now_ms: i64) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE import_runs SET finished_at = ?2, report = ?3 WHERE id = ?1",
            params![id, now_ms, report],
        )?;
        Ok(())
    }

    /// Counts of finished outcomes for a run (or for the whole journal).
    pub fn outcome_counts(&self, run_id: Option<i64>) -> Result<Vec<(Outcome, u64)>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT outcome, COUNT(*) FROM changes
             WHERE state = 'done' AND (?1 IS NULL OR run_id = ?1) GROUP BY outcome",
        )?;
        let rows = stmt
            .query_map(params![run_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(o, n)| Outcome::parse(&o).map(|o| (o, n as u64)))
            .collect())
    }

    /// Finished changes of a run with the given outcome: (seq, externalId, error JSON).
    pub fn run_failures(
        &self,
        run_id: i64,
        outcome: Outcome,
    ) -> Result<Vec<(i64, String, Option<String>)>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT seq, external_id, error FROM changes
             WHERE run_id = ?1 AND outcome = ?2 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map(params![run_id, outcome.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), JournalError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(JournalError::TooNew {
            found: version,
            supported,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn load_changes(
    tx: &Transaction<'_>,
    list_id: &str,
    external_id: &str,
    state: &str,
) -> Result<Vec<StoredChange>, JournalError> {
    let mut stmt = tx.prepare_cached(
        "SELECT seq, source, payload, attempts FROM changes
         WHERE list_id = ?1 AND external_id = ?2 AND state = ?3
         ORDER BY source_updated_at, seq",
    )?;
    let rows = stmt
        .query_map(params![list_id, external_id, state], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, u32>(3)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(seq, source, payload, attempts)| {
            let change =
                serde_json::from_str(&payload).map_err(|source| JournalError::Corrupt {
                    what: "changes.payload",
                    source,
                })?;
            Ok(StoredChange {
                seq,
                source,
                change,
                attempts,
            })
        })
        .collect()
}

fn load_applied(
    tx: &Transaction<'_>,
    list_id: &str,
    external_id: &str,
) -> Result<AppliedState, JournalError> {
    let found = tx
        .query_row(
            "SELECT applied_updated_at, content_hash, row FROM contacts
             WHERE list_id = ?1 AND external_id = ?2",
            params![list_id, external_id],
            |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((at, hash, row)) = found else {
        return Ok(AppliedState::default());
    };
    let row = row
        .map(|r| serde_json::from_str(&r))
        .transpose()
        .map_err(|source| JournalError::Corrupt {
            what: "contacts.row",
            source,
        })?;
    Ok(AppliedState {
        updated_at: at.map(from_micros),
        content_hash: hash,
        row,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;

    fn change(id: &str, op: Operation, secs: i64, name: &str) -> Change {
        Change {
            external_id: id.into(),
            source_id: format!("src-{id}"),
            source_updated_at: Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap(),
            operation: op,
            partial: false,
            columns: BTreeMap::from([("name".to_string(), name.to_string())]),
            phones: vec![],
            callable: None,
        }
    }

    fn open(dir: &tempfile::TempDir) -> Journal {
        Journal::open(&dir.path().join("journal.db")).unwrap()
    }

    #[test]
    fn accepted_changes_survive_a_crash_and_claims_are_released() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = open(&dir);
        let seqs = j
            .accept(
                "sn",
                "L",
                &[change("A", Operation::Upsert, 1, "a")],
                None,
                0,
            )
            .unwrap();
        assert_eq!(seqs.len(), 1);
        let claimed = j.claim_ready(0, 10).unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(j.claim_ready(0, 10).unwrap().is_empty(), "claimed once");
        drop(j); // the process dies mid-write
        let mut j = open(&dir);
        assert_eq!(j.unfinished().unwrap(), 1);
        let again = j.claim_ready(0, 10).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].changes[0].change.columns["name"], "a");
        let version: i64 = j
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn one_claim_per_key_and_do_not_call_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = open(&dir);
        j.accept(
            "sn",
            "L",
            &[
                change("A", Operation::Upsert, 1, "a"),
                change("B", Operation::Upsert, 1, "b"),
                change("C", Operation::DoNotCall, 1, "c"),
            ],
            None,
            0,
        )
        .unwrap();
        let first = j.claim_ready(0, 1).unwrap();
        assert_eq!(first[0].external_id, "C", "do-not-call goes first");
        let rest = j.claim_ready(0, 10).unwrap();
        assert_eq!(rest.len(), 2);
        // A new change for an in-flight key waits until the key is finished.
        j.accept(
            "sn",
            "L",
            &[change("A", Operation::Upsert, 2, "a2")],
            None,
            0,
        )
        .unwrap();
        assert!(j.claim_ready(0, 10).unwrap().is_empty());
        let a = rest.iter().find(|k| k.external_id == "A").unwrap();
        j.finish(
            &[(
                "L".into(),
                "A".into(),
                KeyResult::Finished {
                    outcomes: vec![(a.changes[0].seq, Outcome::Applied, None)],
                    applied: Some(NewState {
                        source: "sn".into(),
                        contact_id: "id-a".into(),
                        updated_at: a.changes[0].change.source_updated_at,
                        content_hash: "h".into(),
                        row: None,
                        removed: false,
                        seq: a.changes[0].seq,
                    }),
                },
            )],
            0,
        )
        .unwrap();
        let next = j.claim_ready(0, 10).unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].external_id, "A");
        assert_eq!(next[0].applied.content_hash.as_deref(), Some("h"));
        assert_eq!(next[0].changes[0].change.columns["name"], "a2");
    }

    #[test]
    fn parked_keys_wait_and_dead_letters_replay() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = open(&dir);
        j.accept(
            "sn",
            "L",
            &[change("A", Operation::Upsert, 1, "a")],
            None,
            0,
        )
        .unwrap();
        let k = j.claim_ready(0, 10).unwrap().remove(0);
        let seq = k.changes[0].seq;
        j.finish(
            &[(
                "L".into(),
                "A".into(),
                KeyResult::Park {
                    seqs: vec![seq],
                    next_attempt_at: 5_000,
                    error: "409 dialer".into(),
                },
            )],
            0,
        )
        .unwrap();
        assert_eq!(j.next_ready_at().unwrap(), Some(5_000));
        assert!(j.claim_ready(4_999, 10).unwrap().is_empty());
        let k = j.claim_ready(5_000, 10).unwrap().remove(0);
        assert_eq!(k.changes[0].attempts, 1);
        j.finish(
            &[(
                "L".into(),
                "A".into(),
                KeyResult::DeadLetter {
                    seqs: vec![seq],
                    source: "sn".into(),
                    error: "409 dialer".into(),
                    attempts: 2,
                },
            )],
            6_000,
        )
        .unwrap();
        assert_eq!(j.unfinished().unwrap(), 0);
        let letters = j.dead_letters().unwrap();
        assert_eq!(letters.len(), 1);
        assert_eq!(letters[0].seqs, vec![seq]);
        assert_eq!(
            j.outcome_counts(None).unwrap(),
            vec![(Outcome::DeadLettered, 1)]
        );
        let (done, missing) = j.replay(Some(&[letters[0].id, 999]), 7_000).unwrap();
        assert_eq!((done, missing), (vec![letters[0].id], vec![999]));
        assert!(j.dead_letters().unwrap().is_empty());
        let k = j.claim_ready(7_000, 10).unwrap().remove(0);
        assert_eq!(k.changes[0].attempts, 0);
        let status = j.status("A", Some("sn")).unwrap();
        assert_eq!(status[0].changes[0].state, "claimed");
    }
}

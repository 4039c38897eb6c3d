//! The durable journal (SQLite, WAL, `synchronous=FULL`).
//!
//! An accepted batch of changes is one transaction, committed before `accept` returns, so
//! an acknowledged change survives a crash. Workers claim all pending changes of a key
//! (contact list, externalId) at once — one in-flight write per key — and finish them in
//! one transaction together with the key's per-contact state.
//!
//! Several processes may share one journal file. A claim is a lease: it names its owner
//! (host, process id and a random suffix per [`Journal`]; see [`super::owner`]) and expires; an owner renews its leases while it works,
//! a failed round releases them, and a claim whose lease expired (its owner crashed) is
//! taken over by the next process that claims. Finishing is fenced by owner, so a process
//! that lost its lease never overwrites the new owner's work. Opening the journal never
//! touches anyone's claims. Re-sending after a takeover is safe: writes are idempotent by
//! contact id.
//!
//! The per-contact state (`contacts`) is the model every rule is decided from: the newest
//! source time ever finished for the contact (whatever the outcome), the tombstone, the last
//! full row and its hash, and the compliance state (see [`Compliance`]).
//!
//! Schema changes are numbered migrations tracked in `PRAGMA user_version`; add new ones
//! at the end of [`MIGRATIONS`] (the webhook ingress adds its dedup table that way).

use std::path::Path;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;
use thiserror::Error;

use super::change::{Change, Compliance, Operation, Outcome, Row};
use super::kinds::{ChangeState, Lane, operation_at};

#[cfg(test)]
mod query_plans;
mod rounds;

/// A stored `contacts.row` (JSON text), or a `Corrupt` error naming the column.
fn parse_row(row: Option<String>) -> Result<Option<Row>, JournalError> {
    row.map(|r| serde_json::from_str(&r))
        .transpose()
        .map_err(|source| JournalError::Corrupt {
            what: "contacts.row",
            source,
        })
}

/// Ordered schema migrations; migration `i` brings the schema to `user_version = i + 1`.
pub const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
-- Per-contact state: the newest source time ever finished (any outcome but dead-lettered),
-- and the compliance state. Claims become leases with an owner and an expiry.
ALTER TABLE contacts ADD COLUMN seen_updated_at INTEGER;          -- microseconds
ALTER TABLE contacts ADD COLUMN do_not_call INTEGER NOT NULL DEFAULT 0;
ALTER TABLE contacts ADD COLUMN do_not_call_at INTEGER;           -- microseconds
ALTER TABLE contacts ADD COLUMN consent_statement INTEGER;        -- NULL, 0 or 1
ALTER TABLE contacts ADD COLUMN consent_restored_at INTEGER;      -- microseconds
UPDATE contacts SET seen_updated_at = applied_updated_at;
ALTER TABLE changes ADD COLUMN claim_owner TEXT;
ALTER TABLE changes ADD COLUMN claim_expires_at INTEGER;          -- ms since the Unix epoch
CREATE INDEX changes_by_claim ON changes(claim_owner) WHERE state = 'claimed';
"#,
    r#"
-- Webhook delivery ids, written in the same transaction as the changes they carry (older
-- versions created this table from the server, hence IF NOT EXISTS). `received_at` is
-- RFC 3339 UTC, so it orders as text.
CREATE TABLE IF NOT EXISTS server_webhook_deliveries (
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    summary     TEXT NOT NULL,
    PRIMARY KEY (source, delivery_id)
) WITHOUT ROWID;
"#,
    r#"
-- Fewer index writes per accepted change: every index on `changes` is one more B-tree
-- page written (and fsynced) by each accepting transaction. `status` finds an externalId's
-- changes through the key index, which now starts with the externalId (a lookup by
-- (list, externalId) uses it just as well), so the index on externalId alone goes; the
-- import-run index and the new dead-letter index hold only rows that have one (a webhook's
-- change has neither, so its insert skips them). Every query stays indexed: see the
-- `every_journal_query_uses_an_index` test.
DROP INDEX changes_by_external_id;
DROP INDEX changes_by_key;
CREATE INDEX changes_by_key ON changes(external_id, list_id, seq);
DROP INDEX changes_by_run;
CREATE INDEX changes_by_run ON changes(run_id, outcome) WHERE run_id IS NOT NULL;
CREATE INDEX changes_by_dead_letter ON changes(dead_letter_id) WHERE dead_letter_id IS NOT NULL;
"#,
];

/// Builds the response summary stored with a batch's delivery ids from the batch's seqs
/// (called inside the transaction, once the seqs are known).
pub type BatchSummary = Box<dyn FnOnce(&[i64]) -> String + Send>;

/// One source's batch for [`Journal::accept_group`]: its changes and the delivery ids
/// they carry, committed together.
pub struct NewBatch {
    /// Source name.
    pub source: String,
    /// The source's contact list.
    pub list_id: String,
    /// The changes, in order.
    pub changes: Vec<Change>,
    /// The import run they belong to.
    pub run_id: Option<i64>,
    /// Delivery ids (webhook dedup) to remember with the changes.
    pub deliveries: Vec<String>,
    /// The summary stored with the delivery ids (`{}` when `None`).
    pub summary: Option<BatchSummary>,
}

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
    /// Another store backend (PostgreSQL) failed; the message never holds a password.
    #[error("{backend} journal error: {message}")]
    Backend {
        /// Which backend.
        backend: &'static str,
        /// What failed.
        message: String,
    },
    /// A blocking journal task panicked or was cancelled.
    #[error("journal task failed: {0}")]
    Task(String),
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

/// The per-contact state of a key: what every delivery rule is decided from.
#[derive(Debug, Clone, Default)]
pub struct ContactState {
    /// Source updated-at of the newest applied change.
    pub updated_at: Option<DateTime<Utc>>,
    /// Newest source updated-at ever finished for the contact, whatever the outcome
    /// (applied, unchanged, removed, do-not-call, rejected); dead letters do not count.
    pub seen_at: Option<DateTime<Utc>>,
    /// Hash of the last written content.
    pub content_hash: Option<String>,
    /// Last full row written.
    pub row: Option<Row>,
    /// The CRM record is deleted (a tombstone until a newer change).
    pub removed: bool,
    /// Do-not-call state.
    pub compliance: Compliance,
}

impl ContactState {
    /// The last-write-wins mark: anything older is stale.
    pub fn mark(&self) -> Option<DateTime<Utc>> {
        self.seen_at.max(self.updated_at)
    }
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
    /// The key's per-contact state.
    pub state: ContactState,
}

/// How one key's processing ended, written back in one transaction.
#[derive(Debug, Clone)]
pub enum KeyResult {
    /// Each change gets its terminal outcome; `seen` and `applied` update the contact state.
    Finished {
        /// (seq, outcome, error JSON).
        outcomes: Vec<(i64, Outcome, Option<String>)>,
        /// New contact state, when something was applied.
        applied: Option<NewState>,
        /// What the finished changes taught about the contact (None: only stale ones).
        seen: Option<Seen>,
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

/// The per-contact facts learnt from a key's finished changes, whatever their outcome.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Source of the newest change.
    pub source: String,
    /// Newest source updated-at among the finished changes.
    pub seen_at: DateTime<Utc>,
    /// Compliance after the changes.
    pub compliance: Compliance,
    /// Whether the record is deleted after the changes (None: unknown, keep).
    pub removed: Option<bool>,
}

/// One change as shown by `status`.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRecord {
    /// Sequence number.
    pub seq: i64,
    /// Source name.
    pub source: String,
    /// Operation.
    pub op: Operation,
    /// Source updated-at (RFC 3339).
    pub source_updated_at: String,
    /// Where the change is.
    pub state: ChangeState,
    /// Terminal outcome, once done.
    pub outcome: Option<Outcome>,
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
    /// Newest source updated-at ever finished; anything older is stale.
    pub seen_updated_at: Option<String>,
    /// The contact is do-not-call (sticky until consent is restored in the source).
    pub do_not_call: bool,
    /// Outcome of the newest finished change.
    pub last_outcome: Option<Outcome>,
    /// Every change for this key still in the journal, oldest first (finished changes
    /// older than the retention window are pruned; the fields above remain).
    pub changes: Vec<ChangeRecord>,
}

/// A do-not-call change that Genesys keeps refusing: an alert until it is applied.
#[derive(Debug, Clone, Serialize)]
pub struct ComplianceAlert {
    /// Journal sequence.
    pub seq: i64,
    /// Source.
    pub source: String,
    /// Contact list.
    pub list_id: String,
    /// externalId.
    pub external_id: String,
    /// Attempts so far.
    pub attempts: u32,
    /// The last error.
    pub error: Option<String>,
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

/// How a journal connection behaves.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// How long a statement waits for another process's write lock.
    pub busy_timeout: std::time::Duration,
    /// How long a claim is valid without renewal.
    pub lease: std::time::Duration,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            busy_timeout: std::time::Duration::from_secs(30),
            lease: std::time::Duration::from_secs(60),
        }
    }
}

/// The journal: one SQLite connection and its lease owner id.
pub struct Journal {
    conn: Connection,
    owner: String,
    lease_ms: i64,
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
    /// Opens (creating if needed) a journal file and migrates it. Other processes' claims
    /// are left alone: they are taken over only once their lease expires.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        Journal::open_with(path, &JournalOptions::default())
    }

    /// Like [`Journal::open`], with explicit options.
    pub fn open_with(path: &Path, options: &JournalOptions) -> Result<Journal, JournalError> {
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(options.busy_timeout)?;
        // Every statement the journal runs stays prepared (see `exec_cached`).
        conn.set_prepared_statement_cache_capacity(64);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut conn)?;
        Ok(Journal {
            conn,
            owner: super::owner::lease_owner_id(),
            lease_ms: options.lease.as_millis() as i64,
        })
    }

    /// Opens a journal to read or requeue (status, dead letters); the same as
    /// [`Journal::open`] (opening never touches claims).
    pub fn inspect(path: &Path) -> Result<Journal, JournalError> {
        Journal::open(path)
    }

    /// This connection's lease owner id.
    pub fn owner(&self) -> &str {
        &self.owner
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
        let batch = NewBatch {
            source: source.to_string(),
            list_id: list_id.to_string(),
            changes: changes.to_vec(),
            run_id,
            deliveries: Vec::new(),
            summary: None,
        };
        Ok(self.accept_group(vec![batch], now_ms)?.remove(0))
    }

    /// Durably records several batches — changes and their delivery ids — in ONE
    /// transaction (one fsync: group commit); returns each batch's seqs. Delivery ids
    /// already recorded keep their first summary.
    pub fn accept_group(
        &mut self,
        batches: Vec<NewBatch>,
        now_ms: i64,
    ) -> Result<Vec<Vec<i64>>, JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = insert_group(&tx, batches, now_ms)?;
        tx.commit()?;
        Ok(out)
    }

    /// [`Journal::accept_group`] committed without an fsync of its own: the rows are in
    /// the WAL but durable only once the WAL is synced (see [`crate::wal_sync`], which
    /// the store's pipelined accept waits for before anyone is told).
    pub(crate) fn accept_group_unsynced(
        &mut self,
        batches: Vec<NewBatch>,
        now_ms: i64,
    ) -> Result<Vec<Vec<i64>>, JournalError> {
        unsynced_transaction(&mut self.conn, |tx| insert_group(tx, batches, now_ms))
    }

    /// The connection's `PRAGMA synchronous` (2 = FULL: every commit fsyncs itself).
    #[cfg(test)]
    pub(crate) fn synchronous(&self) -> Result<i64, JournalError> {
        Ok(self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))?)
    }

    /// The journal's write-ahead log file (`<path>-wal`), or `None` for an in-memory
    /// journal.
    pub(crate) fn wal_path(&self) -> Option<std::path::PathBuf> {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .map(|p| std::path::PathBuf::from(format!("{p}-wal")))
    }

    /// The stored summary of a delivery id of `source`, if it was delivered.
    pub fn delivery(&self, source: &str, id: &str) -> Result<Option<String>, JournalError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT summary FROM server_webhook_deliveries WHERE source = ?1 AND delivery_id = ?2",
            )?
            .query_row(params![source, id], |r| r.get(0))
            .optional()?)
    }

    /// Which of `ids` of `source` were already delivered.
    pub fn known_deliveries(
        &self,
        source: &str,
        ids: &[String],
    ) -> Result<Vec<String>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT 1 FROM server_webhook_deliveries WHERE source = ?1 AND delivery_id = ?2",
        )?;
        let mut known = Vec::new();
        for id in ids {
            if stmt.exists(params![source, id])? {
                known.push(id.clone());
            }
        }
        Ok(known)
    }

    /// How many delivery ids are stored for `source`.
    pub fn delivery_count(&self, source: &str) -> Result<u64, JournalError> {
        Ok(query_row_cached(
            &self.conn,
            "SELECT COUNT(*) FROM server_webhook_deliveries WHERE source = ?1",
            params![source],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Number of changes not yet finished (pending or claimed).
    pub fn unfinished(&self) -> Result<u64, JournalError> {
        Ok(query_row_cached(
            &self.conn,
            "SELECT COUNT(*) FROM changes WHERE state IN ('pending', 'claimed')",
            [],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Unfinished changes of the given lists that still need work: do-not-call changes
    /// that failed `alert_attempts` times or more are alerts (they keep retrying on their
    /// lane, and are listed by [`Journal::compliance_alerts`]) and are not counted.
    pub fn unfinished_in(
        &self,
        lists: &[String],
        alert_attempts: u32,
    ) -> Result<u64, JournalError> {
        let lists_json = serde_json::to_string(lists).expect("strings serialise");
        Ok(query_row_cached(
            &self.conn,
            "SELECT COUNT(*) FROM changes WHERE state IN ('pending', 'claimed')
                AND list_id IN (SELECT value FROM json_each(?1))
                AND NOT (priority = 0 AND attempts >= ?2)",
            params![lists_json, alert_attempts],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Do-not-call changes not yet applied after `min_attempts` attempts or more.
    pub fn compliance_alerts(
        &self,
        min_attempts: u32,
    ) -> Result<Vec<ComplianceAlert>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, source, list_id, external_id, attempts, error FROM changes
             WHERE state IN ('pending', 'claimed') AND priority = 0 AND attempts >= ?1 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map(params![min_attempts], |r| {
                Ok(ComplianceAlert {
                    seq: r.get(0)?,
                    source: r.get(1)?,
                    list_id: r.get(2)?,
                    external_id: r.get(3)?,
                    attempts: r.get(4)?,
                    error: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Earliest time (ms since the epoch) a key of the given lists becomes ready: a parked
    /// key's retry time (its do-not-call lane's, if sooner), or another owner's lease expiry
    /// (keys this journal has claimed are left out: their round is still running).
    pub fn next_ready_at(&self, lists: &[String]) -> Result<Option<i64>, JournalError> {
        let lists_json = serde_json::to_string(lists).expect("strings serialise");
        Ok(query_row_cached(
            &self.conn,
            "SELECT MIN(t) FROM (
                    SELECT CASE WHEN SUM(state = 'claimed' AND claim_owner = ?2) > 0
                        THEN NULL
                        WHEN SUM(state = 'claimed') > 0
                        THEN MAX(COALESCE(claim_expires_at, 0))
                        ELSE MIN(MAX(next_attempt_at),
                                 COALESCE(MIN(CASE WHEN priority = 0 THEN next_attempt_at END),
                                          MAX(next_attempt_at)))
                    END AS t
                    FROM changes
                    WHERE state IN ('pending', 'claimed')
                      AND list_id IN (SELECT value FROM json_each(?1))
                    GROUP BY list_id, external_id)",
            params![lists_json, self.owner],
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
            let mut stmt = self.conn.prepare_cached(
                "SELECT list_id FROM changes
                 WHERE external_id = ?1 AND (?2 IS NULL OR source = ?2)
                 UNION
                 SELECT list_id FROM contacts
                 WHERE external_id = ?1 AND (?2 IS NULL OR source = ?2)
                 ORDER BY list_id",
            )?;
            stmt.query_map(params![external_id, source], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        lists.dedup();
        let mut out = Vec::new();
        for list_id in lists {
            let (row, removed, applied_at, last_outcome, seen_at, do_not_call) = query_row_cached(
                &self.conn,
                "SELECT row, removed, applied_updated_at, last_outcome, seen_updated_at,
                        do_not_call
                     FROM contacts WHERE list_id = ?1 AND external_id = ?2",
                params![list_id, external_id],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<Outcome>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, bool>(5)?,
                    ))
                },
            )
            .optional()?
            .unwrap_or((None, false, None, None, None, false));
            let row = parse_row(row)?;
            let mut stmt = self.conn.prepare_cached(
                "SELECT seq, source, op, source_updated_at, state, outcome, error, attempts
                 FROM changes WHERE list_id = ?1 AND external_id = ?2 ORDER BY seq",
            )?;
            let changes = stmt
                .query_map(params![list_id, external_id], |r| {
                    let error: Option<String> = r.get(6)?;
                    Ok(ChangeRecord {
                        seq: r.get(0)?,
                        source: r.get(1)?,
                        op: operation_at(r, 2)?,
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
                seen_updated_at: seen_at.map(|v| from_micros(v).to_rfc3339()),
                do_not_call,
                last_outcome,
                changes,
            });
        }
        Ok(out)
    }

    /// Dead letters not yet replayed, oldest first.
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
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
            let mut stmt = tx.prepare_cached(
                "SELECT id FROM dead_letters WHERE replayed_at IS NULL ORDER BY id",
            )?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        let (wanted, missing): (Vec<i64>, Vec<i64>) = match ids {
            None => (open.clone(), vec![]),
            Some(ids) => ids.iter().partition(|id| open.contains(id)),
        };
        for id in &wanted {
            exec_cached(
                &tx,
                "UPDATE changes SET state = 'pending', outcome = NULL, attempts = 0,
                    next_attempt_at = 0, finished_at = NULL, dead_letter_id = NULL
                 WHERE dead_letter_id = ?1",
                params![id],
            )?;
            exec_cached(
                &tx,
                "UPDATE dead_letters SET replayed_at = ?2 WHERE id = ?1",
                params![id, now_ms],
            )?;
        }
        tx.commit()?;
        Ok((wanted, missing))
    }

    /// Retention: deletes finished changes that finished before `before_ms` (except those of
    /// open dead letters, which stay replayable) and webhook delivery ids received before
    /// then. The per-contact state is kept, so `status` and every delivery rule still
    /// answer for pruned changes. Returns the number of changes deleted.
    pub fn prune(&mut self, before_ms: i64) -> Result<u64, JournalError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let deleted = exec_cached(
            &tx,
            "DELETE FROM changes WHERE state = 'done' AND finished_at < ?1
                AND (dead_letter_id IS NULL OR dead_letter_id IN
                     (SELECT id FROM dead_letters WHERE replayed_at IS NOT NULL))",
            params![before_ms],
        )?;
        exec_cached(
            &tx,
            "DELETE FROM dead_letters WHERE replayed_at IS NOT NULL AND replayed_at < ?1",
            params![before_ms],
        )?;
        // Delivery ids: `received_at` is RFC 3339 in UTC, so it orders as text.
        exec_cached(
            &tx,
            "DELETE FROM server_webhook_deliveries WHERE received_at < ?1",
            params![rfc3339_ms(before_ms)],
        )?;
        tx.commit()?;
        Ok(deleted as u64)
    }

    /// Copies the write-ahead log into the main file and truncates it (for size reports).
    pub fn checkpoint(&mut self) -> Result<(), JournalError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Starts an import run and returns its id.
    pub fn start_run(
        &mut self,
        source: &str,
        input: &str,
        now_ms: i64,
    ) -> Result<i64, JournalError> {
        exec_cached(
            &self.conn,
            "INSERT INTO import_runs (source, input, started_at) VALUES (?1, ?2, ?3)",
            params![source, input, now_ms],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Stores a run's final report.
    pub fn finish_run(&mut self, id: i64, report: &str, now_ms: i64) -> Result<(), JournalError> {
        exec_cached(
            &self.conn,
            "UPDATE import_runs SET finished_at = ?2, report = ?3 WHERE id = ?1",
            params![id, now_ms, report],
        )?;
        Ok(())
    }

    /// Counts of finished outcomes for a run (or for the whole journal).
    pub fn outcome_counts(&self, run_id: Option<i64>) -> Result<Vec<(Outcome, u64)>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT outcome, COUNT(*) FROM changes
             WHERE state = 'done' AND (?1 IS NULL OR run_id = ?1) GROUP BY outcome",
        )?;
        let rows = stmt
            .query_map(params![run_id], |r| {
                Ok((r.get::<_, Outcome>(0)?, r.get::<_, i64>(1)? as u64))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Finished changes of a run with the given outcome: (seq, externalId, error JSON).
    pub fn run_failures(
        &self,
        run_id: i64,
        outcome: Outcome,
    ) -> Result<Vec<(i64, String, Option<String>)>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, external_id, error FROM changes
             WHERE run_id = ?1 AND outcome = ?2 ORDER BY seq",
        )?;
        let rows = stmt
            .query_map(params![run_id, outcome], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// Inserts each batch's changes and delivery ids in `tx`; returns each batch's seqs.
fn insert_group(
    tx: &Transaction<'_>,
    batches: Vec<NewBatch>,
    now_ms: i64,
) -> Result<Vec<Vec<i64>>, JournalError> {
    let mut out = Vec::with_capacity(batches.len());
    let mut insert = tx.prepare_cached(
        "INSERT INTO changes (source, list_id, external_id, op, priority, source_updated_at,
            payload, state, accepted_at, run_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut delivered = tx.prepare_cached(
        "INSERT OR IGNORE INTO server_webhook_deliveries (source, delivery_id, received_at, summary)
         VALUES (?1, ?2, ?3, ?4)",
    )?;
    let received_at = rfc3339_ms(now_ms);
    for batch in batches {
        let mut seqs = Vec::with_capacity(batch.changes.len());
        for change in &batch.changes {
            let payload =
                serde_json::to_string(change).expect("a change always serialises to JSON");
            insert.execute(params![
                batch.source,
                batch.list_id,
                change.external_id,
                change.operation.as_str(),
                Lane::of(change),
                micros(change.source_updated_at),
                payload,
                ChangeState::Pending,
                now_ms,
                batch.run_id
            ])?;
            seqs.push(tx.last_insert_rowid());
        }
        if !batch.deliveries.is_empty() {
            let summary = match batch.summary {
                Some(f) => f(&seqs),
                None => "{}".to_string(),
            };
            for id in &batch.deliveries {
                delivered.execute(params![batch.source, id, received_at, summary])?;
            }
        }
        out.push(seqs);
    }
    Ok(out)
}

/// Runs `f` in an immediate transaction committed without an fsync of its own
/// (`synchronous=NORMAL` for that commit), then puts the connection back to
/// `synchronous=FULL`. WAL frames are appended in order, so the next fsync of the log —
/// any `FULL` commit's, a checkpoint's or [`crate::wal_sync`]'s — makes it durable along
/// with everything before it. Setting the flag does no I/O; it is restored whether or not
/// `f` succeeded.
pub(crate) fn unsynced_transaction<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Transaction<'_>) -> Result<T, JournalError>,
) -> Result<T, JournalError> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let out = (|| -> Result<T, JournalError> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    })();
    let restored = conn.pragma_update(None, "synchronous", "FULL");
    let value = out?;
    restored?;
    Ok(value)
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

/// Runs `sql` through the connection's prepared-statement cache. The journal's hot
/// statements (claim, finish, accept) were parsed and planned again on every call: that
/// was a fifth of a busy server's CPU (`perf` on the `webhooks` bench).
fn exec_cached(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// [`Connection::query_row`] through the prepared-statement cache (see [`exec_cached`]).
fn query_row_cached<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::TimeZone;

    use super::*;
    use crate::Operation;

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

    fn lists() -> Vec<String> {
        vec!["L".to_string()]
    }

    #[test]
    fn claims_are_leases_taken_over_only_when_expired() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let lease = JournalOptions {
            lease: std::time::Duration::from_millis(1_000),
            ..Default::default()
        };
        let mut j = Journal::open_with(&path, &lease).unwrap();
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
        let claimed = j.claim_ready(0, 10, &lists()).unwrap();
        assert_eq!(claimed.len(), 1);
        assert!(
            j.claim_ready(0, 10, &lists()).unwrap().is_empty(),
            "claimed once"
        );
        // A second process opens the journal: the live claim is not reset.
        let mut other = Journal::open_with(&path, &lease).unwrap();
        assert!(other.claim_ready(500, 10, &lists()).unwrap().is_empty());
        assert_eq!(other.next_ready_at(&lists()).unwrap(), Some(1_000));
        // Renewed by its owner, it stays; once expired (the owner died), it is taken over.
        j.renew(900).unwrap();
        assert!(other.claim_ready(1_500, 10, &lists()).unwrap().is_empty());
        let again = other.claim_ready(1_900, 10, &lists()).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].changes[0].change.columns["name"], "a");
        // The old owner's late finish is fenced off; the new owner's lands.
        let done = |seq| {
            vec![(
                "L".to_string(),
                "A".to_string(),
                KeyResult::Finished {
                    outcomes: vec![(seq, Outcome::Applied, None)],
                    applied: None,
                    seen: None,
                },
            )]
        };
        assert_eq!(j.finish(&done(seqs[0]), 2_000).unwrap(), 0);
        assert_eq!(other.finish(&done(seqs[0]), 2_000).unwrap(), 1);
        assert_eq!(other.unfinished().unwrap(), 0);
        // Lists without a binding are never claimed.
        other
            .accept("x", "M", &[change("B", Operation::Upsert, 1, "b")], None, 0)
            .unwrap();
        assert!(other.claim_ready(3_000, 10, &lists()).unwrap().is_empty());
        let version: i64 = j
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_released_round_is_claimable_at_once() {
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
        assert_eq!(j.claim_ready(0, 10, &lists()).unwrap().len(), 1);
        j.release().unwrap();
        assert_eq!(j.claim_ready(0, 10, &lists()).unwrap().len(), 1);
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
        let first = j.claim_ready(0, 1, &lists()).unwrap();
        assert_eq!(first[0].external_id, "C", "do-not-call goes first");
        let rest = j.claim_ready(0, 10, &lists()).unwrap();
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
        assert!(j.claim_ready(0, 10, &lists()).unwrap().is_empty());
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
                    seen: None,
                },
            )],
            0,
        )
        .unwrap();
        let next = j.claim_ready(0, 10, &lists()).unwrap();
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].external_id, "A");
        assert_eq!(next[0].state.content_hash.as_deref(), Some("h"));
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
        let k = j.claim_ready(0, 10, &lists()).unwrap().remove(0);
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
        assert_eq!(j.next_ready_at(&lists()).unwrap(), Some(5_000));
        assert!(j.claim_ready(4_999, 10, &lists()).unwrap().is_empty());
        let k = j.claim_ready(5_000, 10, &lists()).unwrap().remove(0);
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
        let k = j.claim_ready(7_000, 10, &lists()).unwrap().remove(0);
        assert_eq!(k.changes[0].attempts, 0);
        let status = j.status("A", Some("sn")).unwrap();
        assert_eq!(status[0].changes[0].state, ChangeState::Claimed);
    }

    #[test]
    fn retention_prunes_finished_changes_and_keeps_the_contact_state() {
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
        let k = j.claim_ready(0, 10, &lists()).unwrap().remove(0);
        let seq = k.changes[0].seq;
        j.finish(
            &[(
                "L".into(),
                "A".into(),
                KeyResult::Finished {
                    outcomes: vec![(seq, Outcome::Applied, None)],
                    applied: Some(NewState {
                        source: "sn".into(),
                        contact_id: "id-a".into(),
                        updated_at: k.changes[0].change.source_updated_at,
                        content_hash: "h".into(),
                        row: None,
                        removed: false,
                        seq,
                    }),
                    seen: Some(Seen {
                        source: "sn".into(),
                        seen_at: k.changes[0].change.source_updated_at,
                        compliance: Compliance::default(),
                        removed: Some(false),
                    }),
                },
            )],
            1_000,
        )
        .unwrap();
        assert_eq!(j.prune(1_000).unwrap(), 0, "not older than the window yet");
        assert_eq!(j.prune(1_001).unwrap(), 1);
        let status = j.status("A", Some("sn")).unwrap();
        assert_eq!(
            status.len(),
            1,
            "status still answers from the contact state"
        );
        assert!(status[0].changes.is_empty());
        assert!(status[0].seen_updated_at.is_some());
        assert_eq!(status[0].last_outcome, Some(Outcome::Applied));
        // The mark survives pruning: an older change is still stale.
        j.accept(
            "sn",
            "L",
            &[change("A", Operation::Upsert, 0, "old")],
            None,
            2_000,
        )
        .unwrap();
        let k = j.claim_ready(2_000, 10, &lists()).unwrap().remove(0);
        assert!(k.state.mark().unwrap() > k.changes[0].change.source_updated_at);
    }
}

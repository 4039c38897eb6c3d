//! Every journal query the console makes that the sync engine does not already offer,
//! in one place and read-only: activity per source per hour, queue depth, the last error,
//! record search by externalId / CRM id / phone, a contact's full history and the outcome
//! of given changes.
//!
//! [`ConsoleData`] reads whichever store `[store]` names: the SQLite file ([`SqliteData`],
//! here) or the shared PostgreSQL database ([`super::pg_data::PgData`], the same queries
//! ported to its schema). These two are the files to adapt when the journal's schema
//! changes: they read the `changes`, `contacts` and `import_runs` tables directly (SQLite
//! through a read-only connection, so it can never disturb the engine's claims). Windows
//! are found by binary search on `seq` (accepted_at grows with seq), so an overview reads
//! only the last two days' rows, not the whole journal.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

/// Hours covered by the activity chart.
pub const HOURS: usize = 24;
pub(super) const HOUR_MS: i64 = 3_600_000;
/// Changes still unfinished this long after acceptance are not counted in the activity
/// windows (the engine gives up far sooner: its retries span minutes).
pub(super) const LOOKBACK_MS: i64 = 2 * 24 * HOUR_MS;
/// Import runs `/v1/admin/runs` lists (newest first).
pub const MAX_RUNS: i64 = 500;

/// A failed read of the journal.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// SQLite failed.
    #[error("journal read failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("journal read failed: {0}")]
    Postgres(#[from] dialsync_pg::PgError),
    /// The blocking read task panicked or was cancelled.
    #[error("journal read task failed: {0}")]
    Task(String),
}

/// Counts for one hour (or a sum of hours).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Changes accepted (journalled).
    pub accepted: u64,
    /// Changes that ended `applied`.
    pub applied: u64,
    /// Changes that ended `rejected`.
    pub rejected: u64,
    /// Changes that ended `dead-lettered`.
    pub dead_lettered: u64,
    /// Changes that ended `unchanged`, `stale`, `superseded` or `skipped`.
    pub other: u64,
}

impl Counts {
    /// `[accepted, applied, rejected, deadLettered, other]`: the overview's compact form
    /// for its hourly series (100 sources × 24 hours stay small).
    pub fn as_array(&self) -> [u64; 5] {
        [
            self.accepted,
            self.applied,
            self.rejected,
            self.dead_lettered,
            self.other,
        ]
    }

    /// Adds another window's counts.
    pub fn add(&mut self, o: &Counts) {
        self.accepted += o.accepted;
        self.applied += o.applied;
        self.rejected += o.rejected;
        self.dead_lettered += o.dead_lettered;
        self.other += o.other;
    }
}

/// The most recent error recorded for a source.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    /// When (ms since the epoch): finished, or accepted for a change still retrying.
    pub at_ms: i64,
    /// The record.
    pub external_id: String,
    /// Its outcome so far (`None` while it is still retrying).
    pub outcome: Option<String>,
    /// Field errors or the last delivery error.
    pub error: Value,
}

/// One source's activity.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceActivity {
    /// Per hour, oldest first; the last entry is the last 60 minutes.
    pub hourly: Vec<Counts>,
    /// Changes not yet finished (pending, retrying or in flight).
    pub queue: u64,
    /// The most recent error, if any in the last two days.
    pub last_error: Option<LastError>,
}

impl Default for SourceActivity {
    fn default() -> Self {
        SourceActivity {
            hourly: vec![Counts::default(); HOURS],
            queue: 0,
            last_error: None,
        }
    }
}

/// How to search for records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SearchBy {
    /// The externalId, exactly.
    ExternalId,
    /// The CRM's own record id.
    SourceId,
    /// An E.164 phone number the record carried.
    Phone,
}

/// A record key: (contact list, externalId).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordKey {
    /// Contact list.
    pub list_id: String,
    /// externalId.
    pub external_id: String,
}

/// One change in a contact's history.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Journal sequence number.
    pub seq: i64,
    /// Source.
    pub source: String,
    /// Operation.
    pub op: String,
    /// pending | claimed | done.
    pub state: String,
    /// Terminal outcome, once done.
    pub outcome: Option<String>,
    /// Field errors or the last error.
    pub error: Option<Value>,
    /// Delivery attempts.
    pub attempts: u32,
    /// When it was accepted (ms).
    pub accepted_at_ms: i64,
    /// When it finished (ms).
    pub finished_at_ms: Option<i64>,
    /// The mapped change as the plugin produced it.
    pub change: Value,
    /// Whether this change's row is the one last written to Genesys.
    pub written: bool,
}

/// Everything the journal holds about one contact.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactHistory {
    /// The key.
    #[serde(flatten)]
    pub key: RecordKey,
    /// The last row written to Genesys (data columns and callable), if any.
    pub row: Option<Value>,
    /// Whether the CRM record is deleted.
    pub removed: bool,
    /// Outcome of the newest finished change.
    pub last_outcome: Option<String>,
    /// Every change, oldest first.
    pub changes: Vec<HistoryEntry>,
}

/// Where a change is now.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeState {
    /// Journal sequence number.
    pub seq: i64,
    /// externalId.
    pub external_id: String,
    /// pending | claimed | done.
    pub state: String,
    /// Terminal outcome, once done.
    pub outcome: Option<String>,
    /// Error, if any.
    pub error: Option<Value>,
}

/// One import run, as `/v1/admin/runs` lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRun {
    /// Run id.
    pub id: i64,
    /// Source.
    pub source: String,
    /// What was imported (file name).
    pub input: String,
    /// When it started (ms).
    pub started_at_ms: i64,
    /// When it finished (ms), once finished.
    pub finished_at_ms: Option<i64>,
    /// Its report (`null` until finished, or when the stored text is not JSON).
    pub report: Option<Value>,
}

/// Read-only access to the journal, on the store `[store]` names.
#[derive(Debug, Clone)]
pub enum ConsoleData {
    /// The SQLite file.
    Sqlite(SqliteData),
    /// The shared PostgreSQL database.
    Postgres(super::pg_data::PgData),
}

impl ConsoleData {
    /// The journal the server works: its PostgreSQL pool when `[store] url` is set, else
    /// the SQLite file at `[store] path`.
    pub fn for_app(app: &crate::server::AppState) -> ConsoleData {
        match &app.pg {
            Some(pool) => ConsoleData::Postgres(super::pg_data::PgData::new(pool.clone())),
            None => ConsoleData::Sqlite(SqliteData::new(&app.store_path)),
        }
    }

    /// Runs a SQLite read off the async executor.
    async fn blocking<T, F>(data: &SqliteData, f: F) -> Result<T, DataError>
    where
        T: Send + 'static,
        F: FnOnce(&SqliteData) -> Result<T, DataError> + Send + 'static,
    {
        let me = data.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .unwrap_or_else(|e| Err(DataError::Task(e.to_string())))
    }

    /// Per source: hourly counts for the last [`HOURS`] hours, queue depth, last error.
    pub async fn activity(
        &self,
        now_ms: i64,
    ) -> Result<std::collections::BTreeMap<String, SourceActivity>, DataError> {
        match self {
            ConsoleData::Sqlite(d) => Self::blocking(d, move |d| d.activity(now_ms)).await,
            ConsoleData::Postgres(d) => d.activity(now_ms).await,
        }
    }

    /// Records matching `query`, at most `limit`, sorted.
    pub async fn search(
        &self,
        by: SearchBy,
        query: &str,
        limit: usize,
    ) -> Result<Vec<RecordKey>, DataError> {
        match self {
            ConsoleData::Sqlite(d) => {
                let query = query.to_owned();
                Self::blocking(d, move |d| d.search(by, &query, limit)).await
            }
            ConsoleData::Postgres(d) => d.search(by, query, limit).await,
        }
    }

    /// The contact's journal history (`None` when the journal never saw it).
    pub async fn history(&self, key: &RecordKey) -> Result<Option<ContactHistory>, DataError> {
        match self {
            ConsoleData::Sqlite(d) => {
                let key = key.clone();
                Self::blocking(d, move |d| d.history(&key)).await
            }
            ConsoleData::Postgres(d) => d.history(key).await,
        }
    }

    /// Where the given changes are now (in the order asked; unknown seqs left out).
    pub async fn changes(&self, seqs: &[i64]) -> Result<Vec<ChangeState>, DataError> {
        match self {
            ConsoleData::Sqlite(d) => {
                let seqs = seqs.to_vec();
                Self::blocking(d, move |d| d.changes(&seqs)).await
            }
            ConsoleData::Postgres(d) => d.changes(seqs).await,
        }
    }

    /// Import runs, newest first (at most [`MAX_RUNS`]).
    pub async fn runs(&self) -> Result<Vec<ImportRun>, DataError> {
        match self {
            ConsoleData::Sqlite(d) => Self::blocking(d, SqliteData::runs).await,
            ConsoleData::Postgres(d) => d.runs().await,
        }
    }
}

/// Read-only access to the SQLite journal file.
#[derive(Debug, Clone)]
pub struct SqliteData {
    path: PathBuf,
}

/// A stored JSON text as JSON, or as a string when it is not JSON.
pub(super) fn json_or_string(text: String) -> Value {
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// Sorts an outcome into its [`Counts`] field.
pub(super) fn count_outcome(c: &mut Counts, outcome: Option<&str>, n: u64) {
    match outcome {
        Some("applied") => c.applied += n,
        Some("rejected") => c.rejected += n,
        Some("dead-lettered") => c.dead_lettered += n,
        _ => c.other += n,
    }
}

/// The activity chart's bucket of a change `age_ms` old (the last is the last hour).
pub(super) fn bucket(age_ms: i64) -> usize {
    let age_hours = (age_ms.max(0) / HOUR_MS) as usize;
    HOURS - 1 - age_hours.min(HOURS - 1)
}

impl SqliteData {
    /// Reads the journal at `path`.
    pub fn new(path: &Path) -> SqliteData {
        SqliteData {
            path: path.to_owned(),
        }
    }

    fn conn(&self) -> Result<Connection, DataError> {
        let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(conn)
    }

    /// Per source: hourly counts for the last [`HOURS`] hours, queue depth, last error.
    pub fn activity(
        &self,
        now_ms: i64,
    ) -> Result<std::collections::BTreeMap<String, SourceActivity>, DataError> {
        let conn = self.conn()?;
        let lo = first_seq_since(&conn, now_ms - LOOKBACK_MS)?;
        let since = now_ms - HOURS as i64 * HOUR_MS;
        let mut out: std::collections::BTreeMap<String, SourceActivity> = Default::default();
        let mut stmt = conn.prepare(
            "SELECT source, ?1 - accepted_at, COUNT(*) FROM changes
             WHERE seq >= ?2 AND accepted_at > ?3 GROUP BY source, (?1 - accepted_at) / 3600000",
        )?;
        let rows = stmt.query_map(params![now_ms, lo, since], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        for row in rows {
            let (source, age, n) = row?;
            out.entry(source).or_default().hourly[bucket(age)].accepted += n as u64;
        }
        let mut stmt = conn.prepare(
            "SELECT source, outcome, ?1 - finished_at, COUNT(*) FROM changes
             WHERE seq >= ?2 AND state = 'done' AND finished_at > ?3
             GROUP BY source, outcome, (?1 - finished_at) / 3600000",
        )?;
        let rows = stmt.query_map(params![now_ms, lo, since], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (source, outcome, age, n) = row?;
            let c = &mut out.entry(source).or_default().hourly[bucket(age)];
            count_outcome(c, outcome.as_deref(), n as u64);
        }
        let mut stmt = conn.prepare(
            "SELECT source, COUNT(*) FROM changes WHERE state IN ('pending', 'claimed') GROUP BY source",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (source, n) = row?;
            out.entry(source).or_default().queue = n as u64;
        }
        let mut stmt = conn.prepare(
            "SELECT c.source, COALESCE(c.finished_at, c.accepted_at), c.external_id, c.outcome, c.error
             FROM changes c
             JOIN (SELECT MAX(seq) AS seq FROM changes
                   WHERE seq >= ?1 AND error IS NOT NULL GROUP BY source) m ON m.seq = c.seq",
        )?;
        let rows = stmt.query_map(params![lo], |r| {
            Ok((
                r.get::<_, String>(0)?,
                LastError {
                    at_ms: r.get(1)?,
                    external_id: r.get(2)?,
                    outcome: r.get(3)?,
                    error: json_or_string(r.get(4)?),
                },
            ))
        })?;
        for row in rows {
            let (source, e) = row?;
            out.entry(source).or_default().last_error = Some(e);
        }
        Ok(out)
    }

    /// Records matching `query`, at most `limit`.
    pub fn search(
        &self,
        by: SearchBy,
        query: &str,
        limit: usize,
    ) -> Result<Vec<RecordKey>, DataError> {
        let conn = self.conn()?;
        let sql = match by {
            SearchBy::ExternalId => {
                "SELECT DISTINCT list_id, external_id FROM changes WHERE external_id = ?1 LIMIT ?2"
            }
            SearchBy::SourceId => {
                "SELECT DISTINCT list_id, external_id FROM changes
                 WHERE json_extract(payload, '$.source_id') = ?1 LIMIT ?2"
            }
            SearchBy::Phone => {
                "SELECT DISTINCT list_id, external_id FROM changes
                 WHERE EXISTS (SELECT 1 FROM json_each(changes.payload, '$.phones') p
                               WHERE json_extract(p.value, '$.number') = ?1) LIMIT ?2"
            }
        };
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params![query, limit as i64], |r| {
            Ok(RecordKey {
                list_id: r.get(0)?,
                external_id: r.get(1)?,
            })
        })?;
        let mut keys = rows.collect::<Result<Vec<_>, _>>()?;
        keys.sort();
        Ok(keys)
    }

    /// The contact's journal history (`None` when the journal never saw it).
    pub fn history(&self, key: &RecordKey) -> Result<Option<ContactHistory>, DataError> {
        let conn = self.conn()?;
        let contact = conn
            .query_row(
                "SELECT row, removed, last_outcome, last_seq FROM contacts
                 WHERE list_id = ?1 AND external_id = ?2",
                params![key.list_id, key.external_id],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                    ))
                },
            )
            .optional()?;
        let (row, removed, last_outcome, last_seq) = contact.unwrap_or((None, false, None, None));
        let mut stmt = conn.prepare(
            "SELECT seq, source, op, state, outcome, error, attempts, accepted_at, finished_at, payload
             FROM changes WHERE list_id = ?1 AND external_id = ?2 ORDER BY seq",
        )?;
        let changes = stmt
            .query_map(params![key.list_id, key.external_id], |r| {
                let seq: i64 = r.get(0)?;
                Ok(HistoryEntry {
                    seq,
                    source: r.get(1)?,
                    op: r.get(2)?,
                    state: r.get(3)?,
                    outcome: r.get(4)?,
                    error: r.get::<_, Option<String>>(5)?.map(json_or_string),
                    attempts: r.get(6)?,
                    accepted_at_ms: r.get(7)?,
                    finished_at_ms: r.get(8)?,
                    change: json_or_string(r.get(9)?),
                    written: last_seq == Some(seq),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if changes.is_empty() {
            return Ok(None);
        }
        Ok(Some(ContactHistory {
            key: key.clone(),
            row: row.map(json_or_string),
            removed,
            last_outcome,
            changes,
        }))
    }

    /// Where the given changes are now.
    pub fn changes(&self, seqs: &[i64]) -> Result<Vec<ChangeState>, DataError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT seq, external_id, state, outcome, error FROM changes WHERE seq = ?1",
        )?;
        let mut out = Vec::with_capacity(seqs.len());
        for seq in seqs {
            if let Some(s) = stmt
                .query_row(params![seq], |r| {
                    Ok(ChangeState {
                        seq: r.get(0)?,
                        external_id: r.get(1)?,
                        state: r.get(2)?,
                        outcome: r.get(3)?,
                        error: r.get::<_, Option<String>>(4)?.map(json_or_string),
                    })
                })
                .optional()?
            {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Import runs, newest first (at most [`MAX_RUNS`]).
    pub fn runs(&self) -> Result<Vec<ImportRun>, DataError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT id, source, input, started_at, finished_at, report FROM import_runs
             ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![MAX_RUNS], |r| {
            let report: Option<String> = r.get(5)?;
            Ok(ImportRun {
                id: r.get(0)?,
                source: r.get(1)?,
                input: r.get(2)?,
                started_at_ms: r.get(3)?,
                finished_at_ms: r.get(4)?,
                report: report.and_then(|t| serde_json::from_str(&t).ok()),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }
}

/// The first seq accepted at or after `cutoff_ms` (binary search: accepted_at grows
/// with seq), or one past the last seq when there is none.
fn first_seq_since(conn: &Connection, cutoff_ms: i64) -> Result<i64, DataError> {
    let (min, max): (Option<i64>, Option<i64>) =
        conn.query_row("SELECT MIN(seq), MAX(seq) FROM changes", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    let (Some(mut lo), Some(max)) = (min, max) else {
        return Ok(0);
    };
    let mut hi = max + 1;
    let mut probe =
        conn.prepare("SELECT accepted_at FROM changes WHERE seq >= ?1 ORDER BY seq LIMIT 1")?;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at: Option<i64> = probe.query_row(params![mid], |r| r.get(0)).optional()?;
        match at {
            Some(at) if at < cutoff_ms => lo = mid + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{Change, Journal, Operation, Phone};
    use chrono::TimeZone;

    fn change(id: &str, phone: &str) -> Change {
        Change {
            external_id: id.into(),
            source_id: format!("crm-{id}"),
            source_updated_at: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            operation: Operation::Upsert,
            partial: false,
            columns: [("name".to_string(), id.to_string())].into(),
            phones: vec![Phone {
                column: "phone".into(),
                number: phone.into(),
            }],
            callable: None,
        }
    }

    #[test]
    fn activity_windows_search_and_history_read_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let now = 1_800_000_000_000_i64;
        let mut j = Journal::open(&path).unwrap();
        // Three days ago (outside the window), two hours ago, and just now.
        j.accept(
            "crm",
            "L",
            &[change("OLD", "+14155550100")],
            None,
            now - 3 * 24 * HOUR_MS,
        )
        .unwrap();
        j.accept(
            "crm",
            "L",
            &[change("A", "+14155550101")],
            None,
            now - 2 * HOUR_MS - 5,
        )
        .unwrap();
        j.accept("crm", "L", &[change("B", "+14155550102")], None, now - 1000)
            .unwrap();
        j.accept("other", "M", &[change("C", "+14155550103")], None, now - 10)
            .unwrap();
        let data = SqliteData::new(&path);
        let act = data.activity(now).unwrap();
        let crm = &act["crm"];
        assert_eq!(crm.hourly.len(), HOURS);
        assert_eq!(crm.hourly[HOURS - 1].accepted, 1, "B in the last hour");
        assert_eq!(crm.hourly[HOURS - 3].accepted, 1, "A two hours ago");
        let day: u64 = crm.hourly.iter().map(|c| c.accepted).sum();
        assert_eq!(day, 2, "OLD is outside the day");
        assert_eq!(crm.queue, 3, "nothing worked yet");
        assert_eq!(act["other"].queue, 1);

        let by_id = data.search(SearchBy::ExternalId, "A", 10).unwrap();
        assert_eq!(by_id.len(), 1);
        let by_crm = data.search(SearchBy::SourceId, "crm-B", 10).unwrap();
        assert_eq!(by_crm[0].external_id, "B");
        let by_phone = data.search(SearchBy::Phone, "+14155550103", 10).unwrap();
        assert_eq!(by_phone[0].list_id, "M");
        assert!(
            data.search(SearchBy::Phone, "+1999", 10)
                .unwrap()
                .is_empty()
        );

        let h = data.history(&by_id[0]).unwrap().unwrap();
        assert_eq!(h.changes.len(), 1);
        assert_eq!(h.changes[0].change["source_id"], "crm-A");
        assert_eq!(h.changes[0].state, "pending");
        let missing = RecordKey {
            list_id: "L".into(),
            external_id: "nope".into(),
        };
        assert!(data.history(&missing).unwrap().is_none());
        let states = data.changes(&[h.changes[0].seq, 9999]).unwrap();
        assert_eq!(states.len(), 1);
    }

    #[test]
    fn first_seq_since_finds_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let mut j = Journal::open(&path).unwrap();
        for t in 0..50 {
            j.accept(
                "s",
                "L",
                &[change(&format!("K{t}"), "+14155550100")],
                None,
                t * 10,
            )
            .unwrap();
        }
        let conn = SqliteData::new(&path).conn().unwrap();
        assert_eq!(first_seq_since(&conn, 0).unwrap(), 1);
        assert_eq!(first_seq_since(&conn, 205).unwrap(), 22);
        assert_eq!(first_seq_since(&conn, 10_000).unwrap(), 51);
    }
}

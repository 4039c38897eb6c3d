//! The console's journal reads on the shared PostgreSQL store: the queries of
//! [`super::data::SqliteData`], ported to the PostgreSQL schema (host/pg/migrations), giving
//! the same results.
//!
//! Differences the port handles: the payload is JSON in a TEXT column (cast to `jsonb` for
//! the CRM-id and phone searches); a change being worked is `pending` in `changes` with an
//! owner on its key's `work_keys` row (SQLite marks the change itself `claimed`); grouped
//! selects name an aggregate where SQLite takes any row's value. Times are milliseconds
//! since the epoch in BIGINT columns on both.

use std::collections::{BTreeMap, HashMap};

use dialsync_pg::{PgError, Pool, PooledConnection};

use super::data::{
    ChangeState, ContactHistory, DataError, HOUR_MS, HOURS, HistoryEntry, ImportRun, LOOKBACK_MS,
    LastError, MAX_RUNS, RecordKey, SearchBy, SourceActivity, bucket, count_outcome,
    json_or_string,
};

/// A change's state as SQLite names it: `claimed` while a worker holds its key's lease.
const STATE: &str = "CASE WHEN c.state = 'pending' AND w.owner IS NOT NULL THEN 'claimed'
                          ELSE c.state END";

/// Read-only queries on the PostgreSQL journal (the server's own pool).
#[derive(Clone)]
pub struct PgData {
    pool: Pool,
}

impl std::fmt::Debug for PgData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgData").finish_non_exhaustive()
    }
}

/// Maps a driver or pool error (whose types only `dialsync-pg` names).
fn pg<E>(e: E) -> DataError
where
    PgError: From<E>,
{
    DataError::Postgres(PgError::from(e))
}

impl PgData {
    /// Reads the journal on `pool` (a migrated store).
    pub fn new(pool: Pool) -> PgData {
        PgData { pool }
    }

    async fn conn(&self) -> Result<PooledConnection, DataError> {
        self.pool.get().await.map_err(pg)
    }

    /// Per source: hourly counts for the last [`HOURS`] hours, queue depth, last error.
    pub async fn activity(
        &self,
        now_ms: i64,
    ) -> Result<BTreeMap<String, SourceActivity>, DataError> {
        let conn = self.conn().await?;
        let lo = first_seq_since(&conn, now_ms - LOOKBACK_MS).await?;
        let since = now_ms - HOURS as i64 * HOUR_MS;
        let mut out: BTreeMap<String, SourceActivity> = Default::default();
        let rows = conn
            .query(
                "SELECT source, MIN($1 - accepted_at), COUNT(*) FROM changes
                 WHERE seq >= $2 AND accepted_at > $3
                 GROUP BY source, ($1 - accepted_at) / 3600000",
                &[&now_ms, &lo, &since],
            )
            .await
            .map_err(pg)?;
        for r in rows {
            let (source, age, n): (String, i64, i64) = (r.get(0), r.get(1), r.get(2));
            out.entry(source).or_default().hourly[bucket(age)].accepted += n as u64;
        }
        let rows = conn
            .query(
                "SELECT source, outcome, MIN($1 - finished_at), COUNT(*) FROM changes
                 WHERE seq >= $2 AND state = 'done' AND finished_at > $3
                 GROUP BY source, outcome, ($1 - finished_at) / 3600000",
                &[&now_ms, &lo, &since],
            )
            .await
            .map_err(pg)?;
        for r in rows {
            let (source, outcome, age, n): (String, Option<String>, i64, i64) =
                (r.get(0), r.get(1), r.get(2), r.get(3));
            let c = &mut out.entry(source).or_default().hourly[bucket(age)];
            count_outcome(c, outcome.as_deref(), n as u64);
        }
        // Unfinished = pending here (claims live on work_keys, not in `state`).
        let rows = conn
            .query(
                "SELECT source, COUNT(*) FROM changes WHERE state = 'pending' GROUP BY source",
                &[],
            )
            .await
            .map_err(pg)?;
        for r in rows {
            let (source, n): (String, i64) = (r.get(0), r.get(1));
            out.entry(source).or_default().queue = n as u64;
        }
        let rows = conn
            .query(
                "SELECT c.source, COALESCE(c.finished_at, c.accepted_at), c.external_id,
                        c.outcome, c.error
                 FROM changes c
                 JOIN (SELECT MAX(seq) AS seq FROM changes
                       WHERE seq >= $1 AND error IS NOT NULL GROUP BY source) m ON m.seq = c.seq",
                &[&lo],
            )
            .await
            .map_err(pg)?;
        for r in rows {
            let source: String = r.get(0);
            out.entry(source).or_default().last_error = Some(LastError {
                at_ms: r.get(1),
                external_id: r.get(2),
                outcome: r.get(3),
                error: json_or_string(r.get(4)),
            });
        }
        Ok(out)
    }

    /// Records matching `query`, at most `limit`, sorted.
    pub async fn search(
        &self,
        by: SearchBy,
        query: &str,
        limit: usize,
    ) -> Result<Vec<RecordKey>, DataError> {
        let conn = self.conn().await?;
        let sql = match by {
            SearchBy::ExternalId => {
                "SELECT DISTINCT list_id, external_id FROM changes WHERE external_id = $1 LIMIT $2"
            }
            SearchBy::SourceId => {
                "SELECT DISTINCT list_id, external_id FROM changes
                 WHERE payload::jsonb ->> 'source_id' = $1 LIMIT $2"
            }
            // The guard keeps a payload whose `phones` is not an array (never written by
            // dialsync) from failing the whole search, as json_each skips it on SQLite.
            SearchBy::Phone => {
                "SELECT DISTINCT list_id, external_id FROM changes
                 WHERE EXISTS (
                     SELECT 1 FROM jsonb_array_elements(
                         CASE WHEN jsonb_typeof(payload::jsonb -> 'phones') = 'array'
                              THEN payload::jsonb -> 'phones' ELSE '[]'::jsonb END) p
                     WHERE p ->> 'number' = $1) LIMIT $2"
            }
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut keys: Vec<RecordKey> = conn
            .query(sql, &[&query, &limit])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| RecordKey {
                list_id: r.get(0),
                external_id: r.get(1),
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// The contact's journal history (`None` when the journal never saw it).
    pub async fn history(&self, key: &RecordKey) -> Result<Option<ContactHistory>, DataError> {
        let conn = self.conn().await?;
        let contact = conn
            .query_opt(
                "SELECT row, removed, last_outcome, last_seq FROM contacts
                 WHERE list_id = $1 AND external_id = $2",
                &[&key.list_id, &key.external_id],
            )
            .await
            .map_err(pg)?;
        let (row, removed, last_outcome, last_seq): (
            Option<String>,
            bool,
            Option<String>,
            Option<i64>,
        ) = match contact {
            Some(r) => (r.get(0), r.get(1), r.get(2), r.get(3)),
            None => (None, false, None, None),
        };
        let sql = format!(
            "SELECT c.seq, c.source, c.op, {STATE}, c.outcome, c.error, c.attempts,
                    c.accepted_at, c.finished_at, c.payload
             FROM changes c LEFT JOIN work_keys w
                ON w.list_id = c.list_id AND w.external_id = c.external_id
             WHERE c.list_id = $1 AND c.external_id = $2 ORDER BY c.seq"
        );
        let changes: Vec<HistoryEntry> = conn
            .query(&sql, &[&key.list_id, &key.external_id])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| {
                let seq: i64 = r.get(0);
                let attempts: i32 = r.get(6);
                HistoryEntry {
                    seq,
                    source: r.get(1),
                    op: r.get(2),
                    state: r.get(3),
                    outcome: r.get(4),
                    error: r.get::<_, Option<String>>(5).map(json_or_string),
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    accepted_at_ms: r.get(7),
                    finished_at_ms: r.get(8),
                    change: json_or_string(r.get(9)),
                    written: last_seq == Some(seq),
                }
            })
            .collect();
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

    /// Where the given changes are now (in the order asked; unknown seqs left out).
    pub async fn changes(&self, seqs: &[i64]) -> Result<Vec<ChangeState>, DataError> {
        let conn = self.conn().await?;
        let sql = format!(
            "SELECT c.seq, c.external_id, {STATE}, c.outcome, c.error
             FROM changes c LEFT JOIN work_keys w
                ON w.list_id = c.list_id AND w.external_id = c.external_id
             WHERE c.seq = ANY($1)"
        );
        let found: HashMap<i64, ChangeState> = conn
            .query(&sql, &[&seqs])
            .await
            .map_err(pg)?
            .iter()
            .map(|r| {
                let s = ChangeState {
                    seq: r.get(0),
                    external_id: r.get(1),
                    state: r.get(2),
                    outcome: r.get(3),
                    error: r.get::<_, Option<String>>(4).map(json_or_string),
                };
                (s.seq, s)
            })
            .collect();
        // As on SQLite: one entry per seq asked, in the order asked.
        Ok(seqs
            .iter()
            .filter_map(|seq| found.get(seq).cloned())
            .collect())
    }

    /// Import runs, newest first (at most [`MAX_RUNS`]).
    pub async fn runs(&self) -> Result<Vec<ImportRun>, DataError> {
        let conn = self.conn().await?;
        Ok(conn
            .query(
                "SELECT id, source, input, started_at, finished_at, report FROM import_runs
                 ORDER BY id DESC LIMIT $1",
                &[&MAX_RUNS],
            )
            .await
            .map_err(pg)?
            .iter()
            .map(|r| ImportRun {
                id: r.get(0),
                source: r.get(1),
                input: r.get(2),
                started_at_ms: r.get(3),
                finished_at_ms: r.get(4),
                report: r
                    .get::<_, Option<String>>(5)
                    .and_then(|t| serde_json::from_str(&t).ok()),
            })
            .collect())
    }
}

/// The first seq accepted at or after `cutoff_ms` (binary search on the primary key, as
/// on SQLite: accepted_at grows with seq), or one past the last seq when there is none.
async fn first_seq_since(conn: &PooledConnection, cutoff_ms: i64) -> Result<i64, DataError> {
    let r = conn
        .query_one("SELECT MIN(seq), MAX(seq) FROM changes", &[])
        .await
        .map_err(pg)?;
    let (Some(mut lo), Some(max)): (Option<i64>, Option<i64>) = (r.get(0), r.get(1)) else {
        return Ok(0);
    };
    let mut hi = max + 1;
    let probe = conn
        .prepare("SELECT accepted_at FROM changes WHERE seq >= $1 ORDER BY seq LIMIT 1")
        .await
        .map_err(pg)?;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at: Option<i64> = conn
            .query_opt(&probe, &[&mid])
            .await
            .map_err(pg)?
            .map(|r| r.get(0));
        match at {
            Some(at) if at < cutoff_ms => lo = mid + 1,
            _ => hi = mid,
        }
    }
    Ok(lo)
}

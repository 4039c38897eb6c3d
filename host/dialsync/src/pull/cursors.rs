//! Per-source read positions (pull watermarks), beside the journal: in the SQLite file
//! under their own table (`crm_source_cursors`, created `IF NOT EXISTS`, outside the
//! journal's migrations), or on a PostgreSQL store in the same-named table of its
//! migrations, shared by every worker.
//!
//! A position is written only after the records read up to it are durable in the
//! journal, so a crash between the two re-reads those records (at least once; the
//! engine's idempotent upserts absorb the repeat) and never skips one. On PostgreSQL one
//! worker at a time sweeps a source: [`CursorStore::sweep_lock`] takes a session advisory
//! lock per source for the sweep, so workers that all have `[sources.X.pull]` never
//! read the same pages at once nor move a position backwards.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use crate::pg_lock::AdvisoryLock;

/// Errors from the cursor table.
#[derive(Debug, thiserror::Error)]
pub enum CursorError {
    /// The SQLite file failed.
    #[error("source cursor store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL store failed.
    #[error("source cursor store (PostgreSQL): {0}")]
    Postgres(String),
}

fn pg(e: impl std::fmt::Display) -> CursorError {
    CursorError::Postgres(e.to_string())
}

/// The persistent positions, per (source, stream).
#[derive(Clone)]
pub enum CursorStore {
    /// In the SQLite journal file.
    Sqlite(Arc<Mutex<Connection>>),
    /// In the PostgreSQL store every worker shares.
    Postgres(dialsync_pg::Pool),
}

/// A held sweep lock (PostgreSQL: the source's advisory lock, [`AdvisoryLock`]);
/// [`SweepLock::release`] unlocks it, dropping it unreleased closes its connection.
pub struct SweepLock {
    held: Option<AdvisoryLock>,
}

impl SweepLock {
    /// Releases the lock.
    pub async fn release(self) {
        if let Some(lock) = self.held {
            lock.release().await;
        }
    }
}

impl CursorStore {
    /// Opens (creating if needed) the cursor table in the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<Self, CursorError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS crm_source_cursors (
                source TEXT NOT NULL,
                stream TEXT NOT NULL,
                position TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (source, stream)
            ) WITHOUT ROWID;",
        )?;
        Ok(CursorStore::Sqlite(Arc::new(Mutex::new(conn))))
    }

    /// The positions on a (migrated) PostgreSQL store.
    pub fn postgres(pool: dialsync_pg::Pool) -> Self {
        CursorStore::Postgres(pool)
    }

    /// Waits until this process may sweep `source`: on PostgreSQL until no other worker
    /// sweeps it (a session advisory lock per source); on SQLite at once (`serve`'s
    /// per-source mutex already makes sweeps one at a time in the process).
    pub async fn sweep_lock(&self, source: &str) -> Result<SweepLock, CursorError> {
        match self {
            CursorStore::Sqlite(_) => Ok(SweepLock { held: None }),
            CursorStore::Postgres(pool) => Ok(SweepLock {
                held: Some(
                    AdvisoryLock::acquire(pool, "dialsync-pull", source)
                        .await
                        .map_err(CursorError::Postgres)?,
                ),
            }),
        }
    }

    /// The stored position of `stream` (e.g. `customer_contact`, `sys_audit_delete`,
    /// `Contact`) for `source`.
    pub async fn get(&self, source: &str, stream: &str) -> Result<Option<String>, CursorError> {
        match self {
            CursorStore::Sqlite(conn) => {
                let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                Ok(conn
                    .query_row(
                        "SELECT position FROM crm_source_cursors WHERE source = ?1 AND stream = ?2",
                        params![source, stream],
                        |row| row.get(0),
                    )
                    .optional()?)
            }
            CursorStore::Postgres(pool) => Ok(pool
                .get()
                .await
                .map_err(pg)?
                .query_opt(
                    "SELECT position FROM crm_source_cursors WHERE source = $1 AND stream = $2",
                    &[&source, &stream],
                )
                .await
                .map_err(pg)?
                .map(|r| r.get(0))),
        }
    }

    /// Stores `position` durably (its own transaction; `synchronous=FULL` on SQLite).
    pub async fn set(&self, source: &str, stream: &str, position: &str) -> Result<(), CursorError> {
        match self {
            CursorStore::Sqlite(conn) => {
                let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                conn.execute(
                    "INSERT INTO crm_source_cursors (source, stream, position, updated_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (source, stream) DO UPDATE SET position = excluded.position,
                         updated_at = excluded.updated_at",
                    params![source, stream, position, chrono::Utc::now().to_rfc3339()],
                )?;
            }
            CursorStore::Postgres(pool) => {
                let now = chrono::Utc::now().timestamp_millis();
                pool.get()
                    .await
                    .map_err(pg)?
                    .execute(
                        "INSERT INTO crm_source_cursors (source, stream, position, updated_at)
                         VALUES ($1, $2, $3, $4)
                         ON CONFLICT (source, stream) DO UPDATE SET position = excluded.position,
                             updated_at = excluded.updated_at",
                        &[&source, &stream, &position, &now],
                    )
                    .await
                    .map_err(pg)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn positions_survive_reopen_per_source_and_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let store = CursorStore::open(&path).unwrap();
        assert_eq!(store.get("sn", "customer_contact").await.unwrap(), None);
        store.set("sn", "customer_contact", "a").await.unwrap();
        store.set("sn", "customer_contact", "b").await.unwrap();
        store.set("sn", "sys_audit_delete", "c").await.unwrap();
        drop(store);
        let store = CursorStore::open(&path).unwrap();
        assert_eq!(
            store
                .get("sn", "customer_contact")
                .await
                .unwrap()
                .as_deref(),
            Some("b")
        );
        assert_eq!(
            store
                .get("sn", "sys_audit_delete")
                .await
                .unwrap()
                .as_deref(),
            Some("c")
        );
        assert_eq!(store.get("sf", "customer_contact").await.unwrap(), None);
    }
}

//! Per-source read positions (pull watermarks; later subscription replay ids), kept in
//! the journal's SQLite file under their own table (`crm_source_cursors`, created
//! `IF NOT EXISTS`, outside the journal's migrations).
//!
//! A position is written only after the records read up to it are durable in the
//! journal, so a crash between the two re-reads those records (at least once; the
//! engine's idempotent upserts absorb the repeat) and never skips one.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

/// Errors from the cursor table.
#[derive(Debug, thiserror::Error)]
#[error("source cursor store: {0}")]
pub struct CursorError(#[from] rusqlite::Error);

/// The persistent positions, per (source, stream).
#[derive(Clone)]
pub struct CursorStore {
    conn: Arc<Mutex<Connection>>,
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
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The stored position of `stream` (e.g. `customer_contact`, `sys_audit_delete`,
    /// `Contact`) for `source`.
    pub fn get(&self, source: &str, stream: &str) -> Result<Option<String>, CursorError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn
            .query_row(
                "SELECT position FROM crm_source_cursors WHERE source = ?1 AND stream = ?2",
                params![source, stream],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Stores `position` durably (its own transaction, `synchronous=FULL`).
    pub fn set(&self, source: &str, stream: &str, position: &str) -> Result<(), CursorError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "INSERT INTO crm_source_cursors (source, stream, position, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (source, stream) DO UPDATE SET position = excluded.position,
                 updated_at = excluded.updated_at",
            params![source, stream, position, chrono::Utc::now().to_rfc3339()],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_reopen_per_source_and_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let store = CursorStore::open(&path).unwrap();
        assert_eq!(store.get("sn", "customer_contact").unwrap(), None);
        store.set("sn", "customer_contact", "a").unwrap();
        store.set("sn", "customer_contact", "b").unwrap();
        store.set("sn", "sys_audit_delete", "c").unwrap();
        drop(store);
        let store = CursorStore::open(&path).unwrap();
        assert_eq!(
            store.get("sn", "customer_contact").unwrap().as_deref(),
            Some("b")
        );
        assert_eq!(
            store.get("sn", "sys_audit_delete").unwrap().as_deref(),
            Some("c")
        );
        assert_eq!(store.get("sf", "customer_contact").unwrap(), None);
    }
}

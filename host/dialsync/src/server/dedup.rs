//! Webhook delivery dedup: remembers which delivery ids (Standard Webhooks `webhook-id`,
//! GitHub `X-GitHub-Delivery`, Salesforce Outbound Message notification `Id`,
//! `Idempotency-Key`) were already made durable, so a sender's retry is answered 2xx
//! "duplicate" instead of being journalled again.
//!
//! The table lives in the journal's SQLite file (created `IF NOT EXISTS`, under its own
//! name, so it never collides with the journal's migrations). A delivery id is recorded
//! only after its records are durable in the journal: a crash in between makes the
//! sender's retry journal the records again, which the engine's idempotent upserts
//! absorb — never the other way round (an id recorded for records that were lost).

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

/// Errors from the dedup table.
#[derive(Debug, thiserror::Error)]
#[error("webhook dedup store: {0}")]
pub struct DedupError(#[from] rusqlite::Error);

/// The persistent set of delivered ids, per source.
#[derive(Clone)]
pub struct DeliveryLog {
    conn: Arc<Mutex<Connection>>,
}

impl DeliveryLog {
    /// Opens (creating if needed) the dedup table in the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<Self, DedupError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS server_webhook_deliveries (
                source TEXT NOT NULL,
                delivery_id TEXT NOT NULL,
                received_at TEXT NOT NULL,
                summary TEXT NOT NULL,
                PRIMARY KEY (source, delivery_id)
            ) WITHOUT ROWID;",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The stored response summary for `(source, id)` if it was delivered before.
    pub fn lookup(&self, source: &str, id: &str) -> Result<Option<String>, DedupError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn
            .query_row(
                "SELECT summary FROM server_webhook_deliveries WHERE source = ?1 AND delivery_id = ?2",
                params![source, id],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Records `ids` of `source` as delivered, with the response `summary` (JSON text),
    /// in one transaction. Ids already present keep their first summary.
    pub fn record(&self, source: &str, ids: &[&str], summary: &str) -> Result<(), DedupError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO server_webhook_deliveries (source, delivery_id, received_at, summary)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            let now = chrono::Utc::now().to_rfc3339();
            for id in ids {
                stmt.execute(params![source, id, now, summary])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// How many delivery ids are stored for `source`.
    pub fn count(&self, source: &str) -> Result<u64, DedupError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        Ok(conn.query_row(
            "SELECT COUNT(*) FROM server_webhook_deliveries WHERE source = ?1",
            params![source],
            |row| row.get(0),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_reopen_and_keeps_first_summary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let log = DeliveryLog::open(&path).unwrap();
        assert_eq!(log.lookup("sn", "a").unwrap(), None);
        log.record("sn", &["a", "b"], "{\"first\":true}").unwrap();
        log.record("sn", &["a"], "{\"second\":true}").unwrap();
        drop(log);
        let log = DeliveryLog::open(&path).unwrap();
        assert_eq!(
            log.lookup("sn", "a").unwrap().as_deref(),
            Some("{\"first\":true}")
        );
        assert_eq!(log.lookup("sf", "a").unwrap(), None);
        assert_eq!(log.count("sn").unwrap(), 2);
    }
}

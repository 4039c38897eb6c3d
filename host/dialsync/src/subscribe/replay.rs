//! The Pub/Sub subscriber's checkpoint, kept in the journal's SQLite file: per (source,
//! topic) the replay id of the last event whose change is durable, and the identities
//! (`transactionKey/sequenceNumber`) of the events handled, for dedup. Both tables are
//! created `IF NOT EXISTS`, outside the journal's migrations.
//!
//! The whole API is [`ReplayStore::open`], [`ReplayStore::get`],
//! [`ReplayStore::seen`] and [`ReplayStore::commit`]: a storage backend other than
//! SQLite needs only these four.
//!
//! [`ReplayStore::commit`] runs only after the batch's changes are durable in the
//! journal, and writes the replay id and the batch's event keys in one transaction. A
//! crash between the journal commit and this one makes the subscriber resume from the
//! previous replay id and receive that batch again (at least once; the engine's
//! last-write-wins by commit timestamp makes the repeat `unchanged`/`stale`); an event
//! Salesforce delivers again after its key was committed is dropped as a duplicate.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

/// Event keys are kept this long (Salesforce retains events for 72 hours, so no
/// redelivery can be older).
const KEEP_KEYS_MS: i64 = 72 * 3600 * 1000;

/// Errors from the checkpoint tables.
#[derive(Debug, thiserror::Error)]
#[error("Pub/Sub checkpoint store: {0}")]
pub struct ReplayError(#[from] rusqlite::Error);

/// The checkpoint tables.
#[derive(Clone)]
pub struct ReplayStore {
    conn: Arc<Mutex<Connection>>,
}

impl ReplayStore {
    /// Opens (creating if needed) the tables in the SQLite file at `path`.
    pub fn open(path: &Path) -> Result<Self, ReplayError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS crm_pubsub_replay (
                source TEXT NOT NULL,
                topic TEXT NOT NULL,
                replay_id BLOB NOT NULL,
                updated_at TEXT NOT NULL,
                PRIMARY KEY (source, topic)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS crm_pubsub_events (
                source TEXT NOT NULL,
                event_key TEXT NOT NULL,
                handled_ms INTEGER NOT NULL,
                PRIMARY KEY (source, event_key)
            ) WITHOUT ROWID;",
        )?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The replay id to resume `topic` of `source` after, if any.
    pub fn get(&self, source: &str, topic: &str) -> Result<Option<Vec<u8>>, ReplayError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT replay_id FROM crm_pubsub_replay WHERE source = ?1 AND topic = ?2",
                params![source, topic],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Which of `keys` were committed before for `source`.
    pub fn seen(&self, source: &str, keys: &[String]) -> Result<HashSet<String>, ReplayError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT 1 FROM crm_pubsub_events WHERE source = ?1 AND event_key = ?2",
        )?;
        let mut out = HashSet::new();
        for k in keys {
            if stmt.exists(params![source, k])? {
                out.insert(k.clone());
            }
        }
        Ok(out)
    }

    /// Stores `replay_id` and `keys` durably in one transaction (`synchronous=FULL`),
    /// and forgets keys older than Salesforce's retention. `now_ms`: the caller's clock.
    pub fn commit(
        &self,
        source: &str,
        topic: &str,
        replay_id: &[u8],
        keys: &[String],
        now_ms: i64,
    ) -> Result<(), ReplayError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO crm_pubsub_replay (source, topic, replay_id, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (source, topic) DO UPDATE SET replay_id = excluded.replay_id,
                 updated_at = excluded.updated_at",
            params![source, topic, replay_id, chrono::Utc::now().to_rfc3339()],
        )?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO crm_pubsub_events (source, event_key, handled_ms)
                 VALUES (?1, ?2, ?3)",
            )?;
            for k in keys {
                insert.execute(params![source, k, now_ms])?;
            }
        }
        tx.execute(
            "DELETE FROM crm_pubsub_events WHERE source = ?1 AND handled_ms < ?2",
            params![source, now_ms - KEEP_KEYS_MS],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_and_keys_survive_reopen_and_old_keys_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let store = ReplayStore::open(&path).unwrap();
        assert_eq!(store.get("sf", "/data/ContactChangeEvent").unwrap(), None);
        let keys = vec!["tx1/1".to_owned(), "tx1/2".to_owned()];
        store
            .commit(
                "sf",
                "/data/ContactChangeEvent",
                &[0, 0, 0, 7],
                &keys,
                1_000,
            )
            .unwrap();
        drop(store);
        let store = ReplayStore::open(&path).unwrap();
        assert_eq!(
            store.get("sf", "/data/ContactChangeEvent").unwrap(),
            Some(vec![0, 0, 0, 7])
        );
        let asked = vec!["tx1/2".to_owned(), "tx2/1".to_owned()];
        assert_eq!(
            store.seen("sf", &asked).unwrap(),
            HashSet::from(["tx1/2".to_owned()])
        );
        assert!(store.seen("other", &asked).unwrap().is_empty());
        store
            .commit(
                "sf",
                "/data/ContactChangeEvent",
                &[8],
                &[],
                1_000 + KEEP_KEYS_MS + 1,
            )
            .unwrap();
        assert!(store.seen("sf", &asked).unwrap().is_empty());
    }
}

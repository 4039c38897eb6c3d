//! The Pub/Sub subscriber's checkpoint: per (source, topic) the replay id of the last
//! event whose change is durable, and the identities (`transactionKey/sequenceNumber`)
//! of the events handled, for dedup. On SQLite both tables are in the journal's file
//! (created `IF NOT EXISTS`, outside the journal's migrations); on a PostgreSQL store
//! they are the same-named tables of its migrations, shared by every worker.
//!
//! The whole API is [`ReplayStore::open`] / [`ReplayStore::postgres`],
//! [`ReplayStore::get`], [`ReplayStore::seen`], [`ReplayStore::commit`] and
//! [`ReplayStore::subscriber_lock`].
//!
//! [`ReplayStore::commit`] runs only after the batch's changes are durable in the
//! journal, and writes the replay id and the batch's event keys in one transaction. A
//! crash between the journal commit and this one makes the subscriber resume from the
//! previous replay id and receive that batch again (at least once; the engine's
//! last-write-wins by commit timestamp makes the repeat `unchanged`/`stale`); an event
//! Salesforce delivers again after its key was committed is dropped as a duplicate.
//!
//! On PostgreSQL one worker at a time subscribes to a (source, topic):
//! [`ReplayStore::subscriber_lock`] waits for its advisory lock ([`AdvisoryLock`]), so
//! every worker may have the same `[sources.X.subscribe]`; when the holder stops or
//! dies, a waiting worker takes the lock and resumes from the shared replay id.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

use crate::pg_lock::AdvisoryLock;

/// Event keys are kept this long (Salesforce retains events for 72 hours, so no
/// redelivery can be older).
const KEEP_KEYS_MS: i64 = 72 * 3600 * 1000;

/// Errors from the checkpoint tables.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The SQLite file failed.
    #[error("Pub/Sub checkpoint store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The PostgreSQL store failed.
    #[error("Pub/Sub checkpoint store (PostgreSQL): {0}")]
    Postgres(String),
    /// The subscriber lock's connection closed: another worker may subscribe now.
    #[error("Pub/Sub subscriber lock of {crm} {topic} lost (its PostgreSQL connection closed)")]
    LockLost {
        /// The source.
        crm: String,
        /// The topic.
        topic: String,
    },
}

fn pg(e: impl std::fmt::Display) -> ReplayError {
    ReplayError::Postgres(e.to_string())
}

/// The checkpoint tables.
#[derive(Clone)]
pub enum ReplayStore {
    /// In the SQLite journal file.
    Sqlite(Arc<Mutex<Connection>>),
    /// In the PostgreSQL store every worker shares.
    Postgres(dialsync_pg::Pool),
}

/// The right to subscribe to a (source, topic): on PostgreSQL its held advisory lock,
/// on SQLite nothing (one process owns the file).
pub struct SubscriberLock {
    held: Option<AdvisoryLock>,
}

impl SubscriberLock {
    /// False once a PostgreSQL lock was lost with its connection.
    pub fn is_held(&self) -> bool {
        self.held.as_ref().is_none_or(AdvisoryLock::is_held)
    }

    /// Releases the lock (a waiting worker takes over).
    pub async fn release(self) {
        if let Some(lock) = self.held {
            lock.release().await;
        }
    }
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
        Ok(ReplayStore::Sqlite(Arc::new(Mutex::new(conn))))
    }

    /// The checkpoint on a (migrated) PostgreSQL store.
    pub fn postgres(pool: dialsync_pg::Pool) -> Self {
        ReplayStore::Postgres(pool)
    }

    /// Waits until this worker may subscribe to `topic` of `source`: on PostgreSQL until
    /// no other worker does (a session advisory lock per source and topic; cancelling
    /// the wait gives it up); on SQLite at once.
    pub async fn subscriber_lock(
        &self,
        source: &str,
        topic: &str,
    ) -> Result<SubscriberLock, ReplayError> {
        match self {
            ReplayStore::Sqlite(_) => Ok(SubscriberLock { held: None }),
            ReplayStore::Postgres(pool) => Ok(SubscriberLock {
                held: Some(
                    AdvisoryLock::acquire(pool, "dialsync-pubsub", &format!("{source}\n{topic}"))
                        .await
                        .map_err(ReplayError::Postgres)?,
                ),
            }),
        }
    }

    /// The replay id to resume `topic` of `source` after, if any.
    pub async fn get(&self, source: &str, topic: &str) -> Result<Option<Vec<u8>>, ReplayError> {
        match self {
            ReplayStore::Sqlite(conn) => Ok(lock(conn)
                .query_row(
                    "SELECT replay_id FROM crm_pubsub_replay WHERE source = ?1 AND topic = ?2",
                    params![source, topic],
                    |r| r.get(0),
                )
                .optional()?),
            ReplayStore::Postgres(pool) => Ok(pool
                .get()
                .await
                .map_err(pg)?
                .query_opt(
                    "SELECT replay_id FROM crm_pubsub_replay WHERE source = $1 AND topic = $2",
                    &[&source, &topic],
                )
                .await
                .map_err(pg)?
                .map(|r| r.get(0))),
        }
    }

    /// Which of `keys` were committed before for `source`.
    pub async fn seen(
        &self,
        source: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, ReplayError> {
        match self {
            ReplayStore::Sqlite(conn) => {
                let conn = lock(conn);
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
            ReplayStore::Postgres(pool) => Ok(pool
                .get()
                .await
                .map_err(pg)?
                .query(
                    "SELECT event_key FROM crm_pubsub_events
                     WHERE source = $1 AND event_key = ANY($2)",
                    &[&source, &keys],
                )
                .await
                .map_err(pg)?
                .into_iter()
                .map(|r| r.get(0))
                .collect()),
        }
    }

    /// Stores `replay_id` and `keys` durably in one transaction (`synchronous=FULL` on
    /// SQLite), and forgets keys older than Salesforce's retention. `now_ms`: the
    /// caller's clock.
    pub async fn commit(
        &self,
        source: &str,
        topic: &str,
        replay_id: &[u8],
        keys: &[String],
        now_ms: i64,
    ) -> Result<(), ReplayError> {
        match self {
            ReplayStore::Sqlite(conn) => {
                let mut conn = lock(conn);
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
            }
            ReplayStore::Postgres(pool) => {
                let mut conn = pool.get().await.map_err(pg)?;
                let tx = conn.transaction().await.map_err(pg)?;
                tx.execute(
                    "INSERT INTO crm_pubsub_replay (source, topic, replay_id, updated_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (source, topic) DO UPDATE SET replay_id = excluded.replay_id,
                         updated_at = excluded.updated_at",
                    &[&source, &topic, &replay_id, &now_ms],
                )
                .await
                .map_err(pg)?;
                tx.execute(
                    "INSERT INTO crm_pubsub_events (source, event_key, handled_ms)
                     SELECT $1, k, $3 FROM unnest($2::text[]) AS k
                     ON CONFLICT (source, event_key) DO NOTHING",
                    &[&source, &keys, &now_ms],
                )
                .await
                .map_err(pg)?;
                tx.execute(
                    "DELETE FROM crm_pubsub_events WHERE source = $1 AND handled_ms < $2",
                    &[&source, &(now_ms - KEEP_KEYS_MS)],
                )
                .await
                .map_err(pg)?;
                tx.commit().await.map_err(pg)?;
            }
        }
        Ok(())
    }
}

fn lock(conn: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checkpoint_and_keys_survive_reopen_and_old_keys_expire() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        let store = ReplayStore::open(&path).unwrap();
        assert_eq!(
            store.get("sf", "/data/ContactChangeEvent").await.unwrap(),
            None
        );
        let keys = vec!["tx1/1".to_owned(), "tx1/2".to_owned()];
        store
            .commit(
                "sf",
                "/data/ContactChangeEvent",
                &[0, 0, 0, 7],
                &keys,
                1_000,
            )
            .await
            .unwrap();
        drop(store);
        let store = ReplayStore::open(&path).unwrap();
        assert_eq!(
            store.get("sf", "/data/ContactChangeEvent").await.unwrap(),
            Some(vec![0, 0, 0, 7])
        );
        let asked = vec!["tx1/2".to_owned(), "tx2/1".to_owned()];
        assert_eq!(
            store.seen("sf", &asked).await.unwrap(),
            HashSet::from(["tx1/2".to_owned()])
        );
        assert!(store.seen("other", &asked).await.unwrap().is_empty());
        store
            .commit(
                "sf",
                "/data/ContactChangeEvent",
                &[8],
                &[],
                1_000 + KEEP_KEYS_MS + 1,
            )
            .await
            .unwrap();
        assert!(store.seen("sf", &asked).await.unwrap().is_empty());
    }
}

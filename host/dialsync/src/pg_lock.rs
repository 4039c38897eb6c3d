//! One holder at a time across every worker of a PostgreSQL store: a session advisory
//! lock per name (e.g. a pull source, or a Pub/Sub subscription), held on a connection
//! taken from the pool for as long as the lock is held. Used by the pull sweeps
//! ([`crate::pull::cursors`]) and the Pub/Sub subscriber ([`crate::subscribe::replay`]).
//!
//! The lock ends when [`AdvisoryLock::release`] unlocks it, when the guard is dropped
//! without release (a cancelled or aborted task: the connection is closed instead of
//! going back to the pool with the lock), or when the worker dies (PostgreSQL ends the
//! session), so another worker waiting for it takes over.

/// A held advisory lock (see the module docs).
pub struct AdvisoryLock {
    held: Option<(dialsync_pg::PooledConnection, i64)>,
}

impl AdvisoryLock {
    /// Waits until this worker holds the lock named `namespace:name` (hashed to the
    /// lock key with `hashtextextended`). Cancelling the wait closes its connection, so
    /// no lock granted later is left behind.
    pub async fn acquire(
        pool: &dialsync_pg::Pool,
        namespace: &str,
        name: &str,
    ) -> Result<Self, String> {
        let conn = pool.get().await.map_err(|e| e.to_string())?;
        let key: i64 = conn
            .query_one(
                "SELECT hashtextextended($1 || ':' || $2, 0)",
                &[&namespace, &name],
            )
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        // Guarded before waiting: if the wait is cancelled or fails, the guard's drop
        // closes the connection.
        let lock = AdvisoryLock {
            held: Some((conn, key)),
        };
        if let Some((conn, key)) = &lock.held {
            conn.execute("SELECT pg_advisory_lock($1)", &[key])
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(lock)
    }

    /// False once the lock's connection has closed (the server went away or ended the
    /// session): the lock is then no longer held and another worker may have it.
    pub fn is_held(&self) -> bool {
        self.held
            .as_ref()
            .is_some_and(|(conn, _)| !conn.is_closed())
    }

    /// Releases the lock and returns its connection to the pool.
    pub async fn release(mut self) {
        if let Some((conn, key)) = self.held.take()
            && let Err(e) = conn.execute("SELECT pg_advisory_unlock($1)", &[&key]).await
        {
            tracing::warn!(error = %e, "could not release an advisory lock; it ends with the connection");
            drop(dialsync_pg::PooledConnection::take(conn));
        }
    }
}

impl Drop for AdvisoryLock {
    /// Not released (the holder panicked or was cancelled): the connection is taken out
    /// of the pool and closed, which ends the lock.
    fn drop(&mut self) {
        if let Some((conn, _)) = self.held.take() {
            drop(dialsync_pg::PooledConnection::take(conn));
        }
    }
}

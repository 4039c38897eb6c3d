//! Versioned schema migrations for the PostgreSQL store (`dialsync migrate`).
//!
//! Numbered SQL files under `host/pg/migrations/`, embedded in the binary, applied in order
//! in one transaction and recorded in `dialsync_migrations`. A transaction-scoped advisory
//! lock serialises concurrent runs, so N workers starting at once migrate exactly once and
//! a second run is a no-op. Hand-written (≈40 lines) rather than taken from a migration
//! crate: refinery and sqlx's migrator would bring a second driver stack or macro crates for
//! what is one loop, and neither takes the advisory lock with the tokio-postgres client.

use serde::Serialize;

use crate::{PgError, Pool};

/// One schema migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version it brings the schema to (1, 2, …).
    pub version: i64,
    /// Short name (the file name without number and extension).
    pub name: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

/// Every migration, in order. Add new ones at the end; never edit a released one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "rate_budgets",
        sql: include_str!("../migrations/0001_rate_budgets.sql"),
    },
    Migration {
        version: 2,
        name: "journal",
        sql: include_str!("../migrations/0002_journal.sql"),
    },
    Migration {
        version: 3,
        name: "pubsub_checkpoint",
        sql: include_str!("../migrations/0003_pubsub_checkpoint.sql"),
    },
];

/// Arbitrary fixed key of the advisory lock that serialises migrations ("dialsync" in hex).
const MIGRATION_LOCK: i64 = 0x6469_616c_7379_6e63;

/// What a migration run did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MigrationReport {
    /// Migrations applied by this run (version, name); empty when already up to date.
    pub applied: Vec<(i64, String)>,
    /// Schema version after the run.
    pub version: i64,
}

/// Brings the schema up to date (idempotent; safe to run concurrently).
pub async fn migrate(pool: &Pool) -> Result<MigrationReport, PgError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS dialsync_migrations (
            version    BIGINT PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
    )
    .await?;
    let found: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM dialsync_migrations",
            &[],
        )
        .await?
        .get(0);
    let supported = MIGRATIONS.last().map_or(0, |m| m.version);
    if found > supported {
        return Err(PgError::TooNew { found, supported });
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        tx.batch_execute(m.sql).await?;
        tx.execute(
            "INSERT INTO dialsync_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await?;
        applied.push((m.version, m.name.to_owned()));
    }
    tx.commit().await?;
    Ok(MigrationReport {
        applied,
        version: found.max(supported),
    })
}
